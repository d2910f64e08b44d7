"""A series edited again and again (a family calendar's school run): the index keeps its occurrences
when only its title, notes or alarms change, and walks it again when anything deciding when it occurs
changes (EXDATE, DTSTART, the time zone, RRULE, a moved occurrence), so that the one-hour window
queried after each edit gets Radicale's answer (radicale_ext/plugins/occurrence_spans.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from radicale.item import filter as radicale_filter

from radicale_ext.plugins import occurrence_spans
from radicale_ext.plugins.occurrence_spans import Earlier, occurrences_of, timing

from ..dav_kit import calendar_query, responses
from ..server import Server, make_server
from .test_occurrences import BERLIN, NEW_YORK, item_of

CALENDAR = "/alice/Familie%20M%C3%BCller%20%E5%AE%B6%E5%BA%AD/"
EVENT = CALENDAR + "schulweg-%C3%BC.ics"


def series(summary: str = "Schulweg Jürgen 🚸", zone: str = "Europe/Berlin", start: str = "20260302T073000",
           rule: str = "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20", exdates: str = "", moved: str = "") -> str:
    vtimezone = BERLIN if zone == "Europe/Berlin" else NEW_YORK
    exdate = f"EXDATE;TZID={zone}:{exdates}\r\n" if exdates else ""
    override = (f"BEGIN:VEVENT\r\nUID:schulweg-ü\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID={zone}:{moved}\r\n"
                f"DTSTART;TZID={zone}:20260320T150000\r\nDURATION:PT30M\r\nSUMMARY:verschoben\r\nEND:VEVENT\r\n"
                if moved else "")
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//radicale-ext tests//EN\r\n{vtimezone}BEGIN:VEVENT\r\n"
            f"UID:schulweg-ü\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={zone}:{start}\r\nDURATION:PT30M\r\n"
            f"RRULE:{rule}\r\n{exdate}SUMMARY:{summary}\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:los\r\n"
            f"TRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n{override}END:VCALENDAR\r\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    srv = make_server(Path(tmp_path_factory.mktemp("series-edits"))).start()
    assert srv.request("MKCALENDAR", CALENDAR, "alice").status_code == 201
    yield srv
    srv.stop()


def found(server: Server, start: str, end: str) -> bool:
    """Whether a one-hour window (UTC) holds an occurrence of the series, as a client asks it."""
    answer = server.request("REPORT", CALENDAR, "alice", calendar_query("VEVENT", start, end),
                            headers={"Depth": "1", "Content-Type": "application/xml"})
    assert answer.status_code == 207, answer.text
    hrefs = [href for href, _ in responses(answer.content)]
    assert hrefs in ([], [EVENT]), hrefs
    return bool(hrefs)


def put(server: Server, text: str) -> None:
    assert server.request("PUT", EVENT, "alice", text, headers={"Content-Type": "text/calendar"}).status_code \
        in (201, 204)


# Wednesday 2026-03-11 07:30 in Berlin is 06:30 UTC; in New York (EDT since March 8) 11:30 UTC
BERLIN_WEDNESDAY = ("20260311T060000Z", "20260311T070000Z")
NEW_YORK_WEDNESDAY = ("20260311T110000Z", "20260311T120000Z")


def test_each_edit_of_a_series_gets_radicales_answer(server: Server) -> None:
    put(server, series())
    assert found(server, *BERLIN_WEDNESDAY)
    put(server, series(summary="Schulweg 王芳 (neu)"))                 # a new title: kept as it was
    assert found(server, *BERLIN_WEDNESDAY)
    put(server, series(summary="Schulweg 王芳 (neu)", exdates="20260311T073000"))   # that day cut out
    assert not found(server, *BERLIN_WEDNESDAY)
    put(server, series(summary="Schulweg", exdates="20260311T073000"))  # a new title again: still cut out
    assert not found(server, *BERLIN_WEDNESDAY)
    put(server, series())                                              # the cut undone
    assert found(server, *BERLIN_WEDNESDAY)
    put(server, series(zone="America/New_York"))                       # another time zone
    assert not found(server, *BERLIN_WEDNESDAY) and found(server, *NEW_YORK_WEDNESDAY)
    put(server, series(start="20260302T093000"))                       # two hours later
    assert not found(server, *BERLIN_WEDNESDAY) and found(server, "20260311T080000Z", "20260311T090000Z")
    put(server, series(rule="FREQ=WEEKLY;BYDAY=MO;COUNT=20"))          # Mondays only
    assert not found(server, *BERLIN_WEDNESDAY) and found(server, "20260309T060000Z", "20260309T070000Z")
    put(server, series(moved="20260311T073000"))                       # that Wednesday moved to a Friday
    assert not found(server, *BERLIN_WEDNESDAY) and found(server, "20260320T140000Z", "20260320T150000Z")


def test_only_a_change_of_its_times_walks_a_series_again(monkeypatch: pytest.MonkeyPatch) -> None:
    walks = []
    visit = radicale_filter.visit_time_ranges
    monkeypatch.setattr(occurrence_spans.radicale_filter, "visit_time_ranges",
                        lambda *args: walks.append(1) or visit(*args))
    first = item_of(series())
    kept = occurrences_of(first)
    assert kept and len(walks) == 1
    earlier = Earlier(timing(first.serialize()), kept)
    assert occurrences_of(item_of(series(summary="Laternenumzug 🏮 家庭")), earlier) is kept
    assert len(walks) == 1
    for changed in (series(exdates="20260311T073000"), series(zone="America/New_York"),
                    series(start="20260302T093000"), series(rule="FREQ=WEEKLY;BYDAY=MO;COUNT=20"),
                    series(moved="20260311T073000")):
        assert occurrences_of(item_of(changed), earlier) != kept
    assert len(walks) == 6
