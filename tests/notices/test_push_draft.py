"""WebDAV-Push as DAVx5 speaks it now (bitfireAT/webdav-push draft, 2025-2026): registrations as DAVx5 4.5.x and
the draft write them, the sync-token in each push, Push-Dont-Notify, and one VAPID key for every process, rotated
with the draft's key-rotation message.

A local HTTP endpoint plays the push service; the test decrypts what it got with the device's keys (RFC 8291)
and checks the VAPID JWT (RFC 8292)."""

from __future__ import annotations

import email.utils
import json
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..dav_kit import parse_sync, sync
from ..notice_kit import (
    NS,
    Received,
    Receiver,
    UserAgent,
    b64url,
    change_texts,
    check_vapid,
    davx5_body,
    in_days,
    notice_server,
    put_event,
    shared,
    worker_of,
)
from ..server import Server

XML = {"Content-Type": "application/xml; charset=utf-8"}
PROPFIND_PUSH = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:P="https://bitfire.at/webdav-push">
  <D:prop><P:transports/><P:topic/><P:supported-triggers/></D:prop>
</D:propfind>"""


def draft_body(endpoint: str, agent: UserAgent) -> str:
    """The draft's own sample (xml/sample-push-register.xml), with this device's push resource and keys: a default
    namespace, content updates at depth infinity, property updates at depth 0 for two properties."""
    return f"""<push-register xmlns="https://bitfire.at/webdav-push" xmlns:D="DAV:">
  <subscription>
    <web-push-subscription>
      <push-resource>{endpoint}</push-resource>
      <content-encoding>aes128gcm</content-encoding>
      <subscription-public-key type="p256dh">{b64url(agent.public)}</subscription-public-key>
      <auth-secret>{b64url(agent.auth)}</auth-secret>
    </web-push-subscription>
  </subscription>
  <trigger>
    <content-update>
      <D:depth>infinity</D:depth>
    </content-update>
    <property-update>
      <D:depth>0</D:depth>
      <D:prop>
        <D:displayname/>
        <D:owner/>
      </D:prop>
    </property-update>
  </trigger>
  <expires>Wed, 20 Dec 2023 10:03:31 GMT</expires>
</push-register>"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("push-draft")).start()
    yield server
    server.stop()


def davx5_register(srv: Server, path: str, user: str, agent: UserAgent, endpoint: str) -> str:
    r = srv.request("POST", path, user, davx5_body(endpoint, agent, in_days(3)), headers=XML)
    assert r.status_code == 201, r.text
    return r.headers["Location"]


def message_of(agent: UserAgent, got: Received) -> ET.Element:
    message = ET.fromstring(agent.decrypt(got.body))
    assert message.tag == "{https://bitfire.at/webdav-push}push-message"
    return message


def properties(srv: Server, path: str, user: str) -> ET.Element:
    r = srv.request("PROPFIND", path, user, PROPFIND_PUSH, headers={"Depth": "0"})
    assert r.status_code == 207, r.text
    return ET.fromstring(r.content).find("D:response/D:propstat/D:prop", NS)


def vapid_key_of(srv: Server, path: str, user: str = "alice") -> str:
    return properties(srv, path, user).findtext("P:transports/P:web-push/P:vapid-public-key", namespaces=NS)


def key_in(got: Received) -> str:
    return dict(p.strip().split("=", 1) for p in got.headers["authorization"].partition(" ")[2].split(","))["k"]


# -- registration -------------------------------------------------------------------------------------


def test_supported_triggers_name_their_depth_in_dav_depth(srv: Server) -> None:
    triggers = properties(srv, shared(srv, "depths"), "alice").find("P:supported-triggers", NS)
    assert triggers.findtext("P:content-update/D:depth", namespaces=NS) == "1"
    assert triggers.findtext("P:property-update/D:depth", namespaces=NS) == "0"
    assert triggers.findtext("P:content-update/D:sync-level", namespaces=NS) == "1", "what dav4jvm 4 reads"


