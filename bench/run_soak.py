"""Soak: one server, ten minutes of a family's and a club's rhythm; every change told once to each, on time.

    python bench/run_soak.py [--minutes 10] [--clients 8] [--window 10] [--seed 13] [--keep] [--no-write]

One server started as the README starts it (``python -m radicale_ext.plugins.server``
with config/radicale.ini, adapted as tests/server.py does: port, folders), with
notices as shipped (the server's own worker thread) but a ``notices_window`` of
``--window`` seconds, and e-mail to a local SMTP server (aiosmtpd in this
process, which notes when each message arrives).

Three shared calendars with non-ASCII names: alice's "Familie 家庭" (bob, carol,
dave, erin collaborators), frank's "Fußball ⚽" (grace, heidi, bob, alice
collaborators), carol's "Chor 🎶" (dave, heidi collaborators, erin subscriber).
``--clients`` people (threads of this process, each with its own keep-alive
session) write into the calendars they may write to: a burst of one to three
changes (a new event, a change of one of their events, a deletion of one), a
fraction of a second to two seconds apart, then quiet for 30 to 120 seconds,
until ``--minutes`` have passed.

Checked afterwards, for every change and everyone else with the calendar:

- exactly one notice in their notification collection names the change
  (``CS:created`` / ``CS:updated`` / ``CS:deleted`` with the item's href and
  the change's time), and nobody is told of their own changes;
- exactly one e-mail carries that notice (its ``Message-ID`` names the notice);
- that e-mail arrived within ``window + 5`` seconds of the moment the client
  sent the change (the latency recorded: the e-mail's arrival at the SMTP
  server minus the start of the request).

The latency distribution, the counts and the command are printed and written
between the soak markers in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import email
import email.policy
import random
import re
import shutil
import statistics
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import unquote

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

import requests  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from results import add_run_options, publish, work_folder  # noqa: E402
from run_foundation import load_average, machine, step  # noqa: E402

from tests.server import Server, free_port, make_server, password  # noqa: E402

ICS = {"Content-Type": "text/calendar"}
NS = {"D": "DAV:", "CS": "http://calendarserver.org/ns/"}
SLACK = 5.0
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")


@dataclasses.dataclass(frozen=True)
class Calendar:
    owner: str
    name: str
    display: str
    collaborators: tuple[str, ...]
    subscribers: tuple[str, ...] = ()

    @property
    def members(self) -> tuple[str, ...]:
        return (self.owner, *self.collaborators, *self.subscribers)

    def path_for(self, user: str) -> str:
        return f"/{self.owner}/{self.name}/" if user == self.owner else f"/{user}/{self.name}~{self.owner}/"


CALENDARS = (
    Calendar("alice", "familie", "Familie 家庭", ("bob", "carol", "dave", "erin")),
    Calendar("frank", "fussball", "Fußball ⚽", ("grace", "heidi", "bob", "alice")),
    Calendar("carol", "chor", "Chor 🎶", ("dave", "heidi"), ("erin",)),
)
SUMMARIES = ("Elternabend", "Fußballtraining", "Chorprobe", "家庭聚餐", "Geburtstag Oma 🎂", "Zahnarzt Müller",
             "Laternenumzug", "Großeinkauf", "学校开放日", "Sommerfest 🎉")


@dataclasses.dataclass
class Change:
    actor: str
    calendar: Calendar
    item: str
    kind: str            # created | updated | deleted
    sent: float          # the client's clock when it sent the request
    done: float          # ... and when the answer came

    @property
    def recipients(self) -> list[str]:
        return [u for u in self.calendar.members if u != self.actor]


@dataclasses.dataclass
class Mail:
    to: str
    notice: int
    arrived: float


class Mailroom:
    """aiosmtpd handler: notes each message's recipient, notice and arrival time."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        arrived = time.time()
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        match = re.match(r"<n(\d+)-", str(message["Message-ID"]))
        with self.lock:
            for to in envelope.rcpt_tos:
                self.mails.append(Mail(to.split("@")[0], int(match.group(1)) if match else -1, arrived))
        return "250 OK"


