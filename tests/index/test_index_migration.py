"""An item index saved before the zone fixes is kept, not made anew, and its series are walked again: on files
(index version 6 to 7) and on PostgreSQL (the facts' version, ``dav_facts``).

Two time zone fixes changed a series' occurrences (a zone named without a VTIMEZONE: the series itself,
and later series of that zone in the same process, were an hour off across a change to summer time;
docs/performance.md).  An index saved before them may hold such shifted occurrences, which no later
request would correct while the file stays the same.  On opening a version-6 index the server reads
every series again on its next look at the folder: the shifted one is corrected and logged as a change,
the right one keeps its place in the log, and the clients' sync tokens stay valid (a new index would
have refused them all: every client syncing afresh)."""

from __future__ import annotations

import functools
import sqlite3
from array import array
from pathlib import Path

from .. import dav_kit as dav
from ..server import make_server
from .test_occurrences import BERLIN_ZONE
from .test_vobject_zones import found_at, weekly

INDEX_NAME = ".Radicale.ext-item-index.sqlite"
CAL = "/alice/Schwimmen%20M%C3%BCller%20%E6%B8%B8%E6%B3%B3/"


def series(uid: str, summary: str) -> str:
    return weekly(uid, "Europe/Berlin", "20260106T170000", "20260106T180000", summary, BERLIN_ZONE)


def shifted_by_an_hour(occurrences: bytes) -> bytes:
    """What the index held for a series walked with pytz's zone: every span an hour later after March."""
    numbers = array("q")
    numbers.frombytes(occurrences)
    count = numbers[2]
    for i in range(3, 3 + 2 * count):
        if numbers[i] >= 1774746000:   # 2026-03-29 01:00 UTC, Berlin's change to summer time
            numbers[i] += 3600
    return numbers.tobytes()


def test_a_version_6_index_is_kept_and_its_series_walked_again(tmp_path: Path) -> None:
    server = make_server(tmp_path / "server").start()
    try:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        for name, summary in (("schwimmen.ics", "Schwimmen 游泳 🏊"), ("chor%20%C3%BC.ics", "Chorprobe Müller 合唱")):
            r = server.request("PUT", CAL + name, "alice", series(name, summary), headers=dav.ICS)
            assert r.status_code == 201
        before = dav.parse_sync(dav.sync(server, CAL, "alice"))
        assert len(before.found) == 2
    finally:
        server.stop()
    index = server.root / "data" / "collections" / INDEX_NAME
    with sqlite3.connect(index) as db:   # as the version before left it, one series shifted
        (occurrences,) = db.execute("SELECT occurrences FROM entries WHERE href = 'schwimmen.ics'").fetchone()
        db.execute("UPDATE entries SET occurrences = ? WHERE href = 'schwimmen.ics'",
                   (shifted_by_an_hour(occurrences),))
        db.execute("PRAGMA user_version = 6")
    db.close()

    server = make_server(tmp_path / "server").start()
    try:
        at = functools.partial(found_at, server, CAL)
        assert at("20260407T150000Z", "20260407T151500Z") == ["chor%20%C3%BC.ics", "schwimmen.ics"]   # 17:00 CEST
        assert at("20260407T160000Z", "20260407T161500Z") == []
        since = dav.parse_sync(dav.sync(server, CAL, "alice", before.token))   # the token is still good
        assert [href.rsplit("/", 1)[-1] for href in since.found] == ["schwimmen.ics"]   # corrected, logged
        with sqlite3.connect(index) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == 7
        db.close()
    finally:
        server.stop()


def test_an_item_database_of_the_version_before_has_its_series_walked_again(postgres_database: str,
                                                                            tmp_path: Path) -> None:
    """On PostgreSQL the items' facts carry a version (``dav_facts``): a database without it (made before)
    has each series walked again from its stored text once, at the first start, before any request."""
    import psycopg

    storage = {"postgresql_dsn": postgres_database, "postgresql_pool_size": "2"}
    server = make_server(tmp_path / "pg", storage=storage).start()
    try:
        assert server.request("MKCALENDAR", CAL, "alice").status_code == 201
        for name, summary in (("schwimmen.ics", "Schwimmen 游泳 🏊"), ("chor%20%C3%BC.ics", "Chorprobe Müller 合唱")):
            r = server.request("PUT", CAL + name, "alice", series(name, summary), headers=dav.ICS)
            assert r.status_code == 201
    finally:
        server.stop()
    with psycopg.connect(postgres_database, autocommit=True) as db:   # as the version before left it
        (occurrences,) = db.execute("SELECT occurrences FROM dav_items WHERE href = 'schwimmen.ics'").fetchone()
        db.execute("UPDATE dav_items SET occurrences = %s WHERE href = 'schwimmen.ics'",
                   (shifted_by_an_hour(bytes(occurrences)),))
        db.execute("DROP TABLE dav_facts")

    server = make_server(tmp_path / "pg", storage=storage).start()
    try:
        at = functools.partial(found_at, server, CAL)
        assert at("20260407T150000Z", "20260407T151500Z") == ["chor%20%C3%BC.ics", "schwimmen.ics"]   # 17:00 CEST
        assert at("20260407T160000Z", "20260407T161500Z") == []
    finally:
        server.stop()
    with psycopg.connect(postgres_database, autocommit=True) as db:
        assert db.execute("SELECT version FROM dav_facts").fetchall() == [(2,)]
