"""Test servers forked from a process that imported the server's modules once.

A server process spends most of its start importing Radicale and our modules (~1 s of processor time);
the suite starts some 340 of them.  ``radicale-ext serve --processes N`` already forks its server
processes from a parent that imported those modules (``plugins.server._preload``); the tests do the
same with the standard library's fork server (``multiprocessing``'s "forkserver": one helper process
per test process, which imports :data:`PRELOAD` and forks a child per start).  Each child then runs the
server's own ``main`` with the test's config, in the server's folder, writing to its log, with the
test's environment: a real server process on 127.0.0.1 as before.

A start whose environment differs from the fork server's in more than pytest's own variables (a test
that puts a ``sitecustomize`` on PYTHONPATH, say, which only a new interpreter runs) starts a new
interpreter instead (:func:`may_fork`); so do the benchmarks, which measure whole processes.
:class:`ForkedProcess` answers as much of :class:`subprocess.Popen` as the tests use.
"""

from __future__ import annotations

import faulthandler
import gc
import multiprocessing
import os
import signal
import subprocess
import sys
from multiprocessing.context import ForkServerContext
from pathlib import Path

from radicale_ext.plugins import server

# what a server process imports as it starts (what ``serve --processes N`` imports before it forks), and
# this module (each child's target); nothing that only some requests need (tests/edge/test_memory.py)
PRELOAD = [*server.SERVER_MODULES, server.__name__, __name__]

_context: ForkServerContext | None = None
_environment: dict[str, str] = {}


def _own(environment: dict[str, str]) -> dict[str, str]:
    """The environment without pytest's own variables (PYTEST_CURRENT_TEST changes with every test)."""
    return {k: v for k, v in environment.items() if not k.startswith("PYTEST_")}


def may_fork() -> bool:
    """Whether a start now may be forked: the fork server is not yet running (it will start with this
    environment), or it runs with the same environment as the test has now."""
    return _context is None or _own(dict(os.environ)) == _environment


def start(config: Path, folder: Path, log: Path) -> ForkedProcess:
    """A server process on ``config``, in ``folder``, its output appended to ``log``."""
    global _context, _environment
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
        _environment = _own(dict(os.environ))
    process = _context.Process(target=_serve, args=(str(config), str(folder), str(log), dict(os.environ)),
                               name=f"server {folder.name}", daemon=False)
    process.start()
    return ForkedProcess(process, config)


def _serve(config: str, folder: str, log: str, environment: dict[str, str]) -> None:
    """In the forked child: the server's ``main``, as ``python -m radicale_ext.plugins.server`` runs it."""
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(folder)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    gc.freeze()   # the modules imported before the fork are never collected: no pass writes to their pages
    faulthandler.enable()   # as PYTHONFAULTHANDLER does for a new interpreter: stacks on SIGABRT
    sys.exit(server.main(["--config", config]))


class ForkedProcess:
    """A forked server process, answering as :class:`subprocess.Popen` does (``pid``, ``poll``,
    ``returncode``, ``wait``, ``send_signal``, ``kill``): a negative return code is the signal that
    ended it."""

    def __init__(self, process: multiprocessing.process.BaseProcess, config: Path) -> None:
        self._process = process
        self.args = [sys.executable, "-m", "radicale_ext.plugins.server", "--config", str(config)]

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