def event(uid: str, summary: str, day: int) -> str:
    start = datetime.datetime(2027, 1, 4, 18, tzinfo=datetime.UTC) + datetime.timedelta(days=day)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//soak//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDURATION:PT1H\r\n"
            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def mkcalendar(display: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<C:mkcalendar xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            f"<D:displayname>{display}</D:displayname></D:prop></D:set></C:mkcalendar>")


class Client(threading.Thread):
    """One person: bursts of changes in the calendars they may write to, then quiet."""

    def __init__(self, server: Server, user: str, until: float, gaps: tuple[float, float], seed: int,
                 changes: list[Change], lock: threading.Lock) -> None:
        super().__init__(name=f"soak-{user}", daemon=True)
        self.server, self.user, self.until, self.gaps = server, user, until, gaps
        self.random = random.Random(seed)
        self.session = requests.Session()
        self.session.auth = (user, password(user))
        self.changes, self.lock = changes, lock
        self.writable = [c for c in CALENDARS if user == c.owner or user in c.collaborators]
        self.mine: dict[str, Calendar] = {}    # item -> calendar: the events this person made and still has
        self.counter = 0
        self.errors: list[str] = []

    def run(self) -> None:
        time.sleep(self.random.uniform(0, self.gaps[0]))   # not all at once at the start
        while time.time() < self.until:
            touched: set[str] = set()
            for _ in range(self.random.randint(1, 3)):
                self._one_change(touched)
                time.sleep(self.random.uniform(0.2, 2.0))
            time.sleep(self.random.uniform(*self.gaps))

    def _one_change(self, touched: set[str]) -> None:
        choices = [i for i in self.mine if i not in touched]   # never the same item twice in a burst
        roll = self.random.random()
        if choices and roll < 0.15:
            item = self.random.choice(choices)
            calendar = self.mine.pop(item)
            self._send("DELETE", calendar, item, None, "deleted", (200, 204))
        elif choices and roll < 0.45:
            item = self.random.choice(choices)
            summary = f"{self.random.choice(SUMMARIES)} ({self.user}, neu)"
            self._send("PUT", self.mine[item], item, event(item, summary, self.random.randint(0, 60)), "updated",
                       (204,))
        else:
            self.counter += 1
            calendar = self.random.choice(self.writable)
            item = f"{self.user}-{self.counter}.ics"
            summary = f"{self.random.choice(SUMMARIES)} ({self.user})"
            if self._send("PUT", calendar, item, event(item, summary, self.random.randint(0, 60)), "created", (201,)):
                self.mine[item] = calendar
        touched.add(item)

    def _send(self, method: str, calendar: Calendar, item: str, body: str | None, kind: str,
              status: tuple[int, ...]) -> bool:
        sent = time.time()
        r = self.session.request(method, self.server.url + calendar.path_for(self.user) + item,
                                 data=body.encode() if body else None, headers=ICS if body else {}, timeout=60)
        done = time.time()
        if r.status_code not in status:
            self.errors.append(f"{method} {item}: {r.status_code} {r.text[:200]}")
            return False
        with self.lock:
            self.changes.append(Change(self.user, calendar, item, kind, sent, done))
        return True


def told(server: Server, user: str) -> list[tuple[int, str, str, float]]:
    """(notice id, kind, item, change time) for every item change in the user's notification collection."""
    session = requests.Session()
    session.auth = (user, password(user))
    r = session.request("PROPFIND", f"{server.url}/{user}/.notifications/", headers={"Depth": "1"}, timeout=60)
    assert r.status_code == 207, r.text
    found = []
    for href in ET.fromstring(r.content).iter("{DAV:}href"):
        name = unquote(href.text or "").rstrip("/").rsplit("/", 1)[-1]
        match = re.match(r"n(\d+)-", name)
        if not match:
            continue
        doc = ET.fromstring(session.get(server.url + href.text, timeout=60).content)
        for kind in ("created", "updated", "deleted"):
            for element in doc.iter(f"{{{NS['CS']}}}{kind}"):
                item = (element.findtext("D:href", namespaces=NS) or "").rsplit("/", 1)[-1]
                stamp = element.findtext("CS:changed-by/CS:dtstamp", namespaces=NS) or ""
                at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC).timestamp()
                found.append((int(match.group(1)), kind, unquote(item), at))
    return found


