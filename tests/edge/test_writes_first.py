"""Writes first on a host (radicale_ext/plugins/write_priority.py): while a write is under way in any
server process, a request that reads waits before it starts, until the write lets go of the storage's
write lock (or ends without one) or for ``LONGEST_WAIT`` at most; writes never wait for each other there
(what a write does after the lock: tests/storage/test_after_the_write.py).

The first tests drive :class:`WritesFirst` around a small WSGI application of the test's, in threads, and
the table the server processes share (:class:`ProcessTable`) with an injected clock; the last ones hold a
real server's PUT half-way (in its outbox step, as tests/edge/test_processes.py does) and time an
OPTIONS without a login, which takes no storage lock, sent to the same process and, with two processes,
to the other.
"""

from __future__ import annotations

import base64
import http.client
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from radicale_ext.plugins import processes
from radicale_ext.plugins.processes import ProcessTable
from radicale_ext.plugins.storage import WritersFirst as StorageLock
from radicale_ext.plugins.write_priority import LONGEST_WAIT, WritesFirst

from ..notice_kit import servers_watch_marker
from ..samples import event
from ..server import Server, connections_of, make_server, password
from ..storage.test_writers_first import order_of_a_late_reader
from .test_processes import HOLDER, eventually

CAL = "/alice/" + quote("Familie Müller 家庭 🎉") + "/"
ITEM = CAL + quote("Fußball training 足球.ics")


class Recorder:
    """A WSGI application whose PUTs (and DELETEs) block until let go; every call's start and end noted."""

    def __init__(self) -> None:
        self.let_go = threading.Event()
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        name = environ["PATH_INFO"]
        self.started[name] = time.monotonic()
        if environ["REQUEST_METHOD"] in ("PUT", "DELETE"):
            self.let_go.wait(30)
        start_response("200 OK", [])
        self.ended[name] = time.monotonic()
        return [b""]


def call(app: WritesFirst, method: str, name: str) -> threading.Thread:
    thread = threading.Thread(target=app, args=({"REQUEST_METHOD": method, "PATH_INFO": name}, lambda *a: None))
    thread.start()
    return thread


