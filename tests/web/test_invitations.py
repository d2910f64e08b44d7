"""Invitations (issue 14, item 3): the core's operations for the person answering (the same the
command line calls, with the rule inside), the page over HTTP (only one's own invitations, CSRF,
escaping, every answer and the "subscribed" check), and the issue's flow in Debian's headless
Chromium: alice shares 家庭 with circle family by invitation; bob accepts and the caldav library finds
it; carol declines and never sees it."""

from __future__ import annotations

import html
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import caldav
import pytest
from selenium.webdriver.common.by import By

from radicale_ext.base.errors import Conflict, Forbidden, NotFound
from radicale_ext.base.model import InvitationState, Role, ShareBasis
from radicale_ext.cli.collections import homes_of
from radicale_ext.homes.properties import Kind, folder_name_for
from radicale_ext.sharing.scopes import NotInScope
from radicale_ext.site import Site

from ..server import Server, password
from .conftest import screenshot
from .core_kit import EVIL, FAMILY, family_site, unique, user
from .page_kit import PAGE, Browser
from .test_browser import create, log_in, log_out, submit

# -- the core, without a server -----------------------------------------------------------------

@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from family_site(tmp_path)


def test_core_a_person_answers_only_their_own_invitations(site: Site) -> None:
    path = homes_of(site).create("alice", kind=Kind.CALENDAR, display_name="家庭", actor="alice").path
    site.shares.add(path, FAMILY, Role.SUBSCRIBER, actor="alice", basis=ShareBasis.INVITATION)
    books = site.invitations
    for call in (lambda: books.incoming("carol", actor="bob"), lambda: books.accept("carol", path, actor="bob"),
                 lambda: books.decline("carol", path, actor="bob"),
                 lambda: books.remove_from_home("carol", path, actor="bob"),
                 lambda: books.shared_with("carol", actor="bob"),
                 lambda: books.incoming("carol", actor="alice")):   # the owner neither
        with pytest.raises(Forbidden, match="may act only for themselves"):
            call()
    assert [(i.share.collection, i.state) for i in books.incoming("carol", actor="carol")] == [
        (path, InvitationState.PENDING)]
    assert books.incoming("carol", actor=None) == books.incoming("carol", actor="carol")   # the admin
    assert books.accept("bob", path, actor="bob").mount_path("bob") == "/bob/家庭~alice/"
    assert [g.collection for g in books.shared_with("bob", actor="bob")] == [path]
    books.decline("carol", path, actor="carol")
    assert books.shared_with("carol", actor="carol") == []
    books.remove_from_home("bob", path, actor="bob")
    assert books.shared_with("bob", actor="bob") == []
    assert books.accept("carol", path, actor="carol").role is Role.SUBSCRIBER   # declined, then accepted after all
    with pytest.raises(NotFound):
        books.accept("frank", path, actor="frank")                            # never invited
    with pytest.raises(Conflict):
        books.decline("carol", path, actor="carol")                           # accepted: remove it instead


def test_core_subscribing_is_for_oneself_and_the_check_says_how_it_is_held(site: Site) -> None:
    homes = homes_of(site)
    school = homes.create("alice", kind=Kind.CALENDAR, display_name="Schule", actor="alice").path
    club = homes.create("alice", kind=Kind.CALENDAR, display_name="Verein", actor="alice").path
    for path in (school, club):
        site.scopes.add(path, user("bob"), actor="alice")
    site.shares.add(club, user("bob"), Role.SUBSCRIBER, actor="alice", basis=ShareBasis.INVITATION)
    site.invitations.accept("bob", club, actor="bob")
    scopes = site.scopes
    for call in (lambda: scopes.subscribable("bob", actor="carol"), lambda: scopes.subscribe("bob", school,
                                                                                             actor="carol"),
                 lambda: scopes.unsubscribe("bob", school, actor="carol")):
        with pytest.raises(Forbidden, match="may act only for themselves"):
            call()
    with pytest.raises(NotInScope):
        scopes.subscribe("carol", school, actor="carol")
    assert [(s.name, s.path, s.subscribed) for s in scopes.subscribable("bob", actor="bob")] == [
        ("Schule", None, False), ("Verein", "/bob/Verein~alice/", False)]   # Verein: through the invitation
    scopes.subscribe("bob", school, actor="bob")
    assert [(s.name, s.path, s.subscribed) for s in scopes.subscribable("bob", actor="bob")][0] == (
        "Schule", "/bob/Schule~alice/", True)
    scopes.unsubscribe("bob", school, actor="bob")
    with pytest.raises(NotFound):
        scopes.unsubscribe("bob", club, actor="bob")   # held through an invitation: remove that instead


