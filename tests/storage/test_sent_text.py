"""A calendar object PUT is stored in the text its client sent where serializing it again would say the same
(radicale_ext/plugins/sent_text.py), and as stock Radicale stores it everywhere else: on files and on
PostgreSQL, a real server, the bodies DAVx5, Thunderbird and Evolution send."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from .. import dav_kit as dav
from ..server import Server, make_server

CAL_PATH = "/alice/Familie Müller 家庭 🎉/"
CAL = quote(CAL_PATH)

BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
TZNAME:CET
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
DTSTART:19961027T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
TZNAME:CEST
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
DTSTART:19810329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
"""

#: as DAVx5 (ical4j) writes an event: DTSTAMP before UID, the zone after the event, an alarm; vobject would
#: put the UID first and the zone before the event, and fold the long line elsewhere
DAVX5 = ("""BEGIN:VCALENDAR
VERSION:2.0
PRODID:DAVx5/4.4.3-ose ical4j/3.2.19 (org.fossify.calendar)
BEGIN:VEVENT
DTSTAMP:20261203T081500Z
UID:3b8a0c1e-7c1f-4a8e-9f0e-2f6d1b2c9e11
SUMMARY:Elternabend Müller 家长会 🏫
LOCATION:Grundschule Sonnenweg\\, Raum 3
DESCRIPTION:Bitte die Liste für das Sommerfest mitbringen. 请带上夏季节日的名单。 Danke
  schön 🙏
DTSTART;TZID=Europe/Berlin:20261210T193000
DTEND;TZID=Europe/Berlin:20261210T210000
STATUS:CONFIRMED
BEGIN:VALARM
TRIGGER:-PT30M
ACTION:DISPLAY
DESCRIPTION:Elternabend Müller 家长会 🏫
END:VALARM
END:VEVENT
""" + BERLIN + "END:VCALENDAR\n").replace("\n", "\r\n")

#: a weekly series with an excluded week, its EXDATE of the DTSTART's own type and zone (nothing to sanitize)
SERIES = ("""BEGIN:VCALENDAR
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
VERSION:2.0
""" + BERLIN + """BEGIN:VEVENT
CREATED:20261201T090000Z
LAST-MODIFIED:20261201T090000Z
DTSTAMP:20261201T090000Z
UID:fussball-足球-⚽
SUMMARY:Fußball Training 足球 ⚽
RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=TH
EXDATE;TZID=Europe/Berlin:20261217T170000
DTSTART;TZID=Europe/Berlin:20261203T170000
DTEND;TZID=Europe/Berlin:20261203T183000
END:VEVENT
END:VCALENDAR
""").replace("\n", "\r\n")


def another(text: str, uid: str) -> str:
    """``text`` with a UID of its own."""
    return text.replace("UID:3b8a0c1e-7c1f-4a8e-9f0e-2f6d1b2c9e11", f"UID:{uid}-3b8a0c1e")


def body(*lines: str, zone: bool = True, end: str = "\r\n") -> str:
    """A calendar with one event made of ``lines`` (and the Berlin zone), each line ended by ``end``."""
    return end.join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Evolution 3.46//EN",
                     *(BERLIN.strip().split("\n") if zone else []), "BEGIN:VEVENT", *lines,
                     "END:VEVENT", "END:VCALENDAR", ""])


