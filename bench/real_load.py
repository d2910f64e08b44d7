"""bench/run_real.py's data and load: loading the real-looking data into every server, the requests
of issue 17, its mixed load and the bulk PUT of new events, each client its own process (as
bench/speed_load.py: threads in one client process would share one GIL and measure the client).

Client processes are forked: they find the run's data (the calendar, the expected week counts, the
new events) in this module's ``_shared``, set before the pool is made, rather than having it pickled.
"""

from __future__ import annotations

import dataclasses
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import speed_load
from real_calendars import EMAIL_QUERY, FN_OR_EMAIL_QUERY, WEEK_STARTS, Event, RealData, week_of
from speed_client import Http, Site, responses, sync_token_of
from speed_cyrus import children_of
from speed_davical import MKCOL_ADDRESSBOOK
from speed_load import START_DELAY, BulkResult, Tally, fork_pool
from speed_servers import XandikosServer, check_loaded, commit_files

from tests.server import Server, stored_beforehand

BULK_CLIENTS = (1, 4)
MULTIGET = 10  # events per calendar-multiget
LOAD_CLIENTS = 4  # client processes that PUT the data into a server that takes items one by one (Cyrus)

MIX: tuple[tuple[str, int, str], ...] = (
    ("get", 40, "GET one random event"),
    ("ctag", 20, "PROPFIND depth 0 getctag + sync-token"),
    ("put", 10, "PUT one random existing event with a new SUMMARY"),
    ("sync", 10, "sync-collection from the client's last token"),
    ("multiget", 10, f"calendar-multiget of {MULTIGET} random events (getetag, calendar-data)"),
    ("week", 10, "calendar-query for a random week of 2026 (getetag), its count checked against the data"),
)

CALENDAR_MULTIGET = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop>
{hrefs}
</C:calendar-multiget>"""

ADDRESSBOOK_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/></D:prop>
<CR:filter test="anyof">{filters}</CR:filter></CR:addressbook-query>"""

PROP_FILTER = ('<CR:prop-filter name="{name}"><CR:text-match match-type="contains">{text}</CR:text-match>'
               "</CR:prop-filter>")

CARD_QUERIES = {  # row -> (what it asks, properties, text)
    "email": (f'EMAIL contains "{EMAIL_QUERY}"', ("EMAIL",), EMAIL_QUERY),
    "anyof": (f'anyof FN, EMAIL contains "{FN_OR_EMAIL_QUERY}"', ("FN", "EMAIL"), FN_OR_EMAIL_QUERY),
}


def addressbook_query(properties: tuple[str, ...], text: str) -> str:
    """RFC 6352 10.3: a text-match "contains" (default collation, i;unicode-casemap) on any of ``properties``."""
    return ADDRESSBOOK_QUERY.format(filters="".join(PROP_FILTER.format(name=p, text=xml_escape(text))
                                                     for p in properties))


def card_search(client: Http, site: Site, properties: tuple[str, ...], text: str) -> str:
    return client.call("REPORT", site.cards, addressbook_query(properties, text), {"Depth": "1"}, (207,))


def multiget(client: Http, site: Site, hrefs: list[str]) -> str:
    body = CALENDAR_MULTIGET.format(hrefs="\n".join(f"<D:href>{xml_escape(site.calendar + h)}</D:href>"
                                                    for h in hrefs))
    return client.call("REPORT", site.calendar, body, {"Depth": "1"}, (207,))


def put_event(client: Http, site: Site, event: Event, summary: str | None = None) -> str:
    return client.put(site.calendar + event.href, event.text(summary))


def bulk_calendar(site: Site, clients: int) -> Site:
    """The site with ``bulk`` the empty calendar of the bulk PUT from ``clients`` clients."""
    return dataclasses.replace(site, bulk=f"{site.bulk.rstrip('/')}-{clients}/")


# -- loading --------------------------------------------------------------------------------------------------

