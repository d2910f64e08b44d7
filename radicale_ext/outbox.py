"""The outbox: a durable record of every change, written before delivery.

Each change is written in two steps around the storage write:

1. :meth:`Outbox.begin` stores a *pending* record (committed to disk) before
   Radicale touches the files;
2. :meth:`Outbox.complete` marks it *ready* right after the write returns.

A crash between the two leaves a pending record.  :meth:`Outbox.recover`
(run at start-up) asks the storage whether the change reached the disk: if
it did, the record becomes ready (``recovered = 1``); if not, it is dropped.
So the outbox holds exactly one ready record per change that happened.
Delivery (a later stage) reads only ready records.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .database import Database


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

    @property
    def owner(self) -> str:
        return self.collection.strip("/").split("/")[0]


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


class Outbox:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def begin(self, change: Change) -> int:
        """Store a pending record before the change is written."""
        with self._db.write() as w:
            cur = w.execute(
                "INSERT INTO outbox(state, kind, actor, owner, collection, item, to_collection, to_item,"
                " etag, created_at) VALUES ('pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (change.kind.value, change.actor, change.owner, change.collection, change.item,
                 change.to_collection, change.to_item, change.etag, self._clock()))
            assert cur.lastrowid is not None
            return cur.lastrowid

    def complete(self, record_id: int, *, kind: ChangeKind | None = None,
                 component: str | None = None, uid: str | None = None) -> None:
        """Mark a pending record ready: the change is on disk."""
        with self._db.write() as w:
            w.execute(
                "UPDATE outbox SET state = 'ready', kind = COALESCE(?, kind),"
                " component = COALESCE(?, component), uid = COALESCE(?, uid) WHERE id = ?",
                (kind.value if kind else None, component, uid, record_id))

    def discard(self, record_id: int) -> None:
        """The write failed: nothing changed, so nothing is recorded."""
        with self._db.write() as w:
            w.execute("DELETE FROM outbox WHERE id = ? AND state = 'pending'", (record_id,))

    def annotate(self, record_id: int, detail: dict[str, Any], *,
                 component: str | None = None, uid: str | None = None) -> None:
        """Add what Radicale's hook knows of the change (old and new content summary)."""
        with self._db.write() as w:
            row = w.execute("SELECT detail FROM outbox WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                return
            merged = {**json.loads(row[0]), **detail}
            w.execute("UPDATE outbox SET detail = ?, component = COALESCE(?, component),"
                      " uid = COALESCE(?, uid) WHERE id = ?",
                      (json.dumps(merged, sort_keys=True), component, uid, record_id))

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
