"""Share-link benchmark (issue 6): one real server, one 1,000-event calendar.

    python bench/run_links.py [--events 1000] [--repeat 200] [--keep]

Measures, in one run against one radicale-ext server (tests/server.py's
config, under bench/work/links-*):

- the link feed: anonymous GET of ``/.links/<token>.ics`` for alice's calendar;
- the same calendar by an authenticated GET of ``/alice/family/`` (alice);
- 304 revalidation of the link feed (``If-None-Match`` with its ETag).

Each request is timed on its own keep-alive ``requests.Session`` (alice's
with her login, the link's with none), both asking for gzip as clients do;
the three requests take turns (rotating order each round) so drift cancels
out.  Targets: link GET within 1.10x of the authenticated GET; 304 at least
5x cheaper than the full link GET.  The table is printed and written between
the ``links`` markers in bench/RESULTS.md; exit status 1 if a target fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

import requests  # noqa: E402
from http_timing import expect, timed  # noqa: E402
from results import add_run_options, machine_line, ms, work_folder, write_section  # noqa: E402

from radicale_ext.links.reader import RACY_SECONDS  # noqa: E402
from tests.server import Server, make_server, password  # noqa: E402

RESULTS = PROJECT / "bench" / "RESULTS.md"
FAMILY = "/alice/family/"
GET_TARGET, REVALIDATION_TARGET = 1.10, 5.0

EVENT = ("BEGIN:VEVENT\r\nUID:bench-{n:05d}\r\nDTSTAMP:20260101T000000Z\r\n"
         "DTSTART;TZID=Europe/Berlin:2026{month:02d}{day:02d}T{hour:02d}0000\r\n"
         "DTEND;TZID=Europe/Berlin:2026{month:02d}{day:02d}T{end:02d}0000\r\n"
         "SUMMARY:Event {n}\r\nLOCATION:Room {room}\r\nDESCRIPTION:Benchmark event {n}\\, the same every run.\r\n"
         "END:VEVENT\r\n")
BERLIN = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
          "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
          "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
          "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")


def calendar_body(events: int) -> str:
    items = [EVENT.format(n=n, month=1 + (n // 28) % 12, day=1 + n % 28, hour=8 + n % 10, end=9 + n % 10,
                          room=n % 50) for n in range(events)]
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//radicale-ext//bench//EN\r\n" + BERLIN + "".join(items) \
        + "END:VCALENDAR\r\n"






def prepare(server: Server, events: int) -> str:
    """alice's calendar of ``events`` events (one whole-collection PUT) and a link to it; returns its URL."""
    expect(server.request("PROPFIND", "/alice/", "alice", headers={"Depth": "0"}), 207)
    expect(server.session.put(server.url + FAMILY, data=calendar_body(events).encode(), timeout=600,
                              auth=("alice", password("alice")), headers={"Content-Type": "text/calendar"}), 201)
    out = server.ok("link", "create", "alice/family", "--base-url", server.url, "--json", "--label", "benchmark")
    return json.loads(out)[0]["url"]


def measure(server: Server, url: str, repeat: int, warmup: int) -> tuple[dict[str, list[float]], float, int]:
    owner = requests.Session()
    owner.auth = ("alice", password("alice"))
    stranger = requests.Session()
    cold = timed(lambda: stranger.get(url), 200)  # the first request builds every item's parts
    # a calendar's data is normally older than the 2 s in which a folder stamp is not trusted
    time.sleep(RACY_SECONDS + 0.5)
    full = expect(stranger.get(url), 200)
    authenticated = expect(owner.get(server.url + FAMILY), 200)
    etag = full.headers["ETag"]
    probes: dict[str, Callable[[], float]] = {
        "authenticated GET": lambda: timed(lambda: owner.get(server.url + FAMILY), 200),
        "link GET": lambda: timed(lambda: stranger.get(url), 200),
        "link 304": lambda: timed(lambda: stranger.get(url, headers={"If-None-Match": etag}), 304),
    }
    names = list(probes)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + repeat):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed = probes[name]()
            if i >= warmup:
                samples[name].append(elapsed)
    return samples, cold, len(authenticated.content)


def report(args: argparse.Namespace, samples: dict[str, list[float]], cold: float, size: int, seconds: float,
           load: tuple[float, float, float]) -> tuple[str, bool]:
    med = {name: statistics.median(values) for name, values in samples.items()}
    get_ratio = med["link GET"] / med["authenticated GET"]
    revalidation = med["link GET"] / med["link 304"]
    get_ok, reval_ok = get_ratio <= GET_TARGET, revalidation >= REVALIDATION_TARGET
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/run_links.py" + ("".join(f" {a}" for a in sys.argv[1:]))
    lines = [
        f"Run of {when}: `{command}`",
        "",
        machine_line(load),
        f"- data: {args.events} events in alice's calendar ({size // 1024} KiB as served); one server "
        f"(`python -m radicale_ext.plugins.server`); {args.repeat} timed rounds after {args.warmup} untimed, "
        f"the three requests interleaved; {seconds:.0f} s in all",
        "- times are client-side wall clock over keep-alive sessions, gzip accepted, in ms: median (p90)",
        "",
        "| request | median (p90) ms |",
        "| --- | ---: |",
        *(f"| {name} | {ms(values)} |" for name, values in samples.items()),
        f"| link GET, first after creating the link (item parts not cached yet; one sample) | {cold * 1000:.1f} |",
        "",
        "| check | value | target | result |",
        "| --- | ---: | --- | --- |",
        f"| link GET / authenticated GET of the same calendar | {get_ratio:.2f}x | <= {GET_TARGET:.2f}x | "
        f"{'PASS' if get_ok else 'FAIL'} |",
        f"| full link GET / 304 revalidation | {revalidation:.1f}x | >= {REVALIDATION_TARGET:.0f}x | "
        f"{'PASS' if reval_ok else 'FAIL'} |",
        "",
    ]
    return "\n".join(lines), get_ok and reval_ok


def write_results(text: str) -> None:
    write_section("links", text, "## Share links (issue 6)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    add_run_options(parser)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    began = time.monotonic()
    root = work_folder("links-")
    server = make_server(root / "ours", users=("alice",)).start()
    try:
        print(f"loading {args.events} events ...", flush=True)
        url = prepare(server, args.events)
        print(f"timing {args.repeat} rounds ...", flush=True)
        samples, cold, size = measure(server, url, args.repeat, args.warmup)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    text, passed = report(args, samples, cold, size, time.monotonic() - began, load)
    print(text)
    if not args.no_write:
        write_results(text)
        print(f"written to {RESULTS.relative_to(PROJECT)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
