"""Circles on the page (issue 14, item 4): the core's operations the page calls (without a server),
the page over HTTP (who may do what, editing names in forms and URLs, CSRF, escaping, circles of the
admin's groups file), and alice managing her family's circle in a real browser."""

from __future__ import annotations

import html
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from radicale_ext.base.errors import Conflict, Forbidden, InvalidName, NotFound
from radicale_ext.site import Settings, Site

from ..server import USERS, Server, write_users
from .conftest import screenshot
from .page_kit import Browser
from .test_browser import go, log_in, submit

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


# -- the core, without a server ----------------------------------------------------------------

@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    write_users(tmp_path / "users", USERS)
    (tmp_path / "groups").write_text(f"家庭: alice carol\n{EVIL}: bob\nFußball 🎉: erin\n", encoding="utf-8")
    site = Site(Settings(collections_folder=str(tmp_path / "collections"), database_path=str(tmp_path / "db.sqlite"),
                         groups_file=str(tmp_path / "groups"), htpasswd_file=str(tmp_path / "users"),
                         rights_file=None))
    yield site
    site.db.close()


def test_a_person_sees_only_the_circles_they_manage_or_are_in(site: Site) -> None:
    circles = site.circles
    circles.create("family", [], actor="alice")
    circles.add_members("family", ["bob"], actor="alice")
    circles.add_manager("家庭", "dave", actor=None)     # the admin names a manager of a groups-file circle
    assert [c.name for c in circles.visible_to("alice")] == ["family", "家庭"]
    assert [c.name for c in circles.visible_to("bob")] == [EVIL, "family"]
    assert [c.name for c in circles.visible_to("dave")] == ["家庭"]       # manages it without being in it
    assert [c.name for c in circles.visible_to("frank")] == []
    assert {c.name for c in circles.visible_to(None)} == {"family", "家庭", EVIL, "Fußball 🎉"}
    assert circles.show("family", actor="bob").members == {"alice", "bob"}
    assert circles.show("家庭", actor="dave").managers == {"dave"}
    with pytest.raises(Forbidden, match="'frank' is neither a member nor a manager of circle 'family'"):
        circles.show("family", actor="frank")
    with pytest.raises(NotFound):
        circles.show("nothing", actor="alice")


def test_the_page_operations_check_the_manager_inside_the_core(site: Site) -> None:
    circles = site.circles
    made = circles.create("team-2026", [], actor="alice")
    assert (made.managers, made.members) == ({"alice"}, {"alice"})
    assert circles.add_members("team-2026", ["bob", "carol", "bob"], actor="alice") == ["bob", "carol"]
    assert circles.changeable("team-2026", actor="alice").members == {"alice", "bob", "carol"}
    for who in ("bob", "frank"):     # a member, an outsider
        calls = (("changeable", ("team-2026",)), ("add_members", ("team-2026", ["dave"])),
                 ("remove_members", ("team-2026", ["carol"])), ("add_manager", ("team-2026", who)),
                 ("remove_manager", ("team-2026", "alice")), ("delete", ("team-2026",)))
        for method, args in calls:
            with pytest.raises(Forbidden, match="does not manage circle 'team-2026'"):
                getattr(circles, method)(*args, actor=who)
    circles.add_manager("team-2026", "bob", actor="alice")
    circles.remove_members("team-2026", ["carol"], actor="bob")        # a new manager may
    circles.remove_manager("team-2026", "bob", actor="alice")
    assert circles.show("team-2026", actor="bob").managers == {"alice"}
    with pytest.raises(Conflict):
        circles.create("team-2026", [], actor="bob")
    for bad in ("家庭聚会", EVIL, "a b", ""):
        with pytest.raises(InvalidName):
            circles.create(bad, [], actor="bob")
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        circles.add_members("team-2026", ["nobody"], actor="alice")
    circles.delete("team-2026", actor="alice")
    assert "team-2026" not in [c.name for c in circles.visible_to("alice")] and not circles.exists("team-2026")


def test_groups_file_circles_are_shown_never_changed_on_the_page(site: Site) -> None:
    site.circles.add_manager("家庭", "alice", actor=None)
    with pytest.raises(Forbidden, match="comes from the admin's groups file"):
        site.circles.changeable("家庭", actor="alice")
    with pytest.raises(Forbidden, match="comes from the admin's groups file"):
        site.circles.add_members("家庭", ["bob"], actor="alice")


# -- over HTTP ---------------------------------------------------------------------------------

def write_groups(server: Server, text: str) -> None:
    tmp = server.groups_file.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, server.groups_file)


