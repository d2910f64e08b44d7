"""Replacing one card in Radicale's folder layout from the command line, as the server would.

The command line runs apart from the server and never imports Radicale, so
it writes the way Radicale's multifilesystem storage does, and records the
change the way our storage plugin does:

- under Radicale's storage lock, atomically
  (:mod:`radicale_ext.base.collection_folders`: a temporary file flushed to
  disk and renamed over the card; Radicale's own item cache is keyed by the
  file's content, so the server reads the new card at once);
- recorded in the outbox (:mod:`radicale_ext.notices.outbox`): a pending record
  before the file changes, ready after, with the summary the hook would add,
  so the change reaches the people it concerns like any other.
"""

from __future__ import annotations

import hashlib
import os

from ..base import layout
from ..base.collection_folders import atomic_write, storage_lock
from ..base.summary import summarize
from ..notices.outbox import Change, ChangeKind, Outbox


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
            atomic_write(folder, path, text)
        except BaseException:
            outbox.discard(record)
            raise
        outbox.complete(record, kind=ChangeKind.ITEM_UPDATED if old is not None else ChangeKind.ITEM_CREATED,
                        component="VCARD", uid=uid)
        outbox.annotate(record, {"old": summarize(old), "new": summarize(text)} if old else
                        {"new": summarize(text)})
