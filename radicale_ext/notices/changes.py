"""Change notices: what one person changed in one shared collection, within one window.

A change notice is made from one or more outbox records (:mod:`.outbox`)
of the same actor and collection (:mod:`.compose` decides which).  It is
stored once, in ``change_notices``; each person concerned then gets it
through their channels (:mod:`.fanout`, :mod:`.delivery`).  The notice keeps
what the records say (kind, item, the summaries of the old and new item
that the hook wrote), never the item itself.

``fanned_out`` is 0 while a notice is being handed out, 1 once everyone has
it, and -1 while it is set aside (:mod:`.set_aside`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base.database import Database, Writer
from .outbox import PUSH_DONT_NOTIFY, ChangeKind, Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS change_notices (
    id            INTEGER PRIMARY KEY,
    collection    TEXT NOT NULL,
    actor         TEXT NOT NULL,
    changes       TEXT NOT NULL,
    created_at    REAL NOT NULL,
    composed_at   REAL NOT NULL,
    fanned_out    INTEGER NOT NULL DEFAULT 0,
    fanout_cursor TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS change_notices_to_fan_out ON change_notices(fanned_out, id);
CREATE INDEX IF NOT EXISTS change_notices_by_age ON change_notices(created_at)
"""

# the kinds a notice tells about; a new collection has nobody else with access yet.  ITEM_CHANGED is
# an upload whose record a crash left pending and the start-up settled: created or updated, unknown.
TOLD = frozenset(ChangeKind) - {ChangeKind.COLLECTION_CREATED}
COLLECTION_LEVEL = frozenset({ChangeKind.COLLECTION_REPLACED, ChangeKind.COLLECTION_DELETED,
                              ChangeKind.PROPERTIES_CHANGED})
# the fields of the summary (:mod:`radicale_ext.base.summary`) whose change we name
WATCHED_FIELDS = ("SUMMARY", "FN", "DTSTART", "DTEND", "LOCATION")


@dataclass(frozen=True)
class ItemChange:
    """One change of a notice: an item created, updated, deleted or moved, or the collection itself."""

    kind: ChangeKind
    at: float
    item: str | None = None
    component: str | None = None      # VEVENT, VTODO, VJOURNAL, VCARD
    uid: str | None = None
    old: Mapping[str, str] = field(default_factory=dict)
    new: Mapping[str, str] = field(default_factory=dict)
    to_collection: str | None = None
    to_item: str | None = None
    items: int | None = None          # a whole-collection PUT: how many items it brought
    # a deleted collection: who had access when it was deleted (user -> their path of it)
    audience: Mapping[str, str] = field(default_factory=dict)
    # the request's Push-Dont-Notify: the actor's push registrations not to push (("*",): none at all)
    push_dont_notify: tuple[str, ...] = ()
    # a me card that changed for one person (CARD_CHANGED, written by the cards feature): the card's name
    # ("name"), the fields that changed for them in words ("fields"), whether it is no longer shared with them
    # ("gone"), whether they are asked first ("ask_first"), and the address book that keeps it ("book")
    card: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: Record) -> ItemChange:
        detail = record.detail
        items = detail.get("items")
        audience = detail.get("audience")
        quiet = detail.get(PUSH_DONT_NOTIFY)
        card = detail.get("card")
        return cls(kind=record.change.kind, at=record.created_at, item=record.change.item,
                   component=record.component or _component_of(detail), uid=record.uid,
                   old=dict(detail.get("old") or {}), new=dict(detail.get("new") or {}),
                   to_collection=record.change.to_collection, to_item=record.change.to_item,
                   items=items if isinstance(items, int) else None,
                   audience=dict(audience) if isinstance(audience, dict) else {},
                   push_dont_notify=tuple(str(q) for q in quiet) if isinstance(quiet, list) else (),
                   card=dict(card) if isinstance(card, dict) else {})

    @property
    def title(self) -> str:
        """The item's name in its own words: SUMMARY (events, tasks) or FN (cards)."""
        for fields in (self.new, self.old):
            value = fields.get("SUMMARY") or fields.get("FN")
            if value:
                return unescape(value)
        return ""

    @property
    def changed_fields(self) -> tuple[str, ...]:
        """Which watched fields an update changed (empty when unknown or none)."""
        if self.kind is not ChangeKind.ITEM_UPDATED or not self.old:
            return ()
        return tuple(f for f in WATCHED_FIELDS if self.old.get(f) != self.new.get(f))

    @property
    def rescheduled(self) -> bool:
        """An update that moved the item in time (its DTSTART changed)."""
        return "DTSTART" in self.changed_fields and bool(self.old.get("DTSTART")) and bool(self.new.get("DTSTART"))

    @property
    def collection_level(self) -> bool:
        return self.kind in COLLECTION_LEVEL

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"kind": self.kind.value, "at": self.at}
        for name in ("item", "component", "uid", "to_collection", "to_item", "items"):
            if getattr(self, name) is not None:
                value[name] = getattr(self, name)
        if self.old:
            value["old"] = dict(self.old)
        if self.new:
            value["new"] = dict(self.new)
        if self.audience:
            value["audience"] = dict(self.audience)
        if self.push_dont_notify:
            value[PUSH_DONT_NOTIFY] = list(self.push_dont_notify)
        if self.card:
            value["card"] = dict(self.card)
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ItemChange:
        return cls(kind=ChangeKind(value["kind"]), at=float(value["at"]), item=value.get("item"),
                   component=value.get("component"), uid=value.get("uid"), old=dict(value.get("old") or {}),
                   new=dict(value.get("new") or {}), to_collection=value.get("to_collection"),
                   to_item=value.get("to_item"), items=value.get("items"), audience=dict(value.get("audience") or {}),
                   push_dont_notify=tuple(value.get(PUSH_DONT_NOTIFY) or ()), card=dict(value.get("card") or {}))


