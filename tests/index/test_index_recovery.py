"""The files on disk are the truth: a lost, corrupt or stale item index never shows in an answer.

A real server of ours holds a calendar of 50 events and an address book of 30
cards.  After each damage every answer is checked against what is on disk:

(a)/(c) the index file deleted, or overwritten with garbage, while the server is stopped;
(b)/(c) the same under the running server;
(d) item files edited in place by hand (same size, same inode, mtime set back),
    added and deleted by hand (the folder's mtime set back), under the running
    server and while it is stopped;
(e) an older copy of the collection folders restored: rm + copytree, files
    copied over with their old mtimes (shutil.copy2), the folder renamed away
    and the copy put in its place, alice's whole home folder renamed away
    (running or stopped);
(f) the whole storage folder restored from a backup, index file included.

Where the storage watches folders (inotify), (d) and (e) also run with the
watch unavailable (the optional module hidden from the server process), as on
a system without inotify: then the stamps of the files must tell.

The checks:

- GET of each item: its text and ETag;
- the depth-1 getetag listing, and the ctag (CS:getctag), both equal to what
  stock Radicale's multifilesystem computes for the same folder
  (``dav_kit.stock_state``, in this process, on the live folder);
- a calendar-query (time-range) and addressbook-queries: exactly the items
  that match, by the test's own reading of the texts;
- sync-collection: each token taken before is either answered with a correct
  incremental answer (every change reported, every reported href right) or
  refused with 403 DAV:valid-sync-token; a fresh initial sync lists exactly
  the current items.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .. import dav_kit as dav
from ..samples import address_book_mkcol
from ..server import Server, make_server

CAL = "/alice/cal/"
BOOK = "/alice/book/"
EVENTS = 50
CARDS = 30
INDEX_NAME = ".Radicale.ext-item-index.sqlite"
#: longer than the window (2 s) in which the index does not trust a just-written file yet
SETTLE = 2.5
WINDOW = ("20260101T000000Z", "20260111T000000Z")  # events on January 1 to 10


def event_text(n: int, day: int, version: int = 1) -> str:
    """Event ``n`` on January ``day``, 10:00-11:00 UTC; every version has the same size."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//recovery//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:event-{n:02d}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:202601{day:02d}T100000Z\r\n"
            f"DTEND:202601{day:02d}T110000Z\r\nSUMMARY:Event {n:02d} version {version:02d}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def card_text(n: int, family: str, version: int = 1) -> str:
    """Card ``n``; ``family`` is "Smith" or "Jones" (same size)."""
    return ("BEGIN:VCARD\r\nVERSION:3.0\r\n"
            f"UID:card-{n:02d}\r\nFN:Person {n:02d} {family}\r\nN:{family};Person {n:02d};;;\r\n"
            f"EMAIL:person{n:02d}@{family.lower()}.example\r\nNOTE:version {version:02d}\r\nEND:VCARD\r\n")


@dataclass
class Expected:
    """What should be on disk, as the test wrote it: {href: text}."""

    texts: dict[str, str] = field(default_factory=dict)

    def members(self, path: str) -> set[str]:
        return {h for h in self.texts if h.startswith(path)}

    def in_window(self) -> set[str]:
        """Events starting January 1 to 10 (each lasts one hour on one day)."""
        hits = set()
        for href in self.members(CAL):
            day = re.search(r"DTSTART:202601(\d\d)T", self.texts[href])
            assert day, self.texts[href]
            if 1 <= int(day.group(1)) <= 10:
                hits.add(href)
        return hits

    def named(self, word: str) -> set[str]:
        """Cards whose FN contains ``word``, case-insensitively."""
        return {h for h in self.members(BOOK)
                if re.search(rf"^FN:.*{word}", self.texts[h].replace("\r\n", "\n"), re.M | re.I)}

    def mailed_at(self, domain: str) -> set[str]:
        return {h for h in self.members(BOOK) if re.search(rf"^EMAIL[^:]*:[^@\s]*@{domain}\s*$",
                                                            self.texts[h].replace("\r\n", "\n"), re.M)}


@dataclass
class Token:
    path: str
    token: str
    members: dict[str, str]  # href: ETag when the token was issued


