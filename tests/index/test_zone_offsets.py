"""A moment's UTC seconds found by bisection in a VTIMEZONE's listed onsets
(radicale_ext/index/zone_offsets.py) are dateutil's own, at every half hour around the changes of
2021, 2033 and 2040, in both folds, before the first onset and past the listed ones, for zones of both
hemispheres, a half-hour shift, a zone whose rules changed (a rule with UNTIL and one after it, and
RDATEs) and a zone without daylight saving."""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta

import pytest
from dateutil import tz

from radicale_ext.index import zone_offsets
from radicale_ext.index.zone_offsets import utc_seconds

from .test_occurrences import BERLIN, NEW_YORK, SHANGHAI

SYDNEY = ("BEGIN:VTIMEZONE\r\nTZID:Australia/Sydney\r\nBEGIN:STANDARD\r\nDTSTART:20080406T030000\r\n"
          "RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU\r\nTZOFFSETFROM:+1100\r\nTZOFFSETTO:+1000\r\nEND:STANDARD\r\n"
          "BEGIN:DAYLIGHT\r\nDTSTART:20081005T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SU\r\n"
          "TZOFFSETFROM:+1000\r\nTZOFFSETTO:+1100\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
LORD_HOWE = ("BEGIN:VTIMEZONE\r\nTZID:Australia/Lord_Howe\r\nBEGIN:STANDARD\r\nDTSTART:20080406T020000\r\n"
             "RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU\r\nTZOFFSETFROM:+1100\r\nTZOFFSETTO:+1030\r\nEND:STANDARD\r\n"
             "BEGIN:DAYLIGHT\r\nDTSTART:20081005T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SU\r\n"
             "TZOFFSETFROM:+1030\r\nTZOFFSETTO:+1100\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
# the United States' rules before and after 2007 (as Apple's clients send them), and two RDATE changes
CHANGED = ("BEGIN:VTIMEZONE\r\nTZID:Amerika/Geändert\r\n"
           "BEGIN:DAYLIGHT\r\nDTSTART:19870405T020000\r\nRRULE:FREQ=YEARLY;UNTIL=20060402T070000Z;BYMONTH=4;BYDAY=1SU"
           "\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n"
           "BEGIN:STANDARD\r\nDTSTART:19671029T020000\r\nRRULE:FREQ=YEARLY;UNTIL=20061029T060000Z;BYMONTH=10;BYDAY=-1SU"
           "\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n"
           "BEGIN:DAYLIGHT\r\nDTSTART:20070311T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"
           "TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n"
           "BEGIN:STANDARD\r\nDTSTART:20071104T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"
           "TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n"
           "BEGIN:STANDARD\r\nDTSTART:19600101T000000\r\nRDATE:19600101T000000,19650601T000000\r\n"
           "TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")
ZONES = {"Berlin": BERLIN, "New York": NEW_YORK, "Shanghai": SHANGHAI, "Sydney": SYDNEY, "Lord Howe": LORD_HOWE,
         "rules changed": CHANGED}


def zone(text: str) -> tz.tzical:
    return tz.tzical(io.StringIO(f"BEGIN:VCALENDAR\r\n{text}END:VCALENDAR\r\n")).get()


def around_changes(years: tuple[int, ...]) -> list[datetime]:
    """Every half hour of the days around each March/April and October/November change."""
    moments = []
    for year in years:
        for month, first in ((3, 6), (3, 24), (4, 1), (10, 1), (10, 24), (11, 1)):
            start = datetime(year, month, first)
            moments.extend(start + timedelta(minutes=30 * i) for i in range(48 * 8))
    return moments


@pytest.mark.parametrize("name", sorted(ZONES))
def test_every_moment_gets_dateutils_seconds(name: str) -> None:
    vtimezone = zone(ZONES[name])
    rng = random.Random(name)
    moments = around_changes((2021, 2033, 2040))
    moments += [datetime(1950, 1, 1) + timedelta(minutes=rng.randrange(100 * 366 * 24 * 60)) for _ in range(500)]
    moments += [datetime(1955, 6, 1), datetime(2200, 7, 1, 12), datetime(9000, 1, 1)]
    for naive in moments:
        for fold in (0, 1):
            moment = naive.replace(tzinfo=vtimezone, fold=fold)
            assert utc_seconds(moment) == moment.timestamp(), (name, moment, fold)


def test_a_zone_is_listed_once_and_other_zones_are_left_to_datetime() -> None:
    berlin = zone(BERLIN)
    utc_seconds(datetime(2026, 3, 29, 2, 30, tzinfo=berlin))
    listed = zone_offsets._zones[berlin]
    utc_seconds(datetime(2027, 3, 29, 2, 30, tzinfo=berlin))
    assert zone_offsets._zones[berlin] is listed and listed is not None
    assert len(listed.parts) == 2 and all(not part.complete for part in listed.parts)
    for other in (tz.UTC, tz.gettz("Europe/Berlin")):
        moment = datetime(2026, 3, 29, 2, 30, tzinfo=other)
        assert utc_seconds(moment) == moment.timestamp()
