"""A PUT's work that needs no lock is done before it takes the storage's write lock
(radicale_ext/plugins/put_ahead.py): its text written to a temporary file and fsynced, and the facts the
item index keeps of it (an event's occurrences walked).  Real servers on one folder: one holds its PUT
half-way inside the write lock (tests/edge/test_processes.py's HOLDER) while another process's PUT does
its part ahead (Radicale's principal check before it takes no lock either); refused PUTs leave no temporary
file behind; a server's fsyncs and walks watched: none inside the lock (the folder's follows it).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import radicale.app.put as radicale_put
import radicale.item as radicale_item
import requests

from radicale_ext.plugins import put_ahead

from .. import dav_kit as dav
from ..edge.test_processes import HOLDER, eventually, refuses_connections
from ..notice_kit import servers_run_with, servers_watch_marker
from ..samples import event
from ..server import Server, make_server, second_process

CAL_NAME = "Familie Müller 家庭 🎉"
CAL = "/alice/" + quote(CAL_NAME) + "/"
FIRST = CAL + quote("Fußball training 足球.ics")
SECOND = CAL + quote("Oma Geburtstag 生日 🎂.ics")

WEEKLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:schwimmen-游泳
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260106T170000
DTEND;TZID=Europe/Berlin:20260106T180000
RRULE:FREQ=WEEKLY;BYDAY=TU
EXDATE;TZID=Europe/Berlin:20260113T170000
SUMMARY:Schwimmen 游泳 🏊
END:VEVENT
END:VCALENDAR
"""


def temporary_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".Radicale.tmp-*"))


