"""The web page over HTTP, as a browser speaks to it (forms and cookies), on a real server: login,
sessions, CSRF, who may do what, escaping, and DAV clients of the same server seeing every change
at once."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote, unquote

import pytest
import requests

from radicale_ext.web.app import ROUTES

from ..dav_kit import parse_sync, rejects_token, sync
from ..samples import ICS, event
from ..server import Server, make_server, password
from .core_kit import unique
from .page_kit import PAGE, Browser


def cookie_line(r: requests.Response) -> str:
    return r.headers.get("Set-Cookie", "")


def home_names(server: Server, user: str) -> set[str]:
    r = server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "1"})
    assert r.status_code == 207, r.text[:300]
    hrefs = [h.text or "" for h in ET.fromstring(r.content).iter("{DAV:}href")]
    names = {unquote(h).strip("/").split("/")[-1] for h in hrefs if unquote(h).strip("/") != user}
    assert names, "the home lists nothing at all"
    return names


# -- reaching the page; DAV unchanged ----------------------------------------------------------

def test_the_servers_address_leads_to_the_page_and_dav_is_unchanged(web_server: Server) -> None:
    r = requests.get(web_server.url + "/", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"] == f"{PAGE}/"
    r = requests.get(web_server.url + f"{PAGE}/", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"].startswith(f"{PAGE}/login")
    # DAV on "/" as before: discovery by PROPFIND (a login is asked for, then answered), OPTIONS
    assert web_server.request("PROPFIND", "/", None, headers={"Depth": "0"}).status_code == 401
    r = web_server.request("PROPFIND", "/", "alice", headers={"Depth": "0"})
    assert r.status_code == 207
    assert web_server.request("OPTIONS", "/", "alice").status_code == 200
    # Radicale's own collection manager stays where it was
    assert requests.get(web_server.url + "/.web/", timeout=30).status_code == 200
    # Basic credentials do not log anyone in to the page
    r = requests.get(web_server.url + f"{PAGE}/", auth=("alice", "pw-alice"), allow_redirects=False, timeout=30)
    assert r.status_code == 303 and "login" in r.headers["Location"]
    # nothing under the page's prefix reaches Radicale's write handlers
    assert web_server.request("MKCALENDAR", f"{PAGE}/x/", "alice").status_code == 405
    assert web_server.request("PROPFIND", f"{PAGE}/", "alice").status_code == 405


def test_every_page_answer_carries_the_security_headers(web_server: Server) -> None:
    browser = Browser(web_server)
    for r in (browser.get("/login"), browser.logged_in("alice").get("/"), browser.get("/static/page.css")):
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
    page = browser.get("/").text
    assert "<script>" not in page and re.search(r'<script src="/\.my/static/page\.js" defer></script>', page)



def test_every_page_answer_says_how_long_the_server_took(web_server: Server) -> None:
    """Server-Timing (bench/run_web_pages.py reads it): the page's wall clock and processor time."""
    browser = Browser(web_server)
    for r in (browser.get("/login"), browser.logged_in("alice").get("/"), browser.get("/nowhere")):
        timing = dict(re.findall(r"(\w+);dur=([0-9.]+)", r.headers["Server-Timing"]))
        assert set(timing) == {"page", "cpu"} and 0 < float(timing["page"]) < 60_000, r.headers["Server-Timing"]

# -- login, sessions ---------------------------------------------------------------------------

