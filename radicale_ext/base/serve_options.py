"""``radicale-ext serve``'s choices of processes, read from its command line (docs/scale-out.md, "Several
processes on one host"): how many server processes at most, whether the others than the first run only
under load, and how long an idle helper stays."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Processes:
    """``--processes``: at most ``count`` server processes; ``on_demand``: one at rest, the others only while
    it is busy (:mod:`radicale_ext.plugins.helpers`), else all ``count`` always."""

    count: int
    on_demand: bool = False

    def __str__(self) -> str:
        return f"auto:{self.count}" if self.on_demand else str(self.count)


def process_count(text: str) -> Processes:
    """``--processes``: a whole number from 1 (that many, always), ``auto`` (one at rest, up to one per core
    under load: :func:`usable_cores`) or ``auto:N`` (one at rest, up to N under load)."""
    wanted, _, most = text.partition(":")
    if wanted == "auto" and not most:
        return Processes(usable_cores(), on_demand=True)
    try:
        count = int(most if wanted == "auto" else text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a whole number from 1, auto (one per core under load) or auto:N (up to N under load)")
    return Processes(count, on_demand=wanted == "auto")


def seconds_above_zero(text: str) -> float:
    """``--helpers-leave-after``: a number of seconds above 0."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e9:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return seconds
