"""The item index: what Radicale knows of each item file, and a change log per collection.

The files on disk stay the source of truth.  For each collection folder the
index keeps, per item file, its stamp (inode, mtime and ctime in ns, size)
and the facts Radicale would otherwise read from the file or its cache
(ETag, UID, component, time range, a card's names), plus a change log: a
sequence number per folder, the number of each item's last change and
tombstones of deleted items.  From that a request is answered without
opening item files:

* the collection ETag / ctag, the same value as Radicale's
  ``BaseCollection.etag`` (items in directory order, then the meta);
* the sync-token and the changes since an older token (RFC 6578);
* the listing, UID lookups and the time-range / name pre-filters of
  calendar-query and addressbook-query.

Freshness: while :class:`~radicale_ext.index.folder_watch.FolderWatch` watches a
folder, only the names the kernel reported are looked at again; without a
watch every request lists the folder and compares stamps, and a file
written less than ``RACY_NS`` before it was indexed is asked again (git's
"racy" rule).  Several processes share the SQLite file: whichever notices a
change first logs it, the others adopt its number, so a token means the
same in every process.  A missing, damaged or replaced index starts a new
*epoch*: tokens of the old one are refused and clients sync afresh.
Design notes: docs/performance.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from hashlib import sha256
from pathlib import Path

from .by_position import ByPosition, Carried
from .carried import Uids, checks_with
from .folder_watch import EVERYTHING, ChangedNames, FolderWatch
from .kept_views import IDLE_SECONDS, KeptViews, release_when_idle

logger = logging.getLogger(__name__)

#: without a watch, a file modified less than this before it was indexed is asked again
RACY_NS = 2_000_000_000

#: SQLite's page cache per connection (one per thread), in KiB
CACHE_KIB = 256

#: how long a connection waits for another process's lock on the index before SQLite says it is locked,
#: and how many such waits the opening check makes before it goes on unchecked (busy is never damage)
BUSY_SECONDS = 10.0
OPEN_ATTEMPTS = 6

#: the form of Radicale's own sync tokens, which clients already hold
TOKEN_PREFIX = "http://radicale.org/ns/sync/"

#: the commits older than the longest a sync token lives are removed at every this many commits of a folder
#: (the removal walks all the folder's commits: at every commit, a write cost a millisecond per 5,000)
PRUNE_COMMITS_EVERY = 100
SCHEMA_VERSION = 7
#: index versions whose rows are kept, with what brings them to this one (any other version is made anew)
#: 6: series walked before two time zone fixes (a zone named without a VTIMEZONE: its own series, and
#: later series of that zone in the same process, an hour off across a change to summer time): each is
#: unsettled, so that the next look at its folder reads it again (docs/performance.md, "Writes")
MIGRATIONS = {6: "UPDATE entries SET indexed_ns = 0 WHERE deleted_ns IS NULL AND component = 'VEVENT' "
                 "AND length(occurrences) > 0"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS folders (
    folder TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    floor INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commits (
    folder TEXT NOT NULL,
    seq INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    made_ns INTEGER NOT NULL,
    PRIMARY KEY (folder, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    folder TEXT NOT NULL,
    href TEXT NOT NULL,
    seq INTEGER NOT NULL,
    deleted_ns INTEGER,
    inode INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, size INTEGER, indexed_ns INTEGER,
    etag TEXT, uid TEXT, name TEXT, component TEXT, start INTEGER, "end" INTEGER, names TEXT, occurrences BLOB,
    PRIMARY KEY (folder, href)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_seq ON entries (folder, seq);
"""
#: tombstones by number: pruning them walks only them (through ``entries_by_seq`` it walked every item
#: logged before the floor, 40 ms per write at 10,000 items); made on every open, so an index saved by
#: an earlier version gains it without being rebuilt
TOMBSTONES = "CREATE INDEX IF NOT EXISTS entries_tombstones ON entries (folder, seq) WHERE deleted_ns IS NOT NULL"
#: the tombstones a pruned view no longer holds
PRUNE = "DELETE FROM entries WHERE folder = ? AND deleted_ns IS NOT NULL AND seq <= ?"


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What ``stat`` says about an item file; any write changes at least one field."""

    inode: int
    mtime_ns: int
    ctime_ns: int
    size: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        return cls(st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    @property
    def changed_ns(self) -> int:
        """The latest of mtime and ctime (ctime cannot be set back, e.g. by a restore)."""
        return max(self.mtime_ns, self.ctime_ns)


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What Radicale's item cache holds of an item, and a card's names for name queries."""

    etag: str
    uid: str
    name: str  # the vobject name: VCALENDAR or VCARD
    component: str  # VEVENT, VTODO, VJOURNAL, VCARD
    start: int
    end: int
    names: str = ""  # a card's searchable values as Radicale compares them (index.query_prefilter.card_names)
    occurrences: bytes | None = None  # an event's spans (radicale_ext.index.occurrences)

    def __post_init__(self) -> None:
        # a handful of values for every item of every process's copy: one string each, not one per item
        object.__setattr__(self, "name", sys.intern(self.name))
        object.__setattr__(self, "component", sys.intern(self.component))