@pytest.fixture(scope="module")
def circled(web_server: Server) -> Server:
    """alice manages "family" (bob, carol in it); the groups file has 家庭 (alice, dave), a circle named
    with markup (alice) and Fußball 🎉 (erin); frank is in no circle."""
    write_groups(web_server, f"家庭: alice dave\n{EVIL}: alice\nFußball 🎉: erin\n")
    web_server.ok("circle", "create", "family", acting_as="alice")
    web_server.ok("circle", "add", "family", "bob", "carol", acting_as="alice")
    web_server.ok("circle", "manager", "add", "家庭", "alice")
    return web_server


def section(page: str, heading_id: str) -> str:
    """The HTML of the page's section headed by ``heading_id``."""
    return page.split(f'id="{heading_id}"', 1)[1].split("</section>", 1)[0]


def members_of(server: Server, circle: str) -> set[str]:
    import json
    return set(json.loads(server.ok("--json", "circle", "show", circle))[0]["members"])


def test_what_each_person_sees(circled: Server) -> None:
    alice = Browser(circled).logged_in("alice").get("/circles").text
    managed, member_of = section(alice, "managed"), section(alice, "member-of")
    assert 'data-circle="family"' in managed and "/circles/members/remove" in managed
    assert 'data-circle="家庭"' in managed and "From the admin&#39;s groups file" in managed
    assert ESCAPED in member_of and EVIL not in alice and "Fußball" not in alice
    [file_card] = [card for card in managed.split('<li class="collection circle"') if 'data-circle="家庭"' in card]
    assert "<form" not in file_card and "dave" in file_card      # shown, never changed here
    bob = Browser(circled).logged_in("bob").get("/circles").text
    assert "You manage no circle yet." in bob and 'data-circle="family"' in section(bob, "member-of")
    assert "<form" not in section(bob, "member-of") and "carol" in section(bob, "member-of")
    erin = Browser(circled).logged_in("erin").get("/circles").text
    assert 'data-circle="Fußball 🎉"' in section(erin, "member-of")
    assert 'data-circle="family"' not in erin and "家庭" not in erin
    frank = Browser(circled).logged_in("frank").get("/circles").text
    assert "You are in no other circle." in frank and "data-circle" not in frank and "家庭" not in frank
    assert Browser(circled).get("/circles").status_code == 303


def test_every_action_for_manager_member_outsider_and_anonymous(circled: Server) -> None:
    alice, bob, frank = (Browser(circled).logged_in(u) for u in ("alice", "bob", "frank"))
    nobody = Browser(circled)
    nobody.get("/login")
    actions = (("/circles/members/add", {"circle": "family", "users": "grace"}),
               ("/circles/members/remove", {"circle": "family", "user": "carol"}),
               ("/circles/managers/add", {"circle": "family", "user": "bob"}),
               ("/circles/managers/remove", {"circle": "family", "user": "alice"}),
               ("/circles/delete", {"circle": "family"}))
    before = circled.ok("--json", "circle", "show", "family")
    for who, name in ((bob, "bob"), (frank, "frank")):
        who.get("/circles")
        for path, data in actions:
            r = who.post(path, data)
            assert r.status_code == 403, (name, path)
            assert f"&#39;{name}&#39; does not manage circle &#39;family&#39;" in r.text
        assert who.get("/circles/delete", params={"circle": "family"}).status_code == 403
    for path, data in actions:
        assert nobody.post(path, data).status_code == 403
    assert nobody.get("/circles/delete", params={"circle": "family"}).status_code == 303
    assert circled.ok("--json", "circle", "show", "family") == before
    # a groups-file circle alice manages: its members are the admin's
    alice.get("/circles")
    r = alice.post("/circles/members/add", {"circle": "家庭", "users": "frank"})
    assert r.status_code == 403 and "comes from the admin&#39;s groups file" in r.text
    assert alice.get("/circles/delete", params={"circle": "家庭"}).status_code == 403
    assert members_of(circled, "家庭") == {"alice", "dave"}
    # the manager may do each of them
    name = "team-7"
    assert alice.post("/circles/create", {"name": name}).status_code == 303
    r = alice.post("/circles/members/add", {"circle": name, "users": "bob, carol  frank"})
    assert r.status_code == 303 and members_of(circled, name) == {"alice", "bob", "carol", "frank"}
    assert alice.post("/circles/managers/add", {"circle": name, "user": "bob"}).status_code == 303
    assert alice.post("/circles/members/remove", {"circle": name, "user": "frank"}).status_code == 303
    bob.get("/circles")
    assert bob.post("/circles/members/remove", {"circle": name, "user": "carol"}).status_code == 303
    assert bob.post("/circles/managers/remove", {"circle": name, "user": "bob"}).status_code == 303
    assert members_of(circled, name) == {"alice", "bob"}
    assert bob.post("/circles/delete", {"circle": name}).status_code == 403
    confirm = alice.get("/circles/delete", params={"circle": name})
    assert confirm.status_code == 200 and "It has 2 members." in confirm.text
    r = alice.post("/circles/delete", {"circle": name})
    assert r.status_code == 303 and "done=deleted" in r.headers["Location"]
    assert name not in circled.ok("circle", "list")


