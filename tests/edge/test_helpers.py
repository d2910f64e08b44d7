"""``radicale-ext serve --processes auto``: one server process at rest, helpers while it is busy, leaving when
idle (radicale_ext/plugins/helpers.py; docs/scale-out.md, "Several processes on one host").

The servers are started as an admin starts them (the console script's ``serve``), the processes counted in
/proc, the connections each holds read from /proc/net/tcp, and which process answered a request read from
the log, where Radicale names the process of every line.  Clients keep their connections alive, as phones
and the benchmark's clients do, so that the hand-over of connections already open is what moves them.
"""

from __future__ import annotations

import base64
import http.client
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from radicale_ext.plugins.helpers import FAILED_PAUSE, Answering, Helpers
from radicale_ext.plugins.processes import HAND_OVER_SECONDS, ProcessTable

from .. import dav_kit as dav
from ..samples import event
from ..server import Server, connections_of, console_script, make_server, password
from .test_processes import eventually, gone, refuses_connections

CAL = "/alice/" + quote("Familie Müller 家庭 🎉") + "/"
ANSWERED = re.compile(r"\[(\d+)/waitress[^\]]*\] \[INFO\] \w+ response status")
LEAVE_AFTER = 2


def answering(server: Server) -> set[int]:
    """The processes that have answered a request so far, by the server's log."""
    return {int(pid) for pid in ANSWERED.findall(server.log())}


def on_demand(root: Path, leave_after: float = LEAVE_AFTER, **overrides: dict[str, str]) -> Server:
    server = make_server(root, processes="auto:2", logging={"level": "info"}, **overrides)
    server.serve_args = ("--helpers-leave-after", f"{leave_after:g}")
    server.session.headers.pop("Connection", None)
    return server.start()


def authorization(user: str = "alice") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password(user)}".encode()).decode()}


@pytest.fixture(params=["files", "postgresql"])
def storage(request: pytest.FixtureRequest) -> dict[str, dict[str, str]]:
    if request.param == "files":
        return {}
    return {"storage": {"postgresql_dsn": request.getfixturevalue("postgres_database"), "postgresql_pool_size": "4"}}


@pytest.fixture
def server(tmp_path: Path, storage: dict[str, dict[str, str]]) -> Iterator[Server]:
    started = on_demand(tmp_path / "server", **storage)
    yield started
    started.stop()


# -- the table: handing a connection over --------------------------------------------------------------------


def test_a_connection_is_handed_over_where_another_process_holds_two_fewer_or_the_worker_has_a_lone_client(
) -> None:
    first = ProcessTable.made(2, slot=0)
    second = ProcessTable(first.fd, 2, 1)
    try:
        first.runs_notice_worker = True
        assert not first.hand_over(1)       # no other process has said anything: nowhere to hand over to
        assert second.may_accept(0)
        assert first.hand_over(1)           # the worker's process holds the one client; the other holds none
        assert not first.hand_over(1)       # one at a time ...
        assert not first.may_accept(0)      # ... and the client connecting again goes to the other process
        time.sleep(HAND_OVER_SECONDS)
        second.may_accept(1)
        assert not first.hand_over(1)       # one each
        first.runs_notice_worker = False
        assert not first.hand_over(2)       # one more than the other: as close as an odd number gets
        assert first.hand_over(3)           # two more: a process that started after the clients connected
        assert not second.hand_over(1)
    finally:
        os.close(first.fd)


# -- the first process's decision, with an injected clock and time answering ----------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.answering = 0.0

    def tick(self, seconds: float, share: float) -> None:
        """``seconds`` pass, ``share`` of them with a request in hand."""
        self.now += seconds
        self.answering += seconds * share


# a helper that says it serves (one byte to the ready pipe its --helper spec names) and waits to be ended
SAYS_READY = "import os, sys, time; os.write(int(sys.argv[-1].split(',')[3]), b'1'); time.sleep(60)"


def test_a_helper_starts_when_the_first_process_answers_half_the_time_and_the_next_waits_after_one_failed(
        caplog: pytest.LogCaptureFixture) -> None:
    """The helper's command here exits at once with status 3, as one that cannot reach its database does."""
    clock = Clock()
    helpers = Helpers([sys.executable, "-c", "import sys; sys.exit(3)"], 2, [],
                      clock=lambda: clock.now, answering=lambda: clock.answering)
    caplog.set_level(logging.INFO, logger="radicale")
    try:
        helpers.table.may_accept(1)          # one client: a phone syncing now and then
        for _ in range(8):
            clock.tick(0.25, 0.2)
            helpers.step()
        assert not helpers.running
        assert 0.15 < helpers.busy_share() < 0.25
        for _ in range(4):                   # ... then requests back to back: a bulk import
            clock.tick(0.25, 0.9)
            helpers.step()
        assert list(helpers.running) == [1]
        # two quarters of a second at 90% after two at 20%: the last second's share passed a half
        assert "starting helper process 2 of 2" in caplog.text
        assert "process 1 had a request in hand 55% of the last 1 s" in caplog.text
        eventually(lambda: helpers.running[1].proc.poll() is not None, 10, "the helper's exit")
        helpers.step()                       # noted: ended before it served
        assert not helpers.running
        assert "ended before it served (exit status 3); the next starts no sooner than in 30 s" in caplog.text
        for _ in range(int(FAILED_PAUSE / 0.25) - 1):   # busy still, but the pause holds
            clock.tick(0.25, 0.9)
            helpers.table.may_accept(1)
            helpers.step()
        assert not helpers.running
        clock.tick(0.5, 0.9)
        helpers.step()
        assert list(helpers.running) == [1]
    finally:
        helpers.stop()
        os.close(helpers.table.fd)


