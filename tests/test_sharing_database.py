"""The sharing database's seam on both engines (tests/conftest.py runs this file on SQLite and on PostgreSQL):
one transaction stores all or nothing, the stores' one dialect means the same on both, every commit by
anyone changes the version, claims of work never hand a row out twice; and PostgreSQL's start-up checks:
an unreachable database stops the server and the command line with one sentence naming the DSN without
its password.  The stores themselves run on both engines in their own folders (sharing, notices, cards,
links, reminders)."""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from radicale_ext.base.database import Database, Writer
from radicale_ext.base.errors import DatabaseUnavailable
from radicale_ext.base.postgres import PostgresDatabase, PostgresWriter
from radicale_ext.notices import outbox as outbox_module
from radicale_ext.notices.changes import ChangeNotices, ItemChange
from radicale_ext.notices.delivery import DeliveryQueue, Planned
from radicale_ext.notices.outbox import (
    REMINDERS_FIRST_PASS,
    REMINDERS_READ_THROUGH,
    WATERMARK,
    Change,
    ChangeKind,
    Leases,
    Outbox,
)
from radicale_ext.site import FEATURE_SCHEMAS, Settings, Site
from radicale_ext.web.once import ShownOnce
from radicale_ext.web.sessions import SessionBook

from .notice_kit import TEST_OPTIONS, Mailbox, change_texts, put_event, smtp_server, worker_of
from .postgres_cluster import Cluster
from .server import free_port, make_server

Opener = Callable[..., Database]


@pytest.fixture
def opener(sharing_database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Opener]:
    """Opens the test's one database (each call: a new connection to it, as another process would)."""
    opened: list[Database] = []
    if sharing_database == "postgresql":
        dsn = request.getfixturevalue("postgres_database")

        def open_it(schemas: tuple[str, ...] = FEATURE_SCHEMAS) -> Database:
            opened.append(PostgresDatabase.open(dsn, pool_size=2, schemas=schemas))
            return opened[-1]
    else:
        def open_it(schemas: tuple[str, ...] = FEATURE_SCHEMAS) -> Database:
            opened.append(Database.open(str(tmp_path / "sharing.sqlite"), schemas=schemas))
            return opened[-1]
    yield open_it
    for db in opened:
        db.close()


def test_a_failed_write_stores_nothing_and_the_next_write_works(opener: Opener) -> None:
    db = opener()
    with pytest.raises(RuntimeError), db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES (?, ?)", ("家庭", 1))
        raise RuntimeError("half way")
    assert db.read("SELECT name FROM circles") == []
    with db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES (?, ?)", ("家庭", 1))
    assert db.read("SELECT name FROM circles") == [("家庭",)]


def test_a_read_inside_a_write_sees_the_write(opener: Opener) -> None:
    db, other = opener(), opener()
    with db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES (?, ?)", ("Fußball", 1))
        assert db.read_one("SELECT COUNT(*) FROM circles") == (1,)
        assert other.read_one("SELECT COUNT(*) FROM circles") == (0,), "others see it at the commit"


def test_the_one_dialect_means_the_same_on_both(opener: Opener) -> None:
    db = opener()
    now = 1_767_225_600.123456      # a time in seconds, to the microsecond: PostgreSQL's REAL would round it
    with db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES (?, ?)", ("🎉 party", 1))
        # INSERT OR IGNORE, a column named user (reserved in PostgreSQL), a literal with % and ?
        for _ in range(2):
            w.execute("INSERT OR IGNORE INTO circle_members(circle, user) VALUES (?, ?)", ("🎉 party", "Müller"))
        # INSERT OR REPLACE on a primary key of three columns
        for timing in ("hourly", "daily"):
            w.execute("INSERT OR REPLACE INTO notice_choices(user, collection, channel, timing) VALUES (?, ?, ?, ?)",
                      ("Müller", "/alice/家庭/", "email", timing))
        notice = ChangeNotices.add(w, "/alice/家庭/", "alice", [ItemChange(ChangeKind.ITEM_CREATED, at=now)], now)
        again = ChangeNotices.add(w, "/alice/家庭/", "alice", [ItemChange(ChangeKind.ITEM_CREATED, at=now)], now)
        named = w.execute("SELECT COUNT(*) FROM circle_members WHERE user = :user AND circle LIKE '%party'"
                          " AND circle != '?'", {"user": "Müller"}).fetchone()
        empty = w.execute("SELECT COUNT(*) FROM circles WHERE name NOT IN () AND name IN ('🎉 party')").fetchone()
    assert again == notice + 1, "ids are handed out in order (RETURNING)"
    assert db.read("SELECT user FROM circle_members") == [("Müller",)]
    assert db.read("SELECT timing FROM notice_choices") == [("daily",)]
    assert db.read_one("SELECT created_at FROM change_notices WHERE id = ?", (notice,)) == (now,)
    assert named == (1,) and empty == (1,)
    assert db.read("SELECT name FROM circles WHERE name > ? ORDER BY name", ("A",)) == [("🎉 party",)]


