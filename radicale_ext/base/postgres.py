"""The sharing database on PostgreSQL: the engine of :mod:`radicale_ext.base.database`'s seam for
``[storage] postgresql_dsn`` (docs/scale-out.md, "The sharing database on PostgreSQL").

psycopg 3 with its connection pool (``[storage] postgresql_pool_size`` connections per process).  The
stores keep writing SQLite's dialect; :func:`translate` turns a statement into PostgreSQL's once per
statement text (cached):

- ``?`` placeholders become ``%s``, ``:name`` ones ``%(name)s`` (and a literal ``%`` becomes ``%%``);
- ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``; ``INSERT OR REPLACE`` becomes
  ``INSERT ... ON CONFLICT (primary key) DO UPDATE SET`` every other column (the table's primary key is
  read from the catalogue);
- the column names ``user`` and ``offset``, reserved words in PostgreSQL, are quoted (never inside
  string literals); SQLite's ``instr`` is PostgreSQL's ``strpos``; an empty list, ``IN ()``, which SQLite
  takes and PostgreSQL does not, is an empty sub-select;
- in ``CREATE TABLE``: ``INTEGER`` is ``BIGINT`` (SQLite's integers have 64 bits), ``REAL`` is ``DOUBLE
  PRECISION`` (PostgreSQL's ``REAL`` has 24 bits: a time in seconds would lose its minutes), ``BLOB`` is
  ``BYTEA``, ``TEXT`` compares byte-wise (``COLLATE "C"``, as SQLite's ``BINARY``), and an ``id INTEGER
  PRIMARY KEY`` or any ``INTEGER PRIMARY KEY AUTOINCREMENT`` is an identity column.

Writes: every :meth:`PostgresDatabase.write` is one transaction that first takes one transaction-level
advisory lock, so writes to the sharing database are one at a time across every process and host, as
they are in SQLite.  The stores rely on that: outbox ids are handed out and committed in order (the
notice worker's watermark never passes one still to come), counters are read and written back.  A
claim of work rows (``write(serial=False)``) does not take it: it locks only the rows it claims,
``FOR UPDATE SKIP LOCKED``, so workers on several hosts claim different rows at once.

:meth:`PostgresDatabase.version` reads a commit counter, one query per request (the rights cache and the
plugins' remembered circles and grants ask once per request), so a share or a revocation made on any
host is seen on the next request everywhere.  A write moves the counter unless it wrote only the
workers' bookkeeping (:data:`BOOKKEEPING`: leases, watermarks, the outbox, notices and reminders on their
way): an idle worker renews its leases every few seconds, and each renewal would otherwise empty every
host's caches of what shares and circles grant.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from .database import Cursor, Database, Writer, apply_schemas
from .errors import DatabaseUnavailable, ExtError

DEFAULT_POOL_SIZE = 8


def pool_size(text: str) -> int:
    """``[storage] postgresql_pool_size``: connections per process, a whole number from 1 (default 8)."""
    if not text.strip():
        return DEFAULT_POOL_SIZE
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise ExtError(f"[storage] postgresql_pool_size must be a whole number from 1, not {text!r}")
    return size


WRITE_LOCK = 0x7261646963616C65   # the advisory lock of serial writes ("radicale" in ASCII)
#: a serial write's start: BEGIN and its lock in one round trip (no parameters: one simple query, two statements)
_BEGIN_SERIAL = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
_COUNT_COMMIT = "UPDATE database_commits SET n = n + 1 WHERE id = 1"
RESERVED = frozenset({"user", "offset"})   # column names of ours that PostgreSQL reserves
FUNCTIONS = {"instr": "strpos"}

COMMITS_SCHEMA = """
CREATE TABLE IF NOT EXISTS database_commits (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO database_commits(id, n) VALUES (1, 0) ON CONFLICT DO NOTHING
"""

#: tables whose rows no sharing answer reads (who may read what, circles, mounts): writing only these
#: does not move the commit counter.  A table not named here always moves it.
BOOKKEEPING = frozenset({
    "worker_leases", "meta", "outbox", "outbox_taken", "change_notices", "notices", "deliveries",
    "notices_set_aside", "inbox_history", "inbox_versions", "reminder_items", "reminder_schedule",
    "reminders_sent", "sessions", "shown_once",
})
_WRITTEN_TABLE = re.compile(r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)

_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|::|:[A-Za-z_]\w*|[A-Za-z_][A-Za-z0-9_]*|\s+|.""", re.S)
_INSERT_OR = re.compile(r"\s*INSERT\s+OR\s+(IGNORE|REPLACE)\s+INTO\s+(\w+)\s*(\(([^)]*)\))?", re.S | re.I)
_EMPTY_LIST = re.compile(r"\bIN\s*\(\s*\)", re.I)
_INSERT_COLUMNS = re.compile(r"\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+(\w+)\s*\(([^)]*)\)", re.S | re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)
_DDL_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION", "BLOB": "BYTEA", "TEXT": 'TEXT COLLATE "C"'}
_COLUMN_TYPE = re.compile(r"(^|[(,])(\s*\w+\s+)(INTEGER|REAL|BLOB|TEXT)\b", re.M | re.I)
_IDENTITY = re.compile(r"\b(?:(id)\s+INTEGER\s+PRIMARY\s+KEY|(\w+)\s+INTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT)\b",
                       re.I)


