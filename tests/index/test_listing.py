"""PROPFIND depth 1 written from the item index (radicale_ext/plugins/handlers/listing.py) says what Radicale says.

Each case asks the same listing twice: once with only item properties (the
index answers the items) and once with DAV:displayname added, which sends the
whole request down Radicale's own path; the item responses must be equal
(the extra property aside), for the owner and through a share's mount.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import unquote

import pytest

from ..samples import address_book_mkcol, event
from ..server import Server, make_server

DAV = "{DAV:}"
ITEM_PROPS = ["getetag", "getcontenttype", "resourcetype", "getlastmodified"]


def propfind(props: list[str]) -> str:
    inner = "".join(f"<D:{p}/>" for p in props)
    return f'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>{inner}</D:prop></D:propfind>'


def card(uid: str, name: str) -> str:
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n"


def listing(server: Server, path: str, user: str, props: list[str]) -> tuple[int, dict[str, dict[str, str]]]:
    """Status, and per item href the 200 properties (tag -> text, children for resourcetype)."""
    r = server.request("PROPFIND", path, user, propfind(props), headers={"Depth": "1"})
    if r.status_code != 207:
        return r.status_code, {}
    items: dict[str, dict[str, str]] = {}
    for response in ET.fromstring(r.content).findall(f"{DAV}response"):
        href = response.findtext(f"{DAV}href") or ""
        if href.endswith("/"):
            continue
        found: dict[str, str] = {}
        for propstat in response.findall(f"{DAV}propstat"):
            if " 200 " not in (propstat.findtext(f"{DAV}status") or ""):
                continue
            for prop in propstat.find(f"{DAV}prop") or []:
                found[prop.tag] = (prop.text or "") + "".join(child.tag for child in prop)
        items[href] = found
    return 207, items


@pytest.fixture(scope="module")
def shared(server: Server) -> Server:
    srv = server
    assert srv.request("MKCALENDAR", "/alice/family/", "alice").status_code == 201
    assert srv.request("MKCOL", "/alice/people/", "alice", address_book_mkcol("people")).status_code == 201
    for n in range(25):
        assert srv.request("PUT", f"/alice/family/e {n}.ics", "alice", event(f"e{n}"),
                           headers={"Content-Type": "text/calendar"}).status_code == 201
        assert srv.request("PUT", f"/alice/people/c{n}.vcf", "alice", card(f"c{n}", f"Person {n}"),
                           headers={"Content-Type": "text/vcard"}).status_code == 201
    srv.ok("share", "add", "alice/family", "--user", "bob", "--role", "subscriber")
    srv.ok("share", "add", "alice/people", "--user", "bob", "--role", "collaborator")
    return srv


@pytest.mark.parametrize(("user", "path", "count"), [
    ("alice", "/alice/family/", 25), ("alice", "/alice/people/", 25),
    ("bob", "/bob/family~alice/", 25), ("bob", "/bob/people~alice/", 25),
    ("carol", "/alice/family/", 0), ("carol", "/carol/family~alice/", 0)])
@pytest.mark.parametrize("props", [["getetag"], ITEM_PROPS, ["resourcetype", "getetag"]])
def test_the_index_listing_equals_radicales(shared: Server, user: str, path: str, count: int,
                                            props: list[str]) -> None:
    fast_status, fast = listing(shared, path, user, props)
    slow_status, slow = listing(shared, path, user, [*props, "displayname"])
    assert fast_status == slow_status
    assert len(fast) == count
    for values in slow.values():
        values.pop(f"{DAV}displayname", None)
    assert fast == slow
    assert all(unquote(href).startswith(path) for href in fast)
    assert all(values[f"{DAV}getetag"].startswith('"') for values in fast.values())


def test_the_listing_follows_writes(shared: Server) -> None:  # last: it changes the shared calendar
    assert shared.request("DELETE", "/alice/family/e 3.ics", "alice").status_code == 200
    assert shared.request("PUT", "/alice/family/new.ics", "alice", event("new"),
                          headers={"Content-Type": "text/calendar"}).status_code == 201
    _, fast = listing(shared, "/bob/family~alice/", "bob", ["getetag"])
    hrefs = {href.rsplit("/", 1)[1] for href in fast}
    assert "new.ics" in hrefs and "e%203.ics" not in hrefs and len(hrefs) == 25


def test_the_item_part_comes_from_the_index(tmp_path) -> None:
    """Radicale logs each item it checks at debug level; the index listing checks none of them."""
    srv = make_server(tmp_path / "server", users=("alice",), logging={"level": "debug"}).start()
    try:
        assert srv.request("MKCALENDAR", "/alice/cal/", "alice").status_code == 201
        assert srv.request("PUT", "/alice/cal/only.ics", "alice", event("only"),
                           headers={"Content-Type": "text/calendar"}).status_code == 201
        log = srv.root / "server.log"

        def items_checked_by_radicale(props: list[str]) -> int:
            before = log.read_text().count("access to item 'only.ics'")
            assert listing(srv, "/alice/cal/", "alice", props)[1]
            return log.read_text().count("access to item 'only.ics'") - before

        assert items_checked_by_radicale(["getetag"]) == 0
        assert items_checked_by_radicale(["getetag", "displayname"]) == 1
    finally:
        srv.stop()
