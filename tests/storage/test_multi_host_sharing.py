"""Sharers and notice workers on several server processes of one PostgreSQL database (issue 16; docs/scale-out.md
"Every host sees every change on its next request" and "Leases").

Three servers on different ports of 127.0.0.1 share one database (``[storage] postgresql_dsn``: items and the
sharing database); a client sends each request to a random one (``AnyServer``), or to a chosen one to show
that what one process did is seen by the others.  The servers deliver no notices themselves (``[hook]
notices_worker = none``): three ``radicale-ext worker`` processes, one per host's config, deliver them to a
real SMTP server (aiosmtpd) on loopback.  Checked:

- shares made with the CalendarServer share POST and with the command line, invitations accepted on one
  process and seen on another, a revocation, a role change and circle membership apply on every process on
  the very next request;
- writers, readers, a sharer and the workers at once: no acknowledged write lost, sync tokens never going
  backwards whichever process answers, each change notice once per recipient and channel (e-mail, and the
  notification collection);
- a worker SIGKILLed in the middle of a batch: the others deliver what it held once its lease (``[hook]
  notices_lease``, 3 s here) has run out, none of it twice but the one message in flight at the kill (which
  comes again with the same Message-ID, docs/scale-out.md).

Each process has answered the same people on all of its request threads before a share changes (waitress
hands requests to its threads in turn), so an answer kept by any thread of any process would show.
"""

from __future__ import annotations

import collections
import email.message
import json
import re
import signal
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import pytest

from radicale_ext.notices.delivery import idempotency_key

from .. import dav_kit as dav
from ..notice_kit import NS, TEST_OPTIONS, Mailbox, event, smtp_server
from ..server import USERS, AnyServer, Server, free_port, servers_on_one_database
from ..sharing.test_cs_sharing import SHARE_ONE, SHARE_REMOVE, invitation_to, invite_users, post, propfind, reply

ICS = {"Content-Type": "text/calendar; charset=utf-8"}

# the Müller family: anna shares her calendar with her son (read-write) and her mother (read) by invitation;
# the admin shares it with a friend at once, and with a football club, a circle, read-only
FAMILY = "Familie Müller 家庭"
ANNA, JONAS, OMA, LI, MEHMET, SOFIA, GRACE = ("anna.mueller", "jonas.mueller", "oma.mueller", "li.wei", "mehmet",
                                              "sofia", "grace")
CLUB = "Fussballverein-1860"
# a coach's match plan: two players write to it, a fan reads it; the coach also shares a parents' evening
SPIELPLAN, ELTERNABEND = "Spielplan Fußball 🎉", "Elternabend 家庭"
COACH, PLAYERS, FAN, PARENT = "tobias.schmidt", ("lena.schmidt", "max.schmidt"), "wang.fang", "paul.weber"
TEAM = (COACH, *PLAYERS, FAN)
PEOPLE = (*USERS, ANNA, JONAS, OMA, LI, MEHMET, SOFIA, COACH, *PLAYERS, FAN, PARENT)

LEASE = 3.0
COUNTERS = 3
ROUNDS = 4        # counter increments and new events per writer
BURST = 15        # new events while no worker runs: one batch for the workers that start after

# what a person gets from one process (see ``answers``)
COLLABORATOR = (207, True, 207, 200, 201)
SUBSCRIBER = (207, True, 207, 200, 403)
OUTSIDER = (404, False, 403, 403, 409)   # no mount: the PUT's parent collection does not exist


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    with smtp_server(box, port):
        yield box, port


@pytest.fixture(scope="module")
def cluster(module_postgres_database: str, tmp_path_factory: pytest.TempPathFactory,
            mailbox: tuple[Mailbox, int]) -> Iterator[list[Server]]:
    hook = {**TEST_OPTIONS, "smtp_server": "127.0.0.1", "smtp_port": str(mailbox[1]),
            "from_email": "kalender@example.org", "notices_lease": str(LEASE), "notices_poll": "0.05",
            "notices_timeout": "30"}
    with servers_on_one_database(tmp_path_factory.mktemp("hosts"), module_postgres_database, users=PEOPLE,
                                 hook=hook) as servers:
        anyone = AnyServer(servers, 1)
        for user in PEOPLE:   # each home made once, as a client's first PROPFIND does
            assert anyone.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"}).status_code == 207
        yield servers


