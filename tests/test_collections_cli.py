"""radicale-ext collection create / list / delete: calendars and address books made from the command line.

The command runs apart from the server (the console script, as an admin types
it) while the server runs; what it made is then checked over HTTP: the owner's
home lists it, it takes PUTs, and sharing it works.  Names are the users' own:
Chinese, German, emoji, spaces.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from .samples import ICS, VCF, address_book_mkcol, card, event
from .server import Server

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CARDDAV = "{urn:ietf:params:xml:ns:carddav}"
APPLE = "{http://apple.com/ns/ical/}"
INF = "{http://inf-it.com/ns/ab/}"
PROPS = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:I="http://apple.com/ns/ical/" '
         'xmlns:INF="http://inf-it.com/ns/ab/"><D:prop><D:displayname/><D:resourcetype/><I:calendar-color/>'
         "<INF:addressbook-color/></D:prop></D:propfind>")


def run(server: Server, *args: str) -> subprocess.CompletedProcess:
    return server.cli_process(*args)


def created(server: Server, *args: str) -> str:
    done = run(server, "collection", "create", *args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def refused(done: subprocess.CompletedProcess, *words: str) -> str:
    """One readable line on stderr, exit status 1, no traceback."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("radicale-ext: error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def home(server: Server, user: str) -> dict[str, ET.Element]:
    """The collections of ``user``'s home (Depth 1 PROPFIND), by decoded path."""
    r = server.request("PROPFIND", f"/{user}/", user, PROPS, headers={"Depth": "1"})
    assert r.status_code == 207, (r.status_code, r.text)
    found = {}
    for response in ET.fromstring(r.content).iter(f"{DAV}response"):
        href = unquote(response.findtext(f"{DAV}href") or "")
        if href.rstrip("/") != f"/{user}":
            found[href] = response
    return found


def prop(response: ET.Element, tag: str) -> str | None:
    for propstat in response.iter(f"{DAV}propstat"):
        if "200" in (propstat.findtext(f"{DAV}status") or ""):
            found = propstat.find(f"{DAV}prop/{tag}")
            if found is not None:
                return found.text or ""
    return None


def kinds(response: ET.Element) -> set[str]:
    resourcetype = response.find(f".//{DAV}resourcetype")
    return {child.tag for child in resourcetype} if resourcetype is not None else set()


def folder(server: Server, owner: str) -> Path:
    return server.root / "data" / "collections" / "collection-root" / owner


