"""The item index (radicale_ext.index.item_index) and the collection ETag it serves.

Core tests run the index on its own; the server tests compare our CS:getctag
with stock Radicale's collection ETag computed from the same folder, across
hand edits, restores and a lost or corrupt index.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import sqlite3
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from radicale import config
from radicale.storage import multifilesystem

from radicale_ext.index import item_index
from radicale_ext.index.folder_watch import FolderWatch
from radicale_ext.index.item_index import (
    PRUNE,
    PRUNE_COMMITS_EVERY,
    RACY_NS,
    FolderView,
    ItemFacts,
    ItemIndex,
    collection_etag,
)

from ..server import Server

# -- the index on its own -----------------------------------------------------


def is_item(name: str) -> bool:
    return not name.startswith(".")


class Reader:
    """A ``facts_of`` that reads a file's text as its ETag and records what it was asked."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.asked: list[str] = []

    def __call__(self, href: str, known: ItemFacts | None) -> ItemFacts | None:
        self.asked.append(href)
        text = (self.folder / href).read_text()
        if text == "broken":
            return None
        return ItemFacts(etag=f'"{text}"', uid=href, name="VCALENDAR", component="VEVENT", start=0, end=1)


class Folder:
    """A collection folder and an index on it (``watch=False``: an index without inotify)."""

    def __init__(self, root: Path, watch: bool = True) -> None:
        self.path = root / "collection"
        self.path.mkdir(parents=True, exist_ok=True)
        self.reader = Reader(self.path)
        self.index = ItemIndex(root / "index.sqlite", watch=None if watch else Unwatched())

    def write(self, href: str, text: str) -> None:
        (self.path / href).write_text(text)

    def view(self) -> FolderView:
        self.reader.asked.clear()
        return self.index.view("alice/cal", str(self.path), is_item, self.reader)


class Unwatched(FolderWatch):
    """A FolderWatch where inotify is missing: every request lists the folder."""

    def __init__(self) -> None:
        super().__init__()
        self._inotify = None


@pytest.fixture(params=["watched", "unwatched"])
def folder(tmp_path: Path, request: pytest.FixtureRequest) -> Folder:
    return Folder(tmp_path, watch=request.param == "watched")


def etags(view: FolderView) -> dict[str, str]:
    return {href: view.entries[href].facts.etag for href in view.order}


def test_the_view_follows_the_files_and_asks_only_about_changed_ones(folder: Folder) -> None:
    folder.write("a.ics", "1")
    folder.write("b.ics", "2")
    assert etags(folder.view()) == {"a.ics": '"1"', "b.ics": '"2"'}
    assert sorted(folder.reader.asked) == ["a.ics", "b.ics"]
    folder.write("b.ics", "22")
    folder.write("c.ics", "3")
    (folder.path / "a.ics").unlink()
    view = folder.view()
    assert etags(view) == {"b.ics": '"22"', "c.ics": '"3"'}
    assert sorted(set(folder.reader.asked)) == ["b.ics", "c.ics"]


def test_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    watched, unwatched = Folder(tmp_path / "w"), Folder(tmp_path / "u", watch=False)
    for folder in (watched, unwatched):
        folder.write("a.ics", "1")
        folder.view()
    # the kernel vouches for a watched folder; without a watch a file written within
    # RACY_NS of being indexed is read again, as a second write in the same tick could hide
    assert watched.view().entries["a.ics"].facts.etag == '"1"' and watched.reader.asked == []
    assert unwatched.view().entries["a.ics"].facts.etag == '"1"' and unwatched.reader.asked == ["a.ics"]


