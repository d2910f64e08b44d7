"""Calendars and address books in PostgreSQL: collections, their properties, items and the change log.

Chosen with ``[storage] postgresql_dsn`` (docs/scale-out.md); the files stay the default.  Three tables:

* ``dav_collections``: one row per collection (its sanitized path, ``"alice/family"``; ``""`` is
  the root), its properties as Radicale's JSON text, and its change counter (``seq``) with the
  *epoch* that names this life of the collection (a collection deleted and made again starts a
  new one, so the old tokens are refused);
* ``dav_items``: one row per item (text and the facts Radicale would read from it: ETag, UID,
  component, time range, a card's names), and a *tombstone* row per deleted item, each with the
  number of its last change; one UID per collection is a UNIQUE index, the last line behind
  Radicale's own check;
* ``dav_changes``: a random check per change number, so that a token of a timeline restored
  away from (a backup put back) is refused rather than answered wrongly.

Every write is one transaction that bumps the collection's counter (``UPDATE ... RETURNING``:
the row lock orders writers of one collection, and their commits come in counter order), so a
sync token (RFC 6578) never goes backwards and a change is never skipped.  Readers are answered
from the same :class:`~radicale_ext.index.item_index.FolderView` the files' index makes, kept per
process and brought up to date by reading only the rows changed since (one indexed query).

Radicale's storage lock (``acquire_lock``) is a PostgreSQL advisory lock held by the connection
of the request for its duration: exclusive for a write, shared for a read, in every process
that uses the database (:meth:`PgItems.locked`).  Every write also moves one commit counter
(``dav_commits``) on in its transaction: a request reads it once, and while it has not moved the
collections' rows this process read are still what is stored, so a request asks for none of
them again (a ctag PROPFIND is then that one read).  Nothing here imports Radicale.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..base.errors import DatabaseUnavailable
from ..base.postgres import unreachable
from .carried import checks_with
from .item_index import Entry, FileStamp, FolderView, ItemFacts, Tombstone, new_check, new_epoch, uids_carried
from .kept_views import IDLE_SECONDS, KeptViews, release_when_idle

logger = logging.getLogger(__name__)

#: the advisory lock standing for Radicale's storage lock ("Radicale" in ASCII)
STORAGE_LOCK = 0x5261646963616C65
#: held while the schema is made, so that two processes starting together do not both make it
SCHEMA_LOCK = STORAGE_LOCK + 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS dav_collections (
    id BIGSERIAL PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    parent TEXT,
    props TEXT NOT NULL DEFAULT '{}',
    epoch TEXT NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    floor BIGINT NOT NULL DEFAULT 0,
    modified_ns BIGINT NOT NULL,
    props_modified_ns BIGINT NOT NULL,
    pruned_ns BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS dav_collections_by_parent ON dav_collections (parent);
CREATE TABLE IF NOT EXISTS dav_items (
    collection_id BIGINT NOT NULL REFERENCES dav_collections (id) ON DELETE CASCADE,
    href TEXT NOT NULL,
    seq BIGINT NOT NULL,
    deleted_ns BIGINT,
    modified_ns BIGINT NOT NULL,
    size BIGINT NOT NULL DEFAULT 0,
    text TEXT,
    etag TEXT, uid TEXT, name TEXT, component TEXT, start BIGINT, "end" BIGINT, names TEXT,
    PRIMARY KEY (collection_id, href)
);
ALTER TABLE dav_items ADD COLUMN IF NOT EXISTS occurrences BYTEA;
CREATE INDEX IF NOT EXISTS dav_items_by_seq ON dav_items (collection_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS dav_items_one_uid ON dav_items (collection_id, uid)
    WHERE deleted_ns IS NULL AND uid <> '';
CREATE TABLE IF NOT EXISTS dav_changes (
    collection_id BIGINT NOT NULL REFERENCES dav_collections (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    nonce TEXT NOT NULL,
    made_ns BIGINT NOT NULL,
    PRIMARY KEY (collection_id, seq)
);
CREATE TABLE IF NOT EXISTS dav_commits (
    id INTEGER PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO dav_commits (id, n) VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS dav_facts (
    id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
"""
#: how the facts kept with the items were made: 2, every series walked after the two time zone fixes (a zone
#: named without a VTIMEZONE; docs/performance.md, "Writes"); a database's older series are walked again once
FACTS_VERSION = 2
#: moves the storage's commit counter on, in the transaction of every write (see PgItems.collection)
_COMMIT = "UPDATE dav_commits SET n = n + 1 WHERE id = 1"
#: the most collection rows a process remembers between commits
_MOST_ROWS = 4096
#: the most collection paths of one request read again with its first read under the write lock
_MOST_ASKED = 16

_ITEM_COLUMNS = ('href, seq, deleted_ns, modified_ns, size, etag, uid, name, component, start, "end", names, '
                 'occurrences')