def without_password(dsn: str) -> str:
    """The DSN as messages show it: everything but the password."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - a DSN libpq cannot read: show nothing of it
        return "(a DSN PostgreSQL cannot read)"
    parts.pop("password", None)
    return make_conninfo(**{k: v for k, v in parts.items() if v is not None}) or "(the libpq defaults)"


def unreachable(dsn: str, error: BaseException) -> DatabaseUnavailable:
    """The one sentence for a PostgreSQL that cannot be used (the storage's and the sharing database's)."""
    reason = " ".join(str(error).split()) or type(error).__name__
    return DatabaseUnavailable(f"PostgreSQL {without_password(dsn)!r} cannot be reached: {reason}; check [storage] "
                               "postgresql_dsn and that PostgreSQL runs and lets this user in")


def _words(sql: str) -> str:
    out = []
    for token in _TOKEN.findall(sql):
        first = token[0]
        if first in "'\"":
            out.append(token.replace("%", "%%"))   # psycopg reads % everywhere, literals too
        elif first == "?":
            out.append("%s")
        elif first == ":" and len(token) > 1 and token != "::":
            out.append(f"%({token[1:]})s")
        elif first == "%":
            out.append("%%")
        elif first.isalpha() or first == "_":
            lower = token.lower()
            if lower in RESERVED:
                out.append(f'"{lower}"')
            elif lower in FUNCTIONS:
                out.append(FUNCTIONS[lower])
            else:
                out.append(token)
        else:
            out.append(token)
    return "".join(out)


def _with_conflict(sql: str, clause: str) -> str:
    """``sql`` with ``clause`` before its RETURNING, or at its end."""
    found = _RETURNING.search(sql)
    if found:
        return f"{sql[:found.start()]}{clause} {sql[found.start():]}"
    return f"{sql.rstrip()} {clause}"


def translate(sql: str, primary_keys: dict[str, tuple[str, ...]]) -> str:
    """SQLite's statement as PostgreSQL's (see the module's docstring)."""
    ddl = sql.lstrip()[:12].upper().startswith("CREATE TABLE")
    if ddl:
        sql = _IDENTITY.sub(lambda m: f"{m[1] or m[2]} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
        sql = _COLUMN_TYPE.sub(lambda m: f"{m[1]}{m[2]}{_DDL_TYPES[m[3].upper()]}", sql)
    found = _INSERT_OR.match(sql)
    if found:
        mode, table, columns = found[1].upper(), found[2], found[4]
        rest = sql[found.end():]
        head = f"INSERT INTO {table}" + (f"({columns})" if columns is not None else "")
        if mode == "IGNORE":
            sql = _with_conflict(head + rest, "ON CONFLICT DO NOTHING")
        else:
            if columns is None or table not in primary_keys:
                raise ValueError(f"INSERT OR REPLACE into {table} needs its columns and a primary key: {sql}")
            key = primary_keys[table]
            names = [c.strip() for c in columns.split(",")]
            others = [c for c in names if c.lower() not in key]
            update = ", ".join(f"{c} = EXCLUDED.{c}" for c in others)
            target = ", ".join(key)
            sql = _with_conflict(head + rest, f"ON CONFLICT ({target}) "
                                              + (f"DO UPDATE SET {update}" if others else "DO NOTHING"))
    return _words(_EMPTY_LIST.sub("IN (SELECT NULL WHERE FALSE)", sql))


def _params(params: Any) -> Any:  # noqa: ANN401 - a sequence, or a mapping for ``:name``
    """Python's booleans as SQLite stores them (0, 1): our columns of truth are integers."""
    if isinstance(params, dict):
        return {k: int(v) if v is True or v is False else v for k, v in params.items()}
    if any(p is True or p is False for p in params):
        return tuple(int(p) if p is True or p is False else p for p in params)
    return params


def moves_answers(sql: str) -> bool:
    """Whether ``sql`` may change a sharing answer: it writes a table outside BOOKKEEPING, or it is a
    statement we cannot tell."""
    written = _WRITTEN_TABLE.match(sql)
    if written is not None:
        return written.group(1).lower() not in BOOKKEEPING
    return not sql.lstrip()[:6].upper().startswith("SELECT")


class PostgresWriter(Writer):
    """The open transaction of :meth:`PostgresDatabase.write`."""

    engine = "postgresql"

    def __init__(self, conn: Any, db: PostgresDatabase) -> None:  # noqa: ANN401 - psycopg.Connection
        self._conn = conn
        self._db = db
        self.moves_answers = False   # wrote a table outside BOOKKEEPING (or ran a statement it cannot tell)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self._note_table(sql)
        cur = self._conn.execute(self._db.translated(sql), _params(params))
        self._follow_given_ids(sql)
        return cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        self._note_table(sql)
        cur = self._conn.cursor()
        cur.executemany(self._db.translated(sql), [_params(r) for r in rows])
        self._follow_given_ids(sql)
        return cur

    def _note_table(self, sql: str) -> None:
        if not self.moves_answers:
            self.moves_answers = moves_answers(sql)

    def _follow_given_ids(self, sql: str) -> None:
        """After an INSERT that names an identity column's values (an upgrade or a copy keeping its ids), the
        next id the database hands out follows the largest, as SQLite's does."""
        given = self._db.given_identity(sql)
        if given is not None:
            table, column = given
            self._conn.execute(f'SELECT setval(pg_get_serial_sequence(%s, %s), GREATEST(MAX("{column}"), 1))'
                               f' FROM "{table}"', (table, column))

    def executescript_safe(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self.execute(statement)
                if statement.lstrip()[:12].upper().startswith("CREATE TABLE"):
                    self._db.forget_primary_keys()

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()]


class PostgresDatabase(Database):
    """The sharing database in PostgreSQL: a pool of connections, shared by the threads of a process."""

    engine = "postgresql"

    def __init__(self, dsn: str, pool: Any) -> None:  # noqa: ANN401 - psycopg_pool.ConnectionPool
        self.dsn = dsn
        self.path = without_password(dsn)
        self._pool = pool
        self._local = threading.local()
        self._keys: dict[str, tuple[str, ...]] | None = None
        self._keys_lock = threading.Lock()
        self._statements: dict[str, str] = {}
        self._identities: dict[str, str] | None = None
        self._no_identity: set[str] = set()
        self._along: tuple[str, Callable[[Any], None]] | None = None   # read_along

    @property
    def label(self) -> str:
        return f"PostgreSQL {self.path!r}"

    # -- opening and checking -------------------------------------------------

    @classmethod
    def open(cls, dsn: str, *, pool_size: int = DEFAULT_POOL_SIZE, schemas: Sequence[str] = (),
             connect_timeout: int = 10) -> PostgresDatabase:
        """Connect, check, and create or upgrade the tables (each ``CREATE ... IF NOT EXISTS``).

        Raises :class:`DatabaseUnavailable` with a sentence naming the DSN without its password when the
        server cannot be reached, refuses the login, or the database does not exist.
        """
        import psycopg
        from psycopg_pool import ConnectionPool

        try:
            psycopg.connect(dsn, connect_timeout=connect_timeout).close()
        except psycopg.Error as e:
            raise unreachable(dsn, e) from e
        except Exception as e:  # noqa: BLE001 - a DSN libpq cannot read
            raise DatabaseUnavailable(
                f"[storage] postgresql_dsn is not a PostgreSQL connection string libpq can read: {e}") from e
        pool = ConnectionPool(dsn, min_size=1, max_size=max(1, pool_size), open=False, name="radicale-ext",
                              kwargs={"autocommit": True, "connect_timeout": connect_timeout})
        pool.open(wait=True, timeout=connect_timeout + 5)
        db = cls(dsn, pool)
        try:
            with db.write() as w:
                apply_schemas(w, (COMMITS_SCHEMA, *schemas), db.label)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._pool.close()

    # -- statements -----------------------------------------------------------

    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        keys = self._keys
        if keys is None:
            with self._keys_lock, self._connection() as conn:
                rows = conn.execute(
                    "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
                    " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)"
                    " WHERE i.indisprimary AND c.relnamespace = current_schema()::regnamespace"
                    " ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)").fetchall()
                found: dict[str, tuple[str, ...]] = {}
                for table, column in rows:
                    found[table] = (*found.get(table, ()), column)
                keys = self._keys = found
        return keys

    def forget_primary_keys(self) -> None:
        self._keys = self._identities = None
        self._statements.clear()
        self._no_identity.clear()

    def given_identity(self, sql: str) -> tuple[str, str] | None:
        """(table, identity column) when ``sql`` inserts values of that column, else None."""
        if sql in self._no_identity:
            return None
        found = _INSERT_COLUMNS.match(sql)
        if found:
            column = self.identities().get(found[1].lower())
            if column is not None and column in {c.strip().strip('"').lower() for c in found[2].split(",")}:
                return found[1].lower(), column
        self._no_identity.add(sql)
        return None

    def identities(self) -> dict[str, str]:
        found = self._identities
        if found is None:
            with self._connection() as conn:
                found = self._identities = dict(conn.execute(
                    "SELECT table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall())
        return found

    def translated(self, sql: str) -> str:
        done = self._statements.get(sql)
        if done is None:
            needs_keys = _INSERT_OR.match(sql) is not None and "REPLACE" in sql[:40].upper()
            done = translate(sql, self.primary_keys() if needs_keys else {})
            self._statements[sql] = done
        return done

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """The thread's open write transaction's connection (so a read inside a write sees it), else one of
        the pool's."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with _unavailable(self), self._pool.connection() as conn:
            yield conn

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            return conn.execute(self.translated(sql), _params(params)).fetchall()

    def read_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._connection() as conn:
            return conn.execute(self.translated(sql), _params(params)).fetchone()

    def healthy(self) -> bool:
        return self.read_one("SELECT 1") == (1,)

    @contextmanager
    def write(self, *, serial: bool = True) -> Iterator[Writer]:
        """One atomic transaction: all of it is stored, or none of it (see the module's docstring for
        ``serial``)."""
        if getattr(self._local, "conn", None) is not None:
            raise RuntimeError("a write inside a write: the sharing database takes one at a time")
        with _unavailable(self), self._pool.connection() as conn:
            conn.execute(_BEGIN_SERIAL if serial else "BEGIN")   # one round trip
            self._local.conn = conn
            writer = PostgresWriter(conn, self)
            try:
                yield writer
                if writer.moves_answers:
                    conn.execute(_COUNT_COMMIT)
                conn.execute("COMMIT")
            except BaseException:
                with suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._local.conn = None
        if writer.moves_answers:
            self._thread_wrote()

    def write_one(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """BEGIN with the writers' lock, the statement, the commit counter where it moves answers, and
        COMMIT, sent as one query (the values bound here, psycopg's ClientCursor): one round trip."""
        if getattr(self._local, "conn", None) is not None or self.given_identity(sql) is not None:
            return super().write_one(sql, params)   # inside a write (refused there), or ids to follow
        import psycopg

        moves = moves_answers(sql)
        script = "; ".join([_BEGIN_SERIAL, self.translated(sql), *([_COUNT_COMMIT] if moves else []), "COMMIT"])
        with _unavailable(self), self._pool.connection() as conn:
            cur = psycopg.ClientCursor(conn)
            try:
                cur.execute(script, _params(params))
            except BaseException:
                with suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            cur.nextset()   # past BEGIN
            cur.nextset()   # and the lock's SELECT
            rows = cur.fetchall() if cur.description else []
        if moves:
            self._thread_wrote()
        return rows

    def read_along(self, value_sql: str, take: Callable[[Any], None]) -> None:
        """Read ``value_sql`` (a scalar subquery on this database) in :meth:`version`'s query and hand it to
        ``take``: the storage's own commit counter, which every request asks for too, without another round
        trip (:meth:`radicale_ext.index.pg_items.PgItems.commits_read_along`)."""
        self._along = (value_sql, take)

    def version(self) -> tuple[int, int]:
        """Changes whenever anyone on any host commits a write that can change a sharing answer (one query)."""
        along = self._along
        if along is None:
            row = self.read_one("SELECT n FROM database_commits WHERE id = 1")
        else:
            row = self.read_one(f"SELECT n, {along[0]} FROM database_commits WHERE id = 1")
            if row is not None:
                along[1](row[1])
        return (row[0] if row else 0), 0


@contextmanager
def _unavailable(db: PostgresDatabase) -> Iterator[None]:
    """A connection lost or refused while running: :class:`DatabaseUnavailable`, a sentence naming the DSN."""
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as e:
        if isinstance(e, psycopg.errors.TransactionRollback | psycopg.errors.QueryCanceled):
            raise
        raise DatabaseUnavailable(
            f"sharing database {db.label} cannot be used: {' '.join(str(e).split())}") from e


@functools.cache
def available() -> bool:
    """Whether psycopg and its pool are installed (the ``postgres`` extra)."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        return False
    return True