def make_bulk_calendars(site: Site) -> None:
    client = site.client()
    for clients in BULK_CLIENTS:
        client.call("MKCALENDAR", bulk_calendar(site, clients).bulk, codes=(201,))


def check_all_loaded(site: Site, data: RealData) -> None:
    check_loaded(site, site.calendar, len(data.events), data.events[0].href)
    check_loaded(site, site.cards, len(data.cards), data.cards[0].href)


def load_radicale(site: Site, data: RealData, server: Server) -> None:
    """Stock and ours: the calendar and the address book in one whole-collection PUT each (Radicale's
    fastest import).  Ours takes at most MAX_ITEMS_PER_UPLOAD items per PUT (docs/limits.md), and stock's
    whole-calendar PUT of 10,000 events does not finish within the client's 300 s on a 2-core machine: a
    larger calendar is written into the server's store as a restored backup would be (tests/server.py
    ``stored_beforehand``; both keep Radicale's folders), the items as a client PUTs them, and then listed
    through the server, which reads (stock: parses) every item."""
    from radicale_ext.base.recurrence_limits import MAX_ITEMS_PER_UPLOAD

    client = site.client()
    if len(data.events) > MAX_ITEMS_PER_UPLOAD:
        stored_beforehand(server, site.calendar, {"tag": "VCALENDAR"}, {e.href: e.text() for e in data.events})
        stored_beforehand(server, site.cards, {"tag": "VADDRESSBOOK"}, {c.href: c.text() for c in data.cards})
    else:
        client.call("PUT", site.calendar, data.calendar_text(), {"Content-Type": "text/calendar"}, (201,))
        client.call("PUT", site.cards, data.address_book_text(), {"Content-Type": "text/vcard"}, (201,))
    make_bulk_calendars(site)
    check_all_loaded(site, data)


def load_xandikos(server: XandikosServer, site: Site, data: RealData) -> None:
    """Xandikos: the items written into the git-backed collections ``--defaults`` made, in one commit each
    (a PUT commits once per item, at O(items): see bench/speed_servers.py)."""
    calendar = server.data / site.calendar.strip("/")
    cards = server.data / site.cards.strip("/")
    if not (calendar / ".git").is_dir() or not (cards / ".git").is_dir():
        raise RuntimeError(f"Xandikos did not create {calendar} and {cards}:\n{server.log()}")
    commit_files(calendar, {e.href: e.text() for e in data.events})
    commit_files(cards, {c.href: c.text() for c in data.cards})
    make_bulk_calendars(site)
    check_all_loaded(site, data)


def put_items(site: Site, items: list[tuple[str, str, str]]) -> int:
    """One loading client: PUT each (path, text, content type) as a new item."""
    client = site.client()
    for path, text, kind in items:
        client.call("PUT", path, text, {"Content-Type": kind, "If-None-Match": "*"}, (201,))
    client.close()
    return len(items)


def load_cyrus(site: Site, data: RealData) -> None:
    """Cyrus: the calendar made (MKCALENDAR) and the address book (extended MKCOL), then every item PUT
    from LOAD_CLIENTS client processes (Cyrus takes items one by one; it indexes each as it stores it)."""
    client = site.client()
    client.call("MKCALENDAR", site.calendar, codes=(201,))
    client.call("MKCOL", site.cards, MKCOL_ADDRESSBOOK, codes=(201,))
    items = ([(site.calendar + e.href, e.text(), "text/calendar; charset=utf-8") for e in data.events]
             + [(site.cards + c.href, c.text(), "text/vcard; charset=utf-8") for c in data.cards])
    with fork_pool(LOAD_CLIENTS) as pool:
        done = sum(pool.starmap(put_items, [(site, items[k::LOAD_CLIENTS]) for k in range(LOAD_CLIENTS)]))
    if done != len(items):
        raise RuntimeError(f"Cyrus: {done} of {len(items)} items PUT")
    make_bulk_calendars(site)
    check_all_loaded(site, data)


