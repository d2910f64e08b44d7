"""A server process lets go of the views of collections nobody asked for (radicale_ext/index/kept_views.py,
``[storage] index_idle_seconds``): their memory and, on files, their folders' inotify watches.  Nothing a
client sees changes: the change log, the epoch and every sync token stay in the index's database, and a
hand edit made while a collection was let go is seen on the next request.

The core tests drive the index with an injected clock; the server tests wait real seconds against a
server started with ``index_idle_seconds = 1`` and count the watches in its process (/proc).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from radicale_ext.index.item_index import FolderView, ItemFacts, ItemIndex
from radicale_ext.index.pg_items import NewItem, PgItems
from radicale_ext.plugins.options import idle_seconds

from .. import dav_kit as dav
from ..server import Server, console_script, make_server

FAMILY = "Familie Müller 家庭 🎉"


def inotify_watches(pid: int) -> int:
    """The inotify watches the process holds (the ``inotify wd:`` lines of its inotify descriptors)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                count += sum(line.startswith("inotify wd:") for line in info)
        except OSError:   # closed meanwhile
            continue
    return count


def watches_of(index: ItemIndex) -> int:
    """The watches of this index's own inotify descriptor (others of this test process may come and go)."""
    inotify = index._watch._inotify
    assert inotify is not None, "inotify is available here"
    with open(f"/proc/self/fdinfo/{inotify.fileno()}") as info:
        return sum(line.startswith("inotify wd:") for line in info)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def facts_of(folder: Path):
    def read(href: str, _known: ItemFacts | None) -> ItemFacts:
        text = (folder / href).read_text(encoding="utf-8")
        return ItemFacts(etag=f'"{len(text)}-{hash(text)}"', uid=href, name="VCALENDAR", component="VEVENT",
                         start=0, end=1)
    return read


def test_a_view_nobody_asked_for_is_let_go_and_made_again_from_the_database(tmp_path: Path) -> None:
    clock = Clock()
    folder = tmp_path / "alice" / FAMILY
    folder.mkdir(parents=True)
    (folder / "sommerfest.ics").write_text("SUMMARY:Sommerfest bei Müller\n", encoding="utf-8")
    (folder / "春节.ics").write_text("SUMMARY:春节 🧧\n", encoding="utf-8")
    index = ItemIndex(tmp_path / "index.sqlite", idle_seconds=600, clock=clock)
    key = f"alice/{FAMILY}"

    def view() -> FolderView:
        return index.view(key, str(folder), lambda name: not name.startswith("."), facts_of(folder))

    first = view()
    assert watches_of(index) == 1
    clock.now += 599
    assert index.release_idle() == 0 and index.last_view(key) is first   # asked for within the time: kept
    clock.now += 599.5
    assert index.release_idle() == 0    # last_view above was an ask too
    clock.now += 1
    # (the process's own thread may have let it go a moment before this call: what counts is that it is gone)
    assert index.release_idle() in (0, 1)
    assert index.last_view(key) is None and watches_of(index) == 0   # its memory and its watch let go

    # edits by hand while nobody watches the folder: seen when the collection is asked for again
    (folder / "sommerfest.ics").write_text("SUMMARY:Sommerfest bei Müller\nEXDATE:20260704T150000Z\n",
                                           encoding="utf-8")
    (folder / "grüße.ics").write_text("SUMMARY:Grüße aus 北京\n", encoding="utf-8")
    again = view()
    assert watches_of(index) == 1
    assert again.epoch == first.epoch and again.seq > first.seq   # the same log, continued
    assert sorted(again.changes_since(first.token)) == ["grüße.ics", "sommerfest.ics"]
    assert again.entries["春节.ics"].facts == first.entries["春节.ics"].facts
    assert again.entries["sommerfest.ics"].facts.etag != first.entries["sommerfest.ics"].facts.etag


def test_idle_seconds_0_keeps_every_view(tmp_path: Path) -> None:
    clock = Clock()
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "anna.vcf").write_text("FN:Anna Schäfer\n", encoding="utf-8")
    index = ItemIndex(tmp_path / "index.sqlite", idle_seconds=0, clock=clock)
    made = index.view("alice/book", str(folder), lambda name: True, facts_of(folder))
    clock.now += 10 * 365 * 86400
    assert index.release_idle() == 0 and index.last_view("alice/book") is made


def test_postgresql_lets_go_of_a_view_and_loads_it_again(postgres_database: str) -> None:
    store = PgItems(postgres_database, 2)
    try:
        clock = Clock()
        store._views.clock = clock
        store.idle_seconds = 60
        path = "alice/家庭 Müller"
        store.make_collection(path, {"tag": "VCALENDAR"})
        text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:fête\r\nSUMMARY:Fête 🎂\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        store.put(path, NewItem("fête.ics", text, ItemFacts('"1"', "fête", "VCALENDAR", "VEVENT", 0, 1)))
        stored = store.collection(path)
        assert stored is not None
        first = store.view(stored)
        clock.now += 59
        assert store.release_idle() == 0
        clock.now += 61
        assert store.release_idle() in (0, 1) and store.last_view(path) is None   # (or the thread did)
        again = store.view(stored)
        assert again is not first and again.token == first.token and again.entries == first.entries
    finally:
        store.close()