def test_a_put_parses_and_writes_its_file_while_another_process_holds_the_write_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two server processes on one folder (tests/edge/test_processes.py's HOLDER holds the first one's PUT
    inside the write lock): the second's PUT passes Radicale's principal check without waiting for the
    lock, parses its body and writes and fsyncs its file, then waits for the lock; let go, both are
    stored, and the file is the text written ahead."""
    marker = servers_watch_marker(HOLDER, tmp_path / "hold", "RADICALE_EXT_TEST_HOLD_MARKER", monkeypatch)
    holding = make_server(tmp_path / "server").start()
    monkeypatch.delenv("RADICALE_EXT_TEST_HOLD_MARKER")
    other = second_process(holding, tmp_path / "second")
    answers: dict[str, requests.Response] = {}

    def send(url: str, path: str, text: str) -> threading.Thread:
        """PUT ``text`` to ``path`` (a collection's: list it) in a thread; the answer lands in ``answers``."""
        method, headers = ("PROPFIND", {"Depth": "1"}) if path.endswith("/") else ("PUT", dav.ICS)
        thread = threading.Thread(target=lambda: answers.__setitem__(path, dav.Client(url).request(
            method, path, "alice", text or None, headers=headers)))
        thread.start()
        return thread

    try:
        assert holding.request("MKCALENDAR", CAL, "alice").status_code == 201
        folder = holding.root / "data" / "collections" / "collection-root" / "alice" / CAL_NAME
        with open(other.root / "server.log", "ab") as log:
            other.proc = subprocess.Popen([sys.executable, "-m", "radicale_ext.plugins.server", "--config",
                                           str(other.config)], cwd=other.root, stdout=log, stderr=subprocess.STDOUT)
        eventually(lambda: not refuses_connections(other.port), 60, "the second process serving")
        assert other.request("PROPFIND", CAL, "alice", headers={"Depth": "0"}).status_code == 207
        marker.touch()
        first = send(holding.url, FIRST, event("fussball", "Fußball 18:00"))
        eventually(lambda: (tmp_path / "hold.reached").exists(), what="the first PUT inside the write lock")
        second = send(other.url, SECOND, event("oma", "Oma Müller wird 90 🎂"))

        def written_ahead() -> str | None:
            for file in temporary_files(folder):
                text = file.read_bytes().decode()
                if "Oma Müller wird 90" in text:
                    return text
            return None
        eventually(lambda: written_ahead() is not None, 30, "the second PUT's file written ahead")
        written = written_ahead()
        # only the principal check goes without the lock: a listing there waits for the write, as before
        listing = send(other.url, CAL, "")
        answers.pop(CAL, None)
        time.sleep(0.5)
        assert SECOND not in answers, "the second PUT must wait for the write lock"
        assert CAL not in answers, "a read must wait for the write lock"
        marker.unlink()
        first.join(30)
        second.join(30)
        listing.join(30)
        assert answers[CAL].status_code == 207 and quote("Fußball training 足球.ics") in answers[CAL].text
        assert answers[FIRST].status_code == 201, answers[FIRST].text
        assert answers[SECOND].status_code == 201, answers[SECOND].text
        assert temporary_files(folder) == []
        assert (folder / "Oma Geburtstag 生日 🎂.ics").read_bytes().decode() == written
        got = holding.request("GET", SECOND, "alice")
        assert got.status_code == 200 and "Oma Müller wird 90 🎂" in got.text
        assert got.headers["ETag"] == answers[SECOND].headers["ETag"] == radicale_item.get_etag(written)
    finally:
        if marker.exists():
            marker.unlink()
        other.stop()
        holding.stop()


def test_refused_and_failed_puts_leave_no_file_behind(tmp_path: Path) -> None:
    server = make_server(tmp_path / "server", users=("alice", "bob")).start()
    try:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        folder = server.root / "data" / "collections" / "collection-root" / "alice" / CAL_NAME
        created = server.request("PUT", FIRST, "alice", event("fussball", "Fußball 18:00"), headers=dav.ICS)
        assert created.status_code == 201
        refusals = [
            # the ETag asked for is not the item's
            (FIRST, event("fussball", "Fußball 19:00"), {"If-Match": '"not-the-etag"'}, 412),
            # creation asked, but the item exists
            (FIRST, event("fussball", "Fußball 19:00"), {"If-None-Match": "*"}, 412),
            # its UID is another item's
            (SECOND, event("fussball", "Fußball noch einmal"), {}, 409),
            # no such calendar: nothing to write beside
            ("/alice/" + quote("Gibt es nicht 不存在") + "/x.ics", event("x", "x"), {}, 409),
        ]
        for path, text, headers, status in refusals:
            answer = server.request("PUT", path, "alice", text, headers={**dav.ICS, **headers})
            assert answer.status_code == status, (path, headers, answer.status_code, answer.text)
            assert temporary_files(folder) == [], (path, headers)
        # someone without access is refused before anything is written
        assert server.request("PUT", SECOND, "bob", event("bob", "Bob"), headers=dav.ICS).status_code == 403
        assert temporary_files(folder) == []
        assert "Fußball 18:00" in server.request("GET", FIRST, "alice").text
        assert server.request("GET", SECOND, "alice").status_code == 404
    finally:
        server.stop()


WATCH = textwrap.dedent("""
    import os
    from radicale import pathutils
    from radicale_ext.plugins import _request, indexed_items

    def noted(what):
        with open(os.environ["RADICALE_EXT_TEST_WATCH"], "a", encoding="utf-8") as log:
            log.write(("inside " if _request.current().writing else "outside ") + what + "\\n")

    _walk = indexed_items.occurrences_of

    def occurrences_of(item, earlier=None):
        found = _walk(item, earlier)
        if earlier is None or found is not earlier.occurrences:   # the version replaced's, kept: no walk
            noted("walk " + item.uid)
        return found

    _fsync = pathutils.fsync

    def fsync(fd):
        noted("fsync " + os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        return _fsync(fd)

    indexed_items.occurrences_of = occurrences_of
    pathutils.fsync = fsync
""")


def found_on(server: Server, days: dict[str, int]) -> None:
    """The week query for each day finds the swimming "(Halle 2)" that many times."""
    for day, expected in days.items():
        query = dav.calendar_query("VEVENT", f"{day}T000000Z", f"{day}T235959Z")
        report = server.request("REPORT", CAL, "alice", query,
                                headers={"Depth": "1", "Content-Type": "application/xml"})
        assert report.status_code == 207 and report.text.count("Halle 2") == expected, (day, report.text)


def test_a_put_writes_and_walks_its_item_before_the_write_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside the lock a PUT only renames its file into place: its file's fsync and the walk of a series'
    occurrences (the index keeps them) held every other write up there, and the folder's fsync held every
    read (it follows the lock's release).  An edit
    that keeps the series' times (its title) keeps its occurrences, not walked again; one that moves it
    is walked.  The week query still finds the series, its EXDATE honoured, and the file is the text
    answered."""
    servers_run_with(WATCH, tmp_path / "watch-code", monkeypatch)
    watch = tmp_path / "watch"
    monkeypatch.setenv("RADICALE_EXT_TEST_WATCH", str(watch))
    server = make_server(tmp_path / "server").start()
    try:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        folder = server.root / "data" / "collections" / "collection-root" / "alice" / CAL_NAME
        path = CAL + quote("Schwimmen 游泳.ics")
        watch.write_text("")
        assert server.request("PUT", path, "alice", WEEKLY, headers=dav.ICS).status_code == 201
        changed = WEEKLY.replace("SUMMARY:Schwimmen 游泳 🏊", "SUMMARY:Schwimmen 游泳 🏊 (Halle 2)")
        assert server.request("PUT", path, "alice", changed, headers=dav.ICS).status_code == 204
        seen = watch.read_text(encoding="utf-8").splitlines()
        assert seen.count("outside walk schwimmen-游泳") == 1, seen
        fsyncs = [line for line in seen if line.split()[1] == "fsync"]
        assert [line.split()[0] for line in fsyncs if ".Radicale.tmp-" in line] == ["outside", "outside"], seen
        assert fsyncs.count("outside fsync " + CAL_NAME) == 2, seen   # after the lock (test_after_the_write.py)
        assert [line for line in seen if line.startswith("inside")] == [], seen
        got = server.request("GET", path, "alice")
        assert got.status_code == 200 and "Halle 2" in got.text
        stored = (folder / "Schwimmen 游泳.ics").read_bytes().decode()
        assert got.headers["ETag"] == radicale_item.get_etag(stored)
        assert temporary_files(folder) == []
        found_on(server, {"20260113": 0, "20260120": 1})
        moved = changed.replace("20260106T", "20260107T").replace("BYDAY=TU", "BYDAY=WE")   # to Wednesdays
        watch.write_text("")
        assert server.request("PUT", path, "alice", moved, headers=dav.ICS).status_code == 204
        assert watch.read_text(encoding="utf-8").splitlines().count("outside walk schwimmen-游泳") == 1
        found_on(server, {"20260120": 0, "20260121": 1})
    finally:
        server.stop()


# -- the pieces, in this process -------------------------------------------------------------------------

def another_one() -> radicale_item.Item:
    """WEEKLY read on its own, now (not at import: vobject resolves its bare TZID by the zones it has met by
    the time the item's lines are first read, process-wide; the PUT's item, read now, must meet the same)."""
    return radicale_item.Item(collection_path="alice/x", vobject_item=radicale_item.read_components(WEEKLY)[0])


def radicale_prepare(path: str) -> list[radicale_item.Item]:
    """Radicale's ``prepare`` of a PUT of WEEKLY to ``path`` (an item, or a whole calendar where it ends in /)."""
    whole = path.endswith("/")
    items, *_ = radicale_put.prepare(radicale_item.read_components(WEEKLY), path, "text/calendar", whole, not whole,
                                     10**7, 0)
    return list(items)


def test_only_a_put_of_one_item_is_handed_over() -> None:
    put_ahead.install()
    handed: list[tuple[str, radicale_item.Item]] = []

    def prepare(path: str, item: radicale_item.Item) -> put_ahead.Ahead:
        handed.append((path, item))
        return put_ahead.Ahead(item, put_ahead.facts_for(item))

    with put_ahead.for_this_request(prepare):
        items = radicale_prepare("/alice/x/s.ics")
        assert [path for path, _ in handed] == ["/alice/x/s.ics"] and handed[0][1] is items[0]
        assert put_ahead.ahead_for(items[0]) is not None
        one = another_one()
        assert put_ahead.ahead_for(one) is None   # another item (another request's, another version)
        assert put_ahead.facts_for(items[0]) == put_ahead.facts_for(one)
        assert put_ahead.facts_for(items[0]).occurrences   # the series walked
        # a whole calendar at once goes as Radicale sends it
        assert len(radicale_prepare("/alice/x/")) == 1 and len(handed) == 1
    # outside a PUT nothing is handed over, and nothing is left for the next request
    radicale_prepare("/alice/x/t.ics")
    assert len(handed) == 1 and put_ahead.ahead_for(items[0]) is None


def test_a_file_written_ahead_goes_into_its_own_folder_or_away(tmp_path: Path) -> None:
    put_ahead.install()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    written = tmp_path / "a" / ".Radicale.tmp-1"
    written.write_text("text")
    one = another_one()
    ahead = put_ahead.Ahead(one, put_ahead.facts_for(one), str(written))
    assert not ahead.move_to(str(tmp_path / "b" / "x.ics")) and written.exists()
    assert ahead.move_to(str(tmp_path / "a" / "x.ics"))
    assert (tmp_path / "a" / "x.ics").read_text() == "text" and not written.exists()
    ahead.discard()   # nothing left to remove
    left = tmp_path / "a" / ".Radicale.tmp-2"
    left.write_text("text")
    with put_ahead.for_this_request(lambda path, item: put_ahead.Ahead(item, put_ahead.facts_for(item), str(left))):
        radicale_prepare("/alice/a/s.ics")
    assert not left.exists()   # the request did not use it: removed at its end


def test_on_postgresql_a_series_is_walked_before_the_write_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_database: str) -> None:
    """The database keeps a series' occurrences as the files' index does: walked before the lock too, and an
    edit that keeps the series' times keeps them (no walk); one that moves it walks again."""
    servers_run_with(WATCH, tmp_path / "watch-code", monkeypatch)
    watch = tmp_path / "watch"
    monkeypatch.setenv("RADICALE_EXT_TEST_WATCH", str(watch))
    server = make_server(tmp_path / "server", storage={"postgresql_dsn": postgres_database}).start()
    try:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        path = CAL + quote("Schwimmen 游泳.ics")
        watch.write_text("")
        assert server.request("PUT", path, "alice", WEEKLY, headers=dav.ICS).status_code == 201
        assert watch.read_text(encoding="utf-8").splitlines() == ["outside walk schwimmen-游泳"]
        query = dav.calendar_query("VEVENT", "20260120T000000Z", "20260120T235959Z")
        report = server.request("REPORT", CAL, "alice", query,
                                headers={"Depth": "1", "Content-Type": "application/xml"})
        assert report.status_code == 207 and report.text.count("Schwimmen 游泳") == 1, report.text
        changed = WEEKLY.replace("SUMMARY:Schwimmen 游泳 🏊", "SUMMARY:Schwimmen 游泳 🏊 (Halle 2)")
        moved = changed.replace("20260106T", "20260107T").replace("BYDAY=TU", "BYDAY=WE")   # to Wednesdays
        for text, walks in ((changed, []), (moved, ["outside walk schwimmen-游泳"])):
            watch.write_text("")
            assert server.request("PUT", path, "alice", text, headers=dav.ICS).status_code == 204
            assert watch.read_text(encoding="utf-8").splitlines() == walks
        found_on(server, {"20260120": 0, "20260121": 1})
    finally:
        server.stop()
