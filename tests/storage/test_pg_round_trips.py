"""On PostgreSQL each round trip of a request is a wait for the interpreter when the process is busy, and a
PUT's round trips under the write lock are what every request of every process that needs the lock waits
for (docs/scale-out.md, "How it behaves").  Counted here from PostgreSQL's own log (``log_statement =
all``) of a real server: a ctag PROPFIND is one query, and a PUT of an existing event holds the write lock
for five round trips and its unlock.  (The collection's row and its view are remembered per process and
the sharing answers per request thread, until a commit moves the counters.)"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import quote

import psycopg

from .. import dav_kit as dav
from ..notice_kit import TEST_OPTIONS
from ..postgres_cluster import Cluster
from ..server import make_server

CALENDAR = "/alice/Familie Müller 家庭 🎉/"
EVENT = CALENDAR + quote("Fußball Training ⚽.ics")
#: one line per statement or query PostgreSQL received (a query of several statements is one line)
COUNTERS = "SELECT n, (SELECT n FROM dav_commits WHERE id = 1) FROM database_commits WHERE id = 1"
RECEIVED = re.compile(r"LOG:  (?:statement|execute [^:]*): ?(.*)")


def event(summary: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Familie Müller//DE\r\nBEGIN:VEVENT\r\n"
            "UID:fussball-training-足球\r\nDTSTAMP:20261201T080000Z\r\nDTSTART:20261208T170000Z\r\n"
            f"DURATION:PT1H30M\r\nRRULE:FREQ=WEEKLY;BYDAY=TU\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


#: the sharing database's answers a request thread remembers (plugins/rights.py), read again by a thread whose
#: copy predates the last write
SHARING_ANSWERS = re.compile(r"\bFROM (?:circle_members|circle_managers|circles|shares|share_terms|scope_members)\b")

def test_a_ctag_is_one_query_and_a_put_holds_the_write_lock_for_six_round_trips(
        postgres: Cluster, postgres_database: str, tmp_path: Path) -> None:
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{postgres_database.rsplit("/", 1)[1]}" SET log_statement = \'all\'')
    server = make_server(tmp_path / "pg", storage={"postgresql_dsn": postgres_database, "postgresql_pool_size": "2"},
                         hook=dict(TEST_OPTIONS)).start()   # no notice worker: nothing but the requests' queries
    log = postgres.folder / "log"

    def received_during(request: object) -> list[str]:
        before = len(log.read_text(errors="replace"))
        assert callable(request)
        request()
        time.sleep(0.3)   # the log is written by PostgreSQL's processes
        return [m[1] for m in RECEIVED.finditer(log.read_text(errors="replace")[before:])]

    try:
        assert server.request("MKCALENDAR", CALENDAR, "alice").status_code == 201
        for summary in ("Fußball Training ⚽", "Fußball Training 足球 ⚽"):
            assert server.request("PUT", EVENT, "alice", event(summary),
                                  headers={"Content-Type": "text/calendar"}).status_code in (201, 204)
        for _ in range(2):
            dav.ctag(server, CALENDAR, "alice")

        for _ in range(3):
            ctag = received_during(lambda: dav.ctag(server, CALENDAR, "alice"))
            # (a request thread that has not served alice yet reads her circles and mounts too: the sharing
            # answers are remembered per thread)
            assert ctag[0] == COUNTERS and not [s for s in ctag[1:] if "dav_" in s or "_commits" in s], (
                "both commit counters in one query; the collection's row and view are this process's", ctag)

        def put() -> None:
            r = server.request("PUT", EVENT, "alice", event("Fußball Training 足球 ⚽ (verschoben)"),
                               headers={"Content-Type": "text/calendar"})
            assert r.status_code == 204, r.text

        statements = received_during(put)
        locked = next(i for i, s in enumerate(statements) if s.startswith("SELECT pg_advisory_lock($1)"))
        unlocked = next(i for i, s in enumerate(statements) if s.startswith("SELECT pg_advisory_unlock($1)"))
        held = statements[locked + 1:unlocked]
        outbox = [s for s in held if "outbox" in s]
        assert len(outbox) == 2 and all(s.startswith("BEGIN; SELECT pg_advisory_xact_lock(") and s.endswith("COMMIT")
                                        for s in outbox), "the outbox's record and its mark as ready: one query each"
        assert len([s for s in held if "FROM dav_collections" in s]) == 1, "the rows read once under the lock"
        assert len(held) == 5, held   # the rows, the old item, the outbox twice, the item's write
        # a request thread whose remembered sharing answers are older than the last write (each thread keeps
        # its own, as for the ctag above) reads alice's circles and shares again: not the PUT's own round trips
        own = [s for s in statements if not SHARING_ANSWERS.search(s)]
        assert len(own) <= 10, statements
        assert "verschoben" in server.request("GET", EVENT, "alice").text
    finally:
        server.stop()
