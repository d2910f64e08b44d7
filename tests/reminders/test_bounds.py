"""The bounds of an item's reminders read from its text: every reminder the expansion finds lies within them.

Each case is expanded over fifty years (as the scheduler would, with the calendar's zone for floating and
all-day times) and every reminder found must fire between the bounds; the bounds are also checked to be
tight enough to spare the work they are for (an old event is over, a far one is later).
"""

from __future__ import annotations

import datetime
import random

import pytest

from radicale_ext.reminders.bounds import fire_bounds
from radicale_ext.reminders.times import expand

from ..test_real_calendars import _load_generator
from .test_times import calendar, ts, vevent

UTC = datetime.UTC
FAR_BACK, FAR_AHEAD = ts("1990-01-01 00:00"), ts("2040-01-01 00:00")
ZONES = ("Europe/Berlin", "Pacific/Kiritimati", "Etc/GMT+12", "America/New_York", "Asia/Shanghai")
ALARM = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\n{}\r\nEND:VALARM\r\n"
BERLIN_ZONE = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
               "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
               "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\n"
               "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")

EDGES = {
    "a zone fourteen hours ahead, just after midnight": calendar(vevent(
        "kiritimati", "20270101T003000", tzid="Pacific/Kiritimati", alarms=("TRIGGER:-PT10M",))),
    "a zone twelve hours behind, just before midnight": calendar(vevent(
        "baker", "20261231T233000", tzid="Etc/GMT+12", alarms=("TRIGGER;RELATED=END:PT30M",))),
    "floating, read in a zone fourteen hours ahead": calendar(vevent("floating", "20270101T001500", tzid=None)),
    "all day, the evening before": calendar(vevent(
        "Geburtstag Jürgen", "20270203", tzid=None, lines="", alarms=("TRIGGER:-PT6H",))),
    "a three-week trip, reminded at its end": calendar(vevent(
        "Reise 旅行", "20270301T080000", lines="DURATION:P3W\r\n", alarms=("TRIGGER;RELATED=END:-P1D",))),
    "an absolute trigger a year before": calendar(vevent(
        "absolute", "20280101T100000", alarms=("TRIGGER;VALUE=DATE-TIME:20270101T090000Z",))),
    "monthly on the 31st, six times (months without one skipped)": calendar(vevent(
        "Monatsletzter", "20270131T090000", lines="DURATION:PT1H\r\nRRULE:FREQ=MONTHLY;COUNT=6\r\n")),
    "yearly on 29 February, three times": calendar(vevent(
        "Schalttag", "20280229T120000", lines="DURATION:PT1H\r\nRRULE:FREQ=YEARLY;COUNT=3\r\n")),
    "weekly until a day, an occurrence moved a month past it": calendar(
        vevent("Chor", "20270105T190000", lines="DURATION:PT2H\r\nRRULE:FREQ=WEEKLY;UNTIL=20270302T180000Z\r\n"),
        vevent("Chor", "20270410T190000",
               lines="DURATION:PT2H\r\nRECURRENCE-ID;TZID=Europe/Berlin:20270302T190000\r\n")),
    "every other day, ten times": calendar(vevent(
        "Physio", "20270105T070000", lines="DURATION:PT1H\r\nRRULE:FREQ=DAILY;INTERVAL=2;COUNT=10\r\n")),
    "RDATE periods, one with an end, one with a duration": calendar(vevent(
        "Kurs", "20270105T100000", lines="DURATION:PT1H\r\nRDATE;VALUE=PERIOD:20270301T100000Z/20270305T100000Z,"
        "20270601T100000Z/P2D\r\n", alarms=("TRIGGER;RELATED=END:PT0S",))),
    "with its zone's definition (whose own rules never end)": calendar(BERLIN_ZONE + vevent(
        "defined zone", "20250105T100000")),
    "a zone's name quoted, with a colon and digits in it": calendar(vevent(
        "quoted", "20270105T100000", tzid='"Büro:19990101"')),
    "two alarms, one after the start": calendar(vevent(
        "two alarms", "20270105T100000", alarms=("TRIGGER:-P2D", "TRIGGER:PT5M"))),
}


def _due(text: str, zone: str, default: float | None) -> tuple[list[float], float | None]:
    """Every reminder of ``text`` from 1990 to 2040, and the first after it."""
    result = expand(text, start=FAR_BACK, end=FAR_AHEAD, max_occurrences=5000, floating_zone=zone,
                    default_alarms=[datetime.timedelta(seconds=default)] if default is not None else ())
    return [d.fire_at for d in result.due], result.later


def _within(text: str, zone: str, default: float | None = None) -> tuple[float, float]:
    bounds = fire_bounds(text, default)
    assert bounds is not None, text
    fired, later = _due(text, zone, default)
    assert fired or later, f"the case fires nothing: {text}"
    for at in fired + ([later] if later is not None else []):
        assert bounds[0] <= at <= bounds[1], (datetime.datetime.fromtimestamp(at, UTC), text)
    return bounds


@pytest.mark.parametrize("case", sorted(EDGES))
@pytest.mark.parametrize("zone", ZONES)
def test_every_reminder_of_an_edge_case_lies_within_the_bounds(case: str, zone: str) -> None:
    _within(EDGES[case], zone)
    _within(EDGES[case], zone, default=-3600.0)


def test_every_reminder_of_real_calendars_lies_within_the_bounds() -> None:
    """The benchmark's generator: zones, UTC, all-day and multi-day events, bounded series with EXDATEs and
    moved occurrences, endless weekly series, birthdays; a third with alarms, a calendar default for the rest."""
    generated = _load_generator().generate(400, seed=23)
    rng = random.Random(5)
    checked = 0
    for event in generated.events:
        text = event.text()
        default = None if "BEGIN:VALARM" in text else -rng.choice([600.0, 3600.0, 86400.0])
        _within(text, rng.choice(ZONES), default)
        checked += 1
    assert checked == 400


def test_an_old_event_ends_before_now_and_a_far_one_begins_after_the_window() -> None:
    old = calendar(BERLIN_ZONE + vevent("Elternabend", "20240912T193000"))
    bounds = fire_bounds(old)
    assert bounds is not None and bounds[1] < ts("2024-09-15 00:00")
    far = calendar(vevent("Hochzeit", "20280520T140000", lines="DURATION:PT8H\r\nRRULE:FREQ=YEARLY\r\n"))
    bounds = fire_bounds(far)
    assert bounds is not None and ts("2028-05-18 00:00") <= bounds[0] < ts("2028-05-20 12:45")
    assert bounds[1] == float("inf"), "a series without end reminds for ever"


@pytest.mark.parametrize("text", [
    calendar(vevent("no alarm, no default", "20270105T100000", alarms=())),
    calendar(vevent("unreadable trigger", "20270105T100000", alarms=("TRIGGER:soon",))),
    calendar(vevent("local absolute trigger", "20270105T100000",
                    alarms=("TRIGGER;VALUE=DATE-TIME:20270105T090000",))),
    calendar(vevent("year zero", "00000105T100000")),
    calendar(vevent("no frequency", "20270105T100000", lines="RRULE:COUNT=3\r\n")),
    "not a calendar at all",
])
def test_what_it_cannot_read_is_left_to_the_expansion(text: str) -> None:
    assert fire_bounds(text) is None
