"""Collections in Radicale's folder layout, made, listed and removed from outside the server.

The command line runs apart from the server and never imports Radicale, so it
writes the way Radicale's multifilesystem storage does
(``radicale/storage/multifilesystem/create_collection.py``, ``delete.py``,
``meta.py``):

- under Radicale's storage lock (``<filesystem_folder>/.Radicale.lock``,
  ``flock`` exclusive: the server holds it shared while it reads and
  exclusive while it writes), so no request sees half a change;
- atomically: a collection is made in a temporary folder beside its place
  (``.Radicale.tmp-*``, a name Radicale never lists), with its properties
  (``.Radicale.props``, JSON), flushed to disk and renamed into place; a
  collection is removed by renaming it into such a folder first; a file is
  written to a temporary file in a temporary folder and renamed over the old
  one (its mode follows the umask, as Radicale's own files do).

Recording the change (the outbox) is the caller's part: the base knows no
feature.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from . import layout
from .errors import Conflict, NotFound
from .names import shown

LOCK_NAME = ".Radicale.lock"
PROPS_NAME = ".Radicale.props"
TEMPORARY_PREFIX = ".Radicale.tmp-"
EXTENSIONS = {"VCALENDAR": ".ics", "VADDRESSBOOK": ".vcf"}


@contextlib.contextmanager
def storage_lock(collections_folder: str) -> Iterator[None]:
    """Radicale's storage lock, exclusive: no request reads or writes meanwhile."""
    os.makedirs(collections_folder, exist_ok=True)
    with open(os.path.join(collections_folder, LOCK_NAME), "w+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def atomic_write(folder: str, path: str, text: str) -> None:
    """Replace ``path`` (in ``folder``) by ``text``: all of it or nothing, on disk before it returns."""
    with tempfile.TemporaryDirectory(prefix=TEMPORARY_PREFIX, dir=folder) as tmp:
        written = os.path.join(tmp, os.path.basename(path))
        with open(written, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(written, path)
    sync_folder(folder)


def sync_folder(folder: str) -> None:
    """Make a folder's new or renamed entries durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _makedirs_synced(folder: str) -> None:
    """A folder and its missing parents, each made durable (Radicale's ``_makedirs_synced``)."""
    if os.path.isdir(folder):
        return
    parent = os.path.dirname(folder)
    _makedirs_synced(parent)
    os.makedirs(folder, exist_ok=True)
    sync_folder(parent)


def create_collection(collections_folder: str, path: str, props: Mapping[str, str]) -> None:
    """Make the collection ``path`` (``/alice/family/``) with ``props`` (``tag``, ``D:displayname``, ...).

    The owner's home is made too when it is missing, as Radicale makes it at
    the first login.  Call it holding :func:`storage_lock`.  Raises
    :class:`Conflict` when anything is at that place already; it never
    replaces a collection.
    """
    target = layout.collection_folder(collections_folder, path)
    if os.path.lexists(target):
        raise Conflict(f"{shown(path.strip('/'))} already exists; nothing changed "
                       f"(choose another name, or delete it first)")
    home = os.path.dirname(target)
    _makedirs_synced(home)
    with tempfile.TemporaryDirectory(prefix=TEMPORARY_PREFIX, dir=home) as tmp:
        made = os.path.join(tmp, "collection")
        os.mkdir(made)
        with open(os.path.join(made, PROPS_NAME), "w", encoding="utf-8") as f:
            json.dump(dict(props), f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        sync_folder(made)
        os.rename(made, target)
    sync_folder(home)


def delete_collection(collections_folder: str, path: str) -> None:
    """Remove the collection ``path`` and everything in it, as Radicale's ``delete`` does.

    It is first renamed out of sight (one step: requests see it or nothing),
    then removed.  Call it holding :func:`storage_lock`.  Raises :class:`NotFound`.
    """
    target = layout.collection_folder(collections_folder, path)
    if layout.collection_tag(collections_folder, path) is None:
        raise NotFound(f"no calendar or address book at {shown(path.strip('/'))}")
    home = os.path.dirname(target)
    with tempfile.TemporaryDirectory(prefix=TEMPORARY_PREFIX, dir=home) as tmp:
        os.rename(target, os.path.join(tmp, "collection"))
        sync_folder(home)


@dataclass(frozen=True)
class CollectionFolder:
    """A calendar or address book as it is on disk."""

    path: str                 # "/alice/family/"
    tag: str                  # "VCALENDAR" or "VADDRESSBOOK"
    display_name: str | None
    colour: str | None
    items: int                # events, tasks and journal entries, or cards
    changed_at: float = 0.0   # seconds since the epoch: the folder (an item added, replaced or removed)
                              # or its properties last changed

    @property
    def name(self) -> str:
        return self.path.strip("/").split("/")[-1]


COLOUR_PROPS = {"VCALENDAR": "ICAL:calendar-color", "VADDRESSBOOK": "{http://inf-it.com/ns/ab/}addressbook-color"}


def collections_of(collections_folder: str, owner: str) -> list[CollectionFolder]:
    """The calendars and address books directly in ``owner``'s home, by name."""
    home = layout.collection_folder(collections_folder, f"/{owner}/")
    try:
        entries = sorted(os.scandir(home), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        path = f"/{owner}/{entry.name}/"
        props = layout.collection_props(collections_folder, path)
        tag = props.get("tag")
        if tag not in EXTENSIONS:
            continue
        found.append(CollectionFolder(path=path, tag=tag, display_name=_text(props.get("D:displayname")),
                                      colour=_text(props.get(COLOUR_PROPS[tag])),
                                      items=_count_items(entry.path), changed_at=_changed_at(entry.path)))
    return found


def _changed_at(folder: str) -> float:
    """Radicale writes every item and its properties by renaming a new file into the folder, which
    changes the folder's mtime; the properties file's own mtime covers an older copy restored in place."""
    stamps = [os.stat(folder).st_mtime]
    with contextlib.suppress(OSError):
        stamps.append(os.stat(os.path.join(folder, PROPS_NAME)).st_mtime)
    return max(stamps)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count_items(folder: str) -> int:
    """Radicale's items: the files of the folder whose names do not start with "."."""
    with os.scandir(folder) as entries:
        return sum(1 for e in entries if not e.name.startswith(".") and e.is_file(follow_symlinks=False))