def outbox(server: Server) -> list[dict]:
    done = run(server, "outbox", "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def leftovers(server: Server) -> list[str]:
    """Temporary files or folders a write left behind."""
    root = server.root / "data" / "collections"
    return [str(p) for p in root.rglob(".Radicale.tmp-*")]


# -- creating, then using it over HTTP -----------------------------------------------------------

NAMES = [
    pytest.param("family", "Family", id="ascii"),
    pytest.param("家庭", "我们的家庭", id="chinese"),
    pytest.param("Fußball 🎉", "Fußball 🎉", id="german-emoji-space"),
    pytest.param("Familie Müller", "Familie Müller", id="spaces"),
]


@pytest.mark.parametrize(("name", "display"), NAMES)
def test_a_calendar_made_from_the_cli_is_listed_written_and_shared(fresh_server: Server, name: str,
                                                                     display: str) -> None:
    server = fresh_server
    said = created(server, f"alice/{name}", "--calendar", "--name", display, "--colour", "#3a86ff")
    assert name in said and "calendar" in said

    listed = home(server, "alice")
    assert f"/alice/{name}/" in listed, list(listed)
    response = listed[f"/alice/{name}/"]
    assert f"{CALDAV}calendar" in kinds(response)
    assert prop(response, f"{DAV}displayname") == display
    assert prop(response, f"{APPLE}calendar-color") == "#3a86ff"

    path = f"/alice/{quote(name)}/"
    uid = f"cli-{uuid.uuid4().hex[:8]}"
    assert server.request("PUT", f"{path}{uid}.ics", "alice", event(uid, "Abendessen 🍲"),
                          headers=ICS).status_code == 201
    assert "Abendessen 🍲" in server.request("GET", f"{path}{uid}.ics", "alice").text

    assert run(server, "share", "add", f"alice/{name}", "--user", "bob", "--role", "collaborator").returncode == 0
    assert run(server, "share", "add", f"alice/{name}", "--user", "carol", "--role", "subscriber").returncode == 0
    for user in ("bob", "carol"):
        shown = {prop(r, f"{DAV}displayname"): href for href, r in home(server, user).items()}
        assert f"{display} (alice)" in shown, shown
    mount = f"/bob/{quote(name)}~alice/"
    assert server.request("PUT", f"{mount}bob-{uid}.ics", "bob", event(f"bob-{uid}"), headers=ICS).status_code == 201
    carol = f"/carol/{quote(name)}~alice/"
    assert server.request("GET", f"{carol}bob-{uid}.ics", "carol").status_code == 200
    assert server.request("PUT", f"{carol}carol-{uid}.ics", "carol", event(f"carol-{uid}"),
                          headers=ICS).status_code == 403
    assert leftovers(server) == []


def test_an_address_book_made_from_the_cli_takes_cards(server: Server) -> None:
    name = f"Kontakte {uuid.uuid4().hex[:6]}"
    created(server, f"alice/{name}", "--address-book", "--name", "Adressbuch der Müllers", "--colour", "#E6A23C")
    response = home(server, "alice")[f"/alice/{name}/"]
    assert f"{CARDDAV}addressbook" in kinds(response)
    assert prop(response, f"{DAV}displayname") == "Adressbuch der Müllers"
    assert prop(response, f"{INF}addressbook-color") == "#E6A23C"
    path = f"/alice/{quote(name)}/"
    assert server.request("PUT", f"{path}jurgen.vcf", "alice", card("jurgen", "Jürgen Müller"),
                          headers=VCF).status_code == 201
    # an event is no card: Radicale refuses it (400), as in an address book a client made
    assert server.request("PUT", f"{path}x.ics", "alice", event("x"), headers=ICS).status_code == 400


def test_a_display_name_may_hold_any_text_on_one_line(server: Server) -> None:
    """An emoji family (joined by invisible U+200D) is fine in a name clients show, though not in a path."""
    name = f"Familie {uuid.uuid4().hex[:6]}"
    created(server, f"alice/{name}", "--calendar", "--name", "Familie 👨\u200d👩\u200d👧 Müller")
    assert prop(home(server, "alice")[f"/alice/{name}/"], f"{DAV}displayname") == "Familie 👨\u200d👩\u200d👧 Müller"


def test_without_a_display_name_the_folder_name_is_shown(server: Server) -> None:
    name = f"舞蹈课 {uuid.uuid4().hex[:4]}"
    created(server, f"alice/{name}", "--calendar")
    assert prop(home(server, "alice")[f"/alice/{name}/"], f"{DAV}displayname") == name


def test_a_first_collection_makes_the_home_of_a_user_who_never_logged_in(fresh_server: Server) -> None:
    """grace has never logged in, so her home folder does not exist yet."""
    server = fresh_server
    assert not folder(server, "grace").exists()
    created(server, "grace/Tanzschule", "--calendar")
    assert "/grace/Tanzschule/" in home(server, "grace")


def test_the_change_is_recorded_in_the_outbox(server: Server) -> None:
    name = f"Garten {uuid.uuid4().hex[:6]}"
    created(server, f"alice/{name}", "--calendar")
    created(server, "--as", "bob", f"bob/{name}", "--calendar")
    records = {(r["collection"], r["actor"]): r for r in outbox(server) if name in r["collection"]}
    assert set(records) == {(f"/alice/{name}/", "alice"), (f"/bob/{name}/", "bob")}
    assert {r["kind"] for r in records.values()} == {"collection-created"}
    done = run(server, "outbox", "list", "--state", "pending", "--json")
    assert not [r for r in json.loads(done.stdout) if name in r["collection"]]


def test_it_waits_for_radicales_storage_lock(server: Server) -> None:
    """While the server writes (it holds the lock exclusively), the command waits, then creates."""
    name = f"wait-{uuid.uuid4().hex[:6]}"
    lock = server.root / "data" / "collections" / ".Radicale.lock"
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "radicale-ext"), "--config", str(server.config),
             "collection", "create", f"alice/{name}", "--calendar"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # ample time to start and reach the lock
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert not (folder(server, "alice") / name).exists()
    assert proc.wait(30) == 0
    assert f"/alice/{name}/" in home(server, "alice")