@dataclasses.dataclass
class Verdict:
    pairs: int = 0
    told_once: int = 0
    missing: list[str] = dataclasses.field(default_factory=list)
    repeated: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    mail_once: int = 0
    mail_problems: list[str] = dataclasses.field(default_factory=list)
    latencies: list[float] = dataclasses.field(default_factory=list)
    late: list[str] = dataclasses.field(default_factory=list)


def check(server: Server, changes: list[Change], mails: list[Mail], window: float) -> Verdict:
    verdict = Verdict()
    by_user = {user: told(server, user) for user in PEOPLE}
    mails_by = defaultdict(list)
    for mail in mails:
        mails_by[(mail.to, mail.notice)].append(mail)
    matched: dict[str, set[int]] = defaultdict(set)
    for change in changes:
        for user in change.recipients:
            verdict.pairs += 1
            hits = [i for i, (notice, kind, item, at) in enumerate(by_user[user])
                    if kind == change.kind and item == change.item and change.sent - 1 <= at <= change.done + 1]
            matched[user].update(hits)
            label = f"{change.kind} {change.item} by {change.actor} -> {user}"
            if not hits:
                verdict.missing.append(label)
                continue
            if len(hits) > 1:
                verdict.repeated.append(label)
                continue
            verdict.told_once += 1
            notice = by_user[user][hits[0]][0]
            got = mails_by.get((user, notice), [])
            if len(got) != 1:
                verdict.mail_problems.append(f"{label}: {len(got)} e-mails for notice {notice}")
                continue
            verdict.mail_once += 1
            latency = got[0].arrived - change.sent
            verdict.latencies.append(latency)
            if latency > window + SLACK:
                verdict.late.append(f"{label}: {latency:.1f} s")
    for user, entries in by_user.items():
        for i, entry in enumerate(entries):
            if i not in matched[user]:
                verdict.unexpected.append(f"{user}: {entry}")
    told_notices = {(user, notice) for user, entries in by_user.items() for notice, *_ in entries}
    for user, notice in mails_by:
        if (user, notice) not in told_notices:
            verdict.mail_problems.append(f"e-mail to {user} for notice {notice}, which their collection lacks")
    return verdict


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def report(args: argparse.Namespace, changes: list[Change], verdict: Verdict, mails: int, seconds: float,
           load: str, errors: list[str]) -> str:
    lat = verdict.latencies or [0.0]
    kinds = Counter(c.kind for c in changes)
    ok = (not verdict.missing and not verdict.repeated and not verdict.unexpected and not verdict.mail_problems
          and not verdict.late and not errors and verdict.pairs > 0)
    command = " ".join(["python bench/run_soak.py", *sys.argv[1:]])
    lines = [f"Run of {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `{command}`", "",
             f"- machine: {machine()}; load average (1, 5, 15 min) {load} before, {load_average()} after",
             f"- one server (the README's way), notices as shipped (worker thread) with `notices_window = "
             f"{args.window:g}`, e-mail to a local aiosmtpd; {args.clients} clients for {args.minutes:g} min, "
             f"bursts of 1-3 changes then {args.gap_min:g}-{args.gap_max:g} s of quiet; {seconds:.0f} s in all",
             f"- changes: {len(changes)} ({kinds['created']} new, {kinds['updated']} changed, {kinds['deleted']} "
             f"deleted) in 3 shared calendars; (change, recipient) pairs: {verdict.pairs}; e-mails received: {mails}",
             "",
             "| check | result |", "| --- | --- |",
             f"| told exactly once in the notification collection | {verdict.told_once} of {verdict.pairs} "
             f"(missing {len(verdict.missing)}, repeated {len(verdict.repeated)}, unexpected "
             f"{len(verdict.unexpected)}) |",
             f"| exactly one e-mail for that notice | {verdict.mail_once} of {verdict.told_once} "
             f"({len(verdict.mail_problems)} problems) |",
             f"| e-mail within window + {SLACK:g} s = {args.window + SLACK:g} s of the change | "
             f"{len(verdict.latencies) - len(verdict.late)} of {len(verdict.latencies)} |",
             f"| client errors | {len(errors)} |",
             f"| **result** | **{'PASS' if ok else 'FAIL'}** |", "",
             "| latency, change sent -> e-mail received (s) | min | median | p90 | p99 | max |",
             "| --- | ---: | ---: | ---: | ---: | ---: |",
             f"| {len(verdict.latencies)} (change, recipient) pairs | {min(lat):.1f} | {statistics.median(lat):.1f} "
             f"| {percentile(lat, 0.9):.1f} | {percentile(lat, 0.99):.1f} | {max(lat):.1f} |"]
    shown = (verdict.missing + verdict.repeated + verdict.unexpected + verdict.mail_problems + verdict.late
             + errors)[:10]
    if shown:
        lines += ["", "First problems:", ""] + [f"- {p}" for p in shown]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8, choices=range(1, len(PEOPLE) + 1), metavar="N")
    parser.add_argument("--window", type=float, default=10.0, help="notices_window, seconds")
    parser.add_argument("--gap-min", type=float, default=30.0, help="shortest quiet between bursts, seconds")
    parser.add_argument("--gap-max", type=float, default=120.0, help="longest quiet between bursts, seconds")
    parser.add_argument("--seed", type=int, default=13)
    add_run_options(parser)
    args = parser.parse_args()
    began, load = time.monotonic(), load_average()
    work = work_folder("soak-")
    smtp_port, mailroom = free_port(), Mailroom()
    controller = Controller(mailroom, hostname="127.0.0.1", port=smtp_port)
    server = make_server(work / "server", users=PEOPLE, hook={
        "notices_window": f"{args.window:g}", "smtp_server": "127.0.0.1", "smtp_port": str(smtp_port),
        "from_email": "kalender@example.org"})
    controller.start()
    changes: list[Change] = []
    try:
        with step("one server, three shared calendars"):
            server.start()
            for calendar in CALENDARS:
                r = server.request("MKCALENDAR", f"/{calendar.owner}/{calendar.name}/", calendar.owner,
                                   mkcalendar(calendar.display))
                assert r.status_code == 201, r.text
                for user in calendar.collaborators:
                    server.ok("share", "add", f"{calendar.owner}/{calendar.name}", "--user", user, "--role",
                              "collaborator")
                for user in calendar.subscribers:
                    server.ok("share", "add", f"{calendar.owner}/{calendar.name}", "--user", user, "--role",
                              "subscriber")
            for user in PEOPLE:
                server.ok("notices", "email", f"{user}@example.org", acting_as=user)
        with step(f"{args.clients} clients for {args.minutes:g} minutes"):
            lock = threading.Lock()
            until = time.time() + args.minutes * 60
            clients = [Client(server, user, until, (args.gap_min, args.gap_max), args.seed * 100 + i, changes, lock)
                       for i, user in enumerate(PEOPLE[:args.clients])]
            for client in clients:
                client.start()
            for client in clients:
                client.join()
        with step(f"the last notices (up to {args.window + 3 * SLACK:g} s)"):
            time.sleep(args.window + 3 * SLACK)
        with step("checking"):
            verdict = check(server, changes, list(mailroom.mails), args.window)
        errors = [e for client in clients for e in client.errors]
        if "Traceback" in server.log():
            errors.append("the server's log holds a traceback")
    finally:
        server.stop()
        controller.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = report(args, changes, verdict, len(mailroom.mails), time.monotonic() - began, load, errors)
    publish(text, args, "soak", "## Soak: notices over ten minutes (`bench/run_soak.py`)")
    return 0 if "**PASS**" in text else 1


if __name__ == "__main__":
    sys.exit(main())