def _component_of(detail: Mapping[str, Any]) -> str | None:
    fields = detail.get("new") or detail.get("old") or {}
    return "VCARD" if "FN" in fields else None


def unescape(value: str) -> str:
    """iCalendar/vCard TEXT escapes (RFC 5545 3.3.11) back to plain text."""
    return (value.replace("\\n", " ").replace("\\N", " ").replace("\\,", ",").replace("\\;", ";")
            .replace("\\\\", "\\"))


@dataclass(frozen=True)
class ChangeNotice:
    """What ``actor`` changed in ``collection`` (``/owner/name/``), oldest change first."""

    id: int
    collection: str
    actor: str
    changes: tuple[ItemChange, ...]
    created_at: float

    @property
    def owner(self) -> str:
        return self.collection.strip("/").split("/")[0]

    @property
    def collections(self) -> tuple[str, ...]:
        """The collection, then every other collection an item was moved to."""
        found = dict.fromkeys([self.collection])
        for change in self.changes:
            if change.kind is ChangeKind.ITEM_MOVED and change.to_collection:
                found[change.to_collection] = None
        return tuple(found)

    @property
    def item_changes(self) -> tuple[ItemChange, ...]:
        return tuple(c for c in self.changes if not c.collection_level)

    @property
    def synced_collections(self) -> tuple[str, ...]:
        """The collections a device that syncs them should sync again: :attr:`collections`, and for a me card
        that changed for its reader, the address book that keeps it (they may read it through a share)."""
        found = dict.fromkeys(self.collections)
        for change in self.changes:
            book = change.card.get("book") if change.kind is ChangeKind.CARD_CHANGED else None
            if isinstance(book, str) and book:
                found[book] = None
        return tuple(found)

    @property
    def quiet_devices(self) -> frozenset[str] | None:
        """The actor's push registrations not to push about this notice: those that the Push-Dont-Notify of every
        one of its changes named ("*" names all of them); ``None`` when every change asked for no push at all."""
        named = [frozenset(c.push_dont_notify) for c in self.changes if "*" not in c.push_dont_notify]
        if not named:
            return None
        return frozenset.intersection(*named)


def _notice(row: tuple) -> ChangeNotice:
    return ChangeNotice(id=row[0], collection=row[1], actor=row[2],
                        changes=tuple(ItemChange.from_json(c) for c in json.loads(row[3])), created_at=row[4])


