"""Collections nobody asks for, let go: a server process's memory and inotify watches, kept against let go.

    python bench/run_idle_views.py [--calendars 200] [--events 100] [--idle 20] [--keep] [--no-write]

A school's server: many calendars, each synced now and then, most of them quiet most of the time.  Two
servers of ours (one process each, tests/server.py's config) side by side: one with
``[storage] index_idle_seconds = 0`` (every view kept for good, as before session 25), one with ``--idle``
seconds.  Each gets 2 x ``--calendars`` calendars ("Klasse N Müller 家庭") of ``--events`` events each,
written as files into the folders (as a restore would).  Then the first half is synced (sync-collection
from scratch, twice: the items indexed, then the view), then nothing for ``--idle`` x 1.5 seconds (the
thread looks every quarter of the idle time); then the second half the same.  Measured for each server
after each quiet time: its process's PSS (``/proc/PID/smaps_rollup``) and inotify watches; then the time of
a sync-collection from scratch of each calendar of the first half (its view made again where it was let
go).  Freed views are memory the process uses again, not always memory given back to the system: what
counts is that the let-go server does not grow with the second half.  Targets: no watch left after a quiet
time; the let-go server grows by less than half of what the keeping one grows.  The table goes between the
``idle-views`` markers of bench/RESULTS.md; exit status 1 if a target fails (docs/performance.md, "Memory").
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import quote

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

from results import add_run_options, machine_line, ms, publish, work_folder  # noqa: E402

from tests import dav_kit as dav  # noqa: E402
from tests.server import Server, make_server  # noqa: E402


def calendar_name(n: int) -> str:
    return f"Klasse {n} Müller 家庭"


def event(calendar: int, n: int) -> str:
    day = 1 + (calendar + n) % 28
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench idle views//DE\r\nBEGIN:VEVENT\r\n"
            f"UID:klasse-{calendar}-{n}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:202603{day:02d}T080000Z\r\n"
            f"DTEND:202603{day:02d}T090000Z\r\nSUMMARY:Elternabend {n} 🎒 家长会\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def inotify_watches(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    count += sum(line.startswith("inotify wd:") for line in info)
        except OSError:
            continue
    return count


def filled(server: Server, calendars: int, events: int) -> None:
    for c in range(calendars):
        path = f"/alice/{quote(calendar_name(c))}/"
        assert server.request("MKCALENDAR", path, "alice").status_code == 201
        folder = server.root / "data" / "collections" / "collection-root" / "alice" / calendar_name(c)
        for n in range(events):
            (folder / f"elternabend-{n}.ics").write_text(event(c, n), encoding="utf-8", newline="")


def synced_all(server: Server, calendars: range, events: int) -> list[float]:
    took = []
    for c in calendars:
        began = time.perf_counter()
        answer = dav.parse_sync(dav.sync(server, f"/alice/{quote(calendar_name(c))}/", "alice"))
        took.append(time.perf_counter() - began)
        assert len(answer.found) == events, (c, len(answer.found))
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calendars", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--idle", type=int, default=20, help="the let-go server's index_idle_seconds")
    add_run_options(parser)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    work = work_folder("idle-views-")
    servers = {name: make_server(work / folder, storage={"index_idle_seconds": seconds})
               for name, folder, seconds in (("kept for good (0)", "kept", "0"),
                                             (f"let go after {args.idle} s", "let-go", str(args.idle)))}
    rows: dict[str, dict[str, str]] = {}
    numbers: dict[str, dict[str, float]] = {}
    halves = (range(args.calendars), range(args.calendars, 2 * args.calendars))
    began = time.monotonic()
    try:
        for server in servers.values():
            server.start()
            filled(server, 2 * args.calendars, args.events)
        time.sleep(2.5)   # past the window in which the index does not trust a just-written file
        pid = {name: server.proc.pid for name, server in servers.items()}
        quiet: list[dict[str, tuple[float, int]]] = []
        for half in halves:
            for server in servers.values():
                synced_all(server, half, args.events)   # the first sync of each: the items read and indexed
                synced_all(server, half, args.events)   # and again, from the view
            time.sleep(args.idle * 1.5)
            quiet.append({name: (pss_mib(pid[name]), inotify_watches(pid[name])) for name in servers})
        again = {name: synced_all(server, halves[0], args.events) for name, server in servers.items()}
        for name in servers:
            (first, first_watches), (second, second_watches) = quiet[0][name], quiet[1][name]
            rows[name] = {"after the first half, quiet": f"{first:.1f} MiB, {first_watches} watches",
                          "after the second half, quiet": f"{second:.1f} MiB, {second_watches} watches",
                          "grown by": f"{second - first:.1f} MiB",
                          "next sync of a first-half calendar, ms": ms(again[name])}
            numbers[name] = {"grown": second - first, "watches": max(first_watches, second_watches)}
    finally:
        for server in servers.values():
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    kept, let_go = list(numbers)
    passed = numbers[let_go]["watches"] == 0 and numbers[let_go]["grown"] < numbers[kept]["grown"] / 2
    columns = list(rows[kept])
    lines = [f"Run of {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC: `python bench/run_idle_views.py "
             f"{' '.join(sys.argv[1:] if argv is None else argv)}` ({time.monotonic() - began:.0f} s)", "",
             machine_line(load_before),
             f"- data: two halves of {args.calendars} calendars of {args.events} events each per server, written "
             "as files; each half synced (twice: items indexed, then from the view), then nothing for "
             f"{args.idle * 1.5:g} s; one process per server, PSS and inotify watches of that process", "",
             "| server | " + " | ".join(columns) + " |", "| --- | " + " | ".join("---:" for _ in columns) + " |",
             *[f"| {name} | " + " | ".join(row[c] for c in columns) + " |" for name, row in rows.items()], "",
             f"Targets: no watch left after a quiet time, and the let-go server grown by less than half of what the "
             f"keeping one grew: {'PASS' if passed else 'FAIL'} ({numbers[let_go]['grown']:.1f} against "
             f"{numbers[kept]['grown']:.1f} MiB, {numbers[let_go]['watches']:g} watches)."]
    publish("\n".join(lines) + "\n", args, "idle-views", "## Views let go (`bench/run_idle_views.py`)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
