"""Several server processes on one host, one listening address (``radicale-ext serve --processes N``).

One Python process runs one request's Python code at a time (the GIL), so a host's cores are used by
several processes (docs/scale-out.md, "Several processes on one host").  The parent binds
``[server] hosts`` once (:func:`.http_edge.listening_sockets`) and forks N server processes, each
serving on the listening sockets it inherits: every connection is
accepted by one of them, whichever takes it first, and answered by that process's threads.  They share
what one process shares with another on the same data: Radicale's storage lock and the item index on
files, the database on PostgreSQL, the sharing database either way.

The server processes are forked from the parent after it imported the server's modules (gunicorn's
"preload"; :func:`.server._preload`, which freezes the garbage collector's view of them), so the code,
the module objects and the libraries are one copy in memory, shared copy-on-write by every process,
rather than one per process (docs/performance.md, "Memory").  So the parent must create nothing before
a fork that a server process must not share: no thread, no database connection, no inotify descriptor,
no socket but the listening ones; the forked process closes the parent's own descriptors (the write end
of the lifeline, the other processes' ready pipes) and restores the default signal handlers.

The parent answers no request.  It

- says in the log how many processes serve once each has said it is ready, and tells systemd
  (``READY=1`` to ``$NOTIFY_SOCKET``, for a ``Type=notify`` unit; :func:`notify`);
- starts another process in the place of one that ends (killed, crashed): at once, or, while
  replacements end before they are ready, after a pause that doubles from 1 s to 30 s; if a process of
  the first start exits with an error before it is ready (a database that cannot be reached), it ends
  the others and exits 1 (the process's error is above it in the log);
- on SIGTERM or SIGINT sends SIGTERM to each process by its pid, waits for them up to
  :data:`STOP_SECONDS`, sends SIGKILL to any left, and exits 0.

Each server process (:class:`Child`) runs in a process group of its own, so a terminal's Ctrl-C reaches
the parent only; it ends itself when the parent is gone (it holds the read end of a pipe whose write end
only the parent holds, so a parent killed with SIGKILL leaves no server behind); the first one (slot 0)
runs the notice worker thread where ``[hook] notices_worker = thread``: one set of workers per host.

A connection stays with the process that accepted it (keep-alive), so the processes keep the connections
even between them (:class:`ProcessTable`): each writes how many it holds into a small table the parent
shares with all of them, and takes a new one only while it holds at most one more than the least busy
of the others that are alive (whose line in the table is fresh).  Without it, a burst of new connections
(clients starting together) may all land on one process and leave the other cores idle.  Each also writes
there how many writes it has under way, so that the others' reads wait for them (:mod:`.write_priority`).
The default of ``radicale-ext serve`` (``--processes auto``, :mod:`.helpers`) runs no parent: its first
process serves and starts helper processes under load, which share such a table, take connections by the
same rule and, since they start after the clients connected, hand connections over
(:meth:`ProcessTable.hand_over`).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from radicale.log import logger

STOP_SECONDS = 10.0     # how long the processes get to end after SIGTERM, before SIGKILL
SHORT_LIFE = 10.0       # a process that ends sooner than this after its start makes the next start wait
LONGEST_PAUSE = 30.0    # the longest wait before starting a process again
TICK = 0.25             # how often the parent looks at its processes
FRESH_SECONDS = 5.0     # a process whose line in the connection table is older is not counted (hung or gone)
HAND_OVER_SECONDS = 0.25   # a process hands over at most one connection this often, and takes none meanwhile
STALE_WRITE_SECONDS = 1.0   # a process that has said "writing" for longer is not waited for (stuck)


def notify(state: str) -> None:
    """Tell the service manager (systemd's ``sd_notify`` protocol: one datagram to ``$NOTIFY_SOCKET``)
    ``READY=1``, ``STOPPING=1`` or a ``STATUS=...`` line; nothing where no manager asks."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address.startswith(("/", "@")):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(state.encode(), "\0" + address[1:] if address.startswith("@") else address)
        except OSError as e:
            logger.warning("radicale-ext: could not tell the service manager %r: %s", state, e)


class ProcessTable:
    """What each server process tells the others: one line per slot, in a file the parent makes and every
    process maps.  A line holds how many connections the process holds and when it last said so (on the
    host's monotonic clock, the same for every process), and how many writes it has under way and since
    when (:mod:`.write_priority`).  Advisory: a line read while it is written is at worst one step old."""

    LINE = struct.Struct("=qdqd")
    HALF = struct.Struct("=qd")   # a line's halves: connections and when, writes and since when

    def __init__(self, fd: int, count: int, slot: int | None = None) -> None:
        self.fd, self.count, self.slot = fd, count, slot
        self._table = mmap.mmap(fd, self.LINE.size * count)
        #: this process runs the notice worker: while every process is idle, a new connection goes elsewhere
        self.runs_notice_worker = False
        self._handed_over = -HAND_OVER_SECONDS   # when this process last handed a connection over
        self._handing = threading.Lock()

    @classmethod
    def made(cls, count: int, slot: int | None = None) -> ProcessTable:
        """The parent's (or, with ``slot``, the first process's of :mod:`.helpers`): a new table, every line empty."""
        with tempfile.TemporaryFile() as file:   # no name on disk; the processes map it by descriptor
            fd = os.dup(file.fileno())
        os.ftruncate(fd, cls.LINE.size * count)
        table = cls(fd, count, slot)
        for slot in range(count):
            table.forget(slot)
        return table

    def forget(self, slot: int) -> None:
        """The process of ``slot`` ended: it counts no more until its replacement writes its line."""
        self.LINE.pack_into(self._table, slot * self.LINE.size, -1, 0.0, 0, 0.0)

    def may_accept(self, connections: int) -> bool:
        """This process holds ``connections``: write its line, and say whether it may take another."""
        assert self.slot is not None
        now = time.monotonic()
        self.HALF.pack_into(self._table, self.slot * self.LINE.size, connections, now)
        others = self._held_elsewhere(now)
        if not others:
            return True
        if now - self._handed_over < HAND_OVER_SECONDS:
            return False   # the client of the connection just handed over connects again: to another process
        fewest = min(others)
        if self.runs_notice_worker and connections == fewest == 0:
            return False   # a lone client (one phone syncing, a bulk import) gets a process of its own
        return connections <= fewest + 1

    def hand_over(self, connections: int) -> bool:
        """This process holds ``connections`` and is about to answer on one of them: should it end that one
        after the answer (``Connection: close``), for its client to connect again and be taken by another
        process?  Yes where another holds two fewer (a process started when the clients were connected
        already, :mod:`.helpers`: eight clients are shared four and four, not five and three), or where this
        one runs the notice worker and another holds none (the lone client of the rule above, where it came
        first); at most one every :data:`HAND_OVER_SECONDS`, and no new connection is taken meanwhile."""
        now = time.monotonic()
        others = self._held_elsewhere(now)
        if not others:
            return False
        fewest = min(others)
        if connections <= fewest + 1 and not (self.runs_notice_worker and fewest == 0 < connections):
            return False
        with self._handing:
            if now - self._handed_over < HAND_OVER_SECONDS:
                return False
            self._handed_over = now
        return True

    def held(self, slot: int) -> int | None:
        """How many connections the process of ``slot`` holds, as its line says; None where that line is not
        fresh (no process, or one that has not written it within :data:`FRESH_SECONDS`)."""
        held, written, _, _ = self.LINE.unpack_from(self._table, slot * self.LINE.size)
        return held if held >= 0 and time.monotonic() - written < FRESH_SECONDS else None

    def _held_elsewhere(self, now: float) -> list[int]:
        """How many connections each other process whose line is fresh holds."""
        return [held for held, written, _, _ in self._others() if held >= 0 and now - written < FRESH_SECONDS]

    def note_writes(self, count: int) -> None:
        """This process has ``count`` writes under way (its caller serializes the calls)."""
        assert self.slot is not None
        self.HALF.pack_into(self._table, self.slot * self.LINE.size + self.HALF.size, count, time.monotonic())

    def writes_elsewhere(self) -> bool:
        """Has another process a write under way, begun or ended within :data:`STALE_WRITE_SECONDS`?"""
        now = time.monotonic()
        return any(writes > 0 and now - since < STALE_WRITE_SECONDS for _, _, writes, since in self._others())

    def _others(self) -> Iterator[tuple[int, float, int, float]]:
        """The other slots' lines."""
        for slot in range(self.count):
            if slot != self.slot:
                yield self.LINE.unpack_from(self._table, slot * self.LINE.size)


# -- the server process's side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Child:
    """What a server process started by the parent is handed: its slot, the listening sockets, the pipes."""

    slot: int
    count: int
    socket_fds: tuple[int, ...]
    lifeline_fd: int   # read end; end-of-file when the parent is gone
    ready_fd: int      # write end; one byte when this process serves
    table_fd: int      # the table of the processes' connections and writes (ProcessTable)

    def table(self) -> ProcessTable:
        return ProcessTable(self.table_fd, self.count, self.slot)

    def spec(self) -> str:
        """This, as a helper process started by the first one is handed it on its command line (:mod:`.helpers`)."""
        return ",".join(map(str, (self.slot, self.count, self.lifeline_fd, self.ready_fd, self.table_fd,
                                  *self.socket_fds)))

    @classmethod
    def from_spec(cls, text: str) -> Child:
        slot, count, lifeline_fd, ready_fd, table_fd, *socket_fds = map(int, text.split(","))
        return cls(slot, count, tuple(socket_fds), lifeline_fd, ready_fd, table_fd)

    @property
    def name(self) -> str:
        return f"process {self.slot + 1} of {self.count}, pid {os.getpid()}"

    @property
    def runs_workers(self) -> bool:
        """The host's one notice worker thread is the first process's."""
        return self.slot == 0

    def sockets(self) -> list[socket.socket]:
        return [socket.socket(fileno=fd) for fd in self.socket_fds]

    def end_with_parent(self) -> None:
        """End this process (as SIGTERM does) when the parent is gone."""
        def wait() -> None:
            while os.read(self.lifeline_fd, 1):
                pass
            logger.warning("radicale-ext: the parent process is gone; %s ends", self.name)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=wait, name="parent watch", daemon=True).start()

    def ready(self) -> None:
        os.write(self.ready_fd, b"1")
        os.close(self.ready_fd)


