"""Real calendars (issue 17): stock Radicale 3.9, Xandikos, Cyrus IMAP 3.6 and radicale-ext side by side
in one run, on calendars and address books that look like real ones (bench/real_calendars.py).

    python bench/run_real.py                  # as root: 1,000 and 10,000 items, every row; writes bench/RESULTS.md
    python bench/run_real.py --sizes 200 --repeat 5 --cell-budget 5 --clients 8 --mixed-seconds 3 \\
        --bulk-items 100 --no-write           # a smoke run, a few minutes; prints only
    python bench/run_real.py --servers stock cyrus ours --rows week sync-scratch --sizes 10000

For each size N the servers are started afresh on free loopback ports and get the same data
(``real_calendars.generate(N, --seed)``): a calendar of N items and an address book of N vCards.
Stock Radicale and ours take them in one whole-collection PUT each (ours, above 1,000 items, as a
restored backup: bench/real_load.py), Xandikos in one git commit, Cyrus by one PUT per item from
4 client processes.  The rows start when every server is done with what loading left it (its processes
together below 3% of a core for a second: ours' notice worker, Cyrus's own background work;
real_load.until_quiet; the wait is in the report's "time taken").  Cyrus (bench/speed_cyrus.py) needs
root and Debian's packages; it installs them when they are missing and says so.

The client is a bare keep-alive http.client connection with Basic auth (bench/speed_client.py),
TCP_NODELAY and, unless --delayed-ack, TCP_QUICKACK (Cyrus's httpd writes an answer in pieces
without TCP_NODELAY: with the client's delayed ACK every answer of more than one write waits 40 ms
on loopback; the same client for every server).  Every status is checked, and every answer's count
of responses: against the data (week and card queries: computed by the generator; sync-collection:
N, or the 10 changes; multiget: 10).  Single requests: median (p90) over --repeat timed
repetitions after 3 untimed, the servers interleaved, at most --cell-budget seconds per server and
cell (but at least 3 samples).

Rows (the targets are ours', issue 17):

- ``week``: calendar-query, VEVENT time-range of a random week of 2026 (the same weeks for every
  server, getetag); < 20 ms below 10,000 items, < 100 ms and >= 20x stock at 10,000; faster than Cyrus.
- ``sync-scratch``: sync-collection with an empty token (getetag, N responses); >= 10x stock, faster
  than Xandikos.
- ``sync-changes``: sync-collection from a token taken before 10 items were changed; no slower than Cyrus.
- ``put``: PUT of an existing event (a new SUMMARY), idle; no slower than Cyrus.
- ``cards``: addressbook-query EMAIL contains, and anyof FN, EMAIL contains; >= 20x stock at 10,000.
- ``rss``: the server's memory after loading and the queries above, summed over its processes (from
  /proc): the proportional set size (PSS, smaps_rollup) and the resident set (VmRSS); ours' PSS at most
  2x stock's at 10,000.  With ``--processes auto`` (the default, as ``./dev serve``) ours runs one process
  at rest and starts helpers while it is busy (radicale_ext/plugins/helpers.py), which leave after a
  minute without a connection: the row is measured right after the queries (a helper may still be there)
  and again at rest, once ours' helpers have left, every server measured again then; the target is judged
  at rest, what a server takes most of the day.  The target is judged on PSS because with ``--processes
  N`` ours runs N processes forked from a parent that imported the code first, and a page they share is
  counted once in each process's RSS (the RSS sum of 3 processes counts the shared code 3 times) but
  divided among them in PSS, whose sum is what the server takes from the machine; for a server of one
  process (stock, Xandikos) PSS is its RSS less its share of libraries other processes map too.
- ``mixed``: --clients client processes for --mixed-seconds each, each looping over the mix of
  real_load.MIX; >= 20x stock's throughput, faster than Cyrus, no errors (nor wrong counts); and,
  under the 8-client load, ours' median PUT within 3x its idle median (row ``put``).
- ``bulk``: once per run (on the last size's servers), --bulk-items new events PUT one by one
  (If-None-Match: *) into an empty calendar, from 1 and from 4 client processes, for at most
  --bulk-budget seconds per server (stock and Xandikos, which have no target here: --reference-budget);
  ours must PUT them all, at Cyrus's rate at least.  Each import starts when the server is quiet
  (real_load.until_quiet: not while its notice worker still works off the mixed load).  With
  --bulk-rounds N ours and Cyrus each do it N times into a new empty calendar (each round new events of
  the generator's, with the seed plus the round's number: Cyrus refuses a UID another calendar of the
  user holds), in turn (the first of a round is the other of the round before), and each server's median
  round is judged: a single round of each is at the mercy of the machine's drift (rates moved by 20%
  between runs on this machine).

The exit status is 1 when one of ours' targets fails (or a row could not be measured); the table is
written either way.  Everything started is stopped at the end, on an error, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import random
import shutil
import statistics
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

import real_calendars  # noqa: E402
from real_calendars import WEEK_STARTS, RealData, generate, new_events, week_of  # noqa: E402
from real_load import (  # noqa: E402
    BULK_CLIENTS,
    CARD_QUERIES,
    MIX,
    MixedResult,
    Shared,
    bulk_calendar,
    bulk_put,
    card_search,
    load_cyrus,
    load_radicale,
    load_xandikos,
    mixed_load,
    put_event,
    resident,
    until_quiet,
)
from results import add_run_options, publish, work_folder  # noqa: E402
from run_foundation import ALICE, SYNC_CHANGES, Stat, load_average, machine, make_stock_server  # noqa: E402
from run_speed import KNOWN_ERRORS, XANDIKOS_INDEX_WARMUP, stop_on_kill  # noqa: E402
from speed_client import Http, Site, responses  # noqa: E402
from speed_cyrus import CARD_HOME, CYRUS, HOME, CyrusServer, ensure_installed, make_cyrus_server  # noqa: E402
from speed_load import BulkResult  # noqa: E402
from speed_report import (  # noqa: E402
    OURS,
    STOCK,
    WARMUP,
    XANDIKOS,
    Call,
    Report,
    Row,
    checked,
    ms_cell,
    per_request,
    sample,
    speedup,
    table,
    took,
    verdict,
)
from speed_servers import command_line, make_xandikos_server, radicale_site, settle_seconds, xandikos_site  # noqa: E402

from radicale_ext.base.serve_options import process_count  # noqa: E402
from radicale_ext.plugins.helpers import LEAVE_AFTER  # noqa: E402
from tests.server import Server, children_of, make_server  # noqa: E402

ROWS = ("week", "sync-scratch", "sync-changes", "put", "cards", "rss", "mixed", "bulk")
SERVERS = {"stock": STOCK, "xandikos": XANDIKOS, "cyrus": CYRUS, "ours": OURS}
ORDER = (STOCK, XANDIKOS, CYRUS, OURS)
BIG = 10000  # the size at which the "at 10,000" targets apply
UNDER_LOAD_CLIENTS = 8  # PUT under the mixed load of this many clients
UNDER_LOAD_WITHIN = 3.0
REST_PATIENCE = 30.0  # seconds beyond the helpers' leave time the at-rest memory waits for them at most
ALONE_CHECKS = 3
KNOWN = {**KNOWN_ERRORS,
         "wrong counts": "wrong counts: answers whose number of responses differs from the data's (the request "
                         "completed and is counted as done)"}


# -- targets ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """One part of a target, on each server's seconds per request (or per item; 1 / rate for a throughput)."""

    text: str
    needs: tuple[str, ...]  # the servers, besides ours, it compares with
    holds: Callable[[dict[str, float]], bool]