def folder(server: Server, path: str = "") -> Path:
    collections = server.root / "data" / "collections"
    return collections / "collection-root" / path.strip("/") if path else collections


def index_files(server: Server) -> list[Path]:
    base = folder(server) / INDEX_NAME
    return [base, Path(f"{base}-wal"), Path(f"{base}-shm")]


def put(server: Server, href: str, text: str, expected: Expected) -> None:
    r = server.request("PUT", href, "alice", text, headers=dav.ICS if href.endswith(".ics") else dav.VCF)
    assert r.status_code in (201, 204), (href, r.status_code, r.text[:300])
    expected.texts[href] = text


def delete(server: Server, href: str, expected: Expected) -> None:
    r = server.request("DELETE", href, "alice")
    assert r.status_code in (200, 204), (href, r.status_code, r.text[:300])
    del expected.texts[href]


def populated(server: Server) -> Expected:
    expected = Expected()
    assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
    assert server.request("MKCOL", BOOK, "alice", address_book_mkcol("book")).status_code == 201
    for n in range(EVENTS):
        put(server, f"{CAL}e{n:02d}.ics", event_text(n, n % 28 + 1), expected)
    for n in range(CARDS):
        put(server, f"{BOOK}c{n:02d}.vcf", card_text(n, "Smith" if n % 3 == 0 else "Jones"), expected)
    return expected


def check_all(server: Server, expected: Expected, tokens: list[Token], where: str) -> list[Token]:
    """Every answer right for what is on disk; returns fresh sync tokens (taken by initial syncs)."""
    for path in (CAL, BOOK):  # the ctag first: the request most likely to be answered from the index alone
        got = dav.ctag(server, path, "alice")
        stock_ctag, stock_items = dav.stock_state(folder(server), path)
        assert got == stock_ctag, (where, path, "CS:getctag differs from stock Radicale's collection ETag")
        members = dav.listing(server, path, "alice")
        assert members == stock_items, (where, path, "depth-1 getetag listing differs from stock Radicale's")
        assert set(members) == expected.members(path), (where, path, sorted(set(members) ^ expected.members(path)))
    etags = dav.listing(server, CAL, "alice") | dav.listing(server, BOOK, "alice")
    for href, text in sorted(expected.texts.items()):
        r = server.request("GET", href, "alice")
        assert r.status_code == 200, (where, "GET", href, r.status_code)
        assert dav.unfolded_lines(r.text) == dav.unfolded_lines(text), (where, "GET", href, r.text)
        assert r.headers.get("ETag") == etags[href], (where, "GET", href, r.headers.get("ETag"), etags[href])
    r = server.request("REPORT", CAL, "alice", dav.calendar_query("VEVENT", *WINDOW), headers={"Depth": "1"})
    hits = dav.report_etags(r)
    assert set(hits) == expected.in_window(), (where, "calendar-query", sorted(set(hits) ^ expected.in_window()))
    assert all(etags[h] == e for h, e in hits.items()), (where, "calendar-query ETags")
    for query, wanted in (
            (dav.addressbook_query(dav.prop_filter("FN", dav.text_match("smith"))), expected.named("smith")),
            (dav.addressbook_query(dav.prop_filter("EMAIL", dav.text_match("@jones.example", match_type="ends-with"))),
             expected.mailed_at("jones.example"))):
        r = server.request("REPORT", BOOK, "alice", query, headers={"Depth": "1"})
        hits = dav.report_etags(r)
        assert set(hits) == wanted, (where, "addressbook-query", sorted(set(hits) ^ wanted))
        assert all(etags[h] == e for h, e in hits.items()), (where, "addressbook-query ETags")
    for old in tokens:
        r = dav.sync(server, old.path, "alice", old.token)
        if dav.rejects_token(r):
            continue
        answer = dav.parse_sync(r)
        now = dav.listing(server, old.path, "alice")
        problems = dav.check_incremental(answer, old.members, now)
        assert not problems, (where, old.path, "sync-collection with an old token", problems)
    fresh = []
    for path in (CAL, BOOK):
        answer = dav.parse_sync(dav.sync(server, path, "alice"))
        now = dav.listing(server, path, "alice")
        problems = dav.check_initial(answer, now)
        assert not problems, (where, path, "initial sync-collection", problems)
        fresh.append(Token(path, answer.token, now))
    return fresh


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """Our server; parametrized "no-inotify", it runs as where inotify is missing (not Linux, or the
    optional ``inotify_simple`` not installed): the module is hidden from the server process, and the
    storage must then find changes by looking at the files."""
    if getattr(request, "param", "inotify") == "no-inotify":
        hidden = tmp_path / "no-inotify"
        hidden.mkdir()
        (hidden / "inotify_simple.py").write_text('raise ImportError("hidden by tests/test_index_recovery.py")\n')
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hidden), os.environ.get("PYTHONPATH")])))
    srv = make_server(tmp_path / "server").start()
    yield srv
    srv.stop()


