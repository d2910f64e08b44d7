"""Reminders: each due VALARM of a shared calendar, told to everyone who has the calendar, once.

The schedule is a table of concrete instants (``reminder_schedule``: one row
per item, series UID, occurrence, alarm, with ``fire_at`` in UTC), kept for a
rolling window (``[hook] notices_reminder_window`` days ahead).  So a worker's
tick asks only ``state = 'due' AND fire_at <= now`` through an index, and never
expands a series (:meth:`ReminderScheduler.fire_due`).

Rows are (re)computed for one item at a time (:meth:`ReminderScheduler.plan_item`),
from the item as stored on disk, when:

- the outbox records a change of it (created, updated, deleted, moved; a whole
  collection replaced or deleted): the scheduler reads the outbox behind its own
  watermark (``meta`` key ``reminders_read_through``), so an edit takes effect
  on the worker's next step;
- its window runs short (the *horizon pass*, :meth:`ReminderScheduler.extend_window`):
  a recurring item records how far it is planned (``reminder_items.planned_until``);
  once a day it is planned again from then on.  Single events are planned once, unless a
  reminder of theirs lay beyond the window: their ``planned_until`` is that reminder's time, and
  they are planned again when the window reaches it;
- the feature starts on a database that has none (every calendar on disk is
  read once).

"Sent once": firing a row inserts its key (collection, UID, occurrence, alarm)
into ``reminders_sent`` (primary key) in the same transaction that stores the
notification-collection notices and queues the deliveries (:mod:`radicale_ext.notices.delivery`,
whose own keys make retries idempotent), so two workers, or a restart, never
send a reminder twice.  A row whose time passed more than ``[hook]
notices_reminder_grace`` seconds ago (no worker ran) is marked skipped and
logged, not sent.

Who: everyone with effective access to the calendar (:class:`radicale_ext.notices.fanout.Audience`,
the rule of change notices and of the request path), minus the admin's
rights-file refusals, minus those who muted reminders for it (or for all);
the owner only if they asked for reminders of their own calendars.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..base import names
from ..base.database import Writer
from ..base.errors import ExtError, NotFound
from ..notices.changes import ChangeNotice, ChangeNotices, ItemChange
from ..notices.delivery import DeliveryQueue, Planned, idempotency_key
from ..notices.fanout import Audience
from ..notices.outbox import REMINDERS_FIRST_PASS, REMINDERS_READ_THROUGH, ChangeKind, Leases, Record
from ..notices.preferences import Channel, Preferences, Timing
from ..notices.set_aside import REMINDER, REMINDER_PLAN, SetAside, transient
from ..notices.wording import Wording
from ..sharing.notifications import Notice, NoticeBox, NoticeKind
from .bounds import fire_bounds
from .personal import EVERYONE, PersonalReminders, upgrade
from .times import Due, expand

if TYPE_CHECKING:
    from ..notices.service import Notices

logger = logging.getLogger("radicale_ext.reminders")

SCHEMA = """
CREATE TABLE IF NOT EXISTS reminder_schedule (
    id          INTEGER PRIMARY KEY,
    collection  TEXT NOT NULL,
    item        TEXT NOT NULL,
    uid         TEXT NOT NULL,
    occurrence  TEXT NOT NULL,
    alarm       TEXT NOT NULL,
    fire_at     REAL NOT NULL,
    starts_at   REAL NOT NULL,
    summary     TEXT NOT NULL,
    start_text  TEXT NOT NULL,
    start_tzid  TEXT,
    state       TEXT NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'sent', 'skipped')),
    person      TEXT NOT NULL DEFAULT '',
    UNIQUE (collection, item, uid, occurrence, alarm, person)
);
CREATE INDEX IF NOT EXISTS reminder_schedule_due ON reminder_schedule(state, fire_at);
CREATE INDEX IF NOT EXISTS reminder_schedule_by_collection ON reminder_schedule(collection, fire_at);
CREATE TABLE IF NOT EXISTS reminder_items (
    collection    TEXT NOT NULL,
    item          TEXT NOT NULL,
    planned_until REAL NOT NULL,
    PRIMARY KEY (collection, item)
);
CREATE INDEX IF NOT EXISTS reminder_items_horizon ON reminder_items(planned_until);
CREATE TABLE IF NOT EXISTS reminders_sent (
    collection TEXT NOT NULL,
    uid        TEXT NOT NULL,
    occurrence TEXT NOT NULL,
    alarm      TEXT NOT NULL,
    sent_at    REAL NOT NULL,
    notice_id  INTEGER,
    person     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (collection, uid, occurrence, alarm, person)
);
CREATE TABLE IF NOT EXISTS reminder_choices (
    user       TEXT NOT NULL,
    collection TEXT NOT NULL,
    choice     TEXT NOT NULL CHECK (choice IN ('mute', 'own')),
    PRIMARY KEY (user, collection, choice)
);
CREATE TABLE IF NOT EXISTS reminder_defaults (
    collection TEXT PRIMARY KEY,
    offset     INTEGER NOT NULL
)
"""

LEASE = "reminders-plan"
WATERMARK = REMINDERS_READ_THROUGH     # meta: the outbox record read through (the outbox keeps what is after it)
ALL = ""
SINGLE = 1e18                 # planned_until of an item that does not recur and whose reminders are all planned
REFRESH = 86400.0             # a recurring item is planned again once its window is this much shorter
OUTBOX_BATCH = 500
HORIZON_BATCH = 200          # items re-expanded per worker step (about 0.85 s)
FIRST_PASS_BATCH = 500       # items planned per worker step on the first start
FIRST_PASS = REMINDERS_FIRST_PASS     # meta: JSON {"mark": outbox id, "after": [owner, name, href]}
FIRE_BATCH = 200
_TZID = re.compile(r"^TZID:(.+?)\s*$", re.MULTILINE)


class ReminderError(ExtError):
    """A reminder choice that cannot be made."""


@dataclass(frozen=True)
class Upcoming:
    """A reminder a person will get."""

    collection: str
    view: str
    item: str
    uid: str
    summary: str
    occurrence: str
    alarm: str
    fire_at: float
    starts_at: float
    start_text: str
    start_tzid: str | None


def parse_before(text: str) -> int:
    """"1h", "30m", "2d", "90" (minutes) -> seconds before the start; ReminderError otherwise."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*([mhdw]?)\s*", text.lower())
    if not match:
        raise ReminderError(f"{names.shown(text)} is not a time before the start; write e.g. 30m, 1h or 2d")
    unit = {"": 60, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    seconds = int(match.group(1)) * unit
    if not 0 < seconds <= 28 * 86400:
        raise ReminderError(f"{text.strip()}: a default reminder is between 1 minute and 4 weeks before the start")
    return seconds


class ReminderChoices:
    """Mutes, the owner's opt-in for their own calendars, and calendars' default reminders."""

    def __init__(self, db) -> None:
        self._db = db

    def mute(self, user: str, collection: str = ALL) -> None:
        self._set(user, collection, "mute", True)

    def unmute(self, user: str, collection: str = ALL) -> bool:
        return self._set(user, collection, "mute", False)

    def own(self, user: str, wanted: bool) -> None:
        self._set(user, ALL, "own", wanted)

    def _set(self, user: str, collection: str, choice: str, on: bool) -> bool:
        with self._db.write() as w:
            if on:
                return w.execute("INSERT OR IGNORE INTO reminder_choices(user, collection, choice) VALUES (?, ?, ?)",
                                 (user, collection, choice)).rowcount > 0
            return w.execute("DELETE FROM reminder_choices WHERE user = ? AND collection = ? AND choice = ?",
                             (user, collection, choice)).rowcount > 0

    def wants_own(self, user: str) -> bool:
        return self._db.read_one("SELECT 1 FROM reminder_choices WHERE user = ? AND collection = '' AND choice = 'own'",
                                 (user,)) is not None

    def muted(self, users: Iterable[str], collection: str) -> set[str]:
        users = sorted(set(users))
        found: set[str] = set()
        for start in range(0, len(users), 500):
            chunk = users[start:start + 500]
            found.update(r[0] for r in self._db.read(
                "SELECT user FROM reminder_choices WHERE choice = 'mute' AND collection IN (?, ?)"
                f" AND user IN ({','.join('?' * len(chunk))})", (ALL, collection, *chunk)))
        return found

    def rows(self, user: str) -> list[tuple[str, str]]:
        return [(c, ch) for c, ch in self._db.read(
            "SELECT collection, choice FROM reminder_choices WHERE user = ? ORDER BY collection, choice", (user,))]

    def default_for(self, collection: str) -> int | None:
        row = self._db.read_one("SELECT offset FROM reminder_defaults WHERE collection = ?", (collection,))
        return int(row[0]) if row else None

    def set_default(self, collection: str, before: int | None) -> None:
        """The calendar's default reminder, ``before`` seconds before each event (None: none); its
        events are planned again on the worker's next step."""
        with self._db.write() as w:
            if before is None:
                w.execute("DELETE FROM reminder_defaults WHERE collection = ?", (collection,))
            else:
                w.execute("INSERT OR REPLACE INTO reminder_defaults(collection, offset) VALUES (?, ?)",
                          (collection, -before))
            w.execute("UPDATE reminder_items SET planned_until = 0 WHERE collection = ?", (collection,))
            w.execute("INSERT OR IGNORE INTO reminder_items(collection, item, planned_until)"
                      " SELECT DISTINCT collection, item, 0 FROM reminder_schedule WHERE collection = ?", (collection,))

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM reminder_choices WHERE user = ?", (user,))


@dataclass
class ReminderProgress:
    planned: int = 0     # items (re)planned
    sent: int = 0        # reminders fired (each to all its recipients)
    skipped: int = 0     # reminders too late to send

    def __bool__(self) -> bool:
        return bool(self.planned or self.sent or self.skipped)


class ReminderScheduler:
    """Plans and fires reminders for one site; every method takes the time as an argument."""

    def __init__(self, notices: Notices, *, may_read: Callable[[str, str], bool] | None = None) -> None:
        self._notices = notices
        self._db = notices.site.db
        self._settings = notices.settings
        self._collections = notices.site.collections
        self._read_item = self._collections.item_text
        self.choices = ReminderChoices(self._db)
        self._audience: Audience = notices.audience
        self._preferences: Preferences = notices.preferences
        self._wording: Wording = notices.wording
        self._leases = Leases(self._db)
        upgrade(self._db, SCHEMA)
        self.personal = PersonalReminders(self._db, notices.site.personal_data, self._audience)
        put_back_set_aside(notices.set_aside)

    @property
    def window(self) -> float:
        return self._settings.reminder_window_days * 86400.0

    # -- the worker's step ----------------------------------------------------------------

    def step(self, now: float, holder: str) -> ReminderProgress:
        """Plan what changed (one worker at a time, under a lease), then fire what is due (any worker)."""
        progress = ReminderProgress()
        if self._leases.hold(LEASE, holder, now, self._settings.lease):
            if self._watermark() is None:
                progress.planned += self.plan_everything(now, FIRST_PASS_BATCH)
            if self._watermark() is not None:
                progress.planned += self.follow_outbox(now)
                progress.planned += self.personal.changed(now, self._plan_many)
                progress.planned += self.personal.sweep(now, self._plan_many)
                progress.planned += self.extend_window(now)
        sent, skipped = self.fire_due(now)
        progress.sent, progress.skipped = sent, skipped
        return progress

    def release(self, holder: str) -> None:
        self._leases.release(LEASE, holder)

    # -- planning -------------------------------------------------------------------------

    def _watermark(self) -> int | None:
        row = self._db.read_one("SELECT value FROM meta WHERE key = ?", (WATERMARK,))
        return int(row[0]) if row else None

    def plan_everything(self, now: float, limit: int | None = None) -> int:
        """First start: every calendar item on disk, ``limit`` items per call (all when ``None``).

        The pass resumes where the last call stopped, so a large first start
        never holds the worker (a thread of the server) for long.  Changes made
        meanwhile reach the outbox after the mark taken at the pass's start, and
        are planned again once the pass is over.
        """
        row = self._db.read_one("SELECT value FROM meta WHERE key = ?", (FIRST_PASS,))
        if row:
            state = json.loads(row[0])
            mark, after = int(state["mark"]), tuple(state["after"])
        else:
            top = self._db.read_one("SELECT MAX(id) FROM outbox")
            mark, after = int(top[0] or 0) if top else 0, ()
        batch: list[tuple[str, str]] = []
        last = after
        for collection, href in self._calendar_items():
            key = (*collection.strip("/").split("/"), href)
            if key <= after:
                continue
            if limit is not None and len(batch) >= limit:
                break
            batch.append((collection, href))
            last = key
        else:
            limit = None  # reached the end of the calendars
        planned = self._plan_many(batch, now)
        with self._db.write() as w:
            if limit is None:
                w.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (WATERMARK, str(mark)))
                w.execute("DELETE FROM meta WHERE key = ?", (FIRST_PASS,))
            else:
                w.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                          (FIRST_PASS, json.dumps({"mark": mark, "after": list(last)})))
        logger.info("reminders: planned %d calendar item(s) found on disk%s", planned,
                    "" if limit is None else " (first pass continues)")
        return planned

    def _calendar_items(self) -> Iterator[tuple[str, str]]:
        for owner in self._collections.owners():
            for found in self._collections.collections_of(owner):
                if found.tag == "VCALENDAR":
                    for href in self._collections.item_names(found.path):
                        yield found.path, href

    def follow_outbox(self, now: float) -> int:
        """Plan again the items that changed since the watermark (never past a record still pending)."""
        mark = self._watermark() or 0
        rows = self._db.read("SELECT id, state FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (mark, OUTBOX_BATCH))
        ready_ids = []
        for record_id, state in rows:
            if state != "ready":
                break
            ready_ids.append(record_id)
        if not ready_ids:
            return 0
        records = {r.id: r for r in self._notices.site.outbox.records(after=mark, limit=len(ready_ids))}
        touched: dict[tuple[str, str], None] = {}
        for record_id in ready_ids:
            record = records.get(record_id)
            if record is not None:
                for key in self._items_of(record):
                    touched[key] = None
        self._plan_many(list(touched), now)
        with self._db.write() as w:
            w.execute("UPDATE meta SET value = ? WHERE key = ?", (str(ready_ids[-1]), WATERMARK))
        return len(touched)

    def _items_of(self, record: Record) -> list[tuple[str, str]]:
        change = record.change
        kind = change.kind
        if kind in (ChangeKind.ITEM_CREATED, ChangeKind.ITEM_UPDATED, ChangeKind.ITEM_DELETED,
                    ChangeKind.ITEM_CHANGED) and change.item:
            return [(change.collection, change.item)]
        if kind is ChangeKind.ITEM_MOVED and change.item:
            moved = [(change.collection, change.item)]
            if change.to_collection and change.to_item:
                moved.append((change.to_collection, change.to_item))
            return moved
        if kind in (ChangeKind.COLLECTION_REPLACED, ChangeKind.COLLECTION_DELETED, ChangeKind.PROPERTIES_CHANGED):
            known = {(c, i) for c, i in self._db.read(
                "SELECT collection, item FROM reminder_items WHERE collection = ?", (change.collection,))}
            if self._collections.tag(change.collection) == "VCALENDAR":
                known |= {(change.collection, h) for h in self._collections.item_names(change.collection)}
            return sorted(known)
        return []

    def plan_item(self, collection: str, item: str, now: float) -> int:
        """(Re)compute one item's reminders from ``now - grace`` to the end of the window; returns rows."""
        due, planned_until = self._compute(collection, item, now, self._calendar_terms(collection))
        with self._db.write() as w:
            self._store(w, collection, item, due, planned_until)
        return len(due)

    def _calendar_terms(self, collection: str) -> tuple[str, int | None]:
        """What every item of a calendar shares: the zone of its floating times, its default reminder."""
        return self._zone_of(collection), self.choices.default_for(collection)

    def _compute(self, collection: str, item: str, now: float,
                 terms: tuple[str, int | None]) -> tuple[list[tuple[str, Due]], float | None]:
        """The item's due reminders, each with whose alarms they are (:mod:`.personal`), and how far they
        are planned (None: the item is gone)."""
        text = self._read_item(collection, item)
        if text is None:
            return [], None
        zone, default = terms
        views = {EVERYONE: text, **self.personal.texts(collection, item, text)}
        if default is None and not any("BEGIN:VALARM" in t.upper() for t in views.values()):
            return [], SINGLE      # nothing to remind of (until it changes, or the calendar gets a default)
        end = now + self.window
        due: list[tuple[str, Due]] = []
        recurring = False
        later = SINGLE
        for person, seen in views.items():
            bounds = fire_bounds(seen, default)
            if bounds is not None and (bounds[1] < now - self._settings.reminder_grace or bounds[0] >= end):
                # wholly past, or wholly beyond the window: nothing is due now (.bounds)
                if bounds[0] >= end:
                    later = min(later, bounds[0])   # the horizon pass plans it exactly when that comes near
                continue
            result = expand(seen, start=now - self._settings.reminder_grace, end=end,
                            max_occurrences=self._settings.reminder_max_occurrences, floating_zone=zone,
                            default_alarms=[datetime.timedelta(seconds=default)] if default is not None else ())
            for problem in result.problems if person == EVERYONE else ():
                logger.warning("reminders: %s%s: %s", collection, item, problem)
            due += [(person, d) for d in result.due]
            recurring = recurring or result.recurring
            if result.later is not None:
                later = min(later, result.later)
        # a series is planned again as its window runs short; a one-off event whose reminder lies beyond
        # the window, once that reminder comes within it (the horizon pass takes it up then)
        return due, (end if recurring else later)

    @staticmethod
    def _store(w: Writer, collection: str, item: str, due: list[tuple[str, Due]], planned_until: float | None) -> None:
        w.execute("DELETE FROM reminder_schedule WHERE collection = ? AND item = ? AND state = 'due'",
                  (collection, item))
        if planned_until is None:
            w.execute("DELETE FROM reminder_items WHERE collection = ? AND item = ?", (collection, item))
            return
        w.executemany(
            "INSERT OR IGNORE INTO reminder_schedule(collection, item, uid, occurrence, alarm, fire_at, starts_at,"
            " summary, start_text, start_tzid, person) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(collection, item, d.uid, d.occurrence, d.alarm, d.fire_at, d.starts_at, d.summary, d.start_text,
              d.start_tzid, person) for person, d in due])
        w.execute("INSERT OR REPLACE INTO reminder_items(collection, item, planned_until) VALUES (?, ?, ?)",
                  (collection, item, planned_until))

    def _plan_many(self, items: list[tuple[str, str]], now: float) -> int:
        """Plan several items: computed first, then written in one short transaction per calendar.

        An item whose reminders cannot be computed (an error that is not the database's) is set
        aside (:mod:`radicale_ext.notices.set_aside`) with no reminders, until it changes again or
        the admin retries it; the items after it are planned as usual."""
        by_calendar: dict[str, list[str]] = {}
        for collection, item in items:
            by_calendar.setdefault(collection, []).append(item)
        for collection, hrefs in by_calendar.items():
            computed: list[tuple[str, list[tuple[str, Due]], float | None]] = []
            failed: list[tuple[str, Exception]] = []
            try:
                terms = self._calendar_terms(collection)
            except Exception as e:
                if transient(e):
                    raise
                failed = [(href, e) for href in hrefs]
                hrefs = []
            for href in hrefs:
                try:
                    computed.append((href, *self._compute(collection, href, now, terms)))
                except Exception as e:
                    if transient(e):
                        raise
                    failed.append((href, e))
            with self._db.write() as w:
                for href, due, planned_until in computed:
                    self._store(w, collection, href, due, planned_until)
                SetAside.forget(w, REMINDER_PLAN, [_item_subject(collection, href) for href, *_ in computed])
                for href, error in failed:
                    self._store(w, collection, href, [], SINGLE)
                    SetAside.add(w, REMINDER_PLAN, _item_subject(collection, href), f"{collection}{href}", error, now)
        return len(items)

    def extend_window(self, now: float, limit: int = HORIZON_BATCH) -> int:
        """The horizon pass: plan again recurring items whose window is a day or more short, and one-off
        events whose next reminder has come within the window."""
        # a day short, or half the window where an admin chose one shorter than two days
        ahead = self.window - min(REFRESH, self.window / 2)
        rows = self._db.read("SELECT collection, item FROM reminder_items WHERE planned_until <= ?"
                             " ORDER BY planned_until LIMIT ?", (now + ahead, limit))
        return self._plan_many([(c, i) for c, i in rows], now)

    def _zone_of(self, collection: str) -> str:
        """Where floating times and all-day events of ``collection`` happen: its calendar-timezone
        (RFC 4791 5.2.2), else its owner's chosen zone, else ``[hook] notices_reminder_timezone``."""
        props = self._collections.props(collection)
        zone = props.get("C:calendar-timezone")
        if isinstance(zone, str):
            match = _TZID.search(zone.replace("\r\n", "\n"))
            if match:
                return match.group(1)
        owner = collection.strip("/").split("/")[0]
        return self._preferences.contact(owner).timezone or self._settings.reminder_timezone

    # -- firing ---------------------------------------------------------------------------

    def fire_due(self, now: float, limit: int = FIRE_BATCH) -> tuple[int, int]:
        """Send every reminder due at ``now`` (skip those older than the grace); returns (sent, skipped)."""
        rows = self._db.read(
            "SELECT id, collection, item, uid, occurrence, alarm, fire_at, summary, start_text, start_tzid, person"
            " FROM reminder_schedule WHERE state = 'due' AND fire_at <= ? ORDER BY fire_at, id LIMIT ?", (now, limit))
        sent = skipped = 0
        for row in rows:
            row_id, collection, item, uid, occurrence, alarm, fire_at = row[:7]
            if now - fire_at > self._settings.reminder_grace:
                with self._db.write() as w:
                    w.execute("UPDATE reminder_schedule SET state = 'skipped' WHERE id = ? AND state = 'due'",
                              (row_id,))
                logger.warning("reminders: skipped the reminder of %r (%s%s, %s, %s): it was due %d s ago, "
                               "more than [hook] notices_reminder_grace", row[7], collection, item, occurrence,
                               alarm, now - fire_at)
                skipped += 1
                continue
            try:
                if self._fire(row, now):
                    sent += 1
            except Exception as e:
                if transient(e):
                    raise
                with self._db.write() as w:   # skipped, and set aside for the admin
                    w.execute("UPDATE reminder_schedule SET state = 'skipped' WHERE id = ? AND state = 'due'",
                              (row_id,))
                    SetAside.add(w, REMINDER, {"reminder": row_id},
                                 f"the reminder of {row[7]!r} ({collection}{item}, {occurrence}, {alarm})", e, now)
        return sent, skipped

    def _fire(self, row: tuple, now: float) -> bool:
        row_id, collection, item, uid, occurrence, alarm, fire_at, summary, start_text, start_tzid, person = row
        owner = collection.strip("/").split("/")[0]
        new = {"SUMMARY": summary, "DTSTART": start_text}
        if start_tzid:
            new["DTSTART_TZID"] = start_tzid
        change = ItemChange(kind=ChangeKind.REMINDER, at=fire_at, item=item, component="VEVENT", uid=uid, new=new)
        views = self.recipients(collection)
        own = self.personal.with_own_alarms(collection, item)   # whose alarms these are (.personal)
        views = {u: v for u, v in views.items() if (u == person if person else u not in own)}
        contacts = self._preferences.contacts(views)
        choices = self._preferences.choices_for(views, collection)
        email = self._settings.smtp.configured
        with self._db.write() as w:
            first = w.execute("INSERT OR IGNORE INTO reminders_sent(collection, uid, occurrence, alarm, sent_at,"
                              " person) VALUES (?, ?, ?, ?, ?, ?)", (collection, uid, occurrence, alarm, now, person)
                              ).rowcount == 1
            w.execute("UPDATE reminder_schedule SET state = 'sent' WHERE id = ?", (row_id,))
            if not first:
                return False       # another worker sent it
            notice_id = ChangeNotices.add(w, collection, owner, [change], now)
            w.execute("UPDATE change_notices SET fanned_out = 1 WHERE id = ?", (notice_id,))
            w.execute("UPDATE reminders_sent SET notice_id = ? WHERE collection = ? AND uid = ? AND occurrence = ?"
                      " AND alarm = ? AND person = ?", (notice_id, collection, uid, occurrence, alarm, person))
            notice = ChangeNotice(id=notice_id, collection=collection, actor=owner, changes=(change,), created_at=now)
            stored, planned = [], []
            for user in sorted(views):
                contact = contacts[user]
                stored.append(Notice(user=user, name=idempotency_key(notice_id, user, Channel.DAV.value),
                                     kind=NoticeKind.RESOURCE_CHANGE, created_at=now,
                                     data={"notice": notice_id, "collection": collection, "view": views[user],
                                           "actor": owner, "reminder": True,
                                           "text": self._wording.headline(notice, user, contact.timezone,
                                                                          contact.language)}))
                timing = choices[user].timing
                if email and contact.email_address and timing[Channel.EMAIL] is not Timing.OFF:
                    planned.append(Planned(notice_id, user, Channel.EMAIL.value, now))
                if contact.webhook_url and timing[Channel.WEBHOOK] is not Timing.OFF:
                    planned.append(Planned(notice_id, user, Channel.WEBHOOK.value, now))
            NoticeBox.add_named(w, NoticeBox.rows(stored))
            DeliveryQueue.enqueue(w, planned, now)
        return True

    def recipients(self, collection: str) -> dict[str, str]:
        """``user -> their path of the calendar``: everyone with access who did not mute its reminders;
        the owner only when they asked for reminders of their own calendars."""
        owner = collection.strip("/").split("/")[0]
        views = {u: v for u, v in self._audience.with_access(collection).items()
                 if u == owner or self._audience.may_read(u, collection)}
        if not self.choices.wants_own(owner):
            views.pop(owner, None)
        for user in self.choices.muted(views, collection):
            views.pop(user, None)
        return views

    # -- what a person will get -------------------------------------------------------------

    def upcoming(self, user: str, now: float, limit: int = 10) -> list[Upcoming]:
        """The next ``limit`` reminders ``user`` will get (as the schedule stands now)."""
        names.user_name(user)
        found: list[Upcoming] = []
        calendars = self._calendars_of(user)
        if not calendars:
            return []
        for collection, view in calendars.items():
            if user not in self.recipients(collection):
                continue
            own = sorted(self.personal.own_items(collection, user))   # their own alarms replace the file's there
            not_own = f"item NOT IN ({','.join('?' * len(own))})" if own else "TRUE"
            for row in self._db.read(
                    "SELECT item, uid, summary, occurrence, alarm, fire_at, starts_at, start_text, start_tzid"
                    " FROM reminder_schedule WHERE collection = ? AND state = 'due' AND fire_at > ?"
                    f" AND (person = ? OR (person = '' AND {not_own}))"
                    " ORDER BY fire_at LIMIT ?", (collection, now - self._settings.reminder_grace, user, *own, limit)):
                found.append(Upcoming(collection, view, *row))
        found.sort(key=lambda u: (u.fire_at, u.collection, u.item, u.alarm))
        return found[:limit]

    def _calendars_of(self, user: str) -> dict[str, str]:
        site = self._notices.site
        circles = frozenset(site.circles.circles_of(user))
        found: dict[str, str] = {}
        for own in self._collections.collections_of(user):
            if own.tag == "VCALENDAR":
                found[own.path] = own.path
        for grant in site.shares.grants_for(user, circles):
            if self._collections.tag(grant.collection) == "VCALENDAR":
                found.setdefault(grant.collection, grant.mount_path(user))
        return found

    def require_calendar(self, collection: str) -> None:
        if self._collections.tag(collection) != "VCALENDAR":
            raise NotFound(f"no calendar {collection.strip('/')!r}")


def _item_subject(collection: str, item: str) -> dict[str, str]:
    return {"collection": collection, "item": item}


def put_back_set_aside(book: SetAside) -> None:
    """Tell the set-aside work how reminders put theirs back (:mod:`radicale_ext.notices.set_aside`)."""
    book.on_retry(REMINDER_PLAN, _plan_again)
    book.on_retry(REMINDER, _fire_again)


def _plan_again(w: Writer, subject: Mapping[str, Any]) -> None:
    """Inside ``w``: a set-aside item is planned again by the next horizon pass."""
    w.execute("INSERT OR REPLACE INTO reminder_items(collection, item, planned_until) VALUES (?, ?, 0)",
              (subject["collection"], subject["item"]))


def _fire_again(w: Writer, subject: Mapping[str, Any]) -> None:
    """Inside ``w``: a set-aside reminder is due again (sent if its time is within the grace, else skipped)."""
    w.execute("UPDATE reminder_schedule SET state = 'due' WHERE id = ? AND state = 'skipped'",
              (int(subject["reminder"]),))


