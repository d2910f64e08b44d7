"""What others read of a me card in its owner's own address book (docs/cards.md).

- :class:`SeenMeCard`: the address book read by someone else than the
  owner (a subscriber or collaborator, through their mount or on the
  owner's path), a :class:`~radicale_ext.plugins.reader_views.ReaderView`:
  the storage plugin's collection asks it for the card as that reader sees
  it, and for the collection's ETag, date and sync token as they see them
  (:mod:`radicale_ext.cards.through_shares` keeps what each reader saw);
- :class:`LinkedMeCards`: what a share link may show of a me card, handed
  to the links feature (:class:`radicale_ext.links.reader.MeCards`), which
  may not import the cards feature.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from radicale import config
from radicale import item as radicale_item

from radicale_ext.cards.me_cards import CardBook, StoredCard
from radicale_ext.cards.projection import ProjectedCard
from radicale_ext.cards.through_shares import Seen
from radicale_ext.index.item_index import Entry, FolderView, collection_etag
from radicale_ext.links.feeds import StoredItem

from . import _request
from ._site import site_for
from .indexed_items import http_date
from .view_tokens import reader_token, split_token


class SeenMeCard:
    """The me card of the collection a request reads, as its reader sees it, and the collection's ETag,
    date and sync token built from what they see (a field hidden from them moves none of them)."""

    def __init__(self, href: str, seen: Seen) -> None:
        self.href = href
        self.seen = seen

    def item(self, stored: radicale_item.Item) -> radicale_item.Item | None:
        """The card as the reader sees it (``None``: not at all); any other item as stored."""
        seen = self.seen
        if stored.href != self.href:
            return stored
        if seen.text is None:
            return None
        if seen.whole:
            return stored
        return radicale_item.Item(collection=stored.collection, href=stored.href, text=seen.text, etag=seen.etag,
                                  uid=stored.uid, name="VCARD", component_name="VCARD",
                                  last_modified=email.utils.formatdate(seen.modified, usegmt=True))

    def entry(self, href: str, stored: Entry) -> Entry | None:
        """The card's index entry as the reader sees it: their ETag and date (``None``: not at all)."""
        seen = self.seen
        if href != self.href:
            return stored
        if seen.text is None or seen.etag is None:
            return None
        if seen.whole:
            return stored
        # named as :meth:`item` names the projection (its getcontenttype then says ";component=VCARD")
        return replace(stored, facts=replace(stored.facts, etag=seen.etag, name="VCARD", component="VCARD"),
                       stamp=replace(stored.stamp, mtime_ns=int(seen.modified * 1_000_000_000)))

    def ctag(self, view: FolderView, meta: Mapping[str, str]) -> str:
        """Radicale's collection ETag over the items as the reader sees them."""
        etags = ((href, self.seen.etag if href == self.href else view.entries[href].facts.etag) for href in view.order)
        return collection_etag(((href, etag) for href, etag in etags if etag is not None), meta)

    def last_modified(self, view: FolderView, props_mtime_ns: int, folder_mtime_ns: int) -> str:
        """The newest date of the collection's properties, its other items (changed or deleted) and the
        card as the reader sees it; the folder's own date moves with every write, so it is left out."""
        others = max((entry.stamp.mtime_ns for href, entry in view.entries.items() if href != self.href), default=0)
        deleted = max((stone.deleted_ns for href, stone in view.tombstones.items() if href != self.href), default=0)
        return http_date(max(props_mtime_ns, others, deleted, int(self.seen.modified * 1_000_000_000)))

    def token(self, view: FolderView) -> str:
        """The index's token after the last change of another item, and the card's count of changes."""
        newest = max([entry.seq for href, entry in view.entries.items() if href != self.href]
                     + [stone.seq for href, stone in view.tombstones.items() if href != self.href], default=0)
        issued = min((seq for seq in view.checks if seq >= newest and view.token_at(seq)), default=None)
        base = view.token_at(issued) if issued is not None else None
        return reader_token(base or view.token, self.seen.changes)

    def changes(self, view: FolderView, old_token: str) -> list[str]:
        """The items changed for the reader since ``old_token`` (RFC 6578); ValueError for a token
        the index did not issue.  A token of the index alone (issued before the card was a me card,
        or to someone who saw it whole) reports the card."""
        if not old_token:
            names = [href for href in view.changes_since("") if href != self.href]
            return names + ([self.href] if self.seen.text is not None else [])
        base, count = split_token(old_token)
        names = [href for href in view.changes_since(base) if href != self.href]
        if count != self.seen.changes:
            names.append(self.href)
        return names


def seen_me_card(configuration: config.Configuration, path: str, tag: str,
                 read: Callable[[str], radicale_item.Item | None], view: FolderView) -> SeenMeCard | None:
    """The me card of the collection at ``path`` as the request's reader sees it; ``None`` when there is
    none, or the reader is its owner, or reads for a link or the server itself (they see what is stored)."""
    reader = _request.reader()
    stripped = path.strip("/")  # Radicale's collection path: "alice/contacts"
    if not reader or tag != "VADDRESSBOOK" or stripped.split("/")[0] == reader:
        return None
    shares = site_for(configuration).cards_through_shares
    me = shares.me_card_for(reader, f"/{stripped}/")
    if me is None:
        return None
    item = read(me.href)
    entry = view.entries.get(me.href)
    modified = entry.stamp.mtime_ns / 1_000_000_000 if entry is not None else time.time()
    stored = StoredCard(item.serialize(), item.etag, modified) if item is not None else None
    seen = shares.seen(reader, me, stored, etag=item.etag if item else "", uid=item.uid if item else "")
    return SeenMeCard(me.href, seen)


# -- what a share link shows of a me card (radicale_ext.links.reader.MeCards) --------------------------------


class LinkedMeCards:
    """A link has no login: a card link with an audience shows the card as that audience of the owner's
    me card sees it, and every other link leaves the me card out."""

    def __init__(self, cards: CardBook) -> None:
        self._cards = cards

    def holds_me_card(self, collection: str) -> bool:
        return self._cards.me_card_in(collection) is not None

    def shown(self, owner: str, collection: str, audience: str | None,
              items: Sequence[StoredItem]) -> list[StoredItem]:
        me = self._cards.me_card_in(collection) if audience is None else None
        kept: list[StoredItem] = []
        for item in items:
            if audience is not None:
                text = self._cards.project_for_audience(owner, audience, item.text)
                if text is not None:
                    kept.append(StoredItem(item.href, text, ProjectedCard.of(text).etag))
            elif me is None or item.href != me.href:
                kept.append(item)
        return kept