def later_writes(server: Server, expected: Expected, version: int) -> None:
    """A few changes through the server: same-size rewrites, a new event, a deletion, a card."""
    for n in (1, 2, 20):
        put(server, f"{CAL}e{n:02d}.ics", event_text(n, (n + 5) % 28 + 1, version), expected)
    put(server, f"{CAL}new{version}.ics", event_text(90 + version, 3, version), expected)
    delete(server, f"{CAL}e{30 + version:02d}.ics", expected)
    put(server, f"{BOOK}c05.vcf", card_text(5, "Smith", version), expected)
    delete(server, f"{BOOK}c{10 + version:02d}.vcf", expected)


def writes_then_restart(server: Server, expected: Expected, tokens: list[Token], version: int) -> None:
    """More writes, checked; then a clean restart, checked again (every token so far included)."""
    later_writes(server, expected, version)
    tokens += check_all(server, expected, tokens, "after writes")
    server.stop()
    server.start()
    check_all(server, expected, tokens, "after a clean restart")


# -- (a), (c): the index lost or damaged while the server is stopped ---------------------


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_index_lost_or_garbage_while_stopped(server: Server, damage: str) -> None:
    expected = populated(server)
    tokens = check_all(server, expected, [], "before")
    server.stop()
    assert index_files(server)[0].exists(), "the index file is where the contract says"
    for path in index_files(server):
        if damage == "delete":
            path.unlink(missing_ok=True)
        elif path.exists() or path.name.endswith("sqlite"):
            path.write_bytes(b"\x00garbage, not SQLite\xff" * 4096)
    server.start()
    tokens += check_all(server, expected, tokens, f"after a restart with the index {damage}d")
    writes_then_restart(server, expected, tokens, 2)


