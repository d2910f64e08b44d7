"""Share a calendar or address book (issue 14, item 2): the core's operations without a server (the
same the command line calls, with the rule inside), the page over HTTP (who may see and do what,
CSRF, escaping, what each person's state shows), and the typeahead in Debian's headless Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from radicale_ext.base import layout
from radicale_ext.base.errors import Conflict, Forbidden, InvalidName
from radicale_ext.base.model import Grantee, GranteeKind, Role, ShareBasis
from radicale_ext.cli.collections import homes_of
from radicale_ext.homes.properties import Kind, folder_name_for
from radicale_ext.sharing.invitations import Standing
from radicale_ext.sharing.people_finder import LIMIT, PeopleFinder
from radicale_ext.site import Site

from ..server import Server
from .conftest import screenshot
from .core_kit import EVIL, FAMILY, family_site, unique, user
from .page_kit import PAGE, Browser
from .test_browser import create, log_in, submit

STAFF = Grantee(GranteeKind.CIRCLE, "staff")       # the admin's groups file: an owner may share at once with it


# -- the core, without a server -----------------------------------------------------------------

@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from family_site(tmp_path)


def calendar(site: Site, owner: str = "alice", name: str = "家庭") -> str:
    return homes_of(site).create(owner, kind=Kind.CALENDAR, display_name=name, actor=owner).path


def test_core_only_the_owner_shares_lists_changes_and_stops_sharing(site: Site) -> None:
    path = calendar(site)
    shares, invitations, scopes = site.shares, site.invitations, site.scopes
    for call in (lambda: shares.listed(path, actor="bob"),
                 lambda: invitations.people(path, actor="bob"),
                 lambda: shares.add(path, user("dave"), Role.SUBSCRIBER, actor="bob"),
                 lambda: scopes.members(path, actor="bob"),
                 lambda: scopes.add(path, user("frank"), actor="bob")):
        with pytest.raises(Forbidden):
            call()
    assert shares.listed(path, actor="alice") == [] and shares.listed(path, actor=None) == []
    shares.add(path, FAMILY, Role.SUBSCRIBER, actor="alice", basis=ShareBasis.INVITATION, summary="Oma 🎉")
    shares.add(path, user("dave"), Role.COLLABORATOR, actor="alice", basis=ShareBasis.INVITATION)
    assert [(str(s.grantee), s.role.value, s.basis.value) for s in shares.listed(path, actor="alice")] == [
        ("dave", "collaborator", "invitation"), ("circle:family", "subscriber", "invitation")]
    for call in (lambda: invitations.change_role(path, FAMILY, Role.COLLABORATOR, actor="bob"),
                 lambda: invitations.withdraw(path, FAMILY, actor="bob"),
                 lambda: scopes.remove(path, user("frank"), actor="bob")):
        with pytest.raises(Forbidden):
            call()
    assert invitations.change_role(path, FAMILY, Role.COLLABORATOR, actor="alice").role is Role.COLLABORATOR
    scopes.add(path, user("frank"), actor="alice")
    scopes.add(path, STAFF, actor="alice")
    assert [str(m) for m in scopes.members(path, actor="alice")] == ["frank", "circle:staff"]
    scopes.remove(path, user("frank"), actor="alice")
    assert invitations.withdraw(path, user("dave"), actor="alice").grantee == user("dave")
    assert [str(s.grantee) for s in shares.listed(path, actor="alice")] == ["circle:family"]


def test_core_at_once_only_the_admin_or_with_a_circle_of_the_groups_file(site: Site) -> None:
    path = calendar(site)
    shares = site.shares
    assert shares.may_share_at_once(user("bob"), None) and shares.may_share_at_once(FAMILY, None)
    assert shares.may_share_at_once(STAFF, "alice")
    assert not shares.may_share_at_once(FAMILY, "alice") and not shares.may_share_at_once(user("bob"), "alice")
    for grantee in (FAMILY, user("bob")):
        with pytest.raises(Forbidden, match="only the admin may share at once"):
            shares.add(path, grantee, Role.SUBSCRIBER, actor="alice", basis=ShareBasis.AT_ONCE)
    assert shares.add(path, STAFF, Role.SUBSCRIBER, actor="alice", basis=ShareBasis.AT_ONCE).basis is \
        ShareBasis.AT_ONCE
    with pytest.raises(Conflict):
        shares.add(path, STAFF, Role.COLLABORATOR, actor="alice", basis=ShareBasis.INVITATION)


def test_core_where_each_person_stands_and_through_which_share(site: Site) -> None:
    path = calendar(site)
    site.shares.add(path, FAMILY, Role.SUBSCRIBER, actor="alice", basis=ShareBasis.INVITATION)
    site.shares.add(path, user("bob"), Role.COLLABORATOR, actor="alice", basis=ShareBasis.INVITATION)
    site.shares.add(path, STAFF, Role.SUBSCRIBER, actor="alice", basis=ShareBasis.AT_ONCE)
    site.scopes.add(path, user("frank"), actor="alice")
    site.scopes.subscribe("frank", path, actor="frank")
    site.invitations.accept("bob", path, actor="bob")
    site.invitations.decline("carol", path, actor="carol")
    people = {p.user: p for p in site.invitations.people(path, actor="alice")}
    assert {u: p.standing for u, p in people.items()} == {
        "bob": Standing.ACCEPTED, "carol": Standing.DECLINED, "dave": Standing.AT_ONCE, "erin": Standing.AT_ONCE,
        "frank": Standing.SUBSCRIBED}
    assert [(r.circle, r.share.grantee.name, r.standing) for r in people["bob"].routes] == [
        ("family", "family", Standing.ACCEPTED), (None, "bob", Standing.ACCEPTED)]
    assert people["bob"].role is Role.COLLABORATOR
    assert [(r.circle, r.standing) for r in people["carol"].routes] == [("family", Standing.DECLINED)]
    assert [(r.share.basis, r.standing) for r in people["frank"].routes] == [
        (ShareBasis.SUBSCRIPTION, Standing.SUBSCRIBED)]
    site.scopes.remove(path, user("frank"), actor="alice")
    frank = next(p for p in site.invitations.people(path, actor="alice") if p.user == "frank")
    assert frank.standing is Standing.OUT_OF_SCOPE


def test_core_the_search_finds_user_and_circle_names_only(site: Site) -> None:
    finder = PeopleFinder(site.circles, site.users.users)
    assert [str(g) for g in finder.find("a", actor="alice")] == [
        "carol", "dave", "frank", "grace", "circle:family", "circle:staff"]   # never the one asking
    assert [str(g) for g in finder.find("  FAM ", actor="bob")] == ["circle:family"]
    assert [str(g) for g in finder.find("e", actor="alice")] == ["erin", "dave", "grace"]   # starting with it first
    assert [str(g) for g in finder.find("r", actor="alice")] == ["carol", "erin", "frank", "grace"]
    site.circles.create("erin", ["erin"])   # a circle named like a user: both, the user first
    assert [str(g) for g in finder.find("erin", actor="alice")] == ["erin", "circle:erin"]
    assert finder.find("", actor="alice") == [] and finder.find("   ", actor="alice") == []
    assert finder.find("家庭", actor="alice") == [] and finder.find(EVIL, actor="alice") == []
    with pytest.raises(InvalidName):
        finder.find("x" * 129, actor="alice")
    many = PeopleFinder(site.circles, lambda: [f"user{n:03}" for n in range(100)])
    assert len(many.find("user", actor="alice")) == LIMIT
    assert [g.name for g in many.find("user01", actor="alice")] == [f"user01{n}" for n in range(10)]
    # what a search gives is names: never members, managers or anything else of a circle or a person
    found = finder.find("family", actor="grace")
    assert found == [FAMILY] and all(set(vars(g)) == {"kind", "name"} for g in found)


def test_core_what_each_reader_sees_of_a_me_card_kept_in_the_shared_book(site: Site) -> None:
    book = homes_of(site).create("alice", kind=Kind.ADDRESS_BOOK, display_name="Kontakte", actor="alice").path
    folder = layout.collection_folder(site.settings.collections_folder, book)
    with open(os.path.join(folder, "alice.vcf"), "w", encoding="utf-8") as f:
        f.write("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:alice-me\r\nFN:Alice Müller\r\nN:Müller;Alice;;;\r\n"
                "TEL;TYPE=CELL:+49 170 0000000\r\nEMAIL:alice@example.org\r\nEND:VCARD\r\n")
    assert site.cards.share_exposure(book, ["bob"], site.circles.circles_of) is None   # no me card yet
    site.cards.set_me("alice/Kontakte/alice.vcf", actor="alice")
    site.cards.share("alice", FAMILY, "FN, TEL", actor="alice")
    exposure = site.cards.share_exposure(book, ["bob", "dave", "alice"], site.circles.circles_of)
    assert exposure is not None and exposure.me.href == "alice.vcf"
    assert [(person, [str(s) for s in fields]) for person, fields in exposure.seen] == [
        ("bob", ["FN", "TEL"]), ("dave", [])]
    assert site.cards.share_exposure(book, ["alice"], site.circles.circles_of) is None
    other = homes_of(site).create("alice", kind=Kind.ADDRESS_BOOK, display_name="Andere", actor="alice").path
    assert site.cards.share_exposure(other, ["bob"], site.circles.circles_of) is None


# -- the command line: the same rule ----------------------------------------------------------

def test_the_command_line_lists_a_collections_shares_for_its_owner_only(web_server: Server) -> None:
    name = unique("Chor")
    assert web_server.request("MKCALENDAR", f"/alice/{quote(name)}/", "alice").status_code == 201
    web_server.ok("share", "add", f"alice/{name}", "--user", "dave", "--role", "subscriber")
    refused = web_server.cli("share", "list", f"alice/{name}", acting_as="bob")
    assert refused.code == 1 and "only 'alice' (the owner)" in refused.err and "dave" not in refused.out
    assert "dave: subscriber" in web_server.ok("share", "list", f"alice/{name}", acting_as="alice")
    assert "dave: subscriber" in web_server.ok("share", "list", f"alice/{name}")


# -- the page over HTTP ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(web_server: Server) -> Server:
    """alice manages circle family (bob, carol); the admin's groups file has staff (dave, erin)."""
    web_server.ok("circle", "create", "family", "--manager", "alice")
    web_server.ok("circle", "add", "family", "bob", "carol", acting_as="alice")
    web_server.groups_file.write_text("staff: dave erin\n")
    return web_server


