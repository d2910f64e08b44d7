"""The storage lock on lock files each thread keeps open (plugins/storage_lock.py): no file opened, truncated
or closed per lock, and still Radicale's exclusion: between threads, between processes (another process
holds ``flock`` on the files as Radicale's CLI or a stock Radicale would), after a lock file was replaced
(a storage folder restored from a backup), in a forked process, and for a lock taken inside another.

Real ``flock`` locks on real files under a folder with a German, Chinese and emoji name; waits are
asserted by what got in and in which order, not by durations.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from radicale_ext.plugins.storage_lock import WritersFirst

PATIENCE = 0.5   # how long a lock that should stay blocked is given to (wrongly) be granted


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "Speicher Müller 家庭 🎉"
    path.mkdir()
    return path


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


class OtherProcess:
    """A process of its own holding ``flock`` on a file (exclusive), until told to let go."""

    def __init__(self, path: Path) -> None:
        code = ("import fcntl, sys\n"
                f"f = open({str(path)!r}, 'w+')\n"
                "fcntl.flock(f.fileno(), fcntl.LOCK_EX)\n"
                "print('held', flush=True)\n"
                "sys.stdin.readline()\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "held"

    def let_go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(10)


def got_in_while(lock: WritersFirst, mode: str, meanwhile: Callable[[], OtherProcess]) -> list[str]:
    """A thread takes ``lock`` once (its files are open from then on); ``meanwhile()`` runs, and returns a
    process holding the lock file; the same thread asks the lock again.  What happened, in order."""
    events: list[str] = []
    opened, asked = threading.Event(), threading.Event()

    def take() -> None:
        with lock.acquire(mode):
            pass
        opened.set()
        asked.wait(10)
        with lock.acquire(mode):
            events.append("got in")
    thread = threading.Thread(target=take)
    thread.start()
    assert opened.wait(10)
    holder = meanwhile()
    asked.set()
    time.sleep(PATIENCE)
    events.append("other process lets go")
    holder.let_go()
    thread.join(10)
    return events


def test_a_thread_keeps_its_lock_files_open_and_does_not_touch_them(folder: Path) -> None:
    lock = WritersFirst(str(folder / ".Radicale.lock"))
    with lock.acquire("r"):
        pass
    before = open_descriptors()
    stamps = [(folder / name).stat().st_mtime_ns for name in (".Radicale.lock", WritersFirst.TURNSTILE)]
    time.sleep(0.05)
    for n in range(200):
        with lock.acquire("w" if n % 2 else "r"):
            assert lock.locked == ("w" if n % 2 else "r")
    assert open_descriptors() == before   # nothing opened (nor left open) per lock
    assert [(folder / name).stat().st_mtime_ns for name in (".Radicale.lock", WritersFirst.TURNSTILE)] == stamps
    assert lock.locked == ""


@pytest.mark.parametrize("mode", ["r", "w"])
def test_another_process_holding_the_lock_file_keeps_us_out(folder: Path, mode: str) -> None:
    lock = WritersFirst(str(folder / ".Radicale.lock"))
    assert got_in_while(lock, mode, lambda: OtherProcess(folder / ".Radicale.lock")) == \
        ["other process lets go", "got in"]


def test_a_replaced_lock_file_is_opened_again(folder: Path) -> None:
    """A storage folder restored from a backup brings lock files of its own: the next lock is on them, as
    Radicale's next open would be, not on the files this thread still holds open."""
    lock = WritersFirst(str(folder / ".Radicale.lock"))

    def restored() -> OtherProcess:
        for name in (".Radicale.lock", WritersFirst.TURNSTILE):
            (folder / name).unlink()
            (folder / name).write_bytes(b"")
        return OtherProcess(folder / ".Radicale.lock")
    assert got_in_while(lock, "w", restored) == ["other process lets go", "got in"]


def order_behind(lock: WritersFirst, holding: Callable[[], contextlib.AbstractContextManager[None]],
                 mode: str) -> list[str]:
    """A thread holds the lock as ``holding`` takes it; another thread asks for ``mode``.  What happened, in
    order."""
    events: list[str] = []
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with holding():
            held.set()
            release.wait(10)
            events.append("holder done")

    def asker() -> None:
        with lock.acquire(mode):
            events.append("asker in")
    first = threading.Thread(target=holder)
    first.start()
    assert held.wait(10)
    second = threading.Thread(target=asker)
    second.start()
    time.sleep(PATIENCE)
    events.append("holder lets go")
    release.set()
    first.join(10)
    second.join(10)
    return events


def test_threads_exclude_each_other_and_each_has_its_own_files(folder: Path) -> None:
    lock = WritersFirst(str(folder / ".Radicale.lock"))
    assert order_behind(lock, lambda: lock.acquire("w"), "r") == ["holder lets go", "holder done", "asker in"]


def test_a_lock_inside_a_lock_keeps_the_outer_one_until_it_ends(folder: Path) -> None:
    lock = WritersFirst(str(folder / ".Radicale.lock"))

    @contextlib.contextmanager
    def reading_with_a_read_inside() -> Iterator[None]:
        with lock.acquire("r"):
            with lock.acquire("r"):
                pass
            yield   # the inner release must not have let the writer in

    assert order_behind(lock, reading_with_a_read_inside, "w") == ["holder lets go", "holder done", "asker in"]

    with lock.acquire("w"), lock.acquire("r"), lock.acquire("w"):   # a writer reads and writes inside its lock
        assert lock.locked == "w"
    with lock.acquire("r"), pytest.raises(RuntimeError, match="under this thread's read lock"):
        with lock.acquire("w"):   # two opens would have waited for each other forever
            pass
    assert lock.locked == ""


def test_a_forked_process_locks_on_files_of_its_own(folder: Path) -> None:
    """A forked copy of an open file shares its locks with the original: a process forked from one whose
    thread had the files open must not lock through them."""
    lock = WritersFirst(str(folder / ".Radicale.lock"))
    with lock.acquire("r"):
        pass
    read_end, write_end = os.pipe()
    with lock.acquire("w"):
        pid = os.fork()
        if pid == 0:   # the child: its lock must wait for the parent's
            try:
                os.close(read_end)
                with lock.acquire("w"):
                    os.write(write_end, b"child in\n")
            finally:
                os._exit(0)
        os.close(write_end)
        time.sleep(PATIENCE)
        os.set_blocking(read_end, False)
        with pytest.raises(BlockingIOError):
            os.read(read_end, 100)   # the child is not in while the parent holds the lock
    os.set_blocking(read_end, True)
    assert os.read(read_end, 100) == b"child in\n"
    os.close(read_end)
    assert os.waitpid(pid, 0)[1] == 0
