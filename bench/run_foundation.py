"""Foundation benchmark: stock Radicale 3.9 against radicale-ext, same run, same data.

    python bench/run_foundation.py [--events 1000] [--repeat N] [--quick]

Starts real servers on loopback ports, each from its own folder under
bench/work/:

- stock: Radicale 3.9, multifilesystem, htpasswd (bcrypt, cached logins),
  rights owner_only, no sharing;
- ours: config/radicale.ini, adapted as tests/server.py does;
- ours-big: the same as ours, plus 5,000 shares among other users (a home
  listing must not depend on the size of the sharing database) and one user
  with 800 shares (it must grow linearly with the user's own shares).

Every request is timed on a keep-alive ``requests.Session``; the servers take
turns (A, B, C, then B, C, A, ...) so that drift cancels out.  The table is
printed and written between the markers in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

import radicale  # noqa: E402
from http_timing import expect, timed  # noqa: E402
from results import work_folder, write_section  # noqa: E402

from radicale_ext.base.model import Grantee, GranteeKind, Role  # noqa: E402
from radicale_ext.site import Settings, Site  # noqa: E402
from tests.server import Server, free_port, make_server, wait_until_listening, write_users  # noqa: E402

BENCH = PROJECT / "bench"
RESULTS = BENCH / "RESULTS.md"

ALICE, BOB = "alice", "bob"
READER, NOBODY, COLLECTOR = "reader", "nobody", "collector"  # 200 shares / none / the most
CALENDARS_PER_OWNER = 10
READER_SHARES = 200
OWNERS = tuple(f"o{i:02d}" for i in range(READER_SHARES // CALENDARS_PER_OWNER))  # the 200 shared calendars
OTHERS = tuple(f"u{i:03d}" for i in range(100))  # grantees of the extra shares in ours-big, 50 each

FAMILY = "/alice/family/"
FAMILY_VIA_SHARE = "/bob/family~alice/"
SYNC_CHANGES = 10
OWNER_TARGET, SHARE_TARGET = 1.10, 1.25
DB_SIZE_TARGET = 1.10
LINEAR_TOLERANCE = (0.75, 1.25)  # of the growth a listing linear in the user's shares would have
GET_REPEAT_FACTOR = 5  # GET is cheap and its noise relatively large: more samples

EVENT = """BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T000000Z
DTSTART:{start}
DTEND:{end}
SUMMARY:{summary}
LOCATION:Room {room}
DESCRIPTION:Benchmark event {uid}\\, the same on every server.
END:VEVENT
"""
CALENDAR_HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//radicale-ext//bench//EN\r\n"
CALENDAR_TAIL = "END:VCALENDAR\r\n"

PROPFIND_ETAGS = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"""

PROPFIND_SYNC_TOKEN = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/></D:prop></D:propfind>"""

# what a client (DAVx5, iOS) asks of a calendar home
PROPFIND_HOME = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"
            xmlns:I="http://apple.com/ns/ical/">
  <D:prop>
    <D:resourcetype/><D:displayname/><D:current-user-privilege-set/><D:sync-token/>
    <CS:getctag/><C:supported-calendar-component-set/><I:calendar-color/>
  </D:prop>
</D:propfind>"""

SYNC_REPORT = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>
<D:prop><D:getetag/></D:prop></D:sync-collection>"""

SYNC_TOKEN_RE = re.compile(r"<(?:\w+:)?sync-token>([^<]+)</(?:\w+:)?sync-token>")
RESPONSE_RE = re.compile(r"<(?:\w+:)?response>")


# -- data ---------------------------------------------------------------------

def event(uid: str, n: int, summary: str | None = None) -> str:
    day = 1 + n % 28
    month = 1 + (n // 28) % 12
    hour = 8 + n % 10
    start = f"2026{month:02d}{day:02d}T{hour:02d}0000Z"
    end = f"2026{month:02d}{day:02d}T{hour + 1:02d}0000Z"
    return EVENT.format(uid=uid, start=start, end=end, summary=summary or f"Event {n}", room=n % 50)


def calendar_of(events: Sequence[str]) -> str:
    return CALENDAR_HEAD + "".join(events).replace("\n", "\r\n") + CALENDAR_TAIL


def item_uid(n: int) -> str:
    return f"bench-{n:05d}"


def item_href(n: int) -> str:
    return f"{item_uid(n)}.ics"


# -- servers ------------------------------------------------------------------

def write_stock_config(root: Path, port: int, ours_config: Path) -> Path:
    """Stock Radicale: ours' [server] and [logging] options, htpasswd with cached logins, nothing of ours."""
    ours = configparser.RawConfigParser()
    ours.read(ours_config)
    stock = configparser.RawConfigParser()
    for section in ("server", "logging"):
        stock[section] = dict(ours.items(section))
    stock.set("server", "hosts", f"127.0.0.1:{port}")
    stock["auth"] = {
        "type": "htpasswd",
        "htpasswd_filename": str(root / "data" / "users"),
        "htpasswd_encryption": "bcrypt",
        "delay": "0",
        "cache_logins": "true",
        "cache_successful_logins_expiry": ours.get("auth", "cache_successful_logins_expiry", fallback="15"),
    }
    stock["rights"] = {"type": "owner_only"}
    stock["storage"] = {"type": "multifilesystem", "filesystem_folder": str(root / "data" / "collections")}
    path = root / "radicale.ini"
    with open(path, "w") as f:
        stock.write(f)
    return path


