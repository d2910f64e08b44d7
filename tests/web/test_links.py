"""Share links on the page (issue 14, item 5): the core's operations the page calls (without a
server), the page over HTTP (the address and QR code shown once, the list, revoking, who may do
what, CSRF, escaping, a me card's audience, the writable-link warning), and the flow in a real
browser: the QR code on the page decodes to the address, which serves the calendar without a login
until alice revokes the link."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import requests
import zxingcpp
from PIL import Image, ImageDraw
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from radicale_ext.base.collection_folders import FolderWrites
from radicale_ext.base.database import Database
from radicale_ext.base.errors import Forbidden, NotFound
from radicale_ext.base.model import Grantee, GranteeKind, Role, ShareBasis
from radicale_ext.cli.collections import homes_of
from radicale_ext.homes.folder_writer import FolderWriter
from radicale_ext.homes.properties import Kind
from radicale_ext.links import qr, share_links
from radicale_ext.links.share_links import LinkKind, LinkView, parse_expiry
from radicale_ext.site import Settings, Site
from radicale_ext.web.app import WebPage
from radicale_ext.web.context import SESSION_COOKIE
from radicale_ext.web.http import Request
from radicale_ext.web.once import ShownOnce

from ..samples import ICS, VCF, address_book_mkcol, event
from ..server import USERS, Server, make_server, second_process, write_users
from .conftest import screenshot
from .page_kit import Browser
from .test_browser import go, log_in, submit

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ME = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:alice-me\r\nN:Müller;Alice;;;\r\nFN:Alice Müller (米勒爱丽丝)\r\n"
      "TEL;TYPE=CELL:+49 170 1234567\r\nNOTE:🎉 Schlüssel beim Nachbarn\r\nEND:VCARD\r\n")
ZHANG = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:zhang-wei\r\nN:张;伟;;;\r\nFN:张伟\r\nEND:VCARD\r\n"


# -- the core, without a server ----------------------------------------------------------------

@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    write_users(tmp_path / "users", USERS)
    site = Site(Settings(collections_folder=str(tmp_path / "collections"), database_path=str(tmp_path / "db.sqlite"),
                         groups_file=None, htpasswd_file=str(tmp_path / "users"), rights_file=None))
    yield site
    site.db.close()


def _calendar(site: Site, owner: str, name: str, events: dict[str, str]) -> str:
    made = homes_of(site).create(owner, kind=Kind.CALENDAR, display_name=name, actor=owner)
    folder = Path(site.settings.collections_folder) / "collection-root" / owner / made.name
    for href, text in events.items():
        (folder / href).write_text(text, encoding="utf-8")
    return made.path


def test_who_may_make_links_is_asked_before_anything_says_what_exists(site: Site) -> None:
    path = _calendar(site, "alice", "家庭", {})
    site.shares.add(path, Grantee(GranteeKind.USER, "bob"), Role.COLLABORATOR, actor=None,
                    basis=ShareBasis.AT_ONCE)
    site.shares.add(path, Grantee(GranteeKind.USER, "carol"), Role.SUBSCRIBER, actor=None,
                    basis=ShareBasis.AT_ONCE)
    links = site.links
    assert links.may_create(path, "alice") and links.may_create(path, None)
    assert not any(links.may_create(path, who) for who in ("bob", "carol", "dave"))
    assert links.shared_linkable("bob") == []
    links.allow_collaborators(path, True, actor="alice")
    assert links.may_create(path, "bob") and not links.may_create(path, "carol")
    assert [g.collection for g in links.shared_linkable("bob")] == [path] and links.shared_linkable("carol") == []
    for who, words in (("carol", "is not a collaborator"), ("dave", "is not a collaborator")):
        with pytest.raises(Forbidden, match=words):
            links.require_may_create(path, who)
        with pytest.raises(Forbidden):
            links.items(path, actor=who)
    with pytest.raises(Forbidden):          # an outsider learns nothing of alice's collection names
        links.items("/alice/nothing/", actor="dave")
    with pytest.raises(NotFound):
        links.items("/alice/nothing/", actor="alice")


def test_a_collections_items_by_name_in_any_language(site: Site) -> None:
    path = _calendar(site, "alice", "家庭", {
        "b.ics": event("b", "Fußball 🎉 Training"), "a.ics": event("a", "家庭聚餐"),
        "c.ics": event("c", EVIL).replace("20260105T180000Z", "20251224T180000Z"),
        "d.ics": event("d", "Müller\\, Meier und Söhne")})
    items = site.links.items(path, actor="alice")
    assert [(i.href, i.name, i.day) for i in items] == [
        ("c.ics", EVIL, "2025-12-24"), ("b.ics", "Fußball 🎉 Training", "2026-01-05"),
        ("d.ics", "Müller, Meier und Söhne", "2026-01-05"), ("a.ics", "家庭聚餐", "2026-01-05")]
    target = site.links.target(path, item="a.ics")
    assert (target.kind, target.item) == (LinkKind.EVENT, "a.ics")
    assert site.links.item_of(target).name == "家庭聚餐"
    assert site.links.target(path).kind is LinkKind.CALENDAR
    with pytest.raises(NotFound):
        site.links.target(path, item="nothing.ics")


def test_every_view_of_a_link_only_reads_so_no_link_is_writable(site: Site) -> None:
    assert {view: view.role for view in LinkView} == {LinkView.FULL: Role.SUBSCRIBER,
                                                      LinkView.FREE_BUSY: Role.SUBSCRIBER}
    path = _calendar(site, "alice", "家庭", {})
    new = site.links.create(site.links.target(path), actor="alice")
    assert new.link.role is Role.SUBSCRIBER and not new.link.writable


def test_an_expiry_date_ends_with_the_day_in_the_persons_zone() -> None:
    shanghai, berlin = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    assert parse_expiry("2026-01-02", now, shanghai) == dt.datetime(2026, 1, 3, tzinfo=shanghai).timestamp()
    assert parse_expiry("2026-01-02", now, shanghai) == dt.datetime(2026, 1, 2, 16, tzinfo=dt.UTC).timestamp()
    assert parse_expiry("2026-07-02T18:00", now, berlin) == dt.datetime(2026, 7, 2, 16, tzinfo=dt.UTC).timestamp()
    assert parse_expiry("2026-01-02T18:00Z", now, shanghai) == dt.datetime(2026, 1, 2, 18, tzinfo=dt.UTC).timestamp()
    assert parse_expiry("7d", now, shanghai) == now + 7 * 86400


def test_a_new_address_is_taken_once_by_the_session_that_made_it(tmp_path: Path) -> None:
    now = [0.0]
    db = Database(str(tmp_path / "web-sessions.sqlite"))
    once = ShownOnce(db, keep_for=600, clock=lambda: now[0])
    once.keep("session-a", "k3f9x2ab", "token-1")
    assert once.take("session-b", "k3f9x2ab") is None          # another session never gets it
    assert once.take("session-a", "k3f9x2ab") == "token-1"
    assert once.take("session-a", "k3f9x2ab") is None          # once
    once.keep("session-a", "p0d8m1qe", "token-2")
    now[0] = 601
    assert once.take("session-a", "p0d8m1qe") is None          # nobody asked in time: forgotten
    # what waits in the database opens only with the session's id, which the database does not hold
    once.keep("session-a", "q7w2e9rt", "token-3-Fußball-家庭")
    [(digest, sealed)] = db.read("SELECT session_digest, sealed FROM shown_once")
    assert b"token-3" not in bytes(sealed) and "session-a" not in digest
    assert ShownOnce(db, clock=lambda: now[0]).take("session-a", "q7w2e9rt") == "token-3-Fußball-家庭"   # elsewhere


def test_the_address_is_shown_by_whichever_server_process_answers_its_page(tmp_path: Path) -> None:
    """With several server processes (``radicale-ext serve --processes N``, or several hosts), the form that
    makes a link and the page that shows its address may be answered by two processes."""
    first = make_server(tmp_path / "first").start()
    second = second_process(first, tmp_path / "second").start()
    try:
        alice = Browser(first).logged_in("alice")
        assert alice.create("家庭").status_code == 303
        alice.get("/links/new", params={"collection": CALENDAR})
        r = alice.post("/links/create", {"collection": CALENDAR, "item": "", "view": "full", "expires": "",
                                         "expires_on": "", "label": "Oma's Tablet 🎉"})
        assert r.status_code == 303, (r.status_code, html.unescape(r.text)[-600:])
        shown = alice.session.get(second.url + r.headers["Location"], timeout=30)   # the other process
        address = address_of(shown.text)
        assert shown.status_code == 200 and address and "/.links/" in address, html.unescape(shown.text)[-800:]
        assert requests.get(address, timeout=30).status_code == 200
        again = alice.session.get(first.url + r.headers["Location"], timeout=30)
        assert again.status_code == 200 and address_of(again.text) is None and "shown once" in again.text
    finally:
        second.stop()
        first.stop()


def rasterize(size: int, path: str, scale: int = 8) -> Image.Image:
    """Paint an SVG path of the page's QR drawing (only M, h, v and z) as a PNG would show it."""
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path):
        x0, y0 = int(x) * scale, int(y) * scale
        draw.rectangle((x0, y0, x0 + int(width) * scale - 1, y0 + scale - 1), fill=0)
    assert re.fullmatch(r"(M\d+ \d+h\d+v1h-\d+z)+", path), "the drawing is made of runs only"
    return image


