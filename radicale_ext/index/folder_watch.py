"""Which files changed in the collection folders we watch (Linux inotify).

The item index (:mod:`radicale_ext.index.item_index`) trusts what it knows of a
folder only while the kernel watches that folder for it: every create,
write, attribute change, rename or delete of a file in it is queued by the
kernel during the system call that made it, by whichever process or editor
made it, and :meth:`FolderWatch.drain` collects the queue without blocking.
So a request need not ``stat`` 10,000 files to know that none changed.

Where inotify is missing (not Linux, ``inotify_simple`` not installed) or
refuses a watch (``fs.inotify.max_user_watches`` reached), :meth:`watch`
answers False and the index falls back to listing and ``stat``-ing the
folder on each request, which is correct and only slower.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

logger = logging.getLogger(__name__)

try:  # Linux only; optional elsewhere (see pyproject.toml)
    from inotify_simple import INotify, flags
except ImportError:  # pragma: no cover - exercised only off Linux
    INotify = None  # type: ignore[assignment,misc]
    flags = None  # type: ignore[assignment]

#: every name in a folder, not just some: the folder itself changed or events were lost
EVERYTHING = None

ChangedNames = set[str] | None


class FolderWatch:
    """Changed names per watched folder, collected on demand (not thread-safe: the caller locks)."""

    def __init__(self) -> None:
        self._inotify = None
        self._folders: dict[int, str] = {}
        self._watches: dict[str, int] = {}
        if INotify is None:
            return
        try:
            self._inotify = INotify()
        except OSError as e:
            logger.warning("item index: inotify unavailable (%s); folders are listed on each request", e)
        else:
            self._mask = (flags.CREATE | flags.DELETE | flags.MODIFY | flags.CLOSE_WRITE | flags.ATTRIB
                          | flags.MOVED_FROM | flags.MOVED_TO | flags.DELETE_SELF | flags.MOVE_SELF)

    @property
    def available(self) -> bool:
        return self._inotify is not None

    def watch(self, folder: str) -> bool:
        """Start watching ``folder``; False where that is not possible (the caller then scans)."""
        if folder in self._watches:
            return True
        if self._inotify is None:
            return False
        try:
            descriptor = self._inotify.add_watch(folder, self._mask)
        except OSError as e:
            logger.warning("item index: cannot watch %s (%s); it is listed on each request", folder, e)
            return False
        self._watches[folder] = descriptor
        self._folders[descriptor] = folder
        return True

    def forget(self, folder: str) -> None:
        descriptor = self._watches.pop(folder, None)
        if descriptor is None:
            return
        self._folders.pop(descriptor, None)
        if self._inotify is not None:
            try:
                self._inotify.rm_watch(descriptor)
            except OSError:  # the kernel already dropped it (folder deleted)
                pass

    def drain(self) -> Mapping[str, ChangedNames]:
        """Folders with changes since the last call: the changed names, or EVERYTHING."""
        if self._inotify is None or not self._watches:
            return {}
        changed: dict[str, ChangedNames] = {}
        events = self._inotify.read(timeout=0)
        while events:
            for event in events:
                self._note(event, changed)
            events = self._inotify.read(timeout=0)
        return changed

    def _note(self, event, changed: dict[str, ChangedNames]) -> None:
        if event.mask & flags.Q_OVERFLOW:  # the kernel dropped events: trust nothing
            for folder in self._watches:
                changed[folder] = EVERYTHING
            return
        folder = self._folders.get(event.wd)
        if folder is None:
            return
        if event.mask & (flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED):
            changed[folder] = EVERYTHING
            self.forget(folder)
            return
        names = changed.get(folder, set())
        if names is not EVERYTHING and event.name:
            names.add(event.name)
            changed[folder] = names
