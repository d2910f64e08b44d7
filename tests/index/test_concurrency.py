"""Several writers and readers at once: threads against one server process, against two
server processes of ours sharing one data folder, and against ``radicale-ext serve --processes 2``
(two server processes accepting from one address) on files and on PostgreSQL.

The second ``radicale_ext.plugins.server`` process runs on a copy of the
first one's config file that differs only in ``[server] hosts`` (both deliver
change notices with their own thread, ``[hook] notices_worker = thread``; in
the one-process variant "both processes" are the same one).  Behind one
address "process 0" and "process 1" are the same address, and every request
is sent on a connection of its own, so that each is answered by whichever
process accepts it: a writer's read-back, a reader's next request and a
sync with the token another process gave land on either, as a client's do.

Writer threads, each owning a few items of a calendar or an address book, PUT
versions v1, v2, ... of them (the version is in the text) and delete and
recreate some, alternating between the two processes; after each write they
read it back from the other process. Reader threads loop on GET, depth-1
PROPFIND, CS:getctag and sync-collection followed by a multiget of what was
reported, keeping a copy (href: ETag) per server process.

Invariants, not timings: no request fails (no 5xx, no exception); every item
text read is complete and equal to a version its writer wrote (never torn),
and the ETag served with it is the one that version got when it was written;
a writer reads back what it just wrote; the version of an item a reader sees
never decreases (sync answers included); a sync token is accepted by the
process that issued it; after the writers stop, one incremental sync per copy
makes it exactly the server's depth-1 listing, both processes list the same,
and the ctag is the same from both (and equals stock Radicale's collection
ETag of the folder).  A reader that uses one token with both processes of two
addresses may be refused (403 DAV:valid-sync-token) and then syncs afresh;
behind one address it never is (the client cannot choose the process).
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from .. import dav_kit as dav
from ..postgres_cluster import Cluster
from ..samples import address_book_mkcol
from ..server import Server, make_server, second_process

CAL = "/alice/conc/"
BOOK = "/alice/concbook/"
ROUNDS = 16
ITEMS_PER_WRITER = 3
#: (collection, process the writer starts with): two calendar writers and one card writer per process
WRITERS = [(CAL, 0), (CAL, 0), (BOOK, 0), (CAL, 1), (CAL, 1), (BOOK, 1)]
READERS = 3  # two keep one copy per process; the last uses one token with both processes
MIN_ROUNDS = 4  # each reader's rounds, however fast the writers are


def item_text(path: str, uid: str, version: int) -> str:
    """Version ``version`` of an item, a few KB (folded lines) so that a torn read shows."""
    padding = "-".join(f"{uid}-v{version}" for _ in range(60))
    if path == CAL:
        return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//concurrency//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T180000Z\r\nDURATION:PT1H\r\n"
                f"SUMMARY:{uid} v{version}\r\nDESCRIPTION:{padding}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Card {uid}\r\nN:{uid};Card;;;\r\n"
            f"NOTE:{uid} v{version} {padding}\r\nEND:VCARD\r\n")


@dataclass
class Written:
    """Everything the writers wrote: each href's versions (as sorted unfolded lines) and each ETag's version."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    versions: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    etags: dict[str, tuple[str, int]] = field(default_factory=dict)
    etag_sources: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    last: dict[str, int | None] = field(default_factory=dict)  # href: the version its writer left (None: deleted)

    def add(self, href: str, version: int, text: str) -> None:
        with self.lock:
            self.versions.setdefault(href, {})[version] = dav.unfolded_lines(text)

    def learn(self, etag: str, href: str, version: int, how: str) -> None:
        """The text of ``version`` was served with ``etag`` (``how``: by which request)."""
        with self.lock:
            known = self.etags.setdefault(etag, (href, version))
            first = self.etag_sources.setdefault(etag, how)
        if known != (href, version):
            self.fail(f"ETag {etag} came with {known[0]} v{known[1]} ({first}) and with {href} v{version} ({how})")

    def version_of(self, href: str, text: str) -> int | None:
        """The version ``text`` is, or None (and a failure) when it is none the writer wrote."""
        lines = dav.unfolded_lines(text)
        with self.lock:
            candidates = dict(self.versions.get(href, {}))
        for version, written in candidates.items():
            if written == lines:
                return version
        self.fail(f"{href}: a text that is no version written (torn or foreign): {text[:200]!r}...{text[-120:]!r}")
        return None

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)


