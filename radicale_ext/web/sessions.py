"""Logged-in sessions of the page, kept on the server.

The browser holds only a random session id (a cookie); the server keeps, per
session, who it is, its CSRF token, the digest of the password hash it was
made with, and when it was made and last used.  A session ends:

- at logout (its row is deleted);
- when its user's password is set again or the user is removed (checked on
  every request: :meth:`SessionBook.find` compares the password digest and
  asks whether the user exists), so no session outlives the password it was
  made with;
- after :attr:`SessionRules.idle` without a request, and after
  :attr:`SessionRules.longest` whatever happens (absolute expiry).

The rows are in a SQLite file of their own beside the sharing database
(``web-sessions.sqlite``), not in it: a page view never changes the sharing
database, whose version every rights check compares, and ``site.py`` needs
to know nothing of the page.  When the sharing database is in PostgreSQL
(docs/scale-out.md), the table is there instead, so that a session made on one
host is known on every other; its writes are ``write(serial=False)``, which
neither wait for the sharing database's one-writer lock nor change its version.
Only a digest of each id is stored, so the file (or table) holds no working
session.  Losing the file logs everyone out, nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..base.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    digest         TEXT PRIMARY KEY,
    user           TEXT NOT NULL,
    csrf           TEXT NOT NULL,
    password_stamp TEXT NOT NULL,
    created_at     REAL NOT NULL,
    seen_at        REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user)
"""

FILE_NAME = "web-sessions.sqlite"


@dataclass(frozen=True)
class SessionRules:
    idle: float = 30 * 60            # seconds without a request
    longest: float = 12 * 3600       # seconds from login, whatever happens
    touch_every: float = 60          # how often the last use is written (idle expiry is this coarse)


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str                        # the token every form of this session carries
    created_at: float
    seen_at: float

    def csrf_matches(self, given: str) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf.encode(), given.encode("utf-8", "replace"))


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


class SessionBook:
    def __init__(self, path: str | Database, *, user_exists: Callable[[str], bool],
                 password_stamp: Callable[[str], str | None], rules: SessionRules | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._db = path if isinstance(path, Database) else Database(path)
        self._user_exists = user_exists
        self._password_stamp = password_stamp
        self.rules = rules or SessionRules()
        self._clock = clock
        with self._db.write() as w:   # one process at a time makes the table
            w.executescript_safe(SCHEMA)

    def start(self, user: str) -> tuple[str, Session]:
        """A new session for ``user`` (their password was just checked): its id, for the cookie, and itself."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(user=user, csrf=secrets.token_urlsafe(32), created_at=now, seen_at=now)
        with self._db.write(serial=False) as w:
            w.execute("DELETE FROM sessions WHERE created_at < ? OR seen_at < ?",
                      (now - self.rules.longest, now - self.rules.idle))   # the ended ones, now and then
            w.execute("INSERT INTO sessions(digest, user, csrf, password_stamp, created_at, seen_at) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (_digest(session_id), user, session.csrf, self._password_stamp(user) or "", now, now))
        return session_id, session

    def find(self, session_id: str) -> Session | None:
        """The live session of this id, or ``None`` (unknown, ended, expired, or its password or user gone)."""
        if not session_id:
            return None
        row = self._db.read_one("SELECT user, csrf, password_stamp, created_at, seen_at FROM sessions "
                                "WHERE digest = ?", (_digest(session_id),))
        if row is None:
            return None
        user, csrf, stamp, created_at, seen_at = row
        now = self._clock()
        if (now - created_at > self.rules.longest or now - seen_at > self.rules.idle
                or not self._user_exists(user) or (self._password_stamp(user) or "") != stamp):
            self.end(session_id)
            return None
        if now - seen_at >= self.rules.touch_every:
            with self._db.write(serial=False) as w:
                w.execute("UPDATE sessions SET seen_at = ? WHERE digest = ?", (now, _digest(session_id)))
            seen_at = now
        return Session(user=user, csrf=csrf, created_at=created_at, seen_at=seen_at)

    def end(self, session_id: str) -> None:
        with self._db.write(serial=False) as w:
            w.execute("DELETE FROM sessions WHERE digest = ?", (_digest(session_id),))

    def end_all_of(self, user: str) -> int:
        """End every session of ``user`` (e.g. after the admin reset their password from the page)."""
        with self._db.write(serial=False) as w:
            return w.execute("DELETE FROM sessions WHERE user = ?", (user,)).rowcount

    def count_of(self, user: str) -> int:
        row = self._db.read_one("SELECT count(*) FROM sessions WHERE user = ?", (user,))
        return int(row[0]) if row else 0