def main_of(page: str) -> str:
    """The page's own content (not the header that names who is logged in)."""
    return page[page.index("<main"):page.index("</main>")]


def own(browser: Browser, user_name: str, name: str, kind: str = "calendar") -> str:
    """A calendar (or address book) ``name`` made on the page; its path."""
    assert browser.create(name, kind).status_code == 303
    return f"/{user_name}/{folder_name_for(name, Kind.CALENDAR)}/"


def shares_json(server: Server, path: str) -> list[dict]:
    return json.loads(server.ok("share", "list", path.strip("/"), "--json"))


def scope_of(server: Server, path: str) -> list[str]:
    return [row["member"] for row in json.loads(server.ok("scope", "list", path.strip("/"), "--json"))]


def share_page(browser: Browser, path: str, **query: str):
    return browser.get("/shares", params={"collection": path, **query})


ACTIONS = ("/shares/add", "/shares/role", "/shares/remove", "/shares/scope/add", "/shares/scope/remove")


def forms_for(path: str) -> dict[str, dict[str, str]]:
    return {"/shares/add": {"collection": path, "form": "share", "who": "user:frank", "role": "collaborator",
                            "how": "invitation"},
            "/shares/role": {"collection": path, "who": "circle:family", "role": "collaborator"},
            "/shares/remove": {"collection": path, "who": "circle:family"},
            "/shares/scope/add": {"collection": path, "form": "scope", "who": "user:grace"},
            "/shares/scope/remove": {"collection": path, "who": "circle:staff"}}


