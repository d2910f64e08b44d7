"""Several processes on one PostgreSQL (issue 16): the mixed load, notice workers and the bulk PUT, side by side.

    python bench/run_scale_out.py            # full size, about 15-20 minutes; writes bench/RESULTS.md
    python bench/run_scale_out.py --quick    # smoke run, about 2 minutes; prints only
    python bench/run_scale_out.py --parts notices --no-write    # one part (mixed, notices, bulk) of the full run

One private PostgreSQL server (tests/postgres_cluster.py: a cluster in a
temporary folder on 127.0.0.1, fsync off as in the tests), a new database
for every row.  Every server process is ours as tests/server.py starts it
(config/radicale.ini, its own free port of 127.0.0.1); "PostgreSQL" rows
have ``[storage] postgresql_dsn``, so items and the sharing database are in
PostgreSQL and N processes share one database; the embedded default (files
+ SQLite, one process) is the reference row.

1. Mixed load: the 1,000-event calendar (and 1,000-card address book) that
   run_speed.py loads, then --clients client processes for --seconds, each
   looping over run_speed's mix (bench/speed_load.py: MIX), each request sent
   to one of the processes at random, as a load balancer would (every
   process has answered a listing, a week's query and a sync before).  Requests
   per second, latency median (p90), errors; the ratio to one PostgreSQL
   process; how busy the machine's cores were and its load average.  With
   2 cores the curve is expected to flatten there (the clients and
   PostgreSQL run on the same cores): reported as measured, no target.
2. Notices: --notices e-mails (a calendar shared with a circle of
   --members, bench/scale_out_notices.py) delivered by 1, 2 and 4
   ``radicale-ext worker`` processes to a real SMTP server; wall time from
   starting the workers until none is queued, and notices per second.
   Check: every queued delivery received exactly once (by recipient and
   Message-ID), none lost, none extra.
3. Bulk PUT: --bulk-items new events (If-None-Match: *) from --bulk-clients
   processes into an empty calendar, on the embedded default and on
   PostgreSQL with 1 and 2 processes (speed_load.bulk_put); check: all done
   without error, and a listing afterwards has as many items as PUTs done.

The exit status is 1 when a check fails (an error in the mixed load, a
notice lost or delivered twice, a bulk PUT not done or not listed); the
table is written either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

from results import add_run_options, machine_line, ms, publish, quick_applied, work_folder  # noqa: E402
from scale_out_notices import Delivered, deliver  # noqa: E402
from speed_client import Site, responses  # noqa: E402
from speed_load import MIX, BulkResult, MixedResult, bulk_put, mixed_load  # noqa: E402
from speed_servers import load_radicale, radicale_site, settle_seconds  # noqa: E402

from tests.postgres_cluster import Cluster, start_cluster  # noqa: E402
from tests.server import make_server  # noqa: E402

EMBEDDED = "embedded default (files + SQLite)"
POSTGRESQL = "PostgreSQL"
PARTS = ("mixed", "notices", "bulk")
QUICK = {"clients": 4, "seconds": 3.0, "items": 300, "notices": 500, "members": 100, "bulk_items": 300,
         "bulk_budget": 60.0}


@dataclass(frozen=True)
class Setup:
    storage: str  # EMBEDDED or POSTGRESQL
    processes: int

    @property
    def name(self) -> str:
        return f"{self.storage}, {self.processes} process{'es' if self.processes > 1 else ''}"


@dataclass(frozen=True)
class CpuTimes:
    """The machine's processor time so far, all cores (/proc/stat), to tell how busy they were meanwhile."""

    busy: float
    total: float

    @staticmethod
    def now() -> CpuTimes:
        with open("/proc/stat") as f:
            values = [float(x) for x in f.readline().split()[1:]]
        idle = values[3] + values[4]  # idle, iowait
        return CpuTimes(sum(values) - idle, sum(values))

    def busy_since(self, before: CpuTimes) -> float:
        return (self.busy - before.busy) / (self.total - before.total) if self.total > before.total else 0.0


@dataclass(frozen=True)
class Loaded:
    """The mixed load on one setup."""

    setup: Setup
    result: MixedResult
    cpu_busy: float  # share of all cores' time busy, from the clients' start to their end
    load_after: float  # 1-minute load average at the end


