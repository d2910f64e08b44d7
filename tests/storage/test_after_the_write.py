"""A PUT lets go of the storage's write lock before its folder is made durable, and is answered after
(plugins/storage_lock.py, "After the write"; docs/performance.md): real servers, one and two processes on
one folder, whose fsync of the calendar's folder is made slow while a marker file exists.  Meanwhile other
connections read (a GET, a listing that already shows the new event: the lock is free and the write no
longer waited for, in the PUT's process and the other), the PUT is not yet answered, and when it is, the
folder's fsync has ended.
"""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from .. import dav_kit as dav
from ..edge.test_processes import eventually
from ..notice_kit import servers_run_with
from ..samples import event
from ..server import make_server, password

CAL_NAME = "Familie Müller 家庭 🎉"
CAL = "/alice/" + quote(CAL_NAME) + "/"
FIRST = CAL + quote("Fußball training 足球.ics")
NEW = CAL + quote("Oma Geburtstag 生日 🎂.ics")
SLOW_SECONDS = 5.0   # long beside a read, even a busy machine's (the reads' timeout only keeps a hang short)

SLOW_FOLDER = textwrap.dedent("""
    import os
    import time
    from radicale import pathutils

    _fsync = pathutils.fsync

    def note(what):
        with open(os.environ["RADICALE_EXT_TEST_LOG"], "a", encoding="utf-8") as log:
            log.write(what + "\\n")

    def fsync(fd):
        slow = (os.path.exists(os.environ["RADICALE_EXT_TEST_SLOW"])
                and os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) == os.environ["RADICALE_EXT_TEST_FOLDER"])
        if not slow:
            return _fsync(fd)
        note("folder fsync begins")
        time.sleep(float(os.environ["RADICALE_EXT_TEST_SLOW_SECONDS"]))
        _fsync(fd)
        note("folder fsync ends")

    pathutils.fsync = fsync
""")


def reads_from_a_fresh_connection(url: str, listed: str) -> None:
    """A GET of FIRST and a listing of the calendar that shows ``listed``, on a new connection (with two
    processes, either may take it)."""
    with requests.Session() as other:
        got = other.get(url + FIRST, auth=("alice", password("alice")), timeout=30)
        assert got.status_code == 200 and "fussball-足球" in got.text
        listing = other.request("PROPFIND", url + CAL, auth=("alice", password("alice")), headers={"Depth": "1"},
                                timeout=30)
        assert listing.status_code == 207 and listed in listing.text


@pytest.mark.parametrize("processes", [1, 2])
def test_others_read_while_a_puts_folder_is_made_durable_and_the_put_is_answered_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: int) -> None:
    servers_run_with(SLOW_FOLDER, tmp_path / "slow-code", monkeypatch)
    log, slow = tmp_path / "log", tmp_path / "slow"
    for name, value in {"LOG": log, "SLOW": slow, "FOLDER": CAL_NAME, "SLOW_SECONDS": SLOW_SECONDS}.items():
        monkeypatch.setenv("RADICALE_EXT_TEST_" + name, str(value))
    log.write_text("")
    server = make_server(tmp_path / "server", processes=processes).start()
    try:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        assert server.request("PUT", FIRST, "alice", event("fussball-足球"), headers=dav.ICS).status_code == 201
        for _ in range(4 * processes):   # every process has read the calendar (a first read costs more)
            reads_from_a_fresh_connection(server.url, quote("Fußball training 足球.ics"))
        slow.write_text("")
        answered: list[tuple[int, list[str]]] = []

        def put() -> None:
            response = server.request("PUT", NEW, "alice", event("oma-生日", "Oma Geburtstag 🎂"), headers=dav.ICS)
            answered.append((response.status_code, log.read_text(encoding="utf-8").splitlines()))
        writer = threading.Thread(target=put)
        writer.start()
        eventually(lambda: "folder fsync begins" in log.read_text(encoding="utf-8"), 30, "the PUT's folder fsync")
        for _ in range(2 * processes):
            reads_from_a_fresh_connection(server.url, quote("Oma Geburtstag 生日 🎂.ics"))
        assert writer.is_alive() and "folder fsync ends" not in log.read_text(encoding="utf-8"), \
            "the reads were answered while the PUT's folder was still being made durable"
        writer.join(30)
        assert answered == [(201, ["folder fsync begins", "folder fsync ends"])], \
            "the PUT is answered once its folder's fsync has ended"
        slow.unlink()
        got = server.request("GET", NEW, "alice")
        assert got.status_code == 200 and "Oma Geburtstag 🎂" in got.text
    finally:
        server.stop()