# -- access, as each process answers it ---------------------------------------------------------------------

def calendar(owner: str, name: str) -> str:
    return f"/{owner}/{name}/"


def mount(user: str, owner: str, name: str) -> str:
    return f"/{user}/{name}~{owner}/"


def answers(server: Server | AnyServer, user: str, owner: str, name: str) -> tuple[int, bool, int, int, int]:
    """What ``user`` gets from one request of each kind: PROPFIND of the share's mount in their home, whether
    their home lists it, PROPFIND of the owner's calendar, GET of its first event, PUT of a new event
    through the mount."""
    where, home = mount(user, owner, name), f"/{quote(user)}/"
    listing = server.request("PROPFIND", home, user, headers={"Depth": "1"})
    assert listing.status_code == 207, listing.status_code
    listed = quote(where) in {href for href, _ in dav.responses(listing.content)}
    uid = uuid.uuid4().hex
    return (server.request("PROPFIND", where, user, headers={"Depth": "0"}).status_code, listed,
            server.request("PROPFIND", calendar(owner, name), user, headers={"Depth": "0"}).status_code,
            server.request("GET", f"{calendar(owner, name)}first.ics", user).status_code,
            server.request("PUT", f"{where}{uid}.ics", user, event(uid, f"von {user}"), headers=ICS).status_code)


def everywhere(cluster: list[Server], user: str, owner: str, name: str,
               expected: tuple[int, bool, int, int, int], rounds: int = 2) -> None:
    """Every process gives ``user`` the ``expected`` answers, each kind of request ``rounds`` times (five kinds,
    twice: ten requests, more than each process has request threads); the processes are asked at once."""
    with ThreadPoolExecutor(len(cluster)) as pool:
        got = pool.map(lambda server: [answers(server, user, owner, name) for _ in range(rounds)], cluster)
        for server, answered in zip(cluster, got, strict=True):
            assert answered == [expected] * rounds, f"{user} on port {server.port}: {answered}, expected {expected}"


def accept_invitation(found_on: Server | AnyServer, answered_on: Server | AnyServer, user: str, owner: str,
                      name: str) -> None:
    """The invitation read on one process, accepted on another: the share is mounted in the user's home."""
    uid = invitation_to(found_on, user, calendar(owner, name)).findtext("CS:uid", namespaces=NS)
    r = reply(answered_on, user, calendar(owner, name), uid, as_href=f"/{user}/")
    assert r.status_code == 200, r.text
    assert unquote(ET.fromstring(r.content).findtext("D:href", namespaces=NS)) == mount(user, owner, name)


