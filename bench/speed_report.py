"""The speed benchmark's timing and table (see run_speed.py): interleaved samples within a time budget,
one row per request and size, PASS/FAIL for ours' target and, with --postgresql, for ours (PostgreSQL)'s."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from run_foundation import Stat
from speed_client import Http, Site, responses

STOCK, XANDIKOS, OURS = "stock", "Xandikos", "ours"
OURS_PG = "ours (PostgreSQL)"  # --postgresql: ours with everything in PostgreSQL
DAVICAL = "DAViCal"  # --davical: DAViCal 1.1 (PHP + PostgreSQL), bench/speed_davical.py
WARMUP, MIN_SAMPLES = 3, 3
PG_WITHIN = 1.5  # issue 16: ours (PostgreSQL) within 1.5x of ours' time on single requests


@dataclass(frozen=True)
class PgVerdict:
    """ours (PostgreSQL)'s targets on one row: its time per request divided by ours' and by DAViCal's
    (for a throughput, the other's rate divided by its own)."""

    vs_ours: str
    vs_davical: str
    target: str
    result: str  # PASS, FAIL, ERROR (a server it is compared with failed) or "-" (no target)


@dataclass
class Row:
    size: str
    request: str
    cells: dict[str, str]
    ratio: str
    target: str
    result: str  # PASS, FAIL or "-" (no target at this size)
    postgresql: PgVerdict | None = None  # with --postgresql


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        results = [r.result for r in self.rows] + [r.postgresql.result for r in self.rows if r.postgresql]
        return all(result not in ("FAIL", "ERROR") for result in results)

    def failed(self, size: str, request: str, target: str, error: Exception) -> None:
        """A row that could not be measured (its set-up failed): the run fails, with the reason."""
        self.rows.append(Row(size, request, {}, "-", target, "ERROR"))
        self.notes.append(f"{size} {request}: {type(error).__name__}: {error}")


@contextmanager
def took(report: Report, what: str) -> Iterator[None]:
    began = time.monotonic()
    print(f"  {what} ...", flush=True)
    yield
    seconds = time.monotonic() - began
    load = f"load {os.getloadavg()[0]:.1f}"  # the machine's 1-minute load average: was something else running?
    report.times.append(f"{what} {seconds:.0f} s ({load})")
    print(f"  {what}: {seconds:.0f} s ({load})", flush=True)


Call = Callable[[Http, Site], str]


def sample(sites: list[Site], call: Call, repeat: int, budget: float,
           warmups: dict[str, int] | None = None) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds per call, servers interleaved (the order rotating), each within its time budget;
    and the error of each server that failed (it is not asked again).  ``warmups``: untimed calls
    a server needs (all of them, however slow), instead of WARMUP."""
    warmups = warmups or {}
    clients = {s.name: s.client() for s in sites}
    samples: dict[str, list[float]] = {s.name: [] for s in sites}
    errors: dict[str, str] = {}

    def timed(s: Site) -> float:
        began = time.perf_counter()
        try:
            call(clients[s.name], s)
        except Exception as e:
            errors[s.name] = str(e)
        return time.perf_counter() - began

    for s in sites:
        for _ in range(warmups.get(s.name, WARMUP)):
            slow = timed(s) > budget / 20 and s.name not in warmups  # one slow call is warm-up enough
            if slow or s.name in errors:
                break
    for i in range(repeat):
        for s in sites[i % len(sites):] + sites[:i % len(sites)]:
            taken = samples[s.name]
            if s.name in errors or (len(taken) >= MIN_SAMPLES and sum(taken) >= budget):
                continue
            seconds = timed(s)
            if s.name not in errors:
                taken.append(seconds)
    for client in clients.values():
        client.close()
    return samples, errors


def ms_cell(samples: list[float], repeat: int) -> str:
    return str(Stat.of(samples)) + (f" n={len(samples)}" if len(samples) < repeat else "")


def speedup(slow: float, fast: float) -> float:
    return slow / fast if fast else float("inf")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def timing_row(size: int, request: str, samples: dict[str, list[float]], errors: dict[str, str], repeat: int,
               target: str, ok: Callable[[dict[str, float]], bool | None]) -> Row:
    cells = {name: "error" if name in errors else ms_cell(s, repeat) for name, s in samples.items()}
    medians = {name: statistics.median(s) for name, s in samples.items() if name not in errors}
    postgresql = pg_verdict(medians, errors, single=True) if OURS_PG in samples else None
    if errors:  # ours failing fails its target; another server failing spoils the comparison
        ratio = "-" if OURS in errors or STOCK in errors else f"{speedup(medians[STOCK], medians[OURS]):.1f}x"
        return Row(f"{size:,}", request, cells, ratio, target, "FAIL" if OURS in errors else "ERROR", postgresql)
    passed = ok(medians)
    return Row(f"{size:,}", request, cells, f"{speedup(medians[STOCK], medians[OURS]):.1f}x", target,
               "-" if passed is None else verdict(passed), postgresql)


def pg_verdict(times: dict[str, float], failed: Collection[str], single: bool, also: str = "",
               clean: bool = True) -> PgVerdict:
    """ours (PostgreSQL)'s targets (issue 16) from each server's seconds per request (median; for a
    throughput row 1 / rate): at most PG_WITHIN x ours' on a single request (``single``), below
    DAViCal's on every row when DAViCal runs.  ``failed``: servers without a number; ``clean``: what
    ``also`` names (no errors, all done) held for ours (PostgreSQL)."""
    has_davical = DAVICAL in times or DAVICAL in failed
    parts = ([f"within {PG_WITHIN:g}x of ours"] if single else []) + ([f"faster than {DAVICAL}"] if has_davical else [])
    target = ", ".join(parts + ([also] if parts and also else [])) or "-"

    def over(other: str) -> float | None:
        return times[OURS_PG] / times[other] if OURS_PG in times and other in times and times[other] else None

    vs_ours, vs_davical = over(OURS), over(DAVICAL)
    shown = [f"{r:.2f}x" if r is not None else "-" for r in (vs_ours, vs_davical)]
    if target == "-":
        result = "-"
    elif OURS_PG in failed:
        result = "FAIL"
    elif (single and vs_ours is None) or (has_davical and vs_davical is None):
        result = "ERROR"
    else:
        result = verdict(clean and (not single or vs_ours <= PG_WITHIN) and (not has_davical or vs_davical < 1))
    return PgVerdict(shown[0], shown[1] if has_davical else "-", target, result)


def per_request(rates: dict[str, float]) -> dict[str, float]:
    """Seconds per request from requests per second (a server that completed nothing: infinity)."""
    return {name: 1 / rate if rate else float("inf") for name, rate in rates.items()}


def checked(call: Call, expected: Callable[[Site], int | Collection[int]], what: str) -> Call:
    """``call``, failing unless its multistatus has the expected number of responses (or one of them)."""
    def run(client: Http, site: Site) -> str:
        body = call(client, site)
        found, want = responses(body), expected(site)
        if found not in (want if isinstance(want, Collection) else (want,)):
            shown = want if isinstance(want, int) else " or ".join(map(str, want))
            raise RuntimeError(f"{site.name}: {what} answered {found} responses, expected {shown}")
        return body
    return run


def table(rows: list[Row], names: list[str]) -> list[str]:
    """The markdown table; with ours (PostgreSQL) among ``names``, its ratios, target and result as well."""
    pg = ([f"{OURS_PG} / ours"] + ([f"{OURS_PG} / {DAVICAL}"] if DAVICAL in names else [])
          if OURS_PG in names else [])
    pg_heads = [*pg, f"target ({OURS_PG})", f"result ({OURS_PG})"] if pg else []
    heads = ["items", "request", *names, "ours vs stock", "target (ours)", "result", *pg_heads]
    lines = ["| " + " | ".join(heads) + " |",
             "| ---: | --- | " + " | ".join("---:" for _ in names) + " | ---: | --- | --- |"
             + "".join(" ---: |" for _ in pg) + (" --- | --- |" if pg_heads else "")]
    for r in rows:
        cells = [r.size, r.request, *(r.cells.get(n, "-") for n in names), r.ratio, r.target, r.result]
        if pg_heads:
            v = r.postgresql or PgVerdict("-", "-", "-", "-")
            cells += [v.vs_ours] + ([v.vs_davical] if len(pg) > 1 else []) + [v.target, v.result]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
