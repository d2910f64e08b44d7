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
import os
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..notice_kit import Mailbox, change_texts, event, notice_server, smtp_server, worker_of
from ..server import Server, free_port

ICS = {"Content-Type": "text/calendar"}

KILLER = textwrap.dedent("""
    import os, signal
    from radicale_ext.notices import outbox

    _complete = outbox.Outbox.complete

    def complete(self, record_id, **kwargs):
        if os.path.exists(os.environ["RADICALE_EXT_TEST_KILL_MARKER"]):
            os.kill(os.getpid(), signal.SIGKILL)     # the write is on disk; its record stays pending
        return _complete(self, record_id, **kwargs)

    outbox.Outbox.complete = complete
""")


@pytest.fixture
def killable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The marker file: while it exists, the server dies the moment a write has reached the disk."""
    (tmp_path / "killer").mkdir()
    (tmp_path / "killer" / "sitecustomize.py").write_text(KILLER)
    marker = tmp_path / "kill-now"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path / "killer"),
                                                                    os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("RADICALE_EXT_TEST_KILL_MARKER", str(marker))
    yield marker


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