def decoded(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def test_the_qr_drawing_decodes_to_the_address() -> None:
    address = "https://cal.example.org/.links/k3f9x2abQ0sAbCdEfGhIjKlMnOpQrStUvWxYz012.ics"
    drawing = qr.drawing(address)
    assert drawing.size == 37 + 2 * qr.QUIET_ZONE   # version 5 at level M holds it, with its quiet zone
    assert decoded(rasterize(drawing.size, drawing.path)) == [address]


def test_the_writable_link_warning_follows_the_cores_role_of_a_link(site: Site, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No link writes today; the page warns about every working link whose role the core says writes.
    Shown by changing the core's notion of a view's role (VIEW_ROLES), not a flag of the page."""
    writer = FolderWriter(FolderWrites(site.settings.collections_folder), site.collections, outbox=site.outbox,
                          shares=site.shares, invitations=site.invitations, links=site.links)
    web = WebPage(site, check_password=lambda *_: "", writer=writer, sessions_path=str(tmp_path / "sessions"))
    path = _calendar(site, "alice", "家庭", {})
    kept = site.links.create(site.links.target(path), actor="alice").link
    gone = site.links.create(site.links.target(path), view=LinkView.FREE_BUSY, actor="alice").link
    site.links.revoke(gone.id, actor="alice")
    session_id, _session = web.sessions.start("alice")

    def listing() -> str:
        answer = web.handle(Request("GET", "/links", "/.my", cookies={SESSION_COOKIE: session_id}))
        assert answer.status == 200
        return answer.body.decode()

    page = listing()
    assert kept.id in page and 'id="writable"' not in page and 'class="warning"' not in page
    monkeypatch.setitem(share_links.VIEW_ROLES, LinkView.FULL, Role.COLLABORATOR)
    assert site.links.get(kept.id).writable
    page = listing()
    assert 'id="writable"' in page and "1 of your links lets whoever has its address change" in page
    assert page.count('class="warning"') == 1           # the working one; the revoked one warns nobody
    monkeypatch.setitem(share_links.VIEW_ROLES, LinkView.FREE_BUSY, Role.COLLABORATOR)
    assert listing().count('class="warning"') == 1


# -- over HTTP ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def linked(web_server: Server) -> Server:
    """alice's 家庭 (three events, one named with markup), shared with bob (collaborator) and carol
    (subscriber); dave is an outsider; her address book Kontakte keeps her me card, seen by the
    circle friends."""
    alice = Browser(web_server).logged_in("alice")
    assert alice.create("家庭").status_code == 303
    for uid, summary in (("fussball", "Fußball 🎉 Training"), ("essen", "家庭聚餐"), ("evil", EVIL)):
        assert web_server.request("PUT", f"/alice/{quote('家庭')}/{uid}.ics", "alice", event(uid, summary),
                                  headers=ICS).status_code == 201
    web_server.ok("share", "add", "alice/家庭", "--user", "bob", "--role", "collaborator")
    web_server.ok("share", "add", "alice/家庭", "--user", "carol", "--role", "subscriber")
    assert web_server.request("MKCOL", "/alice/Kontakte/", "alice", address_book_mkcol("Kontakte")).status_code == 201
    for href, card in (("me.vcf", ME), ("zhang.vcf", ZHANG)):
        assert web_server.request("PUT", f"/alice/Kontakte/{href}", "alice", card, headers=VCF).status_code == 201
    web_server.ok("card", "set-me", "alice/Kontakte/me.vcf", acting_as="alice")
    web_server.ok("circle", "create", "friends", "--manager", "alice")
    web_server.ok("card", "share", "--circle", "friends", "--fields", "FN, N", acting_as="alice")
    return web_server


CALENDAR = "/alice/家庭/"


def address_of(page: str) -> str | None:
    found = re.search(r'id="address" class="address" value="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def make(browser: Browser, **fields: str) -> tuple[str, requests.Response]:
    """Make a link with the page's form; the link's id and the page that shows it."""
    browser.get("/links/new", params={"collection": fields.get("collection", CALENDAR)})
    r = browser.post("/links/create", {"collection": CALENDAR, "item": "", "view": "full", "expires": "",
                                       "expires_on": "", "label": "", **fields})
    assert r.status_code == 303, (r.status_code, html.unescape(r.text)[-600:])
    link_id = re.search(r"link=([a-z0-9]+)", r.headers["Location"]).group(1)
    return link_id, browser.session.get(browser.server.url + r.headers["Location"], timeout=30)


def anonymous(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


def png_of(page: str) -> bytes:
    found = re.search(r'href="data:image/png;base64,([A-Za-z0-9+/=]+)" download="link-[a-z0-9]+\.png"', page)
    assert found, "the page offers the QR code as a PNG download"
    return base64.b64decode(found.group(1))


def test_the_address_and_its_qr_code_are_shown_once_and_serve_the_calendar_until_revoked(linked: Server) -> None:
    alice = Browser(linked).logged_in("alice")
    link_id, shown = make(alice, label="Fußball 🎉 Oma's Tablet", expires="30d")
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    address = address_of(shown.text)
    assert address and address.startswith(f"{linked.url}/.links/{link_id}") and address.endswith(".ics")
    assert f'href="webcal://127.0.0.1:{linked.port}/.links/{link_id}' in shown.text
    assert decoded(Image.open(io.BytesIO(png_of(shown.text)))) == [address]
    size, path = re.search(r'<svg id="qr"[^>]* viewBox="0 0 (\d+) \d+".*?<path fill="#000000" d="([^"]+)"',
                           shown.text, re.S).groups()
    assert decoded(rasterize(int(size), path)) == [address]
    assert not re.search(r"<script(?![^>]*\bsrc=)", shown.text)   # no inline script: the CSP would refuse it
    # the address serves the calendar without a login; a link never writes
    served = anonymous(address)
    assert served.status_code == 200 and "Fußball 🎉 Training" in served.text and "家庭聚餐" in served.text
    assert requests.put(address, data=event("x"), headers=ICS, timeout=30).status_code == 405
    # never again: the same page, asked for again, cannot show it
    again = alice.get("/links/made", params={"link": link_id})
    assert again.status_code == 200 and address_of(again.text) is None and "shown once" in again.text
    secret = address.rsplit("/", 1)[1][len(link_id):-4]
    listing = alice.get("/links")
    assert link_id in listing.text and secret not in listing.text and secret not in again.text
    row = re.search(rf'data-link="{link_id}".*?</li>', listing.text, re.S).group(0)
    assert "Fußball 🎉 Oma&#39;s Tablet" in row and "calendar, everything" in row and "Expires" in row
    assert "Last used" in row and "(1 use)" in row and "Revoke" in row
    # revoked: the address answers 404 at once
    r = alice.post("/links/revoke", {"link": link_id})
    assert r.status_code == 303 and "done=revoked" in r.headers["Location"]
    assert anonymous(address).status_code == 404
    listing = alice.session.get(linked.url + r.headers["Location"], timeout=30).text
    assert f"Link {link_id} is revoked" in listing
    assert re.search(rf'<details>.*data-link="{link_id}".*revoked', listing, re.S)


def test_one_event_free_busy_and_expiry_as_the_core_reads_them(linked: Server) -> None:
    alice = Browser(linked).logged_in("alice")
    form = alice.get("/links/new", params={"collection": CALENDAR}).text
    chooser = form.split('id="item"')[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', chooser)
    assert [(v, html.unescape(t)) for v, t in options] == [
        ("", "the whole calendar"), ("evil.ics", f"{EVIL} · 2026-01-05"),
        ("fussball.ics", "Fußball 🎉 Training · 2026-01-05"), ("essen.ics", "家庭聚餐 · 2026-01-05")]
    assert EVIL not in form
    link_id, shown = make(alice, item="essen.ics")
    assert "家庭聚餐" in shown.text and "event, everything" in shown.text
    served = anonymous(address_of(shown.text))
    assert served.status_code == 200 and "家庭聚餐" in served.text and "Fußball" not in served.text
    assert 'href="webcal:' not in shown.text              # webcal is for whole calendars
    _id, shown = make(alice, view="free-busy", expires_on="2099-12-31")
    feed = anonymous(address_of(shown.text)).text
    assert "Busy" in feed and "家庭聚餐" not in feed and "Fußball" not in feed
    assert "Jan 1, 2100, 12:00:00\u202fAM" in shown.text and "free/busy only" in shown.text   # the end of 2099
    # refusals are the core's sentences, the form comes back as it was filled in
    for fields, status, words in (({"item": "essen.ics", "view": "free-busy"}, 400, "free/busy links are for whole"),
                                  ({"expires_on": "2001-01-01"}, 400, "the expiry is in the past"),
                                  ({"expires": "someday"}, 400, "cannot read the expiry"),
                                  ({"view": "everything"}, 400, "choose everything or free/busy only"),
                                  ({"item": "nothing.ics"}, 404, "no event named or with UID"),
                                  ({"label": EVIL + "x" * 200}, 400, "longer than 200 characters")):
        before = alice.get("/links").text.count("data-link=")
        r = alice.post("/links/create", {"collection": CALENDAR, **fields})
        assert r.status_code == status and words in html.unescape(r.text), (fields, r.status_code)
        assert 'role="alert"' in r.text and EVIL not in r.text
        assert alice.get("/links").text.count("data-link=") == before


def test_a_link_to_my_card_names_an_audience(linked: Server) -> None:
    alice = Browser(linked).logged_in("alice")
    form = alice.get("/links/new", params={"collection": "/alice/Kontakte/"}).text
    assert "Alice Müller (米勒爱丽丝) · my card" in form and '<option value="circle:friends"' in form
    r = alice.post("/links/create", {"collection": "/alice/Kontakte/", "item": "me.vcf"})
    assert r.status_code == 400 and "is alice's me card" in html.unescape(r.text)
    r = alice.post("/links/create", {"collection": "/alice/Kontakte/", "item": "zhang.vcf",
                                     "audience": "circle:friends"})
    assert r.status_code == 400 and "is for 'alice''s me card" in html.unescape(r.text)
    _id, shown = make(alice, collection="/alice/Kontakte/", item="me.vcf", audience="circle:friends")
    assert "card, everything, as circle:friends sees it" in shown.text
    card = anonymous(address_of(shown.text)).text
    assert "米勒爱丽丝" in card and "+49 170" not in card and "Schlüssel" not in card
    _id, shown = make(alice, collection="/alice/Kontakte/")
    assert "Your own card in this address book is left out of the link" in shown.text
    book = anonymous(address_of(shown.text)).text
    assert "张伟" in book and "Müller" not in book


def test_every_page_and_action_for_owner_collaborator_subscriber_outsider_and_anonymous(linked: Server) -> None:
    alice, bob, carol, dave = (Browser(linked).logged_in(u) for u in ("alice", "bob", "carol", "dave"))
    nobody = Browser(linked)
    link_id, shown = make(alice, label="alice's")
    address = address_of(shown.text)
    # the list: each sees only their own links
    for other in (bob, carol, dave):
        page = other.get("/links")
        assert page.status_code == 200 and link_id not in page.text and "alice&#39;s" not in page.text
    assert nobody.get("/links").status_code == 303
    # making a link: the owner; a collaborator only once the owner allows it; nobody else
    new = {"collection": CALENDAR, "item": "", "view": "full"}
    for who, status in ((alice, 200), (bob, 403), (carol, 403), (dave, 403)):
        assert who.get("/links/new", params={"collection": CALENDAR}).status_code == status
    assert dave.get("/links/new", params={"collection": "/alice/nothing/"}).status_code == 403   # no peeking
    assert alice.get("/links/new", params={"collection": "/alice/nothing/"}).status_code == 404
    assert nobody.get("/links/new", params={"collection": CALENDAR}).status_code == 303
    count = len(linked.ok("link", "list", "alice/家庭").splitlines())
    for who in (bob, carol, dave):
        who.get("/links")
        r = who.post("/links/create", new)
        assert r.status_code == 403, who
    nobody.get("/login")
    assert nobody.post("/links/create", new).status_code == 403
    assert len(linked.ok("link", "list", "alice/家庭").splitlines()) == count
    # the owner's setting: only she changes it
    for who in (bob, carol, dave):
        assert who.post("/links/collaborators", {"collection": CALENDAR, "allowed": "on"}).status_code == 403
    assert nobody.post("/links/collaborators", {"collection": CALENDAR, "allowed": "on"}).status_code == 403
    assert bob.get("/links/new", params={"collection": CALENDAR}).status_code == 403
    alice.get("/links/new", params={"collection": CALENDAR})
    r = alice.post("/links/collaborators", {"collection": CALENDAR, "allowed": "on"})
    assert r.status_code == 303
    try:
        assert "may now make links" in alice.session.get(linked.url + r.headers["Location"], timeout=30).text
        assert "To “家庭”…" in bob.get("/links").text and "To “家庭”…" not in carol.get("/links").text
        bobs_id, bobs_page = make(bob, label="bob's")
        assert address_of(bobs_page.text)
        assert carol.get("/links/new", params={"collection": CALENDAR}).status_code == 403
        # the made page and revoking, by editing ids: bob neither sees nor revokes alice's link
        for who in (bob, carol, dave):
            assert who.get("/links/made", params={"link": link_id}).status_code == 403
            who.get("/links")
            r = who.post("/links/revoke", {"link": link_id})
            assert r.status_code == 403, who
        assert nobody.get("/links/made", params={"link": link_id}).status_code == 303
        assert nobody.post("/links/revoke", {"link": link_id}).status_code == 403
        assert anonymous(address).status_code == 200
        assert bob.get("/links/made", params={"link": "zzzzzzzz"}).status_code == 404
        # bob sees his own link and alice, the owner, sees it too (without its address) and may revoke it
        assert bobs_id in bob.get("/links").text and link_id not in bob.get("/links").text
        seen = alice.get("/links/made", params={"link": bobs_id})
        assert seen.status_code == 200 and address_of(seen.text) is None
        assert bobs_id in alice.get("/links").text
        assert alice.post("/links/revoke", {"link": bobs_id}).status_code == 303
        assert alice.post("/links/revoke", {"link": link_id}).status_code == 303
        assert anonymous(address).status_code == 404
    finally:
        alice.get("/links")
        assert alice.post("/links/collaborators", {"collection": CALENDAR, "allowed": "off"}).status_code == 303


def test_every_links_form_is_refused_without_its_token(linked: Server) -> None:
    alice = Browser(linked).logged_in("alice")
    link_id, shown = make(alice)
    forms = {"/links/create": {"collection": CALENDAR, "item": "", "view": "full"},
             "/links/revoke": {"link": link_id},
             "/links/collaborators": {"collection": CALENDAR, "allowed": "on"}}
    before = linked.ok("link", "list", "alice/家庭")
    for action, data in forms.items():
        for token in ("", "a-wrong-token-" + "x" * 30):
            r = alice.post(action, data, token=token)
            assert r.status_code == 403 and "nothing was changed" in r.text, (action, token)
    assert linked.ok("link", "list", "alice/家庭") == before
    assert anonymous(address_of(shown.text)).status_code == 200
    assert "Only you make links" in alice.get("/links/new", params={"collection": CALENDAR}).text


def test_names_with_markup_stay_text_on_every_links_page(linked: Server) -> None:
    erin = Browser(linked).logged_in("erin")
    assert erin.create(EVIL).status_code == 303
    path = html.unescape(re.search(r'name="collection" value="([^"]+)"', erin.get("/").text).group(1))
    r = linked.request("PUT", quote(path) + "x.ics", "erin", event("x", EVIL), headers=ICS)
    assert r.status_code == 201, r.status_code
    pages = [erin.get("/links").text, erin.get("/links/new", params={"collection": path}).text]
    link_id, shown = make(erin, collection=path, item="x.ics", label=EVIL)
    pages += [shown.text, erin.get("/links").text]
    for page in pages:
        assert EVIL not in page and ESCAPED in page


def test_the_links_page_in_chinese(linked: Server) -> None:
    grace = Browser(linked, language="zh-CN").logged_in("grace")
    assert grace.create("家庭").status_code == 303
    page = grace.get("/links").text
    assert "<h1>分享链接</h1>" in page and "家庭" in page
    _id, shown = make(grace, collection="/grace/家庭/")
    assert "链接已创建" in shown.text and "二维码" in shown.text


# -- in the browser ----------------------------------------------------------------------------

def element_image(driver, element) -> Image.Image:
    """What the browser shows of ``element``: scrolled whole into view, then its screenshot."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    return Image.open(io.BytesIO(element.screenshot_as_png))


def test_alice_makes_a_link_and_its_qr_code_opens_the_calendar_until_she_revokes_it(
        browser, linked: Server, tmp_path: Path) -> None:
    browser.delete_all_cookies()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    log_in(browser, linked, "alice")
    go(browser, linked, "/links")
    submit(browser, browser.find_element(By.LINK_TEXT, "To “家庭”…"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "A link to “家庭”"
    browser.find_element(By.ID, "label").send_keys("Küchentablett 🎉")
    screenshot(browser, "link-new")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/links/create'] button[type=submit]"))
    address = browser.find_element(By.ID, "address").get_attribute("value")
    assert address.startswith(f"{linked.url}/.links/")
    # the inline SVG as the browser draws it, and the PNG it downloads, both decode to the address
    qr_element = browser.find_element(By.ID, "qr")
    assert decoded(element_image(browser, qr_element)) == [address]
    browser.find_element(By.CSS_SELECTOR, "a.download").click()
    WebDriverWait(browser, 15).until(lambda _d: list(downloads.glob("link-*.png")))
    time.sleep(0.2)
    [png] = list(downloads.glob("link-*.png"))
    assert decoded(Image.open(png)) == [address]
    # copying the address: with the Clipboard API the address is what lands there
    browser.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["clipboardReadWrite",
                                                                        "clipboardSanitizedWrite"]})
    browser.find_element(By.CSS_SELECTOR, "button.copy").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, ".copied").text == "Copied.")
    pasted = browser.execute_async_script("navigator.clipboard.readText().then(arguments[0])")
    assert pasted == address
    screenshot(browser, "link-made")
    # the address serves the calendar without a login
    served = anonymous(address)
    assert served.status_code == 200 and "家庭聚餐" in served.text
    # revoked on the page: 404 at once
    go(browser, linked, "/links")
    link_id = address.split("/.links/")[1][:8]
    card = browser.find_element(By.CSS_SELECTOR, f"li[data-link='{link_id}']")
    assert "Küchentablett 🎉" in card.text and "(1 use)" in card.text
    screenshot(browser, "links")
    submit(browser, card.find_element(By.CSS_SELECTOR, "button.danger"))
    assert f"Link {link_id} is revoked" in browser.find_element(By.CSS_SELECTOR, ".done").text
    assert anonymous(address).status_code == 404
    # and the page cannot show its address again
    go(browser, linked, f"/links/made?link={link_id}")
    assert browser.find_elements(By.ID, "address") == []


def test_a_new_link_on_a_phones_width(browser, linked: Server) -> None:
    browser.delete_all_cookies()
    browser.set_window_size(390, 844)
    try:
        log_in(browser, linked, "alice")
        go(browser, linked, f"/links/new?collection={quote(CALENDAR)}")
        submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/links/create'] button[type=submit]"))
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        assert decoded(element_image(browser, browser.find_element(By.ID, "qr"))) == [
            browser.find_element(By.ID, "address").get_attribute("value")]
        screenshot(browser, "link-made-phone")
    finally:
        browser.set_window_size(1280, 1000)