@dataclass(frozen=True)
class Bulk:
    setup: Setup
    result: BulkResult
    listed: int

    @property
    def passed(self) -> bool:
        return self.result.complete and self.listed == self.result.done


@dataclass
class Run:
    loads: list[Loaded] = dataclasses.field(default_factory=list)
    bulks: list[Bulk] = dataclasses.field(default_factory=list)
    notices: list[Delivered] = dataclasses.field(default_factory=list)
    times: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (all(x.result.errors == 0 for x in self.loads) and all(b.passed for b in self.bulks)
                and all(n.exactly_once for n in self.notices))


@contextmanager
def took(run: Run, what: str) -> Iterator[None]:
    began = time.monotonic()
    print(f"  {what} ...", flush=True)
    yield
    run.times.append(f"{what} {time.monotonic() - began:.0f} s (load {os.getloadavg()[0]:.1f})")
    print(f"  {what}: {time.monotonic() - began:.0f} s", flush=True)


@contextmanager
def serving(setup: Setup, work: Path, cluster: Cluster) -> Iterator[Site]:
    """The setup's processes, started as tests/server.py starts them, as one site."""
    slug = f"{setup.storage.split()[0].lower()}-{setup.processes}"
    overrides = {}
    if setup.storage == POSTGRESQL:
        overrides["storage"] = {"postgresql_dsn": cluster.create_database(f"load_{setup.processes}")}
    with ExitStack() as stack:
        servers = []
        for i in range(setup.processes):
            server = make_server(work / f"{slug}-{i}", users=("alice",), **overrides)
            stack.callback(server.stop)
            servers.append(server.start())
        yield radicale_site(setup.name, *servers)


def warm(site: Site) -> None:
    """One listing, one week's query and one sync on each process, so that every process has read the
    calendar once before the clock runs (as the processes behind a load balancer have), not only the ones
    the loading happened to reach."""
    for port in site.ports:
        one = dataclasses.replace(site, port=port, others=())
        client = one.client()
        token = client.sync_token(one)
        client.etags(one)
        client.week(one, "20260302T000000Z", "20260309T000000Z")
        client.sync(one, token)
        client.close()


def measure_setup(setup: Setup, args: argparse.Namespace, work: Path, cluster: Cluster, run: Run) -> None:
    """Load the data, the mixed load, then (for the setups that have it) the bulk PUT, on the same processes."""
    print(setup.name, flush=True)
    with serving(setup, work, cluster) as site:
        with took(run, f"{setup.name}: load {args.items:,} events and cards"):
            load_radicale(site, args.items)
            time.sleep(settle_seconds())  # the files: ours re-checks just-written files until they settle
            warm(site)
        if "mixed" in args.parts:
            with took(run, f"{setup.name}: mixed load"):
                before = CpuTimes.now()
                result = mixed_load(site, args.items, args.clients, args.seconds)
                loaded = Loaded(setup, result, CpuTimes.now().busy_since(before), os.getloadavg()[0])
            run.loads.append(loaded)
            print(f"    {result.cell()}; {result.detail()}", flush=True)
        if "bulk" in args.parts and (setup.storage == EMBEDDED or setup.processes in args.bulk_processes):
            with took(run, f"{setup.name}: bulk PUT of {args.bulk_items:,}"):
                bulk = bulk_put(site, args.bulk_items, args.bulk_clients, args.bulk_budget)
                listed = responses(site.client().etags(dataclasses.replace(site, calendar=site.bulk))) - 1
            run.bulks.append(Bulk(setup, bulk, listed))
            print(f"    {bulk.cell()}; {listed:,} listed", flush=True)


