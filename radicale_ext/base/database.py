"""The sharing database: a small seam with two engines.

Every object of the core that keeps state (circles, shares, outbox) receives
a :class:`Database` and speaks one SQL dialect to it through
:meth:`Database.read` and :meth:`Database.write`: SQLite's, as it is written
today.  Two engines implement the seam:

- :class:`Database` itself: one SQLite file in WAL mode, one connection per
  thread, every write one ``BEGIN IMMEDIATE`` transaction (the embedded
  default);
- :class:`radicale_ext.base.postgres.PostgresDatabase`: PostgreSQL through a
  psycopg connection pool, chosen by ``[storage] postgresql_dsn``; it
  translates what differs (placeholders, ``INSERT OR IGNORE/REPLACE``, the
  reserved column name ``user``, column types) once per statement text.

What the stores write beyond plain SQL, both engines accept: ``RETURNING``
(instead of SQLite's ``lastrowid``) and ``FOR UPDATE SKIP LOCKED`` in a
claim's sub-select (PostgreSQL locks the claimed rows; SQLite, whose writes
are one at a time anyway, is handed the statement without it).

Start-up checks (:meth:`Database.open`) turn a missing, locked or corrupt file
into :class:`DatabaseUnavailable` with a sentence that says what to do; the
server refuses to start rather than run with an empty share list.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Protocol

from .errors import DatabaseUnavailable

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS circles (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS circle_members (
    circle TEXT NOT NULL REFERENCES circles(name) ON DELETE CASCADE,
    user   TEXT NOT NULL,
    PRIMARY KEY (circle, user)
);
CREATE INDEX IF NOT EXISTS circle_members_by_user ON circle_members(user);
CREATE TABLE IF NOT EXISTS circle_managers (
    circle TEXT NOT NULL,
    user   TEXT NOT NULL,
    PRIMARY KEY (circle, user)
);
CREATE INDEX IF NOT EXISTS circle_managers_by_user ON circle_managers(user);
CREATE TABLE IF NOT EXISTS shares (
    id           INTEGER PRIMARY KEY,
    owner        TEXT NOT NULL,
    collection   TEXT NOT NULL,
    mount        TEXT NOT NULL,
    grantee_kind TEXT NOT NULL CHECK (grantee_kind IN ('user', 'circle')),
    grantee      TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('subscriber', 'collaborator')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (collection, grantee_kind, grantee)
);
CREATE INDEX IF NOT EXISTS shares_by_grantee ON shares(grantee_kind, grantee);
CREATE INDEX IF NOT EXISTS shares_by_mount ON shares(mount, grantee_kind, grantee);
CREATE INDEX IF NOT EXISTS shares_by_owner ON shares(owner);
CREATE TABLE IF NOT EXISTS outbox (
    id            INTEGER PRIMARY KEY,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'ready')),
    kind          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    owner         TEXT NOT NULL,
    collection    TEXT NOT NULL,
    item          TEXT,
    to_collection TEXT,
    to_item       TEXT,
    component     TEXT,
    uid           TEXT,
    etag          TEXT,
    detail        TEXT NOT NULL DEFAULT '{}',
    recovered     INTEGER NOT NULL DEFAULT 0,
    created_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_state ON outbox(state, id);
"""

MARKER_NAME = ".radicale-ext-database-id"


