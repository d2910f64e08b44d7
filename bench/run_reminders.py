"""Reminders benchmark: the scheduling pass over 10,000 events in 200 shared calendars, and a tick.

    python bench/run_reminders.py [--calendars 200] [--events 50] [--no-write]

Builds a collections folder in Radicale's layout (no server: the scheduler
reads items from disk) with ``--calendars`` calendars of ``--events``
events each, a third of them recurring (weekly without end, daily with a
COUNT, monthly on a weekday), every event with a VALARM, each calendar
shared with two people.  Measures, in this process:

- the first scheduling pass (every item read, parsed, expanded over the
  180-day window, rows written): time and how much the process's peak RSS grew;
- a tick with nothing due (the worker's step when idle): the one indexed
  query ``state = 'due' AND fire_at <= now`` plus a horizon query that finds
  nothing; no series is expanded;
- a tick firing 200 due reminders (notices stored, deliveries queued);
- the daily horizon pass, a day later: only recurring items are re-expanded.

The table is printed and written between the reminders markers in
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from results import write_section  # noqa: E402
from run_foundation import machine  # noqa: E402

from radicale_ext.base.model import Grantee, GranteeKind, Role  # noqa: E402
from radicale_ext.notices.service import Notices  # noqa: E402
from radicale_ext.notices.settings import NoticeSettings  # noqa: E402
from radicale_ext.reminders.scheduler import ReminderScheduler  # noqa: E402
from radicale_ext.site import Settings, Site  # noqa: E402

NOW = datetime.datetime(2026, 3, 2, 12, 0, tzinfo=datetime.UTC).timestamp()
RULES = ("RRULE:FREQ=WEEKLY\r\n", "RRULE:FREQ=DAILY;COUNT=60\r\n", "RRULE:FREQ=MONTHLY;BYDAY=1TU\r\n")


def event(uid: str, n: int, recurring: bool) -> str:
    day = datetime.date(2026, 3, 2) + datetime.timedelta(days=n % 120)
    rule = RULES[n % len(RULES)] if recurring else ""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:{day:%Y%m%d}T18{n % 60:02d}00\r\n"
            f"DURATION:PT1H\r\nSUMMARY:Event {n}\r\n{rule}"
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def build(root: Path, calendars: int, events: int) -> Site:
    folder = root / "collections"
    for c in range(calendars):
        owner = f"owner{c % 20}"
        path = folder / "collection-root" / owner / f"cal{c}"
        path.mkdir(parents=True)
        (path / ".Radicale.props").write_text(json.dumps({"tag": "VCALENDAR", "D:displayname": f"cal{c}"}))
        for e in range(events):
            n = c * events + e
            (path / f"e{e}.ics").write_text(event(f"u{n}", n, recurring=n % 3 == 0), newline="")
    site = Site(Settings(collections_folder=str(folder), database_path=str(root / "sharing.sqlite"),
                         groups_file=None, htpasswd_file=None, rights_file=None))
    for c in range(calendars):
        for who in (f"member{c % 50}", f"member{(c + 1) % 50}"):
            site.shares.add(f"/owner{c % 20}/cal{c}/", Grantee(GranteeKind.USER, who), Role.SUBSCRIBER)
    return site


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calendars", type=int, default=200)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-reminders-") as tmp:
        site = build(Path(tmp), args.calendars, args.events)
        settings = NoticeSettings(enabled=True, reminder_grace=30 * 86400.0)   # the firing tick finds 200 due
        scheduler = ReminderScheduler(Notices(site, settings))
        total = args.calendars * args.events
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        plan_s, planned = timed(lambda: scheduler.plan_everything(NOW))
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
        rows = site.db.read_one("SELECT COUNT(*) FROM reminder_schedule")[0]
        idle_s, _ = timed(lambda: (scheduler.fire_due(NOW), scheduler.extend_window(NOW)))
        first = site.db.read_one("SELECT fire_at FROM reminder_schedule WHERE state = 'due' ORDER BY fire_at"
                                 " LIMIT 1 OFFSET 199")[0]
        fire_s, (sent, _skipped) = timed(lambda: scheduler.fire_due(first))
        horizon_s, replanned = timed(lambda: sum(iter(lambda: scheduler.extend_window(NOW + 86400, 1000), 0)))
        db_size = os.path.getsize(Path(tmp) / "sharing.sqlite")
    table = "\n".join([
        f"Machine: {machine()}; {datetime.date.today()}; {total:,} events in {args.calendars} shared calendars "
        f"(a third recurring), window 180 days.",
        "",
        "| step | work | seconds | note |",
        "| --- | ---: | ---: | --- |",
        f"| first scheduling pass (read, parse, expand, write) | {planned:,} items -> {rows:,} due rows | "
        f"{plan_s:.2f} | peak RSS grew {peak / 1e6:.1f} MB; database {db_size / 1e6:.1f} MB |",
        f"| idle tick (due query + horizon query) | 0 due | {idle_s * 1000:.2f} ms | no series expanded |",
        f"| tick firing due reminders | {sent} reminders, 2 people each | {fire_s:.3f} | notices + deliveries |",
        f"| daily horizon pass (a day later) | {replanned:,} recurring items re-expanded | {horizon_s:.2f} | "
        "single events are not touched |",
    ])
    print(table)
    if not args.no_write:
        write_section("reminders", table + "\n\n    python bench/run_reminders.py      # about a minute\n",
                      "## Reminders")
    return 0


if __name__ == "__main__":
    sys.exit(main())
