"""Writes caught by a crash are announced like any other (issue 13, item 4).

The server process is killed (SIGKILL, as ``kill -9``) right after a write
reached the disk and before its outbox record was marked ready: a module on
``PYTHONPATH`` (``sitecustomize``, loaded by the server's interpreter at
start) makes the record's ``complete`` kill the process while a marker file
exists.  At the next start the record is settled; the people the calendar
is shared with must hear of the write, with its words, on every channel.
"""

from __future__ import annotations

import json
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..notice_kit import Mailbox, change_texts, event, notice_server, servers_watch_marker, smtp_server, worker_of
from ..server import Server, free_port, make_server

ICS = {"Content-Type": "text/calendar"}

KILLER = textwrap.dedent("""
    import os, signal
    from radicale_ext.notices import outbox

    _finish = outbox.Outbox.finish

    def finish(self, finished):
        if os.path.exists(os.environ["RADICALE_EXT_TEST_KILL_MARKER"]):
            os.kill(os.getpid(), signal.SIGKILL)     # the write is on disk; its record stays pending
        return _finish(self, finished)

    outbox.Outbox.finish = finish
""")


@pytest.fixture
def killable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The marker file: while it exists, the server dies the moment a write has reached the disk."""
    yield servers_watch_marker(KILLER, tmp_path / "kill-now", "RADICALE_EXT_TEST_KILL_MARKER", monkeypatch)


def _killed_during(server: Server, marker: Path, method: str, path: str, body: str | None = None) -> None:
    marker.touch()
    with pytest.raises(requests.ConnectionError):
        server.request(method, path, "alice", body, headers=ICS)
    assert server.proc is not None and server.proc.wait(10) == -signal.SIGKILL
    server.proc = None
    marker.unlink()


def test_writes_caught_by_a_kill_are_told_after_the_restart(tmp_path: Path, killable: Path) -> None:
    smtp_port = free_port()
    server = notice_server(tmp_path / "srv", smtp_server="127.0.0.1", smtp_port=str(smtp_port),
                           from_email="kalender@example.org").start()
    try:
        assert server.request("MKCALENDAR", "/alice/familie/", "alice").status_code == 201
        server.ok("share", "add", "alice/familie", "--user", "bob", "--role", "subscriber")
        server.ok("notices", "email", "bob@example.org", acting_as="bob")
        assert server.request("PUT", "/alice/familie/laternenumzug.ics", "alice",
                              event("later", "Laternenumzug"), headers=ICS).status_code == 201

        _killed_during(server, killable, "PUT", "/alice/familie/nachhilfe.ics", event("math", "Nachhilfe Mathe"))
        server.start()
        assert server.request("GET", "/alice/familie/nachhilfe.ics", "alice").status_code == 200, "on disk"
        _killed_during(server, killable, "PUT", "/alice/familie/laternenumzug.ics",
                       event("later", "Laternenumzug", start="20260106T170000"))
        server.start()
        assert json.loads(server.ok("--json", "outbox", "list", "--state", "pending")) == []

        mailbox = Mailbox()
        with smtp_server(mailbox, smtp_port):
            progress = worker_of(server, lambda: time.time() + 3600).run_until_idle()
        texts = change_texts(server, "bob")
        assert "Alice added or changed Nachhilfe Mathe on Mon 5 Jan 18:00 in familie (alice)" in texts, texts
        assert "Alice added or changed Laternenumzug on Tue 6 Jan 17:00 in familie (alice)" in texts, texts
        assert len(texts) == 3, texts
        # (a subject folded right after "Subject:" keeps the fold's space in Python's parser; mail readers drop it)
        assert sorted(m["Subject"].strip() for m in mailbox.messages) == sorted(texts), "e-mail too"
        assert progress.failed == 0
        mailed = {m["Subject"].strip(): m for m in mailbox.messages}
        [attachment] = list(mailed["Alice added or changed Nachhilfe Mathe on Mon 5 Jan 18:00 in familie (alice)"]
                            .iter_attachments())
        assert "SUMMARY:Nachhilfe Mathe" in attachment.get_content()
    finally:
        server.stop()


def test_deliveries_in_flight_at_a_kill_go_out_at_once_after_the_restart(tmp_path: Path) -> None:
    """The server's own worker thread is killed while it sends e-mail; the restarted server's worker
    must not wait for the dead one's claims to run out (notices_lease, 120 s by default)."""
    smtp_port = free_port()
    server = make_server(tmp_path / "srv", hook={"notices_window": "0", "smtp_server": "127.0.0.1",
                                                 "smtp_port": str(smtp_port), "from_email": "kalender@example.org"})
    sending = threading.Event()
    mailbox = Mailbox(data_delay=1.0, refuse=lambda _address: sending.set())
    server.start()
    try:
        assert server.request("MKCALENDAR", "/alice/familie/", "alice").status_code == 201
        for user in ("bob", "carol", "dave"):
            server.ok("share", "add", "alice/familie", "--user", user, "--role", "subscriber")
            server.ok("notices", "email", f"{user}@example.org", acting_as=user)
        with smtp_server(mailbox, smtp_port):
            assert server.request("PUT", "/alice/familie/sankt-martin.ics", "alice",
                                  event("martin", "Sankt Martin 🏮"), headers=ICS).status_code == 201
            assert sending.wait(30), "the worker began to send"
            assert server.proc is not None
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(10)
            server.proc = None
            restarted = time.monotonic()
            server.start()
            deadline = restarted + 20
            while time.monotonic() < deadline and len({m["To"] for m in mailbox.messages}) < 3:
                time.sleep(0.2)
            took = time.monotonic() - restarted
        assert {m["To"] for m in mailbox.messages} == {f"{u}@example.org" for u in ("bob", "carol", "dave")}, \
            f"after {took:.0f} s: {[m['To'] for m in mailbox.messages]}"
        assert len(mailbox.messages) <= 4, "at most the message in flight twice"
    finally:
        server.stop()
