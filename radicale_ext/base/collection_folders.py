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

from . import layout
from .collection_store import PROPS_NAME, FolderStore, already_there, no_collection

LOCK_NAME = ".Radicale.lock"
TEMPORARY_PREFIX = ".Radicale.tmp-"


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
        raise already_there(path)
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
    if FolderStore(collections_folder).tag(path) is None:
        raise no_collection(path)
    home = os.path.dirname(target)
    with tempfile.TemporaryDirectory(prefix=TEMPORARY_PREFIX, dir=home) as tmp:
        os.rename(target, os.path.join(tmp, "collection"))
        sync_folder(home)


class FolderWrites:
    """:class:`~.collection_store.CollectionWrites` in Radicale's folder layout (the functions above)."""

    def __init__(self, collections_folder: str) -> None:
        self.collections_folder = collections_folder

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return storage_lock(self.collections_folder)

    def create(self, path: str, props: Mapping[str, str]) -> None:
        create_collection(self.collections_folder, path, props)

    def set_props(self, path: str, props: Mapping[str, str]) -> None:
        collection = layout.collection_folder(self.collections_folder, path)
        atomic_write(collection, os.path.join(collection, PROPS_NAME), json.dumps(dict(props), sort_keys=True))

    def delete(self, path: str) -> None:
        delete_collection(self.collections_folder, path)

    def write_card(self, path: str, href: str, text: str) -> None:
        folder = layout.collection_folder(self.collections_folder, path)
        atomic_write(folder, os.path.join(folder, href), text)