def test_a_davx5_registration_without_trigger_or_encoding_gets_content_updates(srv: Server) -> None:
    path = shared(srv, "davx5 日历", "bob")
    mount = "/bob/davx5 日历~alice/"
    phone = UserAgent()
    with Receiver() as service:
        r = srv.request("POST", mount, "bob", davx5_body(f"{service.url}/up/bob-phone", phone, in_days(3)),
                        headers=XML)
        assert r.status_code == 201, r.text
        location = r.headers["Location"]
        assert location.startswith(f"{srv.url}/bob/.push-subscriptions/"), "an absolute registration URL"
        expires = email.utils.parsedate_to_datetime(r.headers["Expires"]).timestamp()
        assert abs(expires - (time.time() + 3 * 86400)) < 60, "the 3 days DAVx5 asked for"
        put_event(srv, "alice", f"{path}a.ics", "a", "Elternabend")
        assert worker_of(srv).run_until_idle().delivered == 1
        [got] = service.requests
    message = message_of(phone, got)
    assert message.find("P:content-update", NS) is not None, "no trigger: content updates"
    assert message.find("P:property-update", NS) is None
    # and DAVx5 can unsubscribe with the URL it was given, verbatim
    assert srv.session.delete(location, auth=("bob", "pw-bob"), timeout=30).status_code == 204


def test_a_registration_shaped_as_the_draft_gets_content_and_property_updates(srv: Server) -> None:
    path = shared(srv, "draft-shaped", "bob")
    device = UserAgent()
    with Receiver() as service:
        r = srv.request("POST", "/bob/draft-shaped~alice/", "bob", draft_body(f"{service.url}/bob", device),
                        headers=XML)
        assert r.status_code == 201, r.text
        expires = email.utils.parsedate_to_datetime(r.headers["Expires"]).timestamp()
        assert expires > time.time() + 3 * 86400 - 60, "an expiry in the past is the server's own choice"
        proppatch = ("<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop><D:displayname>Familie Müller</D:displayname>"
                     "</D:prop></D:set></D:propertyupdate>")
        assert srv.request("PROPPATCH", path, "alice", proppatch, headers=XML).status_code == 207
        put_event(srv, "alice", f"{path}d.ics", "d", "Fußball 🎉")
        assert worker_of(srv).run_until_idle().delivered == 2
        kinds = [{e.tag.rpartition("}")[2] for e in message_of(device, got)} for got in service.requests]
    assert kinds == [{"topic", "property-update"}, {"topic", "content-update"}]


@pytest.mark.parametrize(("body", "status", "precondition"), [
    ("not xml at all", 400, None),
    ("<P:push-register xmlns:P='https://bitfire.at/webdav-push'><P:subscription/></P:push-register>", 403,
     "invalid-subscription"),
    ("<P:push-register xmlns:P='https://bitfire.at/webdav-push'><P:subscription><P:web-push-subscription>"
     "<P:subscription-public-key type='p256dh'>{key}</P:subscription-public-key><P:auth-secret>{auth}</P:auth-secret>"
     "</P:web-push-subscription></P:subscription></P:push-register>", 403, "invalid-subscription"),
    ("<P:push-register xmlns:P='https://bitfire.at/webdav-push'><P:subscription><P:web-push-subscription>"
     "<P:push-resource>https://push.example/x</P:push-resource><P:content-encoding>aesgcm</P:content-encoding>"
     "<P:subscription-public-key type='p256dh'>{key}</P:subscription-public-key><P:auth-secret>{auth}</P:auth-secret>"
     "</P:web-push-subscription></P:subscription></P:push-register>", 403, "invalid-subscription"),
    ("<P:push-register xmlns:P='https://bitfire.at/webdav-push'><P:subscription><P:web-push-subscription>"
     "<P:push-resource>https://push.example/x</P:push-resource>"
     "<P:subscription-public-key type='p256dh'>{key}</P:subscription-public-key><P:auth-secret>{auth}</P:auth-secret>"
     "</P:web-push-subscription></P:subscription><P:trigger/></P:push-register>", 403, "no-supported-trigger"),
    ("<P:push-register xmlns:P='https://bitfire.at/webdav-push' xmlns:D='DAV:'><P:subscription>"
     "<P:web-push-subscription><P:push-resource>https://push.example/x</P:push-resource>"
     "<P:subscription-public-key type='p256dh'>{key}</P:subscription-public-key><P:auth-secret>{auth}</P:auth-secret>"
     "</P:web-push-subscription></P:subscription><P:trigger><P:content-update><D:depth>2</D:depth>"
     "</P:content-update></P:trigger></P:push-register>", 400, None),
])
def test_malformed_registrations_are_refused(srv: Server, body: str, status: int, precondition: str | None) -> None:
    agent = UserAgent()
    path = shared(srv, f"bad{abs(hash(body)) % 10**6}")
    r = srv.request("POST", path, "alice", body.format(key=b64url(agent.public), auth=b64url(agent.auth)),
                    headers=XML)
    assert r.status_code == status, r.text
    if precondition:
        error = ET.fromstring(r.content)
        assert error.tag == "{DAV:}error" and error.find(f"P:{precondition}", NS) is not None, r.text
    assert r.text.strip(), "a sentence says why"