@pytest.mark.parametrize("text", ["-1", "ten", "1.5", ""])
def test_a_bad_idle_time_is_refused_with_a_sentence(text: str) -> None:
    from radicale_ext.base.errors import ExtError

    with pytest.raises(ExtError, match=r"\[storage\] index_idle_seconds must be a whole number of seconds from 0"):
        idle_seconds(text)


def event(uid: str, summary: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kept views//DE\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260704T150000Z\r\nDTEND:20260704T170000Z\r\n"
            f"RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_a_server_lets_go_of_a_quiet_calendar_after_real_idle_seconds(tmp_path: Path) -> None:
    """Real seconds: the calendar's folder is no longer watched by the server process after 1 s unasked;
    a hand edit then (an EXDATE added) is reported to the next sync with the token from before."""
    quick = make_server(tmp_path / "quick", storage={"index_idle_seconds": "1"}).start()
    try:
        kept = make_server(tmp_path / "kept", storage={"index_idle_seconds": "0"}).start()
        try:
            lets_go_and_sees_hand_edits(quick, kept)
        finally:
            kept.stop()
    finally:
        quick.stop()


def lets_go_and_sees_hand_edits(quick: Server, kept: Server) -> None:
    cal = f"/alice/{quote(FAMILY)}/"
    for server in (quick, kept):
        assert server.request("MKCALENDAR", cal, "alice").status_code == 201
        for uid, summary in (("sommerfest", "Sommerfest bei Müller"), ("春节", "春节 🧧")):
            assert server.request("PUT", f"{cal}{quote(uid)}.ics", "alice", event(uid, summary),
                                  headers={"Content-Type": "text/calendar"}).status_code == 201
    before = {s.port: dav.parse_sync(dav.sync(s, cal, "alice")) for s in (quick, kept)}
    assert all(len(answer.reported) == 2 for answer in before.values())
    asked = time.monotonic()
    assert inotify_watches(quick.proc.pid) >= 1 and inotify_watches(kept.proc.pid) >= 1
    kept_watching = inotify_watches(kept.proc.pid)
    while inotify_watches(quick.proc.pid) and time.monotonic() < asked + 10:
        time.sleep(0.05)
    assert inotify_watches(quick.proc.pid) == 0   # every folder it was asked about, let go
    assert time.monotonic() - asked >= 0.8        # not before the second was up (looked at every 0.25 s)
    time.sleep(1.5)
    assert inotify_watches(kept.proc.pid) == kept_watching   # 0: kept for good

    for server in (quick, kept):
        file = server.root / "data" / "collections" / "collection-root" / "alice" / FAMILY / "sommerfest.ics"
        text = file.read_text(encoding="utf-8")
        line_end = "\r\n" if "\r\n" in text else "\n"   # Radicale writes the lines as it serializes them
        edited = text.replace("RRULE:FREQ=WEEKLY;COUNT=4" + line_end,
                              "RRULE:FREQ=WEEKLY;COUNT=4" + line_end + "EXDATE:20260711T150000Z" + line_end)
        assert edited != text
        file.write_text(edited, encoding="utf-8", newline="")
        answer = dav.parse_sync(dav.sync(server, cal, "alice", before[server.port].token))
        assert answer.reported == {f"{cal}sommerfest.ics"} and answer.token != before[server.port].token
        got = server.request("GET", f"{cal}sommerfest.ics", "alice")
        assert got.status_code == 200 and "EXDATE:20260711T150000Z" in got.text
        assert "Sommerfest bei Müller" in got.text

        # the occurrence cut out is out of a time-range query too (the other series still meets that day), the
        # series' next one is in
        both = {f"{cal}sommerfest.ics", f"{cal}{quote('春节')}.ics"}
        assert in_days(server, cal, "20260711T000000Z", "20260712T000000Z") == both - {f"{cal}sommerfest.ics"}
        assert in_days(server, cal, "20260718T000000Z", "20260719T000000Z") == both


def in_days(server: Server, cal: str, start: str, end: str) -> set[str]:
    """The events of ``cal`` a calendar-query finds in [start, end)."""
    query = dav.calendar_query("VEVENT", start, end)
    return set(dav.report_etags(server.request("REPORT", cal, "alice", query, headers={"Depth": "1"})))


@pytest.mark.parametrize("processes", ["1", "2"])
def test_serve_refuses_a_negative_idle_time_with_one_line(tmp_path: Path, processes: str) -> None:
    server = make_server(tmp_path / "server", storage={"index_idle_seconds": "-5"})
    done = subprocess.run([console_script(), "--config", str(server.config), "serve", "--processes", processes],
                          capture_output=True, text=True, timeout=120, cwd=server.root)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "radicale-ext: error: [storage] index_idle_seconds must be a whole number of seconds from 0, not '-5'")
    assert "Traceback" not in done.stderr
