"""What the core reads of stored collections without Radicale (base/collection_store.py), the same on files and
on PostgreSQL: a person's calendars at the command line, collections made, renamed and deleted there, a share's
name in the sharee's home, links to a calendar and to one of its events found by UID."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from .. import dav_kit as dav
from ..samples import address_book_mkcol, event
from ..server import Server, make_server

FAMILY = "/alice/" + quote("家庭") + "/"
DISPLAYNAME = dav.PROPFIND_NAME
PROPPATCH = dav.PROPPATCH_NAME


@pytest.fixture(scope="module")
def srv(storage_backend: dict[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("core-reads"), **storage_backend).start()
    assert server.request("MKCALENDAR", FAMILY, "alice").status_code == 201
    assert server.request("PROPPATCH", FAMILY, "alice", PROPPATCH.format(name="Familie Müller")).status_code == 207
    assert server.request("PUT", FAMILY + quote("🎉 party.ics"), "alice", event("party-1", "🎉 Party"),
                          headers=dav.ICS).status_code == 201
    yield server
    server.stop()


def names_in(server: Server, path: str, user: str) -> dict[str, str]:
    r = server.request("PROPFIND", path, user, DISPLAYNAME, headers={"Depth": "1"})
    assert r.status_code == 207, r.text
    return {href: (dav.found_prop(element, "{DAV:}displayname") or "") for href, element in dav.responses(r.content)}


def test_a_persons_collections_at_the_command_line(srv: Server) -> None:
    rows = json.loads(srv.ok("collection", "list", "alice", "--json"))
    family = next(row for row in rows if row["collection"] == "alice/家庭")
    assert family["name"] == "Familie Müller" and family["items"] == 1 and family["kind"] == "calendar"


def test_collections_made_renamed_and_deleted_at_the_command_line(srv: Server) -> None:
    srv.ok("collection", "create", "alice/Fußball 🎉", "--calendar", "--name", "Fußball")
    path = "/alice/" + quote("Fußball 🎉") + "/"
    assert names_in(srv, "/alice/", "alice")[path] == "Fußball"
    srv.ok("collection", "change", "alice/Fußball 🎉", "--name", "Fußball (U12)")
    assert names_in(srv, "/alice/", "alice")[path] == "Fußball (U12)"
    again = srv.cli("collection", "create", "alice/Fußball 🎉", "--calendar")
    assert again.code != 0 and "already exists" in again.err
    srv.ok("collection", "delete", "alice/Fußball 🎉", "--yes")
    assert srv.request("PROPFIND", path, "alice", DISPLAYNAME, headers={"Depth": "0"}).status_code == 404
    gone = srv.cli("collection", "delete", "alice/Fußball 🎉", "--yes")
    assert gone.code != 0 and "no calendar or address book" in gone.err


def test_a_share_shows_the_owners_name_in_the_sharees_home(srv: Server) -> None:
    srv.ok("share", "add", "alice/家庭", "--user", "bob", "--role", "collaborator")
    mount = "/bob/" + quote("家庭~alice") + "/"
    assert names_in(srv, "/bob/", "bob")[mount] == "Familie Müller (alice)"
    got = srv.request("GET", mount + quote("🎉 party.ics"), "bob")
    assert got.status_code == 200 and "🎉 Party" in got.text


def test_links_to_a_calendar_and_to_an_event_found_by_its_uid(srv: Server) -> None:
    whole = json.loads(srv.ok("link", "create", "alice/家庭", "--base-url", srv.url, "--json"))[0]
    r = requests.get(whole["url"], timeout=30)
    assert r.status_code == 200 and "🎉 Party" in r.text
    one = json.loads(srv.ok("link", "create", "alice/家庭", "--event", "party-1", "--base-url", srv.url,
                            "--json"))[0]
    r = requests.get(one["url"], timeout=30)
    assert r.status_code == 200 and "UID:" in r.text
    # a change is seen by the link's next answer (its cached ETag follows the stored collection)
    first = requests.get(whole["url"], timeout=30)
    assert srv.request("PUT", FAMILY + "later.ics", "alice", event("later-1", "Später"),
                       headers=dav.ICS).status_code == 201
    second = requests.get(whole["url"], timeout=30, headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and "Später" in second.text
    missing = srv.cli("link", "create", "alice/家庭", "--event", "no-such-uid", "--base-url", srv.url)
    assert missing.code != 0 and "no event named or with UID" in missing.err
    ET.fromstring(srv.request("PROPFIND", FAMILY, "alice", DISPLAYNAME, headers={"Depth": "0"}).content)


def test_a_me_card_chosen_and_replaced_at_the_command_line(srv: Server, tmp_path_factory: pytest.TempPathFactory
                                                          ) -> None:
    book = "/alice/" + quote("Kontakte Müller") + "/"
    assert srv.request("MKCOL", book, "alice", address_book_mkcol("Kontakte")).status_code == 201
    href = book + quote("ich.vcf")
    first = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:alice-me\r\nFN:Alice Müller\r\nN:Müller;Alice;;;\r\n"
             "END:VCARD\r\n")
    assert srv.request("PUT", href, "alice", first, headers=dav.VCF).status_code == 201
    srv.ok("card", "set-me", "alice/Kontakte Müller", "--card", "alice-me", acting_as="alice")   # found by UID
    token = dav.parse_sync(dav.sync(srv, book, "alice")).token
    new = tmp_path_factory.mktemp("card") / "me.vcf"
    new.write_text(first.replace("FN:Alice Müller", "FN:Alice Müller-家庭"), newline="")
    assert "is replaced" in srv.ok("card", "replace", str(new), acting_as="alice")
    got = srv.request("GET", href, "alice")
    assert got.status_code == 200 and "FN:Alice Müller-家庭" in got.text
    assert got.headers["ETag"] == '"' + hashlib.sha256(got.text.encode()).hexdigest() + '"'
    changed = dav.parse_sync(dav.sync(srv, book, "alice", token))
    assert changed.found == {href: got.headers["ETag"]}
    r = srv.request("REPORT", book, "alice", dav.addressbook_query(dav.prop_filter("FN", dav.text_match("家庭"))),
                    headers={"Depth": "1"})
    assert dav.report_etags(r) == {href: got.headers["ETag"]}
