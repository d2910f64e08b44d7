"""When an event's reminders are due: its VALARM triggers (RFC 5545 3.6.6, 3.8.6.3) at each occurrence.

Occurrences come from ``recurring-ical-events`` (RRULE, RDATE, EXDATE and
RECURRENCE-ID overrides, RFC 5545 3.8.5), one series (UID) at a time, lazily,
in a window ``[start, end)``: at most ``max_occurrences`` per series, so a
series that never ends, or one that repeats every second, costs bounded work
(such a series is reported once in :attr:`Expansion.problems`).

Times: a DATE-TIME with a TZID is read in that zone; a floating time or an
all-day DATE is read in the calendar's zone (``floating_zone``, RFC 4791
5.2.2's ``calendar-timezone``), never in the server's.  A trigger relative
to the start (or, with ``RELATED=END``, the end) keeps whole days as days of
the wall clock (so "1 day before 18:00" is 18:00 the day before, across a DST
change) and the rest as exact time (RFC 5545 3.3.6); an absolute trigger is a
UTC instant.

Nothing here raises for bad input: a calendar that cannot be parsed, an
alarm whose trigger is malformed, a series the library refuses, each becomes
a sentence in :attr:`Expansion.problems` and is skipped.
"""

from __future__ import annotations

import datetime
import functools
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..base.content_lines import unfolded
from ..base.names import shown
from ..notices.zones import zone as zone_by_name

if TYPE_CHECKING:
    import icalendar

UTC = datetime.UTC
SILENT_ACTIONS = frozenset({"NONE"})    # RFC 9074 section 7: an alarm that does nothing


@dataclass(frozen=True)
class Alarm:
    """One reminder rule: ``before`` relative to start/end, or an absolute instant."""

    key: str                                  # stable name: the same rule gives the same key
    offset: datetime.timedelta | None = None  # negative: before
    related_end: bool = False
    at: datetime.datetime | None = None       # absolute trigger (UTC)


@dataclass(frozen=True)
class Due:
    """A reminder of one occurrence, due at ``fire_at`` (UTC seconds)."""

    uid: str
    occurrence: str        # the occurrence's start as a UTC instant ("20260105T170000Z") or a day ("20260105")
    alarm: str             # :attr:`Alarm.key`
    fire_at: float
    starts_at: float       # the occurrence's start, UTC seconds
    summary: str
    start_text: str        # DTSTART as written for this occurrence (for the notice's words)
    start_tzid: str | None
    component: str = "VEVENT"


@dataclass
class Expansion:
    due: list[Due] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    recurring: bool = False       # some series recurs: the window must be extended later
    capped: bool = False          # some series hit the cap
    later: float | None = None    # the earliest reminder after the window (UTC seconds): planned when it comes near


#: a DURATION value (RFC 5545 3.3.6): its sign, weeks, days, hours, minutes and seconds
DURATION = re.compile(r"([+-]?)P(?:(\d+)W|(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?)")
UTC_TIME = re.compile(r"\d{8}T\d{6}Z")


def _readable_trigger(value: str) -> bool:
    value = value.upper()
    if UTC_TIME.fullmatch(value):
        return True
    return bool(DURATION.fullmatch(value)) and any(c.isdigit() for c in value) and not value.endswith("T")


def without_unreadable_alarms(text: str) -> tuple[str, list[str]]:
    """``text`` without the VALARMs whose TRIGGER no parser could read (icalendar refuses the whole
    calendar for one of them), and those triggers' values."""
    lines = unfolded(text).splitlines()
    kept: list[str] = []
    alarm: list[str] | None = None
    dropped: list[str] = []
    for line in lines:
        upper = line.upper()
        if upper == "BEGIN:VALARM":
            alarm = [line]
            continue
        if alarm is None:
            kept.append(line)
            continue
        alarm.append(line)
        if upper == "END:VALARM":
            triggers = [a.split(":", 1)[1].strip() for a in alarm if a.upper().startswith("TRIGGER") and ":" in a]
            bad = [v for v in triggers if not _readable_trigger(v)]
            if bad or not any(a.upper().startswith("TRIGGER") for a in alarm):
                dropped += bad or ["(none)"]
            else:
                kept += alarm
            alarm = None
    return ("\r\n".join(kept) + "\r\n", dropped) if dropped else (text, [])


def zone_named(name: str | None) -> datetime.tzinfo:
    return zone_by_name(name) or UTC


_TZID_PARAM = re.compile(r';TZID=("[^"]*"|[^;:]*)', re.IGNORECASE)
_VTIMEZONE_ID = re.compile(r"^TZID:(.*?)\s*$", re.IGNORECASE | re.MULTILINE)