def keep_to_a_core(child: Child) -> None:
    """With one server process for each core this server may use (``--processes N``, N those cores' number,
    at least two), the process of ``child``'s slot keeps to a core of its own, its threads with it; else (fewer
    or more processes than cores, or the kernel refuses) the kernel is left to choose.

    A process's threads take turns at one interpreter (the GIL) and hand it over at every request's reads,
    writes and waits; kept to one core, a hand-over is a switch between threads on that core, not a thread
    woken on the core another process is using (the likely reason, not traced; the gain was measured with the
    8-client mix: bench/RESULTS.md, "Session 30").  Everything in the process keeps to its core (the first
    one's notice worker thread too); the parent, the command line, the clients and PostgreSQL are not bound.
    ``--processes auto`` binds nothing: its first process serves alone at rest, on whichever core is free."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not Linux
        return
    if child.count < 2 or child.count != len(cores):
        return
    core = cores[child.slot % child.count]
    try:
        os.sched_setaffinity(0, {core})
    except OSError as e:
        logger.warning("radicale-ext: %s could not keep to core %d: %s", child.name, core, e)
        return
    logger.info("radicale-ext: %s keeps to core %d", child.name, core)


# -- the parent -----------------------------------------------------------------------------------------


@dataclass
class Forked:
    """A server process forked by the parent: the few things the parent asks of it (as of a ``Popen``)."""

    pid: int
    returncode: int | None = None   # as subprocess gives it: the exit status, or -N when killed by signal N

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:   # reaped elsewhere: ended, its status unknown (as subprocess takes it)
                self.returncode = 0
                return 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(0.02)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


@dataclass
class _Running:
    slot: int
    proc: Forked
    started: float
    ready_fd: int | None   # read end, until the process said it is ready (or ended)
    ready: bool = False


@dataclass
class Parent:
    """Forks ``count`` server processes, each running ``serve`` (its exit status) on ``sockets``, and keeps
    them running."""

    serve: Callable[[Child], int]
    count: int
    sockets: list[socket.socket]
    listen: str
    running: dict[int, _Running] = field(default_factory=dict)
    _stopping: bool = False
    _serving: bool = False   # every process of the first start has been ready
    _pause: dict[int, float] = field(default_factory=dict)   # slot: the pause before its last start
    _due: dict[int, float] = field(default_factory=dict)     # slot: when to start it again

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        lifeline_read, self._lifeline = os.pipe()
        self._lifeline_read = lifeline_read
        self._table = ProcessTable.made(self.count)
        try:
            for slot in range(self.count):
                self._start(slot)
            while not self._stopping:
                self._collect_ready()
                if not self._reap():
                    return 1
                self._start_due()
        finally:
            self._end_all()
            os.close(self._lifeline)
            os.close(self._lifeline_read)
            os.close(self._table.fd)
            for sock in self.sockets:
                sock.close()
        logger.info("radicale-ext: stopped (%d server processes ended)", self.count)
        return 0

    def _stop(self, signum: int, _frame: object) -> None:
        if not self._stopping:
            notify("STOPPING=1")
            logger.info("radicale-ext: %s received: ending the %d server processes",
                        signal.Signals(signum).name, len(self.running))
        self._stopping = True

    def _start(self, slot: int) -> None:
        ready_read, ready_write = os.pipe()
        child = Child(slot, self.count, tuple(s.fileno() for s in self.sockets), self._lifeline_read, ready_write,
                      self._table.fd)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError:
            os.close(ready_read)
            os.close(ready_write)
            raise
        if pid == 0:
            self._become(child, ready_read)
        os.close(ready_write)
        with contextlib.suppress(OSError):   # also in the process itself; whichever runs first
            os.setpgid(pid, pid)
        self.running[slot] = _Running(slot, Forked(pid), time.monotonic(), ready_read)

    def _become(self, child: Child, ready_read: int) -> NoReturn:
        """In the forked process: leave the parent's part behind, serve, and exit with ``serve``'s status
        (never returning into the parent's loop, whose ``finally`` would end the other processes)."""
        code = 1
        try:
            os.setpgid(0, 0)   # a process group of its own: a terminal's Ctrl-C reaches the parent only
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.environ.pop("NOTIFY_SOCKET", None)   # the parent tells systemd
            os.close(ready_read)
            os.close(self._lifeline)   # else the lifeline would not end with the parent
            for running in self.running.values():
                if running.ready_fd is not None:
                    os.close(running.ready_fd)
            _own_journal_socket()
            keep_to_a_core(child)
            code = self.serve(child)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _collect_ready(self) -> None:
        waiting = {r.ready_fd: r for r in self.running.values() if r.ready_fd is not None}
        if not waiting:
            time.sleep(TICK)
            return
        readable, _, _ = select.select(list(waiting), [], [], TICK)
        for fd in readable:
            running = waiting[fd]
            running.ready = os.read(fd, 1) == b"1"   # end-of-file: it ended first (seen by _reap)
            os.close(fd)
            running.ready_fd = None
            if running.ready and self._serving:
                logger.info("radicale-ext: server process %d of %d started again (pid %d)",
                            running.slot + 1, self.count, running.proc.pid)
        if not self._serving and len(self.running) == self.count and all(r.ready for r in self.running.values()):
            self._serving = True
            pids = ", ".join(str(r.proc.pid) for r in self.running.values())
            logger.info("radicale-ext: %d server processes serve %s (pids %s)", self.count, self.listen, pids)
            notify(f"READY=1\nSTATUS={self.count} server processes serve {self.listen}\nMAINPID={os.getpid()}")

    def _reap(self) -> bool:
        """Note the processes that ended and when to start each again; False: one of the first start failed."""
        now = time.monotonic()
        for slot, running in list(self.running.items()):
            code = running.proc.poll()
            if code is None or self._stopping:
                continue
            del self.running[slot]
            self._table.forget(slot)
            if running.ready_fd is not None:
                os.close(running.ready_fd)
            how = ended_how(code)
            if not self._serving and not running.ready and code > 0:
                logger.error("radicale-ext: server process %d of %d (pid %d) ended before it served (%s); "
                             "ending the others", slot + 1, self.count, running.proc.pid, how)
                return False
            short = not running.ready or now - running.started < SHORT_LIFE
            pause = min(LONGEST_PAUSE, max(1.0, 2 * self._pause.get(slot, 0.0))) if short else 0.0
            self._pause[slot] = pause
            self._due[slot] = now + pause
            logger.warning("radicale-ext: server process %d of %d (pid %d) ended (%s); starting another%s",
                           slot + 1, self.count, running.proc.pid, how, f" in {pause:g} s" if pause else "")
        return True

    def _start_due(self) -> None:
        now = time.monotonic()
        for slot, due in list(self._due.items()):
            if due <= now and not self._stopping:
                del self._due[slot]
                self._start(slot)

    def _end_all(self) -> None:
        end_in_time({f"server process {r.slot + 1}": r.proc for r in self.running.values()})
        for r in self.running.values():
            if r.ready_fd is not None:
                os.close(r.ready_fd)
                r.ready_fd = None
        self.running.clear()


class Ending(Protocol):
    """A server process as :func:`end_in_time` asks of it (a ``Popen``, or :class:`Forked`)."""

    pid: int

    def poll(self) -> int | None: ...

    def send_signal(self, signum: int) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


def end_in_time(processes: dict[str, Ending]) -> None:
    """SIGTERM to each of ``processes`` (by the name the log gives it) by its pid; SIGKILL to those still
    running after :data:`STOP_SECONDS`."""
    running = {name: process for name, process in processes.items() if process.poll() is None}
    for process in running.values():
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for name, process in running.items():
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("radicale-ext: %s (pid %d) did not end within %g s: killing it",
                           name, process.pid, STOP_SECONDS)
            process.kill()
            process.wait()


def ended_how(code: int) -> str:
    """A process's exit code, as the log says it: ``exit status N``, or ``killed by SIGNAME``."""
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


def _own_journal_socket() -> None:
    """A forked process opens its own connection to the systemd journal where the parent had one
    (Radicale's log handler keeps it; it is made on the first line logged under journald)."""
    import logging

    for handler in logging.getLogger().handlers:
        journal = getattr(handler, "_journal_socket", None)
        if isinstance(journal, socket.socket):
            journal.close()
            handler._journal_socket = None  # type: ignore[attr-defined]


def serve_several(serve: Callable[[Child], int], count: int, sockets: list[socket.socket], listen: str) -> int:
    """Fork ``count`` server processes, each running ``serve``, on ``sockets`` until SIGTERM or SIGINT; the
    exit status."""
    logger.info("radicale-ext: starting %d server processes on %s (pid %d supervises them)",
                count, listen, os.getpid())
    sys.stdout.flush()
    return Parent(serve, count, sockets, listen).run()