class StockServer(Server):
    """Stock Radicale as its README starts it: ``python -m radicale`` (its own HTTP server)."""

    def start(self) -> StockServer:
        with open(self.root / "server.log", "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(self.config)],
                                         cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        wait_until_listening(self)
        return self


def make_stock_server(root: Path, ours_config: Path, names: tuple[str, ...]) -> StockServer:
    root.mkdir(parents=True, exist_ok=True)
    write_users(root / "data" / "users", names)
    port = free_port()
    return StockServer(root=root, port=port, config=write_stock_config(root, port, ours_config))


def command_of(server: Server) -> str:
    """How a server was started, without its config path: ``python -m radicale``."""
    assert server.proc is not None
    args = [str(a) for a in server.proc.args]
    shown = args[1:args.index("--config")] if "--config" in args else args[1:]
    return " ".join(["python", *shown])


@dataclass
class Servers:
    stock: StockServer
    ours: Server
    ours_big: Server


@contextmanager
def running_servers(work: Path, names: tuple[str, ...]) -> Iterator[Servers]:
    """Start the three servers; stop every one that started, whatever happens."""
    with ExitStack() as stack:
        def start(server: Server) -> Server:
            stack.callback(server.stop)
            return server.start()

        ours = start(make_server(work / "ours", users=names))
        ours_big = start(make_server(work / "ours-big", users=names))
        stock = start(make_stock_server(work / "stock", ours.config, names))
        yield Servers(stock=stock, ours=ours, ours_big=ours_big)




# -- loading the same data into every server -----------------------------------

def load_family(server: Server, events: int) -> None:
    """alice's calendar of ``events`` events, in one whole-collection PUT."""
    body = calendar_of([event(item_uid(n), n) for n in range(events)])
    expect(server.request("PUT", FAMILY, ALICE, body, headers={"Content-Type": "text/calendar"}), 201)
    listed = expect(server.request("PROPFIND", FAMILY, ALICE, PROPFIND_ETAGS, headers={"Depth": "1"}), 207)
    found = len(RESPONSE_RE.findall(listed.text)) - 1
    if found != events or item_href(0) not in listed.text:
        raise RuntimeError(f"{server.url}: {found} items in {FAMILY} after loading {events}")


def calendars_of(owners: Sequence[str]) -> list[tuple[str, str]]:
    return [(owner, f"/{owner}/c{k:02d}/") for owner in owners for k in range(CALENDARS_PER_OWNER)]


def shared_calendars() -> list[tuple[str, str]]:
    """(owner, "/owner/cNN/") of the 200 calendars shared with the reader."""
    return calendars_of(OWNERS)


def collector_owners(most_shares: int) -> tuple[str, ...]:
    """Owners of the calendars beyond the reader's 200, shared only with the collector."""
    extra = max(most_shares - READER_SHARES, 0)
    return tuple(f"p{i:02d}" for i in range(-(-extra // CALENDARS_PER_OWNER)))


def users(most_shares: int) -> tuple[str, ...]:
    return (ALICE, BOB, READER, NOBODY, COLLECTOR, *OWNERS, *OTHERS, *collector_owners(most_shares))


def make_calendars(server: Server, calendars: list[tuple[str, str]]) -> None:
    for owner, path in calendars:
        expect(server.request("MKCALENDAR", path, owner), 201)
        item = calendar_of([event(f"{path.strip('/').replace('/', '-')}-1", 1)])
        expect(server.request("PUT", path + "one.ics", owner, item, headers={"Content-Type": "text/calendar"}),
               201)


def share_all(server: Server, grants: list[tuple[str, str]]) -> None:
    """Add (collection, user) shares through the core, as ``radicale-ext share add`` does."""
    site = Site(Settings.from_ini(str(server.config)))
    try:
        for collection, user in grants:
            site.shares.add(collection, Grantee(GranteeKind.USER, user), Role.SUBSCRIBER)
    finally:
        site.db.close()


def reader_grants() -> list[tuple[str, str]]:
    return [(path, READER) for _owner, path in shared_calendars()]


def collector_grants(most_shares: int) -> list[tuple[str, str]]:
    calendars = shared_calendars() + calendars_of(collector_owners(most_shares))
    return [(path, COLLECTOR) for _owner, path in calendars[:most_shares]]


def extra_grants(count: int) -> list[tuple[str, str]]:
    """``count`` shares of the same 200 calendars among OTHERS, 50 per user (u000 has 50)."""
    calendars = [path for _owner, path in shared_calendars()]
    per_user = 50
    grants = []
    for i, user in enumerate(OTHERS):
        for k in range(per_user):
            grants.append((calendars[(i * per_user + k) % len(calendars)], user))
    return grants[:count]


@contextmanager
def step(what: str) -> Iterator[None]:
    began = time.monotonic()
    print(f"  {what} ...", end="", flush=True)
    yield
    print(f" {time.monotonic() - began:.0f} s", flush=True)


def prepare(servers: Servers, args: argparse.Namespace) -> None:
    for server in (servers.stock, servers.ours, servers.ours_big):
        with step(f"{server.url}: {args.events} events, {len(shared_calendars())} calendars"):
            load_family(server, args.events)
            make_calendars(server, shared_calendars())
    with step(f"stock: {READER} owns {READER_SHARES} calendars (the reference for a home listing)"):
        make_calendars(servers.stock, [(READER, f"/{READER}/{path.strip('/').replace('/', '-')}/")
                                       for _owner, path in shared_calendars()])
    with step(f"ours-big: {len(collector_owners(args.most_shares)) * CALENDARS_PER_OWNER} more calendars"):
        make_calendars(servers.ours_big, calendars_of(collector_owners(args.most_shares)))
    with step("shares"):
        for server in (servers.ours, servers.ours_big):
            server.ok("share", "add", "alice/family", "--user", BOB, "--role", "collaborator")
        share_all(servers.ours, reader_grants())
        share_all(servers.ours_big, reader_grants() + extra_grants(args.extra_shares)
                  + collector_grants(args.most_shares))


# -- timing -------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Who asks which server about which collection."""

    name: str
    server: Server
    user: str
    collection: str


Probe = Callable[[Target, int], float]




def interleaved(targets: Sequence[Target], probe: Probe, repeat: int, warmup: int) -> dict[str, list[float]]:
    """Run ``probe`` on every target in turn, rotating the order each round."""
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    for i in range(warmup + repeat):
        shift = i % len(targets)
        for target in [*targets[shift:], *targets[:shift]]:
            elapsed = probe(target, i)
            if i >= warmup:
                samples[target.name].append(elapsed)
    return samples


class Probes:
    """One timed request per call; whatever it needs first is done untimed."""

    def __init__(self, events: int) -> None:
        self.events = events
        self.puts = 0

    def get(self, t: Target, i: int) -> float:
        path = t.collection + item_href(i * 37 % self.events)
        return timed(lambda: t.server.request("GET", path, t.user), 200)

    def put(self, t: Target, i: int) -> float:
        self.puts += 1
        uid = f"new-{self.puts:06d}"
        body = calendar_of([event(uid, self.puts)])
        path = t.collection + f"{uid}.ics"
        elapsed = timed(lambda: t.server.request("PUT", path, t.user, body,
                                                 headers={"Content-Type": "text/calendar"}), 201)
        expect(t.server.request("DELETE", path, t.user), 200, 204)  # keep the calendar at its size
        return elapsed

    def propfind(self, t: Target, i: int) -> float:
        return timed(lambda: t.server.request("PROPFIND", t.collection, t.user, PROPFIND_ETAGS,
                                              headers={"Depth": "1"}), 207)

    def sync(self, t: Target, i: int) -> float:
        token = self.sync_token(t)
        for k in range(SYNC_CHANGES):
            n = (i * SYNC_CHANGES + k) % self.events
            body = calendar_of([event(item_uid(n), n, summary=f"Changed {t.name} {i}")])
            expect(t.server.request("PUT", t.collection + item_href(n), t.user, body,
                                    headers={"Content-Type": "text/calendar"}), 201, 204)
        report = SYNC_REPORT.format(token=token)
        start = time.perf_counter()
        response = t.server.request("REPORT", t.collection, t.user, report, headers={"Depth": "1"})
        elapsed = time.perf_counter() - start
        expect(response, 207)
        changed = len(RESPONSE_RE.findall(response.text))
        if changed != SYNC_CHANGES:
            raise RuntimeError(f"{t.name}: sync-collection reported {changed} changes, expected {SYNC_CHANGES}")
        return elapsed

    @staticmethod
    def sync_token(t: Target) -> str:
        response = expect(t.server.request("PROPFIND", t.collection, t.user, PROPFIND_SYNC_TOKEN,
                                           headers={"Depth": "0"}), 207)
        match = SYNC_TOKEN_RE.search(response.text)
        if not match:
            raise RuntimeError(f"{t.name}: no sync-token in {response.text[:300]}")
        return match.group(1)

    @staticmethod
    def home(t: Target, i: int) -> float:
        return timed(lambda: t.server.request("PROPFIND", t.collection, t.user, PROPFIND_HOME,
                                              headers={"Depth": "1"}), 207)


def listed_collections(t: Target) -> int:
    response = expect(t.server.request("PROPFIND", t.collection, t.user, PROPFIND_HOME,
                                       headers={"Depth": "1"}), 207)
    return len(RESPONSE_RE.findall(response.text)) - 1


# -- statistics and report -------------------------------------------------------

@dataclass(frozen=True)
class Stat:
    median: float
    p90: float

    @classmethod
    def of(cls, samples: list[float]) -> Stat:
        p90 = statistics.quantiles(samples, n=10)[-1] if len(samples) > 1 else samples[0]
        return cls(median=statistics.median(samples), p90=p90)

    def __str__(self) -> str:
        return f"{self.median * 1000:.1f} ({self.p90 * 1000:.1f})"


@dataclass(frozen=True)
class Comparison:
    request: str
    via: str
    stock: Stat
    ours: Stat
    target: float

    @property
    def ratio(self) -> float:
        return self.ours.median / self.stock.median

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target


@dataclass(frozen=True)
class HomeCase:
    server: str
    name: str
    shares_to_user: int
    shares_in_database: int
    listed: int
    stat: Stat
    samples: int


@dataclass(frozen=True)
class Check:
    name: str
    value: str
    target: str
    passed: bool


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def request_table(rows: list[Comparison]) -> list[str]:
    lines = ["| request | as | stock median (p90) ms | ours median (p90) ms | ratio | target | result |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r.request} | {r.via} | {r.stock} | {r.ours} | {r.ratio:.2f}x | "
                     f"<= {r.target:.2f}x | {verdict(r.passed)} |")
    return lines


def home_table(cases: list[HomeCase]) -> list[str]:
    lines = ["| home PROPFIND depth 1 | shares to the user | shares in the database | collections listed "
             "| n | median (p90) ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for c in cases:
        lines.append(f"| {c.name} | {c.shares_to_user} | {c.shares_in_database} | {c.listed} | {c.samples} "
                     f"| {c.stat} |")
    return lines


def check_table(checks: list[Check]) -> list[str]:
    lines = ["| check | value | target | result |", "| --- | ---: | --- | --- |"]
    for c in checks:
        lines.append(f"| {c.name} | {c.value} | {c.target} | {verdict(c.passed)} |")
    return lines


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return (f"nproc {os.cpu_count()}{f' ({model})' if model else ''}, Python {platform.python_version()} "
            f"({interpreter()}), Radicale {radicale.VERSION}, {platform.system()} {platform.release()}")


def interpreter() -> str:
    """The interpreter the servers run on (for a virtual environment, the one it was made from): builds
    differ by a fifth in speed (docs/performance.md, "The interpreter")."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


@dataclass
class RunInfo:
    """What the report says about the run itself."""

    load_before: str
    load_after: str = ""
    seconds: float = 0.0
    stock_command: str = ""
    ours_command: str = ""


def report(args: argparse.Namespace, run: RunInfo, rows: list[Comparison], cases: list[HomeCase],
           checks: list[Check]) -> str:
    command = " ".join(["python bench/run_foundation.py", *sys.argv[1:]])
    lines = [
        f"Run of {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: `{command}`",
        "",
        f"- machine: {machine()}; load average (1, 5, 15 min) {run.load_before} before, "
        f"{run.load_after} after",
        f"- servers: stock `{run.stock_command}`, ours `{run.ours_command}` (each with its own config)",
        f"- data: {args.events} events in alice's calendar; {args.repeat} timed repetitions per request, "
        f"{args.repeat * GET_REPEAT_FACTOR} for GET (after {args.warmup} untimed), servers interleaved; "
        f"{run.seconds:.0f} s in all",
        "- times are client-side wall clock over a keep-alive session, in ms: median (p90)",
        "",
        "Owner and share requests (through a share: bob at /bob/family~alice/ on ours, "
        "against alice at /alice/family/ on stock):",
        "",
        *request_table(rows),
        "",
        f"Home listing (the stock row is a reference, no target: there {READER} owns the {READER_SHARES} "
        "calendars that are shared with them on ours):",
        "",
        *home_table(cases),
        "",
        *check_table(checks),
    ]
    return "\n".join(lines) + "\n"




def write_results(text: str) -> None:
    write_section("results", text, "## Foundation (`bench/run_foundation.py`)")


# -- the benchmark ----------------------------------------------------------------

def measure_requests(servers: Servers, args: argparse.Namespace) -> list[Comparison]:
    stock = Target("stock", servers.stock, ALICE, FAMILY)
    owner = Target("ours-owner", servers.ours, ALICE, FAMILY)
    share = Target("ours-share", servers.ours, BOB, FAMILY_VIA_SHARE)
    probes = Probes(args.events)
    rows = []
    for request, probe, factor in (("GET one item", probes.get, GET_REPEAT_FACTOR),
                                   ("PUT one new item", probes.put, 1),
                                   ("PROPFIND depth 1 (getetag)", probes.propfind, 1),
                                   (f"REPORT sync-collection after {SYNC_CHANGES} changes", probes.sync, 1)):
        samples = interleaved([stock, owner, share], probe, args.repeat * factor, args.warmup)
        print(f"  {request}: " + ", ".join(f"{k} {Stat.of(v)}" for k, v in samples.items()), flush=True)
        base = Stat.of(samples["stock"])
        rows.append(Comparison(request, "owner", base, Stat.of(samples["ours-owner"]), OWNER_TARGET))
        rows.append(Comparison(request, "sharee", base, Stat.of(samples["ours-share"]), SHARE_TARGET))
    return sorted(rows, key=lambda r: r.via == "sharee")


def growth_check(label: str, t0: float, small: tuple[int, float], large: tuple[int, float]) -> Check:
    """Linear growth: (t_large - t0) / (t_small - t0) close to large / small."""
    (n_small, t_small), (n_large, t_large) = small, large
    expected = n_large / n_small
    growth = (t_large - t0) / (t_small - t0) if t_small > t0 else float("inf")
    low, high = expected * LINEAR_TOLERANCE[0], expected * LINEAR_TOLERANCE[1]
    return Check(f"{label}: growth {n_small} -> {n_large} shares, (t{n_large} - t0) / (t{n_small} - t0)",
                 f"{growth:.2f}", f"{low:.1f} .. {high:.1f} (linear: {expected:g})", low <= growth <= high)


HomeSpec = tuple[Target, int, int]  # who lists which home, shares to the user, shares in the database


def measure_home_pass(spec: list[HomeSpec], rounds: int, warmup: int, label: str = "") -> list[HomeCase]:
    targets = [t for t, _n, _db in spec]
    listed = {t.name: listed_collections(t) for t in targets}
    samples = interleaved(targets, Probes.home, rounds, warmup)
    cases = [HomeCase(t.name.split(":")[0], t.name + label, n, db, listed[t.name], Stat.of(samples[t.name]), rounds)
             for t, n, db in spec]
    print("  home: " + ", ".join(f"{c.name} {c.stat}" for c in cases), flush=True)
    return cases


def measure_homes(servers: Servers, args: argparse.Namespace) -> tuple[list[HomeCase], list[Check]]:
    """Pass 1: up to 200 shares, twice the repetitions (the checks subtract and divide medians).
    Pass 2: the most shares, against 0 and 200 in the same pass, fewer repetitions (it is slow)."""
    small_db = 1 + len(reader_grants())
    big_db = small_db + len(extra_grants(args.extra_shares)) + len(collector_grants(args.most_shares))

    def home(server: Server, user: str) -> Target:
        label = "stock" if server is servers.stock else "ours" if server is servers.ours else "ours-big"
        return Target(f"{label}: {user}", server, user, f"/{user}/")

    first = measure_home_pass([
        (home(servers.stock, READER), 0, 0),
        (home(servers.ours, NOBODY), 0, small_db),
        (home(servers.ours, READER), READER_SHARES, small_db),
        (home(servers.ours_big, NOBODY), 0, big_db),
        (home(servers.ours_big, OTHERS[0]), 50, big_db),
        (home(servers.ours_big, READER), READER_SHARES, big_db),
    ], 2 * args.repeat, args.warmup)
    first[0] = dataclasses.replace(first[0], name=f"stock: {READER} (owns {READER_SHARES} calendars)")
    median = {(c.server, c.shares_to_user): c.stat.median for c in first}
    t0 = median["ours-big", 0]
    db_ratio = median["ours-big", READER_SHARES] / median["ours", READER_SHARES]
    checks = [
        Check(f"{READER_SHARES} shares to the user, {big_db} / {small_db} shares in the database",
              f"{db_ratio:.2f}x", f"<= {DB_SIZE_TARGET:.2f}x", db_ratio <= DB_SIZE_TARGET),
        growth_check("ours-big", t0, (50, median["ours-big", 50]), (READER_SHARES, median["ours-big", READER_SHARES])),
    ]
    if args.most_shares <= READER_SHARES:
        return first, checks
    second = measure_home_pass([
        (home(servers.ours_big, NOBODY), 0, big_db),
        (home(servers.ours_big, READER), READER_SHARES, big_db),
        (home(servers.ours_big, COLLECTOR), args.most_shares, big_db),
    ], max(args.repeat // 4, 3), 1, label=" (pass 2)")
    median2 = {c.shares_to_user: c.stat.median for c in second}
    checks.append(growth_check("ours-big, pass 2", median2[0], (READER_SHARES, median2[READER_SHARES]),
                               (args.most_shares, median2[args.most_shares])))
    return first + second, checks


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=1000, help="events in alice's calendar (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=40,
                   help=f"timed repetitions per request (GET: {GET_REPEAT_FACTOR}x) (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed repetitions first (default: %(default)s)")
    p.add_argument("--extra-shares", type=int, default=5000,
                   help="shares among other users in ours-big, at most 5000 (default: %(default)s)")
    p.add_argument("--most-shares", type=int, default=800,
                   help="shares to one user in ours-big, for the growth check (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run (5 repetitions, 1000 extra shares, 400 most); bench/RESULTS.md is left alone")
    p.add_argument("--keep", action="store_true", help="keep the servers' folders under bench/work/")
    args = p.parse_args(argv)
    if args.quick:
        args.repeat, args.warmup, args.extra_shares, args.most_shares = 5, 1, 1000, 400
    args.extra_shares = min(max(args.extra_shares, 50), len(OTHERS) * 50)  # u000 always has its 50
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = work_folder("foundation-")
    began = time.monotonic()
    run = RunInfo(load_before=load_average())
    try:
        with running_servers(work, users(args.most_shares)) as servers:
            run.stock_command, run.ours_command = command_of(servers.stock), command_of(servers.ours)
            print(f"loading data ({args.events} events, {args.extra_shares} extra shares) ...", flush=True)
            prepare(servers, args)
            print(f"measuring ({args.repeat} repetitions) ...", flush=True)
            rows = measure_requests(servers, args)
            cases, checks = measure_homes(servers, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    run.seconds, run.load_after = time.monotonic() - began, load_average()
    text = report(args, run, rows, cases, checks)
    print()
    print(text)
    if not args.quick:
        write_results(text)
        print(f"written to {RESULTS.relative_to(PROJECT)}")
    return 0 if all(r.passed for r in rows) and all(c.passed for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