def test_a_wrong_password_is_refused_and_the_right_one_logs_in_with_a_strict_cookie(web_server: Server) -> None:
    browser = Browser(web_server)
    r = browser.log_in("bob", "not-his-password")
    assert r.status_code == 403 and "The user name or the password is wrong" in r.text
    assert "radicale_ext_session" not in cookie_line(r)
    r = browser.log_in("nobody-here", "whatever")
    assert r.status_code == 403 and "The user name or the password is wrong" in r.text
    r = browser.log_in("bob")
    assert r.status_code == 303 and r.headers["Location"] == f"{PAGE}/"
    flags = [part.strip() for part in cookie_line(r).split(";")]
    assert flags[0].startswith("radicale_ext_session=") and len(flags[0]) > 40
    assert {"HttpOnly", "SameSite=Strict", f"Path={PAGE}/"} <= set(flags)
    assert "Secure" not in flags            # plain HTTP on loopback; over TLS it is Secure (docs/web.md)
    assert not any(f.startswith(("Max-Age", "Expires")) for f in flags)   # ends with the browser, or sooner
    assert "Logged in as bob" in browser.get("/").text


PUBLIC_HOST = "cal.example.org"


@pytest.fixture(scope="module")
def behind_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose address as people use it is
    https://cal.example.org: behind a TLS proxy that passes the Host on (docs/admin.md)."""
    server = make_server(tmp_path_factory.mktemp("behind-tls"),
                         sharing={"links_base_url": f"https://{PUBLIC_HOST}"}).start()
    yield server
    server.stop()


def set_cookies(r: requests.Response) -> dict[str, list[str]]:
    """Each cookie set by ``r``: its name -> its flags."""
    found = {}
    for line in r.raw.headers.getlist("Set-Cookie"):
        parts = [part.strip() for part in line.split(";")]
        found[parts[0].split("=", 1)[0]] = parts[1:]
    return found


def test_the_cookies_are_secure_when_the_page_is_reached_over_https(behind_tls: Server) -> None:
    """Reached at the https:// address of [sharing] links_base_url (the proxy passes the Host on), every
    cookie of the page is Secure, the session's too; reached at the server's own http:// address, none
    is (a browser would not keep it), and logging in works there as before."""
    proxied = requests.Session()
    proxied.headers.update({"Host": PUBLIC_HOST, "Accept-Language": "en"})
    r = proxied.get(behind_tls.url + f"{PAGE}/login", allow_redirects=False)
    assert r.status_code == 200
    form = set_cookies(r)
    assert "Secure" in form["radicale_ext_form"] and "HttpOnly" in form["radicale_ext_form"]
    token = re.search(r'name="csrf" value="([^"]*)"', r.text).group(1)
    form_cookie = r.cookies["radicale_ext_form"]
    r = proxied.post(behind_tls.url + f"{PAGE}/login", allow_redirects=False,
                     data={"user": "alice", "password": password("alice"), "csrf": token, "next": "/"},
                     headers={"Cookie": f"radicale_ext_form={form_cookie}"})
    assert r.status_code == 303, r.text[:300]
    session = set_cookies(r)["radicale_ext_session"]
    assert {"Secure", "HttpOnly", "SameSite=Strict", f"Path={PAGE}/"} <= set(session)
    r = proxied.post(behind_tls.url + f"{PAGE}/language", allow_redirects=False,
                     data={"language": "zh_Hans", "back": "/", "csrf": token},
                     headers={"Cookie": f"radicale_ext_form={form_cookie}"})
    assert r.status_code == 303 and "Secure" in set_cookies(r)["radicale_ext_language"]
    # the server's own address, plain HTTP: no Secure, and the session works
    direct = Browser(behind_tls)
    r = direct.log_in("alice")
    assert r.status_code == 303 and "Secure" not in set_cookies(r)["radicale_ext_session"]
    assert "Logged in as alice" in direct.get("/").text


def test_failed_logins_are_throttled_per_user_and_per_address(tmp_path) -> None:
    server = make_server(tmp_path / "server").start()
    try:
        attacker = Browser(server)
        for _ in range(5):   # five failures for carol: then a pause begins
            assert attacker.log_in("carol", "guess").status_code == 403
        r = attacker.log_in("carol")            # even the right password waits now, unchecked
        assert r.status_code == 429, r.text[:300]
        assert int(r.headers["Retry-After"]) >= 1 and "Too many failed logins" in r.text
        assert "radicale_ext_session" not in cookie_line(r)
        # from the same address, another user's failures count towards the address's ten
        for _ in range(5):
            assert attacker.log_in("dave", "guess").status_code == 403
        r = attacker.log_in("erin")
        assert r.status_code == 429 and "Try again in" in r.text
        # DAV keeps Basic auth, unthrottled by the page
        assert server.request("PROPFIND", "/carol/", "carol", headers={"Depth": "0"}).status_code == 207
    finally:
        server.stop()


