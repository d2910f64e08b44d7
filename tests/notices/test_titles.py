"""A notice always names what changed, even when a worker process elsewhere takes the change the moment
it is written (found with three servers and three workers on one database, issue 16: "changed an event"
without its title).  Radicale calls its hook, which brings the title, after the storage wrote the
change; the record is made ready for the workers only when the write lock is let go, with the title in
it.  Here the hook is made slow, so that a worker polling every 0.1 s in its own process would take a
record made ready before it."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..notice_kit import change_texts, event, notice_server, servers_run_with
from ..server import Server

ICS = {"Content-Type": "text/calendar"}

SLOW_HOOK = textwrap.dedent("""
    import time
    from radicale_ext.plugins import hook

    _notify = hook.Hook.notify

    def notify(self, item):
        time.sleep(1.5)     # Radicale's hook, late: the change is written, its title not yet told
        return _notify(self, item)

    hook.Hook.notify = notify
""")


@pytest.fixture
def slow_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    servers_run_with(SLOW_HOOK, tmp_path / "slow", monkeypatch)
    yield


def wait_for_texts(server: Server, user: str, count: int, within: float = 20) -> list[str]:
    deadline = time.monotonic() + within
    texts = change_texts(server, user)
    while len(texts) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        texts = change_texts(server, user)
    return texts


def test_a_worker_elsewhere_tells_each_change_with_its_title(tmp_path: Path, slow_hook: None) -> None:
    server = notice_server(tmp_path / "srv").start()
    worker = server.worker_process("elsewhere")
    try:
        assert server.request("MKCALENDAR", "/alice/Spielplan%20Fu%C3%9Fball/", "alice").status_code == 201
        server.ok("share", "add", "alice/Spielplan Fußball", "--user", "bob", "--role", "subscriber")
        for uid, summary in [("training", "Training 🎉 mit Müllers"), ("elternabend", "Elternabend 家庭")]:
            r = server.request("PUT", f"/alice/Spielplan%20Fu%C3%9Fball/{uid}.ics", "alice",
                               event(uid, summary), headers=ICS)
            assert r.status_code == 201, r.text
        texts = wait_for_texts(server, "bob", 2)
        assert len(texts) == 2, (texts, server.log()[-2000:])
        assert any("Training 🎉 mit Müllers" in t for t in texts), texts
        assert any("Elternabend 家庭" in t for t in texts), texts
    finally:
        worker.terminate()
        worker.wait(10)
        server.stop()