def without_unknown_zones(text: str) -> tuple[str, list[str]]:
    """``text`` without the TZID parameters that name neither a zone nor a VTIMEZONE of the calendar
    (their times are then floating, read in the calendar's zone), and those TZIDs.  icalendar reads
    an unknown TZID as floating too, but raises for some (a folder of the zone database, ``America``,
    or a name too long for a file name), refusing the whole calendar."""
    text_unfolded = unfolded(text)
    defined = {m.strip() for m in _VTIMEZONE_ID.findall(text_unfolded.replace("\r\n", "\n"))}
    unknown: list[str] = []

    def strip(match: re.Match[str]) -> str:
        name = match.group(1).strip('"').strip()
        if name in defined or zone_by_name(name) is not None:
            return match.group(0)
        if name not in unknown:
            unknown.append(name)
        return ""

    cleaned = _TZID_PARAM.sub(strip, text_unfolded)
    return (cleaned, unknown) if unknown else (text, [])


def alarm_of(component: icalendar.cal.Component) -> Alarm:
    """A VALARM's rule; raises ValueError for a trigger that is missing or malformed."""
    trigger = component.get("TRIGGER")
    if trigger is None:
        raise ValueError("VALARM without TRIGGER")
    try:
        value = trigger.dt
    except Exception as e:  # icalendar keeps what it could not parse as text
        raise ValueError(f"TRIGGER {trigger.to_ical()!r} cannot be read") from e
    related_end = str(trigger.params.get("RELATED", "START")).upper() == "END"
    if isinstance(value, datetime.timedelta):
        return Alarm(key=relative_key(value, related_end), offset=value, related_end=related_end)
    if isinstance(value, datetime.datetime):
        at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return Alarm(key=f"at:{at:%Y%m%dT%H%M%SZ}", at=at)
    raise ValueError(f"TRIGGER {trigger.to_ical()!r} is neither a duration nor a date-time")


def relative_key(offset: datetime.timedelta, related_end: bool = False) -> str:
    seconds = int(offset.total_seconds())
    return f"{'end' if related_end else 'start'}:{seconds:+d}"


def _moment(value: datetime.date, zone: datetime.tzinfo) -> datetime.datetime:
    if not isinstance(value, datetime.datetime):
        return datetime.datetime.combine(value, datetime.time(), zone)
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def fire_time(alarm: Alarm, start: datetime.datetime, end: datetime.datetime) -> datetime.datetime:
    """When ``alarm`` fires for an occurrence from ``start`` to ``end`` (aware datetimes)."""
    if alarm.at is not None:
        return alarm.at
    assert alarm.offset is not None
    anchor = end if alarm.related_end else start
    days = datetime.timedelta(days=alarm.offset.days) if abs(alarm.offset) >= datetime.timedelta(days=1) else None
    if days is None:
        return (anchor.astimezone(UTC) + alarm.offset)
    rest = alarm.offset - days
    # whole days on the wall clock (Python adds to an aware datetime in its own zone's wall time)
    shifted = anchor + days
    zone = shifted.tzinfo
    if isinstance(zone, zoneinfo.ZoneInfo):   # re-resolve the UTC offset of the new wall time
        shifted = shifted.replace(tzinfo=None).replace(tzinfo=zone)
    return shifted.astimezone(UTC) + rest


def occurrence_name(start: datetime.date) -> str:
    if isinstance(start, datetime.datetime):
        return f"{start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{start:%Y%m%d}"


def _start_text(value: datetime.date) -> tuple[str, str | None]:
    if not isinstance(value, datetime.datetime):
        return f"{value:%Y%m%d}", None
    if value.tzinfo is None:
        return f"{value:%Y%m%dT%H%M%S}", None
    if value.utcoffset() == datetime.timedelta(0) and not isinstance(value.tzinfo, zoneinfo.ZoneInfo):
        return f"{value:%Y%m%dT%H%M%SZ}", None
    key = getattr(value.tzinfo, "key", None)
    return f"{value:%Y%m%dT%H%M%S}", key


def _series(calendar: icalendar.Calendar) -> dict[str, icalendar.Calendar]:
    """One small calendar per UID (its components plus every VTIMEZONE), so that one series'
    occurrences never crowd out another's."""
    import icalendar

    zones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    series: dict[str, icalendar.Calendar] = {}
    for component in calendar.subcomponents:
        if component.name != "VEVENT":
            continue
        uid = str(component.get("UID", ""))
        if uid not in series:
            series[uid] = icalendar.Calendar()
            for z in zones:
                series[uid].add_component(z)
        series[uid].add_component(component)
    return series


