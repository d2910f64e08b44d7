"""Per-person alarms benchmark (issue 15): a shared calendar read with and without alarms of one's own.

    python bench/run_personal_alarms.py [--events 1000] [--own 100] [--repeat 30] [--keep]

One radicale-ext server (tests/server.py's config, under bench/work/alarms-*):
alice's calendar "家庭" holds ``--events`` events (default 1,000, 50 a week
over 20 weeks, each with alice's alarm), shared with bob and carol as
subscribers.  Bob gives ``--own`` of them (default 100, every tenth) an alarm
of his own, each by a PUT through his mount; carol has none.  So bob's reads
go through the per-person view, carol's are the same reads of the same
calendar without per-person data.

Timed, interleaved, bob against carol, each through their own mount: PROPFIND
depth 1 (``getetag``), calendar-multiget of every event, a week's
calendar-query (``calendar-data`` of the 50 events of week 10, five of them
with bob's alarms) and sync-collection without a token (``getetag``).
Target: bob within 1.15x of carol.  The table goes between the
``personal-alarms`` markers of bench/RESULTS.md; exit status 1 if a target fails.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

import requests  # noqa: E402
from http_timing import expect, timed  # noqa: E402
from results import add_run_options, machine_line, ms, publish, work_folder  # noqa: E402

from tests.server import Server, make_server, password  # noqa: E402

RESULTS = PROJECT / "bench" / "RESULTS.md"
TARGET = 1.15
CALENDAR = "家庭"
NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}
FIRST_MONDAY = datetime.datetime(2026, 3, 2, 17, 0)
PROPFIND = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop>'
            "</D:propfind>")
SYNC = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/>'
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>")
MULTIGET = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}'
            "</C:calendar-multiget>")
WEEK = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter>'
        '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")


def event(n: int, trigger: str = "-PT30M") -> str:
    start = FIRST_MONDAY + datetime.timedelta(days=7 * (n // 50), hours=(n % 50) // 5, minutes=(n % 5) * 10)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:fussball-{n}\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART;TZID=Europe/Berlin:{start:%Y%m%dT%H%M%S}\r\nDURATION:PT1H\r\n"
            f"SUMMARY:Fußball 🎉 training {n}\r\nLOCATION:Sportplatz Müllerstraße\r\n"
            f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Fußball\r\nTRIGGER:{trigger}\r\nEND:VALARM\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def item(n: int) -> str:
    return f"Fußball {n:04d}.ics"


def mount(user: str) -> str:
    return f"/{user}/{quote(CALENDAR)}~alice/"


def fill(server: Server, events: int, own: int) -> None:
    alice = requests.Session()
    alice.auth = ("alice", password("alice"))
    expect(alice.request("MKCALENDAR", f"{server.url}/alice/{quote(CALENDAR)}/"), 201)
    for n in range(events):
        expect(alice.put(f"{server.url}/alice/{quote(CALENDAR)}/{quote(item(n))}", data=event(n).encode(),
                         headers={"Content-Type": "text/calendar"}), 201)
    for user in ("bob", "carol"):
        server.ok("share", "add", f"alice/{CALENDAR}", "--user", user, "--role", "subscriber")
    bob = requests.Session()
    bob.auth = ("bob", password("bob"))
    for n in own_alarms(events, own):
        expect(bob.put(server.url + mount("bob") + quote(item(n)), data=event(n, "-PT2H").encode(),
                       headers={"Content-Type": "text/calendar"}), 204)


def hrefs_of(response: requests.Response) -> list[str]:
    answers = ET.fromstring(response.content).findall("D:response", NS)
    return [r.findtext("D:href", namespaces=NS) or "" for r in answers]


def own_alarms(events: int, own: int) -> list[int]:
    """The events bob gives alarms of his own: every tenth (for the defaults)."""
    step = max(1, events // own) if own else events + 1
    return list(range(0, events, step))[:own]


def measure(server: Server, repeat: int, warmup: int, own: list[int]
            ) -> tuple[dict[str, dict[str, list[float]]], dict[str, int]]:
    sessions = {}
    multiget = {}
    for user in ("bob", "carol"):
        sessions[user] = requests.Session()
        sessions[user].auth = (user, password(user))
        listing = expect(sessions[user].request("PROPFIND", server.url + mount(user), data=PROPFIND,
                                                headers={"Depth": "1"}), 207)
        multiget[user] = MULTIGET.format(hrefs="".join(f"<D:href>{h}</D:href>" for h in hrefs_of(listing)
                                                       if h.endswith(".ics")))
    week_start = FIRST_MONDAY + datetime.timedelta(days=70)
    week = WEEK.format(start=f"{week_start - datetime.timedelta(days=1):%Y%m%dT000000Z}",
                       end=f"{week_start + datetime.timedelta(days=6):%Y%m%dT000000Z}")
    counts = {"week": len(hrefs_of(expect(sessions["bob"].request("REPORT", server.url + mount("bob"), data=week,
                                                                   headers={"Depth": "1"}), 207))),
              "own in the week": len([n for n in own if 500 <= n < 550])}

    def probe(user: str, what: str) -> Callable[[], float]:
        session, url = sessions[user], server.url + mount(user)
        body, method = {"PROPFIND depth 1 (getetag)": (PROPFIND, "PROPFIND"),
                        "calendar-multiget, every event": (multiget[user], "REPORT"),
                        "calendar-query, one week": (week, "REPORT"),
                        "sync-collection from scratch": (SYNC, "REPORT")}[what]
        return lambda: timed(lambda: session.request(method, url, data=body.encode(), headers={"Depth": "1"}), 207)

    whats = ("PROPFIND depth 1 (getetag)", "calendar-multiget, every event", "calendar-query, one week",
             "sync-collection from scratch")
    probes = [(what, user, probe(user, what)) for what in whats for user in ("bob", "carol")]
    samples: dict[str, dict[str, list[float]]] = {what: {"bob": [], "carol": []} for what in whats}
    for i in range(warmup + repeat):
        shift = i % len(probes)
        for what, user, call in probes[shift:] + probes[:shift]:
            elapsed = call()
            if i >= warmup:
                samples[what][user].append(elapsed)
    return samples, counts


def report(args: argparse.Namespace, samples: dict, counts: dict, seconds: float,
           load: tuple[float, ...]) -> tuple[str, bool]:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/run_personal_alarms.py" + "".join(f" {a}" for a in sys.argv[1:])
    passed = True
    rows = []
    for what, by_user in samples.items():
        ratio = statistics.median(by_user["bob"]) / statistics.median(by_user["carol"])
        ok = ratio <= TARGET
        passed &= ok
        rows.append(f"| {what} | {ms(by_user['carol'])} | {ms(by_user['bob'])} | {ratio:.2f}x | <= {TARGET}x | "
                    f"{'PASS' if ok else 'FAIL'} |")
    lines = [
        f"Run of {when}: `{command}`",
        "",
        machine_line(load),
        f"- data: alice's calendar with {args.events} events (each with her alarm), shared with bob and carol; bob "
        f"set alarms of his own on {args.own} of them through his mount, carol on none; the week's query answers "
        f"{counts['week']} events, {counts['own in the week']} with bob's alarms; {args.repeat} timed rounds after "
        f"{args.warmup} untimed, all eight requests interleaved; {seconds:.0f} s in all",
        "- times are client-side wall clock over a keep-alive session, in ms: median (p90)",
        "",
        f"| request through one's mount | carol (no alarms of her own) | bob ({args.own} of his own) | ratio | target "
        "| result |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        *rows,
        "",
    ]
    return "\n".join(lines), passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--own", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    add_run_options(parser)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    began = time.monotonic()
    root = work_folder("alarms-")
    server = make_server(root / "ours", users=("alice", "bob", "carol")).start()
    try:
        print(f"writing {args.events} events and bob's {args.own} own alarms ...", flush=True)
        fill(server, args.events, args.own)
        print(f"timing {args.repeat} rounds ...", flush=True)
        samples, counts = measure(server, args.repeat, args.warmup, own_alarms(args.events, args.own))
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    text, passed = report(args, samples, counts, time.monotonic() - began, load)
    publish(text, args, "personal-alarms",
            "## Per-person alarms on a shared calendar (issue 15, `bench/run_personal_alarms.py`)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
