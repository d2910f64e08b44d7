"""The item index: per collection folder, each item file's stamp and ETag.

The files on disk stay the source of truth.  The index only remembers, for
each item file, the ETag computed the last time the file had a given stamp
(inode, mtime and ctime in ns, size); a file whose stamp differs, or whose mtime is so
recent that a second write within the same clock tick could hide behind it
("racy", as in git's index), is asked again.  The index lives in one SQLite
file (WAL mode) with a copy in memory per process; a missing or corrupt
file is recreated empty, and losing it only costs time.

The collection ETag (the ctag) is computed exactly as Radicale's
``BaseCollection.etag`` does, from the items in directory order, so clients
see the same value as from stock Radicale.  Design notes: docs/performance.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass
from hashlib import sha256
from pathlib import Path

logger = logging.getLogger(__name__)

#: a file modified less than this before it was indexed is asked again next time
RACY_NS = 2_000_000_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    folder TEXT NOT NULL,
    href TEXT NOT NULL,
    inode INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    indexed_ns INTEGER NOT NULL,
    PRIMARY KEY (folder, href)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class FileStamp:
    """What ``stat`` says about an item file; any write changes at least one field."""

    inode: int
    mtime_ns: int
    ctime_ns: int
    size: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        return cls(st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)

    @property
    def changed_ns(self) -> int:
        """The latest of mtime and ctime (ctime cannot be set back, e.g. by a restore)."""
        return max(self.mtime_ns, self.ctime_ns)


@dataclass(frozen=True)
class IndexedItem:
    stamp: FileStamp
    etag: str
    indexed_ns: int

    def still_valid_for(self, stamp: FileStamp) -> bool:
        """Same stamp, and the file was not written within RACY_NS of being indexed."""
        return self.stamp == stamp and stamp.changed_ns < self.indexed_ns - RACY_NS


def collection_etag(items: Iterable[tuple[str, str]], meta: Mapping[str, str]) -> str:
    """Radicale's ``BaseCollection.etag``: sha256 over "href/etag" in order, then the meta as JSON."""
    digest = sha256()
    for href, etag in items:
        digest.update((href + "/" + etag).encode())
    digest.update(json.dumps(meta, sort_keys=True).encode())
    return f'"{digest.hexdigest()}"'


class ItemIndex:
    """Stamps and ETags of item files, by collection folder, in SQLite and in memory."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._memory: dict[str, dict[str, IndexedItem]] = {}
        self._open_checked()

    @property
    def path(self) -> Path:
        return self._path

    # -- the one operation the storage needs ---------------------------------

    def etags(self, folder: str, listing: Sequence[tuple[str, FileStamp]],
              etag_of: Callable[[str], str | None]) -> list[tuple[str, str]]:
        """(href, ETag) of each listed file, in the listing's order.

        Known, settled stamps are answered from the index; every other file is
        passed to ``etag_of`` (None: not an item, left out and not remembered).
        """
        known = self._entries(folder)
        now = time.time_ns()
        answer: list[tuple[str, str]] = []
        fresh: dict[str, IndexedItem] = {}
        for href, stamp in listing:
            entry = known.get(href)
            if entry is not None and entry.still_valid_for(stamp):
                answer.append((href, entry.etag))
                continue
            etag = etag_of(href)
            if etag is None:
                continue
            answer.append((href, etag))
            if entry is None or entry.stamp != stamp or entry.etag != etag or entry.indexed_ns < now - RACY_NS:
                fresh[href] = IndexedItem(stamp, etag, now)
        listed = {href for href, _ in listing}
        gone = [href for href in known if href not in listed]
        if fresh or gone:
            self._store(folder, fresh, gone)
        return answer

    # -- memory and SQLite ----------------------------------------------------

    def _entries(self, folder: str) -> dict[str, IndexedItem]:
        with self._lock:
            cached = self._memory.get(folder)
        if cached is not None:
            return cached
        loaded = self._load(folder)
        with self._lock:
            return self._memory.setdefault(folder, loaded)

    def _load(self, folder: str) -> dict[str, IndexedItem]:
        try:
            rows = self._connection().execute(
                "SELECT href, inode, mtime_ns, ctime_ns, size, etag, indexed_ns FROM items WHERE folder = ?",
                (folder,)).fetchall()
        except sqlite3.DatabaseError as e:
            self._recreate(e)
            return {}
        return {href: IndexedItem(FileStamp(inode, mtime, ctime, size), etag, indexed)
                for href, inode, mtime, ctime, size, etag, indexed in rows}

    def _store(self, folder: str, fresh: Mapping[str, IndexedItem], gone: Sequence[str]) -> None:
        with self._lock:
            entries = dict(self._memory.get(folder, {}))
            entries.update(fresh)
            for href in gone:
                entries.pop(href, None)
            self._memory[folder] = entries
        try:
            with self._transaction() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(folder, href, *astuple(e.stamp), e.etag, e.indexed_ns) for href, e in fresh.items()])
                db.executemany("DELETE FROM items WHERE folder = ? AND href = ?",
                               [(folder, href) for href in gone])
        except sqlite3.OperationalError as e:  # busy or read-only: the memory copy still serves
            logger.warning("item index %s: not saved (%s)", self._path, e)
        except sqlite3.DatabaseError as e:
            self._recreate(e)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.commit()

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=5, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            self._local.db = db
        return db

    def _open_checked(self) -> None:
        try:
            db = self._connection()
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
        except sqlite3.DatabaseError as e:
            self._recreate(e)

    def _recreate(self, error: Exception) -> None:
        """The index is only a cache of the files: a damaged one is replaced by an empty one."""
        logger.warning("item index %s is damaged (%s): rebuilding it from the files", self._path, error)
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(str(self._path) + suffix)
        with self._lock:
            self._memory.clear()
        self._connection()
