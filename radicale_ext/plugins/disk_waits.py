"""Waiting for the disk beside a PUT's other work (docs/performance.md, "Writes").

A PUT on files waits twice for the disk: for its temporary file's text (fsync) before the rename, and for
its folder (fsync) after it.  Each wait is a journal commit of a fraction of a millisecond to more than
one while other writes commit theirs, and the thread waiting does nothing else.  Here the wait runs in a
thread of this process's own, started as soon as there is something to wait for, while the request's
thread goes on with work that does not depend on it (the item's facts and the write lock before the
rename; the outbox's record and the index after it); the request waits for it where the order matters
(:meth:`Waited.result`: the text before the rename, the rename before the answer).  What is durable, and
in which order, is what it was.

The threads are made in the process that serves (a process forked from this one starts without them).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from radicale import pathutils

#: at most this many waits at once in one process (one for each write in flight: Radicale writes one at a
#: time, and a PUT's file may wait while the write before it waits for its folder)
_MOST_AT_ONCE = 4

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()

Waited = Future


def synced_later(path: str) -> Waited[None]:
    """The fsync of the file or folder at ``path``, running in a thread of its own; the result raises
    what Radicale's fsync of a folder raises (``RuntimeError``) where it fails."""
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(_MOST_AT_ONCE, thread_name_prefix="fsync")
            pool = _pool
    return pool.submit(_sync, path)


def _sync(path: str) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            pathutils.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as e:
        raise RuntimeError(f"Fsync'ing {path!r} failed: {e}") from e


def _forget() -> None:
    """In a forked process: the parent's threads are not there (a new pool is made on the first wait)."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget)
