"""A share's mount never hides a person's own collection (issue 13, item 11).

alice's calendar ``家庭`` appears in bob's home as ``/bob/家庭~alice/``.  Found
in use: bob could make ``/bob/家庭~alice/`` himself (MKCALENDAR, or his sync
tool re-creating it after he left the share); when alice's share arrived it
took the path and bob's own events became unreachable.  Both orders, over
HTTP, with the names percent-encoded as clients send them:

- bob first: names with "~" directly in a home are reserved for shares, so
  creating one is refused (403, a sentence, and RFC 4791's / RFC 6352's
  location precondition), and the share finds its place free;
- bob's collection already there (made before the rule: written here in
  Radicale's folder layout, as a restored backup would be): it stays his, at
  its path, with his events; the share takes the first free name,
  ``/bob/家庭~alice~2/``, everywhere bob meets it (his home, CS:shared-as,
  ``shared-with``), and comes back to ``/bob/家庭~alice/`` once his is gone.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import pytest

from ..samples import ICS, VCF, address_book_mkcol, card, event
from ..server import Server, make_server, stored_beforehand

DAV, CALDAV, CARDDAV, CS = "DAV:", "urn:ietf:params:xml:ns:caldav", "urn:ietf:params:xml:ns:carddav", \
    "http://calendarserver.org/ns/"
NAMES = ("家庭", "Fußball 🎉", "family")  # the last: plain ASCII, the same rule
LISTING = (f'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="{DAV}">'
           "<D:prop><D:resourcetype/><D:displayname/></D:prop></D:propfind>")


def url(*segments: str) -> str:
    """``/bob/家庭~alice/`` percent-encoded, as clients send it."""
    return "/" + "".join(quote(s, safe="~") + "/" for s in segments)


def listing(srv: Server, user: str) -> dict[str, str]:
    """The collections in a home, by path, with their display names."""
    r = srv.request("PROPFIND", url(user), user, LISTING, headers={"Depth": "1"})
    assert r.status_code == 207, r.text
    found = {}
    for response in ET.fromstring(r.text).iter(f"{{{DAV}}}response"):
        found[unquote(urlparse(response.findtext(f"{{{DAV}}}href", "")).path)] = \
            response.findtext(f".//{{{DAV}}}displayname") or ""
    return found


def precondition(body: str) -> set[str]:
    return {child.tag for child in ET.fromstring(body)} if body.lstrip().startswith("<") else set()


def alices_calendar(srv: Server, name: str, uid: str) -> None:
    assert srv.request("MKCALENDAR", url("alice", name), "alice").status_code == 201
    r = srv.request("PUT", url("alice", name) + f"{uid}.ics", "alice", event(uid, f"Alice: {name}"), headers=ICS)
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("mount-names")).start()
    yield server
    server.stop()


# -- bob first: the names are reserved ------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_bob_cannot_make_a_collection_where_a_share_would_appear(srv: Server, name: str) -> None:
    mount = f"{name}~alice"
    disk = srv.root / "data" / "collections" / "collection-root" / "bob" / mount

    r = srv.request("MKCALENDAR", url("bob", mount), "bob")
    assert r.status_code == 403, r.text
    assert f"{{{CALDAV}}}calendar-collection-location-ok" in precondition(r.text), r.text
    assert "reserved" in r.text and mount in r.text

    r = srv.request("MKCOL", url("bob", mount), "bob", address_book_mkcol("Bobs Kontakte"))
    assert r.status_code == 403, r.text
    assert f"{{{CARDDAV}}}addressbook-collection-location-ok" in precondition(r.text), r.text

    r = srv.request("MKCOL", url("bob", mount), "bob")
    assert r.status_code == 403 and "reserved" in r.text, r.text

    for target in (url("bob", mount), url("bob", mount)[:-1]):
        r = srv.request("PUT", target, "bob", event("bobs", "Bobs Termin"), headers=ICS)
        assert r.status_code == 403, r.text
        assert f"{{{CALDAV}}}calendar-collection-location-ok" in precondition(r.text), r.text
        r = srv.request("PUT", target, "bob", card("bobs", "Bob Müller"), headers=VCF)
        assert r.status_code == 403, r.text

    assert not disk.exists()
    assert f"/bob/{mount}/" not in listing(srv, "bob")

    # ... so alice's share finds its place free
    alices_calendar(srv, name, "alices")
    srv.ok("share", "add", f"alice/{name}", "--user", "bob", "--role", "collaborator")
    r = srv.request("GET", url("bob", mount) + "alices.ics", "bob")
    assert r.status_code == 200 and f"Alice: {name}" in r.text, r.text
    assert listing(srv, "bob")[f"/bob/{mount}/"] == f"{name} (alice)"
    # and it stays reserved while the share is there
    assert srv.request("MKCALENDAR", url("bob", mount), "bob").status_code == 403


def test_names_without_a_tilde_stay_free(srv: Server) -> None:
    for name in ("Müller", "家庭 2026", "🎉 party"):
        assert srv.request("MKCALENDAR", url("bob", name), "bob").status_code == 201
        assert f"/bob/{name}/" in listing(srv, "bob")


@pytest.mark.parametrize("name", NAMES)
def test_leaving_a_share_does_not_free_its_name(srv: Server, name: str) -> None:
    """bob leaves alice's calendar; his sync tool, still holding its copy, tries to make it again."""
    collection = f"{name}-Ausflug"
    mount = f"{collection}~alice"
    alices_calendar(srv, collection, "trip")
    srv.ok("invite", f"alice/{collection}", "--user", "bob", "--role", "subscriber", acting_as="alice")
    srv.ok("invitation", "accept", f"alice/{collection}", acting_as="bob")
    assert srv.request("DELETE", url("bob", mount), "bob").status_code == 204

    assert srv.request("MKCALENDAR", url("bob", mount), "bob").status_code == 403
    r = srv.request("PUT", url("bob", mount) + "trip.ics", "bob", event("trip", "Bobs Kopie"), headers=ICS)
    assert r.status_code in (403, 404, 409), r.text

    srv.ok("invitation", "accept", f"alice/{collection}", acting_as="bob")
    r = srv.request("GET", url("bob", mount) + "trip.ics", "bob")
    assert r.status_code == 200 and f"Alice: {collection}" in r.text


