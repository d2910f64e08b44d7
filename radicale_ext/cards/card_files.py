"""Replacing one card from the command line, as the server would.

The command line runs apart from the server and never imports Radicale, so
it writes the way the storage does (:class:`~radicale_ext.base.collection_store.CollectionWrites`),
and records the change the way our storage plugin does:

- under the storage's lock, atomically (on files,
  :mod:`radicale_ext.base.collection_folders`: a temporary file flushed to
  disk and renamed over the card; Radicale's own item cache is keyed by the
  file's content, so the server reads the new card at once; on PostgreSQL,
  one transaction that moves the address book's change counter on);
- recorded in the outbox (:mod:`radicale_ext.notices.outbox`): a pending record
  before the file changes, ready after, with the summary the hook would add,
  so the change reaches the people it concerns like any other.
"""

from __future__ import annotations

import hashlib

from ..base.collection_store import CollectionStore, CollectionWrites
from ..base.summary import summarize
from ..notices.outbox import Change, ChangeKind, Finished, Outbox


def item_etag(text: str) -> str:
    """The ETag Radicale gives an item (the SHA-256 of its text)."""
    return f'"{hashlib.sha256(text.encode("utf-8")).hexdigest()}"'


def replace_card(writes: CollectionWrites, collections: CollectionStore, outbox: Outbox, collection: str,
                 href: str, text: str, *, actor: str, uid: str | None) -> None:
    """Store ``text`` as the card ``href`` of ``collection`` (``/alice/contacts/``)."""
    with writes.locked():
        old = collections.item_text(collection, href)
        record = outbox.begin(Change(kind=ChangeKind.ITEM_CHANGED, actor=actor, collection=collection, item=href,
                                     etag=item_etag(text)))
        try:
            writes.write_card(collection, href, text)
        except BaseException:
            outbox.discard(record)
            raise
        # ready with its summary in one transaction: no worker tells the change without the card's name
        outbox.finish({record: Finished(kind=ChangeKind.ITEM_UPDATED if old is not None else ChangeKind.ITEM_CREATED,
                                        component="VCARD", uid=uid,
                                        detail={"old": summarize(old), "new": summarize(text)} if old else
                                        {"new": summarize(text)})})
