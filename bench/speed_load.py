"""Many clients at once (the mixed-load and bulk-PUT rows of run_speed.py), each client its own process.

Python threads in one client process would share one GIL and measure the
client; with processes the server is the bottleneck.  Every client keeps one
keep-alive connection (``speed_client.Http``) to each process of the server
(several when the site has ``others``: run_scale_out.py), sending each
request to one of them at random.
"""

from __future__ import annotations

import datetime
import multiprocessing
import multiprocessing.pool
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from run_foundation import calendar_of, event, item_href, item_uid
from speed_client import RequestFailed, Site, sync_token_of

# One client's loop: what a fleet of phones and desktops polling and editing a
# shared calendar sends (weights in percent).
MIX: tuple[tuple[str, int, str], ...] = (
    ("ctag", 40, "PROPFIND depth 0 getctag + sync-token (has anything changed?)"),
    ("sync", 20, "sync-collection from the client's last token"),
    ("get", 15, "GET one random event"),
    ("put", 10, "PUT one random existing event with a new SUMMARY"),
    ("week", 10, "calendar-query for a random week of 2026 (getetag)"),
    ("etags", 5, "PROPFIND depth 1 getetag (a client without sync-collection)"),
)
YEAR_START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
START_DELAY = 1.5  # seconds for the client processes to be ready


def random_week(rng: random.Random) -> tuple[str, str]:
    start = YEAR_START + datetime.timedelta(days=rng.randrange(358))
    end = start + datetime.timedelta(days=7)
    return f"{start:%Y%m%dT%H%M%SZ}", f"{end:%Y%m%dT%H%M%SZ}"


@dataclass
class Tally:
    """What one client (or, merged, all of them) did."""

    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)  # error messages, without item names
    seconds: list[float] = field(default_factory=list)  # latency of every completed request

    def add(self, other: Tally) -> None:
        self.done.update(other.done)
        self.errors.update(other.errors)
        self.messages.update(other.messages)
        self.seconds.extend(other.seconds)

    def error(self, kind: str, e: BaseException) -> None:
        self.errors[kind] += 1
        text = e.summary() if isinstance(e, RequestFailed) else f"{type(e).__name__}: {e}".splitlines()[0][:200]
        self.messages[f"{kind}: {text}"] += 1

    def error_lines(self) -> list[str]:
        return [f"{count} x {message}" for message, count in self.messages.most_common(5)]


def mixed_client(site: Site, size: int, worker: int, token: str, start_at: float, seconds: float) -> Tally:
    rng = random.Random(worker * 7919 + size)
    kinds = [k for k, _w, _what in MIX]
    weights = [w for _k, w, _what in MIX]
    client = site.client()
    tally = Tally()
    deadline = start_at + seconds
    time.sleep(max(start_at - time.monotonic(), 0))
    i = 0
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        i += 1
        began = time.monotonic()
        try:
            if kind == "ctag":
                client.ctag(site)
            elif kind == "sync":
                token = sync_token_of(client.sync(site, token), site.name)
            elif kind == "get":
                client.call("GET", site.calendar + item_href(rng.randrange(size)))
            elif kind == "put":
                n = rng.randrange(size)
                client.put(site.calendar + item_href(n),
                           calendar_of([event(item_uid(n), n, summary=f"Mixed {worker} {i}")]))
            elif kind == "week":
                client.week(site, *random_week(rng))
            else:
                client.etags(site)
        except Exception as e:  # any wrong status or failure counts, and the client goes on
            client.close()
            if time.monotonic() <= deadline:
                tally.error(kind, e)
            continue
        ended = time.monotonic()
        if ended <= deadline:  # a request still running at the end is not counted
            tally.done[kind] += 1
            tally.seconds.append(ended - began)
    client.close()
    return tally


