"""Stored notices: what the server tells a person through their notification collection.

A notice is a generic record (who, what kind, when, and the kind's data as
JSON), named by a random id that becomes its resource name in the person's
DAV notification collection (CalendarServer's caldav-notifications, section
4).  The kinds of the sharing protocol are replies to invitations (for the
owner) and changes of an invitation (withdrawn, access changed, for the
sharee); the "change notices" feature adds resource changes to the same
store as ``resource-change`` notices (section 5.3), one per recipient of a
change notice, named after the delivery's idempotency key so that storing one
twice changes nothing, and removed by the notice worker once older than
``[hook] notices_max_age``.  Notices of invitations still awaiting an answer
are not stored: they are derived from the invitations themselves (see
:mod:`radicale_ext.sharing.inbox`).
"""

from __future__ import annotations

import enum
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base.database import Database, Writer

SCHEMA = """
CREATE TABLE IF NOT EXISTS notices (
    id         INTEGER PRIMARY KEY,
    user       TEXT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (user, name)
);
CREATE INDEX IF NOT EXISTS notices_by_kind_and_age ON notices(kind, created_at)
"""


class NoticeKind(enum.Enum):
    """What a notice is about; the value is the CalendarServer element that says so."""

    INVITATION = "invite-notification"   # an invitation, new, changed or withdrawn
    INVITATION_REPLY = "invite-reply"    # a person answered the owner's invitation
    RESOURCE_CHANGE = "resource-change"  # someone else changed a shared collection (a change notice)
    CARD_CHANGED = "card-changed"        # a me card shared with the person changed for them (cards.py)


@dataclass(frozen=True)
class Notice:
    user: str                # whom it is for
    name: str                # its resource name, without ".xml"
    kind: NoticeKind
    created_at: float
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def etag(self) -> str:
        # a change notice's list of changes is read from its (unchanging) change notice, so not part of it
        stored = {k: v for k, v in self.data.items() if k not in _DETAILS}
        digest = hashlib.sha256(json.dumps([self.name, self.kind.value, self.created_at, stored],
                                           sort_keys=True).encode()).hexdigest()
        return f'"{digest[:32]}"'


_COLUMNS = "user, name, kind, created_at, data"
_DETAILS = frozenset({"changes", "more"})   # added when a change notice is read (NoticeBox.get)
MAX_DETAILED = 50                          # changes listed one by one in a change notice's document


def _notice(row: tuple) -> Notice:
    return Notice(user=row[0], name=row[1], kind=NoticeKind(row[2]), created_at=row[3], data=json.loads(row[4]))


class NoticeBox:
    def __init__(self, db: Database, change_details: Callable[[int], list[dict[str, Any]]]) -> None:
        """``change_details`` gives the changes of a stored change notice by its id (the notices
        feature's :meth:`~radicale_ext.notices.changes.ChangeNotices.changes_of`)."""
        self._db = db
        self._change_details = change_details

    @staticmethod
    def add(w: Writer, user: str, kind: NoticeKind, data: Mapping[str, Any]) -> Notice:
        """Inside ``w`` (the change the notice is about): store a notice for ``user``."""
        notice = Notice(user=user, name=secrets.token_hex(10), kind=kind, created_at=time.time(), data=data)
        w.execute(f"INSERT INTO notices({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                  (user, notice.name, kind.value, notice.created_at, json.dumps(dict(data), sort_keys=True)))
        return notice

    @staticmethod
    def rows(notices: list[Notice]) -> list[tuple]:
        """Notices as rows for :meth:`add_named` (made outside the transaction: it stays short)."""
        return [(n.user, n.name, n.kind.value, n.created_at, json.dumps(dict(n.data), sort_keys=True))
                for n in notices]

    @staticmethod
    def add_named(w: Writer, rows: list[tuple]) -> int:
        """Inside ``w``: store notices (:meth:`rows`) whose names are already chosen; a name a
        user already has is left as it is (so storing the same notice twice stores it once).
        Returns how many were new."""
        cur = w.executemany(f"INSERT OR IGNORE INTO notices({_COLUMNS}) VALUES (?, ?, ?, ?, ?)", rows)
        return max(0, cur.rowcount)

    @staticmethod
    def expire(w: Writer, kind: NoticeKind, older_than: float) -> int:
        """Inside ``w``: remove notices of ``kind`` created before ``older_than``."""
        return w.execute("DELETE FROM notices WHERE kind = ? AND created_at < ?", (kind.value, older_than)).rowcount

    def notices(self, user: str) -> list[Notice]:
        rows = self._db.read(f"SELECT {_COLUMNS} FROM notices WHERE user = ? ORDER BY id", (user,))
        return [_notice(r) for r in rows]

    def get(self, user: str, name: str) -> Notice | None:
        """One notice, whole: a change notice with its changes (kept once, for all its recipients)."""
        row = self._db.read_one(f"SELECT {_COLUMNS} FROM notices WHERE user = ? AND name = ?", (user, name))
        if row is None:
            return None
        notice = _notice(row)
        if notice.kind is NoticeKind.RESOURCE_CHANGE and isinstance(notice.data.get("notice"), int):
            changes = self._change_details(notice.data["notice"])
            notice = Notice(user=notice.user, name=notice.name, kind=notice.kind, created_at=notice.created_at,
                            data={**notice.data, "changes": changes[:MAX_DETAILED],
                                  "more": max(0, len(changes) - MAX_DETAILED)})
        return notice

    def delete(self, user: str, name: str) -> bool:
        with self._db.write() as w:
            return w.execute("DELETE FROM notices WHERE user = ? AND name = ?", (user, name)).rowcount > 0

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM notices WHERE user = ?", (user,))
