"""The caldav library, as a script or app uses it, reading alice's calendar "家庭"
through bob's and carol's shares: a weekly event with a moved and a cancelled
occurrence, expanded by the server for one month."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, unquote

import caldav
import pytest

from ..samples import ICS
from ..server import Server, make_server, password

CALENDAR = "家庭"
ITEM = "Fußball 🎉 training.ics"
SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:fussball-müller-家庭\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20260302T170000\r
DURATION:PT1H30M\r
RRULE:FREQ=WEEKLY;BYDAY=MO\r
EXDATE;TZID=Europe/Berlin:20260316T170000\r
SUMMARY:Fußball 🎉 training\r
LOCATION:Sportplatz Müllerstraße\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:fussball-müller-家庭\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20260323T170000\r
DTSTART;TZID=Europe/Berlin:20260324T180000\r
DURATION:PT1H30M\r
SUMMARY:Fußball 🎉 training (moved to Tuesday)\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory):
    server = make_server(tmp_path_factory.mktemp("caldav-client")).start()
    for user in ("alice", "bob", "carol"):
        server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"})
    assert server.request("MKCALENDAR", f"/alice/{quote(CALENDAR)}/", "alice").status_code == 201
    put = server.request("PUT", f"/alice/{quote(CALENDAR)}/{quote(ITEM)}", "alice", SERIES, headers=ICS)
    assert put.status_code == 201, put.text
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "carol", "--role", "subscriber")
    yield server
    server.stop()


def _their_calendar(server: Server, user: str) -> caldav.Calendar:
    client = caldav.DAVClient(url=f"{server.url}/{user}/", username=user, password=password(user))
    calendars = client.principal().calendars()
    [calendar] = [c for c in calendars if unquote(str(c.url)).rstrip("/").endswith(f"{CALENDAR}~alice")]
    return calendar


@pytest.mark.parametrize("user", ["bob", "carol"])
def test_expanded_occurrences_through_the_share(family: Server, user: str) -> None:
    calendar = _their_calendar(family, user)
    assert calendar.get_display_name() == f"{CALENDAR} (alice)"
    found = calendar.search(start=dt.datetime(2026, 3, 1), end=dt.datetime(2026, 4, 1), event=True, expand=True)
    occurrences = sorted((e.icalendar_component["DTSTART"].dt, str(e.icalendar_component["SUMMARY"]))
                         for e in found)
    berlin = dt.timezone(dt.timedelta(hours=1))
    summer = dt.timezone(dt.timedelta(hours=2))  # after the change to summer time on 29 March
    starts = [start.astimezone(dt.UTC) for start, _ in occurrences]
    assert starts == [
        dt.datetime(2026, 3, 2, 17, tzinfo=berlin).astimezone(dt.UTC),
        dt.datetime(2026, 3, 9, 17, tzinfo=berlin).astimezone(dt.UTC),
        # 16 March is cancelled (EXDATE); 23 March moved to Tuesday the 24th
        dt.datetime(2026, 3, 24, 18, tzinfo=berlin).astimezone(dt.UTC),
        dt.datetime(2026, 3, 30, 17, tzinfo=summer).astimezone(dt.UTC),
    ]
    assert [summary for _, summary in occurrences].count("Fußball 🎉 training (moved to Tuesday)") == 1
    assert all("RRULE" not in e.icalendar_component for e in found), "the server expanded the series"


def test_the_event_reads_back_byte_for_byte_names_included(family: Server) -> None:
    calendar = _their_calendar(family, "bob")
    [event] = calendar.events()
    assert unquote(str(event.url)).endswith(f"{CALENDAR}~alice/{ITEM}")
    assert "Sportplatz Müllerstraße" in event.data and "Fußball 🎉 training" in event.data


def test_events_saved_in_a_named_zone_get_its_vtimezone_and_are_found_at_their_time(family: Server) -> None:
    """The caldav library writes a Python time zone as ``DTSTART;TZID=Europe/Berlin:...`` without a VTIMEZONE;
    the server writes the zone's VTIMEZONE in (built once per zone, radicale_ext/base/vobject_zones.py), and
    each event is found at its own time in UTC, in winter and in summer."""
    from zoneinfo import ZoneInfo

    client = caldav.DAVClient(url=f"{family.url}/bob/", username="bob", password=password("bob"))
    calendar = client.principal().make_calendar(name="Geburtstage Müller 家庭 🎉")
    parties = [("Europe/Berlin", dt.datetime(2026, 12, 10, 18)), ("Europe/Berlin", dt.datetime(2026, 7, 10, 18)),
               ("America/New_York", dt.datetime(2026, 12, 11, 18)), ("Asia/Shanghai", dt.datetime(2026, 12, 12, 18))]
    for n, (zone, start) in enumerate(parties):
        begins = start.replace(tzinfo=ZoneInfo(zone))
        calendar.save_event(dtstart=begins, dtend=begins + dt.timedelta(hours=2), summary=f"🎉 party {n} bei Müller",
                            uid=f"party-{n}")
    for n, (zone, start) in enumerate(parties):
        lines = calendar.event_by_uid(f"party-{n}").data.splitlines()
        assert lines[lines.index("BEGIN:VTIMEZONE") + 1] == f"TZID:{zone}"
        at = start.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
        found = calendar.search(start=at - dt.timedelta(minutes=30), end=at + dt.timedelta(minutes=30), event=True)
        assert [str(e.icalendar_component["SUMMARY"]) for e in found] == [f"🎉 party {n} bei Müller"], zone
