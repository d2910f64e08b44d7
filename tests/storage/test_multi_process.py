"""Several server processes on one PostgreSQL database answer as one would (issue 16, docs/scale-out.md),
and so do the processes of ``radicale-ext serve --processes 3`` on one address (issue 17), on PostgreSQL and
on files.

Three servers on different ports of 127.0.0.1 share one database; every request of the clients below
goes to a random one of them (behind one address: on a connection of its own, to whichever process
accepts it).  Checked: concurrent read-modify-write with ``If-Match`` loses no
acknowledged write; ``If-None-Match: *`` creates once; one UID per calendar under concurrent PUTs;
a write acknowledged by one process is seen by the next request to any other; sync tokens read
anywhere never go backwards and an incremental sync never misses a change.

Collections made, renamed and deleted at the command line are seen by every process at once too.
The sharing database (shares, circles, invitations, the outbox) is in the same PostgreSQL database
(``[storage] postgresql_dsn``); shares, revocations, circle changes and notice workers across processes are
tested in tests/storage/test_multi_host_sharing.py.
"""

from __future__ import annotations

import itertools
import os
import re
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from .. import dav_kit as dav
from ..notice_kit import servers_run_with
from ..samples import event
from ..server import AnyServer, Server, make_server, servers_on_one_database

CAL = "/alice/" + "Gemeinsam%20%E5%AE%B6%E5%BA%AD" + "/"   # "Gemeinsam 家庭"
COUNTERS = [f"{CAL}counter-{n}.ics" for n in range(3)]
WRITERS = 6
ROUNDS = 8


_DATABASES = itertools.count()