# -- bob's own collection already there -------------------------------------------------------------


def bobs_own_calendar(server: Server, segment: str, uid: str) -> None:
    """A calendar of bob's, as a backup from before the rule restores it."""
    stored_beforehand(server, f"/bob/{segment}/", {"tag": "VCALENDAR", "D:displayname": "Bobs eigener"},
                      {f"{uid}.ics": event(uid, "Bobs eigener Termin")})


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[Server]:
    server = make_server(tmp_path / "legacy")
    for name in NAMES:
        bobs_own_calendar(server, f"{name}~alice", "bobs-own")
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("name", NAMES)
def test_a_share_never_hides_what_is_already_there(legacy: Server, name: str) -> None:
    srv, mount = legacy, f"{name}~alice"
    alices_calendar(srv, name, "alices")

    srv.ok("share", "add", f"alice/{name}", "--user", "bob", "--role", "collaborator")

    # bob's own calendar stays his, where it was
    r = srv.request("GET", url("bob", mount) + "bobs-own.ics", "bob")
    assert r.status_code == 200 and "Bobs eigener Termin" in r.text, r.text
    assert srv.request("GET", url("bob", mount) + "alices.ics", "bob").status_code == 404
    # alice's is beside it, under the first free name
    moved = f"{mount}~2"
    home = listing(srv, "bob")
    assert home[f"/bob/{mount}/"] == "Bobs eigener"
    assert home[f"/bob/{moved}/"] == f"{name} (alice)"
    r = srv.request("GET", url("bob", moved) + "alices.ics", "bob")
    assert r.status_code == 200 and f"Alice: {name}" in r.text, r.text
    shared = json.loads(srv.ok("shared-with", "bob", "--json"))
    assert [row["path"] for row in shared] == [f"/bob/{moved}/"]

    # writes go where bob sends them
    assert srv.request("PUT", url("bob", mount) + "mine.ics", "bob", event("mine", "Meins"),
                       headers=ICS).status_code == 201
    assert srv.request("PUT", url("bob", moved) + "ours.ics", "bob", event("ours", "Unseres"),
                       headers=ICS).status_code == 201
    assert srv.request("GET", url("alice", name) + "ours.ics", "alice").status_code == 200
    assert srv.request("GET", url("alice", name) + "mine.ics", "alice").status_code == 404
    r = srv.request("PROPPATCH", url("bob", mount), "bob",
                    f'<D:propertyupdate xmlns:D="{DAV}"><D:set><D:prop><D:displayname>Meiner</D:displayname>'
                    "</D:prop></D:set></D:propertyupdate>")
    assert r.status_code == 207, r.text
    assert listing(srv, "bob")[f"/bob/{mount}/"] == "Meiner"
    assert listing(srv, "alice")[f"/alice/{name}/"] != "Meiner"

    # deleting his own deletes his own; the share then takes its own name again
    assert srv.request("DELETE", url("bob", mount), "bob").status_code == 200
    assert srv.request("GET", url("alice", name) + "alices.ics", "alice").status_code == 200
    r = srv.request("GET", url("bob", mount) + "alices.ics", "bob")
    assert r.status_code == 200 and f"Alice: {name}" in r.text, r.text
    assert srv.request("GET", url("bob", moved) + "alices.ics", "bob").status_code == 404


@pytest.mark.parametrize("name", NAMES)
def test_an_accepted_invitation_says_where_it_is(legacy: Server, name: str) -> None:
    """CS:shared-as (caldav-sharing 5.4.1) names the free name, which is where bob finds it."""
    srv = legacy
    alices_calendar(srv, name, "alices")
    srv.ok("invite", f"alice/{name}", "--user", "bob", "--role", "subscriber", acting_as="alice")
    uid = json.loads(srv.ok("invitation", "list", "--json", acting_as="bob"))[0]["id"]
    reply = (f'<?xml version="1.0" encoding="utf-8"?><CS:invite-reply xmlns:D="{DAV}" xmlns:CS="{CS}">'
             f"<D:href>mailto:bob</D:href><CS:invite-accepted/>"
             f"<CS:hosturl><D:href>{url('alice', name)}</D:href></CS:hosturl>"
             f"<CS:in-reply-to>{uid}</CS:in-reply-to></CS:invite-reply>")
    r = srv.request("POST", "/bob/", "bob", reply.encode(), headers={"Content-Type": "application/xml"})
    assert r.status_code == 200, r.text
    shared_as = unquote(ET.fromstring(r.text).findtext(f".//{{{DAV}}}href") or "")
    assert urlparse(shared_as).path == f"/bob/{name}~alice~2/"
    r = srv.request("GET", url("bob", f"{name}~alice~2") + "alices.ics", "bob")
    assert r.status_code == 200 and f"Alice: {name}" in r.text
    r = srv.request("GET", url("bob", f"{name}~alice") + "bobs-own.ics", "bob")
    assert r.status_code == 200 and "Bobs eigener Termin" in r.text