# -- what is refused ------------------------------------------------------------------------------

def test_an_existing_collection_is_an_error_not_an_overwrite(server: Server) -> None:
    name = f"Ferien {uuid.uuid4().hex[:6]}"
    path = f"/alice/{quote(name)}/"
    assert server.request("MKCALENDAR", path, "alice").status_code == 201
    assert server.request("PUT", f"{path}sommer.ics", "alice", event("sommer"), headers=ICS).status_code == 201
    props = (folder(server, "alice") / name / ".Radicale.props").read_bytes()
    before = len(outbox(server))
    for kind in ("--calendar", "--address-book"):
        refused(run(server, "collection", "create", f"alice/{name}", kind, "--name", "Neu"), "already exists")
    assert (folder(server, "alice") / name / ".Radicale.props").read_bytes() == props
    assert server.request("GET", f"{path}sommer.ics", "alice").status_code == 200
    assert len(outbox(server)) == before
    created(server, f"alice/{name}-2", "--calendar")
    refused(run(server, "collection", "create", f"alice/{name}-2", "--calendar"), "already exists")


BAD_NAMES = {
    "empty": "alice/",
    "no collection": "alice",
    "too deep": "alice/a/b",
    "parent": "alice/..",
    "hidden": "alice/.hidden",
    "a share's mount": "alice/family~bob",
    "tilde at the end": "alice/backup~",
    "colon": "alice/a:b",
    "comma": "alice/a,b",
    "question mark": "alice/what?",
    "quote": "alice/o'clock",
    "tab": "alice/a\tb",
    "newline": "alice/a\nb",
    "zero-width joiner": "alice/a\u200db",
    "leading space": "alice/ family",
    "trailing space": "alice/family ",
    "ten thousand characters": "alice/" + "a" * 10_000,
    "over 255 bytes": "alice/" + "家" * 100,
    "bad owner": "ali ce/family",
}


