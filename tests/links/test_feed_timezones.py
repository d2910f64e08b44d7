"""Time zones in free/busy feeds (issue 13, item 20): a VTIMEZONE as clients write it carries their own
X- properties (Thunderbird's X-LIC-LOCATION, Outlook's X-MICROSOFT-CDO-TZID, X-WR-*) and whatever else a
person or an app put there; a free/busy feed keeps only what places a busy time."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest

from radicale_ext.links import feeds

from ..server import Server, make_server
from .test_links import ICS, anonymous, create_link, without_hidden_uids

# Thunderbird's Europe/Berlin, with what other clients and people add to a zone
THUNDERBIRD_ZONE = """BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
X-LIC-LOCATION:Europe/Berlin\r
X-MICROSOFT-CDO-TZID:4\r
X-WR-TIMEZONE:Europe/Berlin\r
TZURL:https://tracker.example.com/zones/alice-7f3a/Europe/Berlin\r
LAST-MODIFIED:20250101T000000Z\r
X-ALICE-NOTE:set up for the trip to Ann's, door code 4711\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST at Ann's\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r
COMMENT:Ann's birthday is on the 29th\r
X-PRIVATE-KEY:hunter2\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r
RDATE;VALUE=DATE-TIME:19961027T030000\r
END:STANDARD\r
END:VTIMEZONE\r
"""
# Radicale refuses a component of its own inside a zone (vobject's check); a file on disk may still have one
ZONE_NOTES = "BEGIN:X-ALICE-ZONE-NOTES\r\nSUMMARY:the clinic appointment\r\nEND:X-ALICE-ZONE-NOTES\r\n"
# Outlook's zone, as Exchange writes it
OUTLOOK_ZONE = """BEGIN:VTIMEZONE\r
TZID:W. Europe Standard Time\r
X-MICROSOFT-CDO-TZID:4\r
BEGIN:STANDARD\r
DTSTART:16010101T030000\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r
X-MS-NOTE:Project Falcon kickoff\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T020000\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
END:VTIMEZONE\r
"""


def event_in(zone: str, tzid: str, uid: str, start: str, extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n"
            "X-WR-CALNAME:Alice private\r\nX-WR-TIMEZONE:Europe/Berlin\r\n" + zone +
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tzid}:{start}\r\n"
            f"DURATION:PT1H\r\nSUMMARY:Termin bei Müller\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


LEAKS = ("X-", "LIC-LOCATION", "MICROSOFT", "TZURL", "tracker.example.com", "LAST-MODIFIED", "4711", "Ann",
         "COMMENT", "hunter2", "clinic", "Falcon", "Müller", "Alice private")
ZONE_PROPERTIES = {"TZID", "DTSTART", "TZOFFSETFROM", "TZOFFSETTO", "RRULE", "RDATE"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("zones")).start()
    try:
        assert server.request("MKCALENDAR", "/alice/reisen/", "alice").status_code == 201
        for name, text in (("berlin.ics", event_in(THUNDERBIRD_ZONE, "Europe/Berlin", "zahnarzt", "20260713T090000")),
                           ("outlook.ics", event_in(OUTLOOK_ZONE, "W. Europe Standard Time", "falcon",
                                                    "20260114T100000", "CLASS:PRIVATE\r\n"))):
            r = server.request("PUT", f"/alice/reisen/{name}", "alice", text.encode(), headers=ICS)
            assert r.status_code == 201, r.text
        yield server
    finally:
        server.stop()


def zone_lines(feed: str) -> list[str]:
    blocks = re.findall(r"BEGIN:VTIMEZONE\r\n.*?END:VTIMEZONE\r\n", feed, re.S)
    return [line for block in blocks for line in block.split("\r\n") if line]


def feed_body(feed: str) -> str:
    """The feed without the head we write ourselves (its X-WR-CALNAME and X-PUBLISHED-TTL), and without the
    free/busy events' hashed UIDs."""
    return without_hidden_uids(feed[feed.index("BEGIN:VTIMEZONE"):])


def test_a_free_busy_feed_keeps_only_what_places_busy_times(srv: Server) -> None:
    r = anonymous(srv, create_link(srv, "alice/reisen", "--free-busy", "--base-url", srv.url)["url"])
    assert r.status_code == 200
    for word in LEAKS:
        assert word not in feed_body(r.text), f"{word!r} leaked into a free/busy feed"
    for line in zone_lines(r.text):
        name = re.split(r"[;:]", line, maxsplit=1)[0]
        assert name in ZONE_PROPERTIES | {"BEGIN", "END"}, line
        assert line.split(":")[0] in ("BEGIN", "END") or ";" not in line.split(":")[0] or \
            line.startswith("RDATE;VALUE="), line
    cal = icalendar.Calendar.from_ical(r.text)
    assert cal.get_missing_tzids() == set()
    starts = sorted(e.DTSTART.astimezone(dt.UTC) for e in cal.walk("VEVENT"))
    assert starts == [dt.datetime(2026, 1, 14, 9, tzinfo=dt.UTC), dt.datetime(2026, 7, 13, 7, tzinfo=dt.UTC)], \
        "summer and winter offsets both still apply"
    zones = {str(z["TZID"]): z for z in cal.walk("VTIMEZONE")}
    assert sorted(zones) == ["Europe/Berlin", "W. Europe Standard Time"]
    assert sorted(c.name for c in zones["Europe/Berlin"].subcomponents) == ["DAYLIGHT", "STANDARD"]


def test_a_private_event_in_a_full_feed_gets_the_same_bare_zone(srv: Server) -> None:
    r = anonymous(srv, create_link(srv, "alice/reisen", "--base-url", srv.url)["url"])
    assert r.status_code == 200
    outlook = re.search(r"BEGIN:VTIMEZONE\r\nTZID:W\. Europe Standard Time\r\n.*?END:VTIMEZONE\r\n", r.text, re.S)[0]
    assert "X-" not in outlook and "Falcon" not in r.text
    # the full feed shows the non-private event as the owner's client stored it, zone and all
    assert "X-LIC-LOCATION:Europe/Berlin" in r.text and "Termin bei Müller" in r.text


def test_the_core_keeps_the_zone_rules_byte_for_byte() -> None:
    zone = THUNDERBIRD_ZONE.replace("END:VTIMEZONE\r\n", ZONE_NOTES + "END:VTIMEZONE\r\n")
    parts = feeds.busy_parts(event_in(zone, "Europe/Berlin", "u", "20260713T090000"), "salt")
    [(tzid, block)] = parts.timezones
    assert tzid == "Europe/Berlin"
    assert block == ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"
                     "TZOFFSETTO:+0200\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n"
                     "END:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
                     "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
                     "RDATE;VALUE=DATE-TIME:19961027T030000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")


def test_a_full_feed_passes_the_stored_zone_unchanged(tmp_path: Path) -> None:
    parts = feeds.calendar_parts(event_in(THUNDERBIRD_ZONE, "Europe/Berlin", "u", "20260713T090000"))
    assert parts.timezones == (("Europe/Berlin", THUNDERBIRD_ZONE),)
