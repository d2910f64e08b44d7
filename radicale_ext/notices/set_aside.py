"""Work set aside: what the worker could not do, kept for the admin instead of tried forever.

The worker's stages take work in order: outbox records become notices
(*compose*), notices reach their recipients (*hand-out*), calendar items get
their reminders planned (*reminder-plan*), due reminders are sent
(*reminder*).  When one piece of that work raises an error that is not the
database's (a bug, or input nobody foresaw), retrying it cannot help and
would stop everything behind it: the stage sets that piece aside here,
in the same transaction that moves past it, logs it once (with its
traceback), and goes on with the next.

Set-aside work is listed with the dead deliveries (``radicale-ext notices
dead``, as ``S<id>``) and tried again only when the admin says so
(``radicale-ext notices retry S<id>``, or ``--all``): each stage registers how
its work is put back (:meth:`SetAside.on_retry`).  Errors of the database
itself (locked, full, gone) are not set aside: the stage stops and the worker
tries again on its next round (:func:`transient`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..base import database
from ..base.database import Database, Writer

logger = logging.getLogger("radicale_ext.notices")

SCHEMA = """
CREATE TABLE IF NOT EXISTS notices_set_aside (
    id      INTEGER PRIMARY KEY,
    stage   TEXT NOT NULL,
    subject TEXT NOT NULL,
    about   TEXT NOT NULL,
    error   TEXT NOT NULL,
    at      REAL NOT NULL,
    UNIQUE (stage, subject)
)
"""

COMPOSE, HAND_OUT, REMINDER_PLAN, REMINDER = "compose", "hand-out", "reminder-plan", "reminder"
PREFIX = "S"

PutBack = Callable[[Writer, Mapping[str, Any]], None]


def transient(error: BaseException) -> bool:
    """An error of the database itself (locked, full, unreadable), which the next round may not meet:
    never a reason to set work aside.  A constraint the work breaks (``IntegrityError``) is the work's."""
    return database.transient(error)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


@dataclass(frozen=True)
class SetAsideWork:
    id: int
    stage: str
    subject: Mapping[str, Any]   # what the stage needs to put it back (record ids, a notice id ...)
    about: str                   # the collection and item, as the admin names them
    error: str
    at: float

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.id}"


def parse_name(text: str) -> int | None:
    """"S12" (or "s12") -> 12; None for anything else."""
    text = text.strip()
    if text[:1].upper() == PREFIX and text[1:].isdigit() and len(text) <= 19:
        return int(text[1:])
    return None


class SetAside:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._put_back: dict[str, PutBack] = {}

    def on_retry(self, stage: str, put_back: PutBack) -> None:
        """How work of ``stage`` is put back in its queue (inside the retry's transaction)."""
        self._put_back[stage] = put_back

    @staticmethod
    def add(w: Writer, stage: str, subject: Mapping[str, Any], about: str, error: BaseException,
            now: float) -> int | None:
        """Inside ``w``: set work aside and log it (once: the same work set aside again is not logged again)."""
        text = describe(error)
        row = w.execute("INSERT OR IGNORE INTO notices_set_aside(stage, subject, about, error, at)"
                        " VALUES (?, ?, ?, ?, ?) RETURNING id",
                        (stage, json.dumps(subject, sort_keys=True), about, text, now)).fetchone()
        if row is None:
            return None
        logger.error("notices: %s of %s set aside as %s%d after an error it cannot get past: %s "
                     "(list: 'radicale-ext notices dead'; retry: 'radicale-ext notices retry %s%d')",
                     stage, about, PREFIX, row[0], text, PREFIX, row[0], exc_info=error)
        return row[0]

    def all(self, limit: int = 1000) -> list[SetAsideWork]:
        return [_work(r) for r in self._db.read(
            "SELECT id, stage, subject, about, error, at FROM notices_set_aside ORDER BY id LIMIT ?", (limit,))]

    def retry(self, ids: Sequence[int] | None) -> tuple[int, list[SetAsideWork]]:
        """Put set-aside work back (``ids`` None: all of it); returns how many, and what no stage here
        knows how to put back (reminders, when they are off), which stays set aside."""
        done, left = 0, []
        with self._db.write() as w:
            rows = [_work(r) for r in w.execute("SELECT id, stage, subject, about, error, at FROM notices_set_aside"
                                                " ORDER BY id").fetchall()]
            for work in rows:
                if ids is not None and work.id not in ids:
                    continue
                put_back = self._put_back.get(work.stage)
                if put_back is None:
                    left.append(work)
                    continue
                put_back(w, work.subject)
                w.execute("DELETE FROM notices_set_aside WHERE id = ?", (work.id,))
                done += 1
        return done, left

    @staticmethod
    def forget(w: Writer, stage: str, subjects: Iterable[Mapping[str, Any]]) -> None:
        """Inside ``w``: the work is done after all (its item changed and was planned again)."""
        w.executemany("DELETE FROM notices_set_aside WHERE stage = ? AND subject = ?",
                      [(stage, json.dumps(s, sort_keys=True)) for s in subjects])


def _work(row: Sequence) -> SetAsideWork:
    return SetAsideWork(id=row[0], stage=row[1], subject=json.loads(row[2]), about=row[3], error=row[4], at=row[5])