@pytest.fixture(scope="module")
def srv(storage_backend: dict[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("sent-text"), **storage_backend).start()
    assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
    yield server
    server.stop()


def put(srv: Server, name: str, text: str) -> requests.Response:
    return srv.request("PUT", CAL + quote(name), "alice", text.encode(), headers=dav.ICS)


def stored(srv: Server, name: str) -> requests.Response:
    answer = srv.request("GET", CAL + quote(name), "alice")
    assert answer.status_code == 200, answer.text
    return answer


def week_of(srv: Server, start: str, end: str, uid: str) -> list[str]:
    """The calendar data of the events with ``uid`` in them a query for the week from ``start`` finds (line
    ends as sent: XML reads CRLF as LF)."""
    answer = srv.request("REPORT", CAL, "alice", dav.calendar_query("VEVENT", start, end), headers={"Depth": "1"})
    assert answer.status_code == 207, answer.text
    datas = [dav.found_prop(response, "{urn:ietf:params:xml:ns:caldav}calendar-data") or ""
             for _, response in dav.responses(answer.content)]
    return [data.replace("\n", "\r\n") for data in datas if uid in data]


def test_davx5s_event_is_stored_as_sent(srv: Server) -> None:
    """GET gives the bytes DAVx5 sent, the ETag of the PUT's answer is GET's and is the text's, and the
    event is found by a week's query and in a multiget, in the same text."""
    put_answer = put(srv, "Elternabend 家长会.ics", DAVX5)
    assert put_answer.status_code == 201, put_answer.text
    got = stored(srv, "Elternabend 家长会.ics")
    assert got.content == DAVX5.encode()
    assert put_answer.headers["ETag"] == got.headers["ETag"] == f'"{hashlib.sha256(DAVX5.encode()).hexdigest()}"'
    assert week_of(srv, "20261207T000000Z", "20261214T000000Z", "3b8a0c1e") == [DAVX5]


def test_a_series_is_stored_as_sent_and_its_weeks_found(srv: Server) -> None:
    """Thunderbird's weekly series with an excluded week: stored as sent; the excluded week has nothing,
    the week after has the series."""
    assert put(srv, "Fußball Training.ics", SERIES).status_code == 201
    assert stored(srv, "Fußball Training.ics").content == SERIES.encode()
    assert week_of(srv, "20261214T000000Z", "20261221T000000Z", "fussball") == []
    assert week_of(srv, "20261221T000000Z", "20261228T000000Z", "fussball") == [SERIES]


def test_an_edit_replaces_the_text_sent_before(srv: Server) -> None:
    """An edit with the ETag of the text sent: the new text is what GET gives."""
    sent = another(DAVX5, "edit")
    assert put(srv, "Elternabend edit.ics", sent).status_code == 201
    etag = stored(srv, "Elternabend edit.ics").headers["ETag"]
    edited = sent.replace("SUMMARY:Elternabend Müller", "SUMMARY:Verschoben: Elternabend Müller")
    answer = srv.request("PUT", CAL + quote("Elternabend edit.ics"), "alice", edited.encode(),
                         headers={**dav.ICS, "If-Match": etag})
    assert answer.status_code == 204, answer.text
    assert stored(srv, "Elternabend edit.ics").content == edited.encode()


def test_the_text_vobject_read_is_kept_where_radicales_workarounds_cleaned_it(srv: Server) -> None:
    """An empty line and a control character (Radicale removes both before parsing) are not stored."""
    cleaned = another(DAVX5, "leer")
    sent = cleaned.replace("STATUS:CONFIRMED\r\n", "STATUS:CONFIRMED\r\n\r\n").replace("Raum 3", "Raum\x07 3")
    assert put(srv, "Elternabend leer.ics", sent).status_code == 201
    assert stored(srv, "Elternabend leer.ics").content == cleaned.encode()


def test_thunderbirds_zero_duration_beside_dtend_is_removed_as_stock_removes_it(srv: Server) -> None:
    sent = body("UID:verschoben-1", "DTSTAMP:20261201T090000Z", "SUMMARY:Verschoben 推迟",
                "DTSTART;TZID=Europe/Berlin:20261210T170000", "DTEND;TZID=Europe/Berlin:20261210T180000",
                "DURATION:PT0S")
    assert put(srv, "verschoben.ics", sent).status_code == 201
    text = stored(srv, "verschoben.ics").text
    assert "DURATION" not in text and "DTEND;TZID=Europe/Berlin:20261210T180000" in text


def test_evolutions_date_exdate_of_a_timed_series_is_made_a_date_time_as_stock_makes_it(srv: Server) -> None:
    sent = body("UID:chor-1", "DTSTAMP:20261201T090000Z", "SUMMARY:Chorprobe 合唱",
                "DTSTART;TZID=Europe/Berlin:20261201T190000", "DTEND;TZID=Europe/Berlin:20261201T210000",
                "RRULE:FREQ=WEEKLY;COUNT=5", "EXDATE;VALUE=DATE:20261208")
    assert put(srv, "chor.ics", sent).status_code == 201
    text = stored(srv, "chor.ics").text
    assert "EXDATE;TZID=Europe/Berlin:20261208T190000" in text and "VALUE=DATE" not in text


@pytest.mark.parametrize(("name", "sent", "added"), [
    ("ohne dtstamp.ics", body("UID:ohne-dtstamp", "SUMMARY:Ohne Zeitstempel",
                              "DTSTART;TZID=Europe/Berlin:20261210T170000"), "DTSTAMP:"),
    ("ohne zone.ics", body("UID:ohne-zone", "DTSTAMP:20261201T090000Z", "SUMMARY:Ohne Zone 无时区",
                           "DTSTART;TZID=Europe/Berlin:20261210T170000", zone=False), "BEGIN:VTIMEZONE"),
    ("alarm ohne action.ics", body("UID:alarm-ohne-action", "DTSTAMP:20261201T090000Z", "SUMMARY:Alarm",
                                   "DTSTART;TZID=Europe/Berlin:20261210T170000", "BEGIN:VALARM",
                                   "TRIGGER:-PT5M", "END:VALARM"), "ACTION:AUDIO"),
])
def test_what_stock_would_add_is_added(srv: Server, name: str, sent: str, added: str) -> None:
    """A missing DTSTAMP, the VTIMEZONE of a TZID without one, an alarm's ACTION: added as stock adds them."""
    assert added not in sent
    assert put(srv, name, sent).status_code == 201
    assert added in stored(srv, name).text


def test_bare_line_feeds_are_stored_with_crlf_as_stock_stores_them(srv: Server) -> None:
    sent = another(DAVX5, "lf").replace("\r\n", "\n")
    assert put(srv, "Elternabend lf.ics", sent).status_code == 201
    text = stored(srv, "Elternabend lf.ics").content.decode()
    assert text != sent and "\r\n" in text and not re.search(r"[^\r]\n", text)
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")   # vobject's order: the zone first
    assert text.index("BEGIN:VTIMEZONE") < text.index("BEGIN:VEVENT")


def test_what_serializing_refuses_is_refused_and_not_stored(srv: Server) -> None:
    """Two DTSTARTs in one event: vobject's validation refuses it, so the PUT is a 400 and nothing is stored."""
    sent = body("UID:zwei-starts", "DTSTAMP:20261201T090000Z", "SUMMARY:Zweimal",
                "DTSTART;TZID=Europe/Berlin:20261210T170000", "DTSTART;TZID=Europe/Berlin:20261211T170000")
    assert put(srv, "zweimal.ics", sent).status_code == 400
    assert srv.request("GET", CAL + quote("zweimal.ics"), "alice").status_code == 404


def test_stock_radicale_on_the_folder_reads_the_text_sent_with_its_etag(srv: Server) -> None:
    """Stock Radicale's multifilesystem reading the folder (as after a switch back, or as the index built
    again reads a file) gives the ETag the server gave: the text sent has Radicale's item cache entry."""
    assert put(srv, "Elternabend stock.ics", another(DAVX5, "stock")).status_code == 201
    etag = stored(srv, "Elternabend stock.ics").headers["ETag"]
    stock = (dav.stock_state_of_rows(srv.sharing_dsn, CAL_PATH) if srv.sharing_dsn   # the rows, as they are
             else dav.stock_state(srv.root / "data" / "collections", CAL_PATH))
    assert stock[1][CAL_PATH + "Elternabend stock.ics"] == etag
    assert stock[0] == dav.ctag(srv, CAL, "alice")