def checked(response: requests.Response, allowed: tuple[int, ...], what: str, written: Written) -> bool:
    if response.status_code not in allowed:
        written.fail(f"{what}: {response.status_code} {response.text[:300]!r}")
        return False
    return True


def run(name: str, body: Callable[[], None], written: Written) -> threading.Thread:
    def target() -> None:
        try:
            body()
        except Exception:
            written.fail(f"{name}: {traceback.format_exc()}")
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


# -- writers --------------------------------------------------------------------------


def client_of(server: Server) -> dav.Client:
    """A client of its own; of several processes behind one address, one that connects for each request."""
    return dav.Client(server.url, fresh_connections=server.processes != 1)


def writer(number: int, path: str, first: int, servers: list[Server], written: Written) -> Callable[[], None]:
    def body() -> None:
        clients = [client_of(server) for server in servers]
        rng = random.Random(number)
        uids = [f"w{number}-{i}" for i in range(ITEMS_PER_WRITER)]
        version = dict.fromkeys(uids, 0)
        present = dict.fromkeys(uids, False)
        done: dict[str, list[str]] = {uid: [] for uid in uids}  # what was done to each item, for messages
        ext = ".ics" if path == CAL else ".vcf"
        headers = dav.ICS if path == CAL else dav.VCF
        for round_ in range(ROUNDS):
            for uid in uids:
                href = f"{path}{uid}{ext}"
                to, other = (first + round_) % 2, (first + round_ + 1) % 2
                before = f"(before: {'; '.join(done[uid][-3:]) or 'nothing'})"
                if present[uid] and rng.random() < 0.15:
                    r = clients[to].request("DELETE", href, "alice")
                    done[uid].append(f"DELETE via process {to}: {r.status_code}")
                    if checked(r, (200, 204), f"DELETE {href} via process {to} {before}", written):
                        present[uid] = False
                        r = clients[other].request("GET", href, "alice")
                        done[uid].append(f"GET via process {other}: {r.status_code}")
                        checked(r, (404,), f"GET {href} via process {other} after its DELETE", written)
                    continue
                version[uid] += 1
                text = item_text(path, uid, version[uid])
                written.add(href, version[uid], text)
                r = clients[to].request("PUT", href, "alice", text, headers=headers)
                done[uid].append(f"PUT v{version[uid]} via process {to}: {r.status_code}")
                if not checked(r, (201, 204), f"PUT {href} v{version[uid]} via process {to} {before}", written):
                    continue
                present[uid] = True
                if r.headers.get("ETag"):
                    written.learn(r.headers["ETag"], href, version[uid], f"PUT v{version[uid]} via process {to}")
                r = clients[other].request("GET", href, "alice")
                done[uid].append(f"GET via process {other}: {r.status_code}")
                if checked(r, (200,), f"GET {href} via process {other} after PUT v{version[uid]}", written):
                    got = written.version_of(href, r.text)
                    if got != version[uid]:
                        written.fail(f"{href}: wrote v{version[uid]} via process {to}, "
                                     f"process {other} then served v{got}")
                    if r.headers.get("ETag") and got is not None:
                        written.learn(r.headers["ETag"], href, got, f"GET via process {other} after PUT")
        with written.lock:
            for uid in uids:
                written.last[f"{path}{uid}{ext}"] = version[uid] if present[uid] else None
        for client in clients:
            client.close()
    return body


# -- readers ----------------------------------------------------------------------------


@dataclass
class Copy:
    """A client's copy of one collection, kept by sync-collection: its token and {href: ETag}."""

    token: str = ""
    items: dict[str, str] = field(default_factory=dict)