def under(ms: float) -> Condition:
    return Condition(f"< {ms:g} ms", (), lambda v: v[OURS] < ms / 1000)


def times_faster(server: str, ratio: float) -> Condition:
    return Condition(f">= {ratio:g}x {server}", (server,), lambda v: speedup(v[server], v[OURS]) >= ratio)


def faster_than(server: str) -> Condition:
    return Condition(f"faster than {server}", (server,), lambda v: v[OURS] < v[server])


def no_slower_than(server: str) -> Condition:
    return Condition(f"no slower than {server}", (server,), lambda v: v[OURS] <= v[server])


def also(text: str, ok: bool) -> Condition:
    return Condition(text, (), lambda _v: ok)


def judge(conditions: list[Condition], values: dict[str, float], failed: set[str],
          running: set[str]) -> tuple[str, str]:
    """(target text, result) of the conditions whose servers run: PASS, FAIL (ours failed or missed one),
    ERROR (a server compared with failed) or "-" (no target here)."""
    present = [c for c in conditions if all(n in running for n in c.needs)]
    if not present:
        return "-", "-"
    text = ", ".join(c.text for c in present)
    if OURS in failed or OURS not in values:
        return text, "FAIL"
    if any(n in failed or n not in values for c in present for n in c.needs):
        return text, "ERROR"
    return text, verdict(all(c.holds(values) for c in present))


