"""2 processes against 1 on one host (issue 17, item 4): the mixed load on ``radicale-ext serve --processes 1``
and ``--processes 2``, on the same data, one after the other in one run.

    python bench/run_processes.py            # 1,000 events, 8 clients, 3 rounds of 30 s each, files and
                                             # PostgreSQL, with and without PUTs (about 17 minutes);
                                             # writes bench/RESULTS.md
    python bench/run_processes.py --quick    # smoke run (about 2 minutes): prints only
    python bench/run_processes.py --storage files --mixes mixed --rounds 5 --no-write

For each storage (the embedded default, files + SQLite; and PostgreSQL, a private cluster of
tests/postgres_cluster.py) one data folder is loaded once as bench/run_speed.py loads it (a calendar of
--items events and an address book of as many cards, bench/speed_servers.py); then, --rounds times, the
server is started with 1 and with 2 processes (``radicale-ext --config ... serve --processes N``, the
order alternating from round to round), warmed (a listing, a week's query and a sync on fresh
connections, so that each process has read the calendar), and loaded for --seconds by --clients client
processes looping over bench/speed_load.py's mix (MIX), each with one keep-alive connection to the one
address: which process answers a client is the one that accepted its connection.

Beside the mix itself, the same mix without its PUTs is measured the same way (a reference row with no
target: ``--mixes mixed`` leaves it out): every write holds the storage's one lock exclusively, against
every request of every process, and the two rows side by side show how much of the difference that makes.

Reported per setup: requests per second (the median of the rounds, and each round's), the ratio of
2 processes to 1 (target: at least 1.6), latency median (p90), errors, how busy the machine's cores
were (/proc/stat), the processor time each server process used (/proc/PID/stat: one process can use
at most one core for Python, the GIL), on PostgreSQL the processor time of the cluster's processes (its
backends serve the servers' pools), and how many client connections each process held halfway
through the load (/proc/net/tcp).  The exit status is 1 when a request failed or a ratio is below 1.6;
the table is written either way.

Each server process also adds up how long it waited for and held the storage lock
(bench/lock_timing/sitecustomize.py, put on the servers' PYTHONPATH; --no-lock-times leaves it out): the
details say, per round, how much of the time the write lock was held (no other request of any process
reads or writes meanwhile), how much of a hold the writing thread was on a processor (the rest it waited for
its process's interpreter or the kernel), and how long a read and a write waited for it.  (On PostgreSQL a
read's shared lock is taken with its first query, so a read's wait is counted in its hold.)

A slow disk (an SD card, a disk shared with other machines) is stood in for by --fsync-ms (every fsync of
the servers waits that long first); --folder-fsync-in-lock runs our own path without session 27's change
(a PUT's folder fsync inside the write lock, the write waited for until it ends), for the same run with and
without it:

    python bench/run_processes.py --storage files --mixes mixed --rounds 2 --fsync-ms 10
    python bench/run_processes.py --storage files --mixes mixed --rounds 2 --fsync-ms 10 --folder-fsync-in-lock
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

import speed_load  # noqa: E402
from results import add_run_options, machine_line, ms, publish, quick_applied, work_folder  # noqa: E402
from run_scale_out import CpuTimes  # noqa: E402
from speed_client import Site  # noqa: E402
from speed_load import MIX, START_DELAY, MixedResult, mixed_load  # noqa: E402
from speed_servers import load_radicale, radicale_site, settle_seconds  # noqa: E402

from tests.postgres_cluster import Cluster, start_cluster  # noqa: E402
from tests.server import Server, children_of, connections_of, make_server  # noqa: E402

TARGET = 1.6
MIXES = {"mixed": "the mix", "reads": "the mix without its PUTs"}
LOCK_TIMING = Path(__file__).resolve().parent / "lock_timing"
STORAGES = ("files", "postgresql")
STORAGE_NAMES = {"files": "embedded default (files + SQLite)", "postgresql": "PostgreSQL"}
QUICK = {"items": 200, "clients": 4, "seconds": 4.0, "rounds": 1}
WARM_ROUNDS = 4  # per process: fresh connections land on either process


@dataclass(frozen=True)
class Round:
    processes: int
    result: MixedResult
    cpu_busy: float                  # share of all cores' time busy while the clients ran
    server_cpu: tuple[float, ...]    # processor seconds of each server process during the load
    client_cpu: float                # processor seconds of the client processes
    connections: tuple[int, ...]     # client connections each server process held halfway through
    locks: dict[str, list[float]] = field(default_factory=dict)   # mode: [times, s waited, s held, s of it on CPU]
    database_cpu: float | None = None   # processor seconds of PostgreSQL's processes (None: the files)

    def lock_line(self, seconds: float) -> str:
        if not self.locks:
            return ""
        r, w = self.locks.get("r", [0, 0.0, 0.0, 0.0]), self.locks.get("w", [0, 0.0, 0.0, 0.0])
        return (f"; storage lock: the write lock held {w[2] / seconds:.0%} of the time ({w[0]:.0f} times, "
                f"{w[2] / max(w[0], 1) * 1000:.1f} ms each, the writing thread on a processor "
                f"{w[3] / max(w[0], 1) * 1000:.1f} ms of it), a write waited {w[1] / max(w[0], 1) * 1000:.1f} ms, "
                f"a read waited {r[1] / max(r[0], 1) * 1000:.1f} ms and held it {r[2] / max(r[0], 1) * 1000:.1f} ms")

    def per_request_ms(self, seconds: float) -> float:
        return seconds * 1000 / self.result.requests if self.result.requests else 0.0


@dataclass
class Setup:
    storage: str
    mix: str = "mixed"
    rounds: dict[int, list[Round]] = field(default_factory=lambda: {1: [], 2: []})

    def rate(self, processes: int) -> float:
        return statistics.median(r.result.rate for r in self.rounds[processes]) if self.rounds[processes] else 0.0

    @property
    def ratio(self) -> float:
        return self.rate(2) / self.rate(1) if self.rate(1) else 0.0

    @property
    def errors(self) -> int:
        return sum(r.result.errors for rounds in self.rounds.values() for r in rounds)


def cpu_seconds(pid: int) -> float:
    """User and system time of ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """User and system time of this process's children that ended and were waited for (the clients)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def database_cpu(cluster: Cluster | None) -> float | None:
    """User and system time so far of the private cluster's postmaster and of its processes (its backends, one per
    connection of the servers' pools, last the whole load); None without a cluster."""
    if cluster is None:
        return None
    postmaster = int((cluster.folder / "data" / "postmaster.pid").read_text().split()[0])
    return sum(map(cpu_seconds, [postmaster, *children_of(postmaster)]))


