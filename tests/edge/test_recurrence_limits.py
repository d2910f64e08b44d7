"""Recurring events and whole-calendar uploads cost bounded work (issue 13, item 17).

Before: an event repeating every second was stored, and a query for a day a
year later made Radicale step through 31 million occurrences (minutes, with
the storage lock held against writers); a 20,000-event whole-calendar PUT
held the global write lock for minutes.
"""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from radicale_ext.base.recurrence_limits import most_in_a_year, repeats

from ..dav_kit import CALDAV, calendar_multiget, calendar_query, responses
from ..samples import ICS, event
from ..server import Server, make_server

CALENDAR = "/alice/" + quote("Fußball 家庭") + "/"
FOLDER = ("alice", "Fußball 家庭")


def series(uid: str, summary: str, rule: str, start: str = "20260101T180000Z") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{start[:13]}01Z\r\n"
            f"RRULE:{rule}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("recurrence")).start()
    assert server.request("MKCALENDAR", CALENDAR, "alice").status_code == 201
    assert server.request("PUT", CALENDAR + quote("Müller.ics"), "alice", event("müller", "Müller kommt"),
                          headers=ICS).status_code == 201
    yield server
    server.stop()


def error_of(answer: requests.Response, status: int, precondition: str) -> str:
    """The sentence of a ``DAV:error`` answer with ``precondition``; asserts the shape."""
    assert answer.status_code == status, (answer.status_code, answer.text[:500])
    root = ET.fromstring(answer.content)
    assert root.tag == "{DAV:}error" and root.find(precondition) is not None, answer.text
    return root.findtext("{urn:radicale-ext}reason") or ""


# -- storing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["FREQ=SECONDLY", "FREQ=MINUTELY;INTERVAL=10", "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,"
                                  "8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0,30"])
def test_a_series_repeating_too_often_is_not_stored(srv: Server, rule: str) -> None:
    name = f"🎉 party {uuid.uuid4().hex[:6]}.ics"
    answer = srv.request("PUT", CALENDAR + quote(name), "alice", series(name, "🎉 party again and again", rule),
                         headers=ICS)
    reason = error_of(answer, 403, f"{{{CALDAV}}}max-instances")
    assert "🎉 party again and again" in reason and "10000" in reason
    assert srv.request("GET", CALENDAR + quote(name), "alice").status_code == 404


def test_an_hourly_series_is_stored_and_expanded(srv: Server) -> None:
    name = quote("Stündlich.ics")
    assert srv.request("PUT", CALENDAR + name, "alice", series("stündlich", "Wasser trinken", "FREQ=HOURLY"),
                       headers=ICS).status_code == 201
    day = srv.request("REPORT", CALENDAR, "alice",
                      calendar_query("VEVENT", "20270301T000000Z", "20270301T233000Z", expand=True),
                      headers={"Depth": "1"})
    assert day.status_code == 207, day.text[:300]
    [data] = [r.findtext(f".//{{{CALDAV}}}calendar-data") for href, r in responses(day.content)
              if href.endswith(name)]
    assert data is not None and data.count("RECURRENCE-ID") == 24
    assert srv.request("DELETE", CALENDAR + name, "alice").status_code in (200, 204)


def test_a_whole_calendar_upload_of_too_many_events_is_refused(srv: Server) -> None:
    events = "".join(f"BEGIN:VEVENT\r\nUID:import-{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T180000Z\r\n"
                     f"DTEND:20260105T190000Z\r\nSUMMARY:Training {i}\r\nEND:VEVENT\r\n" for i in range(1001))
    body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + events + "END:VCALENDAR\r\n"
    answer = srv.request("PUT", CALENDAR, "alice", body, headers=ICS)
    assert answer.status_code == 413, (answer.status_code, answer.text[:300])
    assert "1001" in answer.text and "1000" in answer.text
    assert srv.request("GET", CALENDAR + quote("Müller.ics"), "alice").status_code == 200


def test_a_small_whole_calendar_upload_still_works(tmp_path) -> None:
    server = make_server(tmp_path / "srv").start()
    try:
        events = [event(uid, summary) for uid, summary in (("eins", "Müller"), ("zwei", "Fußball"), ("drei", "🎉"))]
        inner = ["BEGIN:VEVENT" + e.split("BEGIN:VEVENT")[1].replace("END:VCALENDAR\n", "") for e in events]
        body = events[0].split("BEGIN:VEVENT")[0] + "".join(inner) + "END:VCALENDAR\n"
        assert server.request("PUT", "/alice/" + quote("Import 家庭") + "/", "alice", body,
                              headers=ICS).status_code == 201
        listed = server.request("PROPFIND", "/alice/" + quote("Import 家庭") + "/", "alice", headers={"Depth": "1"})
        assert len(responses(listed.content)) == 4
    finally:
        server.stop()


# -- answering, with a series stored before these limits -------------------------------------------


@pytest.fixture(scope="module")
def every_second(srv: Server) -> str:
    """An event repeating every second, in the folder as a stock Radicale (or an older radicale-ext) left it."""
    path = srv.root.joinpath("data", "collections", "collection-root", *FOLDER, "jede-sekunde.ics")
    path.write_text(series("jede-sekunde", "Jede Sekunde", "FREQ=SECONDLY"), encoding="utf-8")
    return CALENDAR + "jede-sekunde.ics"


def queried(srv: Server, body: str) -> requests.Response:
    return srv.request("REPORT", CALENDAR, "alice", body, headers={"Depth": "1"})


