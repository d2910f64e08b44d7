"""Speed at size (issues 8 and 16): stock Radicale 3.9, Xandikos and radicale-ext, side by side in one run;
with --postgresql also radicale-ext on PostgreSQL, with --davical also DAViCal (PHP + PostgreSQL).

    python bench/run_speed.py                       # 1,000 and 10,000 items; writes bench/RESULTS.md
    python bench/run_speed.py --postgresql --davical   # the same and issue 16's rows (as root)
    python bench/run_speed.py --sizes 1000 --skip-xandikos --no-write
    python bench/run_speed.py --rows ctag sync --sizes 10000

For each size N the servers are started afresh on free loopback ports
(bench/speed_servers.py, bench/speed_davical.py) and get the same data: a calendar of N events spread
over 2026 (run_foundation.event) and an address book of N vCards (FN "Person
00042 Lindqvist", N, EMAIL, TEL).  The client is a bare keep-alive
http.client connection with Basic auth (bench/speed_client.py); every status
is checked.  Single requests: median (p90) over --repeat timed repetitions
after 3 untimed, the servers interleaved, at most --cell-budget seconds per
server and cell (but at least 3 samples).

Rows (the target is ours'):

1. ``ctag``: PROPFIND depth 0 on the calendar for CS:getctag and DAV:sync-token; < 5 ms.
2. ``sync``: sync-collection (RFC 6578, sync-level 1, getetag) from a token
   taken before 10 events were changed (PUT with a new SUMMARY); every
   repetition answers the same 10 changes (checked); < 10 ms.
3. ``scratch``: sync-collection from scratch (an empty token, getetag), as a
   new device's first sync (N responses, checked); at least 10x faster than
   stock and faster than Xandikos (issue 17).
4. ``etags``: PROPFIND depth 1 for DAV:getetag on the calendar (N + 1
   responses, checked); at least 5x faster than stock and faster than Xandikos.
5. ``week``: calendar-query, VEVENT in 2026-03-02 .. 2026-03-09, getetag;
   every server must return the events the data has in that week; at least
   10x faster than stock at 10,000.
6. ``cards``: addressbook-query, FN contains "lindq" (2% of the cards, the
   count checked); at least 10x faster than stock at 10,000.
7. ``mixed``: 8, then 32 clients for --mixed-seconds each, one process per
   client, each looping over this mix (a fleet of phones and desktops):
   40% PROPFIND depth 0 ctag + sync-token, 20% sync-collection from the
   client's last token, 15% GET a random event, 10% PUT (modify) a random
   event, 10% calendar-query for a random week, 5% PROPFIND depth 1 getetag
   (a client without sync-collection).  Throughput counts requests completed
   within the window; an unexpected status or exception is an error.  At
   least 10x stock's throughput, no errors.
8. ``bulk``: once per run (on the last size's servers), --bulk-items new
   events PUT one by one (If-None-Match: *) into an empty calendar from
   --bulk-clients processes, for at most --bulk-budget seconds per server;
   ours must complete them all at twice stock's rate at least.

With ``--postgresql``, "ours (PostgreSQL)" is ours with ``[storage] postgresql_dsn`` (one process,
everything in a private PostgreSQL server, tests/postgres_cluster.py); its targets (issue 16) get
their own columns: within 1.5x of ours' median time on every single-request row (1-6), and, with
``--davical``, faster than DAViCal on every row (1-8; the mixed and bulk rows by rate, with no
errors and all done).  ``--davical`` starts Debian's DAViCal 1.1 (PHP-FPM + nginx, its database in
the same PostgreSQL server; bench/speed_davical.py) for each size; it needs root and the packages
(``apt-get install -y davical php8.2-fpm php8.2-cli php8.2-pgsql php8.2-xml php8.2-curl nginx``):
without them the run stops at once with that command.  DAViCal's incremental sync-collection may
list one more member than changed (the change that made the token, which RFC 6578 allows): row 2
accepts 10 or 11 responses from it and the details say how many it gave.

The exit status is 1 when one of ours' targets (or ours (PostgreSQL)'s) fails; the table is written
either way.  Everything started is stopped at the end, on an error, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

from results import add_run_options, publish, work_folder  # noqa: E402
from run_foundation import (  # noqa: E402
    SYNC_CHANGES,
    calendar_of,
    event,
    item_href,
    item_uid,
    load_average,
    machine,
    make_stock_server,
)
from speed_client import Http, Site, card_matches, responses, sync_token_of  # noqa: E402
from speed_davical import (  # noqa: E402
    IMPORT_CHUNK,
    SYNC_NOTE,
    SYNC_REPEATS_LAST,
    davical_site,
    load_davical,
    make_davical_server,
    missing,
)
from speed_load import MIX, bulk_put, mixed_load  # noqa: E402
from speed_report import (  # noqa: E402
    DAVICAL,
    OURS,
    OURS_PG,
    PG_WITHIN,
    STOCK,
    WARMUP,
    XANDIKOS,
    Call,
    Report,
    Row,
    checked,
    per_request,
    pg_verdict,
    sample,
    speedup,
    table,
    timing_row,
    took,
    verdict,
)
from speed_servers import (  # noqa: E402
    command_line,
    load_radicale,
    load_xandikos,
    make_xandikos_server,
    radicale_site,
    settle_seconds,
    xandikos_site,
)

from tests.postgres_cluster import start_cluster  # noqa: E402
from tests.server import Server, make_server  # noqa: E402

ROWS = ("ctag", "sync", "scratch", "etags", "week", "cards", "mixed", "bulk")
WEEK = ("20260302T000000Z", "20260309T000000Z")
XANDIKOS_INDEX_WARMUP = 7  # Xandikos indexes a filter's property once 5 queries used it (AutoIndexManager)
BIG = 10000  # the size at which the calendar-query and addressbook-query targets apply
KNOWN_ERRORS = {  # what an error in the details means, for the reader of the table
    "answered 423": "423 Locked: Xandikos refuses a PUT while another PUT holds the collection's git index lock",
    "Connection reset by peer": "connection reset: stock accepts max_connections = 20 connections at once "
                                "(ours' [server] setting, copied) and lets 5 more wait (socketserver's listen "
                                "backlog); the kernel resets the rest",
}


def week_events(size: int) -> int:
    """Events of run_foundation.event in WEEK (days 2..8 of March; each lasts an hour)."""
    return sum(1 + (n // 28) % 12 == 3 and 2 <= 1 + n % 28 <= 8 for n in range(size))


def count_row(sites: list[Site], call: Call, want: int, what: str, report: Report) -> Call:
    """Check every server's count against the data's; a wrong count of ours fails the run."""
    counts = {s.name: responses(call(s.client(), s)) for s in sites}
    report.notes.append(f"{what}: {', '.join(f'{k} {v}' for k, v in counts.items())} responses "
                        f"(the data has {want})")
    if counts.get(OURS, want) != want:
        raise RuntimeError(f"ours: {what} answered {counts[OURS]} responses, the data has {want}")
    return checked(call, lambda s: counts[s.name], what)


def single_rows(size: int, sites: list[Site], args: argparse.Namespace, report: Report) -> None:
    has_x = any(s.name == XANDIKOS for s in sites)

    def run(name: str, request: str, target: str, ok: Callable[[dict[str, float]], bool | None],
            prepare: Callable[[], Call], warmups: dict[str, int] | None = None) -> None:
        """Row ``name``: ``prepare()`` sets up (untimed) and gives the call to time."""
        if name not in args.rows:
            return
        with took(report, f"{size:,} {name}"):
            try:
                call = prepare()
            except Exception as e:
                report.failed(f"{size:,}", request, target, e)
                return
            samples, errors = sample(sites, call, args.repeat, args.cell_budget, warmups)
        report.rows.append(timing_row(size, request, samples, errors, args.repeat, target, ok))
        report.notes.extend(f"{size:,} {name}: {who} failed: {error}" for who, error in errors.items())

    def ctag(client: Http, site: Site) -> str:
        body = client.ctag(site)
        sync_token_of(body, site.name)
        return body

    def sync_after_changes() -> Call:
        tokens = {s.name: s.client().sync_token(s) for s in sites}
        for s in sites:
            client = s.client()
            for k in range(SYNC_CHANGES):
                n = k * size // SYNC_CHANGES
                client.put(s.calendar + item_href(n), calendar_of([event(item_uid(n), n, summary=f"Changed {k}")]))
            client.close()
        time.sleep(settle_seconds())
        call = checked(lambda c, s: c.sync(s, tokens[s.name]), sync_answers, "sync-collection")
        if any(s.name == DAVICAL for s in sites):
            davical = next(s for s in sites if s.name == DAVICAL)
            found = responses(davical.client().sync(davical, tokens[DAVICAL]))
            report.notes.append(f"{size:,} sync-collection: {DAVICAL} answered {found} responses for "
                                f"{SYNC_CHANGES} changes{SYNC_NOTE if found != SYNC_CHANGES else ''}")
        return call

    def big_only(ratio: float) -> Callable[[dict[str, float]], bool | None]:
        return lambda m: speedup(m[STOCK], m[OURS]) >= ratio if size >= BIG else None

    run("ctag", "PROPFIND depth 0 (getctag, sync-token)", "< 5 ms", lambda m: m[OURS] < 5e-3, lambda: ctag)
    run("sync", f"sync-collection, {SYNC_CHANGES} changes", "< 10 ms", lambda m: m[OURS] < 10e-3,
        sync_after_changes)
    run("scratch", "sync-collection from scratch", ">= 10x stock, < Xandikos" if has_x else ">= 10x stock",
        lambda m: speedup(m[STOCK], m[OURS]) >= 10 and (not has_x or m[OURS] < m[XANDIKOS]),
        lambda: checked(lambda c, s: c.sync(s, ""), lambda _s: size, "sync-collection from scratch"))
    run("etags", "PROPFIND depth 1 (getetag)", ">= 5x stock, < Xandikos" if has_x else ">= 5x stock",
        lambda m: speedup(m[STOCK], m[OURS]) >= 5 and (not has_x or m[OURS] < m[XANDIKOS]),
        lambda: checked(Http.etags, lambda _s: size + 1, "PROPFIND depth 1"))
    indexed = {XANDIKOS: XANDIKOS_INDEX_WARMUP}
    run("week", "calendar-query, one week", f">= 10x stock at {BIG:,}", big_only(10),
        lambda: count_row(sites, lambda c, s: c.week(s, *WEEK), week_events(size), f"{size:,} calendar-query",
                          report), indexed)
    run("cards", "addressbook-query, FN contains", f">= 10x stock at {BIG:,}", big_only(10),
        lambda: count_row(sites, Http.card_search, card_matches(size), f"{size:,} addressbook-query", report),
        indexed)


def sync_answers(site: Site) -> int | range:
    """The responses a sync-collection after SYNC_CHANGES changes must have (DAViCal: or one more)."""
    return range(SYNC_CHANGES, SYNC_CHANGES + SYNC_REPEATS_LAST + 1) if site.name == DAVICAL else SYNC_CHANGES


def mixed_rows(size: int, sites: list[Site], args: argparse.Namespace, report: Report) -> None:
    for clients in args.clients:
        request = f"mixed load, {clients} clients, {args.mixed_seconds:g} s"
        target = ">= 10x stock, no errors"
        with took(report, f"{size:,} mixed, {clients} clients"):
            try:
                results = {s.name: mixed_load(s, size, clients, args.mixed_seconds) for s in sites}
            except Exception as e:
                report.failed(f"{size:,}", request, target, e)
                continue
        for name, result in results.items():
            print(f"    {name}: {result.cell()}; {result.detail()}", flush=True)
            report.notes.append(f"{size:,} {request}, {name}: {result.detail()}")
            report.notes.extend(f"  - {name}: {m}" for m in result.tally.error_lines())
        ratio = speedup(results[OURS].rate, results[STOCK].rate)
        postgresql = (pg_verdict(per_request({n: r.rate for n, r in results.items()}), (), single=False,
                                 also="no errors", clean=results[OURS_PG].errors == 0)
                      if OURS_PG in results else None)
        report.rows.append(Row(f"{size:,}", request, {name: r.cell() for name, r in results.items()},
                               f"{ratio:.1f}x", target, verdict(ratio >= 10 and results[OURS].errors == 0),
                               postgresql))


def bulk_row(sites: list[Site], args: argparse.Namespace, report: Report) -> None:
    request = f"bulk PUT of {args.bulk_items:,} new events, {args.bulk_clients} clients"
    target = "all done, >= 2x stock's rate"
    with took(report, f"bulk PUT of {args.bulk_items:,}"):
        try:
            results = {s.name: bulk_put(s, args.bulk_items, args.bulk_clients, args.bulk_budget) for s in sites}
            listed = {s.name: responses(s.client().etags(dataclasses.replace(s, calendar=s.bulk))) - 1
                      for s in sites}
        except Exception as e:
            report.failed("per run", request, target, e)
            return
    common = min(r.done for r in results.values())
    for name, result in results.items():
        print(f"    {name}: {result.cell()}; {listed[name]:,} items listed", flush=True)
        report.notes.append(f"bulk PUT, {name}: {result.detail(common)}")
        report.notes.extend(f"  - bulk PUT, {name}: {m}" for m in result.tally.error_lines())
        if listed[name] != result.done:
            report.notes.append(f"bulk PUT, {name}: {result.done:,} PUTs succeeded, {listed[name]:,} items listed")
    ours, stock = results[OURS], results[STOCK]
    ratio = speedup(ours.rate, stock.rate)
    on_pg = results.get(OURS_PG)
    postgresql = (pg_verdict(per_request({n: r.rate for n, r in results.items()}), (), single=False,
                             also="all done", clean=on_pg.complete and listed[OURS_PG] == on_pg.done)
                  if on_pg is not None else None)
    report.rows.append(Row("per run", request, {name: r.cell() for name, r in results.items()}, f"{ratio:.1f}x",
                           target, verdict(ours.complete and listed[OURS] == ours.done and ratio >= 2), postgresql))


def run_size(size: int, last: bool, work: Path, args: argparse.Namespace, report: Report,
             commands: dict[str, str]) -> None:
    print(f"{size:,} items", flush=True)
    with ExitStack() as stack:
        def start(server: Server) -> Server:
            stack.callback(server.stop)
            return server.start()

        ours = start(make_server(work / f"ours-{size}", users=("alice",)))
        stock = start(make_stock_server(work / f"stock-{size}", ours.config, ("alice",)))
        servers: dict[str, Server] = {STOCK: stock}
        sites = [radicale_site(STOCK, stock)]
        if not args.skip_xandikos:
            xandikos = start(make_xandikos_server(work / f"xandikos-{size}"))
            servers[XANDIKOS] = xandikos
            sites.append(xandikos_site(xandikos))
        servers[OURS] = ours
        sites.append(radicale_site(OURS, ours))
        if args.postgresql:   # ours with everything in PostgreSQL (docs/scale-out.md)
            dsn = args.cluster.create_database(f"speed_{size}")
            on_pg = start(make_server(work / f"ours-pg-{size}", users=("alice",), storage={"postgresql_dsn": dsn}))
            servers[OURS_PG] = on_pg
            sites.append(radicale_site(OURS_PG, on_pg))
        commands.update({name: command_line(server) for name, server in servers.items()})
        if args.davical:   # its database in the same PostgreSQL server
            davical = start(make_davical_server(work / f"davical-{size}", args.cluster, size))
            sites.append(davical_site(davical))
            commands[DAVICAL] = davical.summary()
        for site in sites:
            with took(report, f"{size:,} load {site.name}"):
                if site.name == XANDIKOS:
                    load_xandikos(xandikos, site, size)
                elif site.name == DAVICAL:
                    load_davical(site, size)
                else:
                    load_radicale(site, size, servers[site.name] if site.name in (OURS, OURS_PG) else None)
        time.sleep(settle_seconds())  # ours re-checks just-written files until they settle
        single_rows(size, sites, args, report)
        if "mixed" in args.rows:
            mixed_rows(size, sites, args, report)
        if "bulk" in args.rows and last:
            bulk_row(sites, args, report)


def render(args: argparse.Namespace, report: Report, seconds: float, load: tuple[str, str],
           commands: dict[str, str]) -> str:
    names = ([STOCK] + ([] if args.skip_xandikos else [XANDIKOS]) + [OURS] + ([OURS_PG] if args.postgresql else [])
             + ([DAVICAL] if args.davical else []))
    command = " ".join(["python bench/run_speed.py", *sys.argv[1:]])
    servers = ", ".join(f"{name} `{commands.get(name, '?')}`" for name in names)
    xandikos = "" if args.skip_xandikos else f", Xandikos {version('xandikos')}"  # the bench extra
    lines = [
        f"Run of {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `{command}` ({seconds / 60:.1f} min)",
        "",
        f"- machine: {machine()}{xandikos}; load average (1, 5, 15 min) {load[0]} "
        f"before, {load[1]} after",
        f"- servers, started side by side on 127.0.0.1 for each size: {servers} (Xandikos without "
        "authentication; its items committed to its git store in one commit, see bench/speed_servers.py)",
        f"- client: http.client keep-alive with Basic auth, every status checked; single requests: median "
        f"(p90) ms over {args.repeat} timed repetitions after {WARMUP} untimed (1 if a call takes over "
        f"{args.cell_budget / 20:g} s; Xandikos {XANDIKOS_INDEX_WARMUP} for the two queries: it indexes a filter's "
        f"property once 5 queries have used it), servers interleaved, at most {args.cell_budget:g} s per server "
        "and cell (n = samples where fewer)",
        "- mixed load mix: " + ", ".join(f"{w}% {what}" for _k, w, what in MIX),
        *([f"- {OURS_PG}: ours with `[storage] postgresql_dsn` (items and the sharing database in a private "
           "PostgreSQL 15 on loopback, fsync off as in the tests), one process; its targets (issue 16): within "
           f"{PG_WITHIN:g}x of ours' time on single requests" + (f" and faster than {DAVICAL} on every row"
                                                                  if args.davical else "")
           + f"; \"{OURS_PG} / X\" is its median time divided by X's (mixed and bulk rows: X's rate divided by "
           "its own)"] if args.postgresql else []),
        *([f"- {DAVICAL}: Debian's package as its install notes set it up (PHP-FPM + nginx), its database in "
           "the same PostgreSQL server; the calendar and the address book imported by PUTs of "
           f"{IMPORT_CHUNK:,} items onto the collection, the calendar's last event PUT alone, the same store as "
           "N PUTs leave (see bench/speed_davical.py)"] if args.davical else []),
        "",
        *table(report.rows, names),
        "",
        "Details:",
        "",
        *[f"- {n}" if not n.startswith("  ") else n for n in report.notes],
        *[f"- {why}" for key, why in KNOWN_ERRORS.items() if any(key in n for n in report.notes)],
        f"- time taken: {'; '.join(report.times)}",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=40, help="timed repetitions per cell (default: %(default)s)")
    parser.add_argument("--cell-budget", type=float, default=30, help="seconds per server and cell (default: 30)")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS), help="rows to run (default: all)")
    parser.add_argument("--skip-xandikos", action="store_true", help="stock and ours only")
    parser.add_argument("--postgresql", action="store_true",
                        help=f"also '{OURS_PG}': ours with [storage] postgresql_dsn, on a private PostgreSQL server")
    parser.add_argument("--davical", action="store_true",
                        help=f"also {DAVICAL} (PHP + PostgreSQL; Debian's packages, run as root), on the same "
                             "PostgreSQL server")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32], help="mixed load (default: 8 32)")
    parser.add_argument("--mixed-seconds", type=float, default=20)
    parser.add_argument("--bulk-items", type=int, default=10000)
    parser.add_argument("--bulk-clients", type=int, default=4)
    parser.add_argument("--bulk-budget", type=float, default=180, help="seconds per server (default: 180)")
    add_run_options(parser)
    return parser.parse_args(argv)


def stop_on_kill() -> None:
    """A kill (SIGTERM) unwinds the benchmark like Ctrl-C: its servers, DAViCal's /etc/davical file and
    PostgreSQL are stopped.  A forked client process goes back to the default (its pool ends it with
    SIGTERM, which must work wherever it is blocked)."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.davical and (why := missing()):
        print(why, file=sys.stderr)
        return 2
    stop_on_kill()
    began, load_before = time.monotonic(), load_average()
    work = work_folder("speed-")
    report, commands = Report(), {}
    args.cluster = start_cluster() if args.postgresql or args.davical else None
    try:
        for i, size in enumerate(args.sizes):
            run_size(size, i == len(args.sizes) - 1, work, args, report, commands)
    finally:
        if args.cluster is not None:
            args.cluster.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = render(args, report, time.monotonic() - began, (load_before, load_average()), commands)
    publish(text, args, "speed", "## Speed at size (issue 8, `bench/run_speed.py`)")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
