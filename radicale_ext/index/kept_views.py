"""The collections' views a server process keeps in memory, let go when nobody asked for them a while.

A process keeps, for each collection it served, its view of the items (:mod:`.item_index` on files,
:mod:`.pg_items` on PostgreSQL): about 1 KiB per item, and on files a watch of the kernel's (inotify)
on the collection's folder.  Without a bound a process that served a school's thousand calendars once
would hold all of them for good.  A view nobody asked for in ``[storage] index_idle_seconds`` is let go:
its memory is the process's to use again (a process's memory follows the collections asked for lately, not
every one it ever served) and its folder is no longer watched.  Nothing is lost: the change log, the epoch
and every sync token are in the index's database, and the next request for the collection makes its view
again from there (on files it also looks at every item's stamp, so a hand edit made meanwhile is seen).

One thread per process (:func:`release_when_idle`) looks once every quarter of the shortest wait (at most
once a minute) and asks every registered store to let go of what is idle; it starts with the first store
registered in the process, so never in the parent of ``serve --processes N`` (which builds no store).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)

V = TypeVar("V")

#: ``[storage] index_idle_seconds``' default: an hour, so a client syncing every half hour (Thunderbird's
#: default) or every quarter (iOS's "every 15 minutes") always finds its collections' views made
IDLE_SECONDS = 3600
LONGEST_LOOK = 60.0   # the thread looks at least this often


class KeptViews(Generic[V]):
    """Views by collection, each with when it was last asked for (not thread-safe: the store locks)."""

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._views: dict[str, V] = {}
        self._used: dict[str, float] = {}

    def get(self, key: str) -> V | None:
        found = self._views.get(key)
        if found is not None:
            self._used[key] = self.clock()
        return found

    def __setitem__(self, key: str, view: V) -> None:
        self._views[key] = view
        self._used[key] = self.clock()

    def pop(self, key: str) -> V | None:
        self._used.pop(key, None)
        return self._views.pop(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._views))

    def clear(self) -> None:
        self._views.clear()
        self._used.clear()

    def idle(self) -> list[str]:
        """The collections nobody asked for in ``idle_seconds`` (none where it is 0: kept for good)."""
        if self.idle_seconds <= 0:
            return []
        before = self.clock() - self.idle_seconds
        return [key for key, used in self._used.items() if used <= before]


class ReleasesIdle(Protocol):
    idle_seconds: float

    def release_idle(self) -> int:
        """Let go of the idle views; how many."""


_stores: weakref.WeakSet[ReleasesIdle] = weakref.WeakSet()
_started_in: int | None = None   # the pid whose thread runs (a forked process starts its own)
_lock = threading.Lock()
_registered = threading.Event()   # a store came: the thread works out its wait again


def release_when_idle(store: ReleasesIdle) -> None:
    """Have this process's thread ask ``store`` to let go of its idle views (the store may be dropped)."""
    global _started_in
    if store.idle_seconds <= 0:
        return
    with _lock:
        _stores.add(store)
        _registered.set()
        if _started_in == os.getpid():
            return
        _started_in = os.getpid()
    threading.Thread(target=_look_again_and_again, name="index views released", daemon=True).start()


def _next_look() -> float:
    with _lock:
        waits = [s.idle_seconds for s in _stores if s.idle_seconds > 0]
    return min(LONGEST_LOOK, min(waits, default=LONGEST_LOOK) / 4)


def _look_again_and_again() -> None:
    while True:
        _registered.clear()
        if _registered.wait(_next_look()):
            continue
        with _lock:
            stores = list(_stores)
        for store in stores:
            try:
                released = store.release_idle()
            except Exception:   # a store's failure must not end the thread for the others
                logger.exception("item index: letting go of idle views failed")
                continue
            if released:
                logger.debug("item index: let go of %d collection view(s) nobody asked for in %g s",
                             released, store.idle_seconds)
        del stores