def test_logout_ends_the_session_at_once(web_server: Server) -> None:
    browser = Browser(web_server).logged_in("carol")
    old = dict(browser.session.cookies)
    r = browser.post("/logout", {})
    assert r.status_code == 303 and "Max-Age=0" in cookie_line(r)
    stolen = requests.Session()
    stolen.cookies.update(old)   # the cookie, kept by someone who copied it before
    r = stolen.get(web_server.url + f"{PAGE}/", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and "login" in r.headers["Location"]


def test_a_new_password_or_removing_the_user_ends_their_sessions(tmp_path) -> None:
    server = make_server(tmp_path / "server").start()
    try:
        dave = Browser(server).logged_in("dave")
        assert server.cli_process("user", "password", "dave", "--password-stdin",
                                  stdin="a-new-password-1\n").returncode == 0
        assert dave.get("/").status_code == 303
        dave.log_in("dave", "a-new-password-1")
        assert dave.get("/").status_code == 200
        assert server.cli_process("user", "remove", "dave").returncode == 0
        assert dave.get("/").status_code == 303
    finally:
        server.stop()


# -- CSRF: every form --------------------------------------------------------------------------

def test_every_form_is_refused_without_its_token_and_changes_nothing(web_server: Server) -> None:
    alice = Browser(web_server).logged_in("alice")
    name = unique("Urlaub")
    assert alice.create(name).status_code == 303
    path = f"/alice/{name}/"
    forms = {
        "/calendars/create": {"name": unique("csrf"), "kind": "calendar", "colour": "#000000"},
        "/calendars/change": {"collection": path, "name": "changed by a forged form", "colour": "#000000"},
        "/calendars/delete": {"collection": path},
        "/language": {"language": "zh_Hans", "back": "/"},
        "/logout": {},
    }
    before = home_names(web_server, "alice")
    for action, data in forms.items():
        for token in ("", "a-wrong-token-" + "x" * 30):
            r = alice.post(action, data, token=token)
            assert r.status_code == 403, (action, token, r.status_code)
            assert "nothing was changed" in r.text
            assert "Set-Cookie" not in r.headers or "language" not in r.headers["Set-Cookie"]
    assert home_names(web_server, "alice") == before
    page = alice.get("/")
    assert page.status_code == 200 and "Logged in as alice" in page.text and name in page.text
    assert "changed by a forged form" not in page.text
    # the login form has its own token (before there is a session): refused without it
    stranger = Browser(web_server)
    stranger.get("/login")
    r = stranger.post("/login", {"user": "alice", "password": "pw-alice"}, token="")
    assert r.status_code == 403 and "radicale_ext_session" not in cookie_line(r)
    other = requests.Session()   # a token without the browser's form cookie (another site's form)
    r = other.post(web_server.url + f"{PAGE}/login", data={"user": "alice", "password": "pw-alice",
                                                           "csrf": stranger.token}, allow_redirects=False)
    assert r.status_code == 403


# -- who may do what ---------------------------------------------------------------------------

def test_every_page_and_action_for_the_owner_another_user_and_anonymous(web_server: Server) -> None:
    alice = Browser(web_server).logged_in("alice")
    bob = Browser(web_server).logged_in("bob")
    anonymous = Browser(web_server)
    name = unique("家庭")
    assert alice.create(name).status_code == 303
    path = f"/alice/{name}/"
    # pages (GET): owner 200, bob refused on alice's collection, anonymous sent to the login form
    assert alice.get("/").status_code == 200
    assert bob.get("/").status_code == 200 and name not in bob.get("/").text
    assert alice.get("/calendars/delete", params={"collection": path}).status_code == 200
    assert bob.get("/calendars/delete", params={"collection": path}).status_code == 403
    for page in ("/", "/calendars/delete?collection=" + quote(path)):
        r = anonymous.get(page)
        assert r.status_code == 303 and "/login?next=" in r.headers["Location"], page
    # actions (POST) on alice's collection: bob 403 with his own valid token, anonymous 403
    bob.get("/")
    for action, data in (("/calendars/change", {"collection": path, "name": "bob was here"}),
                         ("/calendars/delete", {"collection": path})):
        r = bob.post(action, data)
        assert r.status_code == 403 and "may not change 'alice'" in html.unescape(r.text), action
        anonymous.get("/login")
        assert anonymous.post(action, data).status_code == 403
    assert name in home_names(web_server, "alice")
    # bob's own create never lands in alice's home, whatever the form says
    r = bob.post("/calendars/create", {"name": "alice/intruder", "kind": "calendar", "owner": "alice"})
    assert r.status_code == 303 and "intruder" not in " ".join(home_names(web_server, "alice"))
    anonymous.get("/login")
    assert anonymous.post("/calendars/create", {"name": "x", "kind": "calendar"}).status_code == 403
    # the owner may
    assert alice.post("/calendars/change", {"collection": path, "name": "Familie Müller",
                                            "colour": "#ff0000"}).status_code == 303
    assert alice.post("/calendars/delete", {"collection": path}).status_code == 303
    assert name not in home_names(web_server, "alice")


# -- escaping ----------------------------------------------------------------------------------

def test_a_name_with_markup_is_shown_as_text_everywhere(web_server: Server) -> None:
    erin = Browser(web_server).logged_in("erin")
    evil = "<script>alert(1)</script>"
    r = erin.create(evil)
    assert r.status_code == 303
    listing = erin.session.get(web_server.url + r.headers["Location"], timeout=30).text  # "Created …" too
    assert evil not in listing and "&lt;script&gt;alert(1)&lt;/script&gt;" in listing
    path = re.search(r'name="collection" value="([^"]+)"', listing).group(1)
    confirm = erin.get("/calendars/delete", params={"collection": html.unescape(path)}).text
    assert evil not in confirm and "&lt;script&gt;alert(1)&lt;/script&gt;" in confirm
    # an error that repeats what was typed repeats it as text
    r = erin.post("/calendars/create", {"name": evil, "kind": "calendar", "colour": "<b>red</b>"})
    assert r.status_code == 400 and "<b>red</b>" not in r.text and "&lt;b&gt;red&lt;/b&gt;" in r.text


# -- DAV clients see the page's changes at once ------------------------------------------------

def test_a_change_on_the_page_is_seen_at_once_by_dav_clients_of_the_same_server(web_server: Server) -> None:
    grace = Browser(web_server).logged_in("grace")
    name = "Fußball 🎉"
    assert grace.create(name).status_code == 303
    path = f"/grace/{quote(name)}/"
    r = web_server.request("PROPFIND", path, "grace", headers={"Depth": "0"})
    assert r.status_code == 207 and "Fußball 🎉" in r.text
    first = parse_sync(sync(web_server, path, "grace"))
    assert first.token and first.found == {}
    assert web_server.request("PUT", f"{path}a.ics", "grace", event("a"), headers=ICS).status_code == 201
    assert set(parse_sync(sync(web_server, path, "grace", first.token)).found) == {f"{path}a.ics"}
    # renamed on the page: the next PROPFIND says so
    assert grace.post("/calendars/change", {"collection": f"/grace/{name}/", "name": "Fußball-Verein",
                                            "colour": "#00aa00"}).status_code == 303
    r = web_server.request("PROPFIND", path, "grace", headers={"Depth": "0"})
    assert "Fußball-Verein" in r.text and "#00aa00" in r.text
    # deleted on the page: gone at once; made again with the same name, the old token is refused
    token = parse_sync(sync(web_server, path, "grace")).token
    assert grace.post("/calendars/delete", {"collection": f"/grace/{name}/"}).status_code == 303
    assert web_server.request("PROPFIND", path, "grace", headers={"Depth": "0"}).status_code == 404
    assert grace.create(name).status_code == 303
    again = sync(web_server, path, "grace", token)
    assert rejects_token(again), (again.status_code, again.text[:300])
    assert parse_sync(sync(web_server, path, "grace")).found == {}
    outbox = [r for r in json.loads(web_server.ok("outbox", "list", "--json")) if r["collection"] == f"/grace/{name}/"]
    assert [(r["kind"], r["actor"]) for r in outbox][:4] == [
        ("collection-created", "grace"), ("item-created", "grace"), ("properties-changed", "grace"),
        ("collection-deleted", "grace")]


def test_the_chinese_page_from_the_browsers_language_or_the_switch(web_server: Server) -> None:
    chinese = Browser(web_server, language="zh-CN,zh;q=0.9,en;q=0.5")
    r = chinese.get("/login")
    assert r.status_code == 200 and "登录" in r.text and 'lang="zh-Hans"' in r.text
    english = Browser(web_server, language="de-DE,en;q=0.5").logged_in("frank")
    assert "My calendars and address books" in english.get("/").text
    r = english.post("/language", {"language": "zh_Hans", "back": "/"})
    assert r.status_code == 303 and "radicale_ext_language=zh_Hans" in cookie_line(r)
    page = english.get("/").text
    assert "我的日历和通讯录" in page and "My calendars" not in page
    assert english.post("/language", {"language": "klingon", "back": "/"}).status_code == 400


def test_every_route_of_the_table_asks_for_a_session_and_every_post_for_its_token(web_server: Server) -> None:
    """The whole route table, not a list kept by hand: a page or action added later without its session
    or CSRF check fails here.  Without a session every page sends the browser to the login form and every
    action is refused (403, also with the token of the login form); logged in, every action without the
    session's token or with another one is refused (403) before its handler runs."""
    routes = sorted(key for key, route in ROUTES.items() if not route.public)
    assert len(routes) > 50 and ("POST", "/card/audience") in routes and ("GET", "/admin") in routes
    anonymous = Browser(web_server)
    anonymous.get("/login")                       # a valid pre-login form token (double submit cookie)
    bob = Browser(web_server).logged_in("bob")
    forged = "a-forged-token-" + "x" * 30
    for method, path in routes:
        if method == "GET":
            r = anonymous.get(path)
            assert r.status_code == 303 and r.headers["Location"].startswith(f"{PAGE}/login?next="), path
            continue
        r = anonymous.post(path, {})
        assert r.status_code == 403 and "Log in and try again" in r.text, path
        for token in ("", forged):
            r = bob.post(path, {}, token=token)
            assert r.status_code == 403 and "nothing was changed" in r.text, (path, token)
    assert "Logged in as bob" in bob.get("/").text   # refusals end no session


def test_every_form_of_every_template_carries_the_token() -> None:
    """Each ``<form method="post">`` of the templates names the CSRF token (the router would refuse it anyway,
    so a form without it would be a form that never works)."""
    from importlib import resources
    folder = resources.files("radicale_ext.web").joinpath("templates")
    posts = 0
    for template in folder.iterdir():
        text = template.read_text(encoding="utf-8")
        for form in re.findall(r"<form\b[^>]*>.*?</form>", text, re.DOTALL):
            if re.search(r'method="post"', form, re.IGNORECASE):
                posts += 1
                assert 'name="csrf" value="{{ csrf }}"' in form or "csrf_field" in form, (template.name, form[:200])
    assert posts >= 30