@dataclass(frozen=True, slots=True)
class Entry:
    stamp: FileStamp
    facts: ItemFacts
    seq: int  # the change log number of the item's last change
    indexed_ns: int

    def settled_for(self, stamp: FileStamp) -> bool:
        """Same stamp, and the file was not written within RACY_NS of being indexed."""
        return self.stamp == stamp and stamp.changed_ns < self.indexed_ns - RACY_NS


@dataclass(frozen=True, slots=True)
class Tombstone:
    seq: int
    deleted_ns: int


def collection_etag(items: Iterable[tuple[str, str]], meta: Mapping[str, str]) -> str:
    """Radicale's ``BaseCollection.etag``: sha256 over "href/etag" in order, then the meta as JSON."""
    digest = sha256()
    for href, etag in items:
        digest.update((href + "/" + etag).encode())
    digest.update(json.dumps(meta, sort_keys=True).encode())
    return f'"{digest.hexdigest()}"'


@dataclass(frozen=True)
class FolderView:
    """One consistent state of a collection folder; never changes once made."""

    epoch: str
    seq: int
    floor: int  # tokens older than this may miss pruned deletions
    listed: tuple[str, ...] | None  # item hrefs in directory order; None: list the folder when asked
    entries: Mapping[str, Entry]
    tombstones: Mapping[str, Tombstone] = field(default_factory=dict)
    # each log number's random check: a number reused after the index was restored from
    # a backup gets another one, so a token issued before the restore is refused
    checks: Mapping[int, str] = field(default_factory=dict)
    folder: str = ""
    is_item_name: Callable[[str], bool] = bool
    #: the items' UIDs, carried over from the view this one was made from (None: gathered when asked)
    known_uids: Uids | None = None
    #: what the view this one was made from worked out item by item (the ctag's text, the spans)
    carried: Carried | None = field(default=None, compare=False, repr=False)

    @cached_property
    def order(self) -> tuple[str, ...]:
        """The items in directory order, as Radicale's ``_list`` gives them (the ctag depends on it)."""
        handed = self.carried.order_for(self.entries, self.listed) if self.carried is not None else None
        if handed is not None:   # the same names in the same listing: the order of the view before
            return handed
        listed = self.listed if self.listed is not None else _names(self.folder, self.is_item_name)
        return tuple(filter(self.entries.__contains__, listed))

    @cached_property
    def by_position(self) -> ByPosition:
        """The ctag's text and the items' spans, in order (:mod:`radicale_ext.index.by_position`)."""
        worked = ByPosition(self.order, self.entries, self.carried)
        object.__setattr__(self, "carried", None)   # held by ``worked`` until it has used it, then let go of
        return worked

    def handed_on(self, entries: Mapping[str, Entry], touched: Iterable[str]) -> Carried:
        """What a view of ``entries`` made from this one by changing ``touched`` takes over: what this view
        worked out item by item, and its order where no item came or went."""
        touched = frozenset(touched)
        worked = self.__dict__.get("by_position")
        if worked is not None:
            carried = worked.handed_on(entries, touched)
        else:
            carried = (self.carried or Carried()).for_entries(self.entries).handed_on(entries, touched)
        order = self.__dict__.get("order")
        if order is None and self.carried is not None:
            order = self.carried.order_for(self.entries, self.listed)
        if order is None or self.listed is None or not all(href in entries and href in self.entries
                                                            for href in touched):
            return replace(carried, order=None, listed=None)
        return replace(carried, order=order, listed=self.listed)

    @cached_property
    def _items_digest(self):
        return self.by_position.digest()

    def ctag(self, meta: Mapping[str, str]) -> str:
        """Radicale's collection ETag for these items and ``meta``."""
        digest = self._items_digest.copy()
        digest.update(json.dumps(meta, sort_keys=True).encode())
        return f'"{digest.hexdigest()}"'

    @property
    def token(self) -> str:
        return f"{TOKEN_PREFIX}{self.epoch}{self.seq:016x}{self.checks.get(self.seq, '0' * 16)}"

    def token_at(self, seq: int) -> str | None:
        """The token of the state after change ``seq``, for a reader who sees none of the changes since
        (a me card's hidden fields, radicale_ext/plugins/me_card_views.py); None where none is valid."""
        check = self.checks.get(seq)
        if check is None or not self.floor <= seq <= self.seq:
            return None
        return f"{TOKEN_PREFIX}{self.epoch}{seq:016x}{check}"

    def changes_since(self, token: str) -> list[str]:
        """Hrefs changed or deleted after ``token``, in the order of the change log; everything (in
        directory order, then recent deletions) for "".  The same in every process: two processes on
        one folder or database answer one token with the same list.

        Raises ValueError for a token this index did not issue (another
        epoch, stock Radicale's, garbage, or older than the pruned log): the
        client answers a DAV:valid-sync-token error with a full sync."""
        if not token:
            return [*self.order, *sorted(self.tombstones, key=lambda href: (self.tombstones[href].seq, href))]
        seq = self._seq_of(token)
        if seq == self.seq:
            return []
        changed = ([(entry.seq, href) for href, entry in self.entries.items() if entry.seq > seq]
                   + [(stone.seq, href) for href, stone in self.tombstones.items() if stone.seq > seq])
        return [href for _seq, href in sorted(changed)]

    def _seq_of(self, token: str) -> int:
        name = token.removeprefix(TOKEN_PREFIX)
        if name == token or len(name) != 64 or name[:32] != self.epoch:
            raise ValueError(f"sync token not issued by this collection's index: {token!r}")
        try:
            seq = int(name[32:48], 16)
        except ValueError:
            raise ValueError(f"malformed sync token: {token!r}") from None
        if not self.floor <= seq <= self.seq or self.checks.get(seq) != name[48:]:
            raise ValueError(f"sync token out of range or from a log restored since: {token!r}")
        return seq

    @cached_property
    def uids(self) -> Uids:
        if self.known_uids is not None:
            return self.known_uids
        return Uids(entry.facts.uid for entry in self.entries.values())

    def uids_if_known(self) -> Uids | None:
        return self.__dict__.get("uids", self.known_uids)

    @cached_property
    def newest_mtime_ns(self) -> int:
        return max((entry.stamp.mtime_ns for entry in self.entries.values()), default=0)