class Reader:
    def __init__(self, number: int, servers: list[Server], written: Written, shared_token: bool) -> None:
        self.name = f"reader {number}"
        self.clients = [client_of(server) for server in servers]
        self.written = written
        self.rng = random.Random(100 + number)
        self.shared_token = shared_token
        # one copy per process and collection, or (shared_token) one per collection for both processes
        self.copies: dict[tuple[int, str], Copy] = {}
        self.seen: dict[str, int] = {}  # href: highest version this reader has seen
        self.refused = 0  # tokens of one process refused by the other (shared_token only)
        self.rounds = 0

    def copy(self, server: int, path: str) -> Copy:
        return self.copies.setdefault((0 if self.shared_token else server, path), Copy())

    def saw(self, href: str, version: int | None, how: str) -> None:
        if version is None:
            return
        if version < self.seen.get(href, 0):
            self.written.fail(f"{self.name}: {href} went back from v{self.seen[href]} to v{version} ({how})")
        self.seen[href] = max(version, self.seen.get(href, 0))

    def text(self, href: str, etag: str | None, text: str, how: str) -> None:
        version = self.written.version_of(href, text)
        self.saw(href, version, how)
        if etag and version is not None:
            self.written.learn(etag, href, version, f"{self.name}: {how}")

    def loop(self, stop: threading.Event) -> Callable[[], None]:
        def body() -> None:
            while not stop.is_set() or self.rounds < MIN_ROUNDS:
                server = self.rounds % 2
                self.rounds += 1
                path = self.rng.choice([CAL, BOOK])
                self.one_round(server, path)
        return body

    def one_round(self, server: int, path: str) -> None:
        client, w = self.clients[server], self.written
        with w.lock:
            hrefs = sorted(h for h in w.versions if h.startswith(path))
        if hrefs:
            href = self.rng.choice(hrefs)
            r = client.request("GET", href, "alice")
            if checked(r, (200, 404), f"{self.name}: GET {href}", w) and r.status_code == 200:
                self.text(href, r.headers.get("ETag"), r.text, f"GET from process {server}")
        r = client.request("PROPFIND", path, "alice", dav.PROPFIND_LISTING, headers={"Depth": "1"})
        if checked(r, (207,), f"{self.name}: PROPFIND {path}", w):
            for href, element in dav.responses(r.content):
                if href.rstrip("/") == path.rstrip("/"):
                    continue
                etag = dav.found_prop(element, "{DAV:}getetag")
                with w.lock:
                    known, owner = href in w.versions, w.etags.get(etag or "")
                if not known or not etag or (owner is not None and owner[0] != href):
                    w.fail(f"{self.name}: PROPFIND {path} listed {href} with ETag {etag} (known: {known}, {owner})")
                elif owner is not None:
                    self.saw(href, owner[1], f"PROPFIND of process {server}")
        r = client.request("PROPFIND", path, "alice", dav.PROPFIND_CTAG, headers={"Depth": "0"})
        if checked(r, (207,), f"{self.name}: ctag of {path}", w):
            got = [dav.found_prop(e, "{http://calendarserver.org/ns/}getctag") for _, e in dav.responses(r.content)]
            if len(got) != 1 or not got[0]:
                w.fail(f"{self.name}: no CS:getctag for {path}: {r.text[:300]}")
        self.sync(server, path)

    def sync(self, server: int, path: str) -> bool:
        """One sync-collection of the copy with process ``server``, then a multiget of what it reported."""
        client, w, copy = self.clients[server], self.written, self.copy(server, path)
        r = dav.sync(client, path, "alice", copy.token)
        if self.shared_token and copy.token and dav.rejects_token(r):
            self.refused += 1
            copy.token, copy.items = "", {}
            r = dav.sync(client, path, "alice", "")
        if not checked(r, (207,), f"{self.name}: sync-collection of {path} with process {server}'s token "
                                  f"{copy.token!r}", w):
            return False
        answer = dav.parse_sync(r)
        if answer.duplicates or not answer.token:
            w.fail(f"{self.name}: sync-collection of {path}: duplicates {answer.duplicates}, token {answer.token!r}")
        for href, etag in answer.found.items():
            with w.lock:
                owner = w.etags.get(etag)
            if owner is not None and owner[0] != href:
                w.fail(f"{self.name}: sync reported {href} with the ETag of {owner}")
            elif owner is not None:
                self.saw(href, owner[1], f"sync-collection of process {server}")
        for href in answer.gone:
            copy.items.pop(href, None)
        if answer.found:
            multiget = dav.calendar_multiget if path == CAL else dav.addressbook_multiget
            r = client.request("REPORT", path, "alice", multiget(sorted(answer.found)), headers={"Depth": "1"})
            if not checked(r, (207,), f"{self.name}: multiget {path}", w):
                return False
            data_tag = "{%s}%s" % ((dav.CALDAV, "calendar-data") if path == CAL else (dav.CARDDAV, "address-data"))
            answered = set()
            for href, element in dav.responses(r.content):
                answered.add(href)
                etag = dav.found_prop(element, "{DAV:}getetag")
                data = dav.found_prop(element, data_tag)
                if etag is None or data is None:  # deleted since the sync
                    copy.items.pop(href, None)
                    continue
                self.text(href, etag, data, f"multiget from process {server}")
                copy.items[href] = etag
            if answered != set(answer.found):
                w.fail(f"{self.name}: multiget of {sorted(answer.found)} answered {sorted(answered)}")
        copy.token = answer.token
        return True


