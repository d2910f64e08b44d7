"""vobject's time zone handling made quicker keeps vobject's answers (radicale_ext/base/vobject_zones.py):
the check of a zone against UTC for every kind of VTIMEZONE, a zone registered under its TZID by the first
event that brings it, and an event in a zone no library knows by name (Outlook's) found at its own time
over HTTP after the second PUT, which no longer builds the zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO

import pytest
import vobject
from dateutil import tz
from vobject import icalendar

from radicale_ext.base import vobject_zones

from ..dav_kit import calendar_query, responses
from ..server import Server
from .test_storage_equivalence import VTIMEZONE_LONDON, VTIMEZONE_OUTLOOK, VTIMEZONE_UTC
from .test_zone_offsets import ZONES

ALL_ZONES = {**ZONES, "London": VTIMEZONE_LONDON, "UTC by another name": VTIMEZONE_UTC}
CALENDAR = "/alice/B%C3%BCro%20%E5%8A%9E%E5%85%AC%E5%AE%A4%20%F0%9F%93%8E/"


@pytest.fixture(autouse=True, scope="module")
def installed() -> None:
    vobject_zones.install()


@pytest.mark.parametrize("name", sorted(ALL_ZONES))
def test_a_zone_compared_with_utc_gets_vobjects_answer(name: str) -> None:
    zone = tz.tzical(StringIO(ALL_ZONES[name])).get()
    expected = vobject_zones._original_tzinfo_eq(zone, icalendar.utc)
    assert vobject_zones.tzinfo_eq(zone, icalendar.utc) is expected
    assert vobject_zones.tzinfo_eq(icalendar.utc, zone) is vobject_zones._original_tzinfo_eq(icalendar.utc, zone)
    assert expected is (name == "UTC by another name")
    assert icalendar.tzinfo_eq is vobject_zones.tzinfo_eq   # vobject's own calls come here


def event(zone: str, tzid: str, start: str = "20260105T100000", uid: str = "büro-1") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//radicale-ext tests//EN\r\n" + zone +
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tzid}:{start}\r\n"
            "DURATION:PT1H\r\nSUMMARY:Teamrunde 团队 ☕\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_the_first_event_of_a_zone_registers_it_and_later_ones_use_it() -> None:
    tzid = "Ostfriesland/Jever (Büro)"     # a name only this test uses: not registered yet in this process
    zone = VTIMEZONE_OUTLOOK.replace("W. Europe Standard Time", tzid)
    assert icalendar.getTzid(tzid, False) is None
    first = vobject.readOne(event(zone, tzid))
    registered = icalendar.getTzid(tzid, False)
    assert registered is not None and first.vevent.dtstart.value.tzinfo is registered
    later = vobject.readOne(event(zone.replace("TZNAME:CET", "TZNAME:MEZ"), tzid, "20260706T100000"))
    start = later.vevent.dtstart.value
    assert start.tzinfo is registered                  # the first zone kept, as vobject keeps it
    assert start.utcoffset() == timedelta(hours=2)     # summer time in July
    assert "TZNAME:MEZ" in later.serialize()           # the VTIMEZONE itself is kept as sent


def test_a_vtimezone_utc_by_another_name_is_not_registered() -> None:
    vobject.readOne(event(VTIMEZONE_UTC.replace("Etc/UTC", "Weltzeit"), "Weltzeit"))
    assert icalendar.getTzid("Weltzeit", False) is None


def hrefs_between(server: Server, start: datetime, end: datetime) -> list[str]:
    answer = server.request("REPORT", CALENDAR, "alice", calendar_query("VEVENT", f"{start:%Y%m%dT%H%M%SZ}",
                                                                         f"{end:%Y%m%dT%H%M%SZ}"),
                            headers={"Depth": "1", "Content-Type": "application/xml"})
    assert answer.status_code == 207, answer.text
    return sorted(href for href, _ in responses(answer.content))


def test_events_in_a_zone_known_only_by_its_vtimezone_are_found_at_their_own_time(server: Server) -> None:
    """10:00 in Outlook's "W. Europe Standard Time" is 09:00 UTC in winter; read as floating time (the zone
    lost) it would be 10:00 UTC.  The second and third PUTs find the zone already registered."""
    tzid = "W. Europe Standard Time"
    assert server.request("MKCALENDAR", CALENDAR, "alice").status_code == 201
    for n, start in enumerate(("20260105T100000", "20260112T100000", "20260112T100000")):
        answer = server.request("PUT", f"{CALENDAR}b%C3%BCro-{n}.ics", "alice",
                                event(VTIMEZONE_OUTLOOK, tzid, start, uid=f"büro-{n}"),
                                headers={"Content-Type": "text/calendar"})
        assert answer.status_code == 201, answer.text
    for day in (5, 12):
        at_nine = datetime(2026, 1, day, 9, 15)
        found = hrefs_between(server, at_nine, at_nine + timedelta(minutes=15))
        assert found == ([f"{CALENDAR}b%C3%BCro-0.ics"] if day == 5 else
                         [f"{CALENDAR}b%C3%BCro-1.ics", f"{CALENDAR}b%C3%BCro-2.ics"])
        assert hrefs_between(server, at_nine + timedelta(hours=1), at_nine + timedelta(hours=1, minutes=30)) == []
    text = server.request("GET", f"{CALENDAR}b%C3%BCro-2.ics", "alice").text
    assert "DTSTART;TZID=W. Europe Standard Time:20260112T100000" in text and "Teamrunde 团队 ☕" in text