def new_epoch() -> str:
    return secrets.token_hex(16)


def new_check() -> str:
    return secrets.token_hex(8)


#: ``facts_of(href, known)``: one item file read the way Radicale does (None: not an item Radicale would
#: list); ``known``: the facts indexed for the file before it changed (its text may be the same: touched,
#: copied back), which the reader may keep for the same text
FactsOf = Callable[[str, "ItemFacts | None"], "ItemFacts | None"]
Seen = Mapping[str, tuple[FileStamp, "ItemFacts | None"]]  # re-read files: stamp and facts (None: no item)
Look = Callable[[str], "tuple[FileStamp, ItemFacts | None] | None"]  # read one file again (None: no file)


@dataclass
class _Folder:
    """A process's copy of one folder's index, and whether a watch vouches for it.

    A watch follows the folder's inode: if the folder at this path is
    another one (a parent renamed away and a copy put in its place), the
    watch says nothing about it, so the identity is compared on every use."""

    view: FolderView
    watched: bool = False
    identity: tuple[int, int] | None = None


class ItemIndex:
    """Item facts and change logs of all collection folders, in SQLite and in memory."""

    def __init__(self, path: Path, max_token_age_s: int = 30 * 24 * 3600,
                 watch: FolderWatch | None = None, idle_seconds: float = IDLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._max_token_age_ns = max_token_age_s * 1_000_000_000
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.RLock()
        #: the views of the collections asked for lately, each with its folder's watch (.kept_views)
        self._folders: KeptViews[_Folder] = KeptViews(idle_seconds, clock)
        self._dirty: dict[str, ChangedNames] = {}  # by filesystem folder
        self._watch = watch if watch is not None else FolderWatch()
        self._open_checked()
        release_when_idle(self)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def idle_seconds(self) -> float:
        return self._folders.idle_seconds

    def release_idle(self) -> int:
        """Let go of the views nobody asked for in ``idle_seconds``, and of their folders' watches; the next
        request for one of them makes it again from the database and the folder (:mod:`.kept_views`)."""
        with self._lock:
            idle = self._folders.idle()
            for key in idle:
                state = self._folders.pop(key)
                if state is not None:
                    self._watch.forget(state.view.folder)
                    self._dirty.pop(state.view.folder, None)
            return len(idle)

    # -- the one question the storage asks ------------------------------------

    def view(self, key: str, folder: str, is_item_name: Callable[[str], bool], facts_of: FactsOf) -> FolderView:
        """The current state of the collection ``key`` stored in ``folder``.

        ``facts_of(href, known)`` reads one item the way Radicale does (None: not an
        item Radicale would list, e.g. broken or too large; ``known``: see :data:`FactsOf`)."""
        with self._lock:
            for changed_folder, names in self._watch.drain().items():
                known = self._dirty.get(changed_folder, set())
                self._dirty[changed_folder] = (EVERYTHING if names is EVERYTHING or known is EVERYTHING
                                               else known | names)
            state = self._folders.get(key)
            if state is not None and state.view.folder != folder:  # e.g. the temporary folder of a MKCOL
                self._dirty.pop(state.view.folder, None)
                self._watch.forget(state.view.folder)
            dirty = self._dirty.pop(folder, set())
            if (state is None or not state.watched or state.view.folder != folder or dirty is EVERYTHING
                    or state.identity != _identity(folder)):
                if state is not None and state.watched:
                    self._watch.forget(folder)  # it may watch a folder that was moved away
                state = self._scan(key, folder, is_item_name, facts_of, state)
            elif dirty:
                view = self._recheck(key, folder, is_item_name, facts_of, state.view, dirty)
                state = _Folder(view, True, state.identity)
            self._folders[key] = state
            return state.view

    def last_view(self, key: str) -> FolderView | None:
        """The view this process made last of the collection ``key``, as it was (no look at its folder): for
        work done before the storage's lock, which checks against the files what it takes from it."""
        with self._lock:
            state = self._folders.get(key)
            return None if state is None else state.view

    def forget(self, key: str, folder: str) -> None:
        """A deleted collection (and those inside it): drop its log; a new one starts a new epoch."""
        with self._lock:
            for known in [k for k in self._folders if k == key or k.startswith(key + "/")]:
                self._folders.pop(known)
            self._watch.forget(folder)
            self._dirty.pop(folder, None)
            with self._saving() as db:
                db.execute("DELETE FROM entries WHERE folder = ? OR folder LIKE ?", (key, key + "/%"))
                db.execute("DELETE FROM folders WHERE folder = ? OR folder LIKE ?", (key, key + "/%"))
                db.execute("DELETE FROM commits WHERE folder = ? OR folder LIKE ?", (key, key + "/%"))

    # -- finding what changed ---------------------------------------------------

    def _scan(self, key: str, folder: str, is_item_name: Callable[[str], bool], facts_of: FactsOf,
              state: _Folder | None) -> _Folder:
        """List the folder and compare every stamp (first sight, no watch, or events lost)."""
        identity = _identity(folder)
        watched = self._watch.watch(folder)  # before listing: a change during the scan is queued
        base = state.view if state is not None else self._load(key)
        listing = _listing(folder, is_item_name)
        seen: dict[str, tuple[FileStamp, ItemFacts | None]] = {}
        for href, stamp in listing:
            entry = base.entries.get(href)
            if entry is None or not entry.settled_for(stamp):   # a migrated entry (indexed 0) is read anew
                seen[href] = (stamp, facts_of(href, None if entry is None or not entry.indexed_ns else entry.facts))
        known = {href: href for href in base.entries}   # the entries' own names: one string per item, not two
        listed = tuple(known.get(href, href) for href, _ in listing)
        del known
        present = set(listed)
        gone = {href for href in base.entries if href not in present}
        view = self._commit(key, base, seen, gone, listed, _looker(folder, is_item_name, facts_of, base.entries))
        return _Folder(_placed(view, folder, is_item_name), watched, identity)

    def _recheck(self, key: str, folder: str, is_item_name: Callable[[str], bool], facts_of: FactsOf,
                 base: FolderView, names: set[str]) -> FolderView:
        """Look again at the names the kernel reported, and only at them."""
        seen: dict[str, tuple[FileStamp, ItemFacts | None]] = {}
        gone: set[str] = set()
        look = self._adopting(key, folder, is_item_name, base, _looker(folder, is_item_name, facts_of, base.entries))
        for href in names:
            found = look(href)
            if found is None:
                if href in base.entries:
                    gone.add(href)
            else:
                seen[href] = found
        new_names = any(href not in base.entries for href, (_, facts) in seen.items() if facts is not None)
        listed = None if gone or new_names or base.listed is None else base.listed
        return _placed(self._commit(key, base, seen, gone, listed, look), folder, is_item_name)

    def _adopting(self, key: str, folder: str, is_item_name: Callable[[str], bool], base: FolderView,
                  look: Look) -> Look:
        """``look``, but a file another process has logged since ``base``, and that still has the stamp
        logged, is taken with the facts logged instead of being read and parsed again: with several
        server processes, each event written by one was parsed again (its occurrences walked again) by
        every other on its next request, and two processes did less than one.  The same trust
        :meth:`_with_log_of_others` gives a logged change (a write makes a new file: a new inode)."""
        try:
            rows = self._connection().execute(f"SELECT {ROW_COLUMNS} FROM entries WHERE folder = ? AND seq > ?",
                                              (key, base.seq)).fetchall()
        except sqlite3.Error:   # the write that follows says what is wrong with the index
            return look
        logged = {href: record for href, record in map(_from_row, rows) if isinstance(record, Entry)}
        if not logged:
            return look

        def adopt(href: str) -> tuple[FileStamp, ItemFacts | None] | None:
            record = logged.get(href)
            if record is not None and is_item_name(href):
                stamp = _stamp(os.path.join(folder, href))
                if stamp == record.stamp:
                    return stamp, record.facts
            return look(href)
        return adopt

    # -- the change log ---------------------------------------------------------

    def _commit(self, key: str, base: FolderView, seen: Seen, gone: set[str],
                listed: tuple[str, ...] | None, look: Look) -> FolderView:
        """A new view with the re-read files and ``gone`` applied, logged in SQLite.

        A file that is not an item (facts None) counts as gone.  ``look``
        reads a file again where another process's log says something this
        process has not seen."""
        gone = gone | {href for href, (_, facts) in seen.items() if facts is None}
        updates = {href: (stamp, facts) for href, (stamp, facts) in seen.items() if facts is not None}
        if base.seq and not _differs(base, updates, gone):  # seq 0: never saved, start its log
            return base if listed == base.listed else replace(base, listed=listed)
        caught = self._caught_up(key, base, updates, gone, listed, look)
        if caught is not None:
            return caught
        now = time.time_ns()
        try:
            with self._transaction() as db:
                return self._logged(db, key, base, updates, gone, listed, now, look)
        except sqlite3.OperationalError as e:  # busy or read-only: serve from memory, log next time
            logger.warning("item index %s: not saved (%s)", self._path, e)
        except sqlite3.DatabaseError as e:
            self._recreate(e)
        # kept in memory only, in an epoch of its own: the next saved log refuses its tokens
        view = _Changes(base, updates, gone).applied(new_epoch(), base.seq + 1, {}, listed, now)
        return replace(view, checks={view.seq: new_check()})

    def _caught_up(self, key: str, base: FolderView, updates: dict, gone: set[str], listed: tuple[str, ...] | None,
                   look: Look) -> FolderView | None:
        """The log as other processes left it, where it holds every change seen here (a file another server
        process wrote, seen through the folder's watch): read, not written, so taking in another process's
        write does not take the index's write lock, which that process's next write then waits for.  None
        where something is left to log (a change of this process's own, a file that disagrees with the
        log), or the log is not the one ``base`` follows: :meth:`_logged` then writes."""
        if not base.seq:
            return None
        try:
            db = self._connection()
            db.execute("BEGIN")   # one snapshot of the folder's row, its entries and its checks
            try:
                row = db.execute("SELECT epoch, seq, floor FROM folders WHERE folder = ?", (key,)).fetchone()
                if row is None or row[0] != base.epoch or row[1] == base.seq or row[2] > base.seq:
                    return None   # rebuilt, nothing logged since, or deletions pruned since: written as before
                seen, vanished = dict(updates), set(gone)
                caught, listed = self._with_log_of_others(db, key, base, seen, vanished, listed, look)
                if _differs(caught, seen, vanished):
                    return None
                checks = checks_with(base.checks, dict(db.execute(
                    "SELECT seq, nonce FROM commits WHERE folder = ? AND seq > ?", (key, base.seq)).fetchall()))
            finally:
                db.execute("COMMIT")
        except sqlite3.Error:   # busy, or worse: the write says what is wrong
            return None
        return replace(caught, seq=row[1], floor=row[2], listed=listed, checks=checks)

    def _logged(self, db: sqlite3.Connection, key: str, base: FolderView, updates: dict, gone: set[str],
                listed: tuple[str, ...] | None, now: int, look: Look) -> FolderView:
        row = db.execute("SELECT epoch, seq, floor FROM folders WHERE folder = ?", (key,)).fetchone()
        if row is None:
            return self._rebuilt(db, key, base, updates, gone, listed, now)
        epoch, seq, floor = row
        if epoch != base.epoch:  # another process (re)built it: its rows are the base of ours
            base, listed = self._load(key), None
        base, listed = self._with_log_of_others(db, key, base, updates, gone, listed, look)
        changes = _Changes(base, updates, gone)
        fresh = sorted(changes.changed | changes.removed)
        numbers = {href: seq + n for n, href in enumerate(fresh, start=1)}
        seq += len(fresh)
        checks = self._checks(db, key, base, seq if fresh else None, now)
        view = replace(changes.applied(epoch, seq, numbers, listed, now), checks=checks)
        view, floor = self._pruned(replace(view, floor=floor), now)
        db.execute("UPDATE folders SET seq = ?, floor = ? WHERE folder = ?", (seq, floor, key))
        self._save_rows(db, key, view, set(updates) | changes.removed)
        return view

    def _checks(self, db: sqlite3.Connection, key: str, base: FolderView, new_seq: int | None,
                now: int) -> Mapping[int, str]:
        """The checks of the numbers since ``base`` (others' included), and one for ``new_seq``."""
        if new_seq is not None:
            db.execute("INSERT OR REPLACE INTO commits VALUES (?, ?, ?, ?)", (key, new_seq, new_check(), now))
            if new_seq % PRUNE_COMMITS_EVERY == 0:   # it walks every commit of the folder kept
                db.execute("DELETE FROM commits WHERE folder = ? AND made_ns < ? AND seq < ?",
                           (key, now - self._max_token_age_ns, new_seq))
        return checks_with(base.checks, dict(db.execute("SELECT seq, nonce FROM commits WHERE folder = ? AND seq > ?",
                                                        (key, base.seq)).fetchall()))

    @staticmethod
    def _with_log_of_others(db: sqlite3.Connection, key: str, base: FolderView, updates: dict, gone: set[str],
                            listed: tuple[str, ...] | None, look: Look) -> tuple[FolderView, tuple | None]:
        """``base`` with what other processes logged since it, checked against the files.

        A change logged elsewhere and seen here too (same stamp, or the same
        deletion) is then no change here and keeps its number.  One this
        process has not seen is taken as logged if the file still agrees;
        otherwise the file is read again and counts as seen now, so a view
        never claims a number whose change it does not hold."""
        rows = db.execute(f"SELECT {ROW_COLUMNS} FROM entries WHERE folder = ? AND seq > ?",
                          (key, base.seq)).fetchall()
        if not rows:
            return base, listed
        entries, tombstones = dict(base.entries), dict(base.tombstones)
        for href, record in map(_from_row, rows):
            if isinstance(record, Tombstone):
                entries.pop(href, None)
                tombstones[href] = record
            else:
                if href not in entries:
                    listed = None  # a name this process has not listed: read the order again
                entries[href] = record
                tombstones.pop(href, None)
            if href in updates or href in gone:
                continue
            found = look(href)
            if found is None:
                if isinstance(record, Entry):
                    gone.add(href)
            elif not isinstance(record, Entry) or record.stamp != found[0]:
                if found[1] is None:
                    gone.add(href)
                else:
                    updates[href] = found
        touched = [row[0] for row in rows]  # a row begins with its href
        return replace(base, entries=entries, tombstones=tombstones, known_uids=uids_carried(base, entries, touched),
                       carried=base.handed_on(entries, touched)), listed

    def _pruned(self, view: FolderView, now: int) -> tuple[FolderView, int]:
        """Tombstones older than the token age go; tokens from before them are then refused."""
        old = [stone.seq for stone in view.tombstones.values() if stone.deleted_ns < now - self._max_token_age_ns]
        if not old:
            return view, view.floor
        floor = max(view.floor, *old)
        kept = {href: stone for href, stone in view.tombstones.items() if stone.seq > floor}
        return replace(view, tombstones=kept, floor=floor), floor

    def _rebuilt(self, db: sqlite3.Connection, key: str, base: FolderView, updates, gone: set[str],
                 listed: tuple[str, ...] | None, now: int) -> FolderView:
        """The index has no log for this folder (new, deleted, damaged): a new epoch, every item logged once."""
        entries = {href: replace(entry, seq=1) for href, entry in base.entries.items() if href not in gone}
        for href, (stamp, facts) in updates.items():
            entries[href] = Entry(stamp, facts, 1, now)
        check = new_check()
        view = FolderView(new_epoch(), 1, 1, listed, entries, {}, {1: check})
        db.execute("INSERT OR REPLACE INTO folders VALUES (?, ?, ?, ?)", (key, view.epoch, 1, 1))
        db.execute("DELETE FROM entries WHERE folder = ?", (key,))
        db.execute("DELETE FROM commits WHERE folder = ?", (key,))
        db.execute("INSERT INTO commits VALUES (?, ?, ?, ?)", (key, 1, check, now))
        self._save_rows(db, key, view, set(entries))
        return view

    @staticmethod
    def _save_rows(db: sqlite3.Connection, key: str, view: FolderView, hrefs: Iterable[str]) -> None:
        rows = []
        for href in hrefs:
            entry = view.entries.get(href)
            if entry is not None:
                f, s = entry.facts, entry.stamp
                rows.append((href, entry.seq, None, s.inode, s.mtime_ns, s.ctime_ns, s.size,
                             entry.indexed_ns, f.etag, f.uid, f.name, f.component, f.start, f.end, f.names,
                             f.occurrences, key))
            elif href in view.tombstones:
                stone = view.tombstones[href]
                rows.append((href, stone.seq, stone.deleted_ns, *([None] * 13), key))
        db.executemany(f"INSERT OR REPLACE INTO entries ({ROW_COLUMNS}) VALUES ({', '.join('?' * 17)})", rows)
        db.execute(PRUNE, (key, view.floor))

    # -- SQLite ------------------------------------------------------------------

    def _load(self, key: str) -> FolderView:
        """This folder's saved index (an empty one in a new epoch where there is none)."""
        db = None
        try:
            db = self._connection()
            row = db.execute("SELECT epoch, seq, floor FROM folders WHERE folder = ?", (key,)).fetchone()
            rows = [] if row is None else db.execute(
                f"SELECT {ROW_COLUMNS} FROM entries WHERE folder = ?", (key,)).fetchall()
            checks = dict(db.execute("SELECT seq, nonce FROM commits WHERE folder = ?", (key,)).fetchall())
        except sqlite3.OperationalError as e:   # busy, or unreadable now: the files are read, the log met at the commit
            if db is not None and db.in_transaction:
                raise   # within a commit (_logged): that commit is not saved, and says so
            logger.warning("item index %s: not read (%s)", self._path, e)
            row, rows, checks = None, [], {}
        except sqlite3.DatabaseError as e:
            self._recreate(e)
            row, rows, checks = None, [], {}
        if row is None:
            return FolderView(new_epoch(), 0, 0, (), {})
        entries: dict[str, Entry] = {}
        tombstones: dict[str, Tombstone] = {}
        for href, record in map(_from_row, rows):
            if isinstance(record, Tombstone):
                tombstones[href] = record
            else:
                entries[href] = record
        return FolderView(row[0], row[1], row[2], None, entries, tombstones, checks)

    @contextlib.contextmanager
    def _saving(self) -> Iterator[sqlite3.Connection]:
        """A write that only saves time later: damage rebuilds, busy is logged."""
        try:
            with self._transaction() as db:
                yield db
        except sqlite3.OperationalError as e:
            logger.warning("item index %s: not saved (%s)", self._path, e)
        except sqlite3.DatabaseError as e:
            self._recreate(e)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.commit()

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # each thread has a connection, and each connection SQLite's page cache (2 MiB by default,
            # filled by the first read of a folder's rows): the rows are kept in memory anyway (the views),
            # and the system's file cache holds the file, so a small one costs no speed
            db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version in MIGRATIONS:
                db.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[version]}; PRAGMA user_version = {SCHEMA_VERSION};"
                                 " COMMIT;")
            elif version != SCHEMA_VERSION:
                db.executescript("BEGIN IMMEDIATE; DROP TABLE IF EXISTS items; DROP TABLE IF EXISTS entries; "
                                 f"DROP TABLE IF EXISTS folders; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};"
                                 " COMMIT;")
            db.execute(TOMBSTONES)
            self._local.db = db
        return db

    def _open_checked(self) -> None:
        """Open and check the index; a damaged one is made again.  Busy is not damage: another process
        holds it (at the same start, making or checking it), so this one waits for it, then checks."""
        for attempt in range(OPEN_ATTEMPTS):
            try:
                db = self._connection()
                if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("quick_check failed")
                return
            except sqlite3.OperationalError as e:
                if not _busy(e) or attempt == OPEN_ATTEMPTS - 1:   # each attempt waited BUSY_SECONDS
                    logger.warning("item index %s: not checked (%s)", self._path, e)
                    return
                logger.info("item index %s: waiting for another process (%s)", self._path, e)
                time.sleep(0.05 * 2 ** attempt)   # SQLite may say so at once, without waiting itself
            except sqlite3.DatabaseError as e:
                self._recreate(e)
                return

    def _recreate(self, error: Exception) -> None:
        """The index is only a cache of the files: a damaged one is replaced by an empty one.

        Each folder is scanned and logged again in a new epoch on its next
        use, so tokens issued before are refused and clients sync afresh."""
        logger.warning("item index %s is damaged (%s): rebuilding it from the files", self._path, error)
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(str(self._path) + suffix)
        with self._lock:
            self._folders.clear()
        self._connection()


