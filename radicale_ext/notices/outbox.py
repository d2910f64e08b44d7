"""The outbox: a durable record of every change, written before delivery.

Each change is written in two steps around the storage write:

1. :meth:`Outbox.begin` stores a *pending* record (committed to disk) before
   Radicale touches the files;
2. :meth:`Outbox.complete` marks it *ready* right after the write returns.

A crash between the two leaves a pending record.  :meth:`Outbox.recover`
(run at start-up) asks the storage whether the change reached the disk: if
it did, the record becomes ready (``recovered = 1``); if not, it is dropped.
So the outbox holds exactly one ready record per change that happened, until every
reader is done with it and it is older than the notices kept (:meth:`Outbox.forget_read`).

Delivery reads only ready records.  The notice worker (:mod:`.worker`)
*takes* ready records: taking a record and writing the change notice it
becomes part of is one transaction (:meth:`Outbox.take`), so a record
becomes part of exactly one notice even when several workers run.  A
watermark (``meta`` key ``notices_taken_through``) remembers up to where
every record is taken, so the worker never scans old records; it starts at
the newest record when the feature is first used (no notices for changes
made before).  :class:`Leases` lets one worker at a time do a job that must
not run twice at once (composing notices), with a lease that another worker
takes over when it runs out, or at once when its holder was a process of
this machine that has stopped (so a restarted server composes at once).
"""

from __future__ import annotations

import enum
import json
import os
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..base.database import Database, Writer


class ChangeKind(enum.Enum):
    ITEM_CHANGED = "item-changed"            # pending upsert: created or updated, not yet known
    ITEM_CREATED = "item-created"
    ITEM_UPDATED = "item-updated"
    ITEM_DELETED = "item-deleted"
    ITEM_MOVED = "item-moved"
    COLLECTION_CREATED = "collection-created"    # MKCOL / MKCALENDAR
    COLLECTION_REPLACED = "collection-replaced"  # whole-collection PUT
    COLLECTION_DELETED = "collection-deleted"
    PROPERTIES_CHANGED = "properties-changed"    # PROPPATCH
    REMINDER = "reminder"                        # never in the outbox: a due VALARM (reminders.py)
    CARD_CHANGED = "card-changed"                # a me card changed for the one person it names (cards feature)
    VAPID_KEY_ROTATED = "vapid-key-rotated"      # never in the outbox: the server's push key changed


@dataclass(frozen=True)
class Change:
    """What a request is about to change; the fields a notice will need."""

    kind: ChangeKind
    actor: str
    collection: str                 # "/owner/collection/"
    item: str | None = None         # href inside the collection
    to_collection: str | None = None
    to_item: str | None = None
    etag: str | None = None         # the new item's ETag (to recognise the write after a crash)
    # the request's Push-Dont-Notify (WebDAV-Push): ids of the actor's push registrations not to push
    # about this change, or ("*",) for no push at all; kept in the record's detail
    push_dont_notify: tuple[str, ...] = ()

    @property
    def owner(self) -> str:
        return self.collection.strip("/").split("/")[0]


# What the notice worker keeps beside the outbox (see the module's docstring).
NOTICE_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_taken (
    record_id INTEGER PRIMARY KEY,
    notice_id INTEGER,
    taken_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS worker_leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  REAL NOT NULL
);
INSERT OR IGNORE INTO meta(key, value) SELECT 'notices_taken_through', COALESCE(MAX(id), 0) FROM outbox
"""
WATERMARK = "notices_taken_through"
#: what the other reader of the outbox, the reminders (radicale_ext/reminders/scheduler.py), keeps in ``meta``:
#: up to which record it has read, and while its first pass runs, the record that pass started from (JSON "mark")
REMINDERS_READ_THROUGH = "reminders_read_through"
REMINDERS_FIRST_PASS = "reminders_first_pass"
#: records :meth:`Outbox.forget_read` looks at in one transaction at most, beside those kept (it holds the
#: database's write lock)
MOST_FORGOTTEN = 2000
PUSH_DONT_NOTIFY = "push_dont_notify"   # the key of Change.push_dont_notify in a record's detail


@dataclass(frozen=True)
class Record:
    id: int
    state: str
    change: Change
    component: str | None
    uid: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    recovered: bool = False
    created_at: float = 0.0


_COLUMNS = ("id, state, kind, actor, collection, item, to_collection, to_item, etag, "
            "component, uid, detail, recovered, created_at")


def _record(row: tuple) -> Record:
    change = Change(kind=ChangeKind(row[2]), actor=row[3], collection=row[4], item=row[5],
                    to_collection=row[6], to_item=row[7], etag=row[8])
    return Record(id=row[0], state=row[1], change=change, component=row[9], uid=row[10],
                  detail=json.loads(row[11]), recovered=bool(row[12]), created_at=row[13])


@dataclass
class Finished:
    """What a written change's record gets when it is marked ready (:meth:`Outbox.finish`)."""

    kind: ChangeKind | None = None
    component: str | None = None
    uid: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