# -- memory -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resident:
    """A server's memory, summed over its process and all its descendants, in KiB: the resident set
    (VmRSS, which counts a page shared by several processes once in each) and the proportional set
    (Pss from /proc/PID/smaps_rollup: each shared page divided among the processes sharing it, so the
    sum is the memory the server takes)."""

    rss_kib: int
    pss_kib: int
    processes: int


def resident(server: Server) -> Resident:
    assert server.proc is not None
    pids = [server.proc.pid, *children_of(server.proc.pid)]
    rss = pss = 0
    for pid in pids:
        rss += _kib(Path(f"/proc/{pid}/status"), "VmRSS:")
        pss += _kib(Path(f"/proc/{pid}/smaps_rollup"), "Pss:")
    return Resident(rss, pss, len(pids))


def _kib(path: Path, field_name: str) -> int:
    try:
        text = path.read_text()
    except OSError:   # the process ended meanwhile
        return 0
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith(field_name)), 0)


#: a server is quiet when its processes together used at most this share of one core over QUIET_SPAN seconds
QUIET_SHARE = 0.03
QUIET_SPAN = 1.0


def cpu_seconds(server: Server) -> float:
    """User and system time used so far by the server's processes (its first and every one below it)."""
    assert server.proc is not None
    ticks = 0
    for pid in (server.proc.pid, *children_of(server.proc.pid)):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:   # the process ended meanwhile
            continue
        ticks += int(fields[11]) + int(fields[12])   # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def until_quiet(servers: list[Server], most_seconds: float = 180.0) -> float:
    """Wait until every server is done with what loading left it (ours' notice worker telling the changes
    and planning reminders, Cyrus's own background work): each used at most :data:`QUIET_SHARE` of a core over
    :data:`QUIET_SPAN`; at most ``most_seconds``.  The seconds waited."""
    began = time.monotonic()
    used = [cpu_seconds(server) for server in servers]
    while time.monotonic() - began < most_seconds:
        time.sleep(QUIET_SPAN)
        now = [cpu_seconds(server) for server in servers]
        if all(after - before <= QUIET_SHARE * QUIET_SPAN for before, after in zip(used, now, strict=True)):
            break
        used = now
    return time.monotonic() - began


# -- the mixed load ---------------------------------------------------------------------------------------------

@dataclass
class Shared:
    """What every client process reads: the data, and per day of 2026 the items in the week from that day."""

    data: RealData
    weeks: list[int]
    new: list[Event] = field(default_factory=list)


_shared: Shared | None = None


@dataclass
class RealTally(Tally):
    """Tally, with each kind's latencies and the answers whose count differs from the data."""

    latency: dict[str, list[float]] = field(default_factory=dict)
    wrong: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        super().add(other)
        if isinstance(other, RealTally):
            for kind, seconds in other.latency.items():
                self.latency.setdefault(kind, []).extend(seconds)
            self.wrong.update(other.wrong)

    def off(self, kind: str, found: int, want: int) -> None:
        self.wrong[kind] += 1
        self.messages[f"{kind}: answered {found} responses, the data has {want} (counted as done)"] += 1