ROW_COLUMNS = ("href, seq, deleted_ns, inode, mtime_ns, ctime_ns, size, indexed_ns, "
               "etag, uid, name, component, start, \"end\", names, occurrences, folder")


def _from_row(row: tuple) -> tuple[str, Entry | Tombstone]:
    href, seq, deleted_ns, inode, mtime, ctime, size, indexed, *facts, _folder = row
    if deleted_ns is not None:
        return href, Tombstone(seq, deleted_ns)
    return href, Entry(FileStamp(inode, mtime, ctime, size), ItemFacts(*facts), seq, indexed)


@dataclass
class _Changes:
    """Re-read files and vanished ones, compared with what a view knew."""

    base: FolderView
    updates: Mapping[str, tuple[FileStamp, ItemFacts]]
    gone: set[str]

    @cached_property
    def changed(self) -> set[str]:
        """New items, and items whose facts (ETag first) differ: these get a log number."""
        entries = self.base.entries
        return {href for href, (_, facts) in self.updates.items()
                if href not in entries or entries[href].facts != facts}

    @cached_property
    def removed(self) -> set[str]:
        return {href for href in self.gone if href in self.base.entries}

    def applied(self, epoch: str, seq: int, numbers: Mapping[str, int], listed: tuple[str, ...] | None,
                now: int) -> FolderView:
        entries = dict(self.base.entries)
        tombstones = dict(self.base.tombstones)
        for href, (stamp, facts) in self.updates.items():
            number = numbers.get(href, seq) if href in self.changed else entries[href].seq
            entries[href] = Entry(stamp, facts, number, now)
            tombstones.pop(href, None)
        for href in self.removed:
            entries.pop(href, None)
            tombstones[href] = Tombstone(numbers.get(href, seq), now)
        if listed is not None and self.gone:   # only a removal or a listed name that is no item shortens it
            listed = tuple(href for href in listed if href in entries)
        touched = self.changed | self.removed
        return FolderView(epoch, seq, self.base.floor, listed, entries, tombstones, self.base.checks,
                          known_uids=uids_carried(self.base, entries, touched),
                          carried=self.base.handed_on(entries, touched))


