"""vobject's time zone handling made quicker keeps vobject's answers (radicale_ext/base/vobject_zones.py):
the check of a zone against UTC for every kind of VTIMEZONE, a zone registered under its TZID by the first
event that brings it, and an event in a zone no library knows by name (Outlook's) found at its own time
over HTTP after the second PUT, which no longer builds the zone; and the VTIMEZONE vobject writes for an
event that names a zone without sending one, built once per zone, the same as vobject's every time."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from io import StringIO

import pytest
import pytz
import radicale.item as radicale_item
import vobject
from dateutil import tz
from vobject import icalendar

from radicale_ext.base import vobject_zones
from radicale_ext.plugins.indexed_items import facts_of
from radicale_ext.plugins.occurrence_spans import occurrences_of

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


# zones whose rules vobject's search has to get right: both hemispheres, no daylight saving, half an hour of
# it, rules changed within 2000-2030 (New York 2007, Moscow 2011 and 2014, Samoa's day skipped in 2011,
# São Paulo's saving ended in 2019, Morocco's Ramadan breaks), offsets of quarter hours
WRITTEN_ZONES = ("Europe/Berlin", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe", "Australia/Sydney",
                 "Europe/Moscow", "Pacific/Apia", "America/Sao_Paulo", "Africa/Casablanca", "Asia/Kathmandu",
                 "Pacific/Chatham", "America/St_Johns", "Europe/Dublin", "Asia/Kolkata", "Antarctica/Troll")


def calendar_naming(tzid: str, uid: str = "zahnarzt-müller") -> str:
    """An event that names its zone by TZID and sends no VTIMEZONE (the server writes one)."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//radicale-ext tests//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tzid}:20260329T013000\r\n"
            "DURATION:PT1H\r\nSUMMARY:Zahnarzt Müller 牙医 🦷\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def written_by_vobject_itself(text: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as m:
        m.setattr(icalendar.TimezoneComponent, "tzinfo",
                  property(icalendar.TimezoneComponent.gettzinfo, vobject_zones._original_settzinfo))
        return vobject.readOne(text).serialize()