_COLLECTION_COLUMNS = "id, path, props, epoch, seq, floor, modified_ns, props_modified_ns"
#: how often a collection's old tombstones and change checks are pruned (at a write)
PRUNE_EVERY_NS = 3600 * 1_000_000_000
#: an item stored at an href that has one (or a tombstone) replaces it
_REPLACING = ('ON CONFLICT (collection_id, href) DO UPDATE SET seq = EXCLUDED.seq, deleted_ns = NULL, '
              'modified_ns = EXCLUDED.modified_ns, size = EXCLUDED.size, text = EXCLUDED.text, etag = EXCLUDED.etag, '
              'uid = EXCLUDED.uid, name = EXCLUDED.name, component = EXCLUDED.component, start = EXCLUDED.start, '
              '"end" = EXCLUDED."end", names = EXCLUDED.names, occurrences = EXCLUDED.occurrences')
#: :meth:`PgItems.put`: every data-modifying part of a WITH runs, read or not (one statement, one transaction)
_PUT = f"""
WITH commit AS ({_COMMIT}),
target AS (UPDATE dav_collections SET seq = seq + 1, modified_ns = %(now)s WHERE path = %(path)s
           RETURNING id, seq, pruned_ns),
change AS (INSERT INTO dav_changes (collection_id, seq, nonce, made_ns) SELECT id, seq, %(nonce)s, %(now)s FROM target),
stored AS (
    INSERT INTO dav_items (collection_id, text, {_ITEM_COLUMNS})
    SELECT id, %(text)s, %(href)s, seq, NULL, %(now)s, %(size)s, %(etag)s, %(uid)s, %(name)s, %(component)s,
           %(start)s, %(end)s, %(names)s, %(occurrences)s FROM target
    {_REPLACING})
SELECT id, seq, pruned_ns FROM target
"""


class DuplicateUid(ValueError):
    """Another item of the collection has this UID (CALDAV:no-uid-conflict, RFC 4791 5.3.2.1)."""


class NoCollection(ValueError):
    """The collection a write names is not there (any more)."""


@dataclass(frozen=True)
class StoredCollection:
    """One collection's row: what Radicale asks of a collection besides its items."""

    id: int
    path: str
    props_text: str
    epoch: str
    seq: int
    floor: int
    modified_ns: int
    props_modified_ns: int

    @property
    def props(self) -> dict[str, str]:
        loaded = json.loads(self.props_text or "{}")
        return loaded if isinstance(loaded, dict) else {}


@dataclass(frozen=True)
class StoredText:
    """An item's text as stored, with the ETag and time of that same row: a view a request took earlier may
    know an older version of the item, and its ETag must never be served with this text."""

    etag: str
    modified_ns: int
    text: str


@dataclass(frozen=True)
class NewItem:
    """An item to store: its name, text and the facts of it the views answer from."""

    href: str
    text: str
    facts: ItemFacts


def parent_of(path: str) -> str | None:
    """``"alice"`` for ``"alice/family"``, ``""`` for ``"alice"``, ``None`` for the root."""
    if not path:
        return None
    return path.rsplit("/", 1)[0] if "/" in path else ""


def ancestors(path: str) -> list[str]:
    """The root and every collection above ``path``, outermost first (``path`` itself not included)."""
    parts = path.split("/") if path else []
    return [""] + ["/".join(parts[:n]) for n in range(1, len(parts))]


def _now_ns() -> int:
    return time.time_ns()


@dataclass
class _Held:
    """A thread's hold on the storage lock: its connection, mode and nesting depth."""

    connection: Any
    mode: str
    depth: int = 1
    taken: bool = False   # a read's shared lock is taken with its first query (see PgItems.locked)
    # under the write lock, what this thread read or wrote since its last write (nobody else writes meanwhile):
    # items' texts, and collections' rows (None: no collection there)
    texts: dict[tuple[int, str], StoredText] = field(default_factory=dict)
    rows: dict[str, StoredCollection | None] = field(default_factory=dict)