@pytest.fixture(scope="module", params=["three hosts, PostgreSQL", "serve --processes 3, PostgreSQL",
                                        "serve --processes 3, files"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Three servers on one PostgreSQL database, each request to a random one; or one address where
    ``radicale-ext serve --processes 3`` answers (on PostgreSQL or on files), each request on a connection
    of its own, answered by whichever process accepts it."""
    root = tmp_path_factory.mktemp("cluster")
    dsn = request.getfixturevalue("postgres").create_database(f"mp{os.getpid()}_{next(_DATABASES)}") \
        if "PostgreSQL" in request.param else ""
    if request.param.startswith("three hosts"):
        with servers_on_one_database(root, dsn) as servers:
            yield servers
        return
    storage = {"storage": {"postgresql_dsn": dsn, "postgresql_pool_size": "4"}} if dsn else {}
    server = make_server(root / "host", processes=3, **storage).start()
    yield [server]
    server.stop()


def every_process(cluster: list[Server]) -> list[Server]:
    """Three servers to ask one after the other: the three hosts, or the one address three times."""
    return cluster if len(cluster) > 1 else cluster * 3


def counted(n: int) -> str:
    return f"count {n}"


def count_of(text: str) -> int:
    found = re.search(r"SUMMARY:count (\d+)", text)
    assert found, text
    return int(found.group(1))


def test_three_processes_answer_as_one(cluster: list[Server]) -> None:
    setup = AnyServer(cluster, 0)
    assert setup.request("MKCALENDAR", CAL, "alice").status_code == 201
    for href in COUNTERS:
        assert setup.request("PUT", href, "alice", event(href[-13:-4], counted(0)), headers=dav.ICS).status_code == 201

    acknowledged = {href: 0 for href in COUNTERS}
    created: list[int] = []
    same_uid: list[int] = []
    problems: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        client = AnyServer(cluster, 100 + n)
        done = 0
        while done < ROUNDS:
            href = client.rng.choice(COUNTERS)
            got = client.request("GET", href, "alice")
            if got.status_code != 200:
                problems.append(f"GET {href}: {got.status_code}")
                return
            value = count_of(got.text)
            put = client.request("PUT", href, "alice", event(href[-13:-4], counted(value + 1)),
                                 headers={**dav.ICS, "If-Match": got.headers["ETag"]})
            if put.status_code == 412:
                continue   # someone else wrote it in between: read again
            if put.status_code != 204:
                problems.append(f"PUT {href}: {put.status_code} {put.text[:200]}")
                return
            with lock:
                acknowledged[href] += 1
            done += 1
            # acknowledged by one process: the next request to any other sees it (or a later write)
            seen = client.request("GET", href, "alice")
            if seen.status_code != 200 or count_of(seen.text) < value + 1:
                problems.append(f"{href}: wrote {value + 1}, then read {seen.text[-120:]!r}")
        # all at once: If-None-Match creates one item once; one UID per calendar under different names
        r = client.request("PUT", f"{CAL}once.ics", "alice", event("once", f"by {n}"),
                           headers={**dav.ICS, "If-None-Match": "*"})
        created.append(r.status_code)
        r = client.request("PUT", f"{CAL}same uid {n}.ics".replace(" ", "%20"), "alice", event("same-uid", f"by {n}"),
                           headers=dav.ICS)
        same_uid.append(r.status_code)

    tokens: list[int] = []
    stop = threading.Event()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    watcher = threading.Thread(target=dav.syncer, args=(cluster, "alice", unquote(CAL), 7, stop, tokens, problems))
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    stop.set()
    watcher.join(120)
    assert not problems, problems
    assert tokens == sorted(tokens), "a sync token went backwards"
    assert len(set(tokens)) > 1

    # no acknowledged write lost: each counter holds exactly the number of acknowledged increments
    for server in every_process(cluster):
        for href in COUNTERS:
            r = server.request("GET", href, "alice")
            assert count_of(r.text) == acknowledged[href], (server.port, href, acknowledged)
    assert sum(acknowledged.values()) == WRITERS * ROUNDS
    assert sorted(created) == [201] + [412] * (WRITERS - 1)
    assert sorted(same_uid) == [201] + [409] * (WRITERS - 1)
    listings = [dav.listing(server, CAL, "alice") for server in every_process(cluster)]
    assert listings[0] == listings[1] == listings[2]
    tokens_now = {dav.parse_sync(dav.sync(server, CAL, "alice")).token for server in every_process(cluster)}
    assert len(tokens_now) == 1, "the processes hand out different tokens for the same state"


def shown_name(server: Server, path: str) -> str | None:
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop>'
            "</D:propfind>")
    r = server.request("PROPFIND", path, "alice", body, headers={"Depth": "0"})
    assert r.status_code == 207, (server.port, r.status_code)
    [(_, element)] = dav.responses(r.content)
    return dav.found_prop(element, "{DAV:}displayname")


def test_a_collection_made_at_the_command_line_is_seen_by_every_process(cluster: list[Server]) -> None:
    hosts = every_process(cluster)
    for server in hosts:   # each process has listed alice's home (and keeps what it read)
        assert server.request("PROPFIND", "/alice/", "alice", headers={"Depth": "1"}).status_code == 207
    hosts[0].ok("collection", "create", "alice/Neu 🎉", "--calendar", "--name", "Neues 家庭")
    path = "/alice/" + quote("Neu 🎉") + "/"
    assert [shown_name(server, path) for server in hosts] == ["Neues 家庭"] * 3
    hosts[1].ok("collection", "change", "alice/Neu 🎉", "--name", "Neu (Müller)")
    assert [shown_name(server, path) for server in hosts] == ["Neu (Müller)"] * 3
    hosts[2].ok("collection", "delete", "alice/Neu 🎉", "--yes")
    for server in hosts:
        assert server.request("PROPFIND", path, "alice", headers={"Depth": "0"}).status_code == 404


# Pauses a request of the server process started with RADICALE_EXT_TEST_PAUSE_MARKER as it is about to read
# item texts from PostgreSQL, while the marker file exists.
PAUSER = textwrap.dedent("""
    import os, time
    from radicale_ext.index import pg_items

    _texts = pg_items.PgItems.texts

    def texts(self, stored, hrefs):
        marker = os.environ.get("RADICALE_EXT_TEST_PAUSE_MARKER")
        if marker and os.path.exists(marker):
            open(marker + ".reached", "w").close()
            while os.path.exists(marker):
                time.sleep(0.02)
        return _texts(self, stored, hrefs)

    pg_items.PgItems.texts = texts
""")


def test_an_item_is_never_served_with_the_etag_of_another_version(
        postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request answers from the collection's rows it found (kept while the commit counter stands, which
    is read without the storage lock); a writer of another process may store a new version before the
    request reads the item's text.  The text must then come with its own ETag (a client would otherwise
    keep the new text under the old ETag, and its next If-Match would carry a lie)."""
    servers_run_with(PAUSER, tmp_path / "pauser", monkeypatch)
    marker = tmp_path / "pause"
    storage = {"storage": {"postgresql_dsn": postgres_database}}
    monkeypatch.setenv("RADICALE_EXT_TEST_PAUSE_MARKER", str(marker))
    reading = make_server(tmp_path / "reading", **storage).start()
    monkeypatch.delenv("RADICALE_EXT_TEST_PAUSE_MARKER")
    writing = make_server(tmp_path / "writing", **storage).start()
    try:
        cal = "/alice/" + quote("Müller 家庭") + "/"
        href = cal + quote("Fußball 🎉.ics")
        assert writing.request("MKCALENDAR", cal, "alice").status_code == 201
        first = writing.request("PUT", href, "alice", event("fussball", "Fußball v1"), headers=dav.ICS)
        assert first.status_code == 201
        assert len(dav.listing(reading, cal, "alice")) == 1   # the reading process has read the rows
        marker.touch()
        answers: list = []
        reader = threading.Thread(target=lambda: answers.append(dav.Client(reading.url).request(
            "REPORT", cal, "alice", dav.calendar_multiget([href]), headers={"Depth": "1"})))
        reader.start()
        deadline = time.monotonic() + 30
        while not (tmp_path / "pause.reached").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        second = writing.request("PUT", href, "alice", event("fussball", "Fußball v2"), headers=dav.ICS)
        assert second.status_code == 204
        marker.unlink()
        reader.join(30)
    finally:
        reading.stop()
        writing.stop()
    [(_, element)] = dav.responses(answers[0].content)
    etag = dav.found_prop(element, "{DAV:}getetag")
    text = dav.found_prop(element, "{urn:ietf:params:xml:ns:caldav}calendar-data") or ""
    assert (etag, "Fußball v2" in text) in {(first.headers["ETag"], False), (second.headers["ETag"], True)}, (
        etag, text)