# -- one size ---------------------------------------------------------------------------------------------------

@dataclass
class Counts:
    """Per server: answers whose count of responses differs from the data's (the request is still timed)."""

    asked: Counter[str] = field(default_factory=Counter)
    off: Counter[str] = field(default_factory=Counter)
    example: dict[str, str] = field(default_factory=dict)

    def check(self, site: Site, found: int, want: int, what: str) -> None:
        self.asked[site.name] += 1
        if found != want:
            self.off[site.name] += 1
            self.example.setdefault(site.name, f"{what}: {found} responses, the data has {want}")

    def note(self, what: str) -> str:
        parts = [f"{name} {self.off[name]} of {n} off" + (f" (first: {self.example[name]})" if name in self.example
                                                          else "") for name, n in self.asked.items()]
        return f"{what}: answers whose count differs from the data: {'; '.join(parts)}"


@dataclass
class SizeRun:
    size: int
    data: RealData
    weeks: list[int]
    sites: list[Site]
    servers: dict[str, Server]
    args: argparse.Namespace
    report: Report
    idle_put: dict[str, float] = field(default_factory=dict)

    @property
    def running(self) -> set[str]:
        return {s.name for s in self.sites}

    @property
    def big(self) -> bool:
        return self.size >= BIG

    def row(self, name: str, request: str, call: Call, conditions: Callable[[dict[str, float]], list[Condition]],
            warmups: dict[str, int] | None = None, counts: Counts | None = None) -> dict[str, float]:
        """Time ``call`` on every server (speed_report.sample); one table row; each server's median seconds."""
        with took(self.report, f"{self.size:,} {name}"):
            samples, errors = sample(self.sites, call, self.args.repeat, self.args.cell_budget, warmups)
        medians = {n: statistics.median(s) for n, s in samples.items() if n not in errors and s}
        wrong = counts.off[OURS] if counts is not None else 0
        extra = [also("counts as the data", wrong == 0)] if counts is not None else []
        target, result = judge(conditions(medians) + extra, medians, set(errors), self.running)
        cells = {n: "error" if n in errors else ms_cell(s, self.args.repeat) for n, s in samples.items()}
        self.report.rows.append(Row(f"{self.size:,}", request, cells, self.ratio(medians), target, result))
        self.report.notes.extend(f"{self.size:,} {name}: {who} failed: {error}" for who, error in errors.items())
        if counts is not None:
            self.report.notes.append(counts.note(f"{self.size:,} {request}"))
        return medians

    def ratio(self, values: dict[str, float]) -> str:
        return f"{speedup(values[STOCK], values[OURS]):.1f}x" if STOCK in values and OURS in values else "-"

    def failed(self, request: str, error: Exception) -> None:
        traceback.print_exception(error)
        self.report.failed(f"{self.size:,}", request, "-", error)


def per_server(values: list[int]) -> Callable[[Site], int]:
    """A picker giving each server the same sequence: the k-th call of a server gets values[k % len]."""
    calls: Counter[str] = Counter()

    def pick(site: Site) -> int:
        k = calls[site.name]
        calls[site.name] += 1
        return values[k % len(values)]
    return pick


