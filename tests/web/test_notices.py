"""Notices and reminders (issue 14, item 7): the core's operations without a server (who may, what a
person reads, devices, the last notices, reminders), the page over HTTP (every page and action for
the person, another user and anonymous, editing ids, CSRF, the core's address checks, the webhook's
secret shown once, names in any language shown as text), and in the browser: choices made on the
page change what bob receives from a real SMTP server (aiosmtpd), with the worker's clock."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from radicale_ext.base.errors import Forbidden, InvalidName, NotFound
from radicale_ext.base.model import Grantee, GranteeKind, Role, ShareBasis
from radicale_ext.cli.collections import homes_of
from radicale_ext.homes.properties import Kind
from radicale_ext.notices.delivery import DeliveryQueue, State
from radicale_ext.notices.fanout import next_digest
from radicale_ext.notices.my_notices import MyNotices
from radicale_ext.notices.outbound import AllowList, BadDestination
from radicale_ext.notices.preferences import Channel, InvalidAddress, Timing
from radicale_ext.notices.push.subscriptions import PushSubscriptions
from radicale_ext.notices.push.webdav_push import Registration
from radicale_ext.notices.settings import NoticeSettings
from radicale_ext.reminders.my_reminders import MyReminders
from radicale_ext.reminders.scheduler import ReminderChoices
from radicale_ext.sharing.notifications import Notice, NoticeBox, NoticeKind
from radicale_ext.site import Settings, Site

from ..notice_kit import (
    FakeClock,
    Mailbox,
    Receiver,
    UserAgent,
    change_texts,
    notice_server,
    put_event,
    smtp_server,
    worker_of,
)
from ..server import USERS, Server, free_port, write_users
from .conftest import screenshot
from .page_kit import Browser
from .test_browser import go, log_in, pick_language, submit

XML = {"Content-Type": "application/xml; charset=utf-8"}
EVIL = "<script>alert(1)</script>"


# -- the core, without a server ----------------------------------------------------------------------

@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    write_users(tmp_path / "users", USERS)
    site = Site(Settings(collections_folder=str(tmp_path / "collections"), database_path=str(tmp_path / "db.sqlite"),
                         groups_file=None, htpasswd_file=str(tmp_path / "users"), rights_file=None))
    yield site
    site.db.close()


def settings_for_tests() -> NoticeSettings:
    """Notices on; the local addresses of the tests allowed as push resources and webhooks."""
    return NoticeSettings(enabled=True, https_only=False, outbound_allow=AllowList.parse("127.0.0.1"))


def calendars(site: Site) -> tuple[str, str, str]:
    """alice's 家庭 (shared with bob at once), her Fußball 🎉 (shared with nobody) and her address book."""
    homes = homes_of(site)
    family = homes.create("alice", kind=Kind.CALENDAR, display_name="家庭", actor="alice").path
    private = homes.create("alice", kind=Kind.CALENDAR, display_name="Fußball 🎉", actor="alice").path
    book = homes.create("alice", kind=Kind.ADDRESS_BOOK, display_name="Kontakte", actor="alice").path
    for path in (family, book):
        site.shares.add(path, Grantee(GranteeKind.USER, "bob"), Role.SUBSCRIBER, actor=None,
                        basis=ShareBasis.AT_ONCE)
    return family, private, book


def test_core_only_the_person_or_the_admin(site: Site) -> None:
    mine = MyNotices(site, settings_for_tests())
    family, _private, _book = calendars(site)
    calls = (lambda actor: mine.contact("alice", actor=actor),
             lambda actor: mine.set_email("alice", "alice@example.org", actor=actor),
             lambda actor: mine.set_timezone("alice", "Europe/Berlin", actor=actor),
             lambda actor: mine.set_webhook("alice", None, actor=actor),
             lambda actor: mine.everywhere("alice", actor=actor),
             lambda actor: mine.followed("alice", actor=actor),
             lambda actor: mine.readings("alice", actor=actor),
             lambda actor: mine.reading("alice", family, actor=actor),
             lambda actor: mine.follow("alice", family, actor=actor),
             lambda actor: mine.set_choices("alice", family, {Channel.EMAIL: Timing.DAILY}, False, actor=actor),
             lambda actor: mine.choose("alice", Channel.EMAIL, Timing.OFF, family, actor=actor),
             lambda actor: mine.reset("alice", Channel.EMAIL, family, actor=actor),
             lambda actor: mine.mute("alice", family, actor=actor),
             lambda actor: mine.unmute("alice", family, actor=actor),
             lambda actor: mine.devices("alice", actor=actor),
             lambda actor: mine.recent("alice", actor=actor),
             lambda actor: mine.rows("alice", actor=actor))
    for call in calls:
        with pytest.raises(Forbidden):
            call("bob")
    for call in calls:           # alice herself, then the admin for her
        call("alice")
        call(None)
    with pytest.raises(Forbidden):
        mine.revoke_device("alice", "any", actor="bob")
    with pytest.raises(NotFound):
        mine.contact("zoe", actor=None)
    with pytest.raises(InvalidName):
        mine.contact("../alice", actor=None)