def test_the_share_page_and_its_actions_are_the_owners_alone(world: Server) -> None:
    """Owner 200/303; collaborator, subscriber, circle member, the manager of a circle it is shared with and
    an outsider 403 with their own valid token, whatever collection the URL or form names; anonymous sent to
    the login form (page) or 403 (action)."""
    alice = Browser(world).logged_in("alice")
    path = own(alice, "alice", unique("家庭"))
    world.ok("share", "add", path.strip("/"), "--user", "bob", "--role", "collaborator")   # the admin: at once
    world.ok("invite", path.strip("/"), "--user", "dave", "--role", "subscriber", acting_as="alice")
    world.ok("invitation", "accept", path.strip("/"), acting_as="dave")
    world.ok("invite", path.strip("/"), "--circle", "family", "--role", "subscriber", acting_as="alice")
    world.ok("scope", "add", path.strip("/"), "--circle", "staff", acting_as="alice")
    world.ok("circle", "create", "chor", "--manager", "grace")
    world.ok("invite", path.strip("/"), "--circle", "chor", "--role", "collaborator", acting_as="alice")
    people = {"collaborator": "bob", "subscriber": "dave", "circle member": "carol", "circle manager": "grace",
              "outsider": "frank"}
    others = {role: Browser(world).logged_in(name) for role, name in people.items()}
    anonymous = Browser(world)
    shares_before, scope_before = shares_json(world, path), scope_of(world, path)

    assert share_page(alice, path).status_code == 200
    assert share_page(alice, "/alice/no such calendar/").status_code == 404
    for role, browser in others.items():
        for asked in (path, "/alice/no such calendar/"):   # the same answer whether it exists or not
            r = share_page(browser, asked)
            assert r.status_code == 403, (role, asked, r.status_code)
            assert "may not change 'alice'" in html.unescape(r.text), role
            told = set(re.findall(r"\w+", main_of(r.text))) - {people[role]}
            assert not {"bob", "dave", "carol", "grace", "family", "staff", "chor"} & told, (role, told)
        browser.get("/")   # a fresh token of their own
        for action, data in forms_for(path).items():
            r = browser.post(action, data)
            assert r.status_code == 403, (role, action, r.status_code)
    r = anonymous.get(f"/shares?collection={quote(path)}")
    assert r.status_code == 303 and "/login?next=" in r.headers["Location"]
    assert anonymous.get("/shares/find?q=fam").status_code == 303
    anonymous.get("/login")
    for action, data in forms_for(path).items():
        assert anonymous.post(action, data).status_code == 403, action
    assert shares_json(world, path) == shares_before and scope_of(world, path) == scope_before

    alice.get("/")
    for action, data in forms_for(path).items():
        r = alice.post(action, data)
        assert r.status_code == 303, (action, r.status_code, r.text[:500])
    assert {row["user"] for row in shares_json(world, path)} == {"bob", "dave", "frank", "grace"}   # family stopped
    assert scope_of(world, path) == ["grace"]


