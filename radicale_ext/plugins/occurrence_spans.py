"""An event's occurrences for the item index (:mod:`radicale_ext.index.occurrences`), visited by Radicale's
own time-range code, so that a time-range query answered from the index gives Radicale's answer.

Visited once per version of an event, when it is indexed: an event without
RRULE, RDATE or RECURRENCE-ID is one span, the one Radicale's item cache
holds, and is not parsed for it (its time zone's daylight-saving RRULEs are
not the event's: before, every event with a VTIMEZONE was walked, about 40
us, and kept its one span as a series); a series is walked by
``radicale.item.filter.visit_time_ranges`` up to
:func:`~radicale_ext.index.occurrences.horizon` or
:data:`~radicale_ext.index.occurrences.MOST_SPANS` spans (bounded work per
write, whatever its rule says).

Radicale walks a bounded series too, to the end, for the range its item
cache holds (``radicale.item.find_time_range``, called by ``Item.prepare``
for every PUT): :func:`time_range_walking_once` takes its place and keeps the
spans of that same walk for :func:`occurrences_of`, so a new series is walked
once, not twice.  An unbounded series is not: Radicale's range stops at its
first occurrence (``infinity_fn``), and an edit that keeps its times keeps its
earlier spans without any walk.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import radicale.item as radicale_item
import vobject
from radicale.item import filter as radicale_filter

from radicale_ext.base.content_lines import unfolded
from radicale_ext.index.item_index import Entry
from radicale_ext.index.occurrences import MOST_SPANS, WHOLE, horizon, kept, still_kept
from radicale_ext.index.zone_offsets import utc_seconds

#: a line that makes an event more than one span (folding undone first: a name may be folded anywhere)
_RECURRING = re.compile(r"^(?:RRULE|RDATE|RECURRENCE-ID|EXRULE)[;:]", re.IGNORECASE | re.MULTILINE)
#: a time zone's definition, whose daylight-saving rules are RRULEs of its own, not the event's
_ZONE = re.compile(r"^BEGIN:VTIMEZONE\r?$.*?^END:VTIMEZONE\r?$", re.IGNORECASE | re.MULTILINE | re.DOTALL)
_STARTS = re.compile(r"^DTSTART[;:]", re.IGNORECASE | re.MULTILINE)


#: the lines an event's occurrences depend on (and its components' bounds); any other line may change
#: while the occurrences stay what they were
_TIMING = re.compile(r"^(?:BEGIN|END|DTSTART|DTEND|DURATION|RRULE|RDATE|EXRULE|EXDATE|RECURRENCE-ID|TZID"
                     r"|TZOFFSETFROM|TZOFFSETTO)[;:].*$", re.IGNORECASE | re.MULTILINE)


class _Inexact(Exception):
    """A span not in whole seconds: the index keeps no occurrences of this event."""


@dataclass(frozen=True, slots=True)
class Earlier:
    """The version a write replaces: its timing lines and the occurrences the index kept of it."""

    timing: str
    occurrences: bytes


def earlier_of(entry: Entry | None, stored: Callable[[], tuple[str, str] | None]) -> Earlier | None:
    """The series ``entry`` indexed, about to be replaced, where what is stored is still that version:
    ``stored()`` gives its text and ETag (None: nothing there).  Its occurrences are those of its timing lines,
    whatever was written since the view that holds ``entry`` was made."""
    if entry is None or not entry.facts.occurrences:
        return None
    found = stored()
    if found is None or found[1] != entry.facts.etag:
        return None
    return Earlier(timing(found[0]), entry.facts.occurrences)


def timing(text: str) -> str:
    """What decides an event's occurrences: its lines naming times and rules, in order, unfolded."""
    return "\n".join(_TIMING.findall(unfolded(text)))


def occurrences_of(item: radicale_item.Item, earlier: Earlier | None = None) -> bytes | None:
    """The event's occurrences as the index keeps them; None where Radicale alone decides.

    A new version of a series whose timing lines are the earlier version's (its title, notes, alarms or
    attendees changed, as most edits do) keeps the earlier occurrences, unless they were kept to a horizon
    that has moved since: a series is walked inside the storage's write lock."""
    if item.component_name != "VEVENT":
        return None
    text = unfolded(item.serialize())
    events = _ZONE.sub("", text)
    if not _RECURRING.search(events):   # one span: the event's own (no walk, nothing kept)
        return b"" if _STARTS.search(events) else None
    walked = _walked_for(item.vobject_item)
    if walked is not None:
        return walked
    if earlier is not None and still_kept(earlier.occurrences) and earlier.timing == timing(text):
        return earlier.occurrences
    spans = _Spans()
    try:
        radicale_filter.visit_time_ranges(item.vobject_item, "VEVENT", spans.take, lambda start: False)
    except Exception:   # Radicale's own test raises on it too, and says so to the client
        return None
    return spans.occurrences()