# -- (b), (c): the index lost or damaged under a running server ------------------------------


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_index_lost_or_garbage_while_running(server: Server, damage: str) -> None:
    expected = populated(server)
    tokens = check_all(server, expected, [], "before")
    later_writes(server, expected, 2)
    tokens += check_all(server, expected, tokens, "after writes")
    for path in index_files(server):
        if damage == "delete":
            path.unlink(missing_ok=True)
        elif path.exists() and not path.name.endswith("-shm"):
            with open(path, "r+b") as f:  # in place: the server's open connection reads the garbage
                size = max(f.seek(0, os.SEEK_END), 4096)
                f.seek(0)
                f.write((b"\x00garbage, not SQLite\xff" * (size // 20 + 1))[:size])
    tokens += check_all(server, expected, tokens, f"after the index was {damage}d under the server")
    writes_then_restart(server, expected, tokens, 3)


# -- (d): item files edited, added and deleted by hand under a running server -----------------


def edit_in_place(path: Path, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` (same length) in the file, same inode, same size, old mtime."""
    assert len(old) == len(new)
    st = path.stat()
    text = path.read_bytes().decode()
    assert old in text, (path, old, text)
    changed = text.replace(old, new)
    with open(path, "r+b") as f:
        f.write(changed.encode())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)
    return changed


@pytest.mark.parametrize("server", ["inotify", "no-inotify"], indirect=True)
def test_hand_edits_under_a_running_server(server: Server) -> None:
    expected = populated(server)
    time.sleep(SETTLE)  # the files settle: from now on an index may answer for them without reading them
    tokens = check_all(server, expected, [], "before")
    dav.ctag(server, CAL, "alice")
    dav.ctag(server, BOOK, "alice")

    # an event moved from January 7 to January 27, same size, mtime set back: the ctag notices first
    href = f"{CAL}e06.ics"
    expected.texts[href] = edit_in_place(folder(server, CAL) / "e06.ics", "20260107T", "20260127T")
    tokens = check_all(server, expected, tokens, "after an in-place edit of e06.ics")

    # a card renamed Jones -> Smith the same way: the next request is a GET of it
    href = f"{BOOK}c04.vcf"
    before = server.request("GET", href, "alice")
    expected.texts[href] = edit_in_place(folder(server, BOOK) / "c04.vcf", "Jones", "Smith")
    r = server.request("GET", href, "alice")
    assert r.status_code == 200 and dav.unfolded_lines(r.text) == dav.unfolded_lines(expected.texts[href]), r.text
    assert r.headers["ETag"] != before.headers["ETag"]
    tokens = check_all(server, expected, tokens, "after an in-place edit of c04.vcf")

    # another event, the next request an addressbook- and a calendar-query
    expected.texts[f"{CAL}e03.ics"] = edit_in_place(folder(server, CAL) / "e03.ics", "20260104T", "20260124T")
    r = server.request("REPORT", CAL, "alice", dav.calendar_query("VEVENT", *WINDOW), headers={"Depth": "1"})
    assert set(dav.report_etags(r)) == expected.in_window(), sorted(set(dav.report_etags(r)) ^ expected.in_window())
    tokens = check_all(server, expected, tokens, "after an in-place edit of e03.ics")

    # a new file, and a deleted one, by hand; the folder's mtime set back each time
    cal_folder = folder(server, CAL)
    st = cal_folder.stat()
    text = event_text(77, 5)
    (cal_folder / "hand.ics").write_text(text, newline="")
    os.utime(cal_folder, ns=(st.st_atime_ns, st.st_mtime_ns))
    expected.texts[f"{CAL}hand.ics"] = text
    tokens = check_all(server, expected, tokens, "after hand.ics was added by hand")
    st = cal_folder.stat()
    (cal_folder / "e08.ics").unlink()
    os.utime(cal_folder, ns=(st.st_atime_ns, st.st_mtime_ns))
    del expected.texts[f"{CAL}e08.ics"]
    r = server.request("GET", f"{CAL}e08.ics", "alice")
    assert r.status_code == 404, r.status_code
    tokens = check_all(server, expected, tokens, "after e08.ics was deleted by hand")

    server.stop()
    server.start()
    check_all(server, expected, tokens, "after a restart")


# -- (e): an older copy of the collection folders restored ----------------------------------------


def restore(server: Server, backup: Path, trash: Path, how: str) -> None:
    """Put the backup of alice's folder (taken with copytree, so with the old mtimes) back in place."""
    if how == "rename-home":  # the admin keeps the current folder aside and copies the backup in
        home = folder(server, "/alice/")
        home.rename(trash / "alice")
        shutil.copytree(backup / "alice", home)
        return
    for path in (CAL, BOOK):
        live, old = folder(server, path), backup / path.strip("/")
        if how == "rmtree-copytree":
            shutil.rmtree(live)
            shutil.copytree(old, live)
        elif how == "rename-collection":
            live.rename(trash / path.strip("/").replace("/", "-"))
            shutil.copytree(old, live)
        else:  # copy2-over: every file of the backup copied over (same inodes where they exist), newer items removed
            kept = {p.name for p in old.iterdir() if p.is_file()}
            for p in live.iterdir():
                if p.is_file() and p.name not in kept:
                    p.unlink()
            for name in kept:
                shutil.copy2(old / name, live / name)


@pytest.mark.parametrize("how, when, server", [
    ("rmtree-copytree", "running", "inotify"), ("copy2-over", "running", "inotify"),
    ("rename-collection", "running", "inotify"),
    ("rename-home", "running", "inotify"),
    ("rmtree-copytree", "stopped", "inotify"), ("copy2-over", "stopped", "inotify"),
    ("copy2-over", "running", "no-inotify"), ("rename-home", "running", "no-inotify")], indirect=["server"])
def test_an_older_copy_restored(server: Server, tmp_path: Path, how: str, when: str) -> None:
    expected = populated(server)
    time.sleep(SETTLE)
    tokens = check_all(server, expected, [], "before the backup")
    backup, trash = tmp_path / "backup", tmp_path / "trash"
    trash.mkdir()
    shutil.copytree(folder(server, "/alice/"), backup / "alice")
    at_backup = Expected(dict(expected.texts))
    later_writes(server, expected, 2)
    later_writes(server, expected, 3)
    time.sleep(SETTLE)  # the later files settle too: an index trusting stamps would keep them
    tokens += check_all(server, expected, tokens, "after later writes")
    if when == "stopped":
        server.stop()
    restore(server, backup, trash, how)
    if when == "stopped":
        server.start()
    expected = at_backup
    tokens += check_all(server, expected, tokens, f"after the backup was restored ({how}, server {when})")
    later_writes(server, expected, 4)
    tokens += check_all(server, expected, tokens, "after writes on the restored copy")
    server.stop()
    server.start()
    check_all(server, expected, tokens, "after a restart")


# -- (f): the whole storage folder restored from a backup, index included ---------------------------


def test_the_whole_storage_folder_restored_with_its_index(server: Server, tmp_path: Path) -> None:
    """The most common restore: the storage folder as a backup kept it (index file included), then life
    goes on.  A token issued after the backup was taken must never be taken for a state after the restore:
    the same number of (different) changes after the restore must not make it look current."""
    expected = populated(server)
    tokens = check_all(server, expected, [], "before the backup")
    server.stop()
    backup = tmp_path / "backup"
    shutil.copytree(folder(server), backup)
    assert (backup / INDEX_NAME).exists()
    at_backup = Expected(dict(expected.texts))
    server.start()
    later_writes(server, expected, 2)
    tokens += check_all(server, expected, tokens, "after writes following the backup")
    server.stop()
    shutil.rmtree(folder(server))
    shutil.copytree(backup, folder(server))
    server.start()
    expected = at_backup
    tokens += check_all(server, expected, tokens, "after the whole storage folder was restored")
    later_writes(server, expected, 3)  # as many changes as later_writes(2) made, other ones
    tokens += check_all(server, expected, tokens, "after writes following the restore")
    server.stop()
    server.start()
    check_all(server, expected, tokens, "after a restart")


def test_hand_edits_while_the_server_is_stopped(server: Server) -> None:
    """Item files edited in place (same size, mtime set back), added and deleted by hand while the server
    is stopped, the index file kept: the next start sees them all."""
    expected = populated(server)
    time.sleep(SETTLE)
    tokens = check_all(server, expected, [], "before")
    dav.ctag(server, CAL, "alice")
    server.stop()
    expected.texts[f"{CAL}e06.ics"] = edit_in_place(folder(server, CAL) / "e06.ics", "20260107T", "20260127T")
    expected.texts[f"{BOOK}c04.vcf"] = edit_in_place(folder(server, BOOK) / "c04.vcf", "Jones", "Smith")
    cal_folder = folder(server, CAL)
    st = cal_folder.stat()
    text = event_text(77, 5)
    (cal_folder / "hand.ics").write_text(text, newline="")
    expected.texts[f"{CAL}hand.ics"] = text
    (cal_folder / "e08.ics").unlink()
    del expected.texts[f"{CAL}e08.ics"]
    os.utime(cal_folder, ns=(st.st_atime_ns, st.st_mtime_ns))
    server.start()
    check_all(server, expected, tokens, "after hand edits while the server was stopped")


SCHOOL_RUN = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//recovery//EN\r\nBEGIN:VEVENT\r\n"
              "UID:schulweg-müller\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250106T073000Z\r\n"
              "DURATION:PT30M\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\nSUMMARY:Schulweg 🚸 Müller\r\n"
              "X-PAD:00000000T0000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.mark.parametrize("server", ["inotify", "no-inotify"], indirect=True)
def test_an_exdate_added_by_hand_to_a_series_is_seen_by_the_next_query(server: Server) -> None:
    """A weekly series without end; by hand, in place (same size, mtime set back), one Monday is cut
    out with EXDATE: the week's query answered from the index's occurrences no longer lists it, the
    week after still does, as stock Radicale reading the file would answer."""
    href = f"{CAL}schulweg.ics"
    r = server.request("MKCALENDAR", CAL, "alice")
    assert r.status_code == 201, r.text
    put(server, href, SCHOOL_RUN, Expected())
    time.sleep(SETTLE)
    weeks = {"cut": ("20260302T000000Z", "20260309T000000Z"), "kept": ("20260309T000000Z", "20260316T000000Z")}

    def found(week: str) -> set[str]:
        r = server.request("REPORT", CAL, "alice", dav.calendar_query("VEVENT", *weeks[week]), headers={"Depth": "1"})
        assert r.status_code == 207, r.text
        return set(dav.report_etags(r))

    assert found("cut") == {href} and found("kept") == {href}
    edit_in_place(folder(server, CAL) / "schulweg.ics", "X-PAD:00000000T0000000Z", "EXDATE:20260302T073000Z")
    assert found("cut") == set()
    assert found("kept") == {href}


def test_files_touched_by_hand_are_not_parsed_again_and_reads_leave_the_folder_alone(server: Server) -> None:
    """Item files whose times change but whose text does not (touched, copied back from a backup with
    their contents): the index keeps their facts (the text's ETag is the one it holds), so nothing is
    parsed again, no item cache entry is made, and the collection folder's own time, which share links
    answer If-Modified-Since with, is not changed by reading it."""
    expected = populated(server)
    cal = folder(server, CAL)
    old = time.time() - 3600
    for path in [cal, *cal.iterdir()]:
        os.utime(path, (old, old))
    assert set(dav.listing(server, CAL, "alice")) == expected.members(CAL)
    for href, text in expected.texts.items():
        if href.startswith(CAL):
            r = server.request("GET", href, "alice")
            assert r.status_code == 200 and dav.unfolded_lines(r.text) == dav.unfolded_lines(text), href
    assert not (cal / ".Radicale.cache").exists(), sorted(p.name for p in cal.iterdir())
    assert cal.stat().st_mtime == old
    check_all(server, expected, [], "after every file was touched")  # stock Radicale's reading, as reference


def test_an_item_cache_entry_left_empty_or_torn_by_a_crash_is_read_again_from_the_file(server: Server) -> None:
    """Radicale's item cache is written without fsync (it is derived from the item file): after a power
    loss an entry may be empty or cut short.  The item is then read from its file, never a 500.  A PUT
    writes no entry (the index has its facts); Radicale's reading writes one for a file written by hand
    in a form vobject writes differently (here with bare LF line ends), and serves vobject's text."""
    expected = populated(server)
    cal = folder(server, CAL)
    hand = event_text(40, 12).replace("\r\n", "\n")
    (cal / "hand.ics").write_text(hand, newline="")
    expected.texts[f"{CAL}hand.ics"] = hand
    cache = cal / ".Radicale.cache" / "item"
    assert server.request("GET", f"{CAL}hand.ics", "alice").status_code == 200
    assert (cache / "hand.ics").stat().st_size > 0, "Radicale's reading of the hand-written file kept an entry"
    assert not (cache / "e03.ics").exists(), "a PUT writes no item cache entry"
    for href, damage in (("e03.ics", b""), ("e04.ics", b"\x80\x04\x95\x10"), ("hand.ics", b""),
                         ("hand.ics", b"\x80\x04\x95\x10")):
        (cache / href).write_bytes(damage)
        r = server.request("GET", f"{CAL}{href}", "alice")
        assert r.status_code == 200, (href, r.status_code, r.text[:300])
        assert dav.unfolded_lines(r.text) == dav.unfolded_lines(expected.texts[f"{CAL}{href}"])
    for href in ("e03.ics", "e04.ics"):  # never read by us; stock Radicale, the reference below, fails on them
        (cache / href).unlink()
    check_all(server, expected, [], "after damaged item cache entries")