def mixed_table(run: Run) -> list[str]:
    one = next((x.result.rate for x in run.loads if x.setup == Setup(POSTGRESQL, 1)), 0.0)
    lines = ["| server | requests/s | latency median (p90) ms | errors | vs PostgreSQL, 1 process "
             "| cores busy | load average (1 min) at the end |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for x in run.loads:
        r = x.result
        latency = ms(r.tally.seconds) if r.tally.seconds else "-"
        ratio = f"{r.rate / one:.2f}x" if one else "-"
        lines.append(f"| {x.setup.name} | {r.rate:.1f} | {latency} | {r.errors} | {ratio} | {x.cpu_busy:.0%} "
                     f"| {x.load_after:.2f} |")
    return lines


def notices_table(run: Run) -> list[str]:
    one = next((n.rate for n in run.notices if n.workers == 1), 0.0)
    lines = ["| workers | e-mails queued | delivered | received by the SMTP server | seconds | notices/s "
             "| vs 1 worker | first message after (s) | first to last message: s (notices/s) | duplicates | lost "
             "| extra | result |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for n in run.notices:
        seconds = f"{n.seconds:.1f}" if n.seconds is not None else "not all in the budget"
        ratio = f"{n.rate / one:.2f}x" if one and n.rate else "-"
        span = n.received.span()
        lines.append(f"| {n.workers} | {n.queued:,} | {n.delivered:,} | {n.received.count:,} | {seconds} "
                     f"| {n.rate:.0f} | {ratio} | {n.first_after:.1f} "
                     f"| {span:.1f} ({n.received.count / span if span else 0:.0f}) "
                     f"| {n.duplicates} | {n.lost} "
                     f"| {n.unexpected} | {'PASS' if n.exactly_once else 'FAIL'} |")
    return lines


def bulk_table(run: Run) -> list[str]:
    lines = ["| server | items/s | PUTs done | seconds | errors | listed afterwards | result |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for b in run.bulks:
        r = b.result
        lines.append(f"| {b.setup.name} | {r.rate:.1f} | {r.done:,} of {r.total:,} | {r.seconds:.0f} "
                     f"| {sum(r.tally.errors.values())} | {b.listed:,} | {'PASS' if b.passed else 'FAIL'} |")
    return lines


def details(run: Run) -> list[str]:
    lines = []
    common = min((b.result.done for b in run.bulks), default=0)
    for x in run.loads:
        lines.append(f"- mixed load, {x.setup.name}: {x.result.detail()}")
        lines += [f"  - {m}" for m in x.result.tally.error_lines()]
    for b in run.bulks:
        lines.append(f"- bulk PUT, {b.setup.name}: {b.result.detail(common)}")
        lines += [f"  - {m}" for m in b.result.tally.error_lines()]
    for n in run.notices:
        states = ", ".join(f"{k} {v:,}" for k, v in sorted(n.states.items()))
        shares = n.received.per_connection()
        lines.append(f"- notices, {n.workers} worker(s): composing and queueing them took {n.handed_out:.1f} s "
                     f"(before the clock started); deliveries afterwards: {states}; messages per SMTP "
                     f"connection: {', '.join(f'{x:,}' for x in shares[:8])}{' ...' if len(shares) > 8 else ''} "
                     f"({len(shares)} connection{'s' if len(shares) != 1 else ''}; a worker keeps one while busy)")
    lines.append(f"- time taken: {'; '.join(run.times)}")
    return lines


def render(args: argparse.Namespace, run: Run, seconds: float, load_before: tuple[float, ...]) -> str:
    command = " ".join(["python bench/run_scale_out.py", *sys.argv[1:]])
    cores = os.cpu_count() or 1
    lines = [
        f"Run of {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `{command}` ({seconds / 60:.1f} min)",
        "",
        machine_line(load_before) + f", {' '.join(f'{x:.2f}' for x in os.getloadavg())} after",
        "- PostgreSQL 15, a private cluster on 127.0.0.1 of the same machine (tests/postgres_cluster.py: "
        "fsync, synchronous_commit and full_page_writes off), a new database for every row; ours "
        "`python -m radicale_ext.plugins.server` with config/radicale.ini as tests/server.py writes it, each "
        "process on its own port, `[storage] postgresql_dsn` for the PostgreSQL rows",
        f"- the machine has {cores} cores, shared by the server processes, PostgreSQL, the workers and the client "
        "processes",
    ]
    if "mixed" in args.parts:
        lines += [
            "",
            f"Mixed load: {args.items:,} events (and as many cards) loaded as bench/run_speed.py loads them; "
            f"{args.clients} client processes for {args.seconds:g} s, a keep-alive connection to each process, "
            "each request to one process at random, every process warmed first (a listing, a week's query and "
            "a sync); mix: " + ", ".join(f"{w}% {what}" for _k, w, what in MIX)
            + "; \"cores busy\": the share of all cores' time not idle while the clients ran (/proc/stat):",
            "", *mixed_table(run)]
    if "notices" in args.parts:
        lines += [
            "",
            f"Notices: {args.notices:,} e-mails ({args.notices // args.members} changes to a calendar shared with "
            f"a circle of {args.members:,}, `[hook] notices_window = 0`, `notices_worker = none`) queued in the "
            "PostgreSQL sharing database, then delivered by `radicale-ext worker` processes to an SMTP server on "
            "127.0.0.1 (aiosmtpd, its own process); seconds from starting the workers (their start-up included) "
            "until none is queued, and from the first message the SMTP server received to the last; each "
            "message counted by recipient and Message-ID against the queue:",
            "", *notices_table(run)]
    if "bulk" in args.parts:
        lines += [
            "",
            f"Bulk PUT: {args.bulk_items:,} new events (If-None-Match: *) from {args.bulk_clients} client "
            f"processes into an empty calendar, each PUT to one process at random, at most {args.bulk_budget:g} s "
            "per server; the calendar listed (PROPFIND depth 1) afterwards:",
            "", *bulk_table(run)]
    lines += ["", "Details:", "", *details(run)]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: " + ", ".join(f"{k.replace('_', '-')} {v:g}" for k, v in QUICK.items())
                        + "; prints only")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="what to measure (default: all; a part left out is left out of the block too)")
    parser.add_argument("--seconds", type=float, default=20, help="of mixed load per server (default: 20)")
    parser.add_argument("--clients", type=int, default=32, help="mixed load clients (default: 32)")
    parser.add_argument("--items", type=int, default=1000, help="events in the calendar (default: 1000)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4],
                        help="server processes on PostgreSQL (default: 1 2 4)")
    parser.add_argument("--notices", type=int, default=10_000, help="e-mails to deliver (default: 10000)")
    parser.add_argument("--members", type=int, default=1000, help="of the circle (default: 1000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4],
                        help="worker processes delivering them (default: 1 2 4)")
    parser.add_argument("--notices-budget", type=float, default=600, help="seconds per run (default: 600)")
    parser.add_argument("--bulk-items", type=int, default=10_000)
    parser.add_argument("--bulk-clients", type=int, default=4)
    parser.add_argument("--bulk-processes", type=int, nargs="+", default=[1, 2],
                        help="server processes on PostgreSQL with the bulk PUT (default: 1 2)")
    parser.add_argument("--bulk-budget", type=float, default=600, help="seconds per server (default: 600)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    quick_applied(args, QUICK)
    if args.notices % args.members:
        parser.error("--notices must be a multiple of --members (each change makes one e-mail per member)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began, load_before = time.monotonic(), os.getloadavg()
    work = work_folder("scale-out-")
    run = Run()
    cluster = start_cluster()
    try:
        for setup in [Setup(EMBEDDED, 1), *(Setup(POSTGRESQL, n) for n in args.processes)]:
            if "mixed" in args.parts or ("bulk" in args.parts and (setup.storage == EMBEDDED
                                                                     or setup.processes in args.bulk_processes)):
                measure_setup(setup, args, work, cluster, run)
        for workers in args.workers if "notices" in args.parts else []:
            with took(run, f"{args.notices:,} notices, {workers} worker(s)"):
                delivered = deliver(workers, cluster, work, args.members, args.notices // args.members,
                                    args.notices_budget)
            run.notices.append(delivered)
            print(f"    {delivered.rate:.0f} notices/s; {delivered.received.count:,} received; duplicates "
                  f"{delivered.duplicates}, lost {delivered.lost}, extra {delivered.unexpected}", flush=True)
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = render(args, run, time.monotonic() - began, load_before)
    publish(text, args, "scale-out",
            "## Several processes on one PostgreSQL (issue 16, `bench/run_scale_out.py`)")
    return 0 if run.passed else 1


if __name__ == "__main__":
    sys.exit(main())
