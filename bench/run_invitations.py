"""Invitations benchmark: home listings and the notification collection, in one run.

    python bench/run_invitations.py [--repeat N] [--warmup N] [--keep]

One radicale-ext server (config/radicale.ini, adapted as tests/server.py does),
in a folder under bench/work/, with 500 calendars of one event each, and:

- ``plain``: 200 of them shared at once (the foundation's kind of share);
- ``invited``: the same 200 by invitation, accepted, and 200 more by
  invitation, pending (they must cost nothing: they are not listed);
- ``notified``: 1,000 notifications: 500 invitations awaiting an answer
  (derived from the invitations) and 500 stored notices (replies).

Timed, interleaved on keep-alive sessions: a Depth 1 PROPFIND of both homes,
with the foundation's body and with an Apple client's body (CalendarServer
properties), and the Depth 1 PROPFIND of ``notified``'s notification
collection that an Apple client makes.  Targets (the issue): the invited home
and the notification listing within 1.25x of the plain home.  The table is
printed and written between the invitations markers in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from results import add_run_options, work_folder, write_section  # noqa: E402
from run_foundation import (  # noqa: E402
    PROPFIND_HOME,
    Stat,
    Target,
    calendars_of,
    expect,
    interleaved,
    load_average,
    machine,
    make_calendars,
    step,
    timed,
)

from radicale_ext.base.model import Grantee, GranteeKind, Role, ShareBasis  # noqa: E402
from radicale_ext.sharing.notifications import NoticeKind  # noqa: E402
from radicale_ext.site import Settings, Site  # noqa: E402
from tests.server import Server, make_server  # noqa: E402

TARGET = 1.25
PLAIN, INVITED, NOTIFIED = "plain", "invited", "notified"
ACCEPTED_OWNERS = tuple(f"o{i:02d}" for i in range(20))   # 200 calendars: plain's shares, invited's accepted
PENDING_OWNERS = tuple(f"p{i:02d}" for i in range(20))    # 200 more: invited's pending
EXTRA_OWNERS = tuple(f"q{i:02d}" for i in range(10))      # 100 more: notified has 500 pending in all
STORED_NOTICES = 500

# what an Apple client asks of a calendar home
PROPFIND_HOME_APPLE = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"
            xmlns:I="http://apple.com/ns/ical/">
  <D:prop>
    <D:resourcetype/><D:displayname/><D:current-user-privilege-set/><D:sync-token/><D:owner/>
    <CS:getctag/><C:supported-calendar-component-set/><I:calendar-color/>
    <CS:invite/><CS:allowed-sharing-modes/><CS:shared-url/>
  </D:prop>
</D:propfind>"""

