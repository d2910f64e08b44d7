"""bench/RESULTS.md: each benchmark owns one section between its own markers."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
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


def publish(text: str, args: argparse.Namespace, name: str, heading: str, path: Path = RESULTS) -> None:
    """Print a run's text and, unless ``--no-write``, put it between its markers in RESULTS.md."""
    print()
    print(text)
    if not args.no_write:
        write_section(name, text, heading, path)
        print(f"written to {path.relative_to(path.parent.parent)}")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--keep`` and ``--no-write``, which every benchmark of ours offers."""
    parser.add_argument("--keep", action="store_true", help="keep the server's folder under bench/work/")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md as it is")


def quick_applied(args: argparse.Namespace, quick: dict[str, object]) -> None:
    """``--quick``: the smoke sizes ``quick`` names, and nothing written to bench/RESULTS.md."""
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, type(getattr(args, name))(value))
        args.no_write = True


def work_folder(prefix: str) -> Path:
    """A fresh folder under bench/work/ (git-ignored) for one run's servers."""
    work = RESULTS.parent / "work"
    work.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=work))


def ms(values: list[float]) -> str:
    """Seconds as the tables show them: "median (p90)" in ms."""
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(values) * 1000:.1f} ({p90 * 1000:.1f})"


def machine_line(load: tuple[float, ...]) -> str:
    """The "- machine: ..." line of a run: cores, Python, Radicale, kernel, and the load before it."""
    import radicale

    return (f"- machine: nproc {os.cpu_count()}, Python {platform.python_version()}, Radicale {radicale.VERSION}, "
            f"{platform.system()} {platform.release()}; load average (1, 5, 15 min) "
            f"{' '.join(f'{x:.2f}' for x in load)} before")