def test_every_form_of_the_share_page_is_refused_without_its_token(world: Server) -> None:
    alice = Browser(world).logged_in("alice")
    path = own(alice, "alice", unique("Urlaub"))
    world.ok("invite", path.strip("/"), "--circle", "family", "--role", "subscriber", acting_as="alice")
    world.ok("scope", "add", path.strip("/"), "--circle", "staff", acting_as="alice")
    page = share_page(alice, path).text
    assert all(f'action="{PAGE}{action}"' in page for action in ACTIONS)
    before = (shares_json(world, path), scope_of(world, path))
    for action, data in forms_for(path).items():
        for token in ("", "a-forged-token-" + "x" * 30):
            r = alice.post(action, data, token=token)
            assert r.status_code == 403 and "nothing was changed" in r.text, (action, token)
    assert (shares_json(world, path), scope_of(world, path)) == before


def test_search_share_by_invitation_see_where_each_stands_change_the_role_and_stop(world: Server) -> None:
    alice = Browser(world).logged_in("alice")
    path = own(alice, "alice", unique("Fußball 🎉"))
    # the search without scripts: names only, the person searching left out
    page = share_page(alice, path, q="FAM").text
    assert 'value="circle:family"' in page and "circle “family”" in page
    found = alice.get("/shares/find", params={"q": "a"})
    assert found.status_code == 200 and found.headers["Content-Type"].startswith("application/json")
    names = [(f["who"], f["at_once"]) for f in found.json()["found"]]
    assert names == [("user:carol", False), ("user:dave", False), ("user:frank", False), ("user:grace", False),
                     ("circle:family", False), ("circle:staff", True)]
    assert set(found.json()["found"][0]) == {"who", "name", "circle", "words", "at_once"}
    assert alice.get("/shares/find", params={"q": "x" * 200}).status_code == 400
    # share with circle family by invitation: everyone in it is pending, through the circle
    r = alice.post("/shares/add", {"collection": path, "form": "share", "who": "circle:family",
                                   "role": "subscriber", "how": "invitation", "summary": "Training 🎉"})
    assert r.status_code == 303
    page = html.unescape(alice.session.get(world.url + r.headers["Location"], timeout=30).text)
    assert "Shared with circle “family”." in page
    assert "bob: subscriber (reads), invited, no answer yet" in re.sub(r"\s+", " ", re.sub("<[^>]+>", "", page))
    assert "through circle “family”: invited, no answer yet" in page and "“Training 🎉”" in page
    world.ok("invitation", "accept", path.strip("/"), acting_as="bob")
    world.ok("invitation", "decline", path.strip("/"), acting_as="carol")
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", "", html.unescape(share_page(alice, path).text)))
    assert "bob: subscriber (reads), accepted" in text and "carol: subscriber (reads), declined" in text
    # at once: refused for a circle of the database, with the core's sentence; allowed for the groups file's
    r = alice.post("/shares/add", {"collection": path, "form": "share", "who": "user:dave", "role": "subscriber",
                                   "how": "at-once"})
    assert r.status_code == 403 and "only the admin may share at once" in html.unescape(r.text)
    assert 'value="user:dave"' in r.text and "checked" in r.text   # the form again, with the choice kept
    r = alice.post("/shares/add", {"collection": path, "form": "share", "who": "circle:staff",
                                   "role": "collaborator", "how": "at-once"})
    assert r.status_code == 303
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", "", html.unescape(share_page(alice, path).text)))
    assert "dave: collaborator (reads and writes), shared at once" in text
    # sharing twice is refused with the reason, nothing changes
    r = alice.post("/shares/add", {"collection": path, "form": "share", "who": "circle:family",
                                   "role": "collaborator", "how": "invitation"})
    assert r.status_code == 409 and "already shared with circle:family" in html.unescape(r.text)
    # a new role; bob, who accepted, now writes
    assert alice.post("/shares/role", {"collection": path, "who": "circle:family",
                                       "role": "collaborator"}).status_code == 303
    assert {(row["user"], row["role"]) for row in shares_json(world, path)} >= {("bob", "collaborator")}
    # stop sharing with the circle: bob loses it at once
    bob_path = f"/bob/{quote(path.strip('/').split('/')[1])}~alice/"
    assert world.request("PROPFIND", bob_path, "bob", headers={"Depth": "0"}).status_code == 207
    r = alice.post("/shares/remove", {"collection": path, "who": "circle:family"})
    assert r.status_code == 303 and "done=removed" in r.headers["Location"]
    assert world.request("PROPFIND", bob_path, "bob", headers={"Depth": "0"}).status_code == 404
    assert {row["user"] for row in shares_json(world, path)} == {"dave", "erin"}
    # bad input: a clear sentence, never a 500
    for data in ({"who": "", "role": "subscriber", "how": "invitation"},
                 {"who": "user:../etc", "role": "subscriber", "how": "invitation"},
                 {"who": "user:nobody", "role": "subscriber", "how": "invitation"},
                 {"who": "user:frank", "role": "owner", "how": "invitation"},
                 {"who": "user:frank", "role": "subscriber", "how": "sometime"},
                 {"who": "user:alice", "role": "subscriber", "how": "invitation"}):
        r = alice.post("/shares/add", {"collection": path, "form": "share", **data})
        assert r.status_code in (400, 404), (data, r.status_code)
        assert 'role="alert"' in r.text
    assert alice.post("/shares/role", {"collection": path, "who": "user:frank", "role": "subscriber"}
                      ).status_code == 404