PROPFIND_NOTIFICATIONS = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:prop><D:getetag/><CS:notificationtype/><D:resourcetype/></D:prop>
</D:propfind>"""

RESPONSE_RE = re.compile(r"<(?:\w+:)?response>")


def prepare(server: Server) -> None:
    with step("500 calendars of one event each"):
        make_calendars(server, calendars_of(ACCEPTED_OWNERS + PENDING_OWNERS + EXTRA_OWNERS))
    site = Site(Settings.from_ini(str(server.config)))
    try:
        with step("shares, invitations, answers and notices"):
            accepted = [path for _o, path in calendars_of(ACCEPTED_OWNERS)]
            pending = [path for _o, path in calendars_of(PENDING_OWNERS)]
            for path in accepted:
                site.shares.add(path, Grantee(GranteeKind.USER, PLAIN), Role.SUBSCRIBER)
                invite(site, path, INVITED)
                site.invitations.accept(INVITED, path)
            for path in pending:
                invite(site, path, INVITED)
            for path in accepted + pending + [p for _o, p in calendars_of(EXTRA_OWNERS)]:
                invite(site, path, NOTIFIED)
            mine = "/notified/own/"
            with site.db.write() as w:
                for n in range(STORED_NOTICES):
                    site.notices.add(w, NOTIFIED, NoticeKind.INVITATION_REPLY, {
                        "sharee": f"u{n}", "state": "accepted", "collection": mine, "owner": NOTIFIED,
                        "in_reply_to": f"k{n}.u{n}", "summary": ""})
    finally:
        site.db.close()


def invite(site: Site, path: str, user: str) -> None:
    owner = path.strip("/").split("/")[0]
    site.shares.add(path, Grantee(GranteeKind.USER, user), Role.SUBSCRIBER, actor=owner, basis=ShareBasis.INVITATION)


def listed(server: Server, user: str, path: str, body: str) -> int:
    r = expect(server.request("PROPFIND", path, user, body, headers={"Depth": "1"}), 207)
    return len(RESPONSE_RE.findall(r.text)) - 1


def measure(server: Server, repeat: int, warmup: int) -> dict[str, tuple[Stat, int]]:
    cases = {
        "plain home, 200 shares at once": (PLAIN, f"/{PLAIN}/", PROPFIND_HOME),
        "invited home, 200 accepted + 200 pending invitations": (INVITED, f"/{INVITED}/", PROPFIND_HOME),
        "plain home, Apple client's body": (PLAIN, f"/{PLAIN}/", PROPFIND_HOME_APPLE),
        "invited home, Apple client's body": (INVITED, f"/{INVITED}/", PROPFIND_HOME_APPLE),
        "notification collection, 1,000 notifications": (NOTIFIED, f"/{NOTIFIED}/.notifications/",
                                                         PROPFIND_NOTIFICATIONS),
    }
    bodies = {name: body for name, (_u, _p, body) in cases.items()}
    counts = {name: listed(server, user, path, body) for name, (user, path, body) in cases.items()}
    targets = [Target(name, server, user, path) for name, (user, path, _b) in cases.items()]

    def probe(t: Target, i: int) -> float:
        return timed(lambda: t.server.request("PROPFIND", t.collection, t.user, bodies[t.name],
                                              headers={"Depth": "1"}), 207)

    samples = interleaved(targets, probe, repeat, warmup)
    return {name: (Stat.of(samples[name]), counts[name]) for name in cases}


def report(results: dict[str, tuple[Stat, int]], args: argparse.Namespace, seconds: float, load: str) -> str:
    base = results["plain home, 200 shares at once"][0].median
    apple_base = results["plain home, Apple client's body"][0].median
    targets = {"invited home, 200 accepted + 200 pending invitations": base,
               "invited home, Apple client's body": apple_base,
               "notification collection, 1,000 notifications": base}
    command = " ".join(["python bench/run_invitations.py", *sys.argv[1:]])
    lines = [f"Run of {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `{command}`",
             "",
             f"- machine: {machine()}; load average (1, 5, 15 min) {load} before, {load_average()} after",
             f"- {args.repeat} timed repetitions per request after {args.warmup} untimed, interleaved, "
             f"one server, one run; {seconds:.0f} s in all; client-side wall clock, ms: median (p90)",
             "",
             "| PROPFIND depth 1 | listed | median (p90) ms | ratio to the plain home | target | result |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name, (stat, count) in results.items():
        if name in targets:
            ratio = stat.median / targets[name]
            lines.append(f"| {name} | {count} | {stat} | {ratio:.2f}x | <= {TARGET:.2f}x | "
                         f"{'PASS' if ratio <= TARGET else 'FAIL'} |")
        else:
            lines.append(f"| {name} | {count} | {stat} | (reference) | | |")
    return "\n".join(lines) + "\n"


def write_results(text: str) -> None:
    write_section("invitations", text, "## Invitations and notifications (`bench/run_invitations.py`)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    add_run_options(parser)
    args = parser.parse_args()
    began, load = time.monotonic(), load_average()
    work = work_folder("invitations-")
    users = (PLAIN, INVITED, NOTIFIED, *ACCEPTED_OWNERS, *PENDING_OWNERS, *EXTRA_OWNERS)
    server = make_server(work / "ours", users=users).start()
    try:
        for user in (PLAIN, INVITED, NOTIFIED):
            expect(server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}), 207)
        prepare(server)
        with step("timing"):
            results = measure(server, args.repeat, args.warmup)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = report(results, args, time.monotonic() - began, load)
    print(text)
    if not args.no_write:
        write_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