#: pending records whose detail this process remembers at most (a request that died between its record's
#: begin and end leaves one behind; past this, they are forgotten and read from the database)
MOST_REMEMBERED = 10_000


class Outbox:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        # the detail of each pending record this process stored, until it marks it ready or drops it: a
        # pending record is written and settled by one request inside the storage's write lock, and
        # recovery takes pending records only under that lock (plugins/recorded_storage.py), so nobody
        # else changes it meanwhile and it need not be read back
        self._pending: dict[int, dict[str, Any]] = {}

    def begin(self, change: Change) -> int:
        """Store a pending record before the change is written."""
        record_id, detail = self._insert(self._db.write_one, "pending", change, {}, self._clock())
        if len(self._pending) >= MOST_REMEMBERED:
            self._pending.clear()
        self._pending[record_id] = detail
        return record_id

    def _stored_detail(self, w: Writer, record_id: int, *, keep: bool) -> dict[str, Any] | None:
        """The record's detail as stored (None: no such record), from memory where this process stored it."""
        remembered = self._pending.get(record_id) if keep else self._pending.pop(record_id, None)
        if remembered is not None:
            return remembered
        row = w.execute("SELECT detail FROM outbox WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    @staticmethod
    def _insert(run: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]], state: str, change: Change,
                detail: dict[str, Any], now: float, component: str | None = None,
                uid: str | None = None) -> tuple[int, dict[str, Any]]:
        """The new record's id, and its detail as stored; ``run``: a write's statement, or a write of its own."""
        if change.push_dont_notify:
            detail = {**detail, PUSH_DONT_NOTIFY: list(change.push_dont_notify)}
        return run(
            "INSERT INTO outbox(state, kind, actor, owner, collection, item, to_collection, to_item,"
            " etag, component, uid, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (state, change.kind.value, change.actor, change.owner, change.collection, change.item,
             change.to_collection, change.to_item, change.etag, component, uid,
             json.dumps(detail, sort_keys=True), now))[0][0], detail

    def record(self, w: Writer, change: Change, detail: dict[str, Any], *, component: str | None = None,
               uid: str | None = None) -> int:
        """Inside ``w``: a ready record of a change that is already made (the cards feature's notices about a me
        card, written in the transaction that settles the card, so that each is told once)."""
        return self._insert(lambda sql, params: w.execute(sql, params).fetchall(), "ready", change, detail,
                            self._clock(), component, uid)[0]

    def complete(self, record_id: int, *, kind: ChangeKind | None = None,
                 component: str | None = None, uid: str | None = None) -> None:
        """Mark a pending record ready: the change is on disk."""
        self.finish({record_id: Finished(kind=kind, component=component, uid=uid)})

    def finish(self, finished: Mapping[int, Finished]) -> None:
        """Mark the records of one request's writes ready, each with what its write and Radicale's hook
        told, in one transaction: a worker (in this process or on another host) takes a record only once
        all of it is there, never a change without its title."""
        if not finished:
            return
        if len(finished) == 1:
            [(record_id, done)] = finished.items()
            if record_id in self._pending:   # a request's one write, its detail remembered: one statement
                self._db.write_one(*self._ready(record_id, done, self._pending.pop(record_id)))
                return
        with self._db.write() as w:
            for record_id, done in finished.items():
                stored = self._stored_detail(w, record_id, keep=False)
                if stored is not None:
                    w.execute(*self._ready(record_id, done, stored))

    @staticmethod
    def _ready(record_id: int, done: Finished, stored: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The statement marking a record ready, with what its write told."""
        return ("UPDATE outbox SET state = 'ready', kind = COALESCE(?, kind), component = COALESCE(?, component),"
                " uid = COALESCE(?, uid), detail = ? WHERE id = ?",
                (done.kind.value if done.kind else None, done.component, done.uid,
                 json.dumps({**stored, **done.detail}, sort_keys=True), record_id))

    def discard(self, record_id: int) -> None:
        """The write failed: nothing changed, so nothing is recorded."""
        self._pending.pop(record_id, None)
        with self._db.write() as w:
            w.execute("DELETE FROM outbox WHERE id = ? AND state = 'pending'", (record_id,))

    def annotate(self, record_id: int, detail: dict[str, Any], *,
                 component: str | None = None, uid: str | None = None) -> None:
        """Add what Radicale's hook knows of the change (old and new content summary)."""
        with self._db.write() as w:
            stored = self._stored_detail(w, record_id, keep=True)
            if stored is None:
                return
            text = json.dumps({**stored, **detail}, sort_keys=True)
            w.execute("UPDATE outbox SET detail = ?, component = COALESCE(?, component),"
                      " uid = COALESCE(?, uid) WHERE id = ?", (text, component, uid, record_id))
        if record_id in self._pending:
            self._pending[record_id] = json.loads(text)   # as it reads back from the database

    def records(self, *, after: int = 0, state: str = "ready", limit: int = 10_000) -> list[Record]:
        rows = self._db.read(f"SELECT {_COLUMNS} FROM outbox WHERE state = ? AND id > ? ORDER BY id LIMIT ?",
                             (state, after, limit))
        return [_record(r) for r in rows]

    def recover(self, happened: Callable[[Change], bool]) -> tuple[int, int]:
        """Settle pending records left by a crash.

        Returns ``(kept, dropped)``.
        """
        kept = dropped = 0
        for record in self.records(state="pending"):
            if happened(record.change):
                with self._db.write() as w:
                    w.execute("UPDATE outbox SET state = 'ready', recovered = 1 WHERE id = ?", (record.id,))
                kept += 1
            else:
                self.discard(record.id)
                dropped += 1
        return kept, dropped

    # -- taking records for change notices -----------------------------------------------

    def untaken(self, limit: int = 5000) -> list[Record]:
        """Ready records not yet taken, oldest first, from the watermark on."""
        return self.by_ids(self.untaken_ids(limit))

    def untaken_ids(self, limit: int = 5000) -> list[int]:
        """The ids of :meth:`untaken`, in its order (numbers only: cheap to ask often)."""
        rows = self._db.read(
            "SELECT o.id FROM outbox o LEFT JOIN outbox_taken t ON t.record_id = o.id"
            " WHERE o.id > ? AND o.state = 'ready' AND t.record_id IS NULL ORDER BY o.id LIMIT ?",
            (self.watermark(), limit))
        return [r[0] for r in rows]

    def by_ids(self, ids: list[int], chunk: int = 500) -> list[Record]:
        """The records with these ids that are there, in id order."""
        found: list[Record] = []
        for start in range(0, len(ids), chunk):
            part = ids[start:start + chunk]
            rows = self._db.read(f"SELECT {_COLUMNS} FROM outbox WHERE id IN ({','.join('?' * len(part))})", part)
            found += [_record(r) for r in rows]
        return sorted(found, key=lambda r: r.id)

    @staticmethod
    def take(w: Writer, record_ids: list[int], notice_id: int | None, now: float) -> bool:
        """Inside ``w``: mark records as dealt with (part of ``notice_id``, or of no notice).

        Returns False, changing nothing, when another worker took any of them first.
        """
        if not record_ids:
            return True
        marks = ",".join("?" * len(record_ids))
        if w.execute(f"SELECT 1 FROM outbox_taken WHERE record_id IN ({marks}) LIMIT 1", record_ids).fetchone():
            return False
        w.executemany("INSERT INTO outbox_taken(record_id, notice_id, taken_at) VALUES (?, ?, ?)",
                      [(r, notice_id, now) for r in record_ids])
        return True

    def watermark(self) -> int:
        row = self._db.read_one("SELECT value FROM meta WHERE key = ?", (WATERMARK,))
        return int(row[0]) if row else 0

    @staticmethod
    def read_through(w: Writer) -> int:
        """Inside ``w``: the last record every reader is done with: the notice composer's watermark (every record up
        to it taken), and the reminders' (or, during their first pass, the record it started from; reminders that
        never started need none of the records there are now: their first pass plans from the calendars)."""
        def meta(key: str) -> str | None:
            row = w.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else row[0]
        through = int(meta(WATERMARK) or 0)
        reminders, first_pass = meta(REMINDERS_READ_THROUGH), meta(REMINDERS_FIRST_PASS)
        if reminders is not None:
            through = min(through, int(reminders))
        elif first_pass is not None:
            through = min(through, int(json.loads(first_pass)["mark"]))
        return through

    @staticmethod
    def forget_read(w: Writer, before: float, keep: Collection[int] = ()) -> int:
        """Inside ``w``: remove the ready records made before ``before`` that every reader is done with
        (:meth:`read_through`), but those in ``keep`` (set aside: the admin may put them back) and the newest record
        (SQLite would hand its id out again, below the readers' watermarks), looking at :data:`MOST_FORGOTTEN`
        records at most, the oldest first, beside those kept.  How many it removed."""
        # the oldest first, up to the first one too young (records are numbered as they are made): a round reads
        # a bounded number of rows, however many records the outbox holds
        rows = w.execute("SELECT id, state, created_at FROM outbox WHERE id <= ?"
                         " AND id < (SELECT MAX(id) FROM outbox) ORDER BY id LIMIT ?",
                         (Outbox.read_through(w), MOST_FORGOTTEN + len(keep))).fetchall()
        ids: list[int] = []
        for record_id, state, created_at in rows:
            if created_at >= before:
                break
            if state == "ready" and record_id not in keep:
                ids.append(record_id)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            w.execute(f"DELETE FROM outbox_taken WHERE record_id IN ({marks})", chunk)
            w.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)
        return len(ids)

    def advance_watermark(self) -> int:
        """Move the watermark past every record that is taken (never past a pending one)."""
        with self._db.write() as w:
            mark = int(w.execute("SELECT value FROM meta WHERE key = ?", (WATERMARK,)).fetchone()[0])
            first_open = w.execute(
                "SELECT MIN(o.id) FROM outbox o LEFT JOIN outbox_taken t ON t.record_id = o.id"
                " WHERE o.id > ? AND (o.state = 'pending' OR t.record_id IS NULL)", (mark,)).fetchone()[0]
            if first_open is None:
                first_open = (w.execute("SELECT MAX(id) FROM outbox").fetchone()[0] or mark) + 1
            if first_open - 1 > mark:
                mark = first_open - 1
                w.execute("UPDATE meta SET value = ? WHERE key = ?", (str(mark), WATERMARK))
            return mark


class Leases:
    """Named leases: one holder at a time, taken over by another when it runs out, or at once when
    its holder was a process of this machine that no longer runs (a restart, a crash)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def hold(self, name: str, holder: str, now: float, seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``holder``; False while someone else holds it."""
        with self._db.write() as w:
            w.execute("INSERT OR IGNORE INTO worker_leases(name, holder, until) VALUES (?, '', 0)", (name,))
            current, until = w.execute("SELECT holder, until FROM worker_leases WHERE name = ?", (name,)).fetchone()
            if current != holder and until >= now and not process_gone(current):
                return False
            w.execute("UPDATE worker_leases SET holder = ?, until = ? WHERE name = ?", (holder, now + seconds, name))
            return True

    def release(self, name: str, holder: str) -> None:
        with self._db.write() as w:
            w.execute("UPDATE worker_leases SET until = 0 WHERE name = ? AND holder = ?", (name, holder))


def process_gone(holder: str) -> bool:
    """Whether ``holder`` names a process of this machine (``host:pid:...``, as workers name themselves
    by default) that no longer runs.  Any other name (``radicale-ext worker --name``) is never gone:
    its lease runs out instead."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or len(pid) > 9 or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:   # alive, but someone else's
        return False
    return False