@pytest.mark.parametrize("tzid", WRITTEN_ZONES)
def test_a_vtimezone_the_client_did_not_send_is_written_as_vobject_writes_it(
        tzid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = calendar_naming(tzid)
    expected = written_by_vobject_itself(text, monkeypatch)
    assert f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\n" in expected
    built = []
    build = vobject_zones._original_settzinfo
    monkeypatch.setattr(vobject_zones, "_original_settzinfo", lambda *a: built.append(a) or build(*a))
    vobject_zones._BUILT.clear()
    assert vobject.readOne(text).serialize() == expected     # built by vobject: its search through the years
    assert len(built) == 1
    for uid in ("zweiter", "第三"):                          # copied: not built again, the same text
        assert vobject.readOne(calendar_naming(tzid, uid)).serialize() == expected.replace("zahnarzt-müller", uid)
    assert len(built) == 1


def test_each_calendar_gets_its_own_copy_of_a_written_vtimezone() -> None:
    zone = pytz.timezone("Europe/Berlin")
    by_vobject = icalendar.TimezoneComponent()
    vobject_zones._original_settzinfo(by_vobject, zone)
    first = icalendar.TimezoneComponent(tzinfo=zone)
    second = icalendar.TimezoneComponent(tzinfo=zone)
    first.standard.add("tzname").value = "verändert"         # a change to one copy ...
    first.tzid.value = "Anderswo"
    third = icalendar.TimezoneComponent(tzinfo=zone)
    for copy in (second, third):                              # ... reaches no other
        assert copy.serialize() == by_vobject.serialize()
    assert "Anderswo" in first.serialize() and "verändert" in first.serialize()


def test_a_dateutil_zone_gets_vobjects_vtimezone_too(monkeypatch: pytest.MonkeyPatch) -> None:
    zone = tz.gettz("America/Sao_Paulo")
    by_vobject = icalendar.TimezoneComponent()
    vobject_zones._original_settzinfo(by_vobject, zone)
    assert icalendar.TimezoneComponent(tzinfo=zone).serialize() == by_vobject.serialize()
    assert icalendar.TimezoneComponent(tzinfo=zone).serialize() == by_vobject.serialize()


@pytest.mark.parametrize("name", ["Europe/London", "Africa/Casablanca", "Europe/Berlin", "London sent", "UTC sent"])
def test_a_zone_is_compared_with_utc_once_with_vobjects_answer(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """London's and Casablanca's offset on 1 January 2000 is UTC's: vobject compares their changes year by
    year to tell them apart, for every date-time it writes; the answer is kept per zone."""
    sent = {"London sent": VTIMEZONE_LONDON, "UTC sent": VTIMEZONE_UTC}
    zone = tz.tzical(StringIO(sent[name])).get() if name in sent else pytz.timezone(name)
    expected = vobject_zones._original_tzinfo_eq(zone, icalendar.utc)
    assert expected is (name == "UTC sent")
    asked = []
    compare = vobject_zones._original_tzinfo_eq
    monkeypatch.setattr(vobject_zones, "_original_tzinfo_eq", lambda *a: asked.append(a) or compare(*a))
    vobject_zones._SAME_AS_UTC.clear()
    answers = [vobject_zones.tzinfo_eq(zone, icalendar.utc), vobject_zones.tzinfo_eq(icalendar.utc, zone),
               vobject_zones.tzinfo_eq(zone, icalendar.utc)]
    assert answers == [expected] * 3
    assert len(asked) == 1


HELSINKI = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Helsinki\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0300\r\n"
            "TZNAME:EEST\r\nDTSTART:19810329T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
            "BEGIN:STANDARD\r\nTZOFFSETFROM:+0300\r\nTZOFFSETTO:+0200\r\nTZNAME:EET\r\nDTSTART:19961027T040000\r\n"
            "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")


def weekly(uid: str, tzid: str, start: str, end: str, summary: str, zone: str = "", extra: str = "") -> str:
    """A weekly series of 20 in ``tzid``, with ``zone`` (a VTIMEZONE) or none."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//radicale-ext tests//EN\r\n" + zone +
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tzid}:{start}\r\n"
            f"DTEND;TZID={tzid}:{end}\r\nRRULE:FREQ=WEEKLY;COUNT=20\r\n{extra}SUMMARY:{summary}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def put_calendar(server: Server, href: str, text: str) -> None:
    assert server.request("PUT", href, "alice", text, headers={"Content-Type": "text/calendar"}).status_code == 201


def found_at(server: Server, calendar: str, start: str, end: str) -> list[str]:
    """The names of the calendar's events that a week's query (VEVENT time-range) finds."""
    answer = server.request("REPORT", calendar, "alice", calendar_query("VEVENT", start, end),
                            headers={"Depth": "1", "Content-Type": "application/xml"})
    assert answer.status_code == 207, answer.text
    return sorted(href.rsplit("/", 1)[-1] for href, _ in responses(answer.content))


def test_an_event_naming_its_zone_does_not_shift_later_series_of_that_zone(fresh_server: Server) -> None:
    """One client sends an event that names Europe/Helsinki without a VTIMEZONE (vobject looks the zone up
    in pytz); then another sends a weekly series with Helsinki's VTIMEZONE, from October (EEST, +03:00)
    into winter (EET, +02:00).  In December the series is at 18:00 EET, 16:00 UTC, as its own zone says:
    before, vobject had kept pytz's zone for the process and the series stayed at +03:00, an hour early."""
    calendar = "/alice/Familie%20M%C3%BCller%20%E5%AE%B6%E5%BA%AD/"
    assert fresh_server.request("MKCALENDAR", calendar, "alice").status_code == 201
    named = calendar_naming("Europe/Helsinki", uid="sauna-名")
    assert fresh_server.request("PUT", f"{calendar}sauna.ics", "alice", named,
                                headers={"Content-Type": "text/calendar"}).status_code == 201
    assert "BEGIN:VTIMEZONE\r\nTZID:Europe/Helsinki" in fresh_server.request("GET", f"{calendar}sauna.ics",
                                                                               "alice").text
    put_calendar(fresh_server, f"{calendar}chor.ics", weekly("chor-合唱", "Europe/Helsinki", "20261001T180000",
                                                             "20261001T193000", "Chorprobe Müller 合唱 🎶", HELSINKI))
    at = functools.partial(found_at, fresh_server, calendar)

    assert at("20261001T150000Z", "20261001T151500Z") == ["chor.ics"]     # October: 18:00 EEST
    assert at("20261217T160000Z", "20261217T161500Z") == ["chor.ics"]     # December: 18:00 EET
    assert at("20261217T150000Z", "20261217T155900Z") == []


def test_a_series_naming_its_zone_is_indexed_as_its_stored_text_says(fresh_server: Server) -> None:
    """A weekly series that names Europe/Berlin and sends no VTIMEZONE, from January (CET, +01:00) past the
    change to summer time (CEST, +02:00): it is at 17:00 Berlin time all year, 15:00 UTC in April, as the
    text the server stores says (vobject writes Berlin's VTIMEZONE into it, and every later reading of the
    file, stock Radicale's too, uses it).  Before, the index walked the series with pytz's zone, which
    dateutil's rules keep at its January offset, and answered 16:00 UTC for every occurrence after March."""
    calendar = "/alice/Schwimmen%20M%C3%BCller%20%E6%B8%B8%E6%B3%B3/"
    assert fresh_server.request("MKCALENDAR", calendar, "alice").status_code == 201
    series = weekly("schwimmen-游泳", "Europe/Berlin", "20260106T170000", "20260106T180000", "Schwimmen 游泳 🏊",
                    extra="EXDATE;TZID=Europe/Berlin:20260414T170000\r\n")
    put_calendar(fresh_server, f"{calendar}schwimmen%20%C3%BC.ics", series)
    at = functools.partial(found_at, fresh_server, calendar)

    assert at("20260113T160000Z", "20260113T161500Z") == ["schwimmen%20%C3%BC.ics"]   # January: 17:00 CET
    assert at("20260407T150000Z", "20260407T151500Z") == ["schwimmen%20%C3%BC.ics"]   # April: 17:00 CEST
    assert at("20260407T160000Z", "20260407T161500Z") == []
    assert at("20260414T150000Z", "20260414T151500Z") == []   # the date taken out
    assert at("20260519T150000Z", "20260519T151500Z") == ["schwimmen%20%C3%BC.ics"]   # the 20th and last
    assert at("20260526T150000Z", "20260526T151500Z") == []


def test_the_stored_text_is_read_with_its_own_zones_and_registers_none() -> None:
    """The index reads a series that named its zone from the text stored, as a process that met none of its
    zones would, and leaves vobject's zones of the process as they were: registering the VTIMEZONE vobject
    wrote would make vobject write another one (another STANDARD onset) for every later such event, so the
    same PUT would store another text.  (A zone no other test uses: vobject's zones are the process's.)"""
    vobject_zones.install()
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//radicale-ext tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:hangi-müller\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Pacific/Auckland:20260105T200000\r\n"
            "DURATION:PT2H\r\nRRULE:FREQ=WEEKLY;COUNT=30\r\nSUMMARY:Hāngī Müller 烤肉 🥩\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n")
    assert icalendar.getTzid("Pacific/Auckland", False) is None
    first = radicale_item.Item(collection_path="alice/家庭", vobject_item=radicale_item.read_components(text)[0])
    facts = facts_of(first)
    assert icalendar.getTzid("Pacific/Auckland", False) is None   # nothing registered for the process
    again = radicale_item.Item(collection_path="alice/家庭", vobject_item=radicale_item.read_components(text)[0])
    assert again.serialize() == first.serialize() and facts_of(again) == facts
    stored = first.serialize()
    with vobject_zones.own_zones():   # the stored text, read as a fresh process reads the file
        as_read = radicale_item.Item(collection_path="alice/家庭", text=stored, vobject_item=vobject.readOne(stored))
        walked = occurrences_of(as_read)
    assert facts.occurrences == walked and (facts.start, facts.end) == as_read.time_range
    assert facts.occurrences != occurrences_of(first)   # pytz's zone: an hour off after April's change
    assert icalendar.getTzid("Pacific/Auckland", False) is None