# -- the command line: the same rule ------------------------------------------------------------

def test_the_command_line_shows_what_is_shared_with_a_person_to_them_alone(web_server: Server) -> None:
    name = unique("Chor")
    assert web_server.request("MKCALENDAR", f"/alice/{quote(name)}/", "alice").status_code == 201
    web_server.ok("share", "add", f"alice/{name}", "--user", "dave", "--role", "subscriber")
    refused = web_server.cli("shared-with", "dave", acting_as="bob")
    assert refused.code == 1 and "'bob' may act only for themselves, not for 'dave'" in refused.err
    assert name not in refused.out
    assert name in web_server.ok("shared-with", "dave", acting_as="dave") and name in web_server.ok("shared-with",
                                                                                                    "dave")
    for command in (("invitation", "list", "--user", "dave"), ("subscribable", "--user", "dave"),
                    ("invitation", "accept", f"alice/{name}", "--user", "dave"),
                    ("subscribe", f"alice/{name}", "--user", "dave")):
        refused = web_server.cli(*command, acting_as="bob")
        assert refused.code == 1 and "may act only for themselves" in refused.err, command


# -- the page over HTTP ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(web_server: Server) -> Server:
    web_server.ok("circle", "create", "family", "--manager", "alice")
    web_server.ok("circle", "add", "family", "bob", "carol", acting_as="alice")
    web_server.groups_file.write_text("staff: dave erin\n")
    return web_server


def own(browser: Browser, owner: str, name: str, kind: str = "calendar") -> str:
    assert browser.create(name, kind).status_code == 303
    return f"/{owner}/{folder_name_for(name, Kind.CALENDAR)}/"


def text_of(page: str) -> str:
    """What a person reads on the page, one space between words."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.unescape(page[page.index("<main"):])))


def state_of(server: Server, path: str, person: str) -> str:
    rows = [r for r in server.ok("invitation", "status", path.strip("/")).splitlines() if r.startswith(person + ":")]
    return rows[0] if rows else ""


ACTIONS = ("/invitations/accept", "/invitations/decline", "/invitations/remove", "/invitations/subscription")


def test_each_person_sees_and_answers_only_their_own(world: Server) -> None:
    """The invited (circle member), the owner, a collaborator, a subscriber, an outsider and anonymous, on the
    page and on every action, with their own valid token and a form naming someone else's invitation: each
    answers only their own, carol's stays as it was."""
    alice = Browser(world).logged_in("alice")
    name = unique("家庭")
    path = own(alice, "alice", name)
    world.ok("invite", path.strip("/"), "--circle", "family", "--role", "subscriber", acting_as="alice")
    world.ok("share", "add", path.strip("/"), "--user", "dave", "--role", "collaborator")   # at once
    world.ok("invite", path.strip("/"), "--user", "erin", "--role", "subscriber", acting_as="alice")
    world.ok("invitation", "accept", path.strip("/"), acting_as="erin")
    carol = Browser(world).logged_in("carol")
    assert name in text_of(carol.get("/invitations").text)
    for person in ("alice", "frank"):   # the owner, an outsider: nothing of it
        assert name not in Browser(world).logged_in(person).get("/invitations").text
    dave = Browser(world).logged_in("dave")
    page = text_of(dave.get("/invitations").text)   # the collaborator: in his home at once, no invitation
    assert name in page and "Shared with you at once: it stays until its owner stops sharing it." in page
    before = state_of(world, path, "carol")
    assert "pending" in before
    for person, browser in (("alice", alice), ("frank", Browser(world).logged_in("frank")), ("dave", dave)):
        browser.get("/invitations")
        for action in ("/invitations/accept", "/invitations/decline", "/invitations/remove"):
            r = browser.post(action, {"collection": path, "user": "carol"})   # "user" is not read: one's own
            assert r.status_code == 404, (person, action, r.status_code)
            assert f"'{person}' has no invitation" in html.unescape(r.text)
    erin = Browser(world).logged_in("erin")   # the subscriber: her own answers change, never carol's
    erin.get("/invitations")
    assert [erin.post(action, {"collection": path, "user": "carol"}).status_code
            for action in ("/invitations/accept", "/invitations/decline", "/invitations/remove")] == [303, 409, 303]
    assert "removed" in state_of(world, path, "erin")
    assert state_of(world, path, "carol") == before
    anonymous = Browser(world)
    r = anonymous.get("/invitations")
    assert r.status_code == 303 and "/login?next=" in r.headers["Location"]
    anonymous.get("/login")
    for action in ACTIONS:
        assert anonymous.post(action, {"collection": path, "subscribed": "yes"}).status_code == 403
    assert state_of(world, path, "carol") == before
    assert carol.post("/invitations/accept", {"collection": path}).status_code == 303
    assert "accepted" in state_of(world, path, "carol")