class PgItems:
    """The items of every collection in one PostgreSQL database, for one process (thread-safe)."""

    _shared: dict[str, PgItems] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, dsn: str, pool_size: int = 8) -> PgItems:
        """The process's one store of this database (the storage plugin and the core's readers share its
        connections; the pool is as large as the first asked)."""
        with cls._shared_lock:
            found = cls._shared.get(dsn)
            if found is None:
                found = cls._shared[dsn] = cls(dsn, pool_size)
            return found

    @property
    def max_token_age_s(self) -> int:
        return self._max_token_age_ns // 1_000_000_000

    @max_token_age_s.setter
    def max_token_age_s(self, seconds: int) -> None:
        self._max_token_age_ns = seconds * 1_000_000_000

    @property
    def idle_seconds(self) -> float:
        """``[storage] index_idle_seconds``: how long a collection's view is kept unasked (0: for good)."""
        return self._views.idle_seconds

    @idle_seconds.setter
    def idle_seconds(self, seconds: float) -> None:
        self._views.idle_seconds = seconds
        release_when_idle(self)

    def release_idle(self) -> int:
        """Let go of the views nobody asked for in ``idle_seconds`` (the next request loads the collection's
        rows again: one query; :mod:`.kept_views`)."""
        with self._views_lock:
            idle = self._views.idle()
            for path in idle:
                self._views.pop(path)
            return len(idle)

    def __init__(self, dsn: str, pool_size: int = 8, max_token_age_s: int = 30 * 24 * 3600) -> None:
        """Raises :class:`DatabaseUnavailable` with a sentence when psycopg is missing or the database
        cannot be reached."""
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise DatabaseUnavailable("[storage] postgresql_dsn is set, but psycopg is not installed; install "
                                      "radicale-ext with its postgres extra (pip install 'radicale-ext[postgres]')"
                                      ) from None
        try:
            psycopg.connect(dsn, connect_timeout=10).close()
        except psycopg.Error as e:
            raise unreachable(dsn, e) from None
        self._max_token_age_ns = max_token_age_s * 1_000_000_000
        self._pool = ConnectionPool(dsn, min_size=1, max_size=max(1, pool_size), kwargs={"autocommit": True},
                                    open=False, name="radicale-ext-items")
        self._pool.open(wait=True, timeout=30)
        self._local = threading.local()
        #: by path, the collections asked for lately; each view names its epoch and counter (.kept_views)
        self._views: KeptViews[FolderView] = KeptViews(IDLE_SECONDS)
        self._views_lock = threading.Lock()
        # collection rows (None: no collection there) as of the commit counter's value ``_rows_at``
        self._rows: dict[str, StoredCollection | None] = {}
        self._rows_at = -1
        self._rows_lock = threading.Lock()
        self.request_number: Callable[[], int] = lambda: 0   # the storage plugin's (0: not in a request)
        release_when_idle(self)
        self._series_walked = False
        self._made_schema()

    def close(self) -> None:
        self._pool.close()

    def _made_schema(self) -> None:
        with self._pool.connection() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            db.execute(SCHEMA)
            if db.execute("SELECT 1 FROM dav_collections WHERE path = ''").fetchone() is None:
                db.execute(_COMMIT)
                self._created(db, "", _now_ns())
                db.execute("INSERT INTO dav_facts (id, version) VALUES (1, %s) ON CONFLICT DO NOTHING",
                           (FACTS_VERSION,))   # a new database: every series is walked as it is written

    def walk_series_again(self, facts_of_text: Callable[[str, str], ItemFacts | None]) -> int:
        """Once per database (:data:`FACTS_VERSION`): each series' facts made again from its text
        (``facts_of_text(collection path, text)``) where its ETag is still the one kept, and saved where its
        occurrences differ; how many did.  The other processes starting meanwhile wait (the schema's lock).
        Views another process already holds keep the old occurrences until the item is written again."""
        if self._series_walked:
            return 0
        changed = 0
        with self._pool.connection() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            row = db.execute("SELECT version FROM dav_facts WHERE id = 1").fetchone()
            if row is None or row[0] < FACTS_VERSION:
                with db.cursor(name="radicale_ext_series") as series:
                    series.execute("SELECT c.path, i.collection_id, i.href, i.text, i.etag, i.occurrences "
                                   "FROM dav_items i JOIN dav_collections c ON c.id = i.collection_id "
                                   "WHERE i.deleted_ns IS NULL AND i.component = 'VEVENT' "
                                   "AND length(i.occurrences) > 0")
                    for path, collection_id, href, text, etag, occurrences in series:
                        facts = facts_of_text(path, text)
                        if facts is None or facts.etag != etag or facts.occurrences == bytes(occurrences):
                            continue
                        db.execute('UPDATE dav_items SET occurrences = %s, start = %s, "end" = %s '
                                   "WHERE collection_id = %s AND href = %s",
                                   (facts.occurrences, facts.start, facts.end, collection_id, href))
                        changed += 1
                db.execute("INSERT INTO dav_facts (id, version) VALUES (1, %s) "
                           "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version", (FACTS_VERSION,))
                logger.info("item database: its series walked again (facts version %d): %d changed",
                            FACTS_VERSION, changed)
        if changed:   # no change number marks them: this process's views are read again whole
            with self._views_lock:
                self._views.clear()
        self._series_walked = True
        return changed

    # -- Radicale's storage lock, across processes ------------------------------

    @contextlib.contextmanager
    def locked(self, mode: str) -> Iterator[None]:
        """Radicale's storage lock: ``"w"`` exclusive, ``"r"`` shared, for every process on this database.

        A session-level advisory lock on a connection the thread keeps until it lets go (PostgreSQL
        drops it when that connection ends, so a killed process holds nothing).  Nested use in one
        thread shares the hold: Radicale takes the read lock again inside a PROPFIND.  A read's shared
        lock is sent together with its first query, in one round trip (:meth:`_connection`); a read
        that asks nothing of the database takes none."""
        if mode not in ("r", "w"):
            raise ValueError(f"lock mode must be 'r' or 'w', not {mode!r}")
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None:
            if mode == "w" and held.mode == "r":
                raise RuntimeError("the storage's write lock was asked for inside its read lock")
            held.depth += 1
            try:
                yield
            finally:
                held.depth -= 1
            return
        with self._pool.connection() as db:
            hold = self._local.held = _Held(db, mode)
            if mode == "w":
                db.execute("SELECT pg_advisory_lock(%s)", (STORAGE_LOCK,))
                hold.taken = True
            try:
                yield
            finally:
                self._local.held = None
                if hold.taken:
                    with contextlib.suppress(Exception):   # a broken connection has let go of it already
                        db.execute("SELECT pg_advisory_unlock(%s)" if mode == "w"
                                   else "SELECT pg_advisory_unlock_shared(%s)", (STORAGE_LOCK,))

    def holds_lock(self) -> bool:
        """Does this thread hold the storage lock (either mode)?"""
        return getattr(self._local, "held", None) is not None

    def thread_writes(self) -> int:
        """How many writes this thread began: a collection's row read before the last of them is out of date."""
        return getattr(self._local, "writes", 0)

    def _wrote(self) -> None:
        self._local.writes = self.thread_writes() + 1
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None:
            held.texts.clear()
            held.rows.clear()

    def _write_held(self) -> _Held | None:
        """The thread's hold when it is the write lock (taken), else None."""
        held: _Held | None = getattr(self._local, "held", None)
        return held if held is not None and held.mode == "w" and held.taken else None

    def lock_mode(self) -> str:
        """``"r"``, ``"w"`` or ``""``: what this thread holds."""
        held: _Held | None = getattr(self._local, "held", None)
        return held.mode if held is not None else ""

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """The connection of the thread's lock where it holds one, else one from the pool."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is None:
            with self._pool.connection() as db:
                yield db
        elif held.taken:
            yield held.connection
        else:   # the read's first query: its shared lock goes first, in the same round trip
            db = held.connection
            with db.pipeline():
                db.execute("SELECT pg_advisory_lock_shared(%s)", (STORAGE_LOCK,))
                held.taken = True
                yield db

    # -- reads -------------------------------------------------------------------

    def collection(self, path: str) -> StoredCollection | None:
        return self._collection_rows([path])[path]

    def collection_or_parent(self, path: str) -> tuple[StoredCollection | None, StoredCollection | None]:
        """The collection at ``path``, or else the one above it (where ``path`` may name an item), in one query."""
        parent = parent_of(path)
        found = self._collection_rows([path] if parent is None else [path, parent])
        return found[path], (found[parent] if parent is not None else None)

    def _collection_rows(self, paths: list[str]) -> dict[str, StoredCollection | None]:
        """The rows at ``paths`` (None where there is no collection): remembered while the commit counter
        stays where this request found it, else read in one query.  Outside a request always read; under the
        write lock remembered until this thread writes (nobody else writes meanwhile)."""
        at = self._commits_now()
        held = self._write_held()
        known: dict[str, StoredCollection | None] = {}
        if held is not None:
            known = {path: held.rows[path] for path in paths if path in held.rows}
        elif at is not None:
            with self._rows_lock:
                if self._rows_at == at:
                    known = {path: self._rows[path] for path in paths if path in self._rows}
        missing = [path for path in paths if path not in known]
        asked = self._asked_in_request()
        asked.update(paths)
        if not missing:
            return known
        if held is not None and not held.rows:
            # the first read under the write lock: what the request asked before it took the lock (its
            # principal, its collection's parent), read again in the same query, since it may ask again
            missing += [path for path in asked if path not in known and path not in missing]
        with self._connection() as db:
            rows = db.execute(f"SELECT {_COLLECTION_COLUMNS} FROM dav_collections WHERE path = ANY(%s)",
                              (missing,)).fetchall()
        found = {row[1]: StoredCollection(*row) for row in rows}
        read = {path: found.get(path) for path in missing}
        if held is not None:
            held.rows.update(read)
        elif at is not None:
            with self._rows_lock:
                if self._rows_at != at or len(self._rows) >= _MOST_ROWS:
                    self._rows, self._rows_at = {}, at
                self._rows.update(read)
        return {**known, **read}

    def _asked_in_request(self) -> set[str]:
        """The collection paths this thread's request asked for so far (a few: its principal, the collection)."""
        number = self.request_number()
        asked: tuple[int, set[str]] | None = getattr(self._local, "asked", None)
        if asked is None or asked[0] != number or len(asked[1]) > _MOST_ASKED:
            asked = self._local.asked = (number, set())
        return asked[1]

    def commits_read_along(self, n: int) -> None:
        """The commit counter as the sharing database read it at this request's start, in its own query
        (:meth:`radicale_ext.base.postgres.PostgresDatabase.read_along`): this request's first read of it."""
        key = self._commits_key()
        seen = getattr(self._local, "commits", None)
        if key is not None and (seen is None or seen[0] != key):
            self._local.commits = (key, n)

    def _commits_now(self) -> int | None:
        """The commit counter as this request first read it (again after this thread wrote), or None where
        rows must be read afresh.  The read takes no lock: a write commits its rows and its move of the
        counter together."""
        key = self._commits_key()
        if key is None:
            return None
        seen = getattr(self._local, "commits", None)
        if seen is None or seen[0] != key:
            held: _Held | None = getattr(self._local, "held", None)
            if held is not None:
                n = held.connection.execute("SELECT n FROM dav_commits WHERE id = 1").fetchone()[0]
            else:
                with self._pool.connection() as db:
                    n = db.execute("SELECT n FROM dav_commits WHERE id = 1").fetchone()[0]
            seen = self._local.commits = (key, n)
        return seen[1]

    def _commits_key(self) -> tuple[int, int] | None:
        """What a read of the commit counter stands for: this request and this thread's writes so far; None
        where rows must be read afresh (outside a request, or under the write lock)."""
        number = self.request_number()
        if number == 0 or self.lock_mode() == "w":
            return None
        return number, self.thread_writes()

    def children(self, path: str) -> list[str]:
        """The paths of the collections directly inside ``path``, by name."""
        return [stored.path for stored in self.children_rows(path)]

    def children_rows(self, path: str) -> list[StoredCollection]:
        """The collections directly inside ``path``, by name, in one query."""
        with self._connection() as db:
            rows = db.execute(f"SELECT {_COLLECTION_COLUMNS} FROM dav_collections WHERE parent = %s ORDER BY path",
                              (path,)).fetchall()
        return [StoredCollection(*row) for row in rows]

    def collections_in(self, path: str) -> list[tuple[StoredCollection, int]]:
        """The collections directly inside ``path``, each with its number of items, by path."""
        with self._connection() as db:
            rows = db.execute(
                f"SELECT {', '.join('c.' + c.strip() for c in _COLLECTION_COLUMNS.split(','))}, "
                "(SELECT count(*) FROM dav_items i WHERE i.collection_id = c.id AND i.deleted_ns IS NULL) "
                "FROM dav_collections c WHERE c.parent = %s ORDER BY c.path", (path,)).fetchall()
        return [(StoredCollection(*row[:-1]), row[-1]) for row in rows]

    def collections_under(self, path: str) -> list[str]:
        """Every collection inside ``path`` (at any depth), by path."""
        with self._connection() as db:
            rows = db.execute("SELECT path FROM dav_collections WHERE starts_with(path, %s) ORDER BY path",
                              (path + "/" if path else "",)).fetchall()
        return [row[0] for row in rows if row[0]]

    def view(self, stored: StoredCollection) -> FolderView:
        """The collection's items and change log as of ``stored`` (or later), from this process's copy
        brought up to date with the rows changed since it."""
        with self._views_lock:
            known = self._views.get(stored.path)
        if known is not None and known.epoch == stored.epoch and known.seq >= stored.seq \
                and known.floor == stored.floor:
            return known
        with self._connection() as db:
            if known is None or known.epoch != stored.epoch or known.floor != stored.floor:
                view = self._loaded(db, stored)
            else:
                view = self._caught_up(db, stored, known)
        with self._views_lock:
            current = self._views.get(stored.path)
            if current is None or current.epoch != view.epoch or current.seq <= view.seq:
                self._views[stored.path] = view
        return view

    def _loaded(self, db: Any, stored: StoredCollection) -> FolderView:
        with db.pipeline():   # both queries in one round trip
            items = db.execute(f"SELECT {_ITEM_COLUMNS} FROM dav_items WHERE collection_id = %s", (stored.id,))
            changes = db.execute("SELECT seq, nonce FROM dav_changes WHERE collection_id = %s", (stored.id,))
            rows, checks = items.fetchall(), dict(changes.fetchall())
        entries, tombstones = _records(rows)
        return FolderView(stored.epoch, stored.seq, stored.floor, tuple(sorted(entries)), entries, tombstones, checks)

    def _caught_up(self, db: Any, stored: StoredCollection, known: FolderView) -> FolderView:
        with db.pipeline():   # both queries in one round trip
            items = db.execute(f"SELECT {_ITEM_COLUMNS} FROM dav_items WHERE collection_id = %s AND seq > %s",
                               (stored.id, known.seq))
            changes = db.execute("SELECT seq, nonce FROM dav_changes WHERE collection_id = %s AND seq > %s",
                                 (stored.id, known.seq))
            rows, fresh = items.fetchall(), changes.fetchall()
        return _advanced(known, stored.seq, *_records(rows), dict(fresh))

    def text(self, stored: StoredCollection, href: str) -> str | None:
        with self._connection() as db:
            row = db.execute("SELECT text FROM dav_items WHERE collection_id = %s AND href = %s "
                             "AND deleted_ns IS NULL", (stored.id, href)).fetchone()
        return row[0] if row is not None else None

    def last_view(self, path: str) -> FolderView | None:
        """The view this process made last of the collection at ``path``, as it was (no query)."""
        with self._views_lock:
            return self._views.get(path)

    def text_at(self, path: str, href: str) -> tuple[str, str] | None:
        """The text and ETag stored at ``href`` of the collection at ``path`` now (None: nothing), in one query."""
        with self._connection() as db:
            row = db.execute("SELECT i.text, i.etag FROM dav_items i JOIN dav_collections c ON c.id = i.collection_id "
                             "WHERE c.path = %s AND i.href = %s AND i.deleted_ns IS NULL", (path, href)).fetchone()
        return None if row is None else (row[0], row[1])

    def texts(self, stored: StoredCollection, hrefs: Iterable[str]) -> dict[str, StoredText]:
        """The texts of several items of one collection, each with its ETag, in one query.  Under the write
        lock, a text this thread read or stored since its last write is not asked for again (a PUT reads
        the old item twice and the new one once)."""
        held = self._write_held()
        known = held.texts if held is not None else {}
        asked = list(hrefs)
        found = {href: known[stored.id, href] for href in asked if (stored.id, href) in known}
        wanted = [href for href in asked if href not in found]
        if not wanted:
            return found
        with self._connection() as db:
            rows = db.execute("SELECT href, etag, modified_ns, text FROM dav_items WHERE collection_id = %s "
                              "AND href = ANY(%s) AND deleted_ns IS NULL", (stored.id, wanted)).fetchall()
        for href, etag, modified_ns, text in rows:
            found[href] = StoredText(etag, modified_ns, text)
            if held is not None:
                known[stored.id, href] = found[href]
        return found

    # -- writes: each one transaction that moves the collection's counter on ------------

    def make_collection(self, path: str, props: Mapping[str, str] | None = None,
                        items: Iterable[NewItem] | None = None) -> tuple[set[str], list[str]]:
        """Make ``path`` (and the collections above it); with ``props``, replace what is there: its
        properties, and with ``items`` its items (those not among them are deleted, as is any
        collection inside it).  Returns the hrefs replaced and those new."""
        self._wrote()
        now = _now_ns()
        with self._connection() as db, db.transaction():
            db.execute(_COMMIT)
            for above in ancestors(path):
                self._ensure(db, above, now)
            if props is None:
                self._ensure(db, path, now)
                return set(), []
            props_text = json.dumps(dict(props), sort_keys=True)
            row = db.execute("SELECT id FROM dav_collections WHERE path = %s FOR UPDATE", (path,)).fetchone()
            if row is None:
                row = (self._created(db, path, now, props_text),)
                existing: set[str] = set()
            else:
                db.execute("DELETE FROM dav_collections WHERE starts_with(path, %s)", (path + "/",))
                db.execute("UPDATE dav_collections SET props = %s, props_modified_ns = %s, modified_ns = %s "
                           "WHERE id = %s", (props_text, now, now, row[0]))
                existing = {r[0] for r in db.execute("SELECT href FROM dav_items WHERE collection_id = %s "
                                                     "AND deleted_ns IS NULL", (row[0],)).fetchall()}
            collection_id = row[0]
            new_items = list(items or [])
            kept = {item.href for item in new_items}
            for href in sorted(existing - kept):
                self._tombstone(db, collection_id, href, now)
            # a UID moves between hrefs of a replaced collection: free them all before storing any
            if existing & kept:
                db.execute("UPDATE dav_items SET uid = '' WHERE collection_id = %s AND deleted_ns IS NULL "
                           "AND href = ANY(%s)", (collection_id, list(existing & kept)))
            for item in new_items:
                self._store(db, collection_id, item, now)
        with self._views_lock:
            self._views.pop(path)
        return existing & kept, [item.href for item in new_items if item.href not in existing]

    def set_props(self, path: str, props: Mapping[str, str]) -> None:
        """A collection's properties, replaced (Radicale hands all of them)."""
        self._wrote()
        now = _now_ns()
        with self._connection() as db:
            done = db.execute(f"WITH commit AS ({_COMMIT}) "
                              "UPDATE dav_collections SET props = %s, props_modified_ns = %s, modified_ns = %s "
                              "WHERE path = %s", (json.dumps(dict(props), sort_keys=True), now, now, path))
            if done.rowcount == 0:
                raise NoCollection(f"no collection at {path!r}")

    def put(self, path: str, item: NewItem) -> None:
        """Store ``item`` in the collection at ``path`` (new or replacing the one at its href).

        One statement, so one round trip and its own transaction: the commit counter, the collection's next
        change number and its check, and the item (a PUT holds the storage's write lock meanwhile, and a
        round trip under it is one more wait for the interpreter when the process is busy)."""
        from psycopg import errors

        held = self._write_held()
        before = held.rows.get(path) if held is not None else None
        self._wrote()
        now = _now_ns()
        f = item.facts
        values = {"path": path, "now": now, "nonce": new_check(), "text": item.text, "href": item.href,
                  "size": len(item.text.encode()), "etag": f.etag, "uid": f.uid, "name": f.name,
                  "component": f.component, "start": f.start, "end": f.end, "names": f.names,
                  "occurrences": f.occurrences}
        try:
            with self._connection() as db:
                row = db.execute(_PUT, values).fetchone()
        except errors.UniqueViolation as e:
            raise DuplicateUid(f"another item of this collection has the UID {f.uid!r}") from e
        if row is None:
            raise NoCollection(f"no collection at {path!r}")
        collection_id, seq, pruned_ns = row
        if pruned_ns < now - PRUNE_EVERY_NS:
            self._pruned_after(collection_id, seq, now)
        elif held is not None:   # what this PUT changed, known without asking
            held.texts[collection_id, item.href] = StoredText(f.etag or "", now, item.text)
            if before is not None and before.id == collection_id:
                held.rows[path] = replace(before, seq=seq, modified_ns=now)
                entry = Entry(FileStamp(0, now, now, values["size"]), f, seq, now)
                with self._views_lock:   # the view of just before, with this item: no query needed
                    known = self._views.get(path)
                    if known is not None and known.epoch == before.epoch and known.seq == before.seq == seq - 1 \
                            and known.floor == before.floor:
                        self._views[path] = _advanced(known, seq, {item.href: entry}, {}, {seq: values["nonce"]})

    def _pruned_after(self, collection_id: int, seq: int, now: int) -> None:
        """The hourly pruning, after a PUT's own transaction: the item is stored whatever happens here, and a
        pruning that fails is tried again at the next write (its time is moved only when it is done)."""
        from psycopg import Error

        try:
            with self._connection() as db, db.transaction():
                self._prune(db, collection_id, seq, now)
        except Error as e:
            logger.warning("pruning the change log of collection %s failed, tried again at its next write: %s",
                           collection_id, e)

    def delete_item(self, path: str, href: str) -> bool:
        """Delete one item; False where there was none."""
        self._wrote()
        now = _now_ns()
        with self._connection() as db, db.transaction():
            collection_id = self._writable(db, path)
            return self._tombstone(db, collection_id, href, now)

    def delete_collection(self, path: str) -> None:
        """A collection and everything in it, gone (its items, history and the collections inside)."""
        self._wrote()
        with self._connection() as db, db.transaction():
            db.execute(f"WITH commit AS ({_COMMIT}) "
                       "DELETE FROM dav_collections WHERE path = %s OR starts_with(path, %s)", (path, path + "/"))
        with self._views_lock:
            for known in [p for p in self._views if p == path or p.startswith(path + "/")]:
                self._views.pop(known)

    def move(self, path: str, href: str, to_path: str, to_href: str) -> None:
        """One item to another name (and collection): a deletion in one log, a change in the other."""
        self._wrote()
        now = _now_ns()
        with self._connection() as db, db.transaction():
            source = self._writable(db, path)
            target = source if to_path == path else self._writable(db, to_path)
            row = db.execute("SELECT text, etag, uid, name, component, start, \"end\", names, occurrences "
                             "FROM dav_items WHERE collection_id = %s AND href = %s AND deleted_ns IS NULL FOR UPDATE",
                             (source, href)).fetchone()
            if row is None:
                raise ValueError(f"no item {href!r} in {path!r} to move")
            text, *facts = row
            self._tombstone(db, source, href, now)
            self._store(db, target, NewItem(to_href, text, ItemFacts(*facts)), now)

    def _ensure(self, db: Any, path: str, now: int) -> None:
        if db.execute("SELECT 1 FROM dav_collections WHERE path = %s", (path,)).fetchone() is None:
            self._created(db, path, now)

    @staticmethod
    def _created(db: Any, path: str, now: int, props_text: str = "{}") -> int:
        """A new collection, in a new epoch whose first number (1) is its creation."""
        collection_id = db.execute(
            "INSERT INTO dav_collections (path, parent, props, epoch, seq, floor, modified_ns, props_modified_ns) "
            "VALUES (%s, %s, %s, %s, 1, 1, %s, %s) RETURNING id",
            (path, parent_of(path), props_text, new_epoch(), now, now)).fetchone()[0]
        db.execute("INSERT INTO dav_changes (collection_id, seq, nonce, made_ns) VALUES (%s, 1, %s, %s)",
                   (collection_id, new_check(), now))
        return collection_id

    @staticmethod
    def _writable(db: Any, path: str) -> int:
        """The id of the collection a write goes to, with the commit counter moved on in the same statement."""
        row = db.execute(f"WITH commit AS ({_COMMIT}) SELECT id FROM dav_collections WHERE path = %s",
                         (path,)).fetchone()
        if row is None:
            raise NoCollection(f"no collection at {path!r}")
        return row[0]

    def _next(self, db: Any, collection_id: int, now: int) -> int:
        """The collection's next change number (its row stays locked until the transaction ends)."""
        seq, pruned_ns = db.execute("UPDATE dav_collections SET seq = seq + 1, modified_ns = %s WHERE id = %s "
                                    "RETURNING seq, pruned_ns", (now, collection_id)).fetchone()
        db.execute("INSERT INTO dav_changes (collection_id, seq, nonce, made_ns) VALUES (%s, %s, %s, %s)",
                   (collection_id, seq, new_check(), now))
        if pruned_ns < now - PRUNE_EVERY_NS:
            self._prune(db, collection_id, seq, now)
        return seq

    def _prune(self, db: Any, collection_id: int, seq: int, now: int) -> None:
        """Tombstones and change checks older than the token age go; tokens from before them are
        then refused (the floor), and their clients sync afresh."""
        oldest = now - self._max_token_age_ns
        gone = db.execute("DELETE FROM dav_items WHERE collection_id = %s AND deleted_ns IS NOT NULL "
                          "AND deleted_ns < %s RETURNING seq", (collection_id, oldest)).fetchall()
        checks = db.execute("DELETE FROM dav_changes WHERE collection_id = %s AND made_ns < %s AND seq < %s "
                            "RETURNING seq", (collection_id, oldest, seq)).fetchall()
        floor = max([row[0] for row in gone + checks], default=0)
        db.execute("UPDATE dav_collections SET pruned_ns = %s, floor = GREATEST(floor, %s) WHERE id = %s",
                   (now, floor, collection_id))

    def _store(self, db: Any, collection_id: int, item: NewItem, now: int) -> None:
        from psycopg import errors

        seq = self._next(db, collection_id, now)
        f = item.facts
        try:
            with db.transaction():
                db.execute(
                    f"INSERT INTO dav_items (collection_id, text, {_ITEM_COLUMNS}) "
                    f"VALUES (%s, %s, %s, %s, NULL, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) {_REPLACING}",
                    (collection_id, item.text, item.href, seq, now, len(item.text.encode()), f.etag, f.uid,
                     f.name, f.component, f.start, f.end, f.names, f.occurrences))
        except errors.UniqueViolation as e:
            raise DuplicateUid(f"another item of this collection has the UID {f.uid!r}") from e

    def _tombstone(self, db: Any, collection_id: int, href: str, now: int) -> bool:
        present = db.execute("SELECT 1 FROM dav_items WHERE collection_id = %s AND href = %s "
                             "AND deleted_ns IS NULL FOR UPDATE", (collection_id, href)).fetchone()
        if present is None:
            return False
        seq = self._next(db, collection_id, now)
        db.execute("UPDATE dav_items SET seq = %s, deleted_ns = %s, modified_ns = %s, size = 0, text = NULL, "
                   "etag = NULL, uid = NULL, name = NULL, component = NULL, start = NULL, \"end\" = NULL, "
                   "names = NULL, occurrences = NULL WHERE collection_id = %s AND href = %s",
                   (seq, now, now, collection_id, href))
        return True