# -- the push message ---------------------------------------------------------------------------------


def test_a_push_carries_the_sync_token_the_collection_answers_right_after(srv: Server) -> None:
    path = shared(srv, "Schule 🎒", "bob")
    mount = "/bob/Schule 🎒~alice/"
    phone = UserAgent()
    with Receiver() as service:
        davx5_register(srv, mount, "bob", phone, f"{service.url}/bob-phone")
        put_event(srv, "alice", f"{path}s.ics", "s", "Sportfest")
        worker_of(srv).run_until_idle()
        [got] = service.requests
    token = message_of(phone, got).findtext("P:content-update/D:sync-token", namespaces=NS)
    assert token, ET.tostring(message_of(phone, got), encoding="unicode")
    assert parse_sync(sync(srv, mount, "bob")).token == token
    assert parse_sync(sync(srv, path, "alice")).token == token


def test_a_push_carries_the_token_of_the_readers_own_view(srv: Server) -> None:
    """bob has an alarm of his own on one event: his sync token is his view's, not alice's, and his push says his."""
    path = shared(srv, "Eigene Erinnerung", "bob")
    mount = "/bob/Eigene Erinnerung~alice/"
    put_event(srv, "alice", f"{path}e.ics", "e", "Elternabend")
    own = EVENT.format(uid="e").replace("SUMMARY:e", "SUMMARY:Elternabend").replace(
        "END:VEVENT", "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:los\r\nTRIGGER:-PT2H\r\nEND:VALARM\r\nEND:VEVENT")
    mine = srv.request("PUT", f"{mount}e.ics", "bob", own, headers={"Content-Type": "text/calendar"})
    assert mine.status_code == 204, mine.text
    worker_of(srv).run_until_idle()   # alice's first event told before bob's phone subscribes
    phone = UserAgent()
    with Receiver() as service:
        davx5_register(srv, mount, "bob", phone, f"{service.url}/bob-phone")
        put_event(srv, "alice", f"{path}f.ics", "f", "Sportfest")
        worker_of(srv).run_until_idle()
        [got] = service.requests
    token = message_of(phone, got).findtext("P:content-update/D:sync-token", namespaces=NS)
    bobs, alices = parse_sync(sync(srv, mount, "bob")).token, parse_sync(sync(srv, path, "alice")).token
    assert bobs != alices, "bob's own alarm gives him his own view's token"
    assert token == bobs


# -- Push-Dont-Notify ---------------------------------------------------------------------------------


