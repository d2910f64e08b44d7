"""Composing change notices: outbox records become notices, bursts become one.

Records of one actor in one collection whose times fall within ``[hook]
notices_window`` seconds of the first of them make one notice (a private
item, :class:`.fanout.PrivateItems`, makes notices of its own, since fewer
people may hear of it); the notice
is composed once that window has closed (so it waits at most one window).
A record of a kind that nobody else can hear about (a new collection, a
home) is taken without a notice.  Taking the records and storing their
notice is one transaction (:meth:`.outbox.Outbox.take`), and one worker at a
time composes (it holds the lease :data:`LEASE`, see :mod:`.worker`), so each
record is in exactly one notice.

An upload whose record a crash left pending (settled at start-up as
``item-changed``, :meth:`.outbox.Outbox.recover`) has no summary from
Radicale's hook: the composer reads it from the item as stored, so its
notice names the item like any other.

A group that cannot be composed (an error that is not the database's) is
taken without a notice and set aside (:mod:`.set_aside`) in one
transaction, so the records after it are composed as usual.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..base.database import Database, Writer
from ..base.summary import summarize
from .changes import TOLD, ChangeNotices, ItemChange
from .outbox import WATERMARK, ChangeKind, Outbox, Record
from .set_aside import COMPOSE, SetAside, transient

LEASE = "compose"  # held by the one worker that composes and hands out notices


class _TakenMeanwhile(Exception):
    """Another worker took one of the records first: leave this group to it."""


def _told(record: Record) -> bool:
    return record.change.kind in TOLD and record.change.collection.strip("/").count("/") == 1


GroupKey = tuple[str, str, str]   # actor, collection, and the item where it is private (else "")


def plan(records: Sequence[Record], now: float, window: float,
         is_private: Callable[[str, str], bool] = lambda _collection, _item: False,
         ) -> tuple[list[list[Record]], list[Record]]:
    """The groups whose window has closed (each one notice), and the records to take without one."""
    due, quiet, _next_due = _planned(records, now, window, lambda record: group_key(record, is_private))
    return due, quiet


def group_key(record: Record, is_private: Callable[[str, str], bool]) -> GroupKey:
    """The notice a record belongs in: one per actor and collection, and one per private item."""
    change = record.change
    private = change.item if change.item and is_private(change.collection, change.item) else ""
    return change.actor, change.collection, private


def _planned(records: Sequence[Record], now: float, window: float, key_of: Callable[[Record], GroupKey],
             ) -> tuple[list[list[Record]], list[Record], float]:
    """:func:`plan`'s groups and quiet records, and when the first group still open is due (inf: none)."""
    groups = _Groups(window)
    for record in records:
        groups.add(record, key_of(record) if _told(record) else None)
    return groups.result(now)