def _advanced(known: FolderView, seq: int, new_entries: Mapping[str, Entry], new_tombstones: Mapping[str, Tombstone],
              new_checks: Mapping[int, str]) -> FolderView:
    """``known`` brought on to change number ``seq`` by the changes made since (same epoch and floor)."""
    entries, tombstones = dict(known.entries), dict(known.tombstones)
    for href, stone in new_tombstones.items():
        entries.pop(href, None)
        tombstones[href] = stone
    for href, entry in new_entries.items():
        tombstones.pop(href, None)
        entries[href] = entry
    listed = known.listed if all(href in known.entries for href in new_entries) and not new_tombstones \
        else tuple(sorted(entries))
    touched = [*new_entries, *new_tombstones]
    return FolderView(known.epoch, seq, known.floor, listed, entries, tombstones, checks_with(known.checks, new_checks),
                      known_uids=uids_carried(known, entries, touched), carried=known.handed_on(entries, touched))


def _records(rows: Iterable[tuple]) -> tuple[dict[str, Entry], dict[str, Tombstone]]:
    entries: dict[str, Entry] = {}
    tombstones: dict[str, Tombstone] = {}
    for href, seq, deleted_ns, modified_ns, size, *facts in rows:
        if deleted_ns is not None:
            tombstones[href] = Tombstone(seq, deleted_ns)
        else:
            entries[href] = Entry(FileStamp(0, modified_ns, modified_ns, size), ItemFacts(*facts), seq, modified_ns)
    return entries, tombstones