@pytest.mark.parametrize("path", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_names_are_refused_with_a_reason(server: Server, path: str) -> None:
    before = sorted(os.listdir(folder(server, "alice"))) if folder(server, "alice").exists() else []
    records = len(outbox(server))
    refused(run(server, "collection", "create", path, "--calendar"))
    after = sorted(os.listdir(folder(server, "alice"))) if folder(server, "alice").exists() else []
    assert after == before
    assert len(outbox(server)) == records
    assert leftovers(server) == []


@pytest.mark.parametrize(("option", "value", "words"), [
    ("--colour", "red", ("#rrggbb",)),
    ("--colour", "#12345", ("#rrggbb",)),
    ("--colour", "#gg0000", ("#rrggbb",)),
    ("--name", "", ("display name",)),
    ("--name", "line\nbreak", ("display name",)),
    ("--name", "x" * 10_000, ("display name",)),
])
def test_bad_properties_are_refused_with_a_reason(server: Server, option: str, value: str,
                                                  words: tuple[str, ...]) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    refused(run(server, "collection", "create", f"alice/{name}", "--calendar", option, value), *words)
    assert not (folder(server, "alice") / name).exists()


def test_a_kind_must_be_chosen(server: Server) -> None:
    done = run(server, "collection", "create", "alice/nothing")
    assert done.returncode == 2 and "--calendar" in done.stderr and "Traceback" not in done.stderr
    done = run(server, "collection", "create", "alice/both", "--calendar", "--address-book")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_only_for_an_existing_user_and_only_their_own(server: Server) -> None:
    refused(run(server, "collection", "create", "zoe/family", "--calendar"), "zoe")
    assert not folder(server, "zoe").exists()
    refused(run(server, "--as", "bob", "collection", "create", "alice/bobs", "--calendar"), "bob", "alice")
    assert not (folder(server, "alice") / "bobs").exists()


# -- listing ------------------------------------------------------------------------------------

def test_list_shows_a_users_calendars_and_address_books(fresh_server: Server) -> None:
    server = fresh_server
    created(server, "alice/家庭", "--calendar", "--name", "我们的家庭", "--colour", "#ff0000")
    created(server, "alice/Kontakte", "--address-book")
    assert server.request("MKCALENDAR", "/alice/from-a-phone/", "alice").status_code == 201
    assert server.request("MKCOL", "/alice/book/", "alice", address_book_mkcol("Book")).status_code == 201
    assert server.request("PUT", "/alice/from-a-phone/a.ics", "alice", event("a"), headers=ICS).status_code == 201
    assert server.request("PUT", "/alice/from-a-phone/b.ics", "alice", event("b"), headers=ICS).status_code == 201

    done = run(server, "collection", "list", "alice", "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["collection"]: r for r in json.loads(done.stdout)}
    assert set(rows) == {"alice/家庭", "alice/Kontakte", "alice/from-a-phone", "alice/book"}
    assert rows["alice/家庭"] == {"collection": "alice/家庭", "kind": "calendar", "name": "我们的家庭",
                                  "colour": "#ff0000", "items": 0, "shared_with": 0}
    assert rows["alice/from-a-phone"]["items"] == 2
    assert rows["alice/book"]["kind"] == "address book"

    text = run(server, "collection", "list", "alice").stdout
    assert "alice/家庭" in text and "我们的家庭" in text and "calendar" in text
    assert run(server, "collection", "list", "bob").returncode == 0
    refused(run(server, "collection", "list", "zoe"), "zoe")


# -- deleting -----------------------------------------------------------------------------------

def test_delete_asks_for_yes_and_changes_nothing_without_it(server: Server) -> None:
    name = f"Urlaub {uuid.uuid4().hex[:6]}"
    created(server, f"alice/{name}", "--calendar")
    path = f"/alice/{quote(name)}/"
    assert server.request("PUT", f"{path}a.ics", "alice", event("a"), headers=ICS).status_code == 201
    assert run(server, "share", "add", f"alice/{name}", "--user", "bob", "--role", "subscriber").returncode == 0
    refused(run(server, "collection", "delete", f"alice/{name}"), "--yes", "shares")
    assert (folder(server, "alice") / name / ".Radicale.props").exists()
    assert "bob" in run(server, "share", "list", f"alice/{name}").stdout
    refused(run(server, "collection", "delete", "alice/nothing-here", "--yes"), "no calendar or address book")
    refused(run(server, "--as", "bob", "collection", "delete", f"alice/{name}", "--yes"), "bob")
    assert (folder(server, "alice") / name).exists()


def test_delete_takes_the_collection_its_shares_and_links_while_the_server_runs(fresh_server: Server) -> None:
    server = fresh_server
    created(server, "alice/family", "--calendar")
    for uid in ("dinner", "football"):
        assert server.request("PUT", f"/alice/family/{uid}.ics", "alice", event(uid), headers=ICS).status_code == 201
    assert run(server, "share", "add", "alice/family", "--user", "bob", "--role", "collaborator").returncode == 0
    link = json.loads(run(server, "link", "create", "alice/family", "--json",
                          "--base-url", server.url).stdout)[0]["url"]
    assert server.session.get(link, timeout=30).status_code == 200
    assert "/bob/family~alice/" in home(server, "bob")

    done = run(server, "--as", "alice", "collection", "delete", "alice/family", "--yes")
    assert done.returncode == 0, done.stderr
    assert "2 events" in done.stdout and "1 shares" in done.stdout and "1 links" in done.stdout

    assert server.request("PROPFIND", "/alice/family/", "alice", headers={"Depth": "0"}).status_code == 404
    assert "/bob/family~alice/" not in home(server, "bob")
    assert server.request("PROPFIND", "/bob/family~alice/", "bob", headers={"Depth": "0"}).status_code == 404
    assert server.session.get(link, timeout=30).status_code == 404
    deleted = [r for r in outbox(server) if r["kind"] == "collection-deleted"]
    assert [(r["collection"], r["actor"]) for r in deleted] == [("/alice/family/", "alice")]
    assert deleted[0]["detail"]["audience"] == {"alice": "/alice/family/", "bob": "/bob/family~alice/"}
    assert leftovers(server) == []

    # a new calendar of the same name starts empty, and unshared
    created(server, "alice/family", "--calendar")
    r = server.request("PROPFIND", "/alice/family/", "alice", headers={"Depth": "1"})
    assert r.status_code == 207 and "dinner.ics" not in r.text
    assert "/bob/family~alice/" not in home(server, "bob")