def mixed_client(site: Site, worker: int, token: str, start_at: float, seconds: float) -> RealTally:
    assert _shared is not None
    data, weeks = _shared.data, _shared.weeks
    events = data.events
    rng = random.Random(worker * 7919 + len(events))
    kinds = [k for k, _w, _what in MIX]
    weights = [w for _k, w, _what in MIX]
    client = site.client()
    tally = RealTally()
    deadline = start_at + seconds
    time.sleep(max(start_at - time.monotonic(), 0))
    i = 0
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        i += 1
        began = time.monotonic()
        wrong: tuple[int, int] | None = None
        try:
            if kind == "get":
                event = rng.choice(events)
                if event.uid not in client.call("GET", site.calendar + event.href):
                    raise RuntimeError(f"GET {event.href}: the answer is not the event")
            elif kind == "ctag":
                client.ctag(site)
            elif kind == "put":
                event = rng.choice(events)
                put_event(client, site, event, f"{event.summary} · {worker}.{i}")
            elif kind == "sync":
                token = sync_token_of(client.sync(site, token), site.name)
            elif kind == "multiget":
                found = responses(multiget(client, site, [e.href for e in rng.sample(events, MULTIGET)]))
                if found != MULTIGET:
                    wrong = (found, MULTIGET)
            else:
                day = rng.randrange(WEEK_STARTS)
                found = responses(client.week(site, *week_of(day)))
                if found != weeks[day]:
                    wrong = (found, weeks[day])
        except Exception as e:  # any wrong status or failure counts, and the client goes on
            client.close()
            if time.monotonic() <= deadline:
                tally.error(kind, e)
            continue
        ended = time.monotonic()
        if ended <= deadline:  # a request still running at the end is not counted
            tally.done[kind] += 1
            tally.seconds.append(ended - began)
            tally.latency.setdefault(kind, []).append(ended - began)
            if wrong is not None:
                tally.off(kind, *wrong)
    client.close()
    return tally


@dataclass(frozen=True)
class MixedResult(speed_load.MixedResult):
    """speed_load's result, with the answers whose count differs from the data."""

    tally: RealTally

    @property
    def wrong(self) -> int:
        return sum(self.tally.wrong.values())

    def cell(self) -> str:
        return super().cell() + (f", {self.wrong} wrong counts" if self.wrong else "")

    def detail(self) -> str:
        kinds = ", ".join(f"{k} {self.tally.done[k]}" + (f" ({self.tally.errors[k]} err)" if self.tally.errors[k]
                                                          else "") for k, _w, _what in MIX)
        latency = ", ".join(f"{k} {statistics.median(s) * 1000:.0f}" for k, _w, _what in MIX
                            if (s := self.tally.latency.get(k)))
        return f"{self.requests} requests ({kinds}); median latency ms: {latency or 'no request completed'}"


def mixed_load(site: Site, shared: Shared, clients: int, seconds: float) -> MixedResult:
    global _shared
    _shared = shared
    token = site.client().sync_token(site)
    with fork_pool(clients) as pool:
        start_at = time.monotonic() + START_DELAY
        tallies = pool.starmap(mixed_client, [(site, k, token, start_at, seconds) for k in range(clients)],
                               chunksize=1)
    total = RealTally()
    for tally in tallies:
        total.add(tally)
    return MixedResult(clients, seconds, total)


# -- the bulk PUT ---------------------------------------------------------------------------------------------

def bulk_client(site: Site, worker: int, workers: int, start_at: float, budget: float) -> tuple[list[float], Tally]:
    """PUT new events worker, worker + workers, ... (If-None-Match: *) until done or out of time;
    the seconds (from the start) at which each PUT completed."""
    assert _shared is not None
    events = _shared.new
    client = site.client()
    tally = Tally()
    deadline = start_at + budget
    time.sleep(max(start_at - time.monotonic(), 0))
    completed: list[float] = []
    for n in range(worker, len(events), workers):
        if time.monotonic() >= deadline:
            break
        try:
            client.put(site.bulk + events[n].href, events[n].text(), codes=(201,), new=True)
        except Exception as e:
            client.close()
            tally.error("put", e)
            continue
        completed.append(time.monotonic() - start_at)
    client.close()
    return completed, tally


def bulk_put(site: Site, shared: Shared, workers: int, budget: float) -> BulkResult:
    global _shared
    _shared = shared
    with fork_pool(workers) as pool:
        start_at = time.monotonic() + START_DELAY
        results = pool.starmap(bulk_client, [(site, k, workers, start_at, budget) for k in range(workers)],
                               chunksize=1)
    tally = Tally()
    for _completed, t in results:
        tally.add(t)
    return BulkResult(len(shared.new), budget, sorted(c for completed, _t in results for c in completed), tally)