def test_an_in_place_edit_keeping_size_and_mtime_is_seen(folder: Folder) -> None:
    folder.write("a.ics", "1")
    folder.view()
    st = (folder.path / "a.ics").stat()
    folder.write("a.ics", "2")
    os.utime(folder.path / "a.ics", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert folder.view().entries["a.ics"].facts.etag == '"2"'


def test_a_folder_replaced_under_its_path_is_read_afresh(tmp_path: Path) -> None:
    home = tmp_path / "home" / "cal"
    home.mkdir(parents=True)
    reader = Reader(home)
    index = ItemIndex(tmp_path / "index.sqlite")

    def view() -> FolderView:
        return index.view("alice/cal", str(home), is_item, reader)

    (home / "a.ics").write_text("1")
    backup = tmp_path / "backup"
    shutil.copytree(tmp_path / "home", backup)
    (home / "a.ics").write_text("2")
    (home / "b.ics").write_text("3")
    assert etags(view()) == {"a.ics": '"2"', "b.ics": '"3"'}
    # the parent is renamed away: the watch follows the old folder, and no event says so
    (tmp_path / "home").rename(tmp_path / "home.old")
    backup.rename(tmp_path / "home")
    assert etags(view()) == {"a.ics": '"1"'}


def test_the_order_is_radicales_directory_order(folder: Folder) -> None:
    for n in range(30):
        folder.write(f"e{n}.ics", str(n))
    listed = [e.name for e in os.scandir(folder.path) if e.is_file()]
    view = folder.view()
    assert list(view.order) == listed
    assert view.ctag({"tag": "VCALENDAR"}) == collection_etag(
        [(href, f'"{href[1:-4]}"') for href in listed], {"tag": "VCALENDAR"})


def test_files_that_are_no_items_are_left_out(folder: Folder) -> None:
    folder.write("broken.ics", "broken")
    folder.write(".Radicale.props", "{}")
    folder.write("a.ics", "1")
    assert etags(folder.view()) == {"a.ics": '"1"'}


def test_tokens_report_exactly_the_changes_since(folder: Folder) -> None:
    folder.write("a.ics", "1")
    folder.write("b.ics", "2")
    first = folder.view()
    assert sorted(first.changes_since("")) == ["a.ics", "b.ics"]
    assert first.changes_since(first.token) == []
    folder.write("a.ics", "11")
    (folder.path / "b.ics").unlink()
    folder.write("c.ics", "3")
    second = folder.view()
    assert second.token != first.token
    assert sorted(second.changes_since(first.token)) == ["a.ics", "b.ics", "c.ics"]
    assert "b.ics" in second.tombstones
    assert sorted(second.changes_since("")) == ["a.ics", "b.ics", "c.ics"]  # as stock: recent deletions too
    folder.write("c.ics", "3")  # rewritten with the same content: a new stamp, not a change
    third = folder.view()
    assert third.token == second.token
    assert third.changes_since(second.token) == []


@pytest.mark.parametrize("token", [
    "", "http://radicale.org/ns/sync/" + "0" * 64, "http://radicale.org/ns/sync/xyz", "garbage",
    "http://radicale.org/ns/sync/" + "ab" * 32])
def test_foreign_tokens_are_refused(folder: Folder, token: str) -> None:
    folder.write("a.ics", "1")
    view = folder.view()
    if not token:
        assert view.changes_since(token) == ["a.ics"]
        return
    with pytest.raises(ValueError):
        view.changes_since(token)


def test_pruning_walks_only_tombstones_also_in_an_index_saved_without_their_index(tmp_path: Path) -> None:
    """Each write prunes old deletions; through the index by number it visited every item logged before
    the floor (all of a restored calendar: 40 ms per PUT at 10,000 items).  An index file written by an
    earlier version gains the tombstones' own index when opened, without being rebuilt."""
    folder = Folder(tmp_path)
    folder.write("a.ics", "1")
    first = folder.view()
    db = sqlite3.connect(folder.index.path)
    db.execute("DROP INDEX entries_tombstones")   # as an earlier version saved it
    db.close()
    index = ItemIndex(folder.index.path)
    view = index.view("alice/cal", str(folder.path), is_item, folder.reader)
    assert view.epoch == first.epoch   # kept, not rebuilt: clients' tokens stay good
    db = sqlite3.connect(folder.index.path)
    plan = " ".join(str(row) for row in db.execute("EXPLAIN QUERY PLAN " + PRUNE, ("alice/cal", 1)))
    assert "entries_tombstones" in plan, plan


def test_commits_older_than_a_token_lives_are_removed_now_and_then(tmp_path: Path) -> None:
    """Each change's random check is kept for as long as a sync token lives; older ones are removed at every
    PRUNE_COMMITS_EVERY changes of a folder, not at each (the removal walks all the folder's commits)."""
    folder = Folder(tmp_path)
    folder.index = ItemIndex(tmp_path / "index.sqlite", max_token_age_s=0)
    db = sqlite3.connect(folder.index.path)
    kept = []
    for n in range(2 * PRUNE_COMMITS_EVERY + 30):
        folder.write("a.ics", f"version {n}")
        folder.view()
        kept.append(db.execute("SELECT count(*) FROM commits WHERE folder = 'alice/cal'").fetchone()[0])
    assert max(kept) <= PRUNE_COMMITS_EVERY + 1, max(kept)
    assert kept[-1] == 31, kept[-35:]


def test_a_token_from_the_future_or_from_before_pruning_is_refused(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    folder.index = ItemIndex(tmp_path / "index.sqlite", max_token_age_s=0)
    folder.write("a.ics", "1")
    folder.write("b.ics", "2")
    old = folder.view()
    future = old.token[:-32] + f"{old.seq + 5:032x}"
    with pytest.raises(ValueError):
        old.changes_since(future)
    (folder.path / "b.ics").unlink()
    folder.view()
    folder.write("c.ics", "3")
    new = folder.view()  # the next change prunes b's deletion (age 0): older tokens could miss it
    assert "b.ics" not in new.tombstones
    with pytest.raises(ValueError):
        new.changes_since(old.token)


def test_the_log_survives_a_restart_and_other_processes_keep_its_numbers(tmp_path: Path) -> None:
    one = Folder(tmp_path)
    one.write("a.ics", "1")
    first = one.view()
    two = Folder(tmp_path)  # another process: same folder, same index file
    assert two.view().token == first.token
    one.write("a.ics", "2")
    one.write("b.ics", "3")
    seen_by_one = one.view()
    seen_by_two = two.view()
    assert seen_by_two.token == seen_by_one.token
    assert sorted(seen_by_two.changes_since(first.token)) == ["a.ics", "b.ics"]
    assert two.reader.asked == [], "the files are as the other process logged them: its facts are taken, unread"
    assert etags(seen_by_two) == {"a.ics": '"2"', "b.ics": '"3"'}
    restarted = Folder(tmp_path)
    assert restarted.view().token == seen_by_one.token
    assert restarted.reader.asked == [] or set(restarted.reader.asked) <= {"a.ics", "b.ics"}  # racy ones only


def test_an_index_another_process_holds_at_its_start_is_waited_for_not_made_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two server processes starting together: one is still making the index file (before it is in WAL
    mode, a reader's lock keeps the other from switching it) when the other opens it.  SQLite says "database
    is locked"; that is no damage: the index was deleted and made again under the first, whose log went to
    a file nobody saw any more.  Now the second waits, and both use the one file and its log."""
    monkeypatch.setattr(item_index, "BUSY_SECONDS", 0.1)
    one = Folder(tmp_path)
    one.write("Fußball 足球.ics", "1")
    first = one.view()
    del one   # that process ended (its connection closed): the file may leave WAL mode
    gc.collect()
    path = tmp_path / "index.sqlite"
    inode = os.stat(path).st_ino
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN")
    holder.execute("SELECT count(*) FROM entries").fetchone()   # a reader's lock, as the first process's
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        two = Folder(tmp_path)   # waits (each wait BUSY_SECONDS) until the lock is let go
    finally:
        release.join()
        holder.close()
    assert os.stat(path).st_ino == inode, "the index file was deleted and made again"
    assert two.view().token == first.token   # the same log: a token of the first is good in the second


class UidReader(Reader):
    """A ``facts_of`` for texts "UID ETAG": items may share a UID, and change it."""

    def __call__(self, href: str, known: ItemFacts | None) -> ItemFacts | None:
        self.asked.append(href)
        uid, _, etag = (self.folder / href).read_text().partition(" ")
        return ItemFacts(etag=f'"{etag}"', uid=uid, name="VCALENDAR", component="VEVENT", start=0, end=1)


def test_the_uids_follow_every_change_in_this_and_other_processes(tmp_path: Path) -> None:
    """Every PUT and MOVE asks whether a UID is taken; a view made from another carries its UIDs over and
    changes only those of the items that changed, also by another process (a UID two items hold stays
    while one of them holds it)."""
    one, two = Folder(tmp_path), Folder(tmp_path)
    one.reader, two.reader = UidReader(one.path), UidReader(two.path)
    rng = random.Random(5)
    for step in range(400):
        who = rng.choice((one, two))
        href = f"{rng.randrange(12)}.ics"
        if rng.random() < 0.75:
            who.write(href, f"uid-{rng.randrange(8)} {step}")
        elif (who.path / href).exists():
            (who.path / href).unlink()
        view = who.view()
        assert view.uids == frozenset(entry.facts.uid for entry in view.entries.values()), step
        if step > 20:
            assert view.known_uids is not None, (step, "not carried over from the view before")


@pytest.mark.parametrize("watch", [True, False], ids=["watched", "unwatched"])
def test_another_process_s_logged_change_is_taken_in_without_writing_the_index(
        tmp_path: Path, watch: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Process two takes in what process one wrote and logged by reading the log, not by a write of its own:
    with a third connection holding the index's write lock (another process's write under way), it neither
    waits for it nor gives up on the log (a view kept in memory only, in an epoch of its own, whose tokens
    the next saved log refuses).  A change of its own is still logged, once the lock is free."""
    monkeypatch.setattr(item_index, "BUSY_SECONDS", 0.2)
    one, two = Folder(tmp_path, watch=watch), Folder(tmp_path, watch=watch)
    one.write("Fußball 足球.ics", "1")
    one.view()
    first = two.view()
    one.write("Oma Müller 👵.ics", "2")
    one.write("Fußball 足球.ics", "11")
    logged = one.view()
    holder = sqlite3.connect(tmp_path / "index.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        began = time.monotonic()
        seen = two.view()
        waited = time.monotonic() - began
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert seen.token == logged.token and waited < 0.2, (waited, "waited for the lock, or gave up on the log")
    assert etags(seen) == {"Fußball 足球.ics": '"11"', "Oma Müller 👵.ics": '"2"'}
    assert sorted(seen.changes_since(first.token)) == ["Fußball 足球.ics", "Oma Müller 👵.ics"]
    if watch:   # (without a watch every file of another stamp is read, as the listing finds it)
        assert two.reader.asked == [], "the files are as process one logged them"
    two.write("Oma Müller 👵.ics", "22")   # two's own change: logged by two, seen by one with the same token
    mine = two.view()
    assert mine.seq == logged.seq + 1 and one.view().token == mine.token


def test_a_file_changed_after_another_process_logged_it_is_read_again(tmp_path: Path) -> None:
    one, two = Folder(tmp_path), Folder(tmp_path)
    one.write("a.ics", "1")
    one.view()
    two.view()
    one.write("a.ics", "2")
    one.view()   # logs a at "2"
    (one.path / "a.ics").write_text("22")   # a hand edit after it (another inode or size: another stamp)
    seen = two.view()
    assert two.reader.asked == ["a.ics"] and etags(seen) == {"a.ics": '"22"'}


def test_a_change_logged_by_another_process_is_checked_against_the_file(tmp_path: Path) -> None:
    one, two = Folder(tmp_path), Folder(tmp_path)
    one.write("a.ics", "1")
    one.view()
    two.view()
    one.write("x.ics", "2")
    one.view()  # logs x
    (one.path / "x.ics").unlink()  # gone before process two logs anything
    one.write("a.ics", "11")
    seen = two.view()  # two logs a's change; the log says x exists, the folder says not
    assert "x.ics" not in seen.entries and "x.ics" in seen.tombstones
    assert etags(seen) == {"a.ics": '"11"'}


def test_tokens_issued_after_a_backup_are_refused_once_it_is_restored(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = Folder(home)
    folder.write("a.ics", "1")
    folder.view()
    shutil.copytree(home, tmp_path / "backup")  # the folder and the index together
    folder.write("a.ics", "2")
    after_backup = folder.view().token
    shutil.rmtree(home)
    shutil.copytree(tmp_path / "backup", home)
    restored = Folder(home)  # a restart on the restored storage
    restored.write("b.ics", "3")  # the log reaches the same number again
    view = restored.view()
    assert view.seq == int(after_backup[-32:-16], 16)
    with pytest.raises(ValueError):
        view.changes_since(after_backup)


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_a_lost_or_corrupt_index_starts_a_new_epoch(tmp_path: Path, damage: str) -> None:
    folder = Folder(tmp_path)
    folder.write("a.ics", "1")
    old = folder.view()
    index = tmp_path / "index.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(index) + suffix).unlink(missing_ok=True)
    if damage == "corrupt":
        index.write_bytes(b"this is not a database" * 100)
    again = Folder(tmp_path)
    view = again.view()
    assert etags(view) == {"a.ics": '"1"'}
    with pytest.raises(ValueError):
        view.changes_since(old.token)


def test_a_forgotten_collection_starts_afresh(folder: Folder) -> None:
    folder.write("a.ics", "1")
    old = folder.view()
    folder.index.forget("alice/cal", str(folder.path))
    view = folder.view()
    assert etags(view) == {"a.ics": '"1"'}
    with pytest.raises(ValueError):
        view.changes_since(old.token)


def test_collection_etag_is_radicales_formula() -> None:
    from hashlib import sha256
    expected = sha256(b"a.ics/\"1\"b.ics/\"2\"" + b'{"tag": "VCALENDAR"}').hexdigest()
    assert collection_etag([("a.ics", '"1"'), ("b.ics", '"2"')], {"tag": "VCALENDAR"}) == f'"{expected}"'


# -- our server against stock Radicale's ETag of the same folder ---------------

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
NS = {"D": "DAV:", "CS": "http://calendarserver.org/ns/"}
CTAG = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/></D:prop></D:propfind>"""


def event(uid: str, summary: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T180000Z\r\nDURATION:PT1H\r\n"
            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def our_ctag(server: Server, path: str) -> str:
    r = server.request("PROPFIND", path, "alice", CTAG, headers={"Depth": "0"})
    assert r.status_code == 207, r.text
    return ET.fromstring(r.content).findtext(".//CS:getctag", namespaces=NS) or ""


def stock_etag(server: Server, path: str) -> str:
    """What stock Radicale's multifilesystem says, reading the same folder in this process."""
    conf = config.load()
    folder = str(server.root / "data" / "collections")
    conf.update({"storage": {"filesystem_folder": folder}}, "test", privileged=True)
    storage = multifilesystem.Storage(conf)
    with storage.acquire_lock("r"):
        collection = next(iter(storage.discover(path)))
        return collection.etag


def item_file(server: Server, path: str, href: str) -> Path:
    return server.root / "data" / "collections" / "collection-root" / path.strip("/") / href


@pytest.fixture
def calendar(fresh_server: Server) -> str:
    path = "/alice/ctag/"
    assert fresh_server.request("MKCALENDAR", path, "alice").status_code == 201
    for n in range(5):
        r = fresh_server.request("PUT", f"{path}e{n}.ics", "alice", event(f"u{n}", f"event {n}"), headers=ICS)
        assert r.status_code == 201, r.text
    return path


def test_ctag_equals_stock_and_follows_writes(fresh_server: Server, calendar: str) -> None:
    before = our_ctag(fresh_server, calendar)
    assert before == stock_etag(fresh_server, calendar)
    assert fresh_server.request("DELETE", f"{calendar}e1.ics", "alice").status_code == 200
    after = our_ctag(fresh_server, calendar)
    assert after != before
    assert after == stock_etag(fresh_server, calendar)


def test_a_hand_edit_in_place_is_noticed_on_the_next_request(fresh_server: Server, calendar: str) -> None:
    path = item_file(fresh_server, calendar, "e2.ics")
    time.sleep(RACY_NS / 1e9 + 0.2)  # the files settle: from now on the index answers for them
    before = our_ctag(fresh_server, calendar)
    assert before == our_ctag(fresh_server, calendar)
    st = path.stat()
    text = path.read_text()
    with open(path, "r+") as f:  # same size, same inode, same mtime: only the content (and ctime) differ
        f.write(text.replace("event 2", "EVENT 2"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = our_ctag(fresh_server, calendar)
    assert after != before
    assert after == stock_etag(fresh_server, calendar)


def test_a_restored_older_copy_is_noticed(fresh_server: Server, calendar: str, tmp_path: Path) -> None:
    path = item_file(fresh_server, calendar, "e3.ics")
    backup = tmp_path / "e3.ics"
    shutil.copy2(path, backup)
    original = our_ctag(fresh_server, calendar)
    r = fresh_server.request("PUT", f"{calendar}e3.ics", "alice", event("u3", "changed"), headers=ICS)
    assert r.status_code in (201, 204)
    assert our_ctag(fresh_server, calendar) != original
    time.sleep(RACY_NS / 1e9 + 0.2)
    our_ctag(fresh_server, calendar)  # the index now holds the changed file, settled
    shutil.copy2(backup, path)
    assert our_ctag(fresh_server, calendar) == original == stock_etag(fresh_server, calendar)


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_a_lost_or_corrupt_index_is_rebuilt_after_a_restart(fresh_server: Server, calendar: str,
                                                            damage: str) -> None:
    expected = our_ctag(fresh_server, calendar)
    fresh_server.stop()
    index = fresh_server.root / "data" / "collections" / ".Radicale.ext-item-index.sqlite"
    assert index.exists()
    for suffix in ("-wal", "-shm"):
        Path(str(index) + suffix).unlink(missing_ok=True)
    if damage == "delete":
        index.unlink()
    else:
        index.write_bytes(b"garbage" * 1000)
    fresh_server.start()
    assert our_ctag(fresh_server, calendar) == expected == stock_etag(fresh_server, calendar)


def test_an_entry_read_again_after_the_racy_window_is_settled_for_good(tmp_path: Path) -> None:
    """Every PUT indexes its file at once, so within RACY_NS of writing it: such an entry is read again by
    a process that starts later.  Read again after the window, it is settled and saved so: the next start
    reads nothing (before, every start of every process read every such item again, and parsed it)."""
    one = Folder(tmp_path)
    one.write("Familienfest 家庭.ics", "1")
    one.write("b.ics", "2")
    one.view()
    time.sleep(RACY_NS / 1e9 + 0.2)   # a real gap: the window has passed
    restarted = Folder(tmp_path)
    restarted.view()
    assert sorted(restarted.reader.asked) == ["Familienfest 家庭.ics", "b.ics"], "written within the window"
    again = Folder(tmp_path)
    view = again.view()
    assert again.reader.asked == [], "settled when read again after the window, and saved"
    assert view.token == restarted.view().token, "settling an entry is no change"