def test_the_subscription_scope_and_who_subscribed(world: Server) -> None:
    alice = Browser(world).logged_in("alice")
    path = own(alice, "alice", unique("Schulkalender"))
    page = share_page(alice, path, sq="gra").text
    assert 'action="/.my/shares/scope/add"' in page and 'id="scope-who-1" name="who" value="user:grace"' in page
    assert alice.post("/shares/scope/add", {"collection": path, "form": "scope", "who": "user:grace"}
                      ).status_code == 303
    assert alice.post("/shares/scope/add", {"collection": path, "form": "scope", "who": "circle:staff"}
                      ).status_code == 303
    r = alice.post("/shares/scope/add", {"collection": path, "form": "scope", "who": "circle:staff"})
    assert r.status_code == 409 and "already in the subscription scope" in html.unescape(r.text)
    assert scope_of(world, path) == ["grace", "circle:staff"]
    world.ok("subscribe", path.strip("/"), acting_as="grace")
    world.ok("subscribe", path.strip("/"), acting_as="erin")
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", "", html.unescape(share_page(alice, path).text)))
    assert "Who subscribed erin: subscribed grace: subscribed" in text
    assert "grace: subscriber (reads), subscribed" in text and "subscribed themselves: subscribed" in text
    assert alice.post("/shares/scope/remove", {"collection": path, "who": "user:grace"}).status_code == 303
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", "", html.unescape(share_page(alice, path).text)))
    assert "grace: subscribed, out of scope" in text
    # a subscription has no role to change; the owner may still end it
    assert 'name="who" value="user:grace"' in share_page(alice, path).text
    assert alice.post("/shares/remove", {"collection": path, "who": "user:grace"}).status_code == 303
    assert "grace" not in {row["user"] for row in shares_json(world, path)}