_COLUMNS = "id, collection, actor, changes, created_at"


class ChangeNotices:
    """The stored change notices, and how far each has been handed out to its recipients."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def add(w: Writer, collection: str, actor: str, changes: Iterable[ItemChange], now: float) -> int:
        changes = list(changes)
        return w.execute("INSERT INTO change_notices(collection, actor, changes, created_at, composed_at)"
                         " VALUES (?, ?, ?, ?, ?) RETURNING id",
                         (collection, actor, json.dumps([c.to_json() for c in changes], sort_keys=True),
                          changes[0].at, now)).fetchone()[0]

    def get(self, notice_ids: Iterable[int]) -> dict[int, ChangeNotice]:
        ids = sorted(set(notice_ids))
        found: dict[int, ChangeNotice] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._db.read(f"SELECT {_COLUMNS} FROM change_notices WHERE id IN ({','.join('?' * len(chunk))})",
                                 chunk)
            found.update((row[0], _notice(row)) for row in rows)
        return found

    def changes_of(self, notice_id: int) -> list[dict[str, Any]]:
        """The changes of a notice as stored (JSON), or ``[]`` once it is gone."""
        row = self._db.read_one("SELECT changes FROM change_notices WHERE id = ?", (notice_id,))
        return json.loads(row[0]) if row else []

    def waiting_for_fanout(self, limit: int = 50) -> list[tuple[ChangeNotice, str]]:
        """Notices not yet handed to every recipient, with the last recipient already done."""
        rows = self._db.read(f"SELECT {_COLUMNS}, fanout_cursor FROM change_notices WHERE fanned_out = 0"
                             " ORDER BY id LIMIT ?", (limit,))
        return [(_notice(row), row[5]) for row in rows]

    @staticmethod
    def advance(w: Writer, notice_id: int, cursor: str, to: str, *, done: bool) -> bool:
        """Inside ``w``: recipients up to ``to`` have it; False when the notice is no longer at ``cursor``."""
        return w.execute("UPDATE change_notices SET fanout_cursor = ?, fanned_out = ? WHERE id = ?"
                         " AND fanout_cursor = ? AND fanned_out = 0",
                         (to, 1 if done else 0, notice_id, cursor)).rowcount == 1

    @staticmethod
    def handed_out(w: Writer, notice_id: int) -> None:
        """Inside ``w``: a notice whose deliveries its maker queued itself (a reminder, a key rotation)."""
        w.execute("UPDATE change_notices SET fanned_out = 1 WHERE id = ?", (notice_id,))

    @staticmethod
    def set_aside(w: Writer, notice_id: int) -> bool:
        """Inside ``w``: stop handing the notice out (``fanned_out = -1``) until :meth:`put_back`."""
        return w.execute("UPDATE change_notices SET fanned_out = -1 WHERE id = ? AND fanned_out = 0",
                         (notice_id,)).rowcount == 1

    @staticmethod
    def put_back(w: Writer, subject: Mapping[str, Any]) -> None:
        """Inside ``w``: a set-aside notice is handed out again, from the recipient it stopped at."""
        w.execute("UPDATE change_notices SET fanned_out = 0 WHERE id = ? AND fanned_out = -1",
                  (int(subject["notice"]),))

    def recent(self, limit: int = 50) -> list[ChangeNotice]:
        rows = self._db.read(f"SELECT {_COLUMNS} FROM change_notices ORDER BY id DESC LIMIT ?", (limit,))
        return [_notice(r) for r in rows]

    @staticmethod
    def forget_older_than(w: Writer, older_than: float) -> int:
        """Inside ``w``: drop handed-out notices older than ``older_than`` that no delivery still needs."""
        return w.execute(
            "DELETE FROM change_notices WHERE created_at < ? AND fanned_out = 1 AND NOT EXISTS ("
            " SELECT 1 FROM deliveries d WHERE d.notice_id = change_notices.id AND d.state IN ('queued', 'dead'))",
            (older_than,)).rowcount