def test_shares_invitations_and_circles_apply_on_every_process_at_once(cluster: list[Server]) -> None:
    a, b, c = cluster
    family = calendar(ANNA, FAMILY)
    assert a.request("MKCALENDAR", family, ANNA).status_code == 201
    assert b.request("PUT", f"{family}first.ics", ANNA, event("first", "Abendessen bei Oma 🍲"),
                     headers=ICS).status_code == 201

    everywhere(cluster, GRACE, ANNA, FAMILY, OUTSIDER, rounds=1)   # never shared with: what an outsider gets

    # invitations with the CalendarServer share POST, on two processes; nothing is shared until accepted
    share = SHARE_ONE.format(href=f"/{JONAS}/", summary="Familie", access="read-write")
    assert post(a, family, ANNA, share).status_code == 200
    share = SHARE_ONE.format(href=f"/{OMA}/", summary="Familie", access="read")
    assert post(b, family, ANNA, share).status_code == 200
    everywhere(cluster, JONAS, ANNA, FAMILY, OUTSIDER, rounds=1)
    everywhere(cluster, OMA, ANNA, FAMILY, OUTSIDER, rounds=1)

    # each finds the invitation on one process and accepts it on another; the owner sees it on a third
    accept_invitation(b, c, JONAS, ANNA, FAMILY)
    accept_invitation(c, a, OMA, ANNA, FAMILY)
    shared_with = invite_users(propfind(b, family, ANNA)[family])
    assert {href: state[:2] for href, state in shared_with.items()} == {
        f"/{JONAS}/": ("invite-accepted", "read-write"), f"/{OMA}/": ("invite-accepted", "read")}
    everywhere(cluster, JONAS, ANNA, FAMILY, COLLABORATOR)
    everywhere(cluster, OMA, ANNA, FAMILY, SUBSCRIBER)

    # the admin's command line, as on a fourth machine (the installed script, the same config and database):
    # a friend at once, a circle read-only
    done = c.cli_process("share", "add", f"{ANNA}/{FAMILY}", "--user", LI, "--role", "collaborator")
    assert done.returncode == 0, done.stderr
    a.ok("circle", "create", CLUB, "--manager", ANNA)
    b.ok("circle", "add", CLUB, MEHMET, acting_as=ANNA)
    c.ok("share", "add", f"{ANNA}/{FAMILY}", "--circle", CLUB, "--role", "subscriber")
    everywhere(cluster, LI, ANNA, FAMILY, COLLABORATOR)
    everywhere(cluster, MEHMET, ANNA, FAMILY, SUBSCRIBER)
    everywhere(cluster, SOFIA, ANNA, FAMILY, OUTSIDER)

    # each change made on one process; the next request to every process answers as it says
    assert post(b, family, ANNA, SHARE_REMOVE.format(href=f"/{JONAS}/")).status_code == 200
    everywhere(cluster, JONAS, ANNA, FAMILY, OUTSIDER)
    share = SHARE_ONE.format(href=f"/{OMA}/", summary="Familie", access="read-write")
    assert post(c, family, ANNA, share).status_code == 200
    everywhere(cluster, OMA, ANNA, FAMILY, COLLABORATOR)
    a.ok("share", "remove", f"{ANNA}/{FAMILY}", "--user", LI)
    everywhere(cluster, LI, ANNA, FAMILY, OUTSIDER)
    b.ok("circle", "add", CLUB, SOFIA, acting_as=ANNA)
    everywhere(cluster, SOFIA, ANNA, FAMILY, SUBSCRIBER)
    c.ok("circle", "remove", CLUB, MEHMET, acting_as=ANNA)
    everywhere(cluster, MEHMET, ANNA, FAMILY, OUTSIDER)
    shared_with = invite_users(propfind(a, family, ANNA)[family])   # the circle's members are listed one by one
    assert {href: state[:2] for href, state in shared_with.items()} == {
        f"/{OMA}/": ("invite-accepted", "read-write"), f"/{SOFIA}/": ("invite-accepted", "read")}


# -- notices: the team's match plan, three worker processes -----------------------------------------------

def address(user: str) -> str:
    return f"{user}@example.org"


@dataclass
class Ledger:
    """What servers acknowledged in the match plan: each write as (who, which item), and each counter's
    number of increments."""

    writes: collections.Counter = field(default_factory=collections.Counter)
    increments: collections.Counter = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self, actor: str, item: str, counter: int | None = None) -> None:
        with self.lock:
            self.writes[(actor, item)] += 1
            if counter is not None:
                self.increments[counter] += 1


def plan_notices(server: Server) -> dict[int, tuple[str, str]]:
    """id: (who, which item) of each change notice about the match plan (one change each: no window)."""
    found = {}
    for row in server.sharing_rows("SELECT id, actor, changes FROM change_notices WHERE collection = ?",
                                   (calendar(COACH, SPIELPLAN),)):
        [change] = json.loads(row["changes"])
        found[row["id"]] = (row["actor"], change["item"])
    return found


