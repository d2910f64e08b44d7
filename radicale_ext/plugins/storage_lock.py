"""The storage's lock: Radicale's readers-writer lock on ``.Radicale.lock`` (``flock``, shared by every server
process and the CLI), with writers first, on lock files each thread keeps open.

**Writers first.**  ``flock`` lets a new reader in while a writer waits, so under a steady stream of reads
a PUT waited for a moment without any (a PUT's median was 8x its idle time under eight clients).  A second
lock file is the turnstile: a writer holds it for its whole write; a reader passes it (takes it shared) only
to get the storage lock, then lets it go.  A waiting writer holds the turnstile, so readers that come
after it wait behind it; readers already in finish first.  The reads of a request that writes
(:func:`part_of_a_write`: a feature's handler looking before the write) do not queue there: they wait
only for a writer holding the lock.  Queued, a write's reads waited for every write queued before it, so
with two server processes the lock could stand idle while the next writes of both made ready
(bench/RESULTS.md, "Session 15"; Radicale's own look at the user's principal collection before every
request, the read this was made for, now takes no lock at all: ``RecordedStorage.acquire_lock``).

**Kept open.**  Radicale opens the lock file for every lock (``open(path, "w+")``, which also truncates it:
a change of the file's times) and closes it to let go; with the turnstile that was two opens, two
truncations and two closes per lock, twice per request.  Each thread now opens both files once and keeps
them (:class:`_LockFiles`): a lock is ``flock`` and its release ``flock(LOCK_UN)``.  A ``flock`` belongs to
the open file, so each thread has its own, as each ``open`` had: threads of one process exclude each other
as before.  Before each outermost lock the thread checks (``stat``) that the paths are still the files it
holds open; a lock file deleted or replaced (a folder restored from a backup) is opened again, as
Radicale's next ``open`` would have.  A process forked from one that held them opens its own (a forked
copy of an open file shares its locks with the original).  Within one thread, a lock taken while it holds
one is counted, not taken again (its release must not let go of the outer one); a write lock asked for
while the thread holds a read lock is refused (``RuntimeError``), where two opens would have waited for
each other forever.

**After the write.**  What a write needs done before its request is answered but not under the lock is
asked for with :func:`when_write_lock_released` and runs as soon as the thread lets go of its write lock:
a PUT's fsync of its folder (the new name made durable, ``plugins/storage.py``).  The next request may
then see the new item (and the notice worker take up its change) before that fsync has ended, as it may
see the index's row of it before SQLite's log is synced; the PUT itself is answered only after it, so
nothing a client was told is stored can be lost.  With the folder's fsync inside the lock every read of
every process waited for the disk at every PUT (bench/RESULTS.md, "Session 27").  The request that
wrote is told first (``part_of_a_write``'s ``released``): from then on it is a request like any other
for the reads waiting for writes (:mod:`.write_priority`).  PostgreSQL's lock tells it the same way
(``plugins/pg_storage.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator

from radicale import pathutils

_WRITE_REQUEST = threading.local()
_AFTER_WRITE = threading.local()


@contextlib.contextmanager
def part_of_a_write(released: Callable[[], None] | None = None) -> Iterator[None]:
    """Within it, this thread's read locks do not queue behind waiting writers (module docstring);
    ``released`` is called when the thread lets go of its first write lock (not at all without one)."""
    _WRITE_REQUEST.on = True
    _WRITE_REQUEST.released = released
    try:
        yield
    finally:
        _WRITE_REQUEST.on = False
        _WRITE_REQUEST.released = None


def when_write_lock_released(key: str, action: Callable[[], None]) -> bool:
    """Have ``action`` run once this thread has let go of the write lock it holds (once per ``key``; before
    the lock's holder goes on, so before the request is answered); False where the thread holds no write
    lock (the caller does it now).  Module docstring, "After the write"."""
    actions: dict[str, Callable[[], None]] | None = getattr(_AFTER_WRITE, "actions", None)
    if actions is None:
        return False
    actions.setdefault(key, action)
    return True


def write_lock_let_go() -> None:
    """This thread has let go of its (outermost) write lock: the write's request says it is out of the lock
    (:func:`part_of_a_write`), then the actions waiting for it run in the order they were asked for (every
    one, the first failure raised after)."""
    actions: dict[str, Callable[[], None]] = getattr(_AFTER_WRITE, "actions", None) or {}
    _AFTER_WRITE.actions = None
    released = getattr(_WRITE_REQUEST, "released", None)
    if released is not None:
        _WRITE_REQUEST.released = None
        released()
    failure: BaseException | None = None
    for action in actions.values():
        try:
            action()
        except BaseException as e:   # noqa: BLE001 - the others still run; the first is raised
            failure = failure or e
    if failure is not None:
        raise failure


def _open(path: str) -> int:
    """A lock file, made where missing with the umask's permissions (as Radicale's ``open``), not truncated."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)


