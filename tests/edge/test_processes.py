"""``radicale-ext serve --processes N``: several server processes on one address of one host (issue 17,
item 4; docs/scale-out.md, "Several processes on one host").

The server is started as an admin starts it (the ``radicale-ext`` console script's ``serve``); the
processes are counted in /proc (the parent's children), and which process answered a request is read
from the server's log, where Radicale names the process of every line.  Every request of these tests
is sent on a connection of its own (tests/server.py), so that whichever process accepts it answers.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from radicale_ext.plugins.storage import WritersFirst

from .. import dav_kit as dav
from ..notice_kit import servers_watch_marker
from ..samples import event
from ..server import (
    Server,
    children_of,
    connections_of,
    console_script,
    free_port,
    make_server,
    password,
    second_process,
)

CAL = "/alice/" + quote("Familie Müller 家庭 🎉") + "/"
ITEM = CAL + quote("Fußball training 足球.ics")
ANSWERED = re.compile(r"\[(\d+)/[^\]]+\] \[INFO\] PROPFIND response status")


def eventually(check: Callable[[], bool], seconds: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


def gone(pid: int) -> bool:
    """No such process any more (or only a zombie its parent has not reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def answering(server: Server) -> set[int]:
    """The processes that have answered a PROPFIND so far, by the server's log."""
    return {int(pid) for pid in ANSWERED.findall(server.log())}


@pytest.fixture(params=["files", "postgresql"])
def several(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """``radicale-ext serve --processes 3``, logging every request, on files or on PostgreSQL (a database of
    the test's own)."""
    storage = {} if request.param == "files" else {
        "storage": {"postgresql_dsn": request.getfixturevalue("postgres_database"), "postgresql_pool_size": "4"}}
    server = make_server(tmp_path / "server", processes=3, logging={"level": "info"}, **storage).start()
    yield server
    server.stop()


def test_every_process_answers_and_the_log_says_how_many_serve(several: Server) -> None:
    pids = several.children()
    assert len(pids) == 3
    eventually(lambda: "3 server processes serve" in several.log(), what="the parent's line")
    assert re.search(rf"3 server processes serve 127\.0\.0\.1:{several.port} \(pids "
                     + ", ".join(map(str, pids)) + r"\)", several.log()), several.log()[-2000:]
    assert several.log().count("the notice worker runs in") == 1   # one set of workers per host

    assert several.request("MKCALENDAR", CAL, "alice").status_code == 201
    put = several.request("PUT", ITEM, "alice", event("fussball", "Fußball 18:00"), headers=dav.ICS)
    assert put.status_code == 201
    # requests from several clients at once, each on a connection of its own: all three processes answer
    problems: list[str] = []

    def client() -> None:
        for _ in range(10):
            try:
                listed = dav.listing(several, CAL, "alice")
            except AssertionError as e:
                listed = {"failed": str(e)[:200]}
            if listed != {ITEM: put.headers["ETag"]}:
                problems.append(f"listed {listed}")

    deadline = time.monotonic() + 60
    while answering(several) != set(pids) and time.monotonic() < deadline:
        threads = [threading.Thread(target=client) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not problems, problems[:5]
    assert answering(several) == set(pids), (pids, answering(several))


def test_kept_alive_connections_are_shared_evenly(tmp_path: Path) -> None:
    """A connection stays with the process that took it; clients that connect together (phones after a
    network change, the benchmark's clients) are spread so that no process holds more than two more than
    another (without it, whichever process wakes first may take most of them and leave the cores idle)."""
    server = make_server(tmp_path / "server", processes=3).start()
    clients = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=30) for _ in range(60)]
    try:
        token = base64.b64encode(b"alice:" + password("alice").encode()).decode()
        for client in clients:
            client.request("PROPFIND", "/alice/", headers={"Authorization": f"Basic {token}", "Depth": "0"})
            answer = client.getresponse()
            answer.read()
            assert answer.status == 207 and not answer.will_close
        held = connections_of(server.children(), server.port)
        assert sum(held) == 60 and max(held) - min(held) <= 2, held
    finally:
        for client in clients:
            client.close()
        server.stop()


def test_a_lone_client_is_served_by_a_process_without_the_notice_worker(tmp_path: Path) -> None:
    """The notice worker (reminders, e-mail, push) is a thread of one server process and takes its share of
    that process's interpreter: a client alone on an idle host (a phone syncing, a bulk import) is given
    another process, each time it connects.  Several clients are shared as before (the test above)."""
    server = make_server(tmp_path / "server", processes=2, logging={"level": "info"}).start()
    token = base64.b64encode(b"alice:" + password("alice").encode()).decode()
    try:
        found = re.search(r"the notice worker runs in process \d+ of 2, pid (\d+)", server.log())
        assert found, server.log()
        worker = int(found.group(1))
        pids = [worker] + [pid for pid in server.children() if pid != worker]
        assert len(pids) == 2, pids
        for _ in range(3):
            time.sleep(1.5)   # every process has looked at the table since the last connection ended
            client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            client.request("PROPFIND", "/alice/", headers={"Authorization": f"Basic {token}", "Depth": "0"})
            answer = client.getresponse()
            answer.read()
            assert answer.status == 207
            assert connections_of(pids, server.port) == (0, 1)
            client.close()
            eventually(lambda: connections_of(pids, server.port) == (0, 0), what="the connections closed")
    finally:
        server.stop()


def test_a_process_that_ends_is_replaced_and_sigterm_ends_them_all(several: Server) -> None:
    assert several.request("MKCALENDAR", CAL, "alice").status_code == 201
    pids = several.children()
    killed = pids[0]
    os.kill(killed, signal.SIGKILL)
    # the others answer at once, the connections waiting to be accepted included
    for n in range(12):
        assert several.request("PUT", CAL + f"{n}.ics", "alice", event(f"e{n}", f"Ereignis {n} 🎂"),
                               headers=dav.ICS).status_code == 201
    eventually(lambda: killed not in several.children() and len(several.children()) == 3,
               what="a process in the place of the killed one")
    now = several.children()
    assert killed not in now and set(pids[1:]) <= set(now)
    eventually(lambda: "started again" in several.log(), what="the new process serving")
    assert f"(pid {killed}) ended (killed by SIGKILL); starting another" in several.log()
    assert several.log().count("the notice worker runs in") == 2   # the first process's replacement runs it
    assert len(dav.listing(several, CAL, "alice")) == 12

    assert several.proc is not None
    parent = several.proc
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(30) == 0
    assert all(gone(pid) for pid in now), [pid for pid in now if not gone(pid)]
    assert refuses_connections(several.port)
    assert "SIGTERM received: ending the 3 server processes" in several.log()
    several.proc = None


def test_the_server_processes_end_with_their_parent(tmp_path: Path) -> None:
    """A parent killed with SIGKILL (no chance to end them) leaves no server process behind."""
    server = make_server(tmp_path / "server", processes=2).start()
    assert server.proc is not None
    pids = server.children()
    server.proc.kill()
    server.proc.wait(10)
    try:
        eventually(lambda: all(gone(pid) for pid in pids), 20, "the server processes ending")
        # a process's leader is a zombie as soon as it ends; its other threads may hold the socket a moment longer
        eventually(lambda: refuses_connections(server.port), 10, "the address let go")
    finally:
        for pid in pids:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
    server.proc = None


def cores_of_threads(pid: int) -> list[set[int]]:
    """The cores each thread of process ``pid`` may run on (a thread that ends meanwhile left out)."""
    cores = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            cores.append(os.sched_getaffinity(int(tid)))
    return cores


def test_with_one_process_for_each_core_each_keeps_to_a_core_of_its_own(tmp_path: Path) -> None:
    """``--processes N`` with N the cores the server may use: each process, every thread of it, on a core of
    its own, said in the log; the parent, and the server with one process more than cores, on every core.
    (On a machine of one core there is no second core to give: the processes stay unbound.)"""
    cores = os.sched_getaffinity(0)
    server = make_server(tmp_path / "server", processes=len(cores), logging={"level": "info"}).start()
    try:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        assert server.request("PUT", ITEM, "alice", event("fussball", "Fußball 18:00"),
                              headers=dav.ICS).status_code == 201
        assert server.proc is not None
        assert all(threads == cores for threads in cores_of_threads(server.proc.pid))
        pids = server.children()
        if len(cores) > 1:
            held = [cores_of_threads(pid) for pid in pids]
            assert all(len(threads) > 1 and len({frozenset(t) for t in threads}) == 1 for threads in held), held
            assert sorted(min(threads[0]) for threads in held) == sorted(cores)
            assert all(len(threads[0]) == 1 for threads in held), held
            for pid in pids:
                assert re.search(rf"process \d of {len(cores)}, pid {pid} keeps to core \d", server.log()), \
                    server.log()[-2000:]
        else:
            assert all(threads == cores for pid in pids for threads in cores_of_threads(pid))
            assert "keeps to core" not in server.log()
        listed = dav.listing(server, CAL, "alice")
        assert list(listed) == [ITEM], listed
    finally:
        server.stop()
    more = make_server(tmp_path / "more", processes=len(cores) + 1).start()
    try:
        pids = more.children()
        assert len(pids) == len(cores) + 1
        assert all(set(map(frozenset, cores_of_threads(pid))) == {frozenset(cores)} for pid in pids)
        assert more.request("PROPFIND", "/alice/", "alice", headers={"Depth": "0"}).status_code == 207
    finally:
        more.stop()


def test_serve_runs_one_process_at_rest_up_to_one_per_core_under_load_unless_told(tmp_path: Path) -> None:
    """The default of ``radicale-ext serve`` is one process at rest and up to one per core it may use under
    load (tests/edge/test_helpers.py); ``--processes 1`` is one process always, ``--processes 2`` a parent
    and two processes always."""
    cores = len(os.sched_getaffinity(0))
    server = make_server(tmp_path / "server", logging={"level": "info"})
    for args, expected, said in ((["serve"], 0, f"(process 1, up to {cores} under load" if cores > 1 else ""),
                                 (["serve", "--processes", "1"], 0, ""),
                                 (["serve", "--processes", "2"], 2, "(process 2 of 2, pid")):
        with open(server.root / "server.log", "ab") as log:
            proc = subprocess.Popen([console_script(), "--config", str(server.config), *args], cwd=server.root,
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            eventually(lambda: not refuses_connections(server.port), what="listening")
            eventually(lambda proc=proc, expected=expected: len(children_of(proc.pid)) == expected,
                       what=f"{expected} processes")
            time.sleep(0.5)
            assert len(children_of(proc.pid)) == expected
            assert server.request("PROPFIND", "/alice/", "alice", headers={"Depth": "0"}).status_code == 207
            assert said in server.log()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def test_an_address_in_use_or_a_bad_count_is_one_line_and_exit_status_1(tmp_path: Path) -> None:
    server = make_server(tmp_path / "server")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", server.port))
        taken.listen()
        done = subprocess.run([console_script(), "--config", str(server.config), "serve", "--processes", "2"],
                              capture_output=True, text=True, timeout=60, cwd=server.root)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("radicale-ext: error: cannot serve on [server] hosts:")
    assert "Address already in use" in done.stderr
    done = subprocess.run([console_script(), "--config", str(server.config), "serve", "--processes", "0"],
                          capture_output=True, text=True, timeout=60, cwd=server.root)
    assert done.returncode == 2 and "give a whole number from 1, auto (one per core under load)" in done.stderr


def test_a_process_of_the_first_start_that_fails_ends_them_all(tmp_path: Path) -> None:
    """Server processes that cannot start (here: PostgreSQL is not there) end the parent too, exit 1,
    rather than being started again and again."""
    port = free_port()
    server = make_server(tmp_path / "server", storage={"postgresql_dsn": f"host=127.0.0.1 port={port} "
                                                                         "dbname=nowhere connect_timeout=2"})
    done = subprocess.run([sys.executable, "-m", "radicale_ext.plugins.server", "--config", str(server.config),
                           "--processes", "2"], capture_output=True, text=True, timeout=120, cwd=server.root)
    assert done.returncode == 1
    assert "cannot be reached" in done.stderr
    assert "ended before it served (exit status 1); ending the others" in done.stderr


# -- a process started while another writes ------------------------------------------------------------------

# Holds a write of the process started with RADICALE_EXT_TEST_HOLD_MARKER between its outbox record (pending)
# and the item's file, while the marker file exists.
HOLDER = textwrap.dedent("""
    import os, time
    from radicale_ext.notices import outbox

    _begin = outbox.Outbox.begin

    def begin(self, change):
        record = _begin(self, change)
        marker = os.environ.get("RADICALE_EXT_TEST_HOLD_MARKER")
        if marker and os.path.exists(marker):
            open(marker + ".reached", "w").close()
            while os.path.exists(marker):
                time.sleep(0.02)
        return record

    outbox.Outbox.begin = begin
""")


def lock_waiters(lock_file: Path) -> bool:
    """Does a process wait for the flock on ``lock_file`` (/proc/locks lists waiters with "->")?"""
    inode = f":{os.stat(lock_file).st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


def test_a_process_starting_while_another_writes_leaves_that_write_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server process settles, at its start, the outbox records a crash left pending; one started (or
    started again) while another process is half-way through a write must not take that write's record
    for a crash's (marking it recovered, warning of a crash): it settles under the storage's write lock,
    so it waits for the write to end, and then finds nothing pending."""
    marker = servers_watch_marker(HOLDER, tmp_path / "hold", "RADICALE_EXT_TEST_HOLD_MARKER", monkeypatch)
    writing = make_server(tmp_path / "server").start()
    monkeypatch.delenv("RADICALE_EXT_TEST_HOLD_MARKER")
    starting = None
    try:
        assert writing.request("MKCALENDAR", CAL, "alice").status_code == 201
        marker.touch()
        answers: list[requests.Response] = []
        put = threading.Thread(target=lambda: answers.append(dav.Client(writing.url).request(
            "PUT", ITEM, "alice", event("fussball", "Fußball 18:00"), headers=dav.ICS)))
        put.start()
        eventually(lambda: (tmp_path / "hold.reached").exists(), what="the write under way")
        # another server process on the same folder starts meanwhile (as one started again would)
        starting = second_process(writing, tmp_path / "second")
        with open(starting.root / "server.log", "ab") as log:
            starting.proc = subprocess.Popen([sys.executable, "-m", "radicale_ext.plugins.server", "--config",
                                              str(starting.config)], cwd=starting.root, stdout=log,
                                             stderr=subprocess.STDOUT)
        # the storage lock, or the turnstile a writer holds in front of it (radicale_ext/plugins/storage.py)
        locks = [writing.root / "data" / "collections" / name for name in (".Radicale.lock", WritersFirst.TURNSTILE)]
        eventually(lambda: any(lock_waiters(f) for f in locks) or not refuses_connections(starting.port), 60,
                   "the new process waiting for the storage lock, or serving")
        marker.unlink()
        put.join(30)
        assert answers and answers[0].status_code == 201, answers
        eventually(lambda: not refuses_connections(starting.port), 60, "the new process serving")
        records = writing.sharing_rows("SELECT state, kind, item, recovered FROM outbox WHERE item IS NOT NULL")
        assert records == [{"state": "ready", "kind": "item-created", "item": "Fußball training 足球.ics",
                            "recovered": 0}], records
        assert starting.request("GET", ITEM, "alice").status_code == 200
        assert "interrupted by a crash" not in starting.log()
    finally:
        if marker.exists():
            marker.unlink()
        if starting is not None:
            starting.stop()
        writing.stop()



# -- ending the processes ----------------------------------------------------------------------------------------


def test_a_process_that_does_not_end_on_sigterm_is_killed_after_the_stop_time(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The parent's forked processes and the first process's helpers are ended by one function; one that
    ignores SIGTERM (stuck) is killed, the log naming it, and the others end as asked."""
    from radicale_ext.plugins import processes

    monkeypatch.setattr(processes, "STOP_SECONDS", 0.5)
    stubborn = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); "
                "time.sleep(60)")
    helper = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE)
    pid = os.fork()
    if pid == 0:   # a forked server process that ends on SIGTERM
        time.sleep(60)
        os._exit(0)
    forked = processes.Forked(pid)
    assert helper.stdout is not None and helper.stdout.readline() == b"1\n"   # ignoring SIGTERM by now
    processes.end_in_time({"helper process 2": helper, "server process 1": forked})
    assert helper.returncode == -signal.SIGKILL
    assert forked.returncode == -signal.SIGTERM
    assert f"helper process 2 (pid {helper.pid}) did not end within 0.5 s: killing it" in caplog.text
    assert "server process 1" not in caplog.text