def test_push_dont_notify_spares_the_device_that_made_the_change(srv: Server) -> None:
    path = shared(srv, "Familie", "bob")
    phone, tablet, bobs = UserAgent(), UserAgent(), UserAgent()
    with Receiver() as service:
        phone_url = davx5_register(srv, path, "alice", phone, f"{service.url}/alice-phone")
        davx5_register(srv, path, "alice", tablet, f"{service.url}/alice-tablet")
        bob_url = davx5_register(srv, "/bob/Familie~alice/", "bob", bobs, f"{service.url}/bob")

        def pushed_after(headers: dict[str, str], uid: str) -> list[str]:
            before = len(service.requests)
            r = srv.request("PUT", f"{path}{uid}.ics", "alice", EVENT.format(uid=uid),
                            headers={"Content-Type": "text/calendar", **headers})
            assert r.status_code in (201, 204), r.text
            worker_of(srv).run_until_idle()
            return sorted(got.path for got in service.requests[before:])

        assert pushed_after({"Push-Dont-Notify": f'"{phone_url}"'}, "p1") == ["/alice-tablet", "/bob"]
        assert pushed_after({}, "p2") == ["/alice-phone", "/alice-tablet", "/bob"], "no header: every device"
        assert pushed_after({"Push-Dont-Notify": "*"}, "p3") == [], "*: no push at all"
        # a list, one of them someone else's (ignored: only one's own registrations count), and junk
        assert pushed_after({"Push-Dont-Notify": f'"{bob_url}", "{phone_url}", garbage'}, "p4") == [
            "/alice-tablet", "/bob"]
        assert pushed_after({"Push-Dont-Notify": phone_url.removeprefix(srv.url)}, "p5") == [
            "/alice-phone", "/alice-tablet", "/bob"], "an unquoted value is invalid, and ignored"
    assert "Alice added p3 on Mon 5 Jan 18:00 in Familie (alice)" in change_texts(srv, "bob"), \
        "Push-Dont-Notify is about pushes: the notice itself still reaches bob"


def test_push_dont_notify_holds_across_a_burst_only_where_every_change_asked(tmp_path: Path) -> None:
    server = notice_server(tmp_path, notices_window="60").start()
    try:
        path = shared(server, "burst", "bob")
        phone, tablet = UserAgent(), UserAgent()
        with Receiver() as service:
            phone_url = davx5_register(server, path, "alice", phone, f"{service.url}/phone")
            tablet_url = davx5_register(server, path, "alice", tablet, f"{service.url}/tablet")
            for uid, device in (("b1", phone_url), ("b2", phone_url)):
                r = server.request("PUT", f"{path}{uid}.ics", "alice", EVENT.format(uid=uid),
                                   headers={"Content-Type": "text/calendar", "Push-Dont-Notify": f'"{device}"'})
                assert r.status_code == 201
            r = server.request("PUT", f"{path}b3.ics", "alice", EVENT.format(uid="b3"),
                               headers={"Content-Type": "text/calendar", "Push-Dont-Notify": f'"{tablet_url}"'})
            assert r.status_code == 201
            worker_of(server, lambda: time.time() + 61).run_until_idle()
            assert sorted(got.path for got in service.requests) == ["/phone", "/tablet"], \
                "one notice for the burst; each device made only part of it"
    finally:
        server.stop()


EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260105T180000\r\nDURATION:PT1H\r\n"
         "SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


# -- the VAPID key ----------------------------------------------------------------------------------