def message_key(message: email.message.EmailMessage) -> str:
    """The delivery's idempotency key in an e-mail's Message-ID (radicale_ext/notices/channels/email.py)."""
    return message["Message-ID"].strip("<>").partition("@")[0]


def notification_names(server: Server, user: str) -> set[str]:
    """The names of the resources in the user's notification collection, without ``.xml``."""
    r = server.request("PROPFIND", f"/{quote(user)}/.notifications/", user, headers={"Depth": "1"})
    assert r.status_code == 207, r.text
    return {unquote(href).rsplit("/", 1)[1].removesuffix(".xml") for href, _ in dav.responses(r.content)
            if href.endswith(".xml")}


def check_each_notice_once(cluster: list[Server], box: Mailbox, ledger: Ledger,
                           may_repeat: frozenset[str] = frozenset()) -> dict[str, int]:
    """One change notice per acknowledged write; each delivered once to each other person of the team, by
    e-mail and in their notification collection (each person's read from another process), and to nobody
    else.  Returns the e-mails that came twice (key: times), which must be of ``may_repeat``."""
    notices = plan_notices(cluster[0])
    assert collections.Counter(notices.values()) == ledger.writes, "one notice per acknowledged write"
    told = {(n, user) for n, (actor, _) in notices.items() for user in TEAM if user != actor}
    sent = collections.Counter(message_key(m) for m in box.messages)
    missing = sorted(key for n, user in told if sent[key := idempotency_key(n, user, "email")] == 0)
    assert not missing, f"e-mails not delivered: {missing}"
    own = [n for n, (actor, _) in notices.items() if sent[idempotency_key(n, actor, "email")]]
    assert not own, f"people told of their own changes: {own}"
    repeated = {key: times for key, times in sent.items() if times > 1}
    assert set(repeated) <= may_repeat and set(repeated.values()) <= {2}, f"e-mails sent twice: {repeated}"
    for k, user in enumerate(TEAM):
        listed = notification_names(cluster[k % len(cluster)], user)
        about_plan = listed & {idempotency_key(n, user, "dav") for n in notices}
        assert about_plan == {idempotency_key(n, u, "dav") for n, u in told if u == user}, user
    return repeated


# changes not yet composed, notices not yet handed out, deliveries not yet done
UNTAKEN = ("(SELECT COUNT(*) FROM outbox o LEFT JOIN outbox_taken t ON t.record_id = o.id"
           " WHERE o.state = 'ready' AND t.record_id IS NULL"
           " AND o.id > (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'notices_taken_through'))")
NOT_HANDED_OUT = "(SELECT COUNT(*) FROM change_notices WHERE fanned_out = 0)"
UNDELIVERED = f"SELECT {UNTAKEN} + {NOT_HANDED_OUT} + (SELECT COUNT(*) FROM deliveries WHERE state = 'queued') AS n"
NEVER_CLAIMED = (f"SELECT {UNTAKEN} + {NOT_HANDED_OUT}"
                 " + (SELECT COUNT(*) FROM deliveries WHERE state = 'queued' AND lease_holder IS NULL) AS n")


def wait_until_all_delivered(server: Server, seconds: float = 60) -> None:
    """Until every change is composed, handed out and delivered (two polls in a row)."""
    deadline, quiet = time.monotonic() + seconds, 0
    while quiet < 2:
        assert time.monotonic() < deadline, f"notices still to deliver: {server.sharing_rows(UNDELIVERED)}"
        quiet = quiet + 1 if server.sharing_rows(UNDELIVERED)[0]["n"] == 0 else 0
        time.sleep(0.1)