def server_pids(server: Server) -> list[int]:
    """The processes that serve: the parent's children (``--processes 2``), or the process and the helpers it
    started (``auto:2``, plugins/helpers.py), or the one process."""
    assert server.proc is not None
    if server.processes == 1:
        return [server.proc.pid]
    helpers = str(server.processes).startswith("auto")
    return [server.proc.pid, *children_of(server.proc.pid)] if helpers else children_of(server.proc.pid)


@contextmanager
def serving(server: Server, processes: int, two: str = "2"):
    """``serve --processes 1``, or with 2: ``--processes`` ``two`` (2, always; auto:2, a helper under load)."""
    server.processes = 1 if processes == 1 else (int(two) if two.isdigit() else two)
    server.start()
    try:
        yield
    finally:
        server.stop()


def warm(site: Site, processes: int) -> None:
    """A listing, a week's query and a sync, each on a fresh connection, several times per process."""
    for _ in range(WARM_ROUNDS * processes):
        for ask in ("etags", "week", "sync"):
            client = site.client()
            if ask == "etags":
                client.etags(site)
            elif ask == "week":
                client.week(site, "20260302T000000Z", "20260309T000000Z")
            else:
                client.sync(site, client.sync_token(site))
            client.close()


def lock_sums(folder: Path | None) -> dict[str, list[float]]:
    """The storage lock's sums (bench/lock_timing) of every server process so far, added together."""
    total: dict[str, list[float]] = {}
    for file in folder.glob("*.json") if folder else ():
        for mode, line in json.loads(file.read_text() or "{}").items():
            total[mode] = [a + b for a, b in zip(total.get(mode, [0, 0.0, 0.0, 0.0]), line, strict=True)]
    return total