def test_core_choices_for_what_the_person_reads_and_nothing_else(site: Site) -> None:
    mine = MyNotices(site, settings_for_tests())
    family, private, book = calendars(site)
    assert [(r.collection, r.shown_as, r.own) for r in mine.readings("bob", actor="bob")] == [
        (book, "Kontakte (alice)", False), (family, "家庭 (alice)", False)]
    assert [r.shown_as for r in mine.readings("alice", actor="alice")] == ["Fußball 🎉", "Kontakte", "家庭"]
    # a collection not shared with bob, or not there at all: the same answer, nothing stored
    for other in (private, "/alice/nothing-here/", "/zoe/x/"):
        with pytest.raises(NotFound) as refused:
            mine.set_choices("bob", other, {Channel.EMAIL: Timing.OFF}, True, actor="bob")
        assert "bob reads no calendar or address book" in str(refused.value)
        with pytest.raises(NotFound):
            mine.mute("bob", other, actor=None)
    assert mine.rows("bob", actor="bob") == []
    # one form's choices at once; all checked before anything is written
    with pytest.raises(Exception, match="push only tells a device to sync"):
        mine.set_choices("bob", family, {Channel.EMAIL: Timing.DAILY, Channel.PUSH: Timing.HOURLY}, True, actor="bob")
    assert mine.rows("bob", actor="bob") == []
    mine.set_choices("bob", family, {Channel.EMAIL: Timing.HOURLY, Channel.PUSH: Timing.OFF, Channel.WEBHOOK: None},
                     False, actor="bob")
    mine.set_choices("bob", "", {Channel.EMAIL: Timing.DAILY, Channel.PUSH: None, Channel.WEBHOOK: Timing.OFF},
                     True, actor="bob")
    everywhere = mine.everywhere("bob", actor="bob")
    assert everywhere.muted and everywhere.chosen == {Channel.EMAIL: Timing.DAILY, Channel.WEBHOOK: Timing.OFF}
    followed = {f.reading.collection: f for f in mine.followed("bob", actor="bob")}
    assert followed[family].chosen == {Channel.EMAIL: Timing.HOURLY, Channel.PUSH: Timing.OFF}
    assert followed[family].choices.muted, "muting everything mutes every collection"
    assert followed[book].choices.timing[Channel.EMAIL] is Timing.DAILY, "the choice for all"
    mine.set_choices("bob", "", {Channel.EMAIL: None}, False, actor="bob")
    followed = {f.reading.collection: f for f in mine.followed("bob", actor="bob")}
    assert not followed[family].choices.muted and followed[family].choices[Channel.EMAIL] is Timing.HOURLY
    assert followed[book].choices[Channel.EMAIL] is Timing.IMMEDIATELY, "back to the default"
    mine.set_choices("bob", family, {Channel.EMAIL: None, Channel.PUSH: None, Channel.WEBHOOK: None}, True,
                     actor="bob")
    assert mine.rows("bob", actor="bob") == [("", "webhook", "off"), (family, "notices", "off")]
    # one collection, as on its own page: the same answer as in the list; NotFound for any other
    one = mine.follow("bob", family.strip("/"), actor="bob")
    assert one == {f.reading.collection: f for f in mine.followed("bob", actor="bob")}[family]
    assert (one.reading.shown_as, one.muted, one.chosen) == ("家庭 (alice)", True, {})
    assert mine.follow("alice", private, actor="alice").reading.shown_as == "Fußball 🎉"
    for other in (private, "/alice/nothing-here/", "/zoe/x/", "/bob/nothing/"):
        with pytest.raises(NotFound):
            mine.follow("bob", other, actor="bob")
    with pytest.raises(InvalidName):
        mine.follow("bob", "alice", actor="bob")
    assert mine.preferences.choices_of("bob", [family, book]) == {
        c: mine.preferences.choices_for(["bob"], c)["bob"] for c in (family, book)}
    # addresses: the core's own checks
    with pytest.raises(InvalidAddress):
        mine.set_email("bob", "bob@", actor="bob")
    with pytest.raises(InvalidAddress):
        mine.set_timezone("bob", "Mars/Olympus", actor="bob")
    with pytest.raises(BadDestination):
        mine.set_webhook("bob", "http://10.0.0.1/hook", actor="bob")
    secret = mine.set_webhook("bob", "http://127.0.0.1:9/hook", actor="bob")
    assert secret and secret.startswith("whsec_")
    assert mine.contact("bob", actor="bob").webhook_url == "http://127.0.0.1:9/hook"


