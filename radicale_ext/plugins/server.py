"""Run radicale-ext: Radicale's application, with our extension, under waitress.

    python -m radicale_ext.plugins.server --config config/radicale.ini [--processes N|auto|auto:N]

waitress is a production WSGI server (keep-alive, a pool of threads); it
replaces Radicale's development server.  :mod:`.http_edge` sets it up with
the limits a small server can hold (connections, deadlines, bodies, UTF-8
paths); its requests that read wait for the host's writes under way
(:mod:`.write_priority`).  Unless ``[hook] notices_worker =
none``, a thread of this process delivers change notices (see
:mod:`radicale_ext.notices.worker`).  With ``--processes auto`` (what
``radicale-ext serve`` asks for) this process binds the listening address,
serves on it and starts helper processes while it is busy, up to one per
core (:mod:`.helpers`).  With ``--processes N`` above 1 it binds the
address, imports the server's modules (:func:`_preload`) and forks N server
processes on it (:mod:`.processes`), the first of which runs the notice
worker thread.  Start-up problems (bad config,
unusable sharing database) end the process with one clear line and exit 1.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import os
import signal
import socket
import sys
from collections.abc import Sequence

from radicale import config, log
from radicale.log import logger

from radicale_ext.base.errors import ExtError
from radicale_ext.base.serve_options import Processes, process_count, seconds_above_zero

from . import http_edge
from .helpers import LEAVE_AFTER, Answering, Helpers, Leaving
from .options import check_options, storage_options
from .processes import Child, notify, serve_several
from .write_priority import WritesFirst


def _free_trace_calls(level: str) -> None:
    """Radicale calls ``logger.trace`` in inner loops (a home PROPFIND makes two
    calls per share per response, so N**2 of them); even with tracing off each
    costs ~1.5 us through ``functools.partialmethod``.  Below the trace level
    we make the call free.  Measured in bench/RESULTS.md."""
    if level != "trace":
        logger.trace = lambda *args, **kwargs: None  # type: ignore[method-assign]


MALLOC_ARENAS = 2


def _fewer_malloc_arenas() -> None:
    """glibc's malloc gives threads that allocate at once heaps of their own ("arenas", up to 8 per core),
    and what is freed in one is kept for it: a process whose 8 request threads each built a large answer
    holds each one's leftovers.  Two arenas, as ``MALLOC_ARENA_MAX=2`` would set them (the GIL lets one
    thread allocate at a time anyway); measured in docs/performance.md, "Memory".  Set before any thread
    starts; an admin's own ``MALLOC_ARENA_MAX`` is left as it is, and a libc without ``mallopt`` is left
    alone."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        ctypes.CDLL(None).mallopt(-8, MALLOC_ARENAS)   # M_ARENA_MAX
    except (OSError, AttributeError):   # pragma: no cover - not glibc
        pass


#: seconds a thread runs Python before one waiting for the interpreter takes its turn (CPython's default: 0.005)
SWITCH_INTERVAL = 0.001