def test_a_database_holding_this_codes_schemas_is_opened_without_applying_them(
        opener: Opener, sharing_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CLI call and process start opens the database: once this code's schemas are applied (their
    digest recorded), an open only reads them, and moves no version (every host would drop its cached
    sharing answers); a table a newer version of the code adds is made at its first open."""
    first = opener()
    with first.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES (?, ?)", ("Familie Müller 家庭", 1))
    version = first.version()
    applied: list[str] = []
    for writer in (Writer, PostgresWriter):
        def noted(self: Writer, script: str, run: Callable[[Writer, str], None] = writer.executescript_safe) -> None:
            applied.append(script)
            run(self, script)
        monkeypatch.setattr(writer, "executescript_safe", noted)
    opener()
    assert applied == []
    if sharing_database == "postgresql":
        assert first.version() == version
    newer = "CREATE TABLE IF NOT EXISTS family_notes (circle TEXT PRIMARY KEY, note TEXT NOT NULL)"
    again = opener((*FEATURE_SCHEMAS, newer))
    assert newer in applied
    with again.write() as w:
        w.execute("INSERT INTO family_notes(circle, note) VALUES (?, ?)", ("Familie Müller 家庭", "Oma 🎂 am 3."))
    assert again.read_one("SELECT name FROM circles")[0] == "Familie Müller 家庭"   # nothing lost on the way
    applied.clear()
    opener((*FEATURE_SCHEMAS, newer))
    assert applied == []


def test_a_write_of_one_statement_stores_it_alone_and_answers_its_rows(opener: Opener, sharing_database: str
                                                                       ) -> None:
    """``write_one`` (the outbox inside a PUT's write lock; on PostgreSQL its values bound by us, the whole
    write one round trip): the values come back as given, a failed one stores nothing and leaves the
    connection usable, and it moves the version as a write of the same statement does."""
    db, other = opener(), opener()
    tricky = "O'Brien; DROP TABLE circles; -- 100% Müller 家庭 🎉 ? :name $1 %s"
    [(first,)] = db.write_one("INSERT INTO outbox(state, kind, actor, owner, collection, item, detail, created_at)"
                              " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                              ("pending", "item-created", tricky, "alice", "/alice/家庭/", "a b.ics", "{}", 1.5))
    [(second,)] = db.write_one("INSERT INTO outbox(state, kind, actor, owner, collection, item, detail, created_at)"
                               " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                               ("pending", "item-created", "bob", "alice", "/alice/家庭/", "c.ics", "{}", 2.5))
    assert second > first
    assert other.read("SELECT actor, created_at FROM outbox WHERE id = ?", (first,)) == [(tricky, 1.5)]
    assert db.write_one("UPDATE outbox SET state = 'ready' WHERE id = ?", (first,)) == []
    assert other.read_one("SELECT state FROM outbox WHERE id = ?", (first,)) == ("ready",)
    with pytest.raises(Exception, match="(?i)unique"):
        db.write_one("INSERT INTO circles(name, created_at) VALUES (?, ?) RETURNING name", ("家庭", 1))
        db.write_one("INSERT INTO circles(name, created_at) VALUES (?, ?) RETURNING name", ("家庭", 2))
    assert other.read("SELECT created_at FROM circles") == [(1,)], "the failed one stored nothing"
    before, writes = db.version(), db.thread_writes
    db.write_one("DELETE FROM outbox WHERE id = ?", (second,))
    if sharing_database == "postgresql":
        assert db.version() == before and db.thread_writes == writes, "bookkeeping only"
    writes = db.thread_writes
    assert db.write_one("INSERT INTO circles(name, created_at) VALUES (?, ?) RETURNING name",
                        ("Fußball ⚽", 3)) == [("Fußball ⚽",)], "the pool's connection works after the failure"
    assert db.version() != before and db.thread_writes == writes + 1, "a circle is an answer"
    assert other.read("SELECT name FROM circles ORDER BY created_at") == [("家庭",), ("Fußball ⚽",)]


def test_the_version_changes_on_every_commit_of_anyone(opener: Opener) -> None:
    db, other = opener(), opener()
    seen = {db.version()}
    with other.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES (?, ?)", ("a", 1))
    assert db.version() not in seen, "another's commit"
    seen.add(db.version())
    with db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES (?, ?)", ("b", 1))
    assert db.version() not in seen, "its own commit"


def test_a_workers_bookkeeping_leaves_the_version_and_a_share_moves_it(opener: Opener, sharing_database: str
                                                                      ) -> None:
    """An idle worker renews its lease every few seconds: on PostgreSQL that must not empty every host's
    caches of what shares grant (SQLite's version is its own: any commit moves it, answered in-process)."""
    db, worker = opener(), opener()
    before, writes_before = db.version(), db.thread_writes
    Leases(worker).hold("notices", "host:1:Müller", time.time(), 30)
    with worker.write() as w:
        w.execute("INSERT INTO meta(key, value) VALUES (?, ?)", ("家庭 watermark", "1"))
    if sharing_database == "postgresql":
        assert db.version() == before, "bookkeeping only"
    with worker.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES (?, ?)", ("Familie Müller", 1))
    assert db.version() != before, "a circle is an answer"
    assert db.thread_writes == writes_before, "the writes were another connection's"
    changed = db.version()
    with db.write() as w:
        w.execute("INSERT INTO circle_members(circle, user) VALUES (?, ?)", ("Familie Müller", "bob"))
    assert db.thread_writes == writes_before + 1 and db.version() != changed


def test_concurrent_claims_never_hand_a_delivery_out_twice(opener: Opener) -> None:
    """Six workers, each with its own connections (as on six hosts), claim a few at a time at once."""
    db = opener()
    now = time.time()
    with db.write() as w:
        notice = ChangeNotices.add(w, "/alice/家庭/", "alice", [ItemChange(ChangeKind.ITEM_CREATED, at=now)], now)
        DeliveryQueue.enqueue(w, [Planned(notice, f"user{n}", "email", now - 1) for n in range(300)], now)
    claimed: dict[str, list[int]] = collections.defaultdict(list)
    start = threading.Barrier(6)

    def work(name: str, queue: DeliveryQueue) -> None:
        start.wait()
        while batch := queue.claim(name, time.time(), lease=600, limit=7):
            claimed[name] += [d.id for d in batch]

    threads = [threading.Thread(target=work, args=(f"host-{n}", DeliveryQueue(opener()))) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    every = collections.Counter(i for ids in claimed.values() for i in ids)
    assert len(every) == 300 and set(every.values()) == {1}, "each delivery claimed by one worker, once"
    if db.engine == "postgresql":   # (SQLite's writers wait for each other: whoever is first may take all)
        assert len(claimed) > 1, "several claimed at once"


def test_a_killed_workers_claims_are_taken_over_when_its_lease_runs_out(opener: Opener) -> None:
    db = opener()
    now = time.time()
    with db.write() as w:
        notice = ChangeNotices.add(w, "/alice/家庭/", "alice", [ItemChange(ChangeKind.ITEM_CREATED, at=now)], now)
        DeliveryQueue.enqueue(w, [Planned(notice, f"user{n}", "email", now - 1) for n in range(5)], now)
    dead = DeliveryQueue(opener()).claim("other-host:1:dead", now, lease=30, limit=3)
    queue = DeliveryQueue(db)
    assert len(dead) == 3 and len(queue.claim("alive", now, lease=60)) == 2
    assert queue.claim("alive", now + 10, lease=60) == [], "held while the lease runs"
    assert sorted(d.id for d in queue.claim("alive", now + 31, lease=30)) == sorted(d.id for d in dead)


# -- PostgreSQL's start-up checks ------------------------------------------------------------------------


def test_an_unreachable_postgresql_stops_the_server_and_the_cli_with_one_sentence(tmp_path: Path,
                                                                                  postgres: Cluster) -> None:
    dsn = f"postgresql://radicale:s3cr3t-pw@127.0.0.1:{free_port()}/radicale"
    srv = make_server(tmp_path / "srv", storage={"postgresql_dsn": dsn})
    with pytest.raises(RuntimeError) as refused:
        srv.start()
    log = str(refused.value)
    assert "error: PostgreSQL " in log and "cannot be reached" in log and "postgresql_dsn" in log
    assert "s3cr3t-pw" not in log and "host=127.0.0.1" in log and "user=radicale" in log
    assert "Traceback" not in log
    done = srv.cli_process("circle", "list")
    assert done.returncode != 0 and "s3cr3t-pw" not in done.stderr
    assert done.stderr.count("\n") == 1 and "cannot be reached" in done.stderr, done.stderr
    assert not (tmp_path / "srv" / "data" / "sharing.sqlite").exists(), "no SQLite file made in its place"


def test_a_database_that_does_not_exist_is_named(postgres: Cluster) -> None:
    with pytest.raises(DatabaseUnavailable, match=r"dbname=no_such_db.*does not exist"):
        PostgresDatabase.open(postgres.dsn_of("no_such_db"))


# -- end to end: a server whose sharing database is in PostgreSQL ---------------------------------------


def test_sharing_invitations_and_an_email_notice_with_the_sharing_database_in_postgresql(
        tmp_path: Path, postgres_database: str) -> None:
    """A real server with ``[storage] postgresql_dsn``: alice invites bob to 家庭, bob accepts over HTTP, carol
    edits through her share, and bob gets the e-mail from a real SMTP server; nothing of it is in a file."""
    smtp_port = free_port()
    srv = make_server(tmp_path / "srv", storage={"postgresql_dsn": postgres_database},
                      hook={**TEST_OPTIONS, "smtp_server": "127.0.0.1", "smtp_port": str(smtp_port),
                            "from_email": "cal@example.org"}).start()
    mailbox = Mailbox()
    try:
        assert srv.request("MKCALENDAR", "/alice/家庭/", "alice").status_code == 201
        srv.ok("share", "add", "alice/家庭", "--user", "carol", "--role", "collaborator")
        srv.ok("invite", "alice/家庭", "--user", "bob", "--role", "subscriber", acting_as="alice")
        assert srv.request("PROPFIND", "/bob/家庭~alice/", "bob", headers={"Depth": "0"}).status_code == 404
        srv.ok("invitation", "accept", "alice/家庭", acting_as="bob")
        assert srv.request("PROPFIND", "/bob/家庭~alice/", "bob", headers={"Depth": "0"}).status_code == 207
        srv.ok("notices", "email", "bob@example.org", acting_as="bob")
        put_event(srv, "carol", "/carol/家庭~alice/party.ics", "party", "🎉 party bei Müller")
        with smtp_server(mailbox, smtp_port):
            worker_of(srv, own_database=True).run_until_idle()
        [mail] = mailbox.messages
        assert mail["To"] == "bob@example.org" and "🎉 party bei Müller" in mail.get_body().get_content()
        assert any("🎉 party bei Müller" in t for t in change_texts(srv, "bob"))
        site = Site(Settings.from_ini(str(srv.config)))
        try:
            assert site.db.engine == "postgresql"
            assert [g.mount for g in site.shares.grants_for("bob", frozenset())] == ["家庭~alice"]
        finally:
            site.db.close()
        assert not list((tmp_path / "srv" / "data").glob("*.sqlite")), "the sharing database is not a file"
        assert not (tmp_path / "srv" / "data" / "collections" / ".radicale-ext-database-id").exists()
    finally:
        srv.stop()


def test_a_bad_pool_size_stops_the_server_with_one_sentence(tmp_path: Path, postgres_database: str) -> None:
    srv = make_server(tmp_path / "srv", storage={"postgresql_dsn": postgres_database, "postgresql_pool_size": "0"})
    with pytest.raises(RuntimeError) as refused:
        srv.start()
    assert "[storage] postgresql_pool_size must be a whole number from 1, not '0'" in str(refused.value)
    assert "Traceback" not in str(refused.value)


def test_a_web_session_made_on_one_host_is_known_on_another_and_changes_no_rights(opener: Opener) -> None:
    """With the sharing database in PostgreSQL the page's sessions are in it (docs/scale-out.md)."""
    def book(db: Database) -> SessionBook:
        return SessionBook(db, user_exists=lambda _u: True, password_stamp=lambda _u: "stamp")

    here, there = opener(), opener()
    first, other = book(here), book(there)
    version = there.version()
    session_id, session = first.start("Müller")
    found = other.find(session_id)
    assert found is not None and (found.user, found.csrf) == ("Müller", session.csrf)
    if there.engine == "postgresql":
        assert there.version() == version, "a page view changes nothing a rights check compares"
    other.end(session_id)
    assert first.find(session_id) is None


def test_a_new_links_address_kept_on_one_host_is_shown_on_another_and_changes_no_rights(opener: Opener) -> None:
    """The page that shows a new link's address may be answered by another process or host than the form that
    made it (web/once.py): the address waits in the page's database, sealed for the session."""
    here, there = opener(), opener()
    made, shows = ShownOnce(here), ShownOnce(there)
    version = there.version()
    made.keep("Müller's session 🎉", "k3f9x2ab", "secret-家庭")
    assert shows.take("another session", "k3f9x2ab") is None
    assert shows.take("Müller's session 🎉", "k3f9x2ab") == "secret-家庭"
    assert made.take("Müller's session 🎉", "k3f9x2ab") is None   # once, wherever
    if there.engine == "postgresql":
        assert there.version() == version, "a new link's address changes nothing a rights check compares"


def test_the_outbox_forgets_only_what_every_reader_is_done_with(
        opener: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tidying removes old ready records up to the composer's watermark and the reminders' (or, during their
    first pass, the record it started from), never a pending one, one kept (set aside) or the newest."""
    db = opener()
    outbox = Outbox(db, clock=lambda: 1000.0)
    ids = [outbox.begin(Change(ChangeKind.ITEM_CHANGED, "anna", "/anna/Familie Müller/", f"e{i}.ics"))
           for i in range(8)]
    for record_id in ids:
        if record_id != ids[2]:   # one write a crash interrupted: pending until the next start settles it
            outbox.complete(record_id, kind=ChangeKind.ITEM_CREATED)

    def left_after(meta: dict[str, str], keep: frozenset[int] = frozenset(), before: float = 2000.0) -> list[int]:
        with db.write() as w:
            for key, value in meta.items():
                w.execute("DELETE FROM meta WHERE key = ?", (key,))
                w.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (key, value))
            Outbox.forget_read(w, before, keep)
        return [i for (i,) in db.read("SELECT id FROM outbox ORDER BY id")]

    assert left_after({WATERMARK: str(ids[5])}, before=1000.0) == ids, "none older than the tidying's limit"
    assert left_after({REMINDERS_FIRST_PASS: json.dumps({"mark": ids[1], "after": []})}) == ids[2:], \
        "the reminders' first pass started after the second record: the first two go"
    assert left_after({REMINDERS_READ_THROUGH: str(ids[3])}, keep=frozenset({ids[3]})) == ids[2:], \
        "the pending third stays, and the fourth, kept (set aside)"
    assert left_after({REMINDERS_READ_THROUGH: str(ids[7])}) == [ids[2], ids[6], ids[7]], \
        "the reminders have read all: up to the composer's watermark, the sixth"
    assert left_after({WATERMARK: str(ids[7])}) == [ids[2], ids[7]], "the newest stays, whoever read it"

    more = [outbox.begin(Change(ChangeKind.ITEM_CHANGED, "anna", "/anna/家庭/", f"m{i}.ics")) for i in range(4)]
    for record_id in more:
        outbox.complete(record_id, kind=ChangeKind.ITEM_CREATED)
    monkeypatch.setattr(outbox_module, "MOST_FORGOTTEN", 2)
    everyone_read = {WATERMARK: str(more[-1]), REMINDERS_READ_THROUGH: str(more[-1])}
    # a round looks at MOST_FORGOTTEN records at most (and those kept), the oldest first: the pending one is one
    assert left_after(everyone_read) == [ids[2], *more], "the pending third and the eighth looked at: the eighth goes"
    assert left_after(everyone_read) == [ids[2], *more[1:]]
    assert left_after(everyone_read) == [ids[2], *more[2:]]
