"""What a view works out item by item and hands on (radicale_ext.index.by_position): the ctag's text and the
items' spans, worked out again only where items changed, and always what a pass over every item gives.

The views come from the item index on a real folder, in two indexes on one SQLite file (two server
processes: the second takes the first one's changes in from the log), with names in German, Chinese,
with emoji and spaces.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from radicale_ext.index import by_position
from radicale_ext.index.item_index import FolderView, ItemFacts, ItemIndex, collection_etag

from .test_item_index import Unwatched, is_item

NAMES = ["Müller Geburtstag", "家庭 聚会", "🎉 party", "Straße 7", "a b c", "Zoë", "Ärzte", "日程"]


class SpanReader:
    """A ``facts_of`` reading "etag start end" from the file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, href: str, known: ItemFacts | None) -> ItemFacts | None:
        etag, start, end = (self.folder / href).read_text().split()
        return ItemFacts(etag=f'"{etag}"', uid=href, name="VCALENDAR", component="VEVENT", start=int(start),
                         end=int(end))


class Process:
    """One server process's index of the folder (``watch``: inotify, else every look lists the folder)."""

    def __init__(self, root: Path, folder: Path, watch: bool) -> None:
        self.folder = folder
        self.index = ItemIndex(root / "index.sqlite", watch=None if watch else Unwatched())
        self.reader = SpanReader(folder)

    def view(self) -> FolderView:
        return self.index.view("alice/Familie Müller", str(self.folder), is_item, self.reader)


def write(folder: Path, href: str, rng: random.Random) -> None:
    start = rng.randrange(0, 1000)
    (folder / href).write_text(f"{rng.getrandbits(64):x} {start} {start + rng.choice([1, 5, 50, 400])}")


def a_pass_over_every_item(view: FolderView, meta: dict[str, str]) -> str:
    return collection_etag([(href, view.entries[href].facts.etag) for href in view.order], meta)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "Familie Müller 家庭"
    path.mkdir()
    return path


def test_ctag_and_spans_follow_random_changes_in_two_processes(tmp_path: Path, folder: Path) -> None:
    rng = random.Random(22)
    processes = [Process(tmp_path, folder, watch=True), Process(tmp_path, folder, watch=False)]
    hrefs = [f"{NAMES[n % len(NAMES)]} {n}.ics" for n in range(300)]
    for href in hrefs:
        write(folder, href, rng)
    meta = {"tag": "VCALENDAR", "D:displayname": "Familie Müller 家庭 🎉"}
    for step in range(120):
        kind = rng.random()
        if kind < 0.1:   # many changed at once (a client's batch): found in one pass over the order
            for href in rng.sample(hrefs, 40):
                write(folder, href, rng)
        elif kind < 0.7:   # an item changed (its order stays)
            write(folder, rng.choice(hrefs), rng)
        elif kind < 0.85:   # a new one
            hrefs.append(f"neu {step} 🎉.ics")
            write(folder, hrefs[-1], rng)
        else:   # one deleted
            (folder / hrefs.pop(rng.randrange(len(hrefs)))).unlink()
        for process in processes:
            if rng.random() < 0.3:   # not every view is asked: the next one takes over what was handed on
                continue
            view = process.view()
            assert list(view.order) == [e.name for e in os.scandir(folder) if is_item(e.name)], step
            assert view.ctag(meta) == a_pass_over_every_item(view, meta), step
            start = rng.randrange(0, 1000)
            end = start + rng.choice([1, 7, 100])
            assert list(view.by_position.meeting(start, end)) == [
                href for href in view.order if view.entries[href].facts.start < end
                and view.entries[href].facts.end > start], step


def test_a_change_works_out_only_its_block_and_its_span(tmp_path: Path, folder: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    hrefs = [f"Müller {n} 日程.ics" for n in range(10 * by_position.BLOCK)]
    for href in hrefs:
        write(folder, href, rng)
    process = Process(tmp_path, folder, watch=True)
    view = process.view()
    view.ctag({})
    list(view.by_position.meeting(0, 10))
    built: list[int] = []
    block = by_position._block
    monkeypatch.setattr(by_position, "_block", lambda order, entries, first: built.append(first) or block(
        order, entries, first))
    write(folder, hrefs[333], rng)
    changed = process.view()
    assert changed.carried is not None and changed.carried.spans is not None
    assert changed.carried.spans.touched == {hrefs[333]}
    assert changed.ctag({}) == a_pass_over_every_item(changed, {}) != view.ctag({})
    assert len(built) == 1 and built[0] <= changed.order.index(hrefs[333]) < built[0] + by_position.BLOCK
    assert changed.carried is None   # once worked out, the view before's parts are let go of
    assert list(changed.by_position.meeting(0, 2000)) == list(changed.order)
    assert changed.order is view.order   # the same names, listed alike: the order is taken over, not made


def test_a_new_item_changes_the_order_and_everything_is_worked_out_again(tmp_path: Path, folder: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(8)
    for n in range(3 * by_position.BLOCK):
        write(folder, f"家庭 {n}.ics", rng)
    process = Process(tmp_path, folder, watch=True)
    process.view().ctag({})
    built: list[int] = []
    block = by_position._block
    monkeypatch.setattr(by_position, "_block", lambda order, entries, first: built.append(first) or block(
        order, entries, first))
    write(folder, "Straße neu 🎉.ics", rng)
    view = process.view()
    assert view.ctag({}) == a_pass_over_every_item(view, {})
    assert len(built) == 4   # 385 items: every block of the new order


def test_a_long_run_of_views_nobody_asked_drops_what_was_handed_on() -> None:
    """An import of thousands of items with no ctag asked between them: what the first view worked out is
    handed on with the changed items added until they are more than MOST_TOUCHED, then dropped (each hand-over
    copies the set of changed items: without a bound an import of n items copied n²/2 names)."""
    order = tuple(f"Müller {n}.ics" for n in range(10))
    carried = by_position.Carried({}, by_position.Worked(order, frozenset(), (b"",)), None)
    for n in range(by_position.MOST_TOUCHED + 10):
        entries: dict = {}
        carried = carried.handed_on(entries, frozenset({f"家庭 {n}.ics"}))
        if n < by_position.MOST_TOUCHED:
            assert carried.blocks is not None and len(carried.blocks.touched) == n + 1
    assert carried.blocks is None
