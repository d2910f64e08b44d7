"""WebDAV-Push: a local HTTP endpoint plays the push service; the test decrypts what it got with the
subscription's private key (RFC 8291) and checks the VAPID JWT (RFC 8292)."""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from radicale_ext.notices.service import Notices
from radicale_ext.notices.worker import Worker
from radicale_ext.plugins._site import site_for
from radicale_ext.plugins.hook import notice_settings
from radicale_ext.plugins.worker import reminders_for

from ..notice_kit import (
    ICS,
    NS,
    Receiver,
    UserAgent,
    change_texts,
    check_vapid,
    configuration,
    event,
    notice_server,
    put_event,
    shared,
    unb64url,
    worker_of,
)
from ..server import Server

PROPFIND_PUSH = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:P="https://bitfire.at/webdav-push">
  <D:prop><D:displayname/><P:transports/><P:topic/><P:supported-triggers/></D:prop>
</D:propfind>"""
XML = {"Content-Type": "application/xml; charset=utf-8"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("push")).start()
    yield server
    server.stop()



def push_properties(srv: Server, path: str, user: str) -> ET.Element:
    r = srv.request("PROPFIND", path, user, PROPFIND_PUSH, headers={"Depth": "0"})
    assert r.status_code == 207, r.text
    return ET.fromstring(r.content).find("D:response/D:propstat/D:prop", NS)


def register(srv: Server, path: str, user: str, agent: UserAgent, endpoint: str, **kwargs: str):
    return srv.request("POST", path, user, agent.register_body(endpoint, **kwargs), headers=XML)


def test_calendars_advertise_webdav_push(srv: Server) -> None:
    path = shared(srv, "adv", "bob")
    assert "webdav-push" in srv.request("OPTIONS", path, "alice").headers["DAV"]
    mine = push_properties(srv, path, "alice")
    key = mine.find("P:transports/P:web-push/P:vapid-public-key", NS)
    assert key is not None and key.get("type") == "p256ecdsa"
    raw = unb64url(key.text)
    assert len(raw) == 65 and raw[0] == 4
    assert mine.find("P:supported-triggers/P:content-update/D:depth", NS).text == "1"
    topic = mine.findtext("P:topic", namespaces=NS)
    assert topic and len(topic) <= 32
    theirs = push_properties(srv, "/bob/adv~alice/", "bob")
    assert theirs.findtext("P:topic", namespaces=NS) == topic, "one topic per collection, whatever the URL"
    other = shared(srv, "adv2")
    assert push_properties(srv, other, "alice").findtext("P:topic", namespaces=NS) != topic
    assert srv.ok("notices", "vapid-key").split()[0] == key.text


def test_a_change_is_pushed_encrypted_with_vapid_to_every_other_device(srv: Server) -> None:
    path = shared(srv, "pushed", "bob")
    topic = push_properties(srv, path, "alice").findtext("P:topic", namespaces=NS)
    vapid_key = push_properties(srv, path, "alice").findtext("P:transports/P:web-push/P:vapid-public-key",
                                                             namespaces=NS)
    bob_device, alice_device = UserAgent(), UserAgent()
    with Receiver() as service:
        r = register(srv, "/bob/pushed~alice/", "bob", bob_device, f"{service.url}/bob-device",
                     key_element="client-public-key")
        assert r.status_code == 201, r.text
        location = r.headers["Location"]
        assert location.startswith(f"{srv.url}/bob/.push-subscriptions/")
        expires = email.utils.parsedate_to_datetime(r.headers["Expires"]).timestamp()
        assert time.time() + 3 * 86400 <= expires <= time.time() + 7 * 86400 + 5
        again = register(srv, "/bob/pushed~alice/", "bob", bob_device, f"{service.url}/bob-device")
        assert (again.status_code, again.headers["Location"]) == (204, location), "renewed, not added"
        mine = register(srv, path, "alice", alice_device, f"{service.url}/alice-device")
        assert mine.status_code == 201

        # alice's phone makes the change, and says so (Push-Dont-Notify): her other devices would hear
        r = srv.request("PUT", f"{path}p.ics", "alice", event("p", "Pushed event"),
                        headers={**ICS, "Push-Dont-Notify": f'"{mine.headers["Location"]}"'})
        assert r.status_code == 201, r.text
        assert worker_of(srv).run_until_idle().delivered == 1
        [got] = service.requests
    assert got.path == "/bob-device", "the device that made the change gets nothing"
    assert got.headers["content-encoding"] == "aes128gcm"
    assert int(got.headers["ttl"]) > 0 and got.headers["urgency"] == "normal"
    assert got.headers["topic"] == topic
    check_vapid(got.headers["authorization"], service.url, vapid_key, time.time())
    message = ET.fromstring(bob_device.decrypt(got.body))
    assert message.tag == "{https://bitfire.at/webdav-push}push-message"
    assert message.findtext("P:topic", namespaces=NS) == topic
    assert message.find("P:content-update", NS) is not None
    with pytest.raises(Exception):  # noqa: B017 - any key but the subscription's fails to decrypt
        UserAgent().decrypt(got.body)


def test_410_from_the_push_service_removes_the_subscription(srv: Server) -> None:
    path = shared(srv, "gone", "bob")
    with Receiver(answer=lambda _r: 410) as service:
        r = register(srv, "/bob/gone~alice/", "bob", UserAgent(), f"{service.url}/expired")
        assert r.status_code == 201
        put_event(srv, "alice", f"{path}g.ics", "g", "Gone one")
        progress = worker_of(srv).run_until_idle()
        assert (progress.dropped, progress.failed) == (1, 0)
        assert len(service.requests) == 1
        devices = json.loads(srv.ok("--json", "notices", "show", acting_as="bob"))[0]["push_devices"]
        assert [d for d in devices if d["endpoint"].endswith("/expired")] == []
        assert srv.request("DELETE", r.headers["Location"].removeprefix(srv.url), "bob").status_code == 404
        put_event(srv, "alice", f"{path}h.ics", "h", "Gone two")
        worker_of(srv).run_until_idle()
        assert len(service.requests) == 1, "no push to a removed subscription"
    assert [r for r in json.loads(srv.ok("--json", "notices", "dead")) if r["channel"] == "push"] == []


def test_unsubscribing_and_expiry_stop_pushes(srv: Server) -> None:
    path = shared(srv, "unsub", "bob", "carol")
    expired_soon = email.utils.formatdate(time.time() + 2, usegmt=True)
    with Receiver() as service:
        r = register(srv, "/bob/unsub~alice/", "bob", UserAgent(), f"{service.url}/bob")
        assert register(srv, "/carol/unsub~alice/", "carol", UserAgent(), f"{service.url}/carol",
                        expires=expired_soon).status_code == 201
        registration = r.headers["Location"].removeprefix(srv.url)
        assert srv.request("DELETE", registration, "carol").status_code == 403, "only its owner"
        assert srv.request("DELETE", registration, "bob").status_code == 204
        assert srv.request("DELETE", registration, "bob").status_code == 404
        put_event(srv, "alice", f"{path}u.ics", "u", "Unheard")
        worker_of(srv, lambda: time.time() + 5).run_until_idle()
        assert service.requests == [], "bob unsubscribed; carol's subscription expired"
    assert "Alice added Unheard on Mon 5 Jan 18:00 in unsub (alice)" in change_texts(srv, "carol")


@pytest.mark.parametrize(("body", "status", "precondition"), [
    ("<P:push-register xmlns:P='https://bitfire.at/webdav-push'><P:subscription/></P:push-register>", 403,
     "invalid-subscription"),
    ("""<P:push-register xmlns:P="https://bitfire.at/webdav-push"><P:subscription><P:web-push-subscription>
        <P:push-resource>https://push.example/x</P:push-resource></P:web-push-subscription></P:subscription>
        <P:trigger><P:content-update/></P:trigger></P:push-register>""", 403, "invalid-subscription"),
    ("""<P:push-register xmlns:P="https://bitfire.at/webdav-push"><P:subscription><P:web-push-subscription>
        <P:push-resource>https://push.example/x</P:push-resource>
        <P:subscription-public-key type="p256dh">AAAA</P:subscription-public-key><P:auth-secret>AAAA</P:auth-secret>
        </P:web-push-subscription></P:subscription><P:trigger><P:content-update/></P:trigger></P:push-register>""",
     403, "invalid-subscription"),
    ("<P:push-register xmlns:P='https://bitfire.at/webdav-push'><oops></P:push-register>", 400, None),
])
def test_bad_registrations_are_refused_with_the_drafts_preconditions(srv: Server, body: str, status: int,
                                                                     precondition: str | None) -> None:
    path = shared(srv, f"bad{abs(hash(body)) % 10**6}")
    r = srv.request("POST", path, "alice", body, headers=XML)
    assert r.status_code == status, r.text
    if precondition:
        assert ET.fromstring(r.content).find(f"P:{precondition}", NS) is not None


def test_registration_needs_a_trigger_access_and_a_login(srv: Server) -> None:
    path = shared(srv, "refusals")
    agent = UserAgent()
    no_trigger = agent.register_body("https://push.example/x").replace(
        "<P:content-update><D:sync-level>1</D:sync-level></P:content-update>", "")
    r = srv.request("POST", path, "alice", no_trigger, headers=XML)
    assert r.status_code == 403 and ET.fromstring(r.content).find("P:no-supported-trigger", NS) is not None
    r = register(srv, path, "dave", agent, "https://push.example/x")
    assert r.status_code == 403 and ET.fromstring(r.content).find("P:push-not-available", NS) is not None
    assert register(srv, path, None, agent, "https://push.example/x").status_code == 401


def test_https_is_required_where_configured(srv: Server, tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    strict = notice_server(tmp_path / "strict", notices_https_only="true").start()
    try:
        assert strict.request("MKCALENDAR", "/alice/s/", "alice").status_code == 201
        r = register(strict, "/alice/s/", "alice", UserAgent(), "http://127.0.0.1:9/plain")
        assert r.status_code == 403 and "is not https" in r.text
        assert ET.fromstring(r.content).find("P:invalid-subscription", NS) is not None
    finally:
        strict.stop()

    # a subscription made while http was allowed, delivered by a worker that requires https:
    # dead-lettered with a clear error, and the others still get their notices
    path = shared(srv, "nothttps", "bob", "carol")
    with Receiver() as service:
        assert register(srv, "/bob/nothttps~alice/", "bob", UserAgent(), f"{service.url}/plain").status_code == 201
        put_event(srv, "alice", f"{path}n.ics", "n", "Plain push")
        conf = configuration(srv)
        settings = dataclasses.replace(notice_settings(conf), https_only=True)
        with caplog.at_level(logging.WARNING, logger="radicale_ext.notices"):
            notices = Notices(site_for(conf), settings)
            progress = Worker(notices, name="test-worker", reminders=reminders_for(notices)).run_until_idle()
        assert (progress.failed, progress.delivered) == (1, 0)
        assert service.requests == []
    [row] = [r for r in json.loads(srv.ok("--json", "notices", "dead")) if r["channel"] == "push"]
    assert row["recipient"] == "bob" and row["attempts"] == 1 and "is not https" in row["error"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        f"notices: delivery #{row['id']} (push to bob) is dead after 1 attempt(s): {row['error']} "
        f"(list: 'radicale-ext notices dead'; retry: 'radicale-ext notices retry {row['id']}')"]
    for user in ("bob", "carol"):
        assert "Alice added Plain push on Mon 5 Jan 18:00 in nothttps (alice)" in change_texts(srv, user)
