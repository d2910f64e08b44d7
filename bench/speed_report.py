"""The speed benchmark's timing and table (see run_speed.py): interleaved samples within a time budget,
one row per request and size, PASS/FAIL for ours' target."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from run_foundation import Stat
from speed_client import Http, Site, responses

STOCK, XANDIKOS, OURS = "stock", "Xandikos", "ours"
WARMUP, MIN_SAMPLES = 3, 3


@dataclass
class Row:
    size: str
    request: str
    cells: dict[str, str]
    ratio: str
    target: str
    result: str  # PASS, FAIL or "-" (no target at this size)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.result not in ("FAIL", "ERROR") for r in self.rows)

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
    if errors:  # ours failing fails its target; another server failing spoils the comparison
        ratio = "-" if OURS in errors or STOCK in errors else f"{speedup(medians[STOCK], medians[OURS]):.1f}x"
        return Row(f"{size:,}", request, cells, ratio, target, "FAIL" if OURS in errors else "ERROR")
    passed = ok(medians)
    return Row(f"{size:,}", request, cells, f"{speedup(medians[STOCK], medians[OURS]):.1f}x", target,
               "-" if passed is None else verdict(passed))


def checked(call: Call, expected: Callable[[Site], int], what: str) -> Call:
    """``call``, failing unless its multistatus has the expected number of responses."""
    def run(client: Http, site: Site) -> str:
        body = call(client, site)
        found = responses(body)
        if found != expected(site):
            raise RuntimeError(f"{site.name}: {what} answered {found} responses, expected {expected(site)}")
        return body
    return run


def table(rows: list[Row], names: list[str]) -> list[str]:
    lines = [f"| items | request | {' | '.join(names)} | ours vs stock | target (ours) | result |",
             "| ---: | --- | " + " | ".join("---:" for _ in names) + " | ---: | --- | --- |"]
    for r in rows:
        cells = " | ".join(r.cells.get(n, "-") for n in names)
        lines.append(f"| {r.size} | {r.request} | {cells} | {r.ratio} | {r.target} | {r.result} |")
    return lines
