"""Profile one request in-process against a server folder kept by run_foundation.py --keep.

    python bench/run_foundation.py --quick --keep
    python bench/profile_request.py bench/work/foundation-*/ours-big --user collector
    python bench/profile_request.py bench/work/foundation-*/ours --user alice --path /alice/family/ --body etags
    python bench/profile_request.py bench/work/foundation-*/ours --user alice --path /alice/family/ --method REPORT \
        --body sync

No HTTP server: the same Application the server runs (ours: radicale_ext's,
a folder without a [sharing] section: stock Radicale's) is called directly,
so the times are the application's own.  Prints the time per request
without the profiler, then cProfile's top functions.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import cProfile
import io
import pstats
import statistics
import sys
import time
import wsgiref.util
from collections.abc import Callable, Sequence
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))  # run as a script: make tests.server importable

import radicale  # noqa: E402
from radicale import config  # noqa: E402

from bench.run_foundation import PROPFIND_ETAGS, PROPFIND_HOME, SYNC_REPORT  # noqa: E402
from tests.server import password  # noqa: E402

WEEK = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
        '<D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        '<C:time-range start="20260308T000000Z" end="20260315T000000Z"/></C:comp-filter></C:comp-filter>'
        "</C:filter></C:calendar-query>")
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//profile//EN\r\nBEGIN:VEVENT\r\nUID:e5\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:20250106T073000Z\r\nDURATION:PT30M\r\nRRULE:FREQ=WEEKLY\r\n"
         "SUMMARY:Schulweg Müller\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")   # PUT it to /USER/CAL/e5.ics
MEETING = EVENT.replace("RRULE:FREQ=WEEKLY\r\n", "")   # the same event without recurrence
BODIES = {"home": PROPFIND_HOME, "etags": PROPFIND_ETAGS, "sync": SYNC_REPORT.format(token=""), "week": WEEK,
          "event": EVENT, "meeting": MEETING, "none": ""}

App = Callable[[dict, Callable], object]


def application(folder: Path) -> App:
    path = folder / "radicale.ini"
    parser = configparser.RawConfigParser()
    parser.read(path)
    configuration = config.load([(str(path), False)])
    if not parser.has_section("sharing"):
        return radicale.Application(configuration)
    from radicale_ext.plugins.app import Application
    return Application(configuration)


def requester(app: App, method: str, path: str, user: str, body: str, depth: str) -> Callable[[], str]:
    data = body.encode()
    token = base64.b64encode(f"{user}:{password(user)}".encode()).decode()

    def call() -> str:
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_AUTHORIZATION": f"Basic {token}",
                   "HTTP_DEPTH": depth, "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "text/xml",
                   "wsgi.input": io.BytesIO(data)}
        wsgiref.util.setup_testing_defaults(environ)
        environ["wsgi.errors"] = sys.stderr
        status: list[str] = []
        b"".join(app(environ, lambda s, _h: status.append(s)))  # type: ignore[attr-defined]
        return status[0]

    return call


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder", type=Path, help="a server folder: bench/work/foundation-*/ours-big")
    p.add_argument("--user", required=True)
    p.add_argument("--method", default="PROPFIND")
    p.add_argument("--path", help="default: the user's home")
    p.add_argument("--depth", default="1")
    p.add_argument("--body", choices=sorted(BODIES), default="home")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--sort", default="tottime", help="cProfile sort key (default: %(default)s)")
    p.add_argument("--limit", type=int, default=25)
    args = p.parse_args(argv)
    call = requester(application(args.folder), args.method, args.path or f"/{args.user}/", args.user,
                     BODIES[args.body], args.depth)
    print("status:", call())
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    print(f"per request: best {min(times):.1f} ms, median {statistics.median(times):.1f} ms")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.repeat):
        call()
    profile.disable()
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
