"""A request settles its outbox record without reading it back (notices/outbox.py ``Outbox._pending``): the
detail it stored when it began the record, and what it added since, are in the process's memory; the
record ends as it did when it was read back, on both engines, and a record begun elsewhere (another
process) is still read back and merged.  One statement fewer inside the storage's write lock for every
write (on PostgreSQL a round trip)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from radicale_ext.base.database import Database
from radicale_ext.base.postgres import PostgresDatabase
from radicale_ext.notices.outbox import PUSH_DONT_NOTIFY, Change, ChangeKind, Finished, Outbox
from radicale_ext.site import FEATURE_SCHEMAS

CHANGE = Change(kind=ChangeKind.ITEM_CHANGED, actor="alice", collection="/alice/家庭 Müller/", item="Zahnarzt 🦷.ics",
                etag='"e1"', push_dont_notify=("phone-1",))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "postgresql":
        database: Database = PostgresDatabase.open(request.getfixturevalue("postgres_database"), pool_size=2,
                                                   schemas=FEATURE_SCHEMAS)
    else:
        database = Database.open(str(tmp_path / "sharing.sqlite"), schemas=FEATURE_SCHEMAS)
    yield database
    database.close()


class _Seen:
    """A transaction's writer that notes each statement."""

    def __init__(self, writer: Any, statements: list[str]) -> None:
        self._writer, self._statements = writer, statements

    def execute(self, sql: str, params: Any = ()) -> Any:
        self._statements.append(" ".join(sql.split()))
        return self._writer.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


def noting(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    statements: list[str] = []
    write: Callable[..., Any] = db.write

    @contextlib.contextmanager
    def seen_write(**kwargs: Any) -> Iterator[_Seen]:
        with write(**kwargs) as writer:
            yield _Seen(writer, statements)
    monkeypatch.setattr(db, "write", seen_write)
    return statements


def detail_of(db: Database, record_id: int) -> tuple[str, dict[str, Any]]:
    record = next(r for r in Outbox(db).records(state="ready") if r.id == record_id)
    return record.component or "", record.detail


EXPECTED = {PUSH_DONT_NOTIFY: ["phone-1"], "audience": {"users": ["bob", "王芳"]}, "summary": "Zahnarzt Müller 🦷"}


def test_a_request_settles_its_record_without_reading_it_back(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox = Outbox(db)
    statements = noting(db, monkeypatch)
    record_id = outbox.begin(CHANGE)
    outbox.annotate(record_id, {"audience": {"users": ("bob", "王芳")}}, component="VEVENT")
    outbox.finish({record_id: Finished(uid="zahnarzt-1", detail={"summary": "Zahnarzt Müller 🦷"})})
    assert not [s for s in statements if s.startswith("SELECT")], statements
    assert detail_of(db, record_id) == ("VEVENT", EXPECTED)
    assert not outbox._pending   # nothing left behind once settled

    dropped = outbox.begin(CHANGE)
    outbox.discard(dropped)
    assert not outbox._pending
    assert all(r.id != dropped for r in outbox.records(state="pending") + outbox.records(state="ready"))


def test_a_record_begun_by_another_process_is_read_back(db: Database) -> None:
    record_id = Outbox(db).begin(CHANGE)
    another = Outbox(db)   # knows nothing of it
    another.annotate(record_id, {"audience": {"users": ["bob", "王芳"]}}, component="VEVENT")
    another.finish({record_id: Finished(uid="zahnarzt-1", detail={"summary": "Zahnarzt Müller 🦷"})})
    assert detail_of(db, record_id) == ("VEVENT", EXPECTED)
    records = [(r.id, r.state, r.detail) for r in another.records(state="ready")]
    another.finish({10**9: Finished(detail={"summary": "niemand"})})   # no such record: nothing changes
    assert [(r.id, r.state, r.detail) for r in another.records(state="ready")] == records


def test_the_memory_of_pending_records_is_bounded(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records of requests that died between begin and end (settled at the next start) are not kept for ever."""
    monkeypatch.setattr("radicale_ext.notices.outbox.MOST_REMEMBERED", 3)
    outbox = Outbox(db)
    ids = [outbox.begin(CHANGE) for _ in range(7)]
    assert len(outbox._pending) <= 3
    outbox.finish({ids[0]: Finished(detail={"summary": "erste"})})   # forgotten: read back
    assert detail_of(db, ids[0])[1] == {PUSH_DONT_NOTIFY: ["phone-1"], "summary": "erste"}
