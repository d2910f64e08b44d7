"""The item index (radicale_ext.item_index) and the collection ETag it serves.

Core tests run the index on its own; the server tests compare our CS:getctag
with stock Radicale's collection ETag computed from the same folder, across
hand edits, restores and a lost or corrupt index.
"""

from __future__ import annotations

import os
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from radicale import config
from radicale.storage import multifilesystem

from radicale_ext.item_index import RACY_NS, FileStamp, ItemIndex, collection_etag

from .server import Server

# -- the index on its own -----------------------------------------------------

OLD = 1_000_000_000_000_000_000  # ns: long before "now", so entries are settled


def stamp(inode: int, size: int = 10, mtime: int = OLD) -> FileStamp:
    return FileStamp(inode=inode, mtime_ns=mtime, ctime_ns=mtime, size=size)


class Asked:
    """An ``etag_of`` that records which hrefs it was asked about."""

    def __init__(self, etags: dict[str, str | None]) -> None:
        self.etags = etags
        self.asked: list[str] = []

    def __call__(self, href: str) -> str | None:
        self.asked.append(href)
        return self.etags[href]


def test_settled_files_are_answered_from_the_index(tmp_path: Path) -> None:
    index = ItemIndex(tmp_path / "index.sqlite")
    listing = [("b.ics", stamp(2)), ("a.ics", stamp(1))]
    first = Asked({"a.ics": '"ea"', "b.ics": '"eb"'})
    assert index.etags("alice/cal", listing, first) == [("b.ics", '"eb"'), ("a.ics", '"ea"')]
    assert sorted(first.asked) == ["a.ics", "b.ics"]
    again = Asked({})
    assert index.etags("alice/cal", listing, again) == [("b.ics", '"eb"'), ("a.ics", '"ea"')]
    assert again.asked == []


def test_a_changed_stamp_is_asked_again(tmp_path: Path) -> None:
    index = ItemIndex(tmp_path / "index.sqlite")
    index.etags("c", [("a.ics", stamp(1))], Asked({"a.ics": '"old"'}))
    for changed in (stamp(1, size=11), stamp(9), stamp(1, mtime=OLD + 1)):
        asked = Asked({"a.ics": '"new"'})
        assert index.etags("c", [("a.ics", changed)], asked) == [("a.ics", '"new"')]
        assert asked.asked == ["a.ics"]


def test_a_recently_written_file_is_asked_until_it_settles(tmp_path: Path) -> None:
    index = ItemIndex(tmp_path / "index.sqlite")
    recent = stamp(1, mtime=time.time_ns() - RACY_NS // 2)
    for _ in range(2):
        asked = Asked({"a.ics": '"e"'})
        index.etags("c", [("a.ics", recent)], asked)
        assert asked.asked == ["a.ics"]


def test_files_that_are_no_items_are_left_out_and_not_remembered(tmp_path: Path) -> None:
    index = ItemIndex(tmp_path / "index.sqlite")
    for _ in range(2):
        asked = Asked({"broken.ics": None})
        assert index.etags("c", [("broken.ics", stamp(1))], asked) == []
        assert asked.asked == ["broken.ics"]


def test_removed_files_leave_the_index_and_it_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    index = ItemIndex(path)
    index.etags("c", [("a.ics", stamp(1)), ("b.ics", stamp(2))], Asked({"a.ics": '"a"', "b.ics": '"b"'}))
    index.etags("c", [("a.ics", stamp(1))], Asked({}))
    reopened = ItemIndex(path)
    asked = Asked({"b.ics": '"b2"'})
    assert reopened.etags("c", [("a.ics", stamp(1)), ("b.ics", stamp(2))], asked) == [("a.ics", '"a"'),
                                                                                         ("b.ics", '"b2"')]
    assert asked.asked == ["b.ics"]


def test_a_corrupt_index_file_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    index = ItemIndex(path)
    asked = Asked({"a.ics": '"a"'})
    assert index.etags("c", [("a.ics", stamp(1))], asked) == [("a.ics", '"a"')]
    assert ItemIndex(path).etags("c", [("a.ics", stamp(1))], Asked({})) == [("a.ics", '"a"')]


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