_VTIMEZONE = re.compile(r"^BEGIN:VTIMEZONE\r?\n.*?^END:VTIMEZONE[ \t]*(?:\r?\n|\Z)",
                        re.IGNORECASE | re.MULTILINE | re.DOTALL)


@functools.cache
def _zone_database() -> frozenset[str]:
    """The zones of the zone database icalendar reads TZIDs from (its default provider, zoneinfo)."""
    return frozenset(zoneinfo.available_timezones())


def without_known_zones(text: str) -> str:
    """``text`` without the VTIMEZONEs that icalendar would not read: one whose TZID names a zone of its
    zone database is set aside as it parses (``tzp.cache_timezone_component``), and that zone is used for
    its times.  Parsing them was half of the work of planning a typical event's reminders (an event
    written with its zone's definition, as every client writes one)."""
    known = _zone_database()

    def kept(match: re.Match[str]) -> str:
        block = unfolded(match.group(0))
        names = [m.strip() for m in _VTIMEZONE_ID.findall(block.replace("\r\n", "\n"))]
        if names and (names[0].strip("/") in known or names[0] in known):
            return ""
        return match.group(0)

    return _VTIMEZONE.sub(kept, text) if "VTIMEZONE" in text.upper() else text


def expand(text: str, *, start: float, end: float, max_occurrences: int, floating_zone: str | None = None,
           default_alarms: Iterable[datetime.timedelta] = ()) -> Expansion:
    """Every reminder of the events in ``text`` due in ``[start, end)`` (UTC seconds).

    ``default_alarms``: the calendar's default reminders (offsets from each start), added to
    the event's own alarms unless one of those fires at the same moment.
    """
    result = Expansion()
    text, dropped = without_unreadable_alarms(text)
    result.problems += [f"a reminder was skipped: TRIGGER {t!r} is neither a duration nor a UTC date-time"
                        for t in dropped]
    text, unknown = without_unknown_zones(text)
    result.problems += [f"TZID {shown(t)} names no time zone: its times are read in the calendar's zone"
                        for t in unknown]
    text = without_known_zones(text)
    import icalendar  # here, not with the module: only the notice worker's process expands reminders

    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as e:  # any parse error: the item is skipped, the reason said
        result.problems.append(f"not valid iCalendar: {e}")
        return result
    calendar_zone = zone_named(floating_zone)
    defaults = [Alarm(key=f"default:{int(o.total_seconds()):+d}", offset=o) for o in default_alarms]
    window_start = datetime.datetime.fromtimestamp(start, UTC)
    for uid, series in _series(calendar).items():
        try:
            _expand_series(uid, series, window_start, end, max_occurrences, calendar_zone, defaults, result)
        except (ValueError, OverflowError, TypeError, KeyError, AttributeError, OSError) as e:
            # dates at the edge of what Python holds (year 1, 9999), values icalendar could not type
            result.problems.append(f"event {shown(uid)}: its reminders cannot be computed: {e}")
    return result


def _alarms(component: icalendar.cal.Component, uid: str, problems: list[str]) -> list[Alarm]:
    alarms = []
    for sub in component.subcomponents:
        if sub.name != "VALARM" or str(sub.get("ACTION", "DISPLAY")).upper() in SILENT_ACTIONS:
            continue
        try:
            alarms.append(alarm_of(sub))
        except ValueError as e:
            problems.append(f"event {uid!r}: a reminder was skipped: {e}")
    return alarms


PERIOD = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 7 * 86400,
          "MONTHLY": 28 * 86400, "YEARLY": 365 * 86400}
_EXPANDING = ("BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH")
LOOK_BACK = 7 * 86400     # occurrences that began this long before the window may still have an alarm in it
ONE_OFF_UNTIL = datetime.datetime(9000, 1, 1, tzinfo=UTC).timestamp()   # how far a one-off event is looked for


def seconds_between_occurrences(series: icalendar.Calendar) -> float | None:
    """A lower estimate of the time between two occurrences of the series' RRULEs (None: no RRULE):
    the frequency times the interval, divided by how many occurrences its BYxxx parts make per period."""
    shortest = None
    for component in series.walk("VEVENT"):
        rule = component.get("RRULE")
        if rule is None:
            continue
        try:
            period = PERIOD[str(rule.get("FREQ", ["DAILY"])[0]).upper()] * max(1, int(rule.get("INTERVAL", [1])[0]))
        except (KeyError, ValueError, TypeError, IndexError):
            continue
        per_period = 1
        for part in _EXPANDING:
            per_period *= max(1, len(rule.get(part, [])))
        gap = period / per_period
        shortest = gap if shortest is None else min(shortest, gap)
    return shortest