def week_row(run: SizeRun) -> None:
    rng = random.Random(f"weeks {run.args.seed}")
    pick = per_server([rng.randrange(WEEK_STARTS) for _ in range(97)])
    counts = Counts()

    def week(client: Http, site: Site) -> str:
        day = pick(site)
        body = client.week(site, *week_of(day))
        counts.check(site, responses(body), run.weeks[day], f"week {week_of(day)[0][:8]}")
        return body

    def targets(_m: dict[str, float]) -> list[Condition]:
        if run.big:
            return [under(100), times_faster(STOCK, 20), faster_than(CYRUS)]
        return [under(20), faster_than(CYRUS)]

    run.row("week", "calendar-query, one week of 2026", week, targets, {XANDIKOS: XANDIKOS_INDEX_WARMUP}, counts)


def sync_scratch_row(run: SizeRun) -> None:
    call = checked(lambda c, s: c.sync(s, ""), lambda _s: run.size, "sync-collection from scratch")
    run.row("sync-scratch", f"sync-collection from scratch ({run.size:,} items)", call,
            lambda _m: [times_faster(STOCK, 10), faster_than(XANDIKOS)])


def sync_changes_row(run: SizeRun) -> None:
    request = f"sync-collection after {SYNC_CHANGES} changes"
    try:
        tokens = {s.name: s.client().sync_token(s) for s in run.sites}
        for s in run.sites:
            client = s.client()
            for k in range(SYNC_CHANGES):
                event = run.data.events[k * run.size // SYNC_CHANGES]
                put_event(client, s, event, f"{event.summary} (geändert {k})")
            client.close()
        time.sleep(settle_seconds())
    except Exception as e:
        run.failed(request, e)
        return
    call = checked(lambda c, s: c.sync(s, tokens[s.name]), lambda _s: SYNC_CHANGES, request)
    run.row("sync-changes", request, call, lambda _m: [no_slower_than(CYRUS)])


def put_row(run: SizeRun) -> None:
    rng = random.Random(f"puts {run.args.seed}")
    pick = per_server(rng.sample(range(run.size), min(run.size, 400)))

    def put(client: Http, site: Site) -> str:
        event = run.data.events[pick(site)]
        return put_event(client, site, event, f"{event.summary} (bearbeitet)")

    run.idle_put = run.row("put", "PUT of an existing event, idle", put, lambda _m: [no_slower_than(CYRUS)])


def card_rows(run: SizeRun) -> None:
    for name, (what, properties, text) in CARD_QUERIES.items():
        want = sum(card.matches(text, properties) for card in run.data.cards)
        counts = Counts()

        def query(client: Http, site: Site, properties: tuple[str, ...] = properties, text: str = text,
                  want: int = want, counts: Counts = counts) -> str:
            body = card_search(client, site, properties, text)
            counts.check(site, responses(body), want, text)
            return body

        run.row(f"cards {name}", f"addressbook-query, {what}", query,
                lambda _m: [times_faster(STOCK, 20)] if run.big else [], {XANDIKOS: XANDIKOS_INDEX_WARMUP}, counts)


def rss_row(run: SizeRun) -> None:
    """The servers' memory right after the queries; and, where ours starts helpers under load (``--processes
    auto``), again at rest, once its helpers have left (all servers measured again then): the row judged."""
    on_demand = run.args.processes.on_demand and run.args.processes.count > 1
    memory_row(run, "after loading and the queries", judged=not on_demand)
    if on_demand:
        ours = run.servers[OURS]
        assert ours.proc is not None
        began, alone = time.monotonic(), 0
        while alone < ALONE_CHECKS and time.monotonic() - began < LEAVE_AFTER + REST_PATIENCE:
            time.sleep(1)   # alone at several looks a second apart: a helper that is leaving has ended
            alone = 0 if children_of(ours.proc.pid) else alone + 1
        memory_row(run, f"at rest ({time.monotonic() - began:.0f} s later: ours' helpers left after "
                        f"{LEAVE_AFTER:g} s without a connection)", judged=True)


def memory_row(run: SizeRun, when: str, judged: bool) -> None:
    memory = {site.name: resident(run.servers[site.name]) for site in run.sites}
    cells = {name: f"{m.pss_kib / 1024:.0f} MiB (RSS {m.rss_kib / 1024:.0f})"
             + (f", {m.processes} processes" if m.processes > 1 else "") for name, m in memory.items()}
    conditions = ([Condition("PSS <= 2x stock", (STOCK,), lambda v: v[OURS] <= 2 * v[STOCK])]
                  if run.big and judged else [])
    target, result = judge(conditions, {n: float(m.pss_kib) for n, m in memory.items()}, set(), run.running)
    ratio = "-"
    if STOCK in memory and memory[STOCK].pss_kib and memory[STOCK].rss_kib:
        ratio = (f"{memory[OURS].pss_kib / memory[STOCK].pss_kib:.2f}x stock's PSS "
                 f"({memory[OURS].rss_kib / memory[STOCK].rss_kib:.2f}x RSS)")
    for name, m in memory.items():
        processes = f"{m.processes} processes" if m.processes > 1 else "1 process"
        run.report.notes.append(f"{run.size:,} memory {when}, {name}: PSS {m.pss_kib / 1024:.1f} MiB, "
                                f"RSS {m.rss_kib / 1024:.1f} MiB, {processes}")
    run.report.rows.append(Row(f"{run.size:,}", f"server memory, PSS (RSS), {when}", cells, ratio, target, result))


def mixed_rows(run: SizeRun, shared: Shared) -> None:
    for clients in run.args.clients:
        request = f"mixed load, {clients} clients, {run.args.mixed_seconds:g} s"
        with took(run.report, f"{run.size:,} mixed, {clients} clients"):
            try:
                results = {s.name: mixed_load(s, shared, clients, run.args.mixed_seconds) for s in run.sites}
            except Exception as e:
                run.failed(request, e)
                continue
        for name, result in results.items():
            print(f"    {name}: {result.cell()}; {result.detail()}", flush=True)
            run.report.notes.append(f"{run.size:,} {request}, {name}: {result.detail()}")
            run.report.notes.extend(f"  - {name}: {m}" for m in result.tally.error_lines())
        ours = results[OURS]
        values = per_request({n: r.rate for n, r in results.items()})
        target, result = judge([times_faster(STOCK, 20), faster_than(CYRUS),
                                also("no errors", ours.errors == 0 and ours.wrong == 0)], values, set(), run.running)
        run.report.rows.append(Row(f"{run.size:,}", request, {n: r.cell() for n, r in results.items()},
                                   run.ratio(values), target, result))
        if clients == UNDER_LOAD_CLIENTS:
            put_under_load_row(run, results)


def put_under_load_row(run: SizeRun, results: dict[str, MixedResult]) -> None:
    """ours' PUTs during the mixed load against its idle PUTs (row ``put``)."""
    latency = {n: r.tally.latency.get("put", []) for n, r in results.items()}
    cells = {n: f"{Stat.of(s)} n={len(s)}" if s else "none" for n, s in latency.items()}
    medians = {n: statistics.median(s) for n, s in latency.items() if s}
    idle = run.idle_put.get(OURS)
    target = f"median within {UNDER_LOAD_WITHIN:g}x idle"
    if idle is None or OURS not in medians:
        result = "ERROR"
        run.report.notes.append(f"{run.size:,} PUT under load: no idle PUT median of ours (row put) or no PUT of "
                                "ours completed under load")
    else:
        result = verdict(medians[OURS] <= UNDER_LOAD_WITHIN * idle)
        target += f" (ours: {medians[OURS] / idle:.1f}x {idle * 1000:.1f} ms)"
    run.report.rows.append(Row(f"{run.size:,}", f"PUT of an existing event under the {UNDER_LOAD_CLIENTS}-client "
                               "mixed load", cells, run.ratio(medians), target, result))


def bulk_rows(run: SizeRun, shared: Shared) -> None:
    rounds = run.args.bulk_rounds
    for clients in BULK_CLIENTS:
        # each round its own events (the generator's, another seed): Cyrus refuses a UID one of the user's
        # calendars holds already
        with took(run.report, f"generate {run.args.bulk_items:,} new events" + (f" for each of {rounds} rounds"
                                                                               if rounds > 1 else "")):
            news = [new_events(run.args.bulk_items, run.args.seed + n, batch=clients) for n in range(rounds)]
        request = f"bulk PUT of {run.args.bulk_items:,} new events, {clients} client{'s' if clients > 1 else ''}"
        if rounds > 1:
            request += f", median of {rounds} rounds"
        runs: dict[str, list[BulkResult]] = {}
        listed: dict[str, list[int]] = {}
        with took(run.report, f"bulk PUT, {clients} client{'s' if clients > 1 else ''}"):
            try:
                for n in range(rounds):
                    # ours and Cyrus in turn, the first of a round the other of the round before: the machine's
                    # drift during a run falls on both; stock and Xandikos (no target here) once
                    order = [s for s in (run.sites if n % 2 == 0 else run.sites[::-1])
                             if n == 0 or s.name in (OURS, CYRUS)]
                    shared.new = news[n]
                    for s in order:
                        site = bulk_calendar(s, clients)
                        if n:   # a new empty calendar for each round, made before the clock starts
                            site = dataclasses.replace(site, bulk=f"{site.bulk.rstrip('/')}-round-{n + 1}/")
                            site.client().call("MKCALENDAR", site.bulk, codes=(201,))
                        # every import starts on a quiet server: not while it still works off the row before
                        until_quiet([run.servers[s.name]])
                        budget = run.args.bulk_budget if s.name in (OURS, CYRUS) else run.args.reference_budget
                        result = bulk_put(site, shared, clients, budget)
                        runs.setdefault(s.name, []).append(result)
                        listed.setdefault(s.name, []).append(
                            responses(site.client().etags(dataclasses.replace(site, calendar=site.bulk))) - 1)
                        print(f"    {s.name}: {result.cell()}; {listed[s.name][-1]:,} items listed", flush=True)
            except Exception as e:
                run.report.failed("per run", request, "-", e)
                continue
        # each server's round with the median rate (the lower of the two middle ones for an even count)
        results = {name: sorted(rs, key=lambda r: r.rate)[(len(rs) - 1) // 2] for name, rs in runs.items()}
        common = min(r.done for rs in runs.values() for r in rs)
        for name, rs in runs.items():
            if len(rs) > 1:
                run.report.notes.append(f"bulk PUT from {clients}, {name}: rounds at "
                                        + ", ".join(f"{r.rate:.1f}" for r in rs) + " items/s; the median below")
            run.report.notes.append(f"bulk PUT from {clients}, {name}: {results[name].detail(common)}")
            for r, count in zip(rs, listed[name], strict=True):
                run.report.notes.extend(f"  - bulk PUT, {name}: {m}" for m in r.tally.error_lines())
                if count != r.done:
                    run.report.notes.append(f"bulk PUT from {clients}, {name}: {r.done:,} PUTs succeeded, "
                                            f"{count:,} items listed")
        ours = runs[OURS]
        values = per_request({n: r.rate for n, r in results.items()})
        all_done = all(r.complete and count == r.done for r, count in zip(ours, listed[OURS], strict=True))
        target, result = judge([also("all done", all_done), no_slower_than(CYRUS)], values, set(), run.running)
        target = target.replace(f"no slower than {CYRUS}", f">= {CYRUS}'s rate")
        run.report.rows.append(Row("per run", request, {n: r.cell() for n, r in results.items()}, run.ratio(values),
                                   target, result))


# -- servers ------------------------------------------------------------------------------------------------------

def cyrus_site(server: CyrusServer) -> Site:
    return Site(name=CYRUS, port=server.port, user=ALICE, calendar=HOME + "family/", cards=CARD_HOME + "contacts/",
                bulk=HOME + "bulk/")


def start_servers(stack: ExitStack, size: int, work: Path, args: argparse.Namespace,
                  commands: dict[str, str]) -> tuple[list[Site], dict[str, Server]]:
    def start(server: Server) -> Server:
        stack.callback(server.stop)
        return server.start()

    # its config is stock's model (run_foundation); its processes as `./dev serve` starts them (auto)
    ours = make_server(work / f"ours-{size}", users=(ALICE,),
                       processes=str(args.processes) if args.processes.count > 1 else 1)
    servers: dict[str, Server] = {}
    sites: dict[str, Site] = {}
    if STOCK in args.names:
        servers[STOCK] = start(make_stock_server(work / f"stock-{size}", ours.config, (ALICE,)))
        sites[STOCK] = radicale_site(STOCK, servers[STOCK])
    if XANDIKOS in args.names:
        servers[XANDIKOS] = start(make_xandikos_server(work / f"xandikos-{size}"))
        sites[XANDIKOS] = xandikos_site(servers[XANDIKOS])
    if CYRUS in args.names:
        servers[CYRUS] = start(make_cyrus_server(work / f"cyrus-{size}"))
        sites[CYRUS] = cyrus_site(servers[CYRUS])
    servers[OURS] = start(ours)
    sites[OURS] = radicale_site(OURS, ours)
    for name, server in servers.items():
        commands[name] = server.summary() if isinstance(server, CyrusServer) else command_line(server)
    quick = not args.delayed_ack
    return [dataclasses.replace(sites[n], quick_ack=quick) for n in ORDER if n in sites], servers


def load(run: SizeRun) -> None:
    for site in run.sites:
        with took(run.report, f"{run.size:,} load {site.name}"):
            server = run.servers[site.name]
            if site.name == XANDIKOS:
                load_xandikos(server, site, run.data)
            elif site.name == CYRUS:
                load_cyrus(site, run.data)
            else:
                load_radicale(site, run.data, server)
    time.sleep(settle_seconds())  # ours re-checks just-written files until they settle
    with took(run.report, f"{run.size:,} until every server is quiet"):
        until_quiet(list(run.servers.values()))


def run_size(size: int, last: bool, work: Path, args: argparse.Namespace, report: Report,
             commands: dict[str, str]) -> None:
    print(f"{size:,} items", flush=True)
    with took(report, f"{size:,} generate"):
        data = generate(size, args.seed)
        weeks = data.week_matches()
    with ExitStack() as stack:
        sites, servers = start_servers(stack, size, work, args, commands)
        run = SizeRun(size, data, weeks, sites, servers, args, report)
        try:
            load(run)
        except Exception as e:
            run.failed("loading the data", e)
            return
        singles = {"week": week_row, "sync-scratch": sync_scratch_row, "sync-changes": sync_changes_row,
                   "put": put_row, "cards": card_rows, "rss": rss_row}
        for name, measure in singles.items():
            if name in args.rows:
                measure(run)
        shared = Shared(data, weeks)
        if "mixed" in args.rows:
            mixed_rows(run, shared)
        if "bulk" in args.rows and last:
            bulk_rows(run, shared)


# -- the report -----------------------------------------------------------------------------------------------------

def render(args: argparse.Namespace, report: Report, seconds: float, load_before_after: tuple[str, str],
           commands: dict[str, str]) -> str:
    names = [n for n in ORDER if n in args.names]
    command = " ".join(["python bench/run_real.py", *sys.argv[1:]])
    servers = ", ".join(f"{name} `{commands.get(name, '?')}`" if name != CYRUS else f"{name}: {commands.get(name, '?')}"
                        for name in names)
    xandikos = f", Xandikos {version('xandikos')}" if XANDIKOS in names else ""
    ack = ("TCP_NODELAY (http.client's) and TCP_QUICKACK set before every read, so no answer waits for a delayed "
           "ACK" if not args.delayed_ack else "TCP_NODELAY only (--delayed-ack): the kernel's delayed ACK")
    generator = "\n".join(f"> {line}".rstrip() for line in (real_calendars.__doc__ or "").strip().splitlines())
    lines = [
        f"Run of {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `{command}` ({seconds / 60:.1f} min)",
        "",
        f"- machine: {machine()}{xandikos}; load average (1, 5, 15 min) {load_before_after[0]} before, "
        f"{load_before_after[1]} after (each step's 1-minute load in the details)",
        f"- servers, started side by side on 127.0.0.1 for each size: {servers} (Xandikos without authentication; "
        "its items committed to its git store in one commit; Cyrus loaded by one PUT per item)",
        f"- client: http.client keep-alive with Basic auth, {ack}; every status and every answer's count checked; "
        f"single requests: median (p90) ms over {args.repeat} timed repetitions after {WARMUP} untimed (1 if a call "
        f"takes over {args.cell_budget / 20:g} s; Xandikos {XANDIKOS_INDEX_WARMUP} for the queries), servers "
        f"interleaved, at most {args.cell_budget:g} s per server and cell (n = samples where fewer)",
        "- mixed load mix: " + ", ".join(f"{w}% {what}" for _k, w, what in MIX),
        f"- bulk PUT: at most {args.bulk_budget:g} s for ours and Cyrus, {args.reference_budget:g} s for stock and "
        "Xandikos (no target; their rate is over what they did)",
        f"- data: `real_calendars.generate(N, seed={args.seed})`, the same for every server:",
        "",
        generator,
        "",
        *table(report.rows, names),
        "",
        "Details:",
        "",
        *[f"- {n}" if not n.startswith("  ") else n for n in report.notes],
        *[f"- {why}" for key, why in KNOWN.items() if any(key in n for n in report.notes)
          or any(key in c for r in report.rows for c in r.cells.values())],
        f"- time taken: {'; '.join(report.times)}",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS),
                        help="servers to run (default: all; ours always)")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS), help="rows to run (default: all)")
    parser.add_argument("--seed", type=int, default=17, help="the data's seed (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=40, help="timed repetitions per cell (default: %(default)s)")
    parser.add_argument("--cell-budget", type=float, default=30, help="seconds per server and cell (default: 30)")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32], help="mixed load (default: 8 32)")
    parser.add_argument("--mixed-seconds", type=float, default=30)
    parser.add_argument("--bulk-items", type=int, default=10000)
    parser.add_argument("--bulk-rounds", type=int, default=1,
                        help="bulk PUTs per client count for ours and Cyrus, in turn; the median rate is judged "
                             "(default: %(default)s)")
    parser.add_argument("--bulk-budget", type=float, default=300,
                        help="seconds per bulk PUT for ours and Cyrus (default: %(default)s)")
    parser.add_argument("--reference-budget", type=float, default=60,
                        help="seconds per bulk PUT for stock and Xandikos (default: %(default)s)")
    parser.add_argument("--processes", type=process_count, default=process_count("auto"),
                        help="ours' server processes, as `radicale-ext serve --processes` takes them (default: auto, "
                             "as ./dev serve: one at rest, up to one per core under load; 2 for two always)")
    parser.add_argument("--delayed-ack", action="store_true",
                        help="the kernel's delayed ACK on the client (no TCP_QUICKACK): Cyrus's 40 ms floor")
    add_run_options(parser)
    args = parser.parse_args(argv)
    args.names = {SERVERS[s] for s in args.servers} | {OURS}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if CYRUS in args.names and (why := ensure_installed()):
        print(why, file=sys.stderr)
        return 2
    stop_on_kill()
    began, load_before = time.monotonic(), load_average()
    work = work_folder("real-")
    report, commands = Report(), {}
    try:
        for i, size in enumerate(args.sizes):
            run_size(size, i == len(args.sizes) - 1, work, args, report, commands)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = render(args, report, time.monotonic() - began, (load_before, load_average()), commands)
    publish(text, args, "real", "## Real calendars (issue 17, `bench/run_real.py`)")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