def test_the_vapid_key_survives_a_restart_and_is_the_one_a_worker_elsewhere_signs_with(tmp_path: Path) -> None:
    server = notice_server(tmp_path / "server").start()
    try:
        path = shared(server, "keys", "bob")
        key = vapid_key_of(server, path)
        server.stop()
        server.start()
        assert vapid_key_of(server, path) == key, "the same key after a restart"
        # a worker on another machine: the same database, its own configuration and disk (no key file there)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        config = (elsewhere / "radicale.ini")
        text = server.config.read_text().replace("[hook]", f"[hook]\nnotices_vapid_key = {elsewhere}/vapid.pem", 1)
        config.write_text(text)
        device = UserAgent()
        with Receiver() as service:
            davx5_register(server, "/bob/keys~alice/", "bob", device, f"{service.url}/bob")
            put_event(server, "alice", f"{path}k.ics", "k", "Schlüsselübergabe")
            done = subprocess.run([sys.executable, "-m", "radicale_ext.plugins.worker", "--config", str(config),
                                   "--once"], capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            [got] = service.requests
        check_vapid(got.headers["authorization"], service.url, key, time.time())
        assert message_of(device, got).find("P:content-update", NS) is not None
    finally:
        server.stop()


def test_rotating_the_vapid_key_tells_every_device_with_the_old_key(tmp_path: Path) -> None:
    server = notice_server(tmp_path).start()
    try:
        path = shared(server, "rotate", "bob", "carol")
        old = vapid_key_of(server, path)
        bobs, carols = UserAgent(), UserAgent()
        with Receiver() as service:
            davx5_register(server, "/bob/rotate~alice/", "bob", bobs, f"{service.url}/bob")
            davx5_register(server, "/carol/rotate~alice/", "carol", carols, f"{service.url}/carol")
            shared(server, "rotate-2", "bob")   # bob's phone subscribes to a second calendar with the same resource
            davx5_register(server, "/bob/rotate-2~alice/", "bob", bobs, f"{service.url}/bob")
            refused = server.cli("notices", "vapid-key", "--rotate", acting_as="bob")
            assert refused.code == 1 and "only the admin" in refused.err
            out = server.ok("notices", "vapid-key", "--rotate")
            new = out.split()[0]
            assert new != old and f"{new}" == vapid_key_of(server, path), "the server offers the new key at once"
            assert "2 device" in out, out
            worker_of(server).run_until_idle()
            rotations = {got.path: got for got in service.requests}
            assert sorted(rotations) == ["/bob", "/carol"], "one message per push resource"
            for agent, got in ((bobs, rotations["/bob"]), (carols, rotations["/carol"])):
                message = message_of(agent, got)
                assert message.find("P:topic", NS) is None, "a key-rotation message names no topic"
                assert message.find("P:property-update/D:prop/P:transports", NS) is not None
                assert message.find("P:content-update", NS) is None
                assert "topic" not in got.headers
                check_vapid(got.headers["authorization"], service.url, old, time.time())  # the key it knows
            # until it subscribes again, a device keeps getting pushes signed with the key it subscribed for
            service.requests.clear()
            put_event(server, "alice", f"{path}r.ics", "r", "Nach dem Wechsel")
            new_device = UserAgent()
            davx5_register(server, "/bob/rotate~alice/", "bob", new_device, f"{service.url}/bob-new")
            put_event(server, "alice", f"{path}s.ics", "s", "Noch einer")
            worker_of(server).run_until_idle()
            keys = {got.path: key_in(got) for got in service.requests}
        assert keys["/bob"] == old and keys["/carol"] == old and keys["/bob-new"] == new
        assert json.loads(server.ok("--json", "notices", "dead")) == []
        # and again after a restart
        server.stop()
        server.start()
        assert vapid_key_of(server, path) == new
    finally:
        server.stop()


def test_vapid_key_rotation_with_no_devices(tmp_path: Path) -> None:
    server = notice_server(tmp_path).start()
    try:
        first = server.ok("notices", "vapid-key").split()[0]
        out = server.ok("notices", "vapid-key", "--rotate")
        assert out.split()[0] != first and "0 devices" in out
        assert server.ok("notices", "vapid-key").split()[0] == out.split()[0]
    finally:
        server.stop()


def test_an_old_key_file_is_kept_as_the_key(tmp_path: Path) -> None:
    """A server that kept its key in a file (before keys lived in the database) keeps it: devices subscribed for it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    server = notice_server(tmp_path)
    private = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "vapid-private.pem").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    expected = b64url(private.public_key().public_bytes(serialization.Encoding.X962,
                                                        serialization.PublicFormat.UncompressedPoint))
    server.start()
    try:
        assert vapid_key_of(server, shared(server, "kept")) == expected
        shutil.move(tmp_path / "data" / "vapid-private.pem", tmp_path / "old.pem")
        server.stop()
        server.start()
        assert vapid_key_of(server, "/alice/kept/") == expected, "kept in the database since"
    finally:
        server.stop()
