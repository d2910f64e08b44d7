"""How early and how late any reminder of an item could fire, read from its text without parsing it.

Planning an event's reminders parses it and expands its series (:func:`.times.expand`, about 0.5-0.9 ms an
event with alarms); an import of a calendar with years of history asks that of every event, though most of
them lie wholly in the past, or beyond the window, where no reminder is due now.  :func:`fire_bounds` reads
only the dates written in the text and its triggers, and gives an interval that holds every moment a
reminder of the item could fire; the scheduler expands the item only when that interval meets the time it
plans for (docs/reminders.md, "Planning").

The bounds are loose on purpose and never too narrow:

* a date is read as its day alone (``20270105``), whatever its time and zone: every moment of that day in
  any zone (UTC-12 to UTC+14) lies within a day before its start and two days after;
* an event ends at its latest DTEND or DUE, or its start plus its longest DURATION (RDATE periods included);
* a series ends at its RRULE's UNTIL; with COUNT and no BYxxx part at its start plus COUNT periods (twice as
  many for a month, which may skip a 31st, eight times for a year, which may skip a 29 February); with
  anything else it never ends.  RDATE and RECURRENCE-ID dates count as occurrences; EXDATE only removes;
* a reminder fires its trigger's offset from an occurrence's start or end (the calendar's default included),
  or at its absolute time.

Anything it cannot read (a date without eight digits, a trigger that is neither a duration nor a date-time,
a rule without FREQ) gives None: the item is expanded, which says what is wrong.  Definitions of zones
(VTIMEZONE, with their own DTSTART and RRULE) are not the item's dates and are skipped.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field

from ..base.content_lines import unfolded
from .times import DURATION, UTC_TIME

UTC = datetime.UTC
DAY = 86400.0
BEFORE_A_DAY = DAY          # a day's first moment in any zone is at most this before its UTC midnight ...
AFTER_A_DAY = 2 * DAY       # ... and its last at most this after it
#: the longest period of each frequency, in seconds
PERIOD = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": DAY, "WEEKLY": 7 * DAY, "MONTHLY": 31 * DAY,
          "YEARLY": 366 * DAY}
#: how many periods one occurrence may need at most (a month without a 31st, years without a 29 February)
SKIPS = {"MONTHLY": 2, "YEARLY": 8}
OCCURRENCE_DATES = frozenset({"DTSTART", "RDATE", "RECURRENCE-ID"})
END_DATES = frozenset({"DTEND", "DUE"})

_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
#: a content line: its name, its parameters (a quoted value may hold ":" or ";"), its value
_LINE = re.compile(r'([^;:]*)((?:;(?:[^":]|"[^"]*")*)?):(.*)')


@dataclass
class _Reading:
    """What the text says: its dates (UTC midnights of their days), durations, rules and triggers."""

    offsets: list[float]                                   # triggers' offsets from a start or end, in seconds
    starts: list[float] = field(default_factory=list)      # occurrences written out: DTSTART, RDATE, RECURRENCE-ID
    ends: list[float] = field(default_factory=list)        # DTEND, DUE, the ends of RDATE periods
    longest: float = 0.0                                   # the longest DURATION of an occurrence
    until: list[float] = field(default_factory=list)       # rules' UNTIL
    spans: list[float] = field(default_factory=list)       # rules with COUNT: how long after the first start
    endless: bool = False                                  # a rule that never ends
    instants: list[float] = field(default_factory=list)    # absolute triggers

    def last_start(self) -> float:
        """The latest start of any occurrence."""
        if self.endless:
            return math.inf
        return max([*self.starts, *self.until, *(min(self.starts) + span for span in self.spans)])


def fire_bounds(text: str, default_offset: float | None = None) -> tuple[float, float] | None:
    """The earliest and the latest moment (UTC seconds) at which a reminder of the item in ``text`` could
    fire, ``default_offset`` (seconds from each start) being the calendar's default reminder; None where
    the text says something this does not read (module docstring)."""
    reading = _Reading(offsets=[] if default_offset is None else [float(default_offset)])
    try:
        if not _read(text, reading):
            return None
    except (ValueError, OverflowError):
        return None
    earliest: float | None = None
    latest: float | None = None
    if reading.starts and reading.offsets:
        first = min(reading.starts) - BEFORE_A_DAY
        last = max([reading.last_start(), *reading.ends]) + AFTER_A_DAY + reading.longest
        earliest = first + min(reading.offsets)
        latest = last + max(reading.offsets)
    if reading.instants:
        earliest = min(reading.instants if earliest is None else [earliest, *reading.instants])
        latest = max(reading.instants if latest is None else [latest, *reading.instants])
    if earliest is None or latest is None:
        return None
    return earliest, latest


def _read(text: str, reading: _Reading) -> bool:
    """Fill ``reading`` from the text's lines; False where something cannot be read."""
    inside: list[str] = []
    for line in unfolded(text).splitlines():
        found = _LINE.match(line)
        if found is None:
            continue
        name, params, rest = found.group(1).strip().upper(), found.group(2), found.group(3)
        if name in ("BEGIN", "END"):
            kind = rest.strip().upper()
            if name == "BEGIN":
                inside.append(kind)
            elif inside and inside[-1] == kind:
                inside.pop()
            continue
        if "VTIMEZONE" in inside or not inside:
            continue
        if inside[-1] == "VALARM":
            if name == "TRIGGER" and not _trigger(rest.strip(), params, reading):
                return False
            continue
        if name in OCCURRENCE_DATES or name in END_DATES:
            for value in rest.split(","):
                start, _, period_end = value.partition("/")
                (reading.starts if name in OCCURRENCE_DATES else reading.ends).append(_day(start))
                if period_end:
                    if period_end[:1] in "+-P":
                        reading.longest = max(reading.longest, _seconds(period_end))
                    else:
                        reading.ends.append(_day(period_end))
        elif name == "DURATION":
            reading.longest = max(reading.longest, _seconds(rest.strip()))
        elif name == "RRULE":
            _rule(rest, reading)
    return True


