"""Speed at size (issue 8): stock Radicale 3.9 against radicale-ext, same run, same data.

So far one row: PROPFIND depth 0 for the ctag (CS:getctag), which stock
Radicale answers by reading every item's cache entry and we answer from the
item index (radicale_ext.item_index).  The rows of issue 8 still to add are
listed in docs/performance.md.

    python bench/run_speed.py                 # 1,000 and 10,000 events; writes bench/RESULTS.md
    python bench/run_speed.py --sizes 1000 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # run as a script: make tests.server importable

from http_timing import expect, timed  # noqa: E402
from results import add_run_options, work_folder, write_section  # noqa: E402
from run_foundation import FAMILY, calendar_of, event, item_uid, make_stock_server  # noqa: E402

from radicale_ext.item_index import RACY_NS  # noqa: E402
from tests.server import Server, make_server  # noqa: E402

CTAG = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/></D:prop></D:propfind>"""
TARGET_MS = 5.0


def load(server: Server, events: int) -> None:
    body = calendar_of([event(item_uid(n), n) for n in range(events)])
    expect(server.request("PUT", FAMILY, "alice", body, headers={"Content-Type": "text/calendar"}), 201)


def ctag_ms(server: Server, repeat: int) -> list[float]:
    def call():
        return server.request("PROPFIND", FAMILY, "alice", CTAG, headers={"Depth": "0"})
    for _ in range(3):
        expect(call(), 207)
    return [timed(call, 207) * 1000 for _ in range(repeat)]


def stat(samples: list[float]) -> str:
    p90 = statistics.quantiles(samples, n=10)[-1]
    return f"{statistics.median(samples):.1f} ({p90:.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=40)
    add_run_options(parser)
    args = parser.parse_args(argv)
    began = time.monotonic()
    work = work_folder("speed-")
    lines = ["| events | request | stock median (p90) ms | ours median (p90) ms | speed-up | target | result |",
             "| ---: | --- | ---: | ---: | ---: | --- | --- |"]
    passed = True
    for size in args.sizes:
        with ExitStack() as stack:
            ours = make_server(work / f"ours-{size}", users=("alice",)).start()
            stack.callback(ours.stop)
            stock = make_stock_server(work / f"stock-{size}", ours.config, ("alice",)).start()
            stack.callback(stock.stop)
            for server in (stock, ours):
                load(server, size)
            time.sleep(RACY_NS / 1e9 + 0.5)  # just-written files are re-checked until they settle
            stock_ms, ours_ms = ctag_ms(stock, args.repeat), ctag_ms(ours, args.repeat)
        ok = statistics.median(ours_ms) < TARGET_MS
        passed &= ok
        lines.append(f"| {size} | PROPFIND depth 0 (getctag) | {stat(stock_ms)} | {stat(ours_ms)} | "
                     f"{statistics.median(stock_ms) / statistics.median(ours_ms):.1f}x | < {TARGET_MS:.0f} ms | "
                     f"{'PASS' if ok else 'FAIL'} |")
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"Run of {when}: `python bench/run_speed.py` ({time.monotonic() - began:.0f} s; "
            f"{args.repeat} timed repetitions after 3 untimed, client-side wall clock over keep-alive)\n\n"
            + "\n".join(lines) + "\n")
    print(text)
    if not args.no_write:
        write_section("speed", text, "## Speed at size (issue 8, `bench/run_speed.py`)")
    if not args.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