# -- the test -------------------------------------------------------------------------------


_DATABASES = itertools.count()
BEHIND_ONE_ADDRESS = ("serve --processes 2", "serve --processes 2, PostgreSQL")


@pytest.fixture(params=["one process", "two processes", *BEHIND_ONE_ADDRESS])
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Server]]:
    """[process 0, process 1]: the same process twice (threads only), two processes on one folder, or one
    address where two processes accept (``radicale-ext serve --processes 2``) on files or on PostgreSQL."""
    if request.param in BEHIND_ONE_ADDRESS:
        overrides = {}
        if request.param.endswith("PostgreSQL"):
            cluster: Cluster = request.getfixturevalue("postgres")
            overrides["storage"] = {"postgresql_dsn": cluster.create_database(f"conc{os.getpid()}_{next(_DATABASES)}"),
                                    "postgresql_pool_size": "4"}
        several = make_server(tmp_path / "server", processes=2, **overrides).start()
        yield [several, several]
        several.stop()
        return
    first = make_server(tmp_path / "server").start()
    if request.param == "one process":
        yield [first, first]
        first.stop()
        return
    second = second_process(first, tmp_path / "second")
    try:
        second.start()
        yield [first, second]
    finally:
        second.stop()
        first.stop()


def test_writers_and_readers_at_once(servers: list[Server]) -> None:
    first = servers[0]
    assert first.request("MKCALENDAR", CAL, "alice").status_code == 201
    assert first.request("MKCOL", BOOK, "alice", address_book_mkcol("conc")).status_code == 201
    written = Written()
    stop = threading.Event()
    readers = [Reader(n, servers, written, shared_token=n == READERS - 1) for n in range(READERS)]
    reading = [run(r.name, r.loop(stop), written) for r in readers]
    writing = [run(f"writer {n}", writer(n, path, start, servers, written), written)
               for n, (path, start) in enumerate(WRITERS)]
    for thread in writing:
        thread.join(120)
    stop.set()
    for thread in reading:
        thread.join(120)
    assert not any(t.is_alive() for t in writing + reading), "a thread is stuck"
    assert not written.failures, "\n".join(written.failures[:20])
    assert all(r.seen for r in readers), "every reader has read items"
    if first.processes != 1:
        assert readers[-1].refused == 0, "behind one address, a token one process gave was refused by another"

    # the writers have stopped: one more incremental sync makes every copy the listing
    for path in (CAL, BOOK):
        listings = [dav.listing(s, path, "alice") for s in servers]
        assert listings[0] == listings[1], (path, "the two processes list different items")
        left = {href for href, version in written.last.items() if href.startswith(path) and version is not None}
        assert set(listings[0]) == left, (path, "listed", sorted(listings[0]), "left by the writers", sorted(left))
        for reader in readers:
            for server in (0, 1):
                token = reader.copy(server, path).token
                assert reader.sync(server, path), (reader.name, server, path, written.failures)
                assert reader.copy(server, path).items == listings[server], (
                    reader.name, f"process {server}", path, "token", token)
        ctags = [dav.ctag(s, path, "alice") for s in servers]
        assert ctags[0] == ctags[1], (path, "the ctag differs between the two processes")
        stored = (dav.stock_state_of_rows(first.sharing_dsn, path) if first.sharing_dsn
                  else dav.stock_state(first.root / "data" / "collections", path))
        assert ctags[0] == stored[0], path
        for href, etag in listings[0].items():
            for server in servers:
                r = server.request("GET", href, "alice")
                assert r.status_code == 200 and r.headers.get("ETag") == etag, (href, r.status_code)
                assert written.version_of(href, r.text) == written.last[href], (href, "not the last version")
    assert not written.failures, "\n".join(written.failures[:20])
    print("\nrounds per reader:", [r.rounds for r in readers],
          "; tokens refused across processes:", readers[-1].refused)
