"""Change-notices benchmark: PUT latency with notices on, and the worker's delivery rates.

    python bench/run_notices.py [--repeat 200] [--warmup 5] [--members 1000] [--keep] [--no-write]

Servers (config/radicale.ini, adapted as tests/server.py does), each with
alice's calendar ``club`` shared at once with a circle of ``--members``
people (the admin's groups file):

- ``notices``: notices on, as shipped (the server's worker thread, a 60 s
  coalescing window);
- ``notices-window-0``: the same with ``notices_window = 0``, so every PUT
  is handed out to every member while the PUTs go on (the worst case for
  the request path: the worker thread shares the process);
- ``window-0-process``: the same, delivered by a ``radicale-ext worker``
  process instead of the server's thread;
- ``hook-off``: ``[hook] type = none``: no notices at all (the storage
  plugin's outbox record is still written: it is the foundation's).

Timed, interleaved on keep-alive sessions: a PUT of a new event by alice,
``--repeat`` times each.  Target (the issue): the median with notices on
within 1.05x of the median with the hook off.

Then the worker alone, in this process, on a server's database:
``--dav`` notices (changes x members) to the notification collections
(target: under 10 s), and ``--mails`` e-mails to a local SMTP server
(aiosmtpd in its own process; target: at least 200 per second).  The table
is printed and written between the notices markers in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from mail_sink import MailSink  # noqa: E402
from results import add_run_options, publish, work_folder  # noqa: E402
from run_foundation import Stat, Target, expect, interleaved, load_average, machine, step, timed  # noqa: E402

from radicale_ext.notices.service import Notices  # noqa: E402
from radicale_ext.notices.settings import SmtpSettings  # noqa: E402
from radicale_ext.notices.worker import Worker  # noqa: E402
from radicale_ext.plugins._site import site_for  # noqa: E402
from radicale_ext.plugins.hook import notice_settings  # noqa: E402
from radicale_ext.plugins.worker import reminders_for  # noqa: E402
from tests.notice_kit import configuration, event  # noqa: E402
from tests.server import Server, free_port, make_server  # noqa: E402

LATENCY_TARGET = 1.05
DAV_TARGET_SECONDS = 10.0
MAIL_TARGET_RATE = 200.0
ICS = {"Content-Type": "text/calendar"}

def members(count: int) -> list[str]:
    return [f"m{i:04d}@example.org" for i in range(count)]


def club_server(root: Path, member_count: int, storage: dict[str, str] | None = None, **hook: str) -> Server:
    """A started server whose alice shares her calendar ``club`` with a circle of ``member_count``;
    ``storage``: its ``[storage]`` options (``postgresql_dsn``)."""
    server = make_server(root, users=("alice",), hook=hook, **({"storage": storage} if storage else {}))
    if hook.get("type") == "none":
        server.config.write_text("\n".join(line for line in server.config.read_text().splitlines()
                                           if not line.startswith("notices_")) + "\n")
    server.groups_file.write_text("club: " + " ".join(members(member_count)) + "\n")
    server.start()
    expect(server.request("MKCALENDAR", "/alice/club/", "alice"), 201)
    server.ok("share", "add", "alice/club", "--circle", "club", "--role", "subscriber")
    return server


def put(server: Server, name: str) -> float:
    return timed(lambda: server.request("PUT", f"/alice/club/{name}.ics", "alice", event(name, f"Event {name}"),
                                        headers=ICS), 201)


def measure_latency(servers: dict[str, Server], repeat: int, warmup: int) -> dict[str, Stat]:
    targets = [Target(name, server, "alice", "/alice/club/") for name, server in servers.items()]
    samples = interleaved(targets, lambda t, i: put(t.server, f"lat{i}"), repeat, warmup)
    return {name: Stat.of(values) for name, values in samples.items()}


def worker_on(server: Server, **changes) -> Worker:
    conf = configuration(server)
    settings = dataclasses.replace(notice_settings(conf), **changes)
    notices = Notices(site_for(conf), settings)
    return Worker(notices, name="bench", reminders=reminders_for(notices))


def measure_dav(server: Server, changes: int) -> tuple[int, float]:
    """``changes`` PUTs into the club, then one worker run: (notices stored, seconds)."""
    worker = worker_on(server, window=0.0)
    worker.run_until_idle()                               # whatever earlier requests left
    db = worker.notices.site.db
    before = db.read_one("SELECT COUNT(*) FROM notices")[0]
    for i in range(changes):
        put(server, f"dav{i}")
    began = time.perf_counter()
    worker.run_until_idle()
    seconds = time.perf_counter() - began
    return db.read_one("SELECT COUNT(*) FROM notices")[0] - before, seconds


def hand_out(notices: Notices) -> float:
    """Compose what the outbox holds and hand it out to every recipient (queue the deliveries), as the
    worker holding the compose lease does; the seconds it took."""
    began = time.perf_counter()
    notices.composer.compose_due(time.time())
    while notices.fanout.fan_out(time.time()):
        pass
    return time.perf_counter() - began


def measure_mail(server: Server, changes: int, work: Path) -> tuple[int, int, float, float]:
    """``changes`` PUTs, handed out untimed; then the e-mails are delivered, timed:
    (delivered, received by the SMTP server, seconds, seconds of the hand-out)."""
    with MailSink(work, free_port()) as sink:
        smtp = SmtpSettings(server="127.0.0.1", port=sink.port, sender="calendar@example.org")
        worker = worker_on(server, window=0.0, smtp=smtp)
        worker.run_until_idle()
        for i in range(changes):
            put(server, f"mail{i}")
        handed_out = hand_out(worker.notices)
        began = time.perf_counter()
        progress = worker.run_until_idle()
        seconds = time.perf_counter() - began
    return progress.delivered, sink.received.count, seconds, handed_out


def report(latency: dict[str, Stat], dav: tuple[int, float], mail: tuple[int, int, float, float],
           args: argparse.Namespace, seconds: float, load: str) -> str:
    base = latency["hook-off"].median
    command = " ".join(["python bench/run_notices.py", *sys.argv[1:]])
    lines = [f"Run of {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `{command}`", "",
             f"- machine: {machine()}; load average (1, 5, 15 min) {load} before, {load_average()} after",
             f"- alice's calendar shared at once with a circle of {args.members:,} members; {args.repeat} timed "
             f"PUTs of a new event per server after {args.warmup} untimed, interleaved, keep-alive; "
             f"{seconds:.0f} s in all; client-side wall clock, ms: median (p90)", "",
             "| PUT of a new event, calendar shared with 1,000 | median (p90) ms | ratio to hook off | target "
             "| result |",
             "| --- | ---: | ---: | ---: | --- |",
             f"| hook off (`[hook] type = none`) | {latency['hook-off']} | (reference) | | |"]
    for name, label in (("notices", "notices on, as shipped (worker thread, 60 s window)"),
                        ("notices-window-0", "notices on, window 0 (each PUT handed out to 1,000 at once)"),
                        ("window-0-process", "notices on, window 0, a `radicale-ext worker` process")):
        ratio = latency[name].median / base
        verdict = ("PASS" if ratio <= LATENCY_TARGET else "FAIL") if name == "notices" else "(worst case)"
        lines.append(f"| {label} | {latency[name]} | {ratio:.2f}x | <= {LATENCY_TARGET:.2f}x | {verdict} |")
    stored, dav_seconds = dav
    delivered, received, mail_seconds, handed_out = mail
    rate = delivered / mail_seconds if mail_seconds else 0.0
    lines += ["", "| worker, in one process | count | seconds | rate per second | target | result |",
              "| --- | ---: | ---: | ---: | ---: | --- |",
              f"| notices to notification collections (compose + hand out) | {stored:,} | {dav_seconds:.2f} | "
              f"{stored / dav_seconds:,.0f} | {args.dav:,} in < {DAV_TARGET_SECONDS:.0f} s | "
              f"{'PASS' if stored >= args.dav and dav_seconds < DAV_TARGET_SECONDS else 'FAIL'} |",
              f"| e-mails to a local SMTP server (aiosmtpd, own process; {received:,} received) | {delivered:,} | "
              f"{mail_seconds:.2f} | {rate:,.0f} | >= {MAIL_TARGET_RATE:.0f}/s | "
              f"{'PASS' if rate >= MAIL_TARGET_RATE and received >= delivered else 'FAIL'} |",
              "", f"Handing the e-mail notices out (queueing {delivered:,} deliveries and storing as many "
              f"notices) took {handed_out:.2f} s before the timed delivery."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--dav", type=int, default=10_000, help="notices to the notification collections")
    parser.add_argument("--mails", type=int, default=2_000, help="e-mails to the local SMTP server")
    add_run_options(parser)
    args = parser.parse_args()
    began, load = time.monotonic(), load_average()
    work = work_folder("notices-")
    servers: dict[str, Server] = {}
    try:
        with step(f"four servers, a calendar shared with {args.members} each"):
            servers["notices"] = club_server(work / "notices", args.members)
            servers["notices-window-0"] = club_server(work / "window0", args.members, notices_window="0")
            servers["window-0-process"] = club_server(work / "window0p", args.members, notices_window="0",
                                                      notices_worker="none", notices_poll="0.1")
            servers["hook-off"] = club_server(work / "hook-off", args.members, type="none")
            worker = subprocess.Popen([sys.executable, "-m", "radicale_ext.plugins.worker", "--config",
                                       str(servers["window-0-process"].config)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with step(f"PUT latency, {args.repeat} x {len(servers)}"):
                latency = measure_latency(servers, args.repeat, args.warmup)
        finally:
            worker.terminate()
            worker.wait(30)
        for server in servers.values():
            server.stop()
        quiet = club_server(work / "worker", args.members, notices_worker="none")
        servers["worker"] = quiet
        with step(f"{args.dav} notices to notification collections"):
            dav = measure_dav(quiet, max(1, args.dav // args.members))
        with step(f"{args.mails} e-mails"):
            mail = measure_mail(quiet, max(1, args.mails // args.members), work)
    finally:
        for server in servers.values():
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = report(latency, dav, mail, args, time.monotonic() - began, load)
    publish(text, args, "notices", "## Change notices (`bench/run_notices.py`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