def test_every_form_of_the_invitations_page_is_refused_without_its_token(world: Server) -> None:
    alice = Browser(world).logged_in("alice")
    path = own(alice, "alice", unique("Urlaub"))
    world.ok("invite", path.strip("/"), "--user", "erin", "--role", "subscriber", acting_as="alice")
    world.ok("scope", "add", path.strip("/"), "--user", "erin", acting_as="alice")
    erin = Browser(world).logged_in("erin")
    page = erin.get("/invitations").text
    assert all(f'action="{PAGE}{action}"' in page for action in ("/invitations/accept", "/invitations/decline"))
    for action in ACTIONS:
        for token in ("", "a-forged-token-" + "x" * 30):
            r = erin.post(action, {"collection": path, "subscribed": "yes"}, token=token)
            assert r.status_code == 403 and "nothing was changed" in r.text, (action, token)
    assert "pending" in state_of(world, path, "erin")
    assert world.request("PROPFIND", f"/erin/{quote(path.split('/')[2])}~alice/", "erin",
                         headers={"Depth": "0"}).status_code == 404


def test_accept_decline_later_remove_and_accept_again(world: Server) -> None:
    alice = Browser(world).logged_in("alice")
    name = unique("Fußball 🎉")
    path = own(alice, "alice", name)
    world.ok("invite", path.strip("/"), "--circle", "family", "--role", "collaborator", "--summary", "Training",
             acting_as="alice")
    mount = f"/bob/{quote(path.split('/')[2])}~alice/"
    bob = Browser(world).logged_in("bob")
    page = text_of(bob.get("/invitations").text)
    waiting = page[page.index("Waiting for your answer"):page.index("Shared with you, in your home")]
    assert name in waiting and "From alice" in waiting
    assert "collaborator (reads and writes), to circle “family”: “Training”" in waiting
    assert "Leave it for later" in waiting
    # later: nothing is answered; it waits, pending, and is not in his home
    assert bob.get("/invitations").status_code == 200 and "pending" in state_of(world, path, "bob")
    assert world.request("PROPFIND", mount, "bob", headers={"Depth": "0"}).status_code == 404
    r = bob.post("/invitations/accept", {"collection": path})
    assert r.status_code == 303 and "done=accepted" in r.headers["Location"]
    page = text_of(bob.session.get(world.url + r.headers["Location"], timeout=30).text)
    assert f"Accepted “{name}”: it is in your home now." in page
    home = page[page.index("Shared with you, in your home"):]
    assert name in home and f"Address {unquote(mount)}" in home and f"Remove “{name}” from my home" in home
    assert world.request("PROPFIND", mount, "bob", headers={"Depth": "0"}).status_code == 207
    # unshare from me: out of his home, the owner sees "removed", the owner's data unchanged
    assert bob.post("/invitations/remove", {"collection": path}).status_code == 303
    assert world.request("PROPFIND", mount, "bob", headers={"Depth": "0"}).status_code == 404
    assert "removed" in state_of(world, path, "bob")
    page = text_of(bob.get("/invitations").text)
    assert f"Accept “{name}” after all" in page[page.index("Declined or removed"):]
    assert bob.post("/invitations/accept", {"collection": path}).status_code == 303
    assert world.request("PROPFIND", mount, "bob", headers={"Depth": "0"}).status_code == 207
    # carol declines; declining again changes nothing; accepting twice neither
    carol = Browser(world).logged_in("carol")
    assert carol.post("/invitations/decline", {"collection": path}).status_code == 303
    assert carol.post("/invitations/decline", {"collection": path}).status_code == 303
    assert "declined" in state_of(world, path, "carol")
    assert bob.post("/invitations/accept", {"collection": path}).status_code == 303
    r = bob.post("/invitations/decline", {"collection": path})   # accepted: refused with the reason
    assert r.status_code == 409 and "use 'invitation remove'" in html.unescape(r.text)
    # bad input: a sentence, never a 500
    for data in ({}, {"collection": ""}, {"collection": "../../etc"}, {"collection": "/alice/nothing here/"}):
        r = bob.post("/invitations/accept", data)
        assert r.status_code in (400, 404), (data, r.status_code)