def test_core_devices_and_the_last_notices(site: Site) -> None:
    clock = FakeClock(1_780_000_000)
    mine = MyNotices(site, settings_for_tests(), clock=clock)
    family, _private, book = calendars(site)
    devices = PushSubscriptions(site.db, outbound=settings_for_tests().outbound(), max_days=7)
    registration = Registration(endpoint="http://127.0.0.1:9/push/bob-phone", public_key="k", auth_secret="a",
                                content_update=True, property_update=False, expires=None)
    bobs, _ = devices.register("bob", family, registration, clock.now)
    alices, _ = devices.register("alice", family, dataclasses.replace(
        registration, endpoint="http://127.0.0.1:9/push/alice"), clock.now)
    [device] = mine.devices("bob", actor="bob")
    assert (device.id, device.shown_as, device.service, device.content_update, device.property_update) == (
        bobs.id, "家庭 (alice)", "127.0.0.1", True, False)
    with pytest.raises(NotFound):
        mine.revoke_device("bob", alices.id, actor="bob")     # alice's device, by its id
    assert [d.id for d in mine.devices("alice", actor="alice")] == [alices.id]
    mine.revoke_device("bob", bobs.id, actor="bob")
    assert mine.devices("bob", actor="bob") == []
    clock.advance(8 * 86400)
    assert mine.devices("alice", actor="alice") == [], "expired devices are not listed"

    # the notification collection, in words: a pending invitation, an answer, a change, a card
    site.shares.add(book, Grantee(GranteeKind.USER, "carol"), Role.COLLABORATOR, actor="alice",
                    basis=ShareBasis.INVITATION)
    site.invitations.decline("carol", book)
    site.shares.add(family, Grantee(GranteeKind.USER, "carol"), Role.SUBSCRIBER, actor="alice",
                    basis=ShareBasis.INVITATION, summary="Für die Familie 🎉")
    later = Notice(user="carol", name="later", kind=NoticeKind.RESOURCE_CHANGE, created_at=time.time() + 5,
                   data={"notice": 0, "collection": family, "text": f"Alice added {EVIL} in 家庭 (alice)"})
    with site.db.write() as w:
        NoticeBox.add_named(w, NoticeBox.rows([later]))
    told = mine.recent("carol", actor="carol")
    assert [t.kind for t in told] == ["change", "invited"], "newest first"
    assert told[0].text == f"Alice added {EVIL} in 家庭 (alice)"
    assert (told[1].who, told[1].collection, told[1].role, told[1].summary) == (
        "alice", "家庭 (alice)", "subscriber", "Für die Familie 🎉")
    [answer] = mine.recent("alice", actor="alice")
    assert (answer.kind, answer.who, answer.answer, answer.collection) == ("answered", "carol", "declined", "Kontakte")
    for n in range(60):
        with site.db.write() as w:
            NoticeBox.add(w, "dave", NoticeKind.RESOURCE_CHANGE, {"text": f"change {n}"})
    assert [t.text for t in mine.recent("dave", actor="dave")] == [f"change {n}" for n in range(59, 9, -1)]
    with pytest.raises(Forbidden):
        mine.recent("carol", actor="bob")


