"""Each sharee's own alarms and TRANSP on the events of a calendar shared with them (caldav-sharing 5.5.x).

One row per calendar, person and event: the person's part of each occurrence
(:mod:`.personal_parts`), as JSON.  A person without a row for an event sees
the owner's alarms; with one, their own (none, if they removed them all).
``seq`` grows with every change (a counter in ``meta``), so a person's sync
token can carry how far they have seen their own changes, and the reminders
follow changes without the outbox (a personal change writes no file).

The request path reads one person's rows of one calendar with one indexed query
(:meth:`PersonalData.of`).  Rows go with their event (deleted, or the whole
calendar), follow it when it is moved, and go when the person no longer has the
calendar (:meth:`PersonalData.forget_person`, called by whoever sweeps).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from ..base.database import Database, Writer
from ..base.errors import ExtError
from . import personal_parts

SCHEMA = """
CREATE TABLE IF NOT EXISTS personal_data (
    collection TEXT NOT NULL,
    user       TEXT NOT NULL,
    item       TEXT NOT NULL,
    parts      TEXT NOT NULL,
    digest     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    modified   REAL NOT NULL,
    PRIMARY KEY (collection, user, item)
);
CREATE INDEX IF NOT EXISTS personal_data_by_item ON personal_data(collection, item);
CREATE INDEX IF NOT EXISTS personal_data_by_seq ON personal_data(seq);
CREATE INDEX IF NOT EXISTS personal_data_by_user ON personal_data(user, collection)
"""

SEQ = "personal_data_seq"   # meta: the last seq given


class TooLarge(ExtError):
    """A person's own part of one event larger than an event may be."""

    status = 413


@dataclass(frozen=True)
class Kept:
    """One person's own part of one event."""

    item: str
    parts: str          # JSON: RECURRENCE-ID key -> part (personal_parts.Parts)
    digest: str         # of ``parts``, made when they are kept (each person's ETag is made from it)
    seq: int
    modified: float     # when they last changed it (UTC seconds)

    def mapping(self) -> dict[str, str]:
        return personal_parts.from_json(self.parts)


class PersonalData:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the request path -----------------------------------------------------------

    def of(self, collection: str, user: str) -> dict[str, Kept]:
        """``user``'s own parts of the events of ``collection`` (``/alice/family/``), by item name."""
        rows = self._db.read("SELECT item, parts, digest, seq, modified FROM personal_data"
                             " WHERE collection = ? AND user = ?", (collection, user))
        return {r[0]: Kept(*r) for r in rows}

    def calendars_of(self, user: str) -> frozenset[str]:
        """The calendars in which ``user`` has parts of their own (one indexed query)."""
        return frozenset(r[0] for r in self._db.read("SELECT DISTINCT collection FROM personal_data WHERE user = ?",
                                                     (user,)))

    def keep(self, collection: str, user: str, item: str, parts: Mapping[str, str], *, limit: int) -> bool:
        """Store ``user``'s part of ``item``; False when it is what they had (nothing changes).  Raises
        :class:`TooLarge` (nothing stored) for parts over ``limit`` bytes (what one event may hold)."""
        text = require_fitting(user, item, parts, limit)
        with self._db.write() as w:
            row = w.execute("SELECT parts FROM personal_data WHERE collection = ? AND user = ? AND item = ?",
                            (collection, user, item)).fetchone()
            if row is not None and row[0] == text:
                return False
            w.execute("INSERT OR REPLACE INTO personal_data(collection, user, item, parts, digest, seq, modified)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (collection, user, item, text, personal_parts.digest(text), _next_seq(w), time.time()))
        return True

    # -- the event's life --------------------------------------------------------------

    def forget_item(self, collection: str, item: str) -> None:
        with self._db.write() as w:
            w.execute("DELETE FROM personal_data WHERE collection = ? AND item = ?", (collection, item))

    def move(self, collection: str, item: str, to_collection: str, to_item: str) -> None:
        """The event was moved or renamed: everyone's parts follow it (a new seq, for their sync), but the
        new calendar's owner's: what is in their own calendar's file is theirs."""
        owner = to_collection.strip("/").split("/")[0]
        with self._db.write() as w:
            w.execute("DELETE FROM personal_data WHERE collection = ? AND item = ?", (to_collection, to_item))
            w.execute("DELETE FROM personal_data WHERE collection = ? AND item = ? AND user = ?",
                      (collection, item, owner))
            for user, in w.execute("SELECT user FROM personal_data WHERE collection = ? AND item = ?",
                                   (collection, item)).fetchall():
                w.execute("UPDATE personal_data SET collection = ?, item = ?, seq = ? WHERE collection = ?"
                          " AND user = ? AND item = ?", (to_collection, to_item, _next_seq(w), collection, user, item))

    def forget_collection(self, collection: str) -> None:
        with self._db.write() as w:
            w.execute("DELETE FROM personal_data WHERE collection = ?", (collection,))

    # -- people -----------------------------------------------------------------------

    def people_in(self) -> dict[str, set[str]]:
        """collection -> the people with parts of their own in it (for the sweep of those who left)."""
        found: dict[str, set[str]] = {}
        for collection, user in self._db.read("SELECT DISTINCT collection, user FROM personal_data"):
            found.setdefault(collection, set()).add(user)
        return found

    def forget_person(self, collection: str, user: str) -> list[str]:
        """``user`` no longer has ``collection``: their parts go; returns the items they had parts of."""
        with self._db.write() as w:
            items = [r[0] for r in w.execute("SELECT item FROM personal_data WHERE collection = ? AND user = ?",
                                             (collection, user))]
            w.execute("DELETE FROM personal_data WHERE collection = ? AND user = ?", (collection, user))
        return items

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM personal_data WHERE user = ?", (user,))

    # -- the reminders -------------------------------------------------------------------

    def for_item(self, collection: str, item: str) -> dict[str, Kept]:
        """Everyone's own part of one event, by person."""
        rows = self._db.read("SELECT user, item, parts, digest, seq, modified FROM personal_data"
                             " WHERE collection = ? AND item = ?", (collection, item))
        return {r[0]: Kept(*r[1:]) for r in rows}

    def changed_after(self, seq: int, limit: int) -> list[tuple[int, str, str]]:
        """(seq, collection, item) of the parts changed after ``seq``, oldest first."""
        return [(s, c, i) for s, c, i in self._db.read(
            "SELECT seq, collection, item FROM personal_data WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))]

    def last_seq(self) -> int:
        row = self._db.read_one("SELECT value FROM meta WHERE key = ?", (SEQ,))
        return int(row[0]) if row else 0


def require_fitting(user: str, item: str, parts: Mapping[str, str], limit: int) -> str:
    """``parts`` as kept; raises :class:`TooLarge` when they take more than ``limit`` bytes."""
    text = personal_parts.to_json(parts)
    size = len(text.encode())
    if size > limit:
        raise TooLarge(f"{user}'s own alarms on {item!r} take {size} bytes, more than an event may hold "
                       f"({limit} bytes, [server] max_resource_size)")
    return text


def _next_seq(w: Writer) -> int:
    row = w.execute("SELECT value FROM meta WHERE key = ?", (SEQ,)).fetchone()
    seq = (int(row[0]) if row else 0) + 1
    w.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (SEQ, str(seq)))
    return seq