class Workers:
    """``radicale-ext worker`` processes, each with the config of one host."""

    def __init__(self, cluster: list[Server]) -> None:
        self.cluster = cluster
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, suffix: str) -> None:
        for n, server in enumerate(self.cluster):
            self.running[f"host{n}{suffix}"] = server.worker_process(f"host{n}{suffix}")

    def kill(self, name: str) -> None:
        self.running[name].send_signal(signal.SIGKILL)
        self.running[name].wait(10)

    def stop(self) -> None:
        """SIGTERM to each: it stops after the delivery in hand, with status 0."""
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.running.items():
            assert process.wait(30) in (0, -signal.SIGKILL), f"worker {name}: {self.logs()}"
        self.running = {}

    def end(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace") for server in self.cluster
                       for path in sorted(server.root.glob("worker-*.log")))


@pytest.fixture(scope="module")
def workers(cluster: list[Server]) -> Iterator[Workers]:
    running = Workers(cluster)
    running.start("")
    try:
        yield running
    finally:
        running.end()


def counter_name(k: int) -> str:
    return f"Zähler {k}.ics"


def counter_title(k: int, value: int) -> str:
    return f"Zähler {k} = {value}"


def counter_value(text: str, k: int) -> int | None:
    found = re.search(rf"SUMMARY:Zähler {k} = (\d+)", text)
    return int(found.group(1)) if found else None


@pytest.fixture(scope="module")
def spielplan(cluster: list[Server], workers: Workers) -> Ledger:
    """The coach's match plan shared at once with the players (collaborators) and the fan (subscriber),
    its counters at 0, and his parents' evening; everyone of the team has an e-mail address; all notices so
    far delivered."""
    a, b, c = cluster
    ledger = Ledger()
    plan = calendar(COACH, SPIELPLAN)
    assert a.request("MKCALENDAR", plan, COACH).status_code == 201
    for user in PLAYERS:
        b.ok("share", "add", f"{COACH}/{SPIELPLAN}", "--user", user, "--role", "collaborator")
    c.ok("share", "add", f"{COACH}/{SPIELPLAN}", "--user", FAN, "--role", "subscriber")
    for n, user in enumerate(TEAM):
        cluster[n % 3].ok("notices", "email", address(user), acting_as=user)
    for k in range(COUNTERS):
        r = cluster[k].request("PUT", plan + counter_name(k), COACH, event(f"zaehler-{k}", counter_title(k, 0)),
                               headers=ICS)
        assert r.status_code == 201, r.text
        ledger.acknowledged(COACH, counter_name(k))
    evening = calendar(COACH, ELTERNABEND)
    assert a.request("MKCALENDAR", evening, COACH).status_code == 201
    assert b.request("PUT", f"{evening}first.ics", COACH, event("first", "Elternabend"), headers=ICS).status_code == 201
    wait_until_all_delivered(a)
    return ledger


def collecting(problems: list[str], target: Callable[..., None], *args: object) -> threading.Thread:
    """A thread running ``target``; what it raises goes into ``problems``."""
    def run() -> None:
        try:
            target(*args)
        except Exception as e:  # noqa: BLE001 - reported by the test
            problems.append(f"{target.__name__}: {e!r}")
    return threading.Thread(target=run)


def writer(cluster: list[Server], actor: str, seed: int, ledger: Ledger, problems: list[str]) -> None:
    """Read-modify-write of the counters with If-Match, and new events with If-None-Match, each request to
    a random process; every acknowledged write goes into the ledger and is read back from a random process."""
    client = AnyServer(cluster, seed)
    where = calendar(COACH, SPIELPLAN) if actor == COACH else mount(actor, COACH, SPIELPLAN)
    done = 0
    while done < ROUNDS:
        k = client.rng.randrange(COUNTERS)
        got = client.request("GET", where + counter_name(k), actor)
        value = counter_value(got.text, k) if got.status_code == 200 else None
        if value is None:
            problems.append(f"{actor} GET counter {k}: {got.status_code} {got.text[:200]}")
            return
        put = client.request("PUT", where + counter_name(k), actor, event(f"zaehler-{k}", counter_title(k, value + 1)),
                             headers={**ICS, "If-Match": got.headers["ETag"]})
        if put.status_code == 412:
            continue   # another wrote it in between: read again
        if put.status_code != 204:
            problems.append(f"{actor} PUT counter {k}: {put.status_code} {put.text[:200]}")
            return
        ledger.acknowledged(actor, counter_name(k), counter=k)
        seen = counter_value(client.request("GET", where + counter_name(k), actor).text, k)
        if seen is None or seen < value + 1:
            problems.append(f"{actor} wrote {value + 1} to counter {k}, then read {seen}")
        name = f"Termin {actor} {done}.ics"
        put = client.request("PUT", where + name, actor, event(f"{actor}-{done}", f"Training {done} 🎉"),
                             headers={**ICS, "If-None-Match": "*"})
        if put.status_code != 201:
            problems.append(f"{actor} PUT {name}: {put.status_code} {put.text[:200]}")
            return
        ledger.acknowledged(actor, name)
        done += 1


