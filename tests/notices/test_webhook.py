"""Webhooks: a signed, timestamped JSON POST; the receiver verifies it and can tell a replay."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator

import pytest

from radicale_ext.notices.channels.webhook import BadSignature, verify
from radicale_ext.notices.service import Notices
from radicale_ext.notices.worker import Worker
from radicale_ext.plugins._site import site_for
from radicale_ext.plugins.hook import notice_settings
from radicale_ext.plugins.worker import reminders_for

from ..notice_kit import FakeClock, Receiver, change_texts, configuration, notice_server, put_event, shared, worker_of
from ..server import Server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("webhook"), notices_window="60").start()
    yield server
    server.stop()



def set_webhook(srv: Server, user: str, url: str) -> str:
    printed = srv.ok("notices", "webhook", url, acting_as=user)
    return printed.rsplit(": ", 1)[1].strip()


def receiver_check(secret: str, headers: dict[str, str], body: bytes, now: float) -> dict:
    """The receiver's check, written from docs/notifications.md alone."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(expected, headers["webhook-signature"])
    assert abs(now - int(headers["webhook-timestamp"])) <= 300
    return json.loads(body)


def deliver(srv: Server, clock: FakeClock) -> None:
    clock.now = time.time() + 61
    worker_of(srv, clock).run_until_idle()


def test_each_notice_is_posted_as_signed_json(srv: Server) -> None:
    path = shared(srv, "hooked", "bob")
    with Receiver(answer=lambda _r: 204) as receiver:
        secret = set_webhook(srv, "bob", f"{receiver.url}/bob-hook")
        assert secret.startswith("whsec_")
        put_event(srv, "alice", f"{path}w.ics", "w", "Webhooked")
        clock = FakeClock()
        deliver(srv, clock)
        [got] = receiver.requests
    assert got.path == "/bob-hook" and got.headers["content-type"] == "application/json"
    payload = receiver_check(secret, got.headers, got.body, clock.now)
    assert payload["recipient"] == "bob" and payload["id"] == got.headers["webhook-id"]
    [notice] = payload["notices"]
    assert notice["text"] == "Alice added Webhooked on Mon 5 Jan 18:00 in hooked (alice)"
    assert notice["collection"] == "/alice/hooked/" and notice["actor"] == "alice"
    assert notice["changes"][0]["kind"] == "item-created" and notice["changes"][0]["item"] == "w.ics"


def test_a_replayed_delivery_is_detectable(srv: Server) -> None:
    path = shared(srv, "replay", "bob")
    with Receiver() as receiver:
        secret = set_webhook(srv, "bob", f"{receiver.url}/r")
        put_event(srv, "alice", f"{path}r.ics", "r", "Replay me")
        clock = FakeClock()
        deliver(srv, clock)
        [got] = receiver.requests
    seen: dict[str, float] = {}
    assert verify(secret, got.headers, got.body, clock.now, seen)["recipient"] == "bob"
    with pytest.raises(BadSignature, match="delivered before"):
        verify(secret, got.headers, got.body, clock.now + 10, seen)            # the same request again
    with pytest.raises(BadSignature, match="more than 300 s"):
        verify(secret, got.headers, got.body, clock.now + 301, {})             # replayed later, new receiver
    with pytest.raises(BadSignature, match="does not match"):
        verify(secret, got.headers, got.body.replace(b"Replay", b"Rewrit"), clock.now, {})
    forged = {**got.headers, "webhook-timestamp": str(int(clock.now) + 1)}
    with pytest.raises(BadSignature, match="does not match"):
        verify(secret, forged, got.body, clock.now, {})                       # a fresh time needs the secret


def test_a_retry_carries_the_same_id_and_a_new_signature(srv: Server) -> None:
    path = shared(srv, "flaky", "bob")
    answers = iter([503, 200])
    with Receiver(answer=lambda _r: next(answers)) as receiver:
        secret = set_webhook(srv, "bob", f"{receiver.url}/flaky")
        put_event(srv, "alice", f"{path}f.ics", "f", "Flaky")
        clock = FakeClock(time.time() + 61)
        worker = worker_of(srv, clock)
        assert worker.run_until_idle().failed == 1
        clock.advance(30)
        assert worker.run_until_idle().delivered == 1
        first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    seen: dict[str, float] = {}
    verify(secret, first.headers, first.body, int(first.headers["webhook-timestamp"]), seen)
    with pytest.raises(BadSignature, match="delivered before"):
        verify(secret, second.headers, second.body, int(second.headers["webhook-timestamp"]), seen)


def test_a_refusing_receiver_is_dead_at_once(srv: Server) -> None:
    path = shared(srv, "refusing", "bob")
    with Receiver(answer=lambda _r: 400) as receiver:
        set_webhook(srv, "bob", f"{receiver.url}/no")
        put_event(srv, "alice", f"{path}x.ics", "x", "Refused hook")
        deliver(srv, FakeClock())
        assert len(receiver.requests) == 1
    [row] = [r for r in json.loads(srv.ok("--json", "notices", "dead")) if "/no answered" in r["error"]]
    assert row["recipient"] == "bob" and row["attempts"] == 1 and "answered 400" in row["error"]


def test_an_oversized_payload_is_dead_lettered_and_the_rest_goes_through(srv: Server,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    path = shared(srv, "big", "bob", "carol")
    with Receiver() as receiver:
        set_webhook(srv, "bob", f"{receiver.url}/bob")
        set_webhook(srv, "carol", f"{receiver.url}/carol")
        for i in range(30):
            put_event(srv, "alice", f"{path}b{i}.ics", f"b{i}", f"Big burst number {i} with a long title")
        conf = configuration(srv)
        settings = dataclasses.replace(notice_settings(conf), webhook_max_bytes=4000)
        notices = Notices(site_for(conf), settings)
        worker = Worker(notices, name="test-worker", clock=lambda: time.time() + 61, reminders=reminders_for(notices))
        with caplog.at_level(logging.ERROR, logger="radicale_ext.notices"):
            progress = worker.run_until_idle()
        assert (progress.failed, progress.delivered) == (2, 0)
        put_event(srv, "alice", f"{path}small.ics", "small", "Small")
        notices = Notices(site_for(conf), settings)
        worker = Worker(notices, name="test-worker", clock=lambda: time.time() + 200, reminders=reminders_for(notices))
        assert worker.run_until_idle().delivered == 2
        assert sorted(r.path for r in receiver.requests) == ["/bob", "/carol"]
    rows = [r for r in json.loads(srv.ok("--json", "notices", "dead")) if "over the limit" in r["error"]]
    assert sorted(r["recipient"] for r in rows) == ["bob", "carol"]
    assert all("payload is" in r["error"] and "limit of 4000" in r["error"] and r["attempts"] == 1 for r in rows)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 2 and all("is dead after 1 attempt(s)" in m and "over the limit of 4000" in m
                                    for m in logged)
    assert change_texts(srv, "carol")[-2:] == [
        "Alice made 30 changes to big (alice)", "Alice added Small on Mon 5 Jan 18:00 in big (alice)"]


def test_webhooks_must_be_https_where_required(tmp_path) -> None:
    strict = notice_server(tmp_path / "strict", notices_https_only="true")
    result = strict.cli("notices", "webhook", "http://127.0.0.1:9/x", acting_as="bob")
    assert result.code == 1 and "is not https" in result.err and result.err.count("\n") == 1
