"""The composer reads only what is new (radicale_ext/notices/compose.py ``_Untaken``).

A burst of writes leaves thousands of records waiting for their window to
close; the worker steps every second (and after each piece of work), and
reading and planning every waiting record on each step took a third of a
server's time under a stream of PUTs.  Here, on a real sharing database:
the composer makes exactly the notices planning everything makes, whatever
order records become ready in (a write finishing after a later one started),
at any step times, across windows; and a step with no new record and no
closed window reads no record at all.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from radicale_ext.base.database import Database
from radicale_ext.base.postgres import PostgresDatabase
from radicale_ext.notices import compose
from radicale_ext.notices.changes import ChangeNotices, ItemChange
from radicale_ext.notices.compose import NoticeComposer, plan
from radicale_ext.notices.outbox import Change, ChangeKind, Finished, Outbox
from radicale_ext.site import FEATURE_SCHEMAS

WINDOW = 60.0
ACTORS = ("bob", "Jürgen Müller", "王芳")
COLLECTIONS = ("/alice/家庭/", "/alice/Fußball 🎉/", "/alice/work%20plans/")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingOutbox(Outbox):
    """The real outbox, counting the records it reads."""

    read = 0

    def by_ids(self, ids: list[int], chunk: int = 500):
        found = super().by_ids(ids, chunk)
        self.read += len(found)
        return found


@pytest.fixture
def engine(sharing_database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], Database]:
    """Opens the composer's database on the engine this run is about (tests/conftest.py runs the notices'
    tests on SQLite and on PostgreSQL)."""
    if sharing_database == "postgresql":
        dsn = request.getfixturevalue("postgres_database")
        return lambda: PostgresDatabase.open(dsn, pool_size=2, schemas=FEATURE_SCHEMAS)
    return lambda: Database.open(str(tmp_path / "sharing.sqlite"), schemas=FEATURE_SCHEMAS)


def composer_on(db: Database, clock: Clock) -> tuple[Database, CountingOutbox, NoticeComposer]:
    outbox = CountingOutbox(db, clock)
    return db, outbox, NoticeComposer(db, outbox, ChangeNotices(db), window=WINDOW,
                                      is_private=lambda _c, item: item.startswith("me"))


def notices_of(db: Database) -> list[tuple[str, str, list[int]]]:
    """Each notice's collection, actor and the records it took."""
    rows = db.read("SELECT n.collection, n.actor, t.record_id FROM change_notices n"
                   " JOIN outbox_taken t ON t.notice_id = n.id ORDER BY n.id, t.record_id")
    made: dict[tuple[str, str, int], list[int]] = {}
    ids = db.read("SELECT notice_id, record_id FROM outbox_taken WHERE notice_id IS NOT NULL")
    notice_of = {record: notice for notice, record in ids}
    for collection, actor, record in rows:
        made.setdefault((collection, actor, notice_of[record]), []).append(record)
    return [(c, a, records) for (c, a, _n), records in made.items()]


@pytest.mark.parametrize("seed", range(4))
def test_the_composer_makes_what_planning_everything_makes(engine: Callable[[], Database], tmp_path: Path,
                                                           seed: int) -> None:
    rng = random.Random(seed)
    clock = Clock()
    db, outbox, composer = composer_on(engine(), clock)
    reference = Database.open(str(tmp_path / "reference.sqlite"), schemas=FEATURE_SCHEMAS)
    ref_db, ref_outbox, _ = composer_on(reference, clock)
    pending: list[tuple[int, int, Finished]] = []
    for _step in range(120):
        for _ in range(rng.choice((0, 0, 1, 3, 8))):   # writes begin (a pending record each)
            kind = rng.choice((ChangeKind.ITEM_CHANGED,) * 6 + (ChangeKind.COLLECTION_CREATED,))
            item = rng.choice(("a.ics", "b.ics", "me.vcf", "Anna Müller.vcf")) if kind is ChangeKind.ITEM_CHANGED \
                else None
            change = Change(kind=kind, actor=rng.choice(ACTORS), collection=rng.choice(COLLECTIONS), item=item)
            finished = Finished(kind=ChangeKind.ITEM_UPDATED if item else None, component="VEVENT", uid="u")
            pending.append((outbox.begin(change), ref_outbox.begin(change), finished))
        rng.shuffle(pending)    # writes end in any order
        for _ in range(rng.randint(0, len(pending))):
            mine, theirs, finished = pending.pop()
            outbox.finish({mine: finished})
            ref_outbox.finish({theirs: finished})
        clock.now += rng.choice((0.5, 1, 2, 7, 30, 61))
        composer.compose_due(clock.now)
        reference_step(ref_db, ref_outbox, clock.now)
    assert notices_of(db) == notices_of(ref_db)
    assert db.read("SELECT record_id FROM outbox_taken ORDER BY 1") == \
        ref_db.read("SELECT record_id FROM outbox_taken ORDER BY 1")
    assert len(notices_of(db)) > 10