@contextmanager
def lock_timing(work: Path, name: str, args: argparse.Namespace):
    """With ``args.lock_times``: the servers started inside write their lock sums to a folder of their own;
    with ``args.fsync_ms`` or ``args.folder_fsync_in_lock``, they run with that aid (bench/lock_timing)."""
    aids = {"SLOW_FSYNC_MS": f"{args.fsync_ms:g}" if args.fsync_ms else None,
            "FOLDER_FSYNC_IN_LOCK": "1" if args.folder_fsync_in_lock else None}
    folder = work / f"locks-{name}" if args.lock_times else None
    if folder is None and not any(aids.values()):
        yield None
        return
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "LOCK_TIMING_DIR", *aids)}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LOCK_TIMING), saved["PYTHONPATH"]]))
    if folder is not None:
        folder.mkdir()
        os.environ["LOCK_TIMING_DIR"] = str(folder)
    os.environ.update({k: v for k, v in aids.items() if v})
    try:
        yield folder
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def one_round(server: Server, site: Site, processes: int, args: argparse.Namespace, work: Path, name: str,
              cluster: Cluster | None) -> Round:
    with lock_timing(work, name, args) as folder, serving(server, processes, args.two):
        warm(site, processes)
        time.sleep(1.2 if folder else 0)   # the sums of the warming are written
        locks_before = lock_sums(folder)
        held: list[tuple[int, ...]] = []
        sampler = threading.Timer(START_DELAY + args.seconds / 2,
                                  lambda: held.append(connections_of(server_pids(server), site.port)))
        before_cpu, before, clients_before = {p: cpu_seconds(p) for p in server_pids(server)}, CpuTimes.now(), \
            children_cpu()
        database_before = database_cpu(cluster)
        sampler.start()
        result = mixed_load(site, args.items, args.clients, args.seconds)
        busy = CpuTimes.now().busy_since(before)
        # a helper started during the load (auto:2) counts from its start
        used = tuple(cpu_seconds(p) - before_cpu.get(p, 0.0) for p in server_pids(server))
        clients = children_cpu() - clients_before   # the client processes have ended and been waited for
        database_after = database_cpu(cluster)
        sampler.join()
        time.sleep(1.2 if folder else 0)
        locks = {mode: [a - b for a, b in zip(line, locks_before.get(mode, [0, 0.0, 0.0]), strict=True)]
                 for mode, line in lock_sums(folder).items()}
    database = None if database_after is None or database_before is None else database_after - database_before
    return Round(processes, result, busy, used, clients, held[0] if held else (), locks, database)


@contextmanager
def mixed_as(mix: str):
    """speed_load's MIX for the clients forked meanwhile: as it is, or without its PUTs."""
    kept = speed_load.MIX
    if mix == "reads":
        speed_load.MIX = tuple((kind, 0 if kind == "put" else weight, what) for kind, weight, what in kept)
    try:
        yield
    finally:
        speed_load.MIX = kept


def measure(storage: str, args: argparse.Namespace, work: Path, cluster: Cluster | None) -> list[Setup]:
    overrides = {}
    if storage == "postgresql":
        assert cluster is not None
        overrides["storage"] = {"postgresql_dsn": cluster.create_database("processes")}
    server = make_server(work / storage, users=("alice",), **overrides)
    site = radicale_site(STORAGE_NAMES[storage], server)
    its_database = cluster if storage == "postgresql" else None
    print(f"{STORAGE_NAMES[storage]}: loading {args.items:,} events and cards", flush=True)
    with serving(server, 1):
        load_radicale(site, args.items, server)
        time.sleep(settle_seconds())  # the files: ours re-checks just-written files until they settle
    setups = []
    for mix in args.mixes:
        setup = Setup(storage, mix)
        with mixed_as(mix):
            for n in range(args.rounds):
                for processes in ((1, 2) if n % 2 == 0 else (2, 1)):
                    loaded = one_round(server, replace(site), processes, args, work,
                                       f"{storage}-{mix}-{processes}-{n + 1}", its_database)
                    setup.rounds[processes].append(loaded)
                    print(f"  {MIXES[mix]}, round {n + 1}, {processes} process{'es' if processes > 1 else ''}: "
                          f"{loaded.result.cell()}; cores busy {loaded.cpu_busy:.0%}; server CPU s "
                          f"{', '.join(f'{s:.1f}' for s in loaded.server_cpu)}; client CPU s {loaded.client_cpu:.1f}; "
                          f"connections {loaded.connections}", flush=True)
        setups.append(setup)
    return setups