def _expand_series(uid: str, series: icalendar.Calendar, window_start: datetime.datetime, end: float,
                   max_occurrences: int, zone: datetime.tzinfo, defaults: list[Alarm], result: Expansion) -> None:
    look_back, until = LOOK_BACK, end + LOOK_BACK
    if any("RRULE" in c or "RDATE" in c for c in series.walk("VEVENT")):
        result.recurring = True
    else:   # one occurrence: read it wherever it lies, so that a reminder beyond the window is known (``later``)
        until = max(until, ONE_OFF_UNTIL)
    gap = seconds_between_occurrences(series)
    if gap is not None and gap * max_occurrences < until - window_start.timestamp() + LOOK_BACK:
        # so frequent that the window would hold more than the cap: expand only what the cap allows
        look_back = min(LOOK_BACK, gap)
        first = min((_moment(c["DTSTART"].dt, zone).timestamp() for c in series.walk("VEVENT") if "DTSTART" in c),
                    default=window_start.timestamp())
        until = max(window_start.timestamp(), first) + gap * max_occurrences
        result.capped = True
        result.problems.append(f"event {uid!r} repeats about every {gap:g} s: only {max_occurrences} occurrences "
                               f"(to {datetime.datetime.fromtimestamp(until, UTC):%Y-%m-%d %H:%M} UTC) are reminded")
    import recurring_ical_events

    try:
        occurrences = recurring_ical_events.of(series, skip_bad_series=True).between(
            window_start - datetime.timedelta(seconds=look_back), datetime.datetime.fromtimestamp(until, UTC))
        occurrences = sorted(occurrences, key=lambda o: _moment(o["DTSTART"].dt, zone))
    except Exception as e:  # the library refused the series (e.g. an RRULE it cannot read)
        result.problems.append(f"event {uid!r}: its recurrence cannot be expanded: {e}")
        return
    if len(occurrences) > max_occurrences:
        if not result.capped:
            result.problems.append(f"event {uid!r}: more than {max_occurrences} occurrences in the window; "
                                   "only the first are reminded")
        result.capped = True
        occurrences = occurrences[:max_occurrences]
    warned: set[str] = set()
    for occurrence in occurrences:
        begins = _moment(occurrence["DTSTART"].dt, zone)
        _occurrence_due(uid, occurrence, begins, zone, defaults, window_start.timestamp(), end, result, warned)


def _fire_time_or_none(alarm: Alarm, begins: datetime.datetime, ends: datetime.datetime, uid: str,
                       result: Expansion, warned: set[str]) -> datetime.datetime | None:
    """:func:`fire_time`, or None (said once) for a trigger so far off that no calendar holds it."""
    try:
        return fire_time(alarm, begins, ends)
    except OverflowError:
        problem = (f"event {shown(uid)}: a reminder was skipped: its trigger ({alarm.key}) falls outside "
                   "the years 1-9999")
        if problem not in warned:
            warned.add(problem)
            result.problems.append(problem)
        return None


def _occurrence_due(uid: str, occurrence: icalendar.cal.Component, begins: datetime.datetime, zone: datetime.tzinfo,
                    defaults: list[Alarm], start: float, end: float, result: Expansion, warned: set[str]) -> None:
    ends = _moment(occurrence.end, zone) if occurrence.get("DTEND") or occurrence.get("DURATION") else begins
    problems: list[str] = []
    own = _alarms(occurrence, uid, problems)
    for problem in problems:
        if problem not in warned:
            warned.add(problem)
            result.problems.append(problem)
    fires: dict[str, datetime.datetime] = {}
    for alarm in own:
        moment = _fire_time_or_none(alarm, begins, ends, uid, result, warned)
        if moment is not None:
            fires[alarm.key] = moment
    taken = set(fires.values())
    for alarm in defaults:
        moment = _fire_time_or_none(alarm, begins, ends, uid, result, warned)
        if moment is not None and moment not in taken:
            fires[alarm.key] = moment
    if not fires:
        return
    text, tzid = _start_text(occurrence["DTSTART"].dt)
    if tzid is None and isinstance(zone, zoneinfo.ZoneInfo) and "Z" not in text:
        tzid = zone.key       # floating or all-day: shown in the calendar's zone
    summary = str(occurrence.get("SUMMARY", "")).strip()
    name = occurrence_name(begins if isinstance(occurrence["DTSTART"].dt, datetime.datetime) else
                           occurrence["DTSTART"].dt)
    for key, moment in fires.items():
        at = moment.timestamp()
        if start <= at < end:
            result.due.append(Due(uid=uid, occurrence=name, alarm=key, fire_at=at, starts_at=begins.timestamp(),
                                  summary=summary, start_text=text, start_tzid=tzid))
        elif at >= end:
            result.later = at if result.later is None else min(result.later, at)
