"""My alarms on someone else's calendar, set with real clients: the caldav library (as a script or an app
uses it) and vdirsyncer (as a family member runs it).  alice owns "家庭" with the weekly "Fußball 🎉
training" and its moved occurrence; bob collaborates, carol subscribes; each gives the event alarms of
their own through their own path and reads back theirs, and alice's file never changes for the others'
alarms; a subscriber's other edit, uploaded by vdirsyncer, is refused."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote

import caldav
import icalendar
import pytest

from ..samples import ICS
from ..server import Server, make_server, password
from ..vdirsyncer_kit import vdirsyncer, vdirsyncer_config
from .test_personal_alarms import CALENDAR, ITEM, alarm, file_of, series, triggers

PEOPLE = {"alice": "-PT30M", "bob": "-PT2H", "carol": "-P1D"}   # each one's alarm before the training


@pytest.fixture
def family(tmp_path: Path):
    server = make_server(tmp_path / "server").start()
    assert server.request("MKCALENDAR", f"/alice/{quote(CALENDAR)}/", "alice").status_code == 201
    put = server.request("PUT", f"/alice/{quote(CALENDAR)}/{quote(ITEM)}", "alice",
                         series(master=alarm("-PT15M"), moved=alarm("-PT15M")), headers=ICS)
    assert put.status_code == 201, put.text
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "carol", "--role", "subscriber")
    yield server
    server.stop()


def with_alarm(text: str, trigger: str) -> str:
    """The event with every occurrence's alarms replaced by one alarm at ``trigger`` (as a client edits it)."""
    calendar = icalendar.Calendar.from_ical(text)
    for component in calendar.walk("VEVENT"):
        component.subcomponents = [s for s in component.subcomponents if s.name != "VALARM"]
        valarm = icalendar.Alarm()
        valarm.add("ACTION", "DISPLAY")
        valarm.add("DESCRIPTION", "Fußball 🎉")
        valarm.add("TRIGGER", icalendar.vDuration.from_ical(trigger))
        component.add_component(valarm)
    return calendar.to_ical().decode()


def their_event(server: Server, user: str) -> caldav.CalendarObjectResource:
    client = caldav.DAVClient(url=f"{server.url}/{user}/", username=user, password=password(user))
    name = CALENDAR if user == "alice" else f"{CALENDAR}~alice"
    [calendar] = [c for c in client.principal().calendars() if unquote(str(c.url)).rstrip("/").endswith(f"/{name}")]
    [event] = calendar.events()
    return event


def test_with_the_caldav_library(family: Server) -> None:
    before = file_of(family).read_bytes()
    for user in ("bob", "carol"):
        event = their_event(family, user)
        event.data = with_alarm(event.data, PEOPLE[user])
        event.save()
    assert file_of(family).read_bytes() == before, "alice's file is not written for bob's or carol's alarms"
    event = their_event(family, "alice")
    event.data = with_alarm(event.data, PEOPLE["alice"])
    event.save()
    for user, trigger in PEOPLE.items():
        assert triggers(their_event(family, user).data) == {"": [trigger], "0323": [trigger]}, user
    changed = file_of(family).read_text()
    assert triggers(changed) == {"": ["-PT30M"], "0323": ["-PT30M"]}, "alice's own change is hers"


def _vdirsyncer(config: Path, *steps: str) -> None:
    done = vdirsyncer(config, *steps)
    assert done.returncode == 0, done.stderr + done.stdout


def _local_event(root: Path) -> Path:
    [folder] = [p for p in (root / "local").iterdir() if p.is_dir() and CALENDAR in p.name]
    [event] = list(folder.glob("*.ics"))
    return event


def test_with_vdirsyncer(family: Server, tmp_path: Path) -> None:
    before = file_of(family).read_bytes()
    configs = {}
    for user in ("bob", "carol"):
        configs[user] = vdirsyncer_config(family, user, tmp_path / user)
        _vdirsyncer(configs[user], "discover", "sync")
        local = _local_event(tmp_path / user)
        local.write_text(with_alarm(local.read_text(encoding="utf-8"), PEOPLE[user]), encoding="utf-8")
        _vdirsyncer(configs[user], "sync")
    assert file_of(family).read_bytes() == before
    # alice, the owner, changes her own alarm with vdirsyncer too: her file, and only her alarms in it
    configs["alice"] = vdirsyncer_config(family, "alice", tmp_path / "alice")
    _vdirsyncer(configs["alice"], "discover", "sync")
    local = _local_event(tmp_path / "alice")
    local.write_text(with_alarm(local.read_text(encoding="utf-8"), PEOPLE["alice"]), encoding="utf-8")
    _vdirsyncer(configs["alice"], "sync")
    assert triggers(file_of(family).read_text()) == {"": ["-PT30M"], "0323": ["-PT30M"]}
    for user in PEOPLE:
        _vdirsyncer(configs[user], "sync")   # nothing comes back changed: their ETag is the one they got
        assert triggers(_local_event(tmp_path / user).read_text(encoding="utf-8")) == {
            "": [PEOPLE[user]], "0323": [PEOPLE[user]]}, user
        where = CALENDAR if user == "alice" else f"{CALENDAR}~alice"
        seen = family.request("GET", f"/{user}/{quote(where)}/{quote(ITEM)}", user)
        assert triggers(seen.text) == {"": [PEOPLE[user]], "0323": [PEOPLE[user]]}
    assert triggers(before.decode()) == {"": ["-PT15M"], "0323": ["-PT15M"]}
    # carol, a subscriber, edits the summary in her folder: vdirsyncer's upload is refused, nothing changes
    stored = file_of(family).read_bytes()
    local = _local_event(tmp_path / "carol")
    text, changed = re.subn(r"SUMMARY:Fußball 🎉 training(\r?\n)", r"SUMMARY:Kein Training\1",
                            local.read_text(encoding="utf-8"), count=1)
    assert changed == 1
    local.write_text(text, encoding="utf-8")
    done = vdirsyncer(configs["carol"], "sync")
    assert done.returncode != 0 and "403" in done.stderr + done.stdout, done.stderr + done.stdout
    assert file_of(family).read_bytes() == stored
    assert "Kein Training" not in family.request("GET", f"/carol/{quote(CALENDAR)}~alice/{quote(ITEM)}",
                                                 "carol").text
