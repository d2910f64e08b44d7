"""How stock clients find and sync a shared collection: the caldav library,
a Depth-1 PROPFIND, Thunderbird-style discovery (well-known, principal,
home set), sync-collection through the share, and CardDAV."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import caldav
import pytest

from ..samples import ICS, VCF, address_book_mkcol, card, event
from ..server import Server, password

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CR": "urn:ietf:params:xml:ns:carddav"}

SYNC = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:">
  <D:sync-token>{token}</D:sync-token>
  <D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/></D:prop>
</D:sync-collection>"""

PRINCIPAL = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-principal/></D:prop></D:propfind>"""

HOME_SET = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav">
<D:prop><C:calendar-home-set/><CR:addressbook-home-set/></D:prop></D:propfind>"""

LISTING = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
<D:prop><D:resourcetype/><D:displayname/><D:current-user-privilege-set/><CS:getctag/><D:sync-token/></D:prop>
</D:propfind>"""


@pytest.fixture(scope="module")
def shared(server: Server) -> Server:
    for user in ("alice", "bob", "carol", "dave", "erin"):
        server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"})
    assert server.request("MKCALENDAR", "/alice/family/", "alice").status_code == 201
    assert server.request("MKCOL", "/alice/contacts/", "alice", body=ADDRESSBOOK).status_code == 201
    server.ok("circle", "create", "family", "--manager", "alice")
    server.ok("circle", "add", "family", "bob", "erin")
    for collection in ("alice/family", "alice/contacts"):
        server.ok("share", "add", collection, "--circle", "family", "--role", "collaborator")
        server.ok("share", "add", collection, "--user", "carol", "--role", "subscriber")
    server.request("PUT", "/alice/family/first.ics", "alice", event("first", "First"),
                   headers=ICS)
    server.request("PUT", "/alice/contacts/ann.vcf", "alice", card("ann", "Ann"), headers=VCF)
    return server


def _responses(body: str) -> dict[str, ET.Element]:
    root = ET.fromstring(body)
    return {r.findtext("D:href", namespaces=NS): r for r in root.findall("D:response", NS)}


def _privileges(response: ET.Element) -> set[str]:
    return {p.tag.split("}")[1] for p in response.findall(".//D:current-user-privilege-set/D:privilege/*", NS)}


@pytest.mark.parametrize(("user", "writable"), [("bob", True), ("erin", True), ("carol", False)])
def test_caldav_library_finds_the_shared_calendar(shared: Server, user: str, writable: bool) -> None:
    client = caldav.DAVClient(url=shared.url + "/", username=user, password=password(user))
    calendars = {c.get_display_name(): c for c in client.principal().calendars()}
    assert "family (alice)" in calendars
    events = calendars["family (alice)"].events()
    assert "First" in [e.icalendar_component["summary"] for e in events]


def test_dave_without_a_share_sees_nothing(shared: Server) -> None:
    client = caldav.DAVClient(url=shared.url + "/", username="dave", password=password("dave"))
    assert [c.get_display_name() for c in client.principal().calendars()] == []
    assert shared.request("PROPFIND", "/alice/family/", "dave", headers={"Depth": "0"}).status_code == 403
    assert shared.request("PROPFIND", "/dave/family~alice/", "dave", headers={"Depth": "0"}).status_code in (
        403, 404)


@pytest.mark.parametrize(("user", "writable"), [("bob", True), ("carol", False)])
def test_thunderbird_style_discovery(shared: Server, user: str, writable: bool) -> None:
    r = shared.request("PROPFIND", "/.well-known/caldav", user, PRINCIPAL, headers={"Depth": "0"})
    if r.status_code in (301, 302, 303, 307, 308):
        r = shared.request("PROPFIND", r.headers["Location"].replace(shared.url, ""), user, PRINCIPAL,
                           headers={"Depth": "0"})
    assert r.status_code == 207
    principal = ET.fromstring(r.text).findtext(".//D:current-user-principal/D:href", namespaces=NS)
    assert principal == f"/{user}/"
    r = shared.request("PROPFIND", principal, user, HOME_SET, headers={"Depth": "0"})
    home = ET.fromstring(r.text).findtext(".//C:calendar-home-set/D:href", namespaces=NS)
    assert home == f"/{user}/"
    r = shared.request("PROPFIND", home, user, LISTING, headers={"Depth": "1"})
    assert r.status_code == 207
    listed = _responses(r.text)
    for mount, kind in ((f"/{user}/family~alice/", "calendar"), (f"/{user}/contacts~alice/", "addressbook")):
        assert mount in listed, f"{mount} not in {sorted(listed)}"
        entry = listed[mount]
        assert entry.find(f".//D:resourcetype/{'C' if kind == 'calendar' else 'CR'}:{kind}", NS) is not None
        name = entry.findtext(".//D:displayname", namespaces=NS)
        assert name in ("family (alice)", "contacts (alice)")
        privileges = _privileges(entry)
        assert "read" in privileges
        assert ("write-content" in privileges) is writable
        assert "all" not in privileges


def _sync(server: Server, user: str, path: str, token: str = "") -> tuple[str, dict[str, int]]:
    r = server.request("REPORT", path, user, SYNC.format(token=token), headers={"Depth": "1"})
    assert r.status_code == 207, r.text
    root = ET.fromstring(r.text)
    changes = {}
    for resp in root.findall("D:response", NS):
        href = resp.findtext("D:href", namespaces=NS)
        status = resp.findtext("D:status", namespaces=NS) or resp.findtext(".//D:propstat/D:status", namespaces=NS)
        changes[href] = int(re.search(r" (\d{3}) ", status).group(1))
    return root.findtext("D:sync-token", namespaces=NS), changes


@pytest.mark.parametrize("user", ["alice", "bob", "erin", "carol"])
def test_sync_collection_works_through_the_share(shared: Server, user: str) -> None:
    path = "/alice/family/" if user == "alice" else f"/{user}/family~alice/"
    token, first = _sync(shared, user, path)
    assert f"{path}first.ics" in first
    uid = f"sync-{user}"
    assert shared.request("PUT", f"/alice/family/{uid}.ics", "alice", event(uid, "s"),
                          headers=ICS).status_code == 201
    token2, changes = _sync(shared, user, path, token)
    assert changes == {f"{path}{uid}.ics": 200}
    assert shared.request("DELETE", f"/alice/family/{uid}.ics", "alice").status_code == 200
    _token3, changes = _sync(shared, user, path, token2)
    assert changes == {f"{path}{uid}.ics": 404}


def test_carddav_through_the_share(shared: Server) -> None:
    r = shared.request("GET", "/bob/contacts~alice/ann.vcf", "bob")
    assert r.status_code == 200 and "FN:Ann" in r.text
    assert shared.request("PUT", "/bob/contacts~alice/ben.vcf", "bob", card("ben", "Ben"),
                          headers=VCF).status_code == 201
    assert "FN:Ben" in shared.request("GET", "/alice/contacts/ben.vcf", "alice").text
    assert shared.request("PUT", "/carol/contacts~alice/cid.vcf", "carol", card("cid", "C"),
                          headers=VCF).status_code == 403


def test_removing_a_share_takes_effect_on_the_next_request(shared: Server) -> None:
    shared.ok("share", "add", "alice/family", "--user", "dave", "--role", "subscriber")
    assert shared.request("GET", "/dave/family~alice/first.ics", "dave").status_code == 200
    shared.ok("share", "remove", "alice/family", "--user", "dave")
    assert shared.request("GET", "/dave/family~alice/first.ics", "dave").status_code in (403, 404)
    assert shared.request("GET", "/alice/family/first.ics", "dave").status_code == 403


@pytest.mark.parametrize(("body", "headers", "path", "reason"), [
    ("BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nSUMMARY:no end", ICS, "/bob/family~alice/bad.ics",
     "not valid iCalendar (RFC 5545): At line 4: Component VEVENT was never closed"),
    ("this is not iCalendar", ICS, "/bob/family~alice/bad2.ics", "not valid iCalendar"),
    ("BEGIN:VCARD\nVERSION:3.0\nFN:x\n", VCF, "/bob/contacts~alice/bad.vcf",
     "not valid vCard (RFC 6350): At line 3: Component VCARD was never closed"),
    ("BEGIN:VCALENDAR\nEND:VCALENDAR\n", VCF, "/bob/contacts~alice/bad2.vcf",
     "this collection stores vCard (RFC 6350) data, but the body is VCALENDAR"),
])
def test_malformed_data_is_refused_with_a_reason_and_nothing_is_stored(
        shared: Server, body: str, headers: dict, path: str, reason: str) -> None:
    r = shared.request("PUT", path, "bob", body, headers=headers)
    assert r.status_code == 400, r.status_code
    assert r.text.startswith("Bad Request: ") and reason in r.text, r.text
    assert shared.request("GET", path, "bob").status_code == 404


ADDRESSBOOK = address_book_mkcol("contacts")