def sharer(cluster: list[Server], writing: threading.Event, problems: list[str]) -> None:
    """While the writers write (once at least), the coach shares the parents' evening and takes it back, by
    invitation and at the command line, each step on a random process (the command line: on one host's
    config); the parent's next requests, to random processes, answer as the step says."""
    client = AnyServer(cluster, 5)
    evening = calendar(COACH, ELTERNABEND)

    def check(step: str, expected: tuple[int, bool, int, int, int]) -> None:
        got = answers(client, PARENT, COACH, ELTERNABEND)
        if got != expected:
            problems.append(f"{PARENT} after {step}: {got}, expected {expected}")

    cycle = 0
    while cycle == 0 or writing.is_set():
        share = SHARE_ONE.format(href=f"/{PARENT}/", summary="Elternabend", access="read-write")
        assert post(client, evening, COACH, share).status_code == 200
        accept_invitation(client, client, PARENT, COACH, ELTERNABEND)
        check("accepting the invitation", COLLABORATOR)
        cluster[cycle % 3].ok("share", "remove", f"{COACH}/{ELTERNABEND}", "--user", PARENT)
        check("share remove", OUTSIDER)
        cluster[(cycle + 1) % 3].ok("share", "add", f"{COACH}/{ELTERNABEND}", "--user", PARENT, "--role",
                                    "subscriber")
        check("share add --role subscriber", SUBSCRIBER)
        assert post(client, evening, COACH, SHARE_REMOVE.format(href=f"/{PARENT}/")).status_code == 200
        check("the share POST's remove", OUTSIDER)
        cycle += 1


def test_writers_readers_a_sharer_and_workers_at_once(cluster: list[Server], workers: Workers, spielplan: Ledger,
                                                      mailbox: tuple[Mailbox, int]) -> None:
    plan = calendar(COACH, SPIELPLAN)
    problems: list[str] = []
    stop, writing = threading.Event(), threading.Event()
    coach_tokens: list[int] = []
    fan_tokens: list[int] = []
    writers = [collecting(problems, writer, cluster, actor, 100 + n, spielplan, problems)
               for n, actor in enumerate((COACH, *PLAYERS))]
    readers = [collecting(problems, dav.syncer, cluster, COACH, plan, 7, stop, coach_tokens, problems),
               collecting(problems, dav.syncer, cluster, FAN, mount(FAN, COACH, SPIELPLAN), 8, stop, fan_tokens,
                          problems)]
    sharing = collecting(problems, sharer, cluster, writing, problems)
    writing.set()
    for thread in (*readers, *writers, sharing):
        thread.start()
    for thread in writers:
        thread.join(120)
    writing.clear()
    sharing.join(120)
    stop.set()
    for thread in readers:
        thread.join(60)
    assert not problems, problems

    # no acknowledged write lost: every process holds each counter at its number of acknowledged increments
    assert sum(spielplan.increments.values()) == len(writers) * ROUNDS
    for server in cluster:
        for k in range(COUNTERS):
            r = server.request("GET", plan + counter_name(k), COACH)
            assert counter_value(r.text, k) == spielplan.increments[k], (server.port, k, spielplan.increments)
    listings = [dav.listing(server, quote(plan), COACH) for server in cluster]
    assert listings[0] == listings[1] == listings[2]
    assert len(listings[0]) == COUNTERS + len(writers) * ROUNDS
    # the tokens each reader got, from whichever process, never went backwards
    for tokens in (coach_tokens, fan_tokens):
        assert tokens == sorted(tokens) and len(set(tokens)) > 1, tokens

    wait_until_all_delivered(cluster[0])
    time.sleep(0.3)   # anything sent twice would have arrived now
    assert check_each_notice_once(cluster, mailbox[0], spielplan) == {}
    assert "Traceback" not in workers.logs(), workers.logs()