def reference_step(db: Database, outbox: Outbox, now: float) -> None:
    """What composing did before: plan every untaken record, take the due groups and the quiet ones."""
    groups, quiet = plan(outbox.untaken(), now, WINDOW, lambda _c, item: item.startswith("me"))
    notices = ChangeNotices(db)
    with db.write() as w:
        for record in quiet:
            outbox.take(w, [record.id], None, now)
        for group in groups:
            first = group[0].change
            notice_id = notices.add(w, first.collection, first.actor, [ItemChange.from_record(r) for r in group], now)
            outbox.take(w, [r.id for r in group], notice_id, now)
    if groups or quiet:
        outbox.advance_watermark()


def test_a_step_with_nothing_new_reads_no_record(engine: Callable[[], Database]) -> None:
    clock = Clock()
    _db, outbox, composer = composer_on(engine(), clock)
    for n in range(300):
        record = outbox.begin(Change(kind=ChangeKind.ITEM_CHANGED, actor="bob", collection=COLLECTIONS[n % 3],
                                     item=f"{n}.ics"))
        outbox.finish({record: Finished(kind=ChangeKind.ITEM_UPDATED, component="VEVENT", uid=str(n))})
    assert composer.compose_due(clock.now) == 0, "every window is still open"
    assert outbox.read == 300
    for _ in range(5):
        clock.now += 5
        assert composer.compose_due(clock.now) == 0
    assert outbox.read == 300, "steps while nothing is new and no window closed read nothing"
    record = outbox.begin(Change(kind=ChangeKind.ITEM_CHANGED, actor="carol", collection=COLLECTIONS[0], item="x.ics"))
    outbox.finish({record: Finished(kind=ChangeKind.ITEM_UPDATED, component="VEVENT", uid="x")})
    composer.compose_due(clock.now)
    assert outbox.read == 301, "a new record is read, and only it"
    clock.now += WINDOW
    assert composer.compose_due(clock.now) == 4, "bob's three collections and carol's: four notices"
    assert outbox.read == 301


def test_a_step_plans_only_the_records_that_arrived_since(engine: Callable[[], Database],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream of writes (a bulk import): each step plans the records that arrived since the step before,
    into the groups it kept, not every waiting record again; taking records plans them all again."""
    clock = Clock()
    _db, outbox, composer = composer_on(engine(), clock)
    looked_at: list[int] = []
    told = compose._told
    monkeypatch.setattr(compose, "_told", lambda record: looked_at.append(record.id) or told(record))

    def write(n: int) -> int:
        record = outbox.begin(Change(kind=ChangeKind.ITEM_CHANGED, actor="Jürgen Müller",
                                     collection=COLLECTIONS[n % 3], item=f"Termin {n} 家庭.ics"))
        outbox.finish({record: Finished(kind=ChangeKind.ITEM_UPDATED, component="VEVENT", uid=str(n))})
        return record

    for n in range(200):
        write(n)
    assert composer.compose_due(clock.now) == 0
    assert len(looked_at) == 200
    for n in range(200, 210):   # one record, one step
        newest = write(n)
        clock.now += 1
        looked_at.clear()
        assert composer.compose_due(clock.now) == 0
        assert looked_at == [newest]
    clock.now += WINDOW   # the three windows close: three notices, 210 records taken
    assert composer.compose_due(clock.now) == 3
    later = write(210)
    looked_at.clear()
    clock.now += 1
    assert composer.compose_due(clock.now) == 0 and looked_at == [later]
