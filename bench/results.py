"""bench/RESULTS.md: each benchmark owns one section between its own markers."""

from __future__ import annotations

import os
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