def test_mistakes_come_back_with_the_cores_sentence_and_the_form_filled_in(circled: Server) -> None:
    alice = Browser(circled).logged_in("alice")
    for data, status, words in (({"name": "家庭聚会"}, 400, "has characters that are not allowed"),
                                ({"name": EVIL}, 400, "may not contain"),
                                ({"name": "family"}, 409, "circle 'family' already exists")):
        r = alice.post("/circles/create", data)
        assert r.status_code == status and words in html.unescape(r.text), (data, r.status_code)
        assert EVIL not in r.text and 'role="alert"' in r.text
    r = alice.post("/circles/create", {"name": "家庭聚会"})
    assert 'value="家庭聚会"' in r.text          # as typed, to correct it
    r = alice.post("/circles/members/add", {"circle": "family", "users": "grace nobody"})
    assert r.status_code == 404 and "no user named &#39;nobody&#39;" in r.text and 'value="grace nobody"' in r.text
    assert "grace" not in members_of(circled, "family")                 # all or nothing
    r = alice.post("/circles/members/add", {"circle": "family", "users": " , "})
    assert r.status_code == 400 and "type at least one user name" in r.text
    r = alice.post("/circles/members/remove", {"circle": "family", "user": "frank"})
    assert r.status_code == 404 and "is not a member" in r.text


def test_every_circles_form_is_refused_without_its_token(circled: Server) -> None:
    alice = Browser(circled).logged_in("alice")
    alice.get("/circles")
    forms = {"/circles/create": {"name": "forged"},
             "/circles/members/add": {"circle": "family", "users": "frank"},
             "/circles/members/remove": {"circle": "family", "user": "bob"},
             "/circles/managers/add": {"circle": "family", "user": "bob"},
             "/circles/managers/remove": {"circle": "family", "user": "alice"},
             "/circles/delete": {"circle": "family"}}
    before = circled.ok("--json", "circle", "list")
    for action, data in forms.items():
        for token in ("", "a-wrong-token-" + "x" * 30):
            r = alice.post(action, data, token=token)
            assert r.status_code == 403 and "nothing was changed" in r.text, (action, token)
    assert circled.ok("--json", "circle", "list") == before


def test_the_circles_page_in_chinese(circled: Server) -> None:
    alice = Browser(circled, language="zh-CN").logged_in("alice")
    page = alice.get("/circles").text
    assert "<h1>圈子</h1>" in page and "我管理的圈子" in page and "家庭" in page


# -- in the browser ----------------------------------------------------------------------------

def test_alice_manages_her_circle_and_bob_sees_it_read_only(browser, circled: Server) -> None:
    browser.delete_all_cookies()
    log_in(browser, circled, "alice")
    go(browser, circled, "/circles")
    browser.find_element(By.ID, "new-circle").send_keys("mueller-family")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/circles/create'] button"))
    assert "Created the circle “mueller-family”." in browser.find_element(By.CSS_SELECTOR, ".done").text
    card = browser.find_element(By.CSS_SELECTOR, "li[data-circle='mueller-family']")
    card.find_element(By.CSS_SELECTOR, "input[name=users]").send_keys("bob carol grace")
    submit(browser, card.find_element(By.CSS_SELECTOR, "form[action$='/circles/members/add'] button"))
    card = browser.find_element(By.CSS_SELECTOR, "li[data-circle='mueller-family']")
    submit(browser, card.find_element(By.CSS_SELECTOR, "button[aria-label='Make bob a manager of mueller-family']"))
    card = browser.find_element(By.CSS_SELECTOR, "li[data-circle='mueller-family']")
    submit(browser, card.find_element(By.CSS_SELECTOR, "button[aria-label='Remove grace from mueller-family']"))
    assert members_of(circled, "mueller-family") == {"alice", "bob", "carol"}
    screenshot(browser, "circles")
    browser.delete_all_cookies()
    log_in(browser, circled, "carol")
    go(browser, circled, "/circles")
    read_only = browser.find_element(By.CSS_SELECTOR, "#member-of ~ ul li[data-circle='mueller-family']")
    assert "alice, bob" in read_only.text and read_only.find_elements(By.TAG_NAME, "button") == []
    screenshot(browser, "circles-member")
    browser.delete_all_cookies()
    log_in(browser, circled, "bob")
    go(browser, circled, "/circles")
    card = browser.find_element(By.CSS_SELECTOR, "#managed ~ ul li[data-circle='mueller-family']")
    submit(browser, card.find_element(By.CSS_SELECTOR, "a.danger"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Delete the circle “mueller-family”?"
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.confirm button"))
    assert "Deleted the circle “mueller-family”." in browser.find_element(By.CSS_SELECTOR, ".done").text
    assert "mueller-family" not in circled.ok("circle", "list")
