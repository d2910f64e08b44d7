"""Radicale's storage contract, the same on files and on PostgreSQL (docs/scale-out.md): every method a
client uses, ETag preconditions, UID uniqueness and sync-collection tokens (RFC 6578), through a real
server, with names as people give them (家庭, Müller, 🎉 party, spaces)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote, unquote

import pytest

from .. import dav_kit as dav
from ..samples import address_book_mkcol, card, event
from ..server import Server, make_server

FAMILY = "/alice/" + quote("家庭") + "/"
PARTY = "/alice/" + quote("🎉 party") + "/"
BOOK = "/alice/" + quote("Müller Adressen") + "/"
PROPPATCH = dav.PROPPATCH_NAME
DISPLAYNAME = dav.PROPFIND_NAME


@pytest.fixture(scope="module")
def srv(storage_backend: dict[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("contract"), **storage_backend).start()
    for path in (FAMILY, PARTY):
        assert server.request("MKCALENDAR", path, "alice").status_code == 201, server.log()
    assert server.request("MKCOL", BOOK, "alice", address_book_mkcol("Müller")).status_code == 201
    yield server
    server.stop()


def item(path: str, name: str) -> str:
    return path + quote(name)


def test_put_get_delete_with_names_as_people_give_them(srv: Server) -> None:
    href = item(FAMILY, "Fußball training 🎉.ics")
    body = event("fussball-1", "Fußball mit Müller 家庭")
    r = srv.request("PUT", href, "alice", body, headers=dav.ICS)
    assert r.status_code == 201, r.text
    etag = r.headers["ETag"]
    got = srv.request("GET", href, "alice")
    assert got.status_code == 200 and got.headers["ETag"] == etag
    assert "SUMMARY:Fußball mit Müller 家庭" in got.text.replace("\r\n", "\n")
    assert dav.listing(srv, FAMILY, "alice") == {href: etag}
    r = srv.request("PUT", href, "alice", event("fussball-1", "Fußball, later"), headers=dav.ICS)
    assert r.status_code == 204 and r.headers["ETag"] != etag
    assert srv.request("DELETE", href, "alice").status_code == 200
    assert srv.request("GET", href, "alice").status_code == 404
    assert srv.request("DELETE", href, "alice").status_code == 404
    assert dav.listing(srv, FAMILY, "alice") == {}


def test_cards_in_an_address_book(srv: Server) -> None:
    href = item(BOOK, "Jürgen Müller.vcf")
    assert srv.request("PUT", href, "alice", card("jm", "Jürgen Müller"), headers=dav.VCF).status_code == 201
    r = srv.request("REPORT", BOOK, "alice", dav.addressbook_query(dav.prop_filter("FN", dav.text_match("müller"))),
                    headers={"Depth": "1"})
    assert set(dav.report_etags(r)) == {href}
    r = srv.request("REPORT", BOOK, "alice", dav.addressbook_query(dav.prop_filter("FN", dav.text_match("schmidt"))),
                    headers={"Depth": "1"})
    assert dav.report_etags(r) == {}


def test_time_range_queries_answer_from_the_stored_facts(srv: Server) -> None:
    href = item(PARTY, "tr.ics")
    assert srv.request("PUT", href, "alice", event("tr-1"), headers=dav.ICS).status_code == 201
    inside = srv.request("REPORT", PARTY, "alice", dav.calendar_query("VEVENT", "20260105T000000Z",
                                                                     "20260106T000000Z"), headers={"Depth": "1"})
    outside = srv.request("REPORT", PARTY, "alice", dav.calendar_query("VEVENT", "20260201T000000Z",
                                                                      "20260202T000000Z"), headers={"Depth": "1"})
    assert href in dav.report_etags(inside)
    assert href not in dav.report_etags(outside)
    assert srv.request("DELETE", href, "alice").status_code == 200


def test_etag_preconditions(srv: Server) -> None:
    href = item(FAMILY, "precondition.ics")
    r = srv.request("PUT", href, "alice", event("pre-1"), headers={**dav.ICS, "If-None-Match": "*"})
    assert r.status_code == 201
    etag = r.headers["ETag"]
    again = srv.request("PUT", href, "alice", event("pre-1", "again"), headers={**dav.ICS, "If-None-Match": "*"})
    assert again.status_code == 412
    stale = srv.request("PUT", href, "alice", event("pre-1", "stale"), headers={**dav.ICS, "If-Match": '"nope"'})
    assert stale.status_code == 412
    fresh = srv.request("PUT", href, "alice", event("pre-1", "fresh"), headers={**dav.ICS, "If-Match": etag})
    assert fresh.status_code == 204
    assert srv.request("DELETE", href, "alice", headers={"If-Match": etag}).status_code == 412
    assert srv.request("DELETE", href, "alice", headers={"If-Match": fresh.headers["ETag"]}).status_code == 200


def test_one_uid_per_collection(srv: Server) -> None:
    first = item(FAMILY, "uid a.ics")
    assert srv.request("PUT", first, "alice", event("same-uid"), headers=dav.ICS).status_code == 201
    r = srv.request("PUT", item(FAMILY, "uid b.ics"), "alice", event("same-uid"), headers=dav.ICS)
    assert r.status_code == 409 and "no-uid-conflict" in r.text
    # the same UID in another calendar is fine
    assert srv.request("PUT", item(PARTY, "uid b.ics"), "alice", event("same-uid"), headers=dav.ICS).status_code == 201
    for href in (first, item(PARTY, "uid b.ics")):
        assert srv.request("DELETE", href, "alice").status_code == 200


def test_move_within_and_between_calendars(srv: Server) -> None:
    src = item(FAMILY, "move me.ics")
    assert srv.request("PUT", src, "alice", event("move-1"), headers=dav.ICS).status_code == 201
    renamed = item(FAMILY, "moved 家庭.ics")
    r = srv.request("MOVE", src, "alice", headers={"Destination": srv.url + renamed})
    assert r.status_code == 201, r.text
    assert srv.request("GET", src, "alice").status_code == 404
    assert srv.request("GET", renamed, "alice").status_code == 200
    across = item(PARTY, "moved across.ics")
    assert srv.request("MOVE", renamed, "alice", headers={"Destination": srv.url + across}).status_code == 201
    assert srv.request("GET", across, "alice").status_code == 200
    assert renamed not in dav.listing(srv, FAMILY, "alice")
    # Overwrite: F onto an existing item is refused; T onto an item of another UID is a UID conflict (Radicale's)
    other = item(PARTY, "other.ics")
    assert srv.request("PUT", other, "alice", event("move-2"), headers=dav.ICS).status_code == 201
    refused = srv.request("MOVE", across, "alice", headers={"Destination": srv.url + other, "Overwrite": "F"})
    assert refused.status_code == 412
    replaced = srv.request("MOVE", across, "alice", headers={"Destination": srv.url + other, "Overwrite": "T"})
    assert replaced.status_code == 409
    assert "UID:move-2" in srv.request("GET", other, "alice").text
    for href in (other, across):
        assert srv.request("DELETE", href, "alice").status_code == 200


def test_proppatch_and_propfind_of_properties(srv: Server) -> None:
    r = srv.request("PROPPATCH", FAMILY, "alice", PROPPATCH.format(name="Familie Müller 家庭 🎉"))
    assert r.status_code == 207
    r = srv.request("PROPFIND", FAMILY, "alice", DISPLAYNAME, headers={"Depth": "0"})
    assert "Familie Müller 家庭 🎉" in r.text
    home = srv.request("PROPFIND", "/alice/", "alice", DISPLAYNAME, headers={"Depth": "1"})
    hrefs = {href for href, _ in dav.responses(home.content)}
    assert {FAMILY, PARTY, BOOK} <= hrefs


def test_mkcol_of_a_taken_name_and_of_a_reserved_one(srv: Server) -> None:
    assert srv.request("MKCALENDAR", FAMILY, "alice").status_code == 409
    reserved = srv.request("MKCALENDAR", "/alice/.Radicale.tmp/", "alice").status_code
    props = srv.request("PUT", item(FAMILY, ".Radicale.props"), "alice", event("props"), headers=dav.ICS).status_code
    assert (reserved, props) == (400, 400)


def test_sync_tokens_move_forward_and_report_every_change(srv: Server) -> None:
    path = "/alice/" + quote("sync 同步") + "/"
    assert srv.request("MKCALENDAR", path, "alice").status_code == 201
    first = dav.parse_sync(dav.sync(srv, path, "alice"))
    assert first.found == {}
    a, b = item(path, "a.ics"), item(path, "b b.ics")
    for href in (a, b):
        assert srv.request("PUT", href, "alice", event(href[-8:]), headers=dav.ICS).status_code == 201
    second = dav.parse_sync(dav.sync(srv, path, "alice", first.token))
    assert set(second.found) == {a, b} and not second.gone
    assert srv.request("DELETE", a, "alice").status_code == 200
    third = dav.parse_sync(dav.sync(srv, path, "alice", second.token))
    assert third.gone == {a} and third.found == {}
    # an older token still answers with everything since it
    since_first = dav.parse_sync(dav.sync(srv, path, "alice", first.token))
    assert set(since_first.found) == {b} and a in since_first.gone
    # nothing changed: the same token, nothing reported
    same = dav.parse_sync(dav.sync(srv, path, "alice", third.token))
    assert same.token == third.token and not same.reported
    assert len({first.token, second.token, third.token}) == 3
    # a token of another collection, of stock Radicale, or garbage: sync again from scratch
    other = dav.parse_sync(dav.sync(srv, FAMILY, "alice")).token
    for token in (other, "http://radicale.org/ns/sync/" + "0" * 64, "garbage"):
        assert dav.rejects_token(dav.sync(srv, path, "alice", token)), token
    # the collection deleted and made again: its old tokens are refused
    assert srv.request("DELETE", path, "alice").status_code == 200
    assert srv.request("MKCALENDAR", path, "alice").status_code == 201
    assert dav.rejects_token(dav.sync(srv, path, "alice", third.token))
    assert srv.request("DELETE", path, "alice").status_code == 200


def test_ctag_follows_every_change(srv: Server) -> None:
    before = dav.ctag(srv, PARTY, "alice")
    href = item(PARTY, "ctag.ics")
    assert srv.request("PUT", href, "alice", event("ctag-1"), headers=dav.ICS).status_code == 201
    after_put = dav.ctag(srv, PARTY, "alice")
    assert srv.request("PROPPATCH", PARTY, "alice", PROPPATCH.format(name="🎉 Party")).status_code == 207
    after_props = dav.ctag(srv, PARTY, "alice")
    assert srv.request("DELETE", href, "alice").status_code == 200
    assert len({before, after_put, after_props, dav.ctag(srv, PARTY, "alice")}) == 4


def test_whole_calendar_put_replaces_its_items(srv: Server) -> None:
    path = "/alice/" + quote("import Müller") + "/"
    two = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
           + "".join(f"BEGIN:VEVENT\r\nUID:imp-{n}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T180000Z\r\n"
                     f"SUMMARY:Import {n}\r\nEND:VEVENT\r\n" for n in (1, 2)) + "END:VCALENDAR\r\n")
    assert srv.request("PUT", path, "alice", two, headers=dav.ICS).status_code == 201
    listed = dav.listing(srv, path, "alice")
    assert sorted(listed) == [path + "imp-1.ics", path + "imp-2.ics"]
    whole = srv.request("GET", path, "alice")
    assert whole.status_code == 200 and len(re.findall("BEGIN:VEVENT", whole.text)) == 2
    assert srv.request("DELETE", path, "alice").status_code == 200


def test_data_outlives_a_restart(srv: Server) -> None:
    href = item(FAMILY, "kept.ics")
    r = srv.request("PUT", href, "alice", event("kept-1", "Kept 家庭"), headers=dav.ICS)
    assert r.status_code == 201
    token = dav.parse_sync(dav.sync(srv, FAMILY, "alice")).token
    srv.stop()
    srv.start()
    got = srv.request("GET", href, "alice")
    assert got.status_code == 200 and got.headers["ETag"] == r.headers["ETag"]
    again = dav.parse_sync(dav.sync(srv, FAMILY, "alice", token))
    assert again.token == token and not again.reported
    root = ET.fromstring(srv.request("PROPFIND", FAMILY, "alice", DISPLAYNAME, headers={"Depth": "0"}).content)
    assert root.tag == "{DAV:}multistatus"


@pytest.mark.parametrize("write_happened", [True, False])
def test_a_write_interrupted_by_a_crash_is_settled_at_the_next_start(
        storage_backend: dict[str, dict[str, str]], tmp_path, write_happened: bool) -> None:
    """A pending outbox record whose 'ready' mark never came: kept if the change is stored, dropped if not,
    by looking at the storage (files or PostgreSQL) at the next start."""
    from radicale_ext.site import Settings, Site

    srv = make_server(tmp_path / "srv", **storage_backend).start()
    cal = "/alice/" + quote(f"crash {write_happened}") + "/"
    try:
        assert srv.request("MKCALENDAR", cal, "alice").status_code == 201
        if write_happened:
            assert srv.request("PUT", cal + "crash.ics", "alice", event(f"crash-{write_happened}"),
                               headers=dav.ICS).status_code == 201
    finally:
        srv.stop()
    site = Site(Settings.from_ini(str(srv.config)))
    try:
        with site.db.write() as w:
            if write_happened:   # stored; the process died before marking the record ready
                w.execute("UPDATE outbox SET state = 'pending' WHERE item = 'crash.ics'")
            else:                # the intent recorded; the process died before storing
                w.execute("INSERT INTO outbox(state, kind, actor, owner, collection, item, etag, created_at)"
                          " VALUES ('pending', 'item-changed', 'alice', 'alice', ?, 'ghost.ics', '\"nope\"', 0)",
                          (cal.replace("%20", " "),))
    finally:
        site.db.close()
    srv.start()
    try:
        assert json.loads(srv.ok("--json", "outbox", "list", "--state", "pending")) == []
        rows = json.loads(srv.ok("--json", "outbox", "list"))
        kept = [(r["item"], r["recovered"]) for r in rows   # this test's calendar: the module shares a database
                if r["item"] in ("crash.ics", "ghost.ics") and r["collection"].rstrip("/") == unquote(cal).rstrip("/")]
        assert kept == ([("crash.ics", True)] if write_happened else [])
    finally:
        srv.stop()
