"""Events that name their zone without its VTIMEZONE: PUT, ours against stock Radicale 3.9, side by side.

    python bench/run_unsent_zones.py [--events 90] [--keep] [--no-write]

Some clients and libraries send ``DTSTART;TZID=Europe/Berlin:...`` without a
VTIMEZONE; the server (vobject, in stock Radicale and in ours) writes one in.
Stock Radicale (``python -m radicale``, bench/run_foundation.py's config) and
ours (tests/server.py's config, one process) are started side by side and get
the same new events, one PUT at a time, alternating between the servers: a
third each in Europe/Berlin, America/New_York and Asia/Shanghai named by TZID
alone, and as the control the same number of events in UTC (no zone to
write).  Every event is read back from both servers: the texts must be the
same.  Times are client-side wall clock over a keep-alive session, in ms:
median (p90); the first event of each zone in a process is among them.
Targets: ours' PUT of an event naming its zone within 2x of ours' PUT of a
UTC event, and at least 5x faster than stock's.  The table goes between the
``unsent-zones`` markers of bench/RESULTS.md; exit status 1 if a target fails
(docs/performance.md, "Writes").
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

from http_timing import expect, timed  # noqa: E402
from results import add_run_options, machine_line, ms, publish, work_folder  # noqa: E402
from run_foundation import make_stock_server  # noqa: E402

from tests.server import Server, loopback_session, make_server, password  # noqa: E402

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Shanghai")
CALENDAR = "/alice/" + quote("Familie Müller 家庭") + "/"
FIRST = datetime.datetime(2026, 3, 2, 17, 0)
STOCK_AT_LEAST = 5.0
OWN_UTC_WITHIN = 2.0


def event(n: int, zone: str | None) -> str:
    start = FIRST + datetime.timedelta(days=n, hours=n % 5)
    dtstart = f"DTSTART;TZID={zone}:{start:%Y%m%dT%H%M%S}" if zone else f"DTSTART:{start:%Y%m%dT%H%M%S}Z"
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:zone-{n}-{zone or 'utc'}\r\nDTSTAMP:20260101T000000Z\r\n{dtstart}\r\nDURATION:PT1H\r\n"
            f"SUMMARY:Zahnarzt Müller 牙医 🦷 {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def href(n: int, zone: str | None) -> str:
    return CALENDAR + quote(f"Termin {n} {zone or 'UTC'}.ics".replace("/", "-"))


def measure(servers: dict[str, Server], events: int) -> tuple[dict[str, dict[str, list[float]]], int]:
    """Seconds per PUT, by server and kind ("zone named" or "UTC"), alternating; then the texts compared."""
    sessions = {}
    for name, server in servers.items():
        sessions[name] = loopback_session()
        sessions[name].auth = ("alice", password("alice"))
        expect(sessions[name].request("MKCALENDAR", server.url + CALENDAR), 201)
    samples: dict[str, dict[str, list[float]]] = {name: {"zone named": [], "UTC": []} for name in servers}
    order = list(servers)
    for n in range(events):
        for kind, zone in (("zone named", ZONES[n % len(ZONES)]), ("UTC", None)):
            for name in order:
                put = functools.partial(sessions[name].put, servers[name].url + href(n, zone),
                                        data=event(n, zone).encode(), headers={"Content-Type": "text/calendar"})
                samples[name][kind].append(timed(put, 201))
        order.reverse()
    differ = 0
    for n in range(events):
        for zone in (ZONES[n % len(ZONES)], None):
            texts = {expect(sessions[name].get(servers[name].url + href(n, zone)), 200).text for name in servers}
            differ += len(texts) > 1
    return samples, differ


def report(args: argparse.Namespace, samples: dict, differ: int, seconds: float,
           load: tuple[float, ...]) -> tuple[str, bool]:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/run_unsent_zones.py" + "".join(f" {a}" for a in sys.argv[1:])
    median = {name: {kind: statistics.median(v) for kind, v in kinds.items()} for name, kinds in samples.items()}
    vs_stock = median["stock"]["zone named"] / median["ours"]["zone named"]
    vs_utc = median["ours"]["zone named"] / median["ours"]["UTC"]
    checks = [(vs_stock >= STOCK_AT_LEAST, f"ours {vs_stock:.1f}x faster than stock (>= {STOCK_AT_LEAST}x)"),
              (vs_utc <= OWN_UTC_WITHIN, f"ours {vs_utc:.2f}x its UTC PUT (<= {OWN_UTC_WITHIN}x)"),
              (differ == 0, f"{differ} of {2 * args.events} events read back differently from the two servers")]
    passed = all(ok for ok, _ in checks)
    lines = [
        f"Run of {when}: `{command}` ({seconds:.0f} s)",
        "",
        machine_line(load),
        f"- {args.events} new events per kind and server, one PUT at a time over a keep-alive session, "
        "alternating between the servers; the zones named in turn: " + ", ".join(ZONES),
        "",
        "| PUT of a new event | stock | ours | stock / ours |",
        "| --- | ---: | ---: | ---: |",
        *(f"| {kind} | {ms(samples['stock'][kind])} | {ms(samples['ours'][kind])} | "
          f"{median['stock'][kind] / median['ours'][kind]:.1f}x |" for kind in ("zone named", "UTC")),
        "",
        *(f"- {'PASS' if ok else 'FAIL'}: {what}" for ok, what in checks),
        "",
    ]
    return "\n".join(lines), passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=90)
    add_run_options(parser)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    began = time.monotonic()
    root = work_folder("zones-")
    servers: dict[str, Server] = {}
    try:
        servers["ours"] = make_server(root / "ours", users=("alice",)).start()
        servers["stock"] = make_stock_server(root / "stock", servers["ours"].config, ("alice",)).start()
        samples, differ = measure(servers, args.events)
    finally:
        for server in servers.values():
            server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    text, passed = report(args, samples, differ, time.monotonic() - began, load)
    publish(text, args, "unsent-zones", "## Events naming a zone without its VTIMEZONE (`bench/run_unsent_zones.py`)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