def test_the_subscribed_check(world: Server) -> None:
    alice = Browser(world).logged_in("alice")
    name = unique("Schulkalender")
    path = own(alice, "alice", name)
    world.ok("scope", "add", path.strip("/"), "--circle", "staff", acting_as="alice")
    mount = f"/erin/{quote(path.split('/')[2])}~alice/"
    erin = Browser(world).logged_in("erin")
    page = text_of(erin.get("/invitations").text)
    assert name in page[page.index("Open to you: subscribe"):]
    assert re.search(r'name="subscribed" value="yes">', erin.get("/invitations").text)   # not ticked
    r = erin.post("/invitations/subscription", {"collection": path, "subscribed": "yes"})
    assert r.status_code == 303 and "done=subscribed" in r.headers["Location"]
    assert world.request("PROPFIND", mount, "erin", headers={"Depth": "0"}).status_code == 207
    page = erin.get("/invitations").text
    assert re.search(r'name="subscribed" value="yes" checked>', page)
    assert f"Unsubscribe from “{name}”" in html.unescape(page)
    assert erin.post("/invitations/subscription", {"collection": path}).status_code == 303   # cleared
    assert world.request("PROPFIND", mount, "erin", headers={"Depth": "0"}).status_code == 404
    # someone outside the scope: refused, the same sentence whether the calendar exists or not
    frank = Browser(world).logged_in("frank")
    assert name not in frank.get("/invitations").text
    answers = [frank.post("/invitations/subscription", {"collection": p, "subscribed": "yes"})
               for p in (path, "/alice/does not exist/")]
    assert [a.status_code for a in answers] == [403, 403]
    sentences = [re.search(r"may not subscribe to [^:]+: it is not open to them", html.unescape(a.text))
                 for a in answers]
    assert all(sentences)
    assert frank.post("/invitations/subscription", {"collection": path}).status_code == 404   # none to end


def test_names_in_any_language_and_markup_are_shown_as_text(world: Server) -> None:
    grace = Browser(world).logged_in("grace")
    frank = Browser(world).logged_in("frank")
    for name in (EVIL, "家庭", "Fußball 🎉"):
        path = own(grace, "grace", name + " " + uuid.uuid4().hex[:3])
        world.ok("invite", path.strip("/"), "--user", "frank", "--role", "subscriber", "--summary", EVIL,
                 acting_as="grace")
        world.ok("scope", "add", path.strip("/"), "--user", "frank", acting_as="grace")
        page = frank.get("/invitations").text
        assert EVIL not in page and html.escape(name, quote=False) in page
        r = frank.post("/invitations/accept", {"collection": path})
        done = frank.session.get(world.url + r.headers["Location"], timeout=30).text
        assert EVIL not in done and html.escape(f"Accepted “{name}", quote=False) in done
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in frank.get("/invitations").text


# -- in the browser: the flow ---------------------------------------------------------

def home_listing(server: Server, person: str) -> set[str]:
    r = server.request("PROPFIND", f"/{person}/", person, headers={"Depth": "1"})
    assert r.status_code == 207
    return {unquote(h.text or "") for h in ET.fromstring(r.content).iter("{DAV:}href")}


def offer_named(driver, section: str, name: str):
    """The entry of section ``section`` (waiting, home, answered, open) for the collection called ``name``."""
    entries = driver.find_element(By.ID, section).find_element(By.XPATH, "..").find_elements(By.CSS_SELECTOR,
                                                                                             "li.collection")
    return next(li for li in entries if li.find_element(By.CSS_SELECTOR, "h3 .name").text == name)