def uids_carried(base: FolderView, entries: Mapping[str, Entry], touched: Iterable[str]) -> Uids | None:
    """The UIDs of ``entries``, which differ from ``base``'s only at ``touched``, from ``base``'s where it
    has them (every PUT asks whether its UID is taken: gathering them from every entry each time took a
    millisecond per thousand items, and copying the set a new UID joins half a millisecond at 10,000:
    :class:`~radicale_ext.index.carried.Uids` keeps the changes apart); None where it has not."""
    before = base.uids_if_known()
    if before is None:
        return None
    touched = set(touched)
    added = {entries[href].facts.uid for href in touched if href in entries}
    vanished = {base.entries[href].facts.uid for href in touched if href in base.entries} - added
    if vanished:   # a UID changed or went: does another item still hold it?
        vanished -= {entry.facts.uid for entry in entries.values() if entry.facts.uid in vanished}
    return before.changed(added, vanished)


def _placed(view: FolderView, folder: str, is_item_name: Callable[[str], bool]) -> FolderView:
    """``view`` of ``folder``: itself where it already is (a recheck that found nothing new keeps the
    order, the ctag's digest and the UIDs it worked out, which a copy would work out again), else a copy."""
    if view.folder == folder and view.is_item_name is is_item_name:
        return view
    return replace(view, folder=folder, is_item_name=is_item_name)