class _Spans:
    """A series' spans as the index keeps them, taken in the order Radicale's walk visits them."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []
        self.until = horizon()
        self.kept_until = WHOLE

    def take(self, start: datetime, end: datetime, is_recurrence: bool) -> bool:
        """Keep this span; True where the spans kept end before it (the walk may stop): the series' spans come
        in order of start, so all before this one are kept.  Raises :class:`_Inexact`."""
        first, last = _seconds(start), _seconds(end)
        if not is_recurrence and (first >= self.until or len(self.spans) >= MOST_SPANS):
            self.kept_until = first
            return True
        self.spans.append((first, last))
        return False

    def occurrences(self) -> bytes:
        return kept(self.spans, self.kept_until)


@dataclass(frozen=True, slots=True)
class _Walk:
    """The last bounded series this thread walked for Radicale's range, and its spans."""

    component: weakref.ref[vobject.base.Component]
    occurrences: bytes


_last_walk = threading.local()
_radicale_find_time_range = radicale_item.find_time_range


def time_range_walking_once(vobject_item: vobject.base.Component, tag: str) -> tuple[int, int]:
    """``radicale.item.find_time_range``, the same answer; an event's walk also keeps its spans, as
    :func:`occurrences_of` would walk them, for the same component (module docstring)."""
    _last_walk.walk = None
    if tag != "VEVENT" or not _recurs(vobject_item):
        return _radicale_find_time_range(vobject_item, tag)
    spans = _Spans()
    taking, exact, endless = True, True, False
    start: datetime | None = None
    end: datetime | None = None

    def visit(range_start: datetime, range_end: datetime, is_recurrence: bool) -> bool:
        nonlocal start, end, taking, exact
        if start is None or range_start < start:
            start = range_start
        if end is None or end < range_end:
            end = range_end
        if taking:   # as occurrences_of's walk, which stops where the spans kept end
            try:
                taking = not spans.take(range_start, range_end, is_recurrence)
            except _Inexact:
                taking = exact = False
        return False

    def infinity(range_start: datetime) -> bool:
        nonlocal start, end, endless
        if start is None or range_start < start:
            start = range_start
        end, endless = radicale_filter.DATETIME_MAX, True
        return True

    radicale_filter.visit_time_ranges(vobject_item, tag, visit, infinity)
    if exact and not endless:   # else occurrences_of walks it itself (and finds nothing to keep)
        _last_walk.walk = _Walk(weakref.ref(vobject_item), spans.occurrences())
    start = radicale_filter.DATETIME_MIN if start is None else start
    end = radicale_filter.DATETIME_MAX if end is None else end
    return math.floor(start.timestamp()), math.ceil(end.timestamp())


def _recurs(vobject_item: vobject.base.Component) -> bool:
    """Has one of its events a rule, a date added or an occurrence moved (more than one span)?"""
    return any(name in event.contents for event in vobject_item.contents.get("vevent", ())
               for name in ("rrule", "rdate", "recurrence-id", "exrule"))


def _walked_for(component: vobject.base.Component) -> bytes | None:
    """The spans :func:`time_range_walking_once` kept of this very component (taken once), or None."""
    walk = getattr(_last_walk, "walk", None)
    if walk is None or walk.component() is not component:
        return None
    _last_walk.walk = None
    return walk.occurrences


def install() -> None:
    """Radicale's items take their range from :func:`time_range_walking_once` (once)."""
    radicale_item.find_time_range = time_range_walking_once


def _seconds(moment: datetime) -> int:
    stamp = utc_seconds(moment)
    if stamp != int(stamp):
        raise _Inexact(moment.isoformat())
    return int(stamp)


def event_window(filters: Sequence[ET.Element]) -> tuple[int, int] | None:
    """The time range of a query for events in it and nothing else (``VCALENDAR`` > ``VEVENT`` >
    ``time-range``, the query every client sends for "what is on this week"), in UTC seconds; None for
    any other query (Radicale then decides)."""
    if len(filters) != 1 or filters[0].tag != _caldav("filter") or len(filters[0]) != 1:
        return None
    calendar = filters[0][0]
    if calendar.tag != _caldav("comp-filter") or calendar.get("name", "").upper() != "VCALENDAR" \
            or len(calendar) != 1:
        return None
    event = calendar[0]
    if event.tag != _caldav("comp-filter") or event.get("name", "").upper() != "VEVENT" or len(event) != 1:
        return None
    time_range = event[0]
    if time_range.tag != _caldav("time-range") or not (time_range.get("start") or time_range.get("end")):
        return None
    try:
        return radicale_filter.time_range_timestamps(time_range)
    except ValueError:   # Radicale's own test refuses it, and says so to the client
        return None


def _caldav(name: str) -> str:
    return f"{{urn:ietf:params:xml:ns:caldav}}{name}"
