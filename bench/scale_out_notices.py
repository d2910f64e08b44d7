"""Notices delivered by several ``radicale-ext worker`` processes from one PostgreSQL (see run_scale_out.py).

For each number of workers, afresh: a server on a new PostgreSQL database
(``[hook] notices_worker = none``, so only the workers deliver; a window of
0, so each change is a notice of its own) whose alice shares her calendar
with a circle of ``members`` (``run_notices.club_server``); ``changes`` PUTs
into it, composed and handed out in this process (``run_notices.hand_out``):
``changes x members`` e-mail deliveries queued.  Then the SMTP server
(``mail_sink``, aiosmtpd in its own process) and the workers start, and the
clock runs until no delivery is queued.  The messages the SMTP server
received are counted by recipient and ``Message-ID`` (the delivery's
idempotency key): each queued delivery must arrive exactly once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mail_sink import MailSink, Received
from run_notices import club_server, hand_out, put, worker_on

from radicale_ext.notices.delivery import idempotency_key
from tests.postgres_cluster import Cluster
from tests.server import Server, free_port

SENDER = "calendar@example.org"
POLL = 0.05  # seconds between two looks at the queue


@dataclass(frozen=True)
class Delivered:
    """One run of ``workers`` workers, and what its checks found."""

    workers: int
    queued: int  # e-mail deliveries queued before the workers started
    states: dict[str, int]  # deliveries by state afterwards
    seconds: float | None  # from starting the workers until none was queued; None: not within the budget
    received: Received
    duplicates: int  # messages beyond the first for one (recipient, Message-ID)
    lost: int  # queued deliveries whose message never arrived
    unexpected: int  # messages for no queued delivery
    handed_out: float  # seconds to compose and queue them (untimed part)
    started: float  # time.time() when the workers were started

    @property
    def first_after(self) -> float:
        """Seconds from starting the workers to the first message received: their start-up."""
        return self.received.first() - self.started if self.received.count else 0.0

    @property
    def delivered(self) -> int:
        return self.states.get("delivered", 0)

    @property
    def exactly_once(self) -> bool:
        return (self.seconds is not None and self.delivered == self.queued == self.received.count
                and not (self.duplicates or self.lost or self.unexpected))

    @property
    def rate(self) -> float:
        return self.queued / self.seconds if self.seconds else 0.0


def worker_command(server: Server) -> list[str]:
    """``radicale-ext --config ... worker``, the installed console script beside this Python."""
    exe = shutil.which("radicale-ext", path=os.path.dirname(sys.executable))
    if exe is None:
        raise RuntimeError(f"no radicale-ext console script beside {sys.executable}: install the project "
                           "(./dev test tests/test_layout.py makes .venv)")
    return [exe, "--config", str(server.config), "worker"]


def start_workers(server: Server, count: int, folder: Path) -> list[subprocess.Popen]:
    workers = []
    for i in range(count):
        with open(folder / f"worker-{i}.log", "ab") as log:
            workers.append(subprocess.Popen(worker_command(server), cwd=server.root, stdout=log,
                                            stderr=subprocess.STDOUT))
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_until_delivered(server: Server, workers: list[subprocess.Popen], budget: float, folder: Path) -> float | None:
    """The time.monotonic() when no delivery was queued any more; None when the budget ran out first."""
    conn = server.sharing_db()
    try:
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            if conn.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'queued'").fetchone()[0] == 0:
                return time.monotonic()
            conn.commit()
            gone = [w for w in workers if w.poll() is not None]
            if gone:
                logs = "\n".join((folder / f"worker-{i}.log").read_text(errors="replace")[-1000:]
                                 for i in range(len(workers)))
                raise RuntimeError(f"{len(gone)} worker(s) exited (status {gone[0].returncode}):\n{logs}")
            time.sleep(POLL)
        return None
    finally:
        conn.close()


def expected_messages(server: Server) -> set[tuple[str, str]]:
    """(recipient, idempotency key) of every queued e-mail delivery."""
    rows = server.sharing_rows("SELECT notice_id, recipient FROM deliveries WHERE channel = 'email' "
                               "AND state = 'queued'")
    return {(r["recipient"], idempotency_key(r["notice_id"], r["recipient"], "email")) for r in rows}


def checked(expected: set[tuple[str, str]], received: Received) -> tuple[int, int, int]:
    """(duplicates, lost, unexpected): the messages received, by recipient and Message-ID, against the queue."""
    got: Counter[tuple[str, str]] = Counter()
    for (recipient, message_id), count in received.by_recipient_and_id().items():
        got[(recipient, message_id.partition("@")[0])] += count
    duplicates = sum(count - 1 for key, count in got.items() if key in expected and count > 1)
    lost = sum(1 for key in expected if key not in got)
    unexpected = sum(count for key, count in got.items() if key not in expected)
    return duplicates, lost, unexpected


def deliver(workers: int, cluster: Cluster, work: Path, members: int, changes: int, budget: float) -> Delivered:
    """One run: ``changes x members`` e-mails queued, then delivered by ``workers`` worker processes."""
    folder = work / f"notices-{workers}-workers"
    port = free_port()
    storage = {"postgresql_dsn": cluster.create_database(f"notices_{workers}_workers")}
    server = club_server(folder, members, storage=storage, notices_worker="none", notices_window="0",
                         smtp_server="127.0.0.1", smtp_port=str(port), from_email=SENDER)
    try:
        for i in range(changes):
            put(server, f"Änderung {i} 🎉")
        handed_out = hand_out(worker_on(server).notices)
        expected = expected_messages(server)
        if len(expected) != changes * members:
            raise RuntimeError(f"{len(expected)} e-mail deliveries queued for {changes} changes x {members} members")
        with MailSink(folder, port) as sink:
            began, started = time.monotonic(), time.time()
            running = start_workers(server, workers, folder)
            try:
                done = wait_until_delivered(server, running, budget, folder)
            finally:
                stop_workers(running)
        states = {r["state"]: r["n"] for r in
                  server.sharing_rows("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")}
    finally:
        server.stop()
    return Delivered(workers, len(expected), states, None if done is None else done - began, sink.received,
                     *checked(expected, sink.received), handed_out, started)