def _trigger(value: str, params: str, reading: _Reading) -> bool:
    if UTC_TIME.fullmatch(value.upper()):
        reading.instants.append(datetime.datetime.strptime(value.upper(), "%Y%m%dT%H%M%SZ")
                                .replace(tzinfo=UTC).timestamp())
        return True
    if "VALUE=DATE-TIME" in params.upper():
        return False
    reading.offsets.append(_seconds(value))
    return True


def _rule(rule: str, reading: _Reading) -> None:
    """How far the rule's occurrences reach: its UNTIL, its COUNT's span, or no end."""
    parts = dict(part.partition("=")[::2] for part in rule.strip().upper().split(";") if part)
    frequency = parts.get("FREQ", "")
    if frequency not in PERIOD:
        raise ValueError(f"a rule without a frequency this reads: {rule!r}")
    if "UNTIL" in parts:
        reading.until.append(_day(parts["UNTIL"]))
    elif "COUNT" in parts and not any(key.startswith("BY") for key in parts):
        interval = max(1, int(parts.get("INTERVAL") or "1"))
        reading.spans.append(int(parts["COUNT"]) * interval * PERIOD[frequency] * SKIPS.get(frequency, 1))
    else:
        reading.endless = True


def _day(value: str) -> float:
    """The UTC midnight starting the date written at the value's start (``20270105``, ``20270105T...``)."""
    match = _DATE.match(value.strip())
    if match is None:
        raise ValueError(f"not a date: {value!r}")
    year, month, day = (int(g) for g in match.groups())
    return datetime.datetime(year, month, day, tzinfo=UTC).timestamp()


def _seconds(value: str) -> float:
    match = DURATION.fullmatch(value.strip().upper())
    if match is None or not any(match.groups()[1:]):
        raise ValueError(f"not a duration: {value!r}")
    sign, weeks, days, hours, minutes, seconds = match.groups()
    total = (int(weeks or 0) * 7 * DAY + int(days or 0) * DAY + int(hours or 0) * 3600 + int(minutes or 0) * 60
             + int(seconds or 0))
    return -total if sign == "-" else total