class _LockFiles:
    """One thread's open turnstile and lock file, and how deep the thread holds the lock."""

    def __init__(self, paths: tuple[str, str]) -> None:
        self.paths = paths
        self.fds: list[int] = []
        try:
            for path in paths:
                self.fds.append(_open(path))
        except OSError:
            self.close()
            raise
        self.identities = [_identity(os.fstat(fd)) for fd in self.fds]
        self.depth = 0
        self.mode = ""

    def current(self) -> bool:
        """Still the files at the paths."""
        try:
            return [_identity(os.stat(path)) for path in self.paths] == self.identities
        except OSError:
            return False

    def close(self) -> None:
        """Close them (in a forked process its copies: the original keeps its locks until it lets go)."""
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []

    def __del__(self) -> None:   # the thread ended (its thread-local state is dropped) or the lock is gone
        self.close()


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class WritersFirst(pathutils.RwLock):
    """Radicale's storage lock with writers first, on lock files each thread keeps open (module docstring)."""

    TURNSTILE = ".Radicale.ext-writers-first.lock"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._turnstile = os.path.join(os.path.dirname(path), self.TURNSTILE)
        self._threads = threading.local()
        self._pid = os.getpid()

    def _forked(self) -> None:
        """In a process forked from the one that made the lock: nothing its threads held or counted is this
        process's (the forking thread's open files included: their locks are the original's)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._readers, self._writer = 0, False
            self._threads = threading.local()   # the copies of the files are closed as it is dropped

    def _files(self) -> _LockFiles:
        self._forked()
        files: _LockFiles | None = getattr(self._threads, "files", None)
        if files is not None and files.depth:
            return files
        if files is None or not files.current():
            if files is not None:
                files.close()
            files = self._threads.files = _LockFiles((self._turnstile, self._path))
        return files

    @contextlib.contextmanager
    def acquire(self, mode: str) -> Iterator[None]:
        if mode not in ("r", "w"):
            raise ValueError(f"Invalid mode: {mode!r}")
        try:
            files = self._files()
        except OSError as e:
            raise RuntimeError(f"Locking the storage failed: {e}") from e
        if files.depth:   # this thread holds it already
            if files.mode == "r" and mode == "w":
                raise RuntimeError("Locking the storage failed: a write lock asked for under this thread's read lock")
            files.depth += 1
            try:
                yield
            finally:
                files.depth -= 1
            return
        turnstile, lock = files.fds
        how = fcntl.LOCK_EX if mode == "w" else fcntl.LOCK_SH
        queues = mode == "w" or not getattr(_WRITE_REQUEST, "on", False)
        try:
            if queues:
                fcntl.flock(turnstile, how)
        except OSError as e:
            raise RuntimeError(f"Locking the storage failed: {e}") from e
        try:
            fcntl.flock(lock, how)
        except OSError as e:
            if queues:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
            raise RuntimeError(f"Locking the storage failed: {e}") from e
        if mode != "w" and queues:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            self._count_in(mode)
            if mode == "w":
                _AFTER_WRITE.actions = {}
            files.depth, files.mode = 1, mode
            try:
                yield
            finally:
                files.depth, files.mode = 0, ""
                self._count_out(mode)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if mode == "w":
                fcntl.flock(turnstile, fcntl.LOCK_UN)
                write_lock_let_go()

    # Radicale's bookkeeping of who holds the lock in this process (its ``locked`` property reads it)
    def _count_in(self, mode: str) -> None:
        with self._lock:
            if self._writer or mode == "w" and self._readers != 0:
                raise RuntimeError("Locking the storage failed: Guarantees failed")
            if mode == "r":
                self._readers += 1
            else:
                self._writer = True

    def _count_out(self, mode: str) -> None:
        with self._lock:
            if mode == "r":
                self._readers -= 1
            self._writer = False