def _shorter_turns() -> None:
    """For a process that serves beside others (``--processes N``, a helper): a thread that holds the
    storage's write lock, or is about to let go of it, holds up every request of every server process on
    the host; when it wakes (its ``flock`` granted, its fsync done) it waits for the interpreter until the
    thread running Python lets go, after CPython's switch interval, 5 ms by default: longer than most
    requests.  With 1 ms two processes under the mixed load answered about 5% more requests.  A process
    alone keeps 5 ms: there a shorter turn only hands the interpreter more often to the notice worker
    beside a request (a PUT on an idle server took longer; bench/RESULTS.md, session 28)."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="radicale-ext serve")
    parser.add_argument("--config", required=True, help="Radicale INI file")
    parser.add_argument("--debug", action="store_true", help="log every request")
    parser.add_argument("--threads", type=int, default=8, help="worker threads per process (default: %(default)s)")
    parser.add_argument("--processes", type=process_count, default=Processes(1),
                        help="server processes on the listening address: N (always), or auto (one at rest, up to "
                             "one per core under load), or auto:N (up to N under load) (default: 1)")
    parser.add_argument("--helpers-leave-after", type=seconds_above_zero, default=LEAVE_AFTER, metavar="SECONDS",
                        help="with auto: a helper process that has held no connection this long leaves "
                             "(default: %(default)g)")
    parser.add_argument("--helper", help=argparse.SUPPRESS)   # a helper process's place (helpers.py)
    return parser.parse_args(argv)


# the modules every server process imports as it starts: the plugins the Application loads, the notice worker
SERVER_MODULES = ("radicale_ext.notices.worker", "radicale_ext.plugins.app", "radicale_ext.plugins.auth",
                  "radicale_ext.plugins.hook", "radicale_ext.plugins.rights", "radicale_ext.plugins.sharing",
                  "radicale_ext.plugins.storage", "radicale_ext.plugins.worker")


def _preload() -> None:
    """Import, in the parent of several processes, :data:`SERVER_MODULES`, and move them out of the
    garbage collector's sight (``gc.freeze``): the processes forked afterwards share these pages with
    the parent and each other instead of each importing its own copy, and no collection in a process
    writes to them (which would copy them).  Importing them creates no thread, connection or
    descriptor; building the Application (databases, the item index, inotify) is left to each process."""
    for name in SERVER_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()


def _bound(configuration: config.Configuration) -> list[socket.socket] | None:
    """``[server] hosts`` bound for several processes, after checking the options once (rather than in every
    process); None (the reason said) where they are wrong or the address is taken."""
    try:
        check_options(configuration)
        storage_options(configuration)
    except (RuntimeError, ExtError) as e:
        print(f"radicale-ext: error: {e}", file=sys.stderr)
        return None
    try:
        return http_edge.listening_sockets(configuration)
    except OSError as e:
        print(f"radicale-ext: error: cannot serve on [server] hosts: {e}", file=sys.stderr)
        return None


def _several(args: argparse.Namespace, configuration: config.Configuration, level: str) -> int:
    """This process binds the address and forks ``args.processes`` server processes on it."""
    sockets = _bound(configuration)
    if sockets is None:
        return 1
    _preload()

    def serve(child: Child) -> int:
        child.end_with_parent()
        _shorter_turns()
        return _serve(args, configuration, level, child)
    return serve_several(serve, args.processes.count, sockets, http_edge.addresses(configuration))


def _on_demand(args: argparse.Namespace, configuration: config.Configuration, level: str) -> int:
    """This process binds the address, serves on it, and starts helper processes while it is busy
    (:mod:`.helpers`)."""
    sockets = _bound(configuration)
    if sockets is None:
        return 1
    command = [sys.executable, "-m", "radicale_ext.plugins.server", "--config", args.config,
               "--threads", str(args.threads), "--helpers-leave-after", str(args.helpers_leave_after)]
    helpers = Helpers(command + (["--debug"] if args.debug else []), args.processes.count, sockets)

    def stop(signum: int, _frame: object) -> None:
        logger.info("radicale-ext: %s received: ending %d helper processes and this one",
                    signal.Signals(signum).name, len(helpers.running))
        raise SystemExit(0)   # out of the server's loop, which ends its threads
    signal.signal(signal.SIGTERM, stop)
    try:
        return _serve(args, configuration, level, None, helpers)
    finally:
        helpers.stop()
        for sock in sockets:
            sock.close()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    _fewer_malloc_arenas()
    log.setup()
    try:
        configuration = config.load([(args.config, False)])
    except Exception as e:
        print(f"radicale-ext: error: invalid configuration {args.config!r}: {e}", file=sys.stderr)
        return 1
    level = "debug" if args.debug else configuration.get("logging", "level")
    log.set_level(level, configuration.get("logging", "backtrace_on_debug"),
                  configuration.get("logging", "trace_filter"))
    if args.helper:
        child = Child.from_spec(args.helper)
        child.end_with_parent()
        _shorter_turns()
        return _serve(args, configuration, level, child)
    if args.processes.count > 1:
        return (_on_demand if args.processes.on_demand else _several)(args, configuration, level)
    return _serve(args, configuration, level, None)


def _serve(args: argparse.Namespace, configuration: config.Configuration, level: str, child: Child | None,
           helpers: Helpers | None = None) -> int:
    """Build the Application and serve: alone (``child`` None), the first process of ``helpers``, or as a
    server process forked by the parent or a helper started by the first process."""
    _free_trace_calls(level)
    # imported here for one process alone; the parent of several imported them before forking (_preload)
    from radicale_ext.notices.worker import start_thread

    from .app import Application
    from .hook import notice_settings
    from .worker import notices_for, reminders_for

    try:
        application = Application(configuration)
    except ExtError as e:
        print(f"radicale-ext: error: {e}", file=sys.stderr)
        return 1
    except RuntimeError as e:
        print(f"radicale-ext: error: {e}", file=sys.stderr)
        return 1
    try:
        notices = notice_settings(configuration)
        runs_worker = notices.enabled and notices.worker == "thread" and (child is None or child.runs_workers)
        if runs_worker:
            for_site = notices_for(configuration, notices)
            start_thread(for_site, reminders=reminders_for(for_site))
            if child is not None:
                logger.info("radicale-ext: the notice worker runs in %s", child.name)
    except (ExtError, RuntimeError) as e:
        print(f"radicale-ext: error: {e}", file=sys.stderr)
        return 1
    if helpers is not None:
        answering = Answering(WritesFirst(application, helpers.table))

        def ready() -> None:
            notify("READY=1")
            helpers.watch(answering.seconds)
        helpers.table.runs_notice_worker = runs_worker
        http_edge.serve(answering, configuration, args.threads, sockets=helpers.sockets,
                        process=f"process 1, up to {helpers.most} under load, pid {os.getpid()}", ready=ready,
                        may_accept=helpers.table.may_accept, hand_over=helpers.table.hand_over)
        return 0
    if child is None:
        http_edge.serve(WritesFirst(application), configuration, args.threads, ready=lambda: notify("READY=1"))
        return 0
    table = child.table()
    table.runs_notice_worker = runs_worker
    name = f"helper {child.name}" if args.helper else child.name
    may_accept = Leaving(table, args.helpers_leave_after, name).may_accept if args.helper else table.may_accept
    # connections are handed over where processes come and go (helpers); N processes always start together
    http_edge.serve(WritesFirst(application, table), configuration, args.threads, sockets=child.sockets(),
                    process=name, ready=child.ready, may_accept=may_accept,
                    hand_over=table.hand_over if args.helper else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