@pytest.mark.parametrize("body", [
    calendar_query("VEVENT", "20270601T000000Z", "20270602T000000Z"),
    calendar_query("VEVENT", "20260101T000000Z", "20270101T000000Z", expand=True),
    calendar_query("VEVENT", "20270601T000000Z", "20270601T000100Z", expand=True),
    calendar_multiget([CALENDAR + "jede-sekunde.ics"]).replace(
        "<C:calendar-data/>", '<C:calendar-data><C:expand start="20270601T000000Z" end="20270601T000100Z"/>'
        "</C:calendar-data>"),
    f'<?xml version="1.0"?><C:free-busy-query xmlns:C="{CALDAV}">'
    '<C:time-range start="20270601T000000Z" end="20270602T000000Z"/></C:free-busy-query>',
], ids=["time-range", "expand-a-year", "expand-a-minute-a-year-later", "multiget-expand", "free-busy"])
def test_a_report_that_would_walk_a_dense_series_is_refused(srv: Server, every_second: str, body: str) -> None:
    reason = error_of(queried(srv, body), 507, "{DAV:}number-of-matches-within-limits")
    assert "Jede Sekunde" in reason
    assert srv.request("PROPFIND", "/alice/", "alice", headers={"Depth": "0"}).status_code == 207


def test_the_index_still_leaves_out_a_dense_series_before_its_start(srv: Server, every_second: str) -> None:
    """The item index's pre-filter keeps answering for such a series: a range before it starts never reaches it."""
    answer = queried(srv, calendar_query("VEVENT", "20251201T000000Z", "20251231T000000Z"))
    assert answer.status_code == 207, answer.text[:300]
    assert responses(answer.content) == []


def test_reading_the_other_events_still_works(srv: Server, every_second: str) -> None:
    answer = queried(srv, calendar_multiget([CALENDAR + quote("Müller.ics")]))
    assert answer.status_code == 207
    assert "Müller kommt" in answer.text
    assert srv.request("GET", every_second, "alice").status_code == 200


BERLIN = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
          "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"
          "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
          "END:STANDARD\r\nEND:VTIMEZONE\r\n")


def test_a_time_zones_own_rules_are_no_series_but_a_series_after_them_is() -> None:
    plain = event("zone", "Elternabend Müller").replace("BEGIN:VEVENT", BERLIN + "BEGIN:VEVENT", 1)
    assert "RRULE" in plain and not repeats(plain), "the DST rules of a VTIMEZONE repeat nothing"
    dense = series("d", "Tick", "FREQ=MINUTELY").replace("BEGIN:VEVENT", BERLIN + "BEGIN:VEVENT", 1)
    assert repeats(dense)
    assert repeats(dense.replace("RRULE:FREQ=MINUTELY", "RRU\r\n LE:FREQ=MINUTELY")), "a folded name is unfolded"


def test_a_dense_series_after_a_time_zone_is_still_refused(srv: Server) -> None:
    name = f"Takt {uuid.uuid4().hex[:6]}.ics"
    text = series(name, "Takt 家庭", "FREQ=MINUTELY;INTERVAL=5").replace("BEGIN:VEVENT", BERLIN + "BEGIN:VEVENT", 1)
    error_of(srv.request("PUT", CALENDAR + quote(name), "alice", text, headers=ICS), 403, f"{{{CALDAV}}}max-instances")


def test_writes_leave_no_temporary_file_and_keep_the_umasks_permissions(srv: Server) -> None:
    folder = srv.root.joinpath("data", "collections", "collection-root", *FOLDER)
    for n in range(3):
        name = f"Schulweg {n} ä.ics"
        assert srv.request("PUT", CALENDAR + quote(name), "alice", event(f"s{n}", f"Schulweg {n}"),
                           headers=ICS).status_code in (201, 204)
    assert srv.request("PROPPATCH", CALENDAR, "alice", PROPPATCH_NAME).status_code == 207
    left = [p.name for p in folder.rglob(".Radicale.tmp-*")]
    assert left == [], left
    written = folder / "Schulweg 0 ä.ics"
    assert written.stat().st_mode & 0o777 == 0o666 & ~current_umask()


PROPPATCH_NAME = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
                  "<D:displayname>Fußball 家庭 🎉</D:displayname></D:prop></D:set></D:propertyupdate>")


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("rule, rdates, bound", [
    ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "", 366),            # a school run
    ("FREQ=YEARLY", "", 366),                                  # a birthday
    ("FREQ=DAILY;COUNT=10", "RDATE:20260301T180000Z,20260302T180000Z\r\n", 368),
    ("FREQ=DAILY;BYHOUR=8,12,18", "", None),                   # more than once a day: parsed
    ("FREQ=HOURLY", "", None),
    ("FREQ=MINUTELY;INTERVAL=5", "", None),
])
def test_a_series_that_cannot_reach_the_limit_is_known_from_its_text(rule: str, rdates: str,
                                                                    bound: int | None) -> None:
    text = series("b", "Schulweg Müller", rule).replace("RRULE:", rdates + "RRULE:", 1)
    assert most_in_a_year(text.replace("BEGIN:VEVENT", BERLIN + "BEGIN:VEVENT", 1)) == bound, \
        "the time zone's own yearly rules do not count"


def test_a_daily_series_with_many_times_a_day_is_still_counted_and_refused(srv: Server) -> None:
    name = f"Tabletten {uuid.uuid4().hex[:6]}.ics"
    every_minute = "FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=" + ",".join(map(str, range(60)))
    error_of(srv.request("PUT", CALENDAR + quote(name), "alice", series(name, "Tabletten 💊", every_minute),
                         headers=ICS), 403, f"{{{CALDAV}}}max-instances")