class Writing:
    """The other processes' writes as the table would tell them: writing while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.noted: list[int] = []

    def note_writes(self, count: int) -> None:
        self.noted.append(count)

    def writes_elsewhere(self) -> bool:
        return self.on


def test_a_read_starts_once_the_write_under_way_has_ended() -> None:
    app = Recorder()
    first = WritesFirst(app)
    put = call(first, "PUT", "/alice/familie/fußball.ics")
    eventually(lambda: "/alice/familie/fußball.ics" in app.started, what="the PUT under way")
    asked = time.monotonic()
    get = call(first, "GET", "/alice/familie/")
    time.sleep(LONGEST_WAIT / 5)
    app.let_go.set()
    put.join(10)
    get.join(10)
    # the GET began after the PUT ended, unless it had waited the longest wait first
    began = app.started["/alice/familie/"]
    assert began >= min(app.ended["/alice/familie/fußball.ics"], asked + LONGEST_WAIT), (began, asked, app.ended)


def test_a_read_waits_the_longest_wait_at_most() -> None:
    app = Recorder()
    first = WritesFirst(app)
    put = call(first, "PUT", "/bob/家庭/a.ics")
    eventually(lambda: "/bob/家庭/a.ics" in app.started, what="the PUT under way")
    for method in ("GET", "PROPFIND", "REPORT", "OPTIONS", "POST"):
        asked = time.monotonic()
        reader = call(first, method, f"/bob/家庭/?{method}")
        reader.join(10)
        assert app.started[f"/bob/家庭/?{method}"] - asked >= LONGEST_WAIT, method
    assert put.is_alive()   # the write is still under way: the reads went ahead after waiting
    app.let_go.set()
    put.join(10)


def test_writes_do_not_wait_for_writes() -> None:
    app = Recorder()
    first = WritesFirst(app)
    waits: list[str] = []
    wait = first.wait_for_writes
    first.wait_for_writes = lambda: (waits.append("waited"), wait())   # type: ignore[method-assign]
    writes = [call(first, method, f"/alice/familie/{method}.ics")
              for method in ("PUT", "DELETE")]
    eventually(lambda: len(app.started) == 2, 10, "both writes under way at once")
    for method in ("MOVE", "PROPPATCH", "MKCOL", "MKCALENDAR"):   # the others never block in Recorder
        call(first, method, f"/alice/{method}/").join(10)
        assert f"/alice/{method}/" in app.ended
    assert waits == [], "a write waited for the writes under way"
    call(first, "GET", "/alice/familie/").join(10)
    assert waits == ["waited"]   # a read does
    app.let_go.set()
    for thread in writes:
        thread.join(10)


def test_a_read_waits_for_a_write_in_another_process_and_the_table_hears_of_this_ones() -> None:
    app = Recorder()
    elsewhere = Writing()
    first = WritesFirst(app, elsewhere)
    elsewhere.on = True
    asked = time.monotonic()
    get = call(first, "GET", "/alice/familie/")
    time.sleep(LONGEST_WAIT / 5)
    ended = time.monotonic()
    elsewhere.on = False
    get.join(10)
    assert app.started["/alice/familie/"] >= min(ended, asked + LONGEST_WAIT)
    # this process's writes go to the table: one, then none
    put = call(first, "PUT", "/alice/familie/x.ics")
    eventually(lambda: elsewhere.noted == [1], what="the write noted")
    app.let_go.set()
    put.join(10)
    assert elsewhere.noted == [1, 0]


@pytest.fixture
def table() -> Iterator[ProcessTable]:
    made = ProcessTable.made(3)
    yield made
    os.close(made.fd)


def test_the_process_table_says_who_writes(table: ProcessTable, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, third = (ProcessTable(table.fd, 3, slot) for slot in range(3))
    assert not any(t.writes_elsewhere() for t in (first, second, third))
    first.note_writes(2)
    assert second.writes_elsewhere() and third.writes_elsewhere()
    assert not first.writes_elsewhere()   # its own writes are its own business
    # the connections' half of a line is left alone, and leaves the writes alone
    assert first.may_accept(1) and second.may_accept(0)
    assert not first.may_accept(3)        # 3 > 0 + 1: the others are less busy
    assert second.writes_elsewhere()
    first.note_writes(0)
    assert not second.writes_elsewhere()

    # a process that says "writing" for longer than STALE_WRITE_SECONDS is stuck: not waited for
    first.note_writes(1)
    now = time.monotonic()
    monkeypatch.setattr(processes.time, "monotonic", lambda: now + processes.STALE_WRITE_SECONDS + 0.1)
    assert not second.writes_elsewhere()
    monkeypatch.undo()
    assert second.writes_elsewhere()
    # the parent forgets a process that ended mid-write
    table.forget(0)
    assert not second.writes_elsewhere() and not third.writes_elsewhere()


# -- a real server -----------------------------------------------------------------------------------------


def options(connection: http.client.HTTPConnection) -> tuple[int, float]:
    """An OPTIONS of alice's calendar on ``connection``, its status and how long it took: without a login,
    so that it takes no storage lock (a logged-in request reads the person's home under it first)."""
    asked = time.monotonic()
    connection.request("OPTIONS", CAL)
    answer = connection.getresponse()
    answer.read()
    return answer.status, time.monotonic() - asked


def put_held_halfway(connection: http.client.HTTPConnection, marker: Path) -> threading.Thread:
    """A PUT of a new event on ``connection``, held in its outbox step while ``marker`` exists; its statuses
    are in the thread's ``statuses``."""
    token = base64.b64encode(b"alice:" + password("alice").encode()).decode()
    statuses: list[int] = []

    def put() -> None:
        connection.request("PUT", ITEM, body=event("fussball", "Fußball 18:00").encode(),
                           headers={"Authorization": f"Basic {token}", "Content-Type": "text/calendar"})
        answer = connection.getresponse()
        answer.read()
        statuses.append(answer.status)

    marker.touch()
    thread = threading.Thread(target=put)
    thread.statuses = statuses   # type: ignore[attr-defined]
    thread.start()
    eventually(lambda: Path(f"{marker}.reached").exists(), what="the PUT held half-way")
    return thread


def assert_read_waits_for_write(server: Server, writer: http.client.HTTPConnection,
                                reader: http.client.HTTPConnection, marker: Path) -> None:
    """While a PUT on ``writer`` is held half-way, an OPTIONS on ``reader`` waits the longest wait; the PUT
    then ends well and its event is there."""
    put = put_held_halfway(writer, marker)
    status, took = options(reader)
    assert status == 200 and took >= LONGEST_WAIT, took
    marker.unlink()
    put.join(30)
    assert put.statuses == [201]   # type: ignore[attr-defined]
    assert server.request("GET", ITEM, "alice").status_code == 200


@pytest.fixture
def hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Servers the test starts hold a PUT half-way (in its outbox step) while the marker file given exists."""
    marker = servers_watch_marker(HOLDER, tmp_path / "hold", "RADICALE_EXT_TEST_HOLD_MARKER", monkeypatch)
    yield marker
    marker.unlink(missing_ok=True)


def test_a_read_waits_for_a_write_under_way_in_its_process(tmp_path: Path, hold: Path) -> None:
    server = make_server(tmp_path / "server").start()
    writer = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    reader = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        assert options(reader)[0] == 200
        assert_read_waits_for_write(server, writer, reader, hold)
    finally:
        hold.unlink(missing_ok=True)
        writer.close()
        reader.close()
        server.stop()


def test_a_read_waits_for_a_write_under_way_in_another_process(tmp_path: Path, hold: Path) -> None:
    server = make_server(tmp_path / "server", processes=2).start()
    connections: list[http.client.HTTPConnection] = []
    try:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        pids = server.children()
        assert len(pids) == 2
        # a connection held by each process: opened one at a time, each seen in the process that took it
        of: dict[int, http.client.HTTPConnection] = {}
        while len(of) < 2 and len(connections) < 20:
            before = connections_of(pids, server.port)
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            connections.append(connection)
            assert options(connection)[0] == 200
            after = connections_of(pids, server.port)
            took = [pid for pid, was, now in zip(pids, before, after, strict=True) if now > was]
            if len(took) == 1:
                of.setdefault(took[0], connection)
        assert len(of) == 2, "no connection was taken by one of the two processes"
        assert_read_waits_for_write(server, of[pids[0]], of[pids[1]], hold)
    finally:
        hold.unlink(missing_ok=True)
        for connection in connections:
            connection.close()
        server.stop()


@pytest.mark.parametrize(("method", "expected"), [("PUT", ["late reader", "writer"]),
                                                  ("GET", ["writer", "late reader"])])
def test_the_reads_of_a_request_that_writes_do_not_queue_behind_other_writes(
        tmp_path: Path, method: str, expected: list[str]) -> None:
    """Radicale reads the user's principal collection before every request; in a PUT (DELETE, MOVE...) that
    read passes the writers waiting for the storage lock (tests/storage/test_writers_first.py), in a GET it
    waits behind them."""
    lock = StorageLock(str(tmp_path / ".Radicale.lock"))

    def late(read) -> None:
        def application(environ: dict, start_response) -> list[bytes]:
            read()
            start_response("200 OK", [])
            return [b""]
        WritesFirst(application)({"REQUEST_METHOD": method, "PATH_INFO": "/alice/"}, lambda *a: None)

    assert order_of_a_late_reader(lock, late) == expected