class _Groups:
    """Records taken in, in order of id, into the groups they make: a group is open for ``window`` from its
    first record; a record of its key after that closes it (due) and opens the next.  Records that make
    no notice (key None) are quiet."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.open: dict[GroupKey, list[Record]] = {}
        self.closed: list[list[Record]] = []
        self.quiet: list[Record] = []

    def add(self, record: Record, key: GroupKey | None) -> None:
        if key is None:
            self.quiet.append(record)
            return
        group = self.open.get(key)
        if group is not None and record.created_at < group[0].created_at + self.window:
            group.append(record)
            return
        if group is not None:
            self.closed.append(group)  # a later record closed its window
        self.open[key] = [record]

    def result(self, now: float) -> tuple[list[list[Record]], list[Record], float]:
        """The due groups (in order of their first record), the quiet records, when the next group is due."""
        closing = [g[0].created_at + self.window for g in self.open.values()]
        due = self.closed + [g for g, at in zip(self.open.values(), closing, strict=True) if now >= at]
        next_due = min((at for at in closing if now < at), default=math.inf)
        return sorted(due, key=lambda g: g[0].id), list(self.quiet), next_due


class _Untaken:
    """The untaken records the composer read before, each with its group key, and when the next group is
    due: a worker step asks only for the records' ids, reads only records it has not seen, and plans
    nothing while the ids are the same and no window has closed (a burst of writes leaves thousands of
    records waiting for their window: reading and planning them all on every step took a third of the
    server's time under a stream of PUTs).  A record's rows do not change once it is ready; a private
    item's key is decided when the record is first read (None: a record that makes no notice).

    While records are only added after those planned (the untaken ids go on from the last planned, as in
    a stream of writes), only the new ones are planned, into the groups kept from the step before
    (``groups``, for the ids ``planned``): a step planned every waiting record again, up to 5,000, for each
    record that arrived.  Any other change of the ids (records taken, a write that began earlier finishing
    later) plans them all again."""

    def __init__(self) -> None:
        self.records: dict[int, tuple[Record, GroupKey | None]] = {}
        self.ids: list[int] | None = None
        self.next_due = 0.0
        self.lock = threading.Lock()
        self.groups: _Groups | None = None
        self.planned: list[int] = []

    def idle(self, ids: list[int], now: float) -> bool:
        return ids == self.ids and now < self.next_due


_COMPONENT = re.compile(r"^BEGIN:(VEVENT|VTODO|VJOURNAL|VCARD)\s*$", re.IGNORECASE | re.MULTILINE)


class NoticeComposer:
    def __init__(self, db: Database, outbox: Outbox, notices: ChangeNotices, *, window: float,
                 read_item: Callable[[str, str], str | None] = lambda _collection, _href: None,
                 is_private: Callable[[str, str], bool] = lambda _collection, _item: False) -> None:
        self._db = db
        self._outbox = outbox
        self._notices = notices
        self._window = window
        self._read_item = read_item
        self._is_private = is_private
        self._untaken = _Untaken()

    def _described(self, record: Record) -> Record:
        """A settled upload (no summary from the hook) with the summary of the item as stored."""
        if record.change.kind is not ChangeKind.ITEM_CHANGED or record.detail.get("new") or not record.change.item:
            return record
        text = self._read_item(record.change.collection, record.change.item)
        if not text:
            return record
        found = _COMPONENT.search(text)
        return dataclasses.replace(record, detail={**record.detail, "new": summarize(text)},
                                   component=record.component or (found.group(1).upper() if found else None),
                                   uid=record.uid or summarize(text).get("UID"))

    def compose_due(self, now: float) -> int:
        """Compose every notice whose window has closed; returns how many were made."""
        with self._untaken.lock:
            groups, quiet = self._plan(now)
        made = 0
        if quiet:
            with self._db.write() as w:
                for record in quiet:
                    self._outbox.take(w, [record.id], None, now)
        for group in groups:
            try:
                with self._db.write() as w:
                    first = group[0].change
                    notice_id = self._notices.add(w, first.collection, first.actor,
                                                  [ItemChange.from_record(self._described(r)) for r in group], now)
                    if not self._outbox.take(w, [r.id for r in group], notice_id, now):
                        raise _TakenMeanwhile
                made += 1
            except _TakenMeanwhile:
                continue
            except Exception as e:
                if transient(e):
                    raise
                self._set_aside(group, e, now)
        if groups or quiet:
            self._outbox.advance_watermark()
        return made

    def _plan(self, now: float) -> tuple[list[list[Record]], list[Record]]:
        """:func:`plan` over the untaken records, reading only those not read before (:class:`_Untaken`)."""
        known = self._untaken
        ids = self._outbox.untaken_ids()
        if known.idle(ids, now):
            return [], []
        groups, planned = known.groups, known.planned
        if groups is None or ids[:len(planned)] != planned:   # not only new records after the planned ones
            groups, planned = _Groups(self._window), []
            known.records = {i: known.records[i] for i in ids if i in known.records}
        new = ids[len(planned):]
        for record in self._outbox.by_ids([i for i in new if i not in known.records]):
            known.records[record.id] = (record, group_key(record, self._is_private) if _told(record) else None)
        for i in new:
            if i in known.records:
                groups.add(*known.records[i])
        due, quiet, next_due = groups.result(now)
        # planning again is needed once a window closes, or when the untaken records change
        if due or quiet or any(i not in known.records for i in new):
            known.ids, known.next_due, known.groups, known.planned = None, 0.0, None, []
        else:
            known.ids, known.next_due, known.groups, known.planned = ids, next_due, groups, ids
        return due, quiet

    def _set_aside(self, group: list[Record], error: Exception, now: float) -> None:
        ids = [r.id for r in group]
        with self._db.write() as w:
            if self._outbox.take(w, ids, None, now):
                SetAside.add(w, COMPOSE, {"records": ids}, records_named(group), error, now)


def records_named(records: Sequence[Record], most: int = 5) -> str:
    """"/alice/family/a.ics, /alice/family/b.ics (outbox records 7, 8)", for the admin."""
    paths = list(dict.fromkeys(f"{r.change.collection}{r.change.item or ''}" for r in records))
    shown = ", ".join(paths[:most]) + (f" and {len(paths) - most} more" if len(paths) > most else "")
    ids = ", ".join(str(r.id) for r in records[:most]) + (", ..." if len(records) > most else "")
    return f"{shown} (outbox record{'s' if len(records) > 1 else ''} {ids})"


def set_aside_records(w: Writer) -> set[int]:
    """Inside ``w``: the outbox records set aside in composing (:meth:`NoticeComposer._set_aside`), which
    :func:`put_back` may hand to the composer again."""
    rows = w.execute("SELECT subject FROM notices_set_aside WHERE stage = ?", (COMPOSE,)).fetchall()
    return {int(i) for (subject,) in rows for i in json.loads(subject).get("records", [])}


def put_back(w: Writer, subject: Mapping[str, Any]) -> None:
    """Inside ``w``: set-aside records are untaken again, and the watermark moved back to them."""
    ids = [int(i) for i in subject.get("records", [])]
    if not ids:
        return
    w.execute(f"DELETE FROM outbox_taken WHERE notice_id IS NULL AND record_id IN ({','.join('?' * len(ids))})", ids)
    w.execute("UPDATE meta SET value = ? WHERE key = ? AND CAST(value AS INTEGER) >= ?",
              (str(min(ids) - 1), WATERMARK, min(ids)))
