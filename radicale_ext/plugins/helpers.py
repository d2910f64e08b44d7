"""Helper processes under load: one server process at rest, more while it is busy (``radicale-ext serve
--processes auto``, the default; ``auto:N`` for at most N; docs/scale-out.md, "Several processes on one host").

A family's server sits idle most of the day, and each server process holds its own interpreter, modules
and views of the collections it served (about 60 MiB at 10,000 events and 10,000 cards): one process at
rest is what a small box can spare.  Under load one Python process uses one core (the GIL), so more are
started while the first one is busy, and leave again once they are not needed:

- The first process (this one, never a parent's child) binds ``[server] hosts``, serves, runs the notice
  worker, and a thread of it (:class:`Helpers`) looks at its own load every :data:`TICK`: when it has had
  a request in hand for :data:`BUSY_SHARE` of the last :data:`BUSY_WINDOW` seconds (:class:`Answering`:
  clients at once, one client's requests back to back, a bulk import; not a phone's quick sync, not the
  notice worker's own work) and every helper already running holds two connections or more, it starts
  one (at most N - 1).  The time a request is in hand, not the processor time, is what counts: on a
  machine whose cores are taken by others a busy process gets less than half a core.
- A helper is a new Python process (``python -m radicale_ext.plugins.server --helper ...``, started the way
  ``subprocess`` starts one, which a process with threads may do; not forked), handed the listening
  sockets, the table of connections (:class:`.processes.ProcessTable`) and a lifeline pipe.  It builds
  the application (about a second), serves on the same sockets, takes no new connection while it holds
  more than the others (as the processes of ``--processes N`` do), and leaves on its own once it has held
  no connection for ``leave_after`` seconds (``--helpers-leave-after``, default :data:`LEAVE_AFTER`),
  deciding in the thread that accepts connections, so that no connection is dropped: one arriving then
  waits in the listen queue for the first process.
- Connections already open (kept alive) move by hand-over (:meth:`.processes.ProcessTable.hand_over`): a
  process holding two more than another, or the notice worker's while another holds none, ends one
  after an answer with ``Connection: close``; the client connects again (every HTTP client does) and
  another process takes it.
- A helper that ends before it is ready (a database it cannot reach) makes the next start wait
  :data:`FAILED_PAUSE`; one that crashes is not replaced until the load asks again.  SIGTERM or SIGINT to
  the first process ends the helpers by their pids and then it; a helper whose first process is gone (even
  killed with SIGKILL) ends itself (the lifeline).  Where the first process itself crashes, the service
  manager starts it again (``Restart=on-failure``), as for ``--processes 1``.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from radicale import types
from radicale.log import logger

from .processes import Child, ProcessTable, end_in_time, ended_how

TICK = 0.25            # how often the first process looks at its load and its helpers
BUSY_WINDOW = 1.0      # seconds over which the first process's time with a request in hand is measured
BUSY_SHARE = 0.5       # a share of BUSY_WINDOW with a request in hand that starts a helper
LEAVE_AFTER = 60.0     # a helper that has held no connection this long leaves
FAILED_PAUSE = 30.0    # after a helper ended before it was ready, the next starts no sooner
READY_PATIENCE = 60.0  # a helper not ready after this long is killed


@dataclass
class _Helper:
    slot: int
    proc: subprocess.Popen[bytes]
    started: float
    ready_fd: int | None   # read end, until the helper said it serves (or ended)
    ready: bool = False


class Helpers:
    """The first process's helpers: started under load, watched, ended with it.  ``command`` is the server's
    command line (a helper's is it with ``--helper``; it says how long an idle helper stays), ``most`` the
    number of processes at most, the first included."""

    def __init__(self, command: Sequence[str], most: int, sockets: list[socket.socket],
                 clock: Callable[[], float] = time.monotonic, answering: Callable[[], float] = lambda: 0.0) -> None:
        self.command, self.most, self.sockets = list(command), most, sockets
        self.table = ProcessTable.made(most, slot=0)
        self.running: dict[int, _Helper] = {}
        self._clock, self._answering = clock, answering
        self._lifeline_read, self._lifeline = os.pipe()   # a helper holds the read end; only this process the write end
        self._load: deque[tuple[float, float]] = deque()   # (when, Answering.seconds()), the last BUSY_WINDOW
        self._paused_until = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, answering: Callable[[], float]) -> None:
        """Look at the load (``answering``: :meth:`Answering.seconds`) and the helpers every :data:`TICK`, in a
        thread of this process, until :meth:`stop`."""
        self._answering = answering

        def run() -> None:
            while not self._stopping.wait(TICK):
                try:
                    self.step()
                except Exception:   # a helper that cannot be started must not end the first process's watch
                    logger.exception("radicale-ext: the helper processes' watch failed a step")
        self._thread = threading.Thread(target=run, name="helper processes", daemon=True)
        self._thread.start()

    def step(self) -> None:
        """One look: note what the helpers said or did, and start one where the load asks for it."""
        now = self._clock()
        self._collect(now)
        self._load.append((now, self._answering()))
        while len(self._load) > 2 and self._load[1][0] <= now - BUSY_WINDOW:
            self._load.popleft()
        why = self._wanted(now)
        if why:
            slot = min(set(range(1, self.most)) - set(self.running))
            self._start(slot, why)

    def busy_share(self) -> float:
        """The share of the last :data:`BUSY_WINDOW` seconds this process had a request in hand (0 for less
        than half of it looked at)."""
        (then, answered_then), (now, answered_now) = self._load[0], self._load[-1]
        return (answered_now - answered_then) / (now - then) if now - then >= BUSY_WINDOW / 2 else 0.0

    def _wanted(self, now: float) -> str:
        """Why another helper should start now ('' for not)."""
        if self._stopping.is_set() or now < self._paused_until or len(self.running) >= self.most - 1:
            return ""
        if any(not helper.ready for helper in self.running.values()):
            return ""   # one is starting: see what it takes first
        share = self.busy_share()
        if share < BUSY_SHARE or not self.table.held(0):
            return ""
        held = [self.table.held(slot) for slot in self.running]
        if not all(count is not None and count >= 2 for count in held):
            return ""   # a helper has room for more clients
        return (f"process 1 had a request in hand {share:.0%} of the last {BUSY_WINDOW:g} s"
                + (", every helper holding two connections or more" if held else ""))

    def _start(self, slot: int, why: str) -> None:
        ready_read, ready_write = os.pipe()
        child = Child(slot, self.most, tuple(s.fileno() for s in self.sockets), self._lifeline_read, ready_write,
                      self.table.fd)
        try:
            proc = subprocess.Popen([*self.command, "--helper", child.spec()], process_group=0,
                                    pass_fds=(ready_write, self._lifeline_read, self.table.fd, *child.socket_fds),
                                    env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"})
        except OSError as e:
            os.close(ready_read)
            self._paused_until = self._clock() + FAILED_PAUSE
            logger.error("radicale-ext: could not start helper process %d of %d: %s", slot + 1, self.most, e)
            return
        finally:
            os.close(ready_write)
        self.running[slot] = _Helper(slot, proc, self._clock(), ready_read)
        logger.info("radicale-ext: starting helper process %d of %d (pid %d): %s", slot + 1, self.most, proc.pid, why)

    def _collect(self, now: float) -> None:
        for slot, helper in list(self.running.items()):
            if helper.ready_fd is not None and select.select([helper.ready_fd], [], [], 0)[0]:
                helper.ready = os.read(helper.ready_fd, 1) == b"1"   # end-of-file: it ended first
                self._close_ready(helper)
            code = helper.proc.poll()
            if code is None:
                if not helper.ready and now - helper.started > READY_PATIENCE:
                    logger.warning("radicale-ext: helper process %d (pid %d) not ready after %g s: killing it",
                                   slot + 1, helper.proc.pid, READY_PATIENCE)
                    helper.proc.kill()
                continue
            del self.running[slot]
            self.table.forget(slot)
            self._close_ready(helper)
            if code == 0 and helper.ready:
                continue   # it left, and said so in the log
            how = ended_how(code)
            if helper.ready:
                logger.warning("radicale-ext: helper process %d (pid %d) ended (%s)", slot + 1, helper.proc.pid, how)
            else:
                self._paused_until = now + FAILED_PAUSE
                logger.error("radicale-ext: helper process %d (pid %d) ended before it served (%s); the next "
                             "starts no sooner than in %g s", slot + 1, helper.proc.pid, how, FAILED_PAUSE)

    @staticmethod
    def _close_ready(helper: _Helper) -> None:
        if helper.ready_fd is not None:
            os.close(helper.ready_fd)
            helper.ready_fd = None

    def stop(self) -> None:
        """End the watch and the helpers (:func:`.processes.end_in_time`)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        end_in_time({f"helper process {helper.slot + 1}": helper.proc for helper in self.running.values()})
        for helper in self.running.values():
            self._close_ready(helper)
        self.running.clear()
        os.close(self._lifeline)
        os.close(self._lifeline_read)


class Leaving:
    """A helper's rule for taking connections: as the table says (:meth:`.processes.ProcessTable.may_accept`),
    and none at all once it has held none for ``after`` seconds: then it leaves (``SystemExit`` out of the
    server's loop, which ends it as SIGINT would; called in the thread that accepts connections, so none is
    taken meanwhile)."""

    def __init__(self, table: ProcessTable, after: float, name: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.table, self.after, self.name, self._clock = table, after, name, clock
        self._last_held = clock()

    def may_accept(self, connections: int) -> bool:
        now = self._clock()
        if connections:
            self._last_held = now
        elif now - self._last_held >= self.after:
            assert self.table.slot is not None
            self.table.forget(self.table.slot)   # the others count it no more at once
            logger.info("radicale-ext: %s leaves: no connection for %g s", self.name, self.after)
            raise SystemExit(0)
        return self.table.may_accept(connections)


class Answering:
    """The first process's application, counting the seconds it has had a request in hand (at least one
    under way, from the call to its answer's body): how busy it is for :class:`Helpers`."""

    def __init__(self, application: Callable[[types.WSGIEnviron, types.WSGIStartResponse], Iterable[bytes]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._application, self._clock = application, clock
        self._lock = threading.Lock()
        self._under_way = 0
        self._since = 0.0     # when the count last changed
        self._seconds = 0.0   # with a request in hand, until then

    def __call__(self, environ: types.WSGIEnviron, start_response: types.WSGIStartResponse) -> Iterable[bytes]:
        self._count(+1)
        try:
            return self._application(environ, start_response)
        finally:
            self._count(-1)

    def _count(self, step: int) -> None:
        with self._lock:
            now = self._clock()
            if self._under_way:
                self._seconds += now - self._since
            self._since, self._under_way = now, self._under_way + step

    def seconds(self) -> float:
        """Seconds so far with a request in hand."""
        with self._lock:
            return self._seconds + (self._clock() - self._since if self._under_way else 0.0)
