"""vdirsyncer, as a family member runs it, against a real server: a collaborator and
a subscriber (with and without ``read_only``) sync alice's calendar "家庭", whose
events have German, Chinese and emoji names (docs/clients.md says what to set)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import icalendar
import pytest

from ..samples import ICS
from ..server import Server, make_server
from ..vdirsyncer_kit import vdirsyncer, vdirsyncer_config

CALENDAR = "家庭"
ITEMS = {  # file name on the server -> summary
    "Fußball 🎉.ics": "Fußball 🎉 training",
    "家庭聚会.ics": "家庭聚会 (family dinner)",
    "Oma Müller.ics": "Oma Müllers Geburtstag",
}


def _event(uid: str, summary: str, start: str = "20260110T170000") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:{start}\r\n"
            f"DURATION:PT1H\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def _path(user: str, collection: str, item: str = "") -> str:
    return f"/{user}/{quote(collection)}/" + quote(item)


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory):
    server = make_server(tmp_path_factory.mktemp("vdirsyncer")).start()
    for user in ("alice", "bob", "carol"):
        server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"})
    assert server.request("MKCALENDAR", _path("alice", CALENDAR), "alice").status_code == 201
    for name, summary in ITEMS.items():
        uid = name.removesuffix(".ics")
        put = server.request("PUT", _path("alice", CALENDAR, name), "alice", _event(uid, summary), headers=ICS)
        assert put.status_code == 201, put.text
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "carol", "--role", "subscriber")
    yield server
    server.stop()


def _local_folder(root: Path) -> Path:
    """The folder vdirsyncer made for alice's calendar as the user's share of it."""
    [folder] = [p for p in (root / "local").iterdir() if p.is_dir() and CALENDAR in p.name]
    return folder


def _summaries(folder: Path) -> dict[str, str]:
    found = {}
    for path in folder.glob("*.ics"):
        for component in icalendar.Calendar.from_ical(path.read_text(encoding="utf-8")).walk("VEVENT"):
            found[str(component["UID"])] = str(component["SUMMARY"])
    return found


QUERY = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
         'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
         '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter>'
         '</C:filter></C:calendar-query>')


def _server_summaries(server: Server) -> dict[str, str]:
    """Every event in alice's calendar, as alice reads it."""
    listing = server.request("REPORT", _path("alice", CALENDAR), "alice", headers={"Depth": "1"}, body=QUERY)
    assert listing.status_code == 207, listing.text
    found = {}
    for data in ET.fromstring(listing.content).iter("{urn:ietf:params:xml:ns:caldav}calendar-data"):
        for event in icalendar.Calendar.from_ical(data.text or "").walk("VEVENT"):
            found[str(event["UID"])] = str(event["SUMMARY"])
    return found


def test_a_collaborator_syncs_both_ways(family: Server, tmp_path: Path) -> None:
    config = vdirsyncer_config(family, "bob", tmp_path)
    done = vdirsyncer(config, "discover", "sync")
    assert done.returncode == 0, done.stderr + done.stdout
    folder = _local_folder(tmp_path)
    assert _summaries(folder) == {name.removesuffix(".ics"): s for name, s in ITEMS.items()}

    # bob adds an event and changes one in his folder; the next sync uploads both
    (folder / "Grillen am See.ics").write_text(_event("Grillen am See", "Grillen am See 🔥"), encoding="utf-8")
    changed = next(p for p in folder.glob("*.ics") if "家庭聚会 (family dinner)" in p.read_text(encoding="utf-8"))
    changed.write_text(_event("家庭聚会", "家庭聚会 moved to Sunday", "20260111T180000"), encoding="utf-8")
    done = vdirsyncer(config, "sync")
    assert done.returncode == 0, done.stderr + done.stdout

    on_server = _server_summaries(family)
    assert on_server["Grillen am See"] == "Grillen am See 🔥"
    assert on_server["家庭聚会"] == "家庭聚会 moved to Sunday"

    # alice's change reaches bob on the next sync
    family.request("PUT", _path("alice", CALENDAR, "Oma Müller.ics"), "alice",
                   _event("Oma Müller", "Oma Müllers 80. Geburtstag 🎂"), headers=ICS)
    done = vdirsyncer(config, "sync")
    assert done.returncode == 0, done.stderr + done.stdout
    assert _summaries(folder)["Oma Müller"] == "Oma Müllers 80. Geburtstag 🎂"
    # put the server back as the other tests expect it
    family.request("PUT", _path("alice", CALENDAR, "Oma Müller.ics"), "alice",
                   _event("Oma Müller", ITEMS["Oma Müller.ics"]), headers=ICS)


def test_a_subscriber_with_read_only_syncs_and_local_edits_are_reverted(family: Server, tmp_path: Path) -> None:
    before = _server_summaries(family)
    config = vdirsyncer_config(family, "carol", tmp_path, read_only=True)
    done = vdirsyncer(config, "discover", "sync")
    assert done.returncode == 0, done.stderr + done.stdout
    folder = _local_folder(tmp_path)
    assert _summaries(folder) == before

    edited = next(p for p in folder.glob("*.ics") if "Fußball" in p.read_text(encoding="utf-8"))
    edited.write_text(_event("Fußball 🎉", "carol was here"), encoding="utf-8")
    (folder / "new.ics").write_text(_event("carols-own", "Carol's own"), encoding="utf-8")
    for _ in range(2):  # every later sync succeeds too
        done = vdirsyncer(config, "sync")
        assert done.returncode == 0, done.stderr + done.stdout
    assert _server_summaries(family) == before, "a subscriber never writes"
    assert _summaries(folder)["Fußball 🎉"] == ITEMS["Fußball 🎉.ics"], "the local edit is reverted"


def test_a_subscriber_without_read_only_is_refused_with_a_reason(family: Server, tmp_path: Path) -> None:
    before = _server_summaries(family)
    config = vdirsyncer_config(family, "carol", tmp_path)
    done = vdirsyncer(config, "discover", "sync")
    assert done.returncode == 0, done.stderr + done.stdout
    folder = _local_folder(tmp_path)
    edited = next(p for p in folder.glob("*.ics") if "Fußball" in p.read_text(encoding="utf-8"))
    edited.write_text(_event("Fußball 🎉", "carol was here"), encoding="utf-8")
    done = vdirsyncer(config, "sync")
    assert done.returncode != 0
    assert "403" in done.stderr + done.stdout
    assert _server_summaries(family) == before, "a subscriber never writes"