@dataclass(frozen=True)
class MixedResult:
    clients: int
    seconds: float
    tally: Tally

    @property
    def requests(self) -> int:
        return sum(self.tally.done.values())

    @property
    def errors(self) -> int:
        return sum(self.tally.errors.values())

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def cell(self) -> str:
        return f"{self.rate:.1f} req/s, {self.errors} err"

    def detail(self) -> str:
        kinds = ", ".join(f"{k} {self.tally.done[k]}" + (f" ({self.tally.errors[k]} err)" if self.tally.errors[k]
                                                          else "") for k, _w, _what in MIX)
        latency = (f"median {statistics.median(self.tally.seconds) * 1000:.0f} ms" if self.tally.seconds
                   else "no request completed")
        return f"{self.requests} requests ({kinds}); latency {latency}"


def fork_pool(processes: int) -> multiprocessing.pool.Pool:
    # fork: a child runs only the client function, without re-importing the benchmark
    return multiprocessing.get_context("fork").Pool(processes)


def mixed_load(site: Site, size: int, clients: int, seconds: float) -> MixedResult:
    token = site.client().sync_token(site)
    with fork_pool(clients) as pool:
        start_at = time.monotonic() + START_DELAY
        tallies = pool.starmap(mixed_client, [(site, size, k, token, start_at, seconds) for k in range(clients)],
                               chunksize=1)
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return MixedResult(clients, seconds, total)


def bulk_client(site: Site, worker: int, workers: int, total: int, start_at: float,
                budget: float) -> tuple[list[float], Tally]:
    """PUT items worker, worker + workers, ... as new items until done or out of time;
    the seconds (from the start) at which each PUT completed."""
    client = site.client()
    tally = Tally()
    deadline = start_at + budget
    time.sleep(max(start_at - time.monotonic(), 0))
    completed: list[float] = []
    for n in range(worker, total, workers):
        if time.monotonic() >= deadline:
            break
        uid = f"bulk-{n:05d}"
        try:
            client.put(f"{site.bulk}{uid}.ics", calendar_of([event(uid, n)]), codes=(201,), new=True)
        except Exception as e:
            client.close()
            tally.error("put", e)
            continue
        completed.append(time.monotonic() - start_at)
    client.close()
    return completed, tally


@dataclass(frozen=True)
class BulkResult:
    total: int
    budget: float
    completed: list[float]  # sorted: when each PUT completed, seconds from the start
    tally: Tally

    @property
    def done(self) -> int:
        return len(self.completed)

    @property
    def seconds(self) -> float:
        return self.completed[-1] if self.completed else self.budget

    @property
    def complete(self) -> bool:
        return self.done == self.total and not self.tally.errors

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def rate_of(self, first: int, last: int) -> float:
        """Items per second from the ``first``-th PUT completed to the ``last``-th (1-based)."""
        if last > self.done or last <= first:
            return 0.0
        began = self.completed[first - 1] if first > 0 else 0.0
        return (last - first) / (self.completed[last - 1] - began)

    def cell(self) -> str:
        errors = sum(self.tally.errors.values())
        if self.done == self.total:
            text = f"{self.rate:.1f} items/s ({self.seconds:.0f} s)"
        else:
            text = f"{self.rate:.1f} items/s ({self.done:,} of {self.total:,} in {self.budget:.0f} s)"
        return text + (f", {errors} err" if errors else "")

    def detail(self, common: int) -> str:
        """Rates as the calendar grows: over the items every server did, and the last 1,000."""
        parts = [f"{self.done:,} PUTs in {self.seconds:.0f} s",
                 f"the first {common:,} (what every server did) at {self.rate_of(0, common):.1f}/s"]
        if self.done >= 2000:
            parts.append(f"the last 1,000 at {self.rate_of(self.done - 1000, self.done):.1f}/s")
        return "; ".join(parts)


def bulk_put(site: Site, total: int, workers: int, budget: float) -> BulkResult:
    with fork_pool(workers) as pool:
        start_at = time.monotonic() + START_DELAY
        results = pool.starmap(bulk_client, [(site, k, workers, total, start_at, budget) for k in range(workers)],
                               chunksize=1)
    tally = Tally()
    for _completed, t in results:
        tally.add(t)
    return BulkResult(total, budget, sorted(c for completed, _t in results for c in completed), tally)
