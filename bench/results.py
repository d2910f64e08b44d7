"""bench/RESULTS.md: each benchmark owns one section between its own markers."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(name: str, text: str, heading: str, path: Path = RESULTS) -> None:
    """Replace the section between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``,
    or add it under ``heading``; every other part of the file is kept."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text}{end}"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--keep`` and ``--no-write``, which every benchmark of ours offers."""
    parser.add_argument("--keep", action="store_true", help="keep the server's folder under bench/work/")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md as it is")


def work_folder(prefix: str) -> Path:
    """A fresh folder under bench/work/ (git-ignored) for one run's servers."""
    work = RESULTS.parent / "work"
    work.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=work))