def test_core_reminders_mute_own_and_the_owners_default_only(site: Site) -> None:
    mine = MyNotices(site, settings_for_tests())
    reminders = MyReminders(ReminderChoices(site.db), mine)
    family, private, book = calendars(site)
    overview = reminders.overview("bob", actor="bob")
    assert [c.reading.collection for c in overview.calendars] == [family], "calendars only"
    reminders.mute("bob", family, actor="bob")
    reminders.own("bob", True, actor="bob")
    reminders.mute("bob", "", actor="bob")
    overview = reminders.overview("bob", actor="bob")
    assert overview.muted_everywhere and overview.own and overview.calendars[0].muted
    assert reminders.unmute("bob", family, actor="bob")
    assert not reminders.overview("bob", actor="bob").calendars[0].muted
    for refused in (lambda: reminders.mute("bob", private, actor="bob"),        # not shared with him
                    lambda: reminders.mute("bob", book, actor="bob"),           # an address book
                    lambda: reminders.set_default(private, 3600, actor="bob")):  # he cannot read it
        with pytest.raises(NotFound):
            refused()
    with pytest.raises(Forbidden, match="only alice"):
        reminders.set_default(family, 3600, actor="bob")                        # he reads it, but is not its owner
    with pytest.raises(Forbidden):
        reminders.mute("alice", family, actor="bob")
    assert ReminderChoices(site.db).default_for(family) is None
    reminders.set_default(family, 3600, actor="alice")
    assert reminders.overview("bob", actor="bob").calendars[0].default_before == 3600
    # one calendar, as on its own page; the overview from readings the caller already has
    assert reminders.calendar("bob", family, actor="bob") == reminders.overview("bob", actor="bob").calendars[0]
    for other in (private, book):
        with pytest.raises(NotFound):
            reminders.calendar("bob", other, actor="bob")
    with pytest.raises(Forbidden):
        reminders.calendar("alice", family, actor="bob")
    with pytest.raises(Forbidden):
        reminders.overview("alice", actor="bob", readings=mine.readings("bob", actor="bob"))
    assert reminders.overview("bob", actor="bob", readings=mine.readings("bob", actor="bob")) == \
        reminders.overview("bob", actor="bob")
    reminders.set_default(family, None, actor=None)
    assert reminders.overview("alice", actor="alice").calendars[-1].default_before is None


# -- over HTTP -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def mailbox(smtp_port: int) -> Iterator[Mailbox]:
    box = Mailbox()
    with smtp_server(box, smtp_port):
        yield box


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, smtp_port: int) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("notices-page"), smtp_server="127.0.0.1",
                           smtp_port=str(smtp_port), from_email="calendar@example.org").start()
    yield server
    server.stop()


MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop><D:displayname>{}</D:displayname></D:prop></D:set>
</C:mkcalendar>"""


def calendar(srv: Server, owner: str, name: str, *sharees: str, shown_as: str | None = None) -> str:
    path = f"/{owner}/{quote(name)}/"
    body = MKCALENDAR.format(html.escape(shown_as)) if shown_as else None
    assert srv.request("MKCALENDAR", path, owner, body).status_code == 201
    for user in sharees:
        srv.ok("share", "add", f"{owner}/{name}", "--user", user, "--role", "collaborator")
    return f"/{owner}/{name}/"


def show(srv: Server, user: str) -> dict:
    return json.loads(srv.ok("--json", "notices", "show", "--user", user))[0]


def register_device(srv: Server, path: str, user: str, endpoint: str) -> None:
    r = srv.request("POST", quote(path), user, UserAgent().register_body(endpoint), headers=XML)
    assert r.status_code == 201, r.text


def test_every_page_and_action_for_the_person_another_user_and_anonymous(srv: Server) -> None:
    family = calendar(srv, "alice", "Familie Müller", "bob")
    private = calendar(srv, "alice", "Tagebuch")
    register_device(srv, "/alice/Tagebuch/", "alice", "http://127.0.0.1:9/push/alice-phone")
    [alices_device] = show(srv, "alice")["push_devices"]
    srv.ok("notices", "email", "alice@example.org", acting_as="alice")
    bob, anonymous = Browser(srv).logged_in("bob"), Browser(srv)
    page = bob.get("/notices")
    assert page.status_code == 200 and "Familie Müller (alice)" in page.text
    assert "Tagebuch" not in page.text and alices_device["id"] not in page.text and "alice@example.org" not in page.text
    one = "/notices/collection?collection=" + quote(family)
    page = bob.get(one)
    assert page.status_code == 200 and "What I hear about “Familie Müller (alice)”" in page.text
    assert f'name="collection" value="{family}"' in page.text and 'name="default_reminder"' not in page.text
    for path in ("/notices", one):
        r = anonymous.get(path)
        assert r.status_code == 303 and "/login?next=" in r.headers["Location"], path
    # bob asking for the page of a collection he does not read: the same 404 whether or not it is there
    for collection in (private, "/alice/nothing/", "/zoe/x/", "/bob/nothing/"):
        r = bob.get("/notices/collection?collection=" + quote(collection))
        assert r.status_code == 404 and "bob reads no calendar or address book" in html.unescape(r.text)
    for bad in ("", "alice", "../alice/x"):
        r = bob.get("/notices/collection?collection=" + quote(bad))
        assert r.status_code == 400 and "OWNER/COLLECTION" in r.text, bad
    anonymous.get("/login")
    before = {user: show(srv, user) for user in ("alice", "bob")}
    actions = {"/notices/email": {"email": "bob@example.org"}, "/notices/timezone": {"timezone": "Asia/Shanghai"},
               "/notices/webhook": {"url": "http://127.0.0.1:9/hook"}, "/notices/webhook/remove": {},
               "/notices/devices/revoke": {"device": alices_device["id"]},
               "/notices/choose": {"collection": family, "email": "off", "muted": "on"}}
    for path, data in actions.items():
        assert anonymous.post(path, data).status_code == 403, path
    assert {user: show(srv, user) for user in ("alice", "bob")} == before
    # bob editing ids: alice's device, alice's calendar he does not read, a collection of nobody's
    r = bob.post("/notices/devices/revoke", {"device": alices_device["id"]})
    assert r.status_code == 404 and "no such push subscription" in r.text
    for collection in (private, "/alice/nothing/", "/zoe/x/"):
        r = bob.post("/notices/choose", {"collection": collection, "email": "off", "muted": "on"})
        assert r.status_code == 404 and "bob reads no calendar or address book" in html.unescape(r.text)
    r = bob.post("/notices/choose", {"collection": family, "default_reminder": "1h"})   # only alice's to set
    assert r.status_code == 403 and "only alice" in r.text
    assert {user: show(srv, user) for user in ("alice", "bob")} == before, "nothing changed"
    # no form names another person: whatever a form says, bob's choices are bob's
    r = bob.post("/notices/choose", {"collection": family, "email": "daily", "user": "alice"})
    assert r.status_code == 303
    assert show(srv, "bob")["choices"] == [{"collection": family, "channel": "email", "timing": "daily"}]
    assert show(srv, "alice") == before["alice"] and len(show(srv, "alice")["push_devices"]) == 1
    # the person may
    r = bob.post("/notices/choose", {"collection": family, "email": "", "push": "off", "webhook": "hourly",
                                     "reminders_muted": "on"})
    assert r.status_code == 303 and "Familie+M%C3%BCller" in r.headers["Location"]
    assert show(srv, "bob")["choices"] == [{"collection": family, "channel": "push", "timing": "off"},
                                           {"collection": family, "channel": "webhook", "timing": "hourly"}]
    overview = bob.get("/notices?done=chosen&name=" + quote("Familie Müller (alice)")).text
    assert "Saved what you hear about “Familie Müller (alice)”." in overview
    assert "E-mail: at once · Push to my devices: off · Webhook: hourly digest · no reminders" in overview
    assert f'href="/.my{one}"' in overview.replace("&amp;", "&")
    page = bob.get(one).text
    assert '<option value="hourly" selected>' in page and 'id="reminders-muted" name="reminders_muted" value="on" ' \
        'checked' in page
    # a refused form on a collection's page: that page again with the core's sentence, nothing changed
    chosen = show(srv, "bob")["choices"]
    for data, said in (({"email": "weekly"}, "is not a timing"), ({"push": "hourly"}, "push only tells a device")):
        r = bob.post("/notices/choose", {"collection": family, "muted": "on", **data})
        assert r.status_code == 400 and said in html.unescape(r.text), data
        assert "What I hear about “Familie Müller (alice)”" in r.text and 'role="alert"' in r.text
    assert show(srv, "bob")["choices"] == chosen
    alice = Browser(srv).logged_in("alice")
    assert alice.post("/notices/choose", {"collection": family, "default_reminder": "2h"}).status_code == 303
    assert 'value="2h" selected' in alice.get(one).text
    assert "default reminder 2h before" in alice.get("/notices").text
    assert "Its owner set a reminder 2h before every event." in bob.get(one).text
    assert alice.post("/notices/devices/revoke", {"device": alices_device["id"]}).status_code == 303
    assert show(srv, "alice")["push_devices"] == []


def test_every_form_is_refused_without_its_token_and_changes_nothing(srv: Server) -> None:
    family = calendar(srv, "alice", "CSRF 家庭", "carol")
    register_device(srv, "/carol/CSRF 家庭~alice/", "carol", "http://127.0.0.1:9/push/carol")
    [device] = show(srv, "carol")["push_devices"]
    carol = Browser(srv).logged_in("carol")
    page = carol.get("/notices").text
    forms = set(re.findall(r'action="/\.my(/notices[^"]*)"', page))
    assert forms == {"/notices/email", "/notices/timezone", "/notices/webhook", "/notices/choose",
                     "/notices/devices/revoke"}
    one = carol.get("/notices/collection?collection=" + quote(family)).text
    assert set(re.findall(r'action="/\.my(/notices[^"]*)"', one)) == {"/notices/choose"}
    before = show(srv, "carol")
    for path, data in {"/notices/email": {"email": "carol@example.org"},
                       "/notices/timezone": {"timezone": "Europe/Berlin"},
                       "/notices/webhook": {"url": "http://127.0.0.1:9/hook"}, "/notices/webhook/remove": {},
                       "/notices/devices/revoke": {"device": device["id"]},
                       "/notices/choose": {"collection": family, "muted": "on"}}.items():
        for token in ("", "x" * 43):
            r = carol.post(path, data, token=token)
            assert r.status_code == 403 and "nothing was changed" in r.text, (path, token)
    assert show(srv, "carol") == before


def test_addresses_checked_by_the_core_and_the_webhook_secret_shown_once(srv: Server) -> None:
    dave = Browser(srv).logged_in("dave")
    r = dave.post("/notices/email", {"email": f"{EVIL}@example.org"})
    assert r.status_code == 400 and "is not a valid e-mail address" in html.unescape(r.text)
    assert EVIL not in r.text and "&lt;script&gt;" in r.text
    r = dave.post("/notices/timezone", {"timezone": "Mars/Olympus"})
    assert r.status_code == 400 and "is not a time zone" in html.unescape(r.text)
    assert 'value="Mars/Olympus"' in r.text, "what was typed stays in the field"
    r = dave.post("/notices/webhook", {"url": "http://10.0.0.1/hook"})
    assert r.status_code == 400 and "10.0.0.1" in r.text
    assert show(srv, "dave")["webhook"] is None and show(srv, "dave")["email"] is None
    assert dave.post("/notices/email", {"email": "dave@example.org"}).status_code == 303
    assert dave.post("/notices/timezone", {"timezone": "Asia/Shanghai"}).status_code == 303
    with Receiver() as receiver:
        r = dave.post("/notices/webhook", {"url": receiver.url + "/hook"})
    assert r.status_code == 200, "the secret is in this answer, never in an address"
    [secret] = re.findall(r'<code id="webhook-secret">(whsec_[A-Za-z0-9+/=]+)</code>', r.text)
    assert r.headers["Cache-Control"] == "no-store"
    page = dave.get("/notices").text
    assert secret not in page and receiver.url + "/hook" in page, "shown once"
    contact = show(srv, "dave")
    assert (contact["email"], contact["timezone"], contact["webhook"]) == (
        "dave@example.org", "Asia/Shanghai", receiver.url + "/hook")
    assert "Times are shown in the time zone Asia/Shanghai." in page
    assert dave.post("/notices/webhook/remove", {}).status_code == 303
    assert show(srv, "dave")["webhook"] is None
    assert dave.post("/notices/email", {"email": ""}).status_code == 303 and show(srv, "dave")["email"] is None


def test_push_devices_listed_with_what_they_follow_and_revocable(srv: Server) -> None:
    calendar(srv, "alice", "Fußball 🎉", "erin")
    register_device(srv, "/erin/Fußball 🎉~alice/", "erin", "http://127.0.0.1:9/push/erin-phone")
    erin = Browser(srv).logged_in("erin")
    page = erin.get("/notices").text
    assert "Fußball 🎉 (alice)" in page and "told when its items change" in page and "through 127.0.0.1" in page
    assert "erin-phone" not in page, "the push resource is a capability: not shown"
    [device] = show(srv, "erin")["push_devices"]
    r = erin.post("/notices/devices/revoke", {"device": device["id"]})
    assert r.status_code == 303
    assert "That device gets no more pushes about “Fußball 🎉 (alice)”." in erin.session.get(
        srv.url + r.headers["Location"], timeout=30).text
    assert show(srv, "erin")["push_devices"] == []
    assert erin.post("/notices/devices/revoke", {"device": device["id"]}).status_code == 404


def test_the_last_notices_in_words_in_the_persons_zone_and_language(srv: Server) -> None:
    family = calendar(srv, "alice", "evil", "frank", shown_as=EVIL)
    calendar(srv, "alice", "家庭")
    srv.ok("share", "add", "alice/家庭", "--user", "frank", "--role", "subscriber", "--invite")
    srv.ok("notices", "timezone", "Asia/Shanghai", acting_as="frank")
    put_event(srv, "alice", f"{quote(family)}party.ics", "party", "Fußball 🎉 party", start="20260105T180000")
    worker_of(srv).run_until_idle()
    [sentence] = change_texts(srv, "frank")
    frank = Browser(srv).logged_in("frank")
    page = frank.get("/notices").text
    recent = page[page.index('id="recent"'):]
    assert html.escape(sentence, quote=False) in recent and EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (alice)" in page
    one = frank.get("/notices/collection?collection=" + quote(family)).text
    assert EVIL not in one and "What I hear about “&lt;script&gt;alert(1)&lt;/script&gt; (alice)”" in one
    assert "Tue 6 Jan 01:00" in sentence, "the event's time in frank's zone"
    assert "alice invited you to “家庭 (alice)” as subscriber (reads)." in recent
    chinese = Browser(srv, language="zh-CN").logged_in("frank").get("/notices").text
    assert "通知和提醒" in chinese and "年" in chinese[chinese.index('id="recent"'):]
    assert "邀请你" in chinese
    zh = Browser(srv, language="zh-CN").logged_in("frank").get("/notices/collection?collection=" + quote(family)).text
    assert "我收到哪些关于“&lt;script&gt;alert(1)&lt;/script&gt; (alice)”的通知" in zh and "提醒" in zh


# -- in the browser: what bob chooses on the page is what reaches his mailbox --------------------------

def bobs_mail(mailbox: Mailbox, subject_part: str) -> list:
    return [m for m in mailbox.messages if m["To"] == "bob@example.org" and subject_part in m["Subject"]]


def save_card(driver, srv: Server, collection_name: str, shot: str = "", **fields: str) -> None:
    """On the notices page, follow the link of ``collection_name`` to its own page, set fields there and
    save them (back on the notices page)."""
    go(driver, srv, "/notices")
    link = next(a for a in driver.find_elements(By.CSS_SELECTOR, "ul.followed a")
                if a.find_element(By.CSS_SELECTOR, ".name").text == collection_name)
    submit(driver, link)
    assert driver.find_element(By.TAG_NAME, "h1").text == f"What I hear about “{collection_name}”"
    card = driver.find_element(By.CSS_SELECTOR, "main form.stacked")
    for name, value in fields.items():
        field = card.find_element(By.NAME, name)
        if field.get_attribute("type") == "checkbox":
            if field.is_selected() != (value == "on"):
                field.click()
        else:
            Select(field).select_by_value(value)
    if shot:
        screenshot(driver, shot)
    submit(driver, card.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def test_choices_on_the_page_change_what_bob_receives(browser, srv: Server, mailbox: Mailbox) -> None:
    family = calendar(srv, "alice", "Familienkalender 家庭", "bob")
    clock = FakeClock()
    worker = worker_of(srv, clock)
    browser.delete_all_cookies()
    log_in(browser, srv, "bob")
    go(browser, srv, "/notices")
    email = browser.find_element(By.ID, "email")
    email.clear()
    email.send_keys("bob@example.org")
    submit(browser, email.find_element(By.XPATH, "./ancestor::form//button"))
    assert "Saved your e-mail address." in browser.find_element(By.CSS_SELECTOR, ".done").text
    save_card(browser, srv, "Familienkalender 家庭 (alice)", "notices-collection", email="immediately")
    assert "Saved what you hear about “Familienkalender 家庭 (alice)”." in browser.find_element(
        By.CSS_SELECTOR, ".done").text
    screenshot(browser, "notices")

    put_event(srv, "alice", f"{quote(family)}one.ics", "one", "Erstes Treffen")
    clock.now = time.time()
    worker.run_until_idle()
    [first] = bobs_mail(mailbox, "Erstes Treffen")
    footer = first.get_body(("plain",)).get_content()
    assert '"Notices and reminders": /.my/notices' in " ".join(footer.split()), "the e-mail says where to choose"
    assert "radicale-ext" not in footer, "a person is not sent to the admin's shell"

    save_card(browser, srv, "Familienkalender 家庭 (alice)", muted="on")
    items = len(change_texts(srv, "bob"))
    put_event(srv, "alice", f"{quote(family)}two.ics", "two", "Zweites Treffen")
    clock.now = time.time()
    worker.run_until_idle()
    assert bobs_mail(mailbox, "Zweites Treffen") == [], "muted: no e-mail"
    assert len(change_texts(srv, "bob")) == items, "muted: not even the notification collection"

    save_card(browser, srv, "Familienkalender 家庭 (alice)", muted="off", email="hourly")
    put_event(srv, "alice", f"{quote(family)}three.ics", "three", "Drittes Treffen")
    clock.now = time.time()
    worker.run_until_idle()
    assert bobs_mail(mailbox, "Drittes Treffen") == [] and not any(
        "Drittes Treffen" in m.get_body(("plain",)).get_content() for m in mailbox.messages), "not yet"
    site = Site(Settings.from_ini(str(srv.config)))
    [queued] = [d for d in DeliveryQueue(site.db).in_state(State.QUEUED, recipient="bob") if d.channel == "email"]
    assert queued.digest == "hourly"
    assert queued.due_at == next_digest(Timing.HOURLY, clock.now, None, (7, 0)) == (int(clock.now) // 3600 + 1) * 3600
    clock.now = queued.due_at - 1
    worker.run_until_idle()
    assert not any("Drittes Treffen" in m.get_body(("plain",)).get_content() for m in mailbox.messages)
    clock.now = queued.due_at
    worker.run_until_idle()
    digests = [m for m in mailbox.messages if m["To"] == "bob@example.org"
               and "Drittes Treffen" in m.get_body(("plain",)).get_content()]
    assert len(digests) == 1, "the hourly digest, at the next full hour of the worker's clock"
    site.db.close()
    go(browser, srv, "/notices")
    recent = browser.find_element(By.CSS_SELECTOR, "ol.notices").text
    assert "Alice added Drittes Treffen" in recent and "Alice added Zweites Treffen" not in recent
    browser.execute_script("document.getElementById('hear').scrollIntoView()")
    screenshot(browser, "notices-choices")
    browser.execute_script("document.getElementById('recent').scrollIntoView()")
    screenshot(browser, "notices-recent")


def test_the_page_at_a_phones_width_in_chinese(browser, srv: Server) -> None:
    handy = calendar(srv, "alice", "Handy 📱", "grace")
    register_device(srv, "/grace/Handy 📱~alice/", "grace", "http://127.0.0.1:9/push/" + "long-" * 40)
    srv.ok("notices", "webhook", "http://127.0.0.1:9/" + "a-very-long-webhook-path/" * 8, acting_as="grace")
    browser.delete_all_cookies()
    browser.set_window_size(390, 844)
    try:
        log_in(browser, srv, "grace")
        pick_language(browser, "zh_Hans")
        [shown] = json.loads(srv.ok("--json", "notices", "show", "--user", "grace"))
        assert shown["language"] == "zh_Hans", "the page's switch sets the language of her notices"
        go(browser, srv, "/notices")
        assert browser.find_element(By.TAG_NAME, "h1").text == "通知和提醒"
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        screenshot(browser, "notices-phone-zh-Hans")
        go(browser, srv, "/notices/collection?collection=" + quote(handy))
        assert browser.find_element(By.TAG_NAME, "h1").text == "我收到哪些关于“Handy 📱 (alice)”的通知"
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"a collection's page is {width}px wide on a 390px screen"
    finally:
        browser.set_window_size(1280, 1000)
