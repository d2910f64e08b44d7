"""Writes first on this host: while a write is under way in any server process, a request that only reads
waits before it starts, at most :data:`LONGEST_WAIT`.  A write is under way from its start until it lets
go of the storage's write lock (or ends without one): what it does after (its folder's fsync, its answer)
holds no read up (:mod:`.storage_lock`, "After the write").

On a busy server a person saving an event waited five times what the same save takes on a quiet one
(bench/RESULTS.md, issue 17), though the server had the cores to spare: the PUT shared its process's
interpreter (one thread runs Python at a time) with the requests that arrived while it parsed the
event, and then waited for the storage lock until the reads in flight in every process had finished,
among them those that had started after it.  Reads that arrive while a write is under way now wait for
it instead: the write runs beside the reads already in flight only, which finish and let go of the
storage lock, and no new ones start meanwhile, in this process or the others.  A read waits once, at
its start (before its login is checked), never halfway; it waits at most :data:`LONGEST_WAIT` (a stream
of writes, a bulk import, delays each read by that at most), and not at all while nothing is written.

The writes are the methods that take the storage's write lock (:data:`WRITING`); everything else waits.
Each process counts its own writes under way; where several server processes serve one address
(:mod:`.processes`), each also writes its count into its line of the table the parent shares with them
(:class:`.processes.ProcessTable`), which the others read.  A line that has said "writing" for longer
than :data:`.processes.STALE_WRITE_SECONDS` is not waited for (a process stuck in a write), and the
parent empties the line of a process that ended.  Separate servers on one folder (a second host, the
CLI) do not see each other's writes here; they still meet at the storage lock, where writers go first
(:mod:`.storage_lock`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from radicale import types

from .storage_lock import part_of_a_write

WRITING = frozenset({"PUT", "DELETE", "MOVE", "PROPPATCH", "MKCOL", "MKCALENDAR"})
WSGIApplication = Callable[[types.WSGIEnviron, types.WSGIStartResponse], Iterable[bytes]]
LONGEST_WAIT = 0.05        # seconds a read waits for writes, at most
LOOK_ELSEWHERE = 0.001     # how often a waiting read looks again at the other processes' writes


class _Once:
    """``action``, done the first time it is called, never again."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action

    def __call__(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


class Writes(Protocol):
    """Where this process says how many writes it has under way, and learns whether another process has."""

    def note_writes(self, count: int) -> None: ...

    def writes_elsewhere(self) -> bool: ...


class WritesFirst:
    """The WSGI application ``application``, its reads waiting for the writes under way (module docstring);
    ``elsewhere`` is the table shared with the other server processes of this address, if any."""

    def __init__(self, application: WSGIApplication, elsewhere: Writes | None = None) -> None:
        self._application = application
        self._elsewhere = elsewhere
        self._changed = threading.Condition()
        self._writes = 0

    def __call__(self, environ: types.WSGIEnviron, start_response: types.WSGIStartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") in WRITING:
            self._count(+1)
            ended = _Once(lambda: self._count(-1))
            try:
                # its reads before its write do not queue behind other writes; once out of the write lock,
                # it is no longer waited for
                with part_of_a_write(released=ended):
                    return self._application(environ, start_response)
            finally:
                ended()
        self.wait_for_writes()
        return self._application(environ, start_response)

    def writing(self) -> bool:
        """Is a write under way, in this process or (as the table says) another?"""
        return bool(self._writes) or (self._elsewhere is not None and self._elsewhere.writes_elsewhere())

    def wait_for_writes(self) -> None:
        """Return when no write is under way on this host, or after :data:`LONGEST_WAIT`."""
        if not self.writing():
            return
        deadline = time.monotonic() + LONGEST_WAIT
        with self._changed:
            while self.writing():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                # this process's writes say when they end; the other processes' are looked at again
                self._changed.wait(left if self._writes else min(left, LOOK_ELSEWHERE))

    def _count(self, step: int) -> None:
        with self._changed:
            self._writes += step
            if self._elsewhere is not None:
                self._elsewhere.note_writes(self._writes)
            if not self._writes:
                self._changed.notify_all()
