"""My alarms on someone else's calendar (caldav-sharing 5.5.x), with raw WebDAV requests: alice owns
"家庭" with a weekly "Fußball 🎉 training" that has a moved occurrence; bob collaborates, carol
subscribes.  Each sets their own alarms through their own path; alice's file never changes for it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import icalendar
import pytest

from ..dav_kit import NS, calendar_multiget, calendar_query, parse_sync, sync
from ..samples import ICS
from ..server import Server, make_server

CALENDAR = "家庭"
ITEM = "Fußball 🎉 training.ics"
UID = "fussball-müller-家庭"


def alarm(trigger: str, description: str = "Fußball 🎉") -> str:
    return f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:{description}\r\nTRIGGER:{trigger}\r\nEND:VALARM\r\n"


def series(*, master: str = "", moved: str = "", summary: str = "Fußball 🎉 training", transp: str = "",
           extra: str = "") -> str:
    """The weekly training (Mondays 17:00 in Berlin), its 23 March occurrence moved to Tuesday 18:00."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{UID}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260302T170000\r\n"
            "DURATION:PT1H30M\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\n"
            f"SUMMARY:{summary}\r\nLOCATION:Sportplatz Müllerstraße\r\n{transp}{master}END:VEVENT\r\n"
            f"BEGIN:VEVENT\r\nUID:{UID}\r\nDTSTAMP:20260101T000000Z\r\n"
            "RECURRENCE-ID;TZID=Europe/Berlin:20260323T170000\r\nDTSTART;TZID=Europe/Berlin:20260324T180000\r\n"
            f"DURATION:PT1H30M\r\nSUMMARY:{summary} (Dienstag)\r\n{moved}END:VEVENT\r\n{extra}END:VCALENDAR\r\n")


def triggers(text: str) -> dict[str, list[str]]:
    """RECURRENCE-ID key ("" for the series) -> the TRIGGER values of its alarms."""
    found: dict[str, list[str]] = {}
    for component in icalendar.Calendar.from_ical(text).walk("VEVENT"):
        rid = component.get("RECURRENCE-ID")
        key = rid.dt.strftime("%m%d") if rid is not None else ""
        found[key] = sorted(a["TRIGGER"].to_ical().decode() for a in component.walk("VALARM"))
    return found


def path(user: str, item: str = ITEM) -> str:
    home = CALENDAR if user == "alice" else f"{CALENDAR}~alice"
    return f"/{user}/{quote(home)}/{quote(item)}"


def collection(user: str) -> str:
    return path(user, "")


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory):
    server = make_server(tmp_path_factory.mktemp("personal-alarms")).start()
    assert server.request("MKCALENDAR", collection("alice"), "alice").status_code == 201
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "carol", "--role", "subscriber")
    yield server
    server.stop()


def file_of(server: Server, item: str = ITEM) -> Path:
    return server.root / "data" / "collections" / "collection-root" / "alice" / CALENDAR / item


def put(server: Server, user: str, text: str, item: str = ITEM, **headers: str):
    return server.request("PUT", path(user, item), user, text, headers={**ICS, **headers})


def get(server: Server, user: str, item: str = ITEM):
    answer = server.request("GET", path(user, item), user)
    assert answer.status_code == 200, (user, answer.status_code, answer.text)
    return answer


def test_each_person_sets_their_own_alarms_and_the_owners_file_stays_byte_identical(family: Server) -> None:
    assert put(family, "alice", series(master=alarm("-PT30M"), moved=alarm("-PT1H"))).status_code == 201
    before = file_of(family).read_bytes()
    etags = {u: get(family, u).headers["ETag"] for u in ("alice", "bob", "carol")}
    assert etags["bob"] == etags["carol"] == etags["alice"], "nobody has alarms of their own yet"

    bob = put(family, "bob", series(master=alarm("-PT2H"), moved=alarm("-PT3H")), **{"If-Match": etags["bob"]})
    assert bob.status_code == 204, bob.text
    carol = put(family, "carol", series(master=alarm("-P1D") + alarm("-PT10M")), **{"If-Match": etags["carol"]})
    assert carol.status_code == 204, carol.text

    assert file_of(family).read_bytes() == before, "alice's file is never written for someone's alarms"
    assert triggers(get(family, "alice").text) == {"": ["-PT30M"], "0323": ["-PT1H"]}
    assert triggers(get(family, "bob").text) == {"": ["-PT2H"], "0323": ["-PT3H"]}
    # carol gave the series two alarms and sent the moved occurrence without any: she reads back what she sent
    assert triggers(get(family, "carol").text) == {"": ["-P1D", "-PT10M"], "0323": []}
    assert get(family, "bob").headers["ETag"] == bob.headers["ETag"]
    assert get(family, "carol").headers["ETag"] == carol.headers["ETag"]
    assert get(family, "alice").headers["ETag"] == etags["alice"], "alice's ETag moves only with her data"
    assert len({bob.headers["ETag"], carol.headers["ETag"], etags["alice"]}) == 3
    for user in ("bob", "carol"):   # the shared data is everyone's
        text = get(family, user).text
        assert "Sportplatz Müllerstraße" in text and "Fußball 🎉 training (Dienstag)" in text