def table(setups: list[Setup]) -> list[str]:
    lines = ["| storage | load | 1 process, req/s | 2 processes, req/s | 2 vs 1 | target | errors |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for s in setups:
        target = f"{TARGET}x: {'PASS' if s.ratio >= TARGET else 'FAIL'}" if s.mix == "mixed" else "(reference)"
        lines.append(f"| {STORAGE_NAMES[s.storage]} | {MIXES[s.mix]} | {s.rate(1):.1f} | {s.rate(2):.1f} "
                     f"| {s.ratio:.2f}x | {target} | {s.errors} |")
    return lines


def details(setups: list[Setup], seconds: float) -> list[str]:
    lines = []
    for s in setups:
        for processes in (1, 2):
            for n, r in enumerate(s.rounds[processes], start=1):
                shares = "; ".join(f"process {i + 1}: {cpu:.1f} s CPU ({cpu / seconds:.0%} of a core)"
                                   + (f", {r.connections[i]} connections" if i < len(r.connections) else "")
                                   for i, cpu in enumerate(r.server_cpu))
                latency = ms(r.result.tally.seconds) if r.result.tally.seconds else "-"
                lines.append(f"- {STORAGE_NAMES[s.storage]}, {MIXES[s.mix]}, "
                             f"{processes} process{'es' if processes > 1 else ''}, "
                             f"round {n}: {r.result.rate:.1f} req/s, latency median (p90) {latency} ms, "
                             f"{r.result.errors} errors; cores busy {r.cpu_busy:.0%}; {shares}; processor time "
                             f"per request: servers {r.per_request_ms(sum(r.server_cpu)):.2f} ms, "
                             + (f"PostgreSQL {r.per_request_ms(r.database_cpu):.2f} ms, " if r.database_cpu is not None
                                else "")
                             + f"clients {r.per_request_ms(r.client_cpu):.2f} ms{r.lock_line(seconds)}")
                lines += [f"  - {m}" for m in r.result.tally.error_lines()]
    return lines


def render(args: argparse.Namespace, setups: list[Setup], seconds: float, load_before: tuple[float, ...]) -> str:
    command = " ".join(["python bench/run_processes.py", *sys.argv[1:]])
    lines = [
        f"Run of {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `{command}` ({seconds / 60:.1f} min)",
        "",
        machine_line(load_before) + f", {' '.join(f'{x:.2f}' for x in os.getloadavg())} after",
        f"- ours: `radicale-ext --config ... serve --processes 1` and `--processes {args.two}` (one address; "
        + ("with 2, a parent and two server processes accepting from it" if args.two == "2" else
           "with auto:2, one process and a helper it starts under load, plugins/helpers.py")
        + "), config/radicale.ini as tests/server.py writes it; PostgreSQL: a private "
        "cluster on the same machine (tests/postgres_cluster.py, fsync off), `[storage] postgresql_dsn`",
        f"- data: {args.items:,} events and {args.items:,} cards loaded once per storage as bench/run_speed.py "
        f"loads them; {args.rounds} round(s) of {args.seconds:g} s per setup, 1 and 2 processes alternating; "
        f"{args.clients} client processes, each one keep-alive connection to the address; mix: "
        + ", ".join(f"{w}% {what}" for _k, w, what in MIX),
        f"- the clients run on the same {os.cpu_count()} cores as the servers (and PostgreSQL)",
        *([f"- every fsync of the servers made {args.fsync_ms:g} ms slower (a slow disk's stand-in)"]
          if args.fsync_ms else []),
        *(["- a PUT's folder fsync inside the write lock, as before session 27 (our path without that change)"]
          if args.folder_fsync_in_lock else []),
        "",
        *table(setups),
        "",
        "Each round (\"% of a core\": the server process's processor time over the load's seconds):",
        "",
        *details(setups, args.seconds),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: " + ", ".join(f"{k} {v:g}" for k, v in QUICK.items()) + "; prints only")
    parser.add_argument("--storage", nargs="+", choices=STORAGES, default=list(STORAGES))
    parser.add_argument("--items", type=int, default=1000, help="events (and cards) loaded (default: 1000)")
    parser.add_argument("--clients", type=int, default=8, help="client processes (default: 8)")
    parser.add_argument("--seconds", type=float, default=30, help="of mixed load per round and setup (default: 30)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 1 and 2 processes (default: 3)")
    parser.add_argument("--mixes", nargs="+", choices=sorted(MIXES), default=list(MIXES),
                        help="the mix, and the mix without its PUTs as a reference (default: both)")
    parser.add_argument("--two", choices=("2", "auto:2"), default="2",
                        help="the 2 of 2 against 1: --processes 2 (two always, default) or auto:2 (one, and a helper "
                             "started under load)")
    parser.add_argument("--no-lock-times", dest="lock_times", action="store_false",
                        help="leave out the servers' sums of the storage lock's waits and holds (bench/lock_timing)")
    parser.add_argument("--fsync-ms", type=float, default=0,
                        help="every fsync of the servers waits this long first: a slow disk's stand-in (default: 0)")
    parser.add_argument("--folder-fsync-in-lock", action="store_true",
                        help="a PUT's folder fsync inside the write lock, as before session 27: our own path "
                             "without that change (plugins/storage_lock.py, \"After the write\")")
    add_run_options(parser)
    args = parser.parse_args(argv)
    quick_applied(args, QUICK)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began, load_before = time.monotonic(), os.getloadavg()
    work = work_folder("processes-")
    cluster = start_cluster() if "postgresql" in args.storage else None
    try:
        setups = [setup for storage in args.storage for setup in measure(storage, args, work, cluster)]
    finally:
        if cluster is not None:
            cluster.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = render(args, setups, time.monotonic() - began, load_before)
    publish(text, args, "processes", "## 2 processes vs 1 on one host (issue 17, `bench/run_processes.py`)")
    return 0 if all(s.errors == 0 and (s.mix != "mixed" or s.ratio >= TARGET) for s in setups) else 1


if __name__ == "__main__":
    sys.exit(main())