def test_a_worker_killed_in_the_middle_of_a_batch_leaves_it_to_the_others(
        cluster: list[Server], workers: Workers, spielplan: Ledger, mailbox: tuple[Mailbox, int]) -> None:
    """While no worker runs, the coach adds ``BURST`` events (``3 * BURST`` e-mails); three workers start
    while the SMTP server holds the first message in its DATA; once all is claimed, the worker holding the most
    is SIGKILLed.  The two others take its deliveries over when its lease has run out."""
    box = mailbox[0]
    wait_until_all_delivered(cluster[0])
    workers.stop()
    plan = calendar(COACH, SPIELPLAN)

    def kick_off(n: int) -> None:
        name = f"Anstoß {n}.ics"
        r = cluster[n % 3].request("PUT", plan + name, COACH, event(f"anstoss-{n}", f"Anstoß {n} ⚽"), headers=ICS)
        assert r.status_code == 201, r.text
        spielplan.acknowledged(COACH, name)

    with ThreadPoolExecutor(len(cluster)) as pool:
        list(pool.map(kick_off, range(BURST)))
    box.waiting.clear()
    box.gate.clear()
    try:
        workers.start("-again")
        victim, held = claimed_batch(cluster[0], box)
        workers.kill(victim)
        killed_at = time.time()
    finally:
        box.gate.set()
    assert len(held) >= BURST, f"{victim} held {len(held)} deliveries"

    wait_until_all_delivered(cluster[0])
    time.sleep(0.3)   # anything sent twice would have arrived now
    workers.stop()
    rows = cluster[0].sharing_rows(
        "SELECT id, notice_id, recipient, channel, target, state, finished_at FROM deliveries"
        f" WHERE id IN ({', '.join(str(i) for i in held)})")
    assert len(rows) == len(held)
    for row in rows:
        # delivered by another, only once the dead worker's lease had run out
        assert row["state"] == "delivered" and row["finished_at"] >= held[row["id"]] > killed_at, row
    # none twice, but the message in flight at the kill (one of the dead worker's) may have come again, with the
    # same Message-ID
    its = frozenset(idempotency_key(r["notice_id"], r["recipient"], r["channel"], r["target"]) for r in rows)
    assert len(check_each_notice_once(cluster, box, spielplan, may_repeat=its)) <= 1
    assert "Traceback" not in workers.logs(), workers.logs()


def claimed_batch(server: Server, box: Mailbox, seconds: float = 30) -> tuple[str, dict[int, float]]:
    """Once the SMTP server holds a message in its DATA and every notice is handed out and claimed: the
    worker holding the most deliveries, and those (id: lease until)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if box.waiting.is_set() and server.sharing_rows(NEVER_CLAIMED)[0]["n"] == 0:
            rows = server.sharing_rows("SELECT id, lease_holder, lease_until FROM deliveries WHERE state = 'queued'"
                                       " AND lease_until > ?", (time.time(),))
            by_holder: dict[str, dict[int, float]] = collections.defaultdict(dict)
            for row in rows:
                by_holder[row["lease_holder"]][row["id"]] = row["lease_until"]
            return max(by_holder.items(), key=lambda item: len(item[1]))
        time.sleep(0.02)
    raise AssertionError(f"the workers did not claim the burst within {seconds} s")
