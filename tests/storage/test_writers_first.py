"""The storage lock lets a waiting writer in before readers that come after it (plugins/storage_lock.py
``WritersFirst``): under a steady stream of reads a PUT waited for a moment without any reader.

Real ``flock`` locks on files, each thread through open files of its own (so threads here stand for server
processes as well); the order of events is asserted, not durations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from radicale import pathutils

from radicale_ext.plugins.storage import WritersFirst
from radicale_ext.plugins.storage_lock import part_of_a_write, when_write_lock_released

PATIENCE = 0.5   # how long a lock that should stay blocked is given to (wrongly) be granted


def order_of_a_late_reader(lock: pathutils.RwLock,
                           late: Callable[[Callable[[], None]], object] = lambda read: read()) -> list[str]:
    """A reader holds the lock, a writer comes, then a second reader: who gets in first of the two
    (``late(read)`` calls ``read``, which takes the lock, as the second reader would: e.g. in a request)."""
    events: list[str] = []
    first_in, release_first, writer_waiting = threading.Event(), threading.Event(), threading.Event()

    def first_reader() -> None:
        with lock.acquire("r"):
            first_in.set()
            release_first.wait(10)

    def writer() -> None:
        writer_waiting.set()
        with lock.acquire("w"):
            events.append("writer")

    def read() -> None:
        with lock.acquire("r"):
            events.append("late reader")

    def late_reader() -> None:
        late(read)

    threads = [threading.Thread(target=first_reader)]
    threads[0].start()
    assert first_in.wait(10)
    threads.append(threading.Thread(target=writer))
    threads[1].start()
    assert writer_waiting.wait(10)
    time.sleep(PATIENCE)   # the writer is at the lock now
    threads.append(threading.Thread(target=late_reader))
    threads[2].start()
    time.sleep(PATIENCE)
    release_first.set()
    for thread in threads:
        thread.join(10)
    return events


def test_a_waiting_writer_goes_before_readers_that_come_after_it(tmp_path: Path) -> None:
    assert order_of_a_late_reader(WritersFirst(str(tmp_path / ".Radicale.lock"))) == ["writer", "late reader"]


def test_the_reads_of_a_request_that_writes_do_not_queue_behind_waiting_writers(tmp_path: Path) -> None:
    """Radicale reads the user's principal collection before every request: a PUT's look did not even
    begin before every write queued ahead had ended, so the next PUT could not parse meanwhile."""
    lock = WritersFirst(str(tmp_path / ".Radicale.lock"))
    def as_part_of_a_write(read: Callable[[], None]) -> None:
        with part_of_a_write():
            read()

    assert order_of_a_late_reader(lock, as_part_of_a_write) == ["late reader", "writer"]


def test_the_reads_of_a_request_that_writes_still_wait_for_a_writer_holding_the_lock(tmp_path: Path) -> None:
    lock = WritersFirst(str(tmp_path / ".Radicale.lock"))
    events: list[str] = []
    writing, release = threading.Event(), threading.Event()

    def writer() -> None:
        with lock.acquire("w"):
            writing.set()
            release.wait(10)
            events.append("writer done")

    def reader() -> None:
        with part_of_a_write(), lock.acquire("r"):
            events.append("reader")

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    threads[0].start()
    assert writing.wait(10)
    threads[1].start()
    time.sleep(PATIENCE)
    assert events == []
    release.set()
    for thread in threads:
        thread.join(10)
    assert events == ["writer done", "reader"]


def test_radicales_own_lock_lets_the_late_reader_pass_the_writer(tmp_path: Path) -> None:
    """Why the turnstile exists: the plain lock starves the writer."""
    assert order_of_a_late_reader(pathutils.RwLock(str(tmp_path / ".Radicale.lock"))) == ["late reader", "writer"]


@pytest.mark.parametrize("mode", ["r", "w"])
def test_readers_share_and_the_lock_still_says_what_it_holds(tmp_path: Path, mode: str) -> None:
    lock = WritersFirst(str(tmp_path / ".Radicale.lock"))
    with lock.acquire(mode):
        assert lock.locked == mode
        if mode == "r":
            inside: list[str] = []

            def second_reader() -> None:
                with lock.acquire("r"):
                    inside.append(lock.locked)
            other = threading.Thread(target=second_reader)
            other.start()
            other.join(5)
            assert inside == ["r"], "a second reader gets in beside the first"
    assert (tmp_path / WritersFirst.TURNSTILE).exists()


# -- after the write: what waits for the write lock's release (plugins/storage_lock.py, "After the write") --

def taken_by_another_thread(lock: pathutils.RwLock, mode: str) -> bool:
    """Can another thread (standing for another process) take the lock in ``mode`` now?"""
    taken = threading.Event()

    def take() -> None:
        with lock.acquire(mode):
            taken.set()
    other = threading.Thread(target=take)
    other.start()
    other.join(5)
    return taken.is_set()


def test_an_action_asked_for_under_the_write_lock_runs_once_the_lock_is_let_go_of(tmp_path: Path) -> None:
    lock = WritersFirst(str(tmp_path / ".Radicale.lock"))
    seen: list[str] = []
    assert not when_write_lock_released("sync", lambda: seen.append("too early")), "no lock held: done at once"
    with lock.acquire("r"):
        assert not when_write_lock_released("sync", lambda: seen.append("too early")), "a read lock: at once"
    with lock.acquire("w"):
        assert when_write_lock_released("sync Familie Müller 家庭", lambda: seen.append(
            "synced, others " + ("in" if taken_by_another_thread(lock, "w") else "kept out")))
        assert when_write_lock_released("sync Familie Müller 家庭", lambda: seen.append("twice"))
        with lock.acquire("w"):   # taken again inside: its release is not the lock's
            assert when_write_lock_released("sync Schule 学校", lambda: seen.append("second folder"))
        assert seen == []
    assert seen == ["synced, others in", "second folder"]
    assert not when_write_lock_released("sync", lambda: None), "the lock let go of: nothing waits any more"


def test_every_action_runs_though_one_fails_and_the_first_failure_is_raised(tmp_path: Path) -> None:
    lock = WritersFirst(str(tmp_path / ".Radicale.lock"))
    seen: list[str] = []

    def fails() -> None:
        raise OSError("fsync: Input/output error")
    with pytest.raises(OSError, match="Input/output"), lock.acquire("w"):
        when_write_lock_released("first", fails)
        when_write_lock_released("second", lambda: seen.append("second"))
    assert seen == ["second"]
    assert taken_by_another_thread(lock, "w"), "the lock was let go of all the same"


def test_a_write_request_is_told_once_when_it_lets_go_of_its_write_lock(tmp_path: Path) -> None:
    lock = WritersFirst(str(tmp_path / ".Radicale.lock"))
    told: list[str] = []
    with part_of_a_write(released=lambda: told.append(lock.locked or "free")):
        with lock.acquire("r"):
            pass
        assert told == [], "a read lock's release is not the write's"
        with lock.acquire("w"):
            with lock.acquire("w"):
                pass
            assert told == [], "nor an inner hold's"
        assert told == ["free"]
        with lock.acquire("w"):
            pass
    assert told == ["free"], "once, at the first write lock's release"
