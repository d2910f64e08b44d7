"""What the request's reader sees of a collection's stored items, where it differs from what is stored.

Radicale hands the storage the owner's name for a read through a share, but some
items read differently for each person (:func:`radicale_ext.plugins._request.reader`):

- a me card in its owner's address book, projected to what the reader may see
  (:mod:`.me_card_views`, docs/cards.md);
- an event of a shared calendar, with the reader's own alarms and TRANSP in place
  of the owner's (:mod:`.personal_views`, docs/sharing.md).

Both are a :class:`ReaderView` of one collection for one request: the storage
plugin's collection asks it for each item it reads and for the collection's ETag,
date and sync token, so that each person's values move when (and only when) what
they see moves.  A sync token of such a view is the item index's token, then
:data:`COUNT_MARK` and a number saying how far the reader has seen their own
changes (:mod:`.view_tokens`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from radicale import config
from radicale import item as radicale_item

from radicale_ext.index.item_index import Entry, FolderView

from . import me_card_views, personal_views


class ReaderView(Protocol):
    def item(self, stored: radicale_item.Item) -> radicale_item.Item | None:
        """The item as the reader sees it (``stored`` itself where nothing differs; ``None``: not at all)."""

    def entry(self, href: str, stored: Entry) -> Entry | None:
        """The item's index entry with the reader's ETag and date (``None``: not at all)."""

    def ctag(self, view: FolderView, meta: Mapping[str, str]) -> str:
        """The collection's ETag (CS:getctag) as the reader sees it."""

    def last_modified(self, view: FolderView, props_mtime_ns: int, folder_mtime_ns: int) -> str:
        """The collection's DAV:getlastmodified as the reader sees it."""

    def token(self, view: FolderView) -> str:
        """The reader's sync token (RFC 6578)."""

    def changes(self, view: FolderView, old_token: str) -> list[str]:
        """The items changed for the reader since ``old_token``; ValueError for a token not issued here."""


def sees_stored(path: str, reader: str) -> bool:
    """Whether ``reader`` sees the collection at ``path`` as stored: nobody named, or its owner."""
    return not reader or reader == path.strip("/").split("/")[0]


def view_for(configuration: config.Configuration, path: str, tag: str, reader: str, writing: bool,
             read: Callable[[str], radicale_item.Item | None], view: FolderView) -> ReaderView | None:
    """The reader's view of the collection at ``path`` (Radicale's "alice/family"); None: they see what
    is stored.  Within a write, only personal data is seen (a writer's If-Match holds their own ETag)."""
    if sees_stored(path, reader):
        return None
    if tag == "VCALENDAR":
        return personal_views.personal_view(configuration, path, reader, writing)
    if tag == "VADDRESSBOOK" and not writing:
        return me_card_views.seen_me_card(configuration, path, tag, read, view)
    return None