def _read_marker(marker: str | None) -> str | None:
    """The database id the data folder's marker names, or ``None`` when there is none."""
    if not marker:
        return None
    try:
        with open(marker, encoding="utf-8") as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def _stored_id(conn: sqlite3.Connection) -> str | None:
    """The id stored in the database, or ``None`` for a new (empty) one."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()
    return row[0] if row else None


SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
"""What a claim's sub-select ends with: on PostgreSQL the rows are locked for the claiming transaction and
others skip them; SQLite has no row locks (one writer at a time) and gets the statement without it."""


def for_sqlite(sql: str) -> str:
    """The statement as SQLite takes it (only a claim's ``FOR UPDATE SKIP LOCKED`` differs)."""
    return sql.replace(SKIP_LOCKED, "") if SKIP_LOCKED in sql else sql


def database_errors() -> tuple[type[BaseException], ...]:
    """The errors either engine's driver raises (psycopg's only when it is installed)."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


def transient(error: BaseException) -> bool:
    """An error of the database itself (locked, full, unreachable, a transaction PostgreSQL rolled back),
    which the next attempt may not meet; a constraint the work breaks is the work's, not the database's."""
    if isinstance(error, (sqlite3.OperationalError, DatabaseUnavailable)):
        return True
    return any(c.__module__.startswith("psycopg") and c.__name__ == "OperationalError" for c in type(error).__mro__)


def apply_schemas(w: Writer, schemas: Sequence[str], label: str) -> str:
    """Inside ``w``: the base schema and the features', the schema version checked; the database's id.

    The statements (``CREATE ... IF NOT EXISTS``, some 60, each a round trip to PostgreSQL) are run only
    when the database does not record their digest: a database this code's schemas were applied to is
    only read, so that every CLI call and process start that opens it does not apply them again."""
    digest = hashlib.sha256("\0".join((SCHEMA, *schemas)).encode()).hexdigest()
    known = dict(w.execute("SELECT key, value FROM meta WHERE key IN ('schema_version', 'schema_digest', "
                           "'database_id')").fetchall()) if w.columns("meta") else {}
    if known.get("schema_digest") != digest or "database_id" not in known:
        w.executescript_safe(SCHEMA)
        for schema in schemas:
            w.executescript_safe(schema)
        if "schema_version" not in known:
            known["schema_version"] = str(SCHEMA_VERSION)
            w.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (known["schema_version"],))
            w.execute("INSERT INTO meta(key, value) VALUES ('database_id', ?)", (uuid.uuid4().hex,))
        w.execute("INSERT INTO meta(key, value) VALUES ('schema_digest', ?) ON CONFLICT(key) DO UPDATE "
                  "SET value = excluded.value", (digest,))
    if int(known["schema_version"]) > SCHEMA_VERSION:   # refused: the write is rolled back, digest and all
        raise DatabaseUnavailable(
            f"sharing database {label} has schema {known['schema_version']}, newer than this "
            f"radicale-ext understands ({SCHEMA_VERSION}); upgrade radicale-ext"
        )
    return w.execute("SELECT value FROM meta WHERE key='database_id'").fetchone()[0]


class Database:
    """A SQLite database file with one connection per thread (the embedded default), and the seam
    the PostgreSQL engine (:class:`radicale_ext.base.postgres.PostgresDatabase`) implements too."""

    engine = "sqlite"

    def __init__(self, path: str, *, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._local_writes = 0

    # -- opening and checking -------------------------------------------------

    @classmethod
    def open(cls, path: str, *, marker_folder: str | None = None, create: bool = True,
             busy_timeout_ms: int = 5000, schemas: Sequence[str] = ()) -> Database:
        """Open (and on first use create) the database, checking it is usable.

        ``marker_folder`` is the collection folder: a marker file there holds
        the database's id, so that a database lost (deleted, emptied, or
        replaced by another) after collections were shared is reported
        instead of silently re-created empty.

        ``schemas`` are the tables of features beyond the foundation, each
        ``CREATE ... IF NOT EXISTS`` statements run after the base schema.

        Raises :class:`DatabaseUnavailable` when the file is missing, locked,
        corrupt, newer than this code, or not the one the marker names.
        """
        marker = os.path.join(marker_folder, MARKER_NAME) if marker_folder else None
        db = cls(path, busy_timeout_ms=busy_timeout_ms)
        try:
            marked_id = _read_marker(marker)
            if not os.path.exists(path):
                if marked_id is not None:
                    raise DatabaseUnavailable(
                        f"sharing database {path!r} is missing, but the data folder was used with one "
                        f"(marker {marker!r}); restore the database from backup, or delete the marker "
                        "to start with no shares"
                    )
                if not create:
                    raise DatabaseUnavailable(f"sharing database {path!r} does not exist")
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            db._check_and_migrate(marker, marked_id, schemas)
        except BaseException as e:
            db.close()
            if isinstance(e, OSError):
                raise DatabaseUnavailable(
                    f"sharing database {path!r} cannot be opened: {e.strerror or e} ({e.filename or path})"
                ) from e
            raise
        return db

    def _check_and_migrate(self, marker: str | None, marked_id: str | None, schemas: Sequence[str]) -> None:
        with self._translated():
            conn = self._connection()
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("integrity check failed")
            stored_id = _stored_id(conn)
        if marked_id is not None and stored_id != marked_id:
            if stored_id is None:
                raise DatabaseUnavailable(
                    f"sharing database {self.path!r} is empty, but the data folder was used with one "
                    f"(marker {marker!r}); restore the database from backup, or delete the marker "
                    "to start with no shares"
                )
            raise DatabaseUnavailable(
                f"sharing database {self.path!r} does not belong to this data folder "
                f"(marker {marker!r} names another); point [sharing] database_path at the right file"
            )
        with self._translated():  # WAL mode is stored in the file; set before its first write
            self._connection().execute("PRAGMA journal_mode=WAL")
        with self.write() as w:
            db_id = apply_schemas(w, schemas, repr(self.path))
        if marker and marked_id is None:
            os.makedirs(os.path.dirname(marker), exist_ok=True)
            tmp = marker + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(db_id + "\n")
            os.replace(tmp, marker)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn SQLite's errors about the file itself into :class:`DatabaseUnavailable`."""
        try:
            yield
        except sqlite3.OperationalError as e:
            text = str(e)
            if "locked" in text or "busy" in text:
                raise DatabaseUnavailable(
                    f"sharing database {self.path!r} is locked by another program "
                    f"(waited {self._busy_timeout_ms / 1000:g} s); stop that program and try again"
                ) from e
            raise DatabaseUnavailable(f"sharing database {self.path!r} cannot be used: {text}") from e
        except sqlite3.DatabaseError as e:
            if type(e) is not sqlite3.DatabaseError:  # IntegrityError and friends: not the file's fault
                raise
            raise DatabaseUnavailable(
                f"sharing database {self.path!r} is corrupt ({e}); restore it from backup"
            ) from e

    # -- connections ----------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_ms / 1000,
                                   isolation_level=None, check_same_thread=True)
            try:
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except BaseException:
                conn.close()
                raise
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @property
    def label(self) -> str:
        """The database as messages name it."""
        return repr(self.path)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._translated():
            return self._connection().execute(for_sqlite(sql), params).fetchall()

    def read_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._translated():
            return self._connection().execute(for_sqlite(sql), params).fetchone()

    def healthy(self) -> bool:
        """Whether the database answers and (SQLite) its file is intact."""
        return self.read_one("PRAGMA quick_check") == ("ok",)

    @contextmanager
    def write(self, *, serial: bool = True) -> Iterator[Writer]:
        """One atomic transaction: all of it is stored, or none of it.

        SQLite runs one write at a time, whatever ``serial`` says.  On PostgreSQL, ``serial=False`` is a
        transaction that is safe with others running beside it (a claim with ``FOR UPDATE SKIP LOCKED``,
        updates of rows it holds): it does not wait for the one-writer lock every other write takes.
        """
        with self._write_lock, self._translated():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Writer(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            self._local_writes += 1
            self._thread_wrote()

    def write_one(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement as a write of its own (as :meth:`write` with one ``execute``): its rows.  On
        PostgreSQL one round trip, where a :meth:`write` takes three (BEGIN and the lock, the statement,
        COMMIT): what a request holding the storage's write lock does there (the outbox), every process's
        requests wait for."""
        with self.write() as w:
            return w.execute(sql, params).fetchall()

    @property
    def thread_writes(self) -> int:
        """How many writes this thread committed (that could change a sharing answer, on PostgreSQL): what
        the request in progress changed itself, known without asking."""
        return getattr(self._local, "writes", 0)

    def _thread_wrote(self) -> None:
        self._local.writes = self.thread_writes + 1

    def version(self) -> tuple[int, int]:
        """A value that changes whenever anyone commits to the database.

        ``PRAGMA data_version`` changes on commits of other connections; our
        own commits are counted in ``_local_writes``.  Cheap enough to call on
        every rights check.
        """
        with self._translated():
            data_version = self._connection().execute("PRAGMA data_version").fetchone()[0]
        return data_version, self._local_writes


class Cursor(Protocol):
    """What a statement run in a :class:`Writer` returns, on either engine."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Writer:
    """The open transaction of :meth:`Database.write`."""

    engine = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(for_sqlite(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        return self._conn.executemany(for_sqlite(sql), rows)

    def columns(self, table: str) -> list[str]:
        """The columns of ``table`` (none when there is no such table), for a schema's upgrade."""
        return [r[1] for r in self._conn.execute(f"PRAGMA table_info({table})").fetchall()]

    def executescript_safe(self, script: str) -> None:
        """Run ``;``-separated statements inside the current transaction."""
        for statement in script.split(";"):
            if statement.strip():
                self._conn.execute(statement)