def test_names_in_any_language_and_markup_are_shown_as_text(world: Server) -> None:
    erin = Browser(world).logged_in("erin")
    for name in (EVIL, "家庭", "Fußball 🎉"):
        path = own(erin, "erin", name + " " + uuid.uuid4().hex[:3])
        assert erin.post("/shares/add", {"collection": path, "form": "share", "who": "user:frank",
                                         "role": "subscriber", "how": "invitation", "summary": EVIL}
                         ).status_code == 303
        page = share_page(erin, path).text
        assert EVIL not in page and html.escape(name, quote=False) in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page   # the invitation's words
    calendars = erin.get("/").text
    assert EVIL not in calendars and "Share “&lt;script&gt;alert(1)&lt;/script&gt;" in calendars
    # a done message names only a valid person or circle; anything else is left out
    page = share_page(erin, path, done="shared", who=f"user:{EVIL}").text
    assert EVIL not in page and "Shared with" not in page
    assert EVIL not in erin.get("/shares/find", params={"q": EVIL}).text


def test_the_me_card_warning_says_what_each_reader_sees(world: Server) -> None:
    carol = Browser(world).logged_in("carol")
    book = own(carol, "carol", unique("Kontakte"), kind="address-book")
    card_text = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:carol-me\r\nFN:Carol Müller\r\nN:Müller;Carol;;;\r\n"
                 "TEL;TYPE=CELL:+49 170 1111111\r\nEND:VCARD\r\n")
    assert world.request("PUT", f"{quote(book)}carol.vcf", "carol", card_text,
                         headers={"Content-Type": "text/vcard"}).status_code == 201
    world.ok("card", "set-me", f"{book.strip('/')}/carol.vcf", acting_as="carol")
    world.ok("card", "share", "--circle", "family", "--fields", "FN, TEL", acting_as="carol")
    page = html.unescape(share_page(carol, book).text)
    assert 'id="me-card"' in page and "keeps your me card (carol.vcf)" in page   # before any share
    r = carol.post("/shares/add", {"collection": book, "form": "share", "who": "circle:family", "role": "subscriber",
                                   "how": "invitation"})
    assert r.status_code == 303
    world.ok("invite", book.strip("/"), "--user", "grace", "--role", "subscriber", acting_as="carol")
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", "", html.unescape(share_page(carol, book).text)))
    assert "alice: sees FN, TEL" in text and "bob: sees FN, TEL" in text and "grace: sees nothing of it" in text
    other = own(carol, "carol", unique("Andere"), kind="address-book")
    assert 'id="me-card"' not in share_page(carol, other).text