def _differs(base: FolderView, updates: Mapping[str, tuple[FileStamp, ItemFacts]], gone: set[str]) -> bool:
    """Anything to log or save: a new or changed item, a removal, only a new stamp, or an entry read
    again that can now be settled (written within RACY_NS of its indexing, read again well after: its new
    indexing time is saved, or every process would read it again at every start)."""
    entries = base.entries
    settles_before = time.time_ns() - RACY_NS
    return (any(href in entries for href in gone)
            or any(href not in entries or entries[href].stamp != stamp or entries[href].facts != facts
                   or (not entries[href].settled_for(stamp) and stamp.changed_ns < settles_before)
                   for href, (stamp, facts) in updates.items()))


def _looker(folder: str, is_item_name: Callable[[str], bool], facts_of: FactsOf, known: Mapping[str, Entry]) -> Look:
    """Read one file of ``folder`` again: its stamp and facts, or None where there is no item file."""
    def look(href: str) -> tuple[FileStamp, ItemFacts | None] | None:
        stamp = _stamp(os.path.join(folder, href)) if is_item_name(href) else None
        if stamp is None:
            return None
        entry = known.get(href)
        return stamp, facts_of(href, None if entry is None else entry.facts)
    return look


def _busy(error: sqlite3.OperationalError) -> bool:
    """SQLite's "database is locked" (or busy): another connection holds the index, nothing is wrong with it."""
    return (error.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)   # low byte: the primary one


def _identity(folder: str) -> tuple[int, int] | None:
    """Which folder is at this path now (device and inode); None where there is none."""
    try:
        st = os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_dev, st.st_ino


def _stamp(path: str) -> FileStamp | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return FileStamp.of(st) if stat.S_ISREG(st.st_mode) else None


def _listing(folder: str, is_item_name: Callable[[str], bool]) -> list[tuple[str, FileStamp]]:
    """Radicale's ``_list`` (same files, same order), each with its stamp."""
    listing = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file() and is_item_name(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    listing.append((entry.name, FileStamp.of(entry.stat())))
    return listing


def _names(folder: str, is_item_name: Callable[[str], bool]) -> list[str]:
    """Radicale's ``_list`` without stat-ing each file (``is_file`` comes from the directory entry)."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
        return [entry.name for entry in entries if entry.is_file() and is_item_name(entry.name)]
    return []
