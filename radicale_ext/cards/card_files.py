"""Replacing one card in Radicale's folder layout from the command line, as the server would.

The command line runs apart from the server and never imports Radicale, so
it writes the way Radicale's multifilesystem storage does, and records the
change the way our storage plugin does:

- under Radicale's storage lock (``<filesystem_folder>/.Radicale.lock``,
  ``flock`` exclusive: the server holds it shared while it reads and
  exclusive while it writes);
- atomically: a temporary file in the collection's folder, flushed to disk,
  renamed over the card (Radicale's own item cache is keyed by the file's
  content, so the server reads the new card at once);
- recorded in the outbox (:mod:`radicale_ext.notices.outbox`): a pending record
  before the file changes, ready after, with the summary the hook would add,
  so the change reaches the people it concerns like any other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator

from ..base import layout
from ..base.summary import summarize
from ..notices.outbox import Change, ChangeKind, Outbox

LOCK_NAME = ".Radicale.lock"


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


def item_etag(text: str) -> str:
    """The ETag Radicale gives an item (the SHA-256 of its text)."""
    return f'"{hashlib.sha256(text.encode("utf-8")).hexdigest()}"'


def replace_card(collections_folder: str, outbox: Outbox, collection: str, href: str, text: str, *,
                 actor: str, uid: str | None) -> None:
    """Store ``text`` as the card ``href`` of ``collection`` (``/alice/contacts/``)."""
    folder = layout.collection_folder(collections_folder, collection)
    path = os.path.join(folder, href)
    with storage_lock(collections_folder):
        try:
            with open(path, encoding="utf-8", newline="") as f:
                old: str | None = f.read()
        except FileNotFoundError:
            old = None
        record = outbox.begin(Change(kind=ChangeKind.ITEM_CHANGED, actor=actor, collection=collection, item=href,
                                     etag=item_etag(text)))
        try:
            _atomic_write(folder, path, text)
        except BaseException:
            outbox.discard(record)
            raise
        outbox.complete(record, kind=ChangeKind.ITEM_UPDATED if old is not None else ChangeKind.ITEM_CREATED,
                        component="VCARD", uid=uid)
        outbox.annotate(record, {"old": summarize(old), "new": summarize(text)} if old else
                        {"new": summarize(text)})


def _atomic_write(folder: str, path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".Radicale.tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