def test_another_helper_only_when_every_helper_holds_two_connections_and_none_without_a_client(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    helpers = Helpers([sys.executable, "-c", SAYS_READY], 3, [],
                      clock=lambda: clock.now, answering=lambda: clock.answering)
    caplog.set_level(logging.INFO, logger="radicale")
    second = ProcessTable(helpers.table.fd, 3, 1)
    try:
        helpers.table.may_accept(0)          # answering all the time, but no connection held: nothing to share
        for _ in range(8):
            clock.tick(0.25, 1.0)
            helpers.step()
        assert not helpers.running
        helpers.table.may_accept(3)
        clock.tick(0.25, 1.0)
        helpers.step()
        assert list(helpers.running) == [1]
        eventually(lambda: (helpers.step(), helpers.running[1].ready)[1], 20, "the helper ready")
        second.may_accept(1)                 # the helper has room for more: the first process hands them over
        for _ in range(8):
            clock.tick(0.25, 1.0)
            helpers.step()
        assert list(helpers.running) == [1]
        second.may_accept(2)
        clock.tick(0.25, 1.0)
        helpers.step()
        assert sorted(helpers.running) == [1, 2]
        assert "starting helper process 3 of 3" in caplog.text
        assert "every helper holding two connections or more" in caplog.text
    finally:
        helpers.stop()
        os.close(helpers.table.fd)


def test_answering_counts_the_seconds_with_a_request_in_hand_once_however_many_overlap() -> None:
    clock = Clock()

    def application(environ: dict, start_response: object) -> list[bytes]:
        clock.now += 0.1
        if environ.get("inner"):
            answering({}, start_response)   # a second request, under way meanwhile
        clock.now += 0.1
        return [b""]

    answering = Answering(application, clock=lambda: clock.now)
    answering({}, None)
    assert answering.seconds() == pytest.approx(0.2)
    clock.now += 5                           # idle: not counted
    answering({"inner": True}, None)         # 0.1, then 0.2 of both, then 0.1
    assert answering.seconds() == pytest.approx(0.6)


# -- real servers ---------------------------------------------------------------------------------------------


def test_one_process_at_rest_a_helper_under_load_and_it_leaves_when_idle(server: Server) -> None:
    assert server.proc is not None
    first = server.proc.pid
    assert server.children() == []   # at rest: one process, no parent
    assert re.search(r"listening on 127\.0\.0\.1:\d+ \(process 1, up to 2 under load", server.log())
    assert server.request("MKCALENDAR", CAL, "alice").status_code == 201

    # four family members' phones at once, each on a connection it keeps, writing and listing
    problems: list[str] = []
    written: dict[str, str] = {}
    stop = threading.Event()

    def phone(n: int) -> None:
        session = requests.Session()
        session.trust_env = False
        session.auth = ("alice", password("alice"))
        i = 0
        while not stop.is_set():
            href = CAL + quote(f"Geburtstag {n}-{i} 🎂.ics")
            put = session.put(server.url + href, data=event(f"uid-{n}-{i}", f"Geburtstag Jürgen {n}-{i} 🎂"),
                              headers=dav.ICS, timeout=60)
            if put.status_code != 201:
                problems.append(f"PUT {put.status_code}")
            written[href] = put.headers.get("ETag", "")
            listed = session.request("PROPFIND", server.url + CAL, headers={"Depth": "1"}, timeout=60)
            if listed.status_code != 207:
                problems.append(f"PROPFIND {listed.status_code}")
            i += 1
        session.close()

    phones = [threading.Thread(target=phone, args=(n,)) for n in range(4)]
    for thread in phones:
        thread.start()
    try:
        eventually(lambda: len(server.children()) == 1, 30, "a helper started")
        helper = server.children()[0]
        eventually(lambda: helper in answering(server), 30, "the helper answering (handed connections)")
        held = connections_of([first, helper], server.port)
        assert sum(held) == 4 and min(held) >= 1, held   # the phones' connections shared
    finally:
        stop.set()
        for thread in phones:
            thread.join(60)
    assert not problems, problems[:5]
    assert answering(server) == {first, helper}
    assert re.search(rf"starting helper process 2 of 2 \(pid {helper}\): process 1 had a request in hand \d+% of the "
                     "last 1 s", server.log())
    # what was written through both processes is one calendar
    assert dav.listing(server, CAL, "alice") == written

    # quiet: the helper leaves, and the first process answers alone
    eventually(lambda: gone(helper), LEAVE_AFTER + 10, "the helper leaving")
    assert f"helper process 2 of 2, pid {helper} leaves: no connection for {LEAVE_AFTER} s" in server.log()
    assert server.children() == []
    href = next(iter(written))
    assert server.request("GET", href, "alice").status_code == 200
    assert "Traceback" not in server.log()

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0
    server.proc = None


def test_a_lone_client_that_keeps_the_first_process_busy_is_handed_to_a_helper(tmp_path: Path) -> None:
    """A bulk import from one client: the first process (which runs the notice worker) is busy, a helper
    starts, and the client's next connection, after an answer saying ``Connection: close``, is the helper's."""
    server = on_demand(tmp_path / "server", leave_after=30)
    try:
        assert server.proc is not None
        first = server.proc.pid
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        closes = 0
        deadline = time.monotonic() + 60
        n = 0
        looked = time.monotonic()

        def handed() -> bool:
            """The client's connection is the helper's (looked at twice a second: reading /proc between every
            two requests would leave the server idle half the time, which is no bulk import)."""
            nonlocal looked
            if time.monotonic() - looked < 0.5:
                return False
            looked = time.monotonic()
            return bool(server.children()) and connections_of([first, server.children()[0]], server.port) == (0, 1)

        while not handed():
            assert time.monotonic() < deadline, server.log()[-3000:]
            client.request("PUT", CAL + quote(f"Import {n} 家庭.ics"), event(f"import-{n}", f"Import {n} Müller"),
                           {**authorization(), **dav.ICS})
            answer = client.getresponse()
            answer.read()
            assert answer.status == 201, answer.status
            if answer.will_close:
                closes += 1
                client.close()
                client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            n += 1
        helper = server.children()[0]
        # one close moves it; a second where the first process, polling already, took the new connection back
        assert 1 <= closes <= 3, closes
        assert re.search(rf"starting helper process 2 of 2 \(pid {helper}\): process 1 had a request in hand \d+% "
                         "of the last 1 s", server.log())
        before = server.log().count(f"[{helper}/")
        for m in range(5):   # the client stays with the helper
            client.request("GET", CAL + quote(f"Import {m} 家庭.ics"), headers=authorization())
            answer = client.getresponse()
            answer.read()
            assert answer.status == 200 and not answer.will_close
        assert server.log().count(f"[{helper}/") > before
        assert connections_of([first, helper], server.port) == (0, 1)
        client.close()
    finally:
        server.stop()


def start_a_helper(server: Server) -> int:
    """Two clients asking back to back keep the first process answering: a helper starts; its pid."""
    stop = threading.Event()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        while not stop.is_set():
            connection.request("PROPFIND", "/alice/", headers={**authorization(), "Depth": "1"})
            answer = connection.getresponse()
            answer.read()
            if answer.will_close:
                connection.close()
        connection.close()

    clients = [threading.Thread(target=client) for _ in range(2)]
    for thread in clients:
        thread.start()
    try:
        eventually(lambda: len(server.children()) == 1, 30, "a helper started")
        pid = server.children()[0]
        eventually(lambda: f"(helper process 2 of 2, pid {pid})" in server.log(), 30, "the helper listening")
    finally:
        stop.set()
        for thread in clients:
            thread.join(60)
    return pid


def test_sigterm_ends_the_helpers_and_the_first_process(tmp_path: Path) -> None:
    server = on_demand(tmp_path / "server", leave_after=60)
    assert server.proc is not None
    helper = start_a_helper(server)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0
    eventually(lambda: gone(helper), 20, "the helper ending")
    assert refuses_connections(server.port)
    assert "SIGTERM received: ending 1 helper processes and this one" in server.log()
    server.proc = None


def test_helpers_end_with_the_first_process_even_when_it_is_killed(tmp_path: Path) -> None:
    server = on_demand(tmp_path / "server", leave_after=60)
    assert server.proc is not None
    helper = start_a_helper(server)
    server.proc.kill()
    server.proc.wait(10)
    try:
        eventually(lambda: gone(helper), 20, "the helper ending")
        eventually(lambda: refuses_connections(server.port), 10, "the address let go")
    finally:
        if not gone(helper):
            os.kill(helper, signal.SIGKILL)
    server.proc = None


def test_a_bad_processes_or_leave_time_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    server = make_server(tmp_path / "server")
    for args, said in ((["--processes", "auto:0"], "give a whole number from 1, auto"),
                       (["--processes", "automatic"], "give a whole number from 1, auto"),
                       (["--helpers-leave-after", "-5"], "give a number of seconds above 0"),
                       (["--helpers-leave-after", "soon"], "give a number of seconds above 0")):
        done = subprocess.run([console_script(), "--config", str(server.config), "serve", *args],
                              capture_output=True, text=True, timeout=60, cwd=server.root)
        assert done.returncode == 2, (args, done.stderr)
        assert said in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr
