"""Admin (issue 14, item 8): users named in ``[auth] admins`` add and remove users, set passwords, and
see every circle.  The core's check without a server (and the command line's ``--as``), the option
(declared: a misspelling stops the start), the pages over HTTP for an admin, another user and
anonymous (403 on every admin page and action, CSRF, sessions ended at once), and in the browser:
an admin adds a user on the page who can then log in to DAV."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from radicale_ext.base.errors import Conflict, Forbidden, InvalidName, NotFound
from radicale_ext.base.model import Grantee, GranteeKind, Role
from radicale_ext.base.users import UserFile, admins_from
from radicale_ext.cli.collections import homes_of
from radicale_ext.homes.properties import Kind
from radicale_ext.site import Settings, Site

from ..server import USERS, Server, make_server, write_users
from .conftest import screenshot
from .page_kit import Browser
from .test_browser import go, log_in, submit

ADMINS = "alice, grace"
NEW_USER = "oma.mueller+family@example.org"


# -- the core, without a server ----------------------------------------------------------------------

@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    write_users(tmp_path / "users", USERS)
    (tmp_path / "groups").write_text("family: alice bob\n")
    site = Site(Settings(collections_folder=str(tmp_path / "collections"), database_path=str(tmp_path / "db.sqlite"),
                         groups_file=str(tmp_path / "groups"), htpasswd_file=str(tmp_path / "users"),
                         rights_file=None, admins=admins_from("alice, nobody-yet")))
    yield site
    site.db.close()


def test_core_only_an_admin_manages_accounts(site: Site) -> None:
    accounts = site.accounts
    site.circles.create("choir", ["carol"], actor=None)
    for refused in (lambda: accounts.users(actor="bob"), lambda: accounts.circles(actor="bob"),
                    lambda: accounts.add("zoe", "pw-zoe", actor="bob"),
                    lambda: accounts.set_password("carol", "stolen", actor="bob"),
                    lambda: accounts.remove("carol", actor="bob"),
                    lambda: accounts.users(actor="nobody-yet")):   # named, but without an account
        with pytest.raises(Forbidden, match="only an admin may manage accounts"):
            refused()
    assert UserFile(site.settings.htpasswd_file).users() == frozenset(USERS)
    assert accounts.is_admin("alice") and accounts.is_admin(None) and not accounts.is_admin("bob")
    assert [(c.name, c.origin.value) for c in accounts.circles(actor="alice")] == [
        ("choir", "database"), ("family", "groups-file")]
    accounts.add("zoe", "pw-zoe", actor="alice")
    with pytest.raises(Conflict):
        accounts.add("zoe", "another", actor="alice")
    with pytest.raises(InvalidName):
        accounts.add("<script>", "pw", actor="alice")
    with pytest.raises(InvalidName, match="empty"):
        accounts.add("yara", "", actor="alice")
    accounts.set_password("zoe", "a new one", actor=None)
    with pytest.raises(NotFound):
        accounts.set_password("nobody", "x", actor="alice")
    with pytest.raises(Conflict, match="may not remove their own account"):
        accounts.remove("alice", actor="alice")
    homes_of(site).create("alice", kind=Kind.CALENDAR, name="family", actor="alice")
    site.shares.add("/alice/family/", Grantee(GranteeKind.USER, "bob"), Role.SUBSCRIBER, actor=None)
    assert accounts.remove("bob", actor="alice") == frozenset({"family"}), "the groups file still lists bob"
    assert "bob" not in accounts.users(actor=None) and site.shares.shares_of("/alice/family/") == []
    assert accounts.users(actor="alice") == sorted({*USERS, "zoe"} - {"bob"})


def test_the_option_is_a_list_of_user_names() -> None:
    assert admins_from("") == frozenset()
    assert admins_from(" alice,bob  carol ,, anna@example.org ") == {"alice", "bob", "carol", "anna@example.org"}
    with pytest.raises(InvalidName, match=r"\[auth\] admins = 'alice, al/ice'"):
        admins_from("alice, al/ice")


@pytest.mark.parametrize(("section", "options", "said"), [
    ("auth", {"admin": "alice"}, "unknown option 'admin' in section [auth]"),
    ("auth", {"admins": "alice, ../etc"}, "[auth] admins = 'alice, ../etc'"),
    ("web", {"admins": "alice"}, "Invalid option 'admins' in section 'web'"),   # Radicale's own section
])
def test_a_misspelt_or_bad_option_stops_the_start(tmp_path: Path, section: str, options: dict, said: str) -> None:
    server = make_server(tmp_path / "srv", **{section: options})
    with pytest.raises(RuntimeError, match="server exited with 1") as stopped:
        server.start()
    assert said in str(stopped.value)


# -- over HTTP -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("admin-page"), auth={"admins": ADMINS})
    server.groups_file.write_text("family: alice bob dave\nteam: carol\n")
    server.start()
    server.ok("circle", "create", "choir", "--manager", "carol")
    server.ok("circle", "add", "choir", "dave", "erin", acting_as="carol")
    yield server
    server.stop()


def dav_status(srv: Server, user: str, secret: str) -> int:
    return requests.request("PROPFIND", f"{srv.url}/{user}/", auth=(user.encode(), secret.encode()),
                            headers={"Depth": "0"}, timeout=30).status_code


def users(srv: Server) -> str:
    return srv.ok("user", "list")


PAGES = ("/admin", "/admin/users/remove?user=carol")
ACTIONS = {"/admin/users/add": {"name": "intruder", "password": "x-1234567", "again": "x-1234567"},
           "/admin/users/password": {"user": "carol", "password": "stolen-pw", "again": "stolen-pw"},
           "/admin/users/remove": {"user": "carol"}}


def test_a_non_admin_gets_403_on_every_admin_page_and_action(srv: Server) -> None:
    before = users(srv)
    bob, anonymous = Browser(srv).logged_in("bob"), Browser(srv)
    assert 'href="/.my/admin"' not in bob.get("/").text, "no admin entry in a non-admin's menu"
    for path in PAGES:
        r = bob.get(path)
        assert r.status_code == 403 and "only an admin may manage accounts" in html.unescape(r.text), path
        r = anonymous.get(path)
        assert r.status_code == 303 and "/login?next=" in r.headers["Location"], path
    bob.get("/")
    anonymous.get("/login")
    for path, data in ACTIONS.items():
        r = bob.post(path, data)
        assert r.status_code == 403 and "only an admin may manage accounts" in html.unescape(r.text), path
        assert anonymous.post(path, data).status_code == 403, path
    # forged forms that name a user who is an admin change nothing either
    assert bob.post("/admin/users/remove", {"user": "alice", "actor": "alice"}).status_code == 403
    assert users(srv) == before and dav_status(srv, "carol", "pw-carol") == 207
    alice = Browser(srv).logged_in("alice")
    assert 'href="/.my/admin"' in alice.get("/").text
    assert alice.get("/admin").status_code == 200


def test_every_admin_form_is_refused_without_its_token(srv: Server) -> None:
    alice = Browser(srv).logged_in("alice")
    page = alice.get("/admin").text
    assert set(re.findall(r'action="/\.my(/admin[^"]*)"', page)) == {"/admin/users/add", "/admin/users/password"}
    assert 'action="/.my/admin/users/remove"' in alice.get("/admin/users/remove", params={"user": "carol"}).text
    before = users(srv)
    for path, data in ACTIONS.items():
        for token in ("", "y" * 43):
            r = alice.post(path, data, token=token)
            assert r.status_code == 403 and "nothing was changed" in r.text, (path, token)
    assert users(srv) == before and dav_status(srv, "carol", "pw-carol") == 207


def test_adding_a_user_checks_the_name_and_the_passwords(srv: Server) -> None:
    grace = Browser(srv).logged_in("grace")
    grace.get("/admin")
    evil = "<script>alert(1)</script>"
    r = grace.post("/admin/users/add", {"name": evil, "password": "pw-1", "again": "pw-1"})
    assert r.status_code == 400 and evil not in r.text and "&lt;script&gt;" in r.text
    r = grace.post("/admin/users/add", {"name": "yara", "password": "pw-yara", "again": "pw-yar"})
    assert r.status_code == 400 and "the two passwords differ; nothing changed" in r.text
    r = grace.post("/admin/users/add", {"name": "carol", "password": "pw-x", "again": "pw-x"})
    assert r.status_code == 409 and "already exists" in html.unescape(r.text)
    assert "yara" not in users(srv) and dav_status(srv, "carol", "pw-carol") == 207
    r = grace.post("/admin/users/add", {"name": "yara", "password": "pw-yara 家庭", "again": "pw-yara 家庭"})
    assert r.status_code == 303
    assert "Added yara." in grace.session.get(srv.url + r.headers["Location"], timeout=30).text
    assert dav_status(srv, "yara", "pw-yara 家庭") == 207 and dav_status(srv, "yara", "pw-yara") == 401
    yara = Browser(srv)
    assert yara.log_in("yara", "pw-yara 家庭").status_code == 303


def test_a_new_password_ends_the_users_sessions_at_once(srv: Server) -> None:
    srv.ok("user", "add", "kim", "--password", "pw-kim")
    kim = Browser(srv).logged_in("kim")
    alice = Browser(srv).logged_in("alice")
    alice.get("/admin")
    r = alice.post("/admin/users/password", {"user": "kim", "password": "new-pw-kim", "again": "new-pw-kim"})
    assert r.status_code == 303
    r = kim.get("/")
    assert r.status_code == 303 and "/login" in r.headers["Location"], "logged out at once"
    assert dav_status(srv, "kim", "pw-kim") == 401 and dav_status(srv, "kim", "new-pw-kim") == 207
    assert Browser(srv).log_in("kim", "new-pw-kim").status_code == 303


def test_removing_a_user_ends_their_sessions_and_says_what_stays(srv: Server) -> None:
    dave = Browser(srv).logged_in("dave")
    alice = Browser(srv).logged_in("alice")
    confirm = alice.get("/admin/users/remove", params={"user": "dave"})
    assert confirm.status_code == 200
    assert "Remove dave?" in confirm.text and "family" in confirm.text and "choir" in confirm.text
    assert alice.get("/admin/users/remove", params={"user": "nobody"}).status_code == 404
    r = alice.post("/admin/users/remove", {"user": "dave"})
    assert r.status_code == 303
    done = alice.session.get(srv.url + r.headers["Location"], timeout=30).text
    assert "Removed dave" in done and "The groups file still lists them in: family." in done
    r = dave.get("/notices")
    assert r.status_code == 303 and "/login" in r.headers["Location"], "logged out at once"
    assert dav_status(srv, "dave", "pw-dave") == 401 and "dave" not in users(srv).split()
    # an admin does not remove their own account here
    r = alice.post("/admin/users/remove", {"user": "alice"})
    assert r.status_code == 409 and "may not remove their own account" in html.unescape(r.text)
    assert "alice" in users(srv).split()
    assert 'href="/.my/admin/users/remove?user=alice"' not in alice.get("/admin").text


def test_circles_from_the_groups_file_and_the_database_are_shown_read_only(srv: Server) -> None:
    page = Browser(srv).logged_in("alice").get("/admin").text
    circles = page[page.index('id="circles"'):]
    assert "team" in circles and "choir" in circles and "managed by carol" in circles
    assert "<form" not in circles, "read-only"
    assert "From the groups file" in circles and "Made by their managers" in circles


# -- in the browser -----------------------------------------------------------------------------------

def test_an_admin_adds_a_user_on_the_page_who_then_logs_in_to_dav(browser, srv: Server) -> None:
    browser.delete_all_cookies()
    log_in(browser, srv, "grace")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "nav a[href$='/admin']"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Admin: users and circles"
    browser.find_element(By.ID, "new-name").send_keys(NEW_USER)
    browser.find_element(By.ID, "new-password").send_keys("Familie 家庭 🎉")
    browser.find_element(By.ID, "new-again").send_keys("Familie 家庭 🎉")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/admin/users/add'] button"))
    assert f"Added {NEW_USER}." in browser.find_element(By.CSS_SELECTOR, ".done").text
    screenshot(browser, "admin")
    assert dav_status(srv, NEW_USER, "Familie 家庭 🎉") == 207
    link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "a.danger") if NEW_USER in a.text)
    submit(browser, link)
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Remove {NEW_USER}?"
    screenshot(browser, "admin-remove")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.confirm button"))
    assert f"Removed {NEW_USER}" in browser.find_element(By.CSS_SELECTOR, ".done").text
    assert dav_status(srv, NEW_USER, "Familie 家庭 🎉") == 401
    go(browser, srv, "/admin")
    assert NEW_USER not in browser.find_element(By.ID, "users").find_element(By.XPATH, "..").text
    browser.set_window_size(390, 844)
    try:
        go(browser, srv, "/admin")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
    finally:
        browser.set_window_size(1280, 1000)
