"""Each person's own part of an event in a shared calendar: its alarms and TRANSP (caldav-sharing
section 5.5.x, "Per-user Calendar Data").

The owner's file holds the event with the owner's alarms.  A sharee who sends
the event with other alarms (or another TRANSP) keeps those for themselves
(:mod:`.personal_data` stores them), and reads the event with their own part
put in place of the owner's (:func:`seen_by`).  What is personal:

- ``VALARM`` components and the ``TRANSP`` property (the draft's MUST);
- Thunderbird's alarm bookkeeping, ``X-MOZ-LASTACK`` and
  ``X-MOZ-SNOOZE-TIME*`` (dismissing a reminder writes it into the event; the
  draft allows X- properties to be personal).

Everything else is *shared*.  Two texts have the same shared part
(:func:`same_shared`) when their events have the same properties and
sub-components once the personal ones are taken out, compared by value (line
order, folding and a date written in UTC or with its TZID do not matter),
ignoring ``DTSTAMP``, ``LAST-MODIFIED`` and ``X-MOZ-GENERATION``, which
clients rewrite with any change; and an override that a client adds only to
carry alarms for one occurrence (the same as the occurrence the series makes)
is not a shared change (the draft's "most compact representation").

A person's part is kept per occurrence: ``""`` for the series (or a single
event), the RECURRENCE-ID as :func:`recurrence_key` writes it for an override.
An override sent without alarms has none for that person; an override the
owner adds later, of which the person has no part, takes the person's part of
the series (as CalendarServer does).  Parsing and writing is icalendar's.

Raises :class:`NotCalendarData` for text icalendar cannot read; nothing else
is expected for calendar data Radicale accepted.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import icalendar

ITEM_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
PERSONAL_PROPERTIES = frozenset({"TRANSP", "X-MOZ-LASTACK"})
PERSONAL_PREFIXES = ("X-MOZ-SNOOZE-TIME",)
PERSONAL_COMPONENTS = frozenset({"VALARM"})
REWRITTEN_BY_CLIENTS = frozenset({"DTSTAMP", "LAST-MODIFIED", "X-MOZ-GENERATION"})
RECURRENCE_RULES = frozenset({"RRULE", "RDATE", "EXDATE", "EXRULE"})
PART = "X-PERSONAL"   # the component a part is kept in (never sent to a client)

# RECURRENCE-ID key -> the part as iCalendar text (a PART component)
Parts = Mapping[str, str]


class NotCalendarData(ValueError):
    """The text is not iCalendar that icalendar can read."""


def is_personal(name: str) -> bool:
    name = name.upper()
    return name in PERSONAL_PROPERTIES or name.startswith(PERSONAL_PREFIXES)


def _parse(text: str) -> icalendar.Calendar:
    import icalendar  # here, not with the module: only requests on personal parts parse with it

    try:
        return icalendar.Calendar.from_ical(text)
    except Exception as e:  # icalendar raises many kinds for bad input
        raise NotCalendarData(f"not valid iCalendar: {e}") from e


def _items(calendar: icalendar.Calendar) -> list[icalendar.cal.Component]:
    return [c for c in calendar.subcomponents if c.name in ITEM_COMPONENTS]


def _moment_key(value: datetime.date) -> str:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            return value.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        return value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d")


def recurrence_key(component: icalendar.cal.Component) -> str:
    """``""`` for a series or a single event; an override's RECURRENCE-ID as a UTC instant
    ("20260323T160000Z"), a floating time or a day."""
    rid = component.get("RECURRENCE-ID")
    return _moment_key(rid.dt) if rid is not None else ""


def _take_part(component: icalendar.cal.Component) -> str | None:
    """Take the personal properties and components out of ``component``; their text (None: none)."""
    import icalendar

    part = icalendar.cal.Component()
    part.name = PART
    for name in [n for n in component if is_personal(n)]:
        part[name] = component[name]
        del component[name]
    for sub in [s for s in component.subcomponents if s.name in PERSONAL_COMPONENTS]:
        part.add_component(sub)
        component.subcomponents.remove(sub)
    return part.to_ical().decode() if len(part) or part.subcomponents else None


def _put_part(component: icalendar.cal.Component, part: str) -> None:
    import icalendar

    found = icalendar.cal.Component.from_ical(part)
    for name, value in found.items():
        component[name] = value
    for sub in found.subcomponents:
        component.add_component(sub)


def _readable(function):
    """Errors of icalendar's values on data it parsed (a missing DTSTART, a day against a time) as
    :class:`NotCalendarData`: the caller then keeps the event as it was sent, or refuses it."""
    def checked(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except NotCalendarData:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            raise NotCalendarData(f"its occurrences cannot be compared: {e!r}") from e
    checked.__doc__, checked.__name__ = function.__doc__, function.__name__
    return checked


@_readable
def parts_of(text: str) -> dict[str, str]:
    """The personal part of each occurrence in ``text`` (an occurrence with none has ``""``)."""
    parts: dict[str, str] = {}
    for component in _items(_parse(text)):
        parts[recurrence_key(component)] = _take_part(component) or ""
    return parts


def _value_key(value: object) -> str:
    dt = getattr(value, "dt", None)
    if isinstance(dt, datetime.date):
        return _moment_key(dt)
    if isinstance(dt, datetime.timedelta):
        return str(dt)
    import icalendar

    dts = getattr(value, "dts", None)
    if isinstance(value, icalendar.prop.vDDDLists) and dts is not None:
        return ",".join(sorted(_value_key(d) for d in dts))
    params = sorted((k.upper(), str(v)) for k, v in getattr(value, "params", {}).items() if k.upper() != "TZID")
    shown = value.to_ical() if hasattr(value, "to_ical") else str(value)
    return f"{params}:{shown.decode() if isinstance(shown, bytes) else shown}"


def _canonical(component: icalendar.cal.Component) -> tuple:
    """``component`` compared by value: its shared properties and sub-components, in any order."""
    lines = []
    for name, values in component.items():
        name = name.upper()
        if is_personal(name) or name in REWRITTEN_BY_CLIENTS:
            continue
        for value in values if isinstance(values, list) else [values]:
            lines.append(f"{name}:{_value_key(value)}")
    subs = sorted(_canonical(s) for s in component.subcomponents if s.name not in PERSONAL_COMPONENTS)
    return component.name, tuple(sorted(lines)), tuple(subs)


def _derived(series: icalendar.cal.Component, key: str, rid: datetime.date) -> icalendar.cal.Component:
    """The occurrence ``rid`` of ``series`` written as an override (RFC 5545 3.8.4.4)."""
    occurrence = copy.deepcopy(series)
    for name in RECURRENCE_RULES:
        occurrence.pop(name, None)
    start = series["DTSTART"].dt
    if isinstance(start, datetime.datetime) and isinstance(rid, datetime.datetime):
        if start.tzinfo is not None and rid.tzinfo is not None:
            rid = rid.astimezone(start.tzinfo)
        elif start.tzinfo is None:
            rid = rid.replace(tzinfo=None)
    for name in ("DTEND", "DUE"):
        if name in series:
            end = series[name].dt
            del occurrence[name]
            occurrence.add(name, rid + (end - start))
    del occurrence["DTSTART"]
    occurrence.add("DTSTART", rid)
    occurrence.add("RECURRENCE-ID", rid)
    return occurrence


def _rid_value(key: str) -> datetime.date:
    if len(key) == 8:
        return datetime.datetime.strptime(key, "%Y%m%d").date()
    moment = datetime.datetime.strptime(key.rstrip("Z"), "%Y%m%dT%H%M%S")
    return moment.replace(tzinfo=datetime.UTC) if key.endswith("Z") else moment


def _is_plain_occurrence(override: icalendar.cal.Component, series: icalendar.cal.Component | None) -> bool:
    """Is ``override`` the occurrence ``series`` makes anyway (perhaps with other alarms)?"""
    if series is None or "DTSTART" not in series or "RECURRENCE-ID" not in override:
        return False
    try:
        derived = _derived(series, recurrence_key(override), override["RECURRENCE-ID"].dt)
    except (TypeError, ValueError, OverflowError):   # a day against a time, a date out of range: not the same
        return False
    return _canonical(override) == _canonical(derived)


@_readable
def same_shared(new_text: str, stored_text: str) -> bool:
    """Do ``new_text`` and ``stored_text`` differ in personal parts only (module docstring)?"""
    new = {recurrence_key(c): c for c in _items(_parse(new_text))}
    old = {recurrence_key(c): c for c in _items(_parse(stored_text))}
    for key in new.keys() | old.keys():
        a, b = new.get(key), old.get(key)
        if a is not None and b is not None:
            if _canonical(a) != _canonical(b):
                return False
        elif key == "":
            return False
        elif a is not None and not _is_plain_occurrence(a, old.get("")):
            return False
        elif b is not None and not _is_plain_occurrence(b, new.get("")):
            return False
    return True


def _occurs(calendar: icalendar.Calendar, rid: datetime.date) -> bool:
    """Does the series of ``calendar`` have an occurrence starting at ``rid``?"""
    import recurring_ical_events

    if not isinstance(rid, datetime.datetime):
        found = recurring_ical_events.of(calendar).at(rid)
        return any(not isinstance(o["DTSTART"].dt, datetime.datetime) and o["DTSTART"].dt == rid for o in found)
    end = rid + datetime.timedelta(seconds=1)
    for occurrence in recurring_ical_events.of(calendar).between(rid, end):
        start = occurrence["DTSTART"].dt
        if isinstance(start, datetime.datetime) and _moment_key(start) == _moment_key(rid):
            return True
    return False


@_readable
def seen_by(stored_text: str, parts: Parts) -> str:
    """``stored_text`` as the person whose ``parts`` these are sees it: every occurrence with their part
    in place of the owner's (the series' part where the occurrence has none of its own), and the
    occurrences they gave a part of their own written as overrides where the owner has none."""
    calendar = _parse(stored_text)
    items = _items(calendar)
    present = set()
    series = None
    for component in items:
        key = recurrence_key(component)
        present.add(key)
        series = component if key == "" else series
        _take_part(component)
        part = parts.get(key, parts.get("", ""))
        if part:
            _put_part(component, part)
    extra = [key for key in parts if key not in present and parts[key]]
    if extra and series is not None and any(name in series for name in ("RRULE", "RDATE")):
        for key in sorted(extra):
            rid = _rid_value(key)
            try:
                occurs = _occurs(calendar, rid)
            except Exception:  # the library refused the series: show no occurrence it cannot confirm
                occurs = False
            if occurs:
                occurrence = _derived(series, key, rid)
                _take_part(occurrence)
                _put_part(occurrence, parts[key])
                calendar.add_component(occurrence)
    return calendar.to_ical().decode()


@_readable
def stored_with(new_text: str, stored_text: str | None) -> str:
    """What a sharee's write leaves in the owner's file: ``new_text``'s shared part with the owner's
    own parts of ``stored_text`` (the series' part for an occurrence new to the file), without the
    overrides that are only the series' occurrence (added to carry the sharee's alarms)."""
    owner = parts_of(stored_text) if stored_text is not None else {}
    calendar = _parse(new_text)
    items = _items(calendar)
    series = next((c for c in items if recurrence_key(c) == ""), None)
    for component in items:
        key = recurrence_key(component)
        _take_part(component)
        if key and key not in owner and _is_plain_occurrence(component, series):
            calendar.subcomponents.remove(component)
            continue
        part = owner.get(key, owner.get("", ""))
        if part:
            _put_part(component, part)
    return calendar.to_ical().decode()


def compact(parts: Mapping[str, str], stored_keys: Iterable[str]) -> dict[str, str]:
    """``parts`` without the occurrences that only repeat the series' part and are not overrides
    of the owner's file (they are the series' occurrences anyway)."""
    kept = set(stored_keys)
    series = parts.get("", "")
    return {k: v for k, v in parts.items() if k == "" or k in kept or v != series}


def to_json(parts: Mapping[str, str]) -> str:
    return json.dumps(dict(parts), sort_keys=True, ensure_ascii=False)


def from_json(text: str) -> dict[str, str]:
    return dict(json.loads(text))


def digest(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()[:32]