# -- in the browser: the typeahead -------------------------------------------------------------

def whole_page_screenshot(driver, name: str) -> None:
    """The whole page, not only what a window shows (the share page is long)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height + 150, 1000), 6000))
    try:
        screenshot(driver, name)
    finally:
        driver.set_window_size(1280, 1000)


def test_the_typeahead_offers_names_as_they_are_typed_and_at_once_only_where_allowed(browser, world: Server) -> None:
    browser.delete_all_cookies()
    log_in(browser, world, "grace")
    create(browser, "Fußball 🎉 Verein")
    card = next(li for li in browser.find_elements(By.CSS_SELECTOR, "li.collection") if "Fußball 🎉 Verein" in li.text)
    submit(browser, card.find_element(By.CSS_SELECTOR, "a.share"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Share “Fußball 🎉 Verein”"
    page = browser.current_url
    wait = WebDriverWait(browser, 10)

    def offered() -> list[str]:
        return [r.get_attribute("value") for r in browser.find_elements(By.CSS_SELECTOR, "#share-who input")]

    browser.find_element(By.ID, "q").send_keys("fam")
    wait.until(lambda _d: offered() == ["circle:family"])
    assert browser.current_url == page   # no new page: the script asked /shares/find
    assert browser.find_element(By.CSS_SELECTOR, "#share-who label").text == "circle “family”"
    at_once = browser.find_element(By.ID, "how-at-once")
    assert not at_once.is_enabled()      # a circle of the database: by invitation only
    field = browser.find_element(By.ID, "q")
    field.clear()
    field.send_keys("sta")
    wait.until(lambda _d: offered() == ["circle:staff"])
    assert at_once.is_enabled()          # the admin's groups file: at once may be chosen
    at_once.click()
    browser.find_element(By.ID, "role-collaborator").click()
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#share-form button[type=submit]"))
    assert "Shared with circle “staff”." in browser.find_element(By.CSS_SELECTOR, ".done").text
    people = browser.find_element(By.ID, "people").find_element(By.XPATH, "..").text
    assert "dave: collaborator (reads and writes), shared at once" in people
    field = browser.find_element(By.ID, "q")
    field.send_keys("zzz")
    wait.until(lambda _d: "Nobody of that name." in browser.find_element(By.ID, "share-who").text)
    field.clear()
    field.send_keys("famil")
    wait.until(lambda _d: offered() == ["circle:family"])
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#share-form button[type=submit]"))
    whole_page_screenshot(browser, "shares")
    browser.set_window_size(390, 844)
    try:
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the share page is {width}px wide on a 390px screen"
        screenshot(browser, "shares-phone")
    finally:
        browser.set_window_size(1280, 1000)


def test_the_share_page_and_the_invitations_page_in_chinese(world: Server) -> None:
    alice = Browser(world, language="zh-CN,zh;q=0.9").logged_in("alice")
    path = own(alice, "alice", unique("家庭"))
    assert alice.post("/shares/add", {"collection": path, "form": "share", "who": "circle:family",
                                      "role": "collaborator", "how": "invitation"}).status_code == 303
    page = html.unescape(share_page(alice, path, done="shared", who="circle:family").text)
    assert 'lang="zh-Hans"' in page and f"共享“{path.split('/')[2]}”" in page
    assert "已共享给 圈子“family”。" in page and "通过圈子“family”" in page
    assert "Share with someone" not in page and "Everyone it reaches" not in page
    bob = Browser(world, language="zh-CN").logged_in("bob")
    page = html.unescape(bob.get("/invitations").text)
    assert "等待你的回复" in page and "发给圈子“family”" in page and "Waiting for your answer" not in page
