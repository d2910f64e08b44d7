"""What the page offers, without a browser or a server: the core's operations on a home (the same
the command line calls), sessions (expiry with an injected clock), the login throttle, and the
languages (every message of the page translated)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from radicale_ext.base.errors import Conflict, Forbidden, InvalidName, NotFound
from radicale_ext.base.model import Grantee, GranteeKind, Role, ShareBasis
from radicale_ext.cli.collections import homes_of
from radicale_ext.homes.properties import Kind, folder_name_for
from radicale_ext.site import Settings, Site
from radicale_ext.web.i18n import Speaker, chosen
from radicale_ext.web.login import LoginGuard, LoginRules, TooManyFailures, WrongPassword
from radicale_ext.web.sessions import SessionBook, SessionRules

from ..server import USERS, write_users

WEB = Path(__file__).resolve().parents[2] / "radicale_ext" / "web"


@pytest.fixture
def site(tmp_path: Path):
    write_users(tmp_path / "users", USERS)
    site = Site(Settings(collections_folder=str(tmp_path / "collections"), database_path=str(tmp_path / "db.sqlite"),
                         groups_file=None, htpasswd_file=str(tmp_path / "users"), rights_file=None))
    yield site
    site.db.close()


# -- the home's operations ---------------------------------------------------------------------

def test_create_in_any_language_named_from_the_display_name(site: Site) -> None:
    homes = homes_of(site)
    made = homes.create("alice", kind=Kind.CALENDAR, display_name="家庭", colour="#ff0000", actor="alice")
    assert (made.path, made.display_name, made.colour, made.items) == ("/alice/家庭/", "家庭", "#ff0000", 0)
    again = homes.create("alice", kind=Kind.CALENDAR, display_name="家庭", actor="alice")
    assert again.path == "/alice/家庭 2/" and again.display_name == "家庭"
    emoji = homes.create("alice", kind=Kind.ADDRESS_BOOK, display_name="Fußball 🎉", actor=None)
    assert emoji.path == "/alice/Fußball 🎉/" and emoji.kind is Kind.ADDRESS_BOOK
    markup = homes.create("alice", kind=Kind.CALENDAR, display_name="<script>alert(1)</script>", actor="alice")
    assert markup.display_name == "<script>alert(1)</script>" and "/" not in markup.name
    assert [c.shown_as for c in homes.collections("alice", actor="alice")] == [
        "<script>alert(1)</script>", "Fußball 🎉", "家庭", "家庭"]
    assert [(c.path, c.tag) for c in homes.to_choose_from("alice", actor="alice")] == [
        (c.path, c.kind.value) for c in homes.collections("alice", actor="alice")]
    assert folder_name_for("a/b~c:d", Kind.CALENDAR) == "a-b-c-d"
    assert folder_name_for("...", Kind.CALENDAR) == "calendar"
    with pytest.raises(Conflict):
        homes.create("alice", kind=Kind.CALENDAR, name="家庭", actor="alice")
    for bad in ({"display_name": ""}, {"display_name": "a\nb"}, {"display_name": "x", "colour": "red"}):
        with pytest.raises(InvalidName):
            homes.create("alice", kind=Kind.CALENDAR, actor="alice", **bad)


def test_only_the_owner_or_the_admin(site: Site) -> None:
    homes = homes_of(site)
    made = homes.create("alice", kind=Kind.CALENDAR, display_name="family", actor="alice")
    for call in (lambda: homes.collections("alice", actor="bob"),
                 lambda: homes.to_choose_from("alice", actor="bob"),
                 lambda: homes.collection(made.path, actor="bob"),
                 lambda: homes.create("alice", kind=Kind.CALENDAR, display_name="x", actor="bob"),
                 lambda: homes.change(made.path, display_name="bob's", actor="bob"),
                 lambda: homes.delete(made.path, actor="bob")):
        with pytest.raises(Forbidden):
            call()
    with pytest.raises(NotFound):
        homes.create("zoe", kind=Kind.CALENDAR, display_name="x", actor=None)
    with pytest.raises(NotFound):
        homes.collection("/alice/nothing/", actor="alice")
    assert homes.collection(made.path, actor=None).display_name == "family"


def test_rename_and_recolour_keep_the_other_properties(site: Site) -> None:
    homes = homes_of(site)
    made = homes.create("alice", kind=Kind.ADDRESS_BOOK, display_name="Kontakte", colour="#111111", actor="alice")
    changed = homes.change(made.path, display_name="Kontakte der Müllers", actor="alice")
    assert (changed.display_name, changed.colour, changed.kind) == ("Kontakte der Müllers", "#111111",
                                                                    Kind.ADDRESS_BOOK)
    assert homes.change(made.path, colour="#222222", actor="alice").colour == "#222222"
    records = [(r.change.kind.value, r.change.actor) for r in site.outbox.records()]
    assert records == [("collection-created", "alice"), ("properties-changed", "alice"),
                       ("properties-changed", "alice")]


def test_delete_tells_who_loses_access_and_takes_shares_and_links(site: Site) -> None:
    homes = homes_of(site)
    made = homes.create("alice", kind=Kind.CALENDAR, display_name="family", actor="alice")
    site.shares.add(made.path, Grantee(GranteeKind.USER, "bob"), Role.COLLABORATOR, actor=None,
                    basis=ShareBasis.AT_ONCE)
    site.shares.add(made.path, Grantee(GranteeKind.USER, "carol"), Role.SUBSCRIBER, basis=ShareBasis.INVITATION,
                    actor="alice")
    found = homes.collection(made.path, actor="alice")
    assert [(p.user, p.standing.value) for p in found.people] == [("bob", "at once"), ("carol", "pending")]
    assert [p.user for p in found.reaching] == ["bob"]
    site.links.create(site.links.target("alice/family"), actor="alice")
    done = homes.delete(made.path, actor="alice")
    assert (done.shares, done.links) == (2, 1)
    assert site.shares.shares_of(made.path) == [] and homes.collections("alice", actor="alice") == []


# -- sessions ----------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_end_at_logout_idle_absolute_expiry_new_password_and_removal(site: Site, tmp_path: Path) -> None:
    clock = Clock()
    book = SessionBook(str(tmp_path / "sessions.sqlite"), user_exists=site.user_exists,
                       password_stamp=site.users.password_stamp,
                       rules=SessionRules(idle=600, longest=3600, touch_every=60), clock=clock)
    sid, session = book.start("alice")
    assert book.find(sid) == session and book.find("") is None and book.find("guess") is None
    assert session.csrf_matches(session.csrf) and not session.csrf_matches("") and not session.csrf_matches("x")
    book.end(sid)
    assert book.find(sid) is None
    sid, _ = book.start("alice")      # idle: used every 9 minutes it lives, 11 minutes unused it ends
    for _ in range(5):
        clock.now += 540
        assert book.find(sid) is not None
    clock.now += 660
    assert book.find(sid) is None
    sid, _ = book.start("alice")      # absolute: an hour at most, however busy
    for _ in range(6):
        clock.now += 590
        assert book.find(sid) is not None
    clock.now += 70
    assert book.find(sid) is None
    sid, _ = book.start("bob")
    site.users.set_password("bob", "a new password")
    assert book.find(sid) is None
    sid, _ = book.start("bob")
    site.remove_user("bob")
    assert book.find(sid) is None and book.count_of("bob") == 0


def test_the_login_throttle(site: Site) -> None:
    clock = Clock()
    checked = []

    def check(login: str, password: str, address: str) -> str:
        checked.append(login)
        return login if password == f"pw-{login}" else ""

    guard = LoginGuard(check, LoginRules(free_failures_per_user=3, free_failures_per_address=5, first_pause=2,
                                         lockout=60, forget_after=600), clock=clock)
    assert guard.log_in("alice", "pw-alice", "10.0.0.1") == "alice"
    for _ in range(3):
        with pytest.raises(WrongPassword):
            guard.log_in("alice", "guess", "10.0.0.1")
    with pytest.raises(TooManyFailures) as waiting:
        guard.log_in("alice", "pw-alice", "10.0.0.2")   # the user waits, from any address, unchecked
    assert waiting.value.seconds == 2 and checked.count("alice") == 4
    clock.now += 2.5
    with pytest.raises(WrongPassword):
        guard.log_in("alice", "guess", "10.0.0.2")
    with pytest.raises(TooManyFailures) as waiting:
        guard.log_in("alice", "pw-alice", "10.0.0.2")
    assert waiting.value.seconds == 4                   # twice as long
    for _ in range(10):
        clock.now += 100
        with pytest.raises((WrongPassword, TooManyFailures)):
            guard.log_in("alice", "guess", "10.0.0.3")
    with pytest.raises(TooManyFailures) as waiting:
        guard.log_in("alice", "pw-alice", "10.0.0.4")
    assert waiting.value.seconds <= 60                  # the lockout's length at most
    clock.now += 3600                                   # forgotten after a quiet while
    assert guard.log_in("alice", "pw-alice", "10.0.0.4") == "alice"
    assert guard.log_in("bob", "pw-bob", "10.0.0.1") == "bob"


# -- languages ---------------------------------------------------------------------------------

def test_the_language_from_the_choice_or_the_browser() -> None:
    assert chosen("", "zh-CN,zh;q=0.9,en;q=0.8") == "zh_Hans"
    assert chosen("", "zh-TW") == "zh_Hans"
    assert chosen("", "de-DE,de;q=0.9,en;q=0.5,zh;q=0.4") == "en"
    assert chosen("", "de-DE, zh;q=0.9, en;q=0.5") == "zh_Hans"
    assert chosen("", "") == "en" and chosen("", "fr;q=abc, ;;") == "en"
    assert chosen("en", "zh-CN") == "en" and chosen("zh_Hans", "en") == "zh_Hans" and chosen("xx", "") == "en"


def test_dates_and_numbers_for_the_language_and_the_persons_zone() -> None:
    moment = 1767279600.0   # 2026-01-01 15:00 UTC
    assert Speaker("en", "Europe/Berlin").when(moment) == "Jan 1, 2026, 4:00:00\u202fPM"
    assert Speaker("zh_Hans", "Asia/Shanghai").when(moment) == "2026年1月1日 23:00:00"
    assert Speaker("en", "Not/AZone").zone_name == "Not/AZone"
    assert Speaker("en").number(12345) == "12,345"


def test_every_message_of_the_page_is_in_the_catalogs(tmp_path: Path) -> None:
    """The template (.pot) is what the code and templates say today, and Chinese translates all of it."""
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(WEB / "babel.cfg"),
                    "-k", "N_", "--no-location", "--sort-output", "-o", str(fresh), str(WEB)],
                   check=True, capture_output=True)
    with open(fresh, "rb") as f:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    with open(WEB / "locale" / "messages.pot", "rb") as f:
        kept = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    assert wanted == kept, "run pybabel extract (docs/web.md, 'Translations') and translate the new messages"
    with open(WEB / "locale" / "zh_Hans" / "LC_MESSAGES" / "messages.po", "rb") as f:
        chinese = read_po(f)
    missing = [m for m in wanted if not chinese.get(m) or not all(chinese.get(m).string if isinstance(
        chinese.get(m).string, tuple) else [chinese.get(m).string]) or chinese.get(m).fuzzy]
    assert missing == []