def calendars_found(server: Server, person: str) -> dict[str, str]:
    """What the caldav library finds in ``person``'s home: path -> display name."""
    client = caldav.DAVClient(url=server.url + "/", username=person, password=password(person))
    return {unquote(c.url.path): c.get_display_name() for c in client.principal().calendars()}


def test_alice_shares_家庭_with_family_bob_accepts_carol_declines(browser, world: Server) -> None:
    browser.delete_all_cookies()
    log_in(browser, world, "alice")
    create(browser, "家庭")
    card = next(li for li in browser.find_elements(By.CSS_SELECTOR, "li.collection") if "家庭" in li.text)
    submit(browser, card.find_element(By.CSS_SELECTOR, "a.share"))
    query = browser.find_element(By.ID, "q")
    query.send_keys("family")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.search button"))   # the search, as without scripts
    browser.find_element(By.CSS_SELECTOR, "#share-who input[value='circle:family']").click()
    browser.find_element(By.ID, "how-invitation").click()
    browser.find_element(By.ID, "summary").send_keys("Unser Familienkalender 🎉")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#share-form button[type=submit]"))
    assert "Shared with circle “family”." in browser.find_element(By.CSS_SELECTOR, ".done").text
    log_out(browser)

    log_in(browser, world, "bob")
    submit(browser, browser.find_element(By.LINK_TEXT, "Invitations"))
    waiting = offer_named(browser, "waiting", "家庭")
    assert "alice" in waiting.text and "subscriber (reads)" in waiting.text
    assert "to circle “family”" in waiting.text and "Unser Familienkalender 🎉" in waiting.text
    screenshot(browser, "invitations")
    submit(browser, waiting.find_element(By.XPATH, ".//button[contains(., 'Accept')]"))
    assert "Accepted “家庭”: it is in your home now." in browser.find_element(By.CSS_SELECTOR, ".done").text
    assert "/bob/家庭~alice/" in offer_named(browser, "home", "家庭").text
    screenshot(browser, "invitations-accepted")
    log_out(browser)
    assert calendars_found(world, "bob")["/bob/家庭~alice/"] == "家庭 (alice)"

    log_in(browser, world, "carol")
    submit(browser, browser.find_element(By.LINK_TEXT, "Invitations"))
    submit(browser, offer_named(browser, "waiting", "家庭").find_element(By.XPATH, ".//button[contains(., 'Decline')]"))
    assert "Declined “家庭”." in browser.find_element(By.CSS_SELECTOR, ".done").text
    assert "Accept “家庭” after all" in offer_named(browser, "answered", "家庭").text
    found = calendars_found(world, "carol")
    assert "/carol/家庭~alice/" not in found and "家庭 (alice)" not in found.values()
    assert "/carol/家庭~alice/" not in home_listing(world, "carol")
    assert world.request("PROPFIND", "/carol/家庭~alice/", "carol", headers={"Depth": "0"}).status_code == 404
    assert "/bob/家庭~alice/" in home_listing(world, "bob")
    log_out(browser)

    log_in(browser, world, "alice")
    card = next(li for li in browser.find_elements(By.CSS_SELECTOR, "li.collection") if "家庭" in li.text)
    submit(browser, card.find_element(By.CSS_SELECTOR, "a.share"))
    people = browser.find_element(By.ID, "people").find_element(By.XPATH, "..").text
    assert "bob: subscriber (reads), accepted" in people and "carol: subscriber (reads), declined" in people


def test_the_subscribed_check_saves_at_once_in_the_browser(browser, world: Server) -> None:
    world.ok("scope", "add", "alice/家庭", "--user", "grace", acting_as="alice")
    browser.delete_all_cookies()
    log_in(browser, world, "grace")
    submit(browser, browser.find_element(By.LINK_TEXT, "Invitations"))
    box = offer_named(browser, "open", "家庭").find_element(By.CSS_SELECTOR, "input[name=subscribed]")
    assert not box.is_selected()
    submit(browser, box)   # ticking it saves it, no button pressed
    assert "Subscribed to “家庭”." in browser.find_element(By.CSS_SELECTOR, ".done").text
    assert offer_named(browser, "open", "家庭").find_element(By.CSS_SELECTOR, "input[name=subscribed]").is_selected()
    assert calendars_found(world, "grace")["/grace/家庭~alice/"] == "家庭 (alice)"
    screenshot(browser, "invitations-subscribed")
