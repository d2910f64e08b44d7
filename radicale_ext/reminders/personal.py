"""Whose alarms remind whom (docs/reminders.md, "Whose alarms"): each sharee who set alarms of their own
on an event (:mod:`radicale_ext.sharing.personal_data`) is reminded by those, everyone else by the
alarms stored in the owner's file.

The schedule's rows say whose alarms they are (``person``: ``""`` for the file's,
reminding everyone with access who has none of their own on that event).  Three
things re-plan an event for this, beside the outbox the scheduler follows:

- a person's own alarms changed (no file was written): :meth:`PersonalReminders.changed`
  follows the personal data's ``seq`` behind its own watermark;
- a person left the calendar: once a minute :meth:`PersonalReminders.sweep` drops
  the own alarms of people who no longer have it (they lose them: coming back, they
  find the owner's) and re-plans the events they had them on;
- a database from before per-person reminders is upgraded once (:func:`upgrade`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..base.database import Database
from ..notices.fanout import Audience
from ..sharing import personal_parts
from ..sharing.personal_data import PersonalData

logger = logging.getLogger("radicale_ext.reminders")

WATERMARK = "reminders_personal_read_through"   # meta: the personal data's seq planned through
SWEPT = "reminders_personal_swept_at"           # meta: when people who left were last looked for
SWEEP_EVERY = 60.0
BATCH = 500
EVERYONE = ""

Plan = Callable[[list[tuple[str, str]], float], int]


class PersonalReminders:
    def __init__(self, db: Database, data: PersonalData, audience: Audience) -> None:
        self._db = db
        self._data = data
        self._audience = audience

    def texts(self, collection: str, item: str, stored: str) -> dict[str, str]:
        """person -> the event as they see it, for those with alarms of their own on it."""
        found = {}
        for user, kept in self._data.for_item(collection, item).items():
            try:
                found[user] = personal_parts.seen_by(stored, kept.mapping())
            except personal_parts.NotCalendarData:
                found[user] = stored
        return found

    def with_own_alarms(self, collection: str, item: str) -> set[str]:
        """The people reminded by their own alarms of ``item``, not by the file's."""
        return set(self._data.for_item(collection, item))

    def own_items(self, collection: str, user: str) -> set[str]:
        """The events of ``collection`` on which ``user`` has alarms of their own."""
        return set(self._data.of(collection, user))

    def changed(self, now: float, plan: Plan) -> int:
        """Plan again the events whose someone's own alarms changed since the watermark."""
        row = self._db.read_one("SELECT value FROM meta WHERE key = ?", (WATERMARK,))
        mark = int(row[0]) if row else 0
        rows = self._data.changed_after(mark, BATCH)
        if not rows:
            return 0
        items = list(dict.fromkeys((collection, item) for _, collection, item in rows))
        planned = plan(items, now)
        with self._db.write() as w:
            w.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (WATERMARK, str(rows[-1][0])))
        return planned

    def sweep(self, now: float, plan: Plan) -> int:
        """Once a minute: the own alarms of people who no longer have the calendar go."""
        row = self._db.read_one("SELECT value FROM meta WHERE key = ?", (SWEPT,))
        if row is not None and now - float(row[0]) < SWEEP_EVERY:
            return 0
        with self._db.write() as w:
            w.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (SWEPT, repr(now)))
        items: list[tuple[str, str]] = []
        for collection, people in self._data.people_in().items():
            having = self._audience.with_access(collection)
            for user in sorted(people - set(having)):
                gone = self._data.forget_person(collection, user)
                logger.info("reminders: %s no longer has %s: their own alarms on %d event(s) are gone",
                            user, collection, len(gone))
                items += [(collection, item) for item in gone]
        return plan(list(dict.fromkeys(items)), now) if items else 0


def upgrade(db: Database, schema: str) -> None:
    """A database from before per-person reminders: its schedule and sent reminders get the ``person``
    column (``""``: the file's alarms), in one transaction; nothing planned or sent is lost."""
    with db.write() as w:
        for table, columns, indexes in (
                ("reminder_schedule", "id, collection, item, uid, occurrence, alarm, fire_at, starts_at, summary,"
                 " start_text, start_tzid, state", ("reminder_schedule_due", "reminder_schedule_by_collection")),
                ("reminders_sent", "collection, uid, occurrence, alarm, sent_at, notice_id", ())):
            names = w.columns(table)
            if not names or "person" in names:
                continue
            w.execute(f"ALTER TABLE {table} RENAME TO {table}_before_person")
            for index in indexes:
                w.execute(f"DROP INDEX IF EXISTS {index}")
            w.executescript_safe(schema)   # the new shape (the scheduler's)
            w.execute(f"INSERT INTO {table}({columns}) SELECT {columns} FROM {table}_before_person")
            w.execute(f"DROP TABLE {table}_before_person")
            logger.warning("reminders: the table %s was upgraded for per-person alarms", table)
