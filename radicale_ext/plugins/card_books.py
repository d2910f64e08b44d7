"""The cards feature's virtual address books, as Radicale collections.

``/<user>/.shared-contacts/`` ("Shared contacts": every me card shared with
the user, projected for them) and ``/<user>/.directory/`` (lookup by name)
are collections that exist nowhere on disk: the storage plugin hands these
objects to Radicale (:func:`discover`), and Radicale serves them with its
own CardDAV code: PROPFIND, REPORT addressbook-query, addressbook-multiget
and sync-collection, GET.  So every client sees an ordinary address book.
Radicale's own collection names never start with ".", so these cannot
collide with a user's collection.  Their content comes from the core
(:mod:`radicale_ext.cards.shared_contacts`, :mod:`radicale_ext.cards.directory`), for the
user whose home they are in (the rights file lets only that user in).
Writes never reach them: :mod:`.handlers.cards` refuses them first.

Two more adapters of the cards feature live here:

- :class:`SeenMeCard`: a me card in its own address book, read by someone
  else (through a share): the storage plugin asks it for the card as that
  reader sees it and for the collection's ETag, date and sync token as they
  see them (:mod:`radicale_ext.cards.through_shares`);
- :class:`LinkedMeCards`: what a share link may show of a me card, handed
  to the links feature (which may not import the cards feature).
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import cached_property

from radicale import config, pathutils, storage, types
from radicale import item as radicale_item

from radicale_ext.cards.me_cards import CardBook, StoredCard, card_uid
from radicale_ext.cards.projection import ProjectedCard
from radicale_ext.cards.shared_contacts import DISPLAY_NAME, InvalidSyncToken, Listing, SharedCard, owner_of
from radicale_ext.cards.through_shares import Seen
from radicale_ext.index.item_index import Entry, FolderView, collection_etag
from radicale_ext.links.feeds import StoredItem
from radicale_ext.site import Site

from . import _request
from ._site import site_for
from .indexed_items import http_date

SHARED_CONTACTS = ".shared-contacts"
DIRECTORY = ".directory"
DIRECTORY_TOKEN = "urn:radicale-ext:directory:0"


def virtual_place(path: str) -> tuple[str, str, str | None] | None:
    """``(user, ".shared-contacts", "alice.vcf")`` for a path in a virtual address book, else ``None``."""
    parts = pathutils.strip_path(path).split("/")
    if len(parts) in (2, 3) and parts[1] in (SHARED_CONTACTS, DIRECTORY) and parts[0]:
        return parts[0], parts[1], parts[2] if len(parts) == 3 else None
    return None


class _VirtualBook(storage.BaseCollection):
    def __init__(self, site: Site, user: str, segment: str) -> None:
        self._site, self._user, self._path = site, user, f"{user}/{segment}"

    @property
    def path(self) -> str:
        return self._path

    def _item(self, card: SharedCard) -> radicale_item.Item:
        return radicale_item.Item(collection=self, href=card.href, text=card.text, etag=card.etag,
                                  uid=card_uid(card.owner), name="VCARD", component_name="VCARD",
                                  last_modified=email.utils.formatdate(card.modified, usegmt=True))

    def _meta(self) -> dict[str, str]:
        raise NotImplementedError

    def get_meta(self, key=None):
        meta = self._meta()
        return meta if key is None else meta.get(key)

    def set_meta(self, props) -> None:
        raise PermissionError(f"/{self._path}/ is read-only")

    def upload(self, href, item):
        raise PermissionError(f"/{self._path}/ is read-only")

    def delete(self, href=None) -> None:
        raise PermissionError(f"/{self._path}/ is read-only")

    def has_uid(self, uid: str) -> bool:
        return any(item.uid == uid for item in self.get_all())

    def item(self, href: str) -> radicale_item.Item | None:
        """One card, without listing the others."""
        raise NotImplementedError


class SharedContactsBook(_VirtualBook):
    """Every me card shared with the user, as they may see it."""

    @cached_property
    def _listing(self) -> Listing:
        return self._site.shared_contacts.listing(self._user)

    def _meta(self) -> dict[str, str]:
        return {"tag": "VADDRESSBOOK", "D:displayname": DISPLAY_NAME,
                "CR:addressbook-description": "Cards people share with you, showing what they allow you to see"}

    def get_all(self) -> Iterator[radicale_item.Item]:
        return (self._item(card) for card in self._listing.cards.values())

    def get_multi(self, hrefs: Iterable[str]) -> Iterator[tuple[str, radicale_item.Item | None]]:
        cards = self._listing.cards
        for href in dict.fromkeys(hrefs):
            card = cards.get(href)
            yield href, self._item(card) if card else None

    def get_filtered(self, filters):
        return ((item, False) for item in self.get_all())

    @property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self._listing.token.encode()).hexdigest()}"'

    @property
    def last_modified(self) -> str:
        return email.utils.formatdate(self._listing.modified, usegmt=True)

    def item(self, href: str) -> radicale_item.Item | None:
        owner = owner_of(href)
        card = self._site.shared_contacts.card(self._user, owner) if owner else None
        return self._item(card) if card else None

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        try:
            return self._site.shared_contacts.changes(self._user, old_token, self._listing)
        except InvalidSyncToken as e:
            raise ValueError(str(e)) from None  # Radicale answers 403 with DAV:valid-sync-token


class DirectoryBook(_VirtualBook):
    """Lookup by name (addressbook-query); lists nothing by itself."""

    def _meta(self) -> dict[str, str]:
        return {"tag": "VADDRESSBOOK", "D:displayname": "Directory",
                "CR:addressbook-description": "Look people up by name; you see what each allows you to see"}

    def get_all(self) -> Iterator[radicale_item.Item]:
        return iter(())

    def get_multi(self, hrefs: Iterable[str]) -> Iterator[tuple[str, radicale_item.Item | None]]:
        for href in dict.fromkeys(hrefs):
            yield href, self.item(href)

    def item(self, href: str) -> radicale_item.Item | None:
        owner = owner_of(href)
        card = self._site.directory.card(self._user, owner) if owner else None
        return self._item(card) if card else None

    def get_filtered(self, filters):
        return ((self._item(card), False) for card in self._site.directory.candidates(self._user, list(filters)))

    @property
    def etag(self) -> str:
        return f'"{hashlib.sha256(DIRECTORY_TOKEN.encode()).hexdigest()}"'

    @property
    def last_modified(self) -> str:
        return email.utils.formatdate(0, usegmt=True)

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        if old_token and old_token != DIRECTORY_TOKEN:
            raise ValueError("the directory's sync token never changes")
        return DIRECTORY_TOKEN, []


_BOOKS = {SHARED_CONTACTS: SharedContactsBook, DIRECTORY: DirectoryBook}


def discover(store: storage.BaseStorage, path: str, depth: str) -> Iterator[types.CollectionOrItem] | None:
    """What the storage finds at a path of a virtual address book, or ``None`` for any other path."""
    place = virtual_place(path)
    if place is None:
        return None
    user, segment, href = place
    book = _BOOKS[segment](site_for(store.configuration), user, segment)

    def found() -> Iterator[types.CollectionOrItem]:
        if href is not None:
            item = book.item(href)
            if item is not None:
                yield item
            return
        yield book
        if depth != "0":
            yield from book.get_all()
    return found()


def with_home_books(store: storage.BaseStorage, path: str, depth: str,
                    found: Iterable[types.CollectionOrItem]) -> Iterator[types.CollectionOrItem]:
    """A home's listing, with "Shared contacts" always (empty until something is shared), so a client
    that looked once finds it, and finds later shares in it."""
    parts = pathutils.strip_path(path).split("/")
    listed = False
    for entry in found:
        listed = True
        yield entry
    if listed and depth != "0" and len(parts) == 1 and parts[0]:
        yield SharedContactsBook(site_for(store.configuration), parts[0], SHARED_CONTACTS)


# -- a me card in its own address book, read by someone else (radicale_ext/cards/through_shares.py) ----------

COUNT_MARK = "-"  # a reader's sync token: the item index's token, then "-" and how often the me card changed for them


class SeenMeCard:
    """The me card of the collection a request reads, as its reader sees it, and the collection's ETag,
    date and sync token built from what they see (a field hidden from them moves none of them)."""

    def __init__(self, href: str, seen: Seen) -> None:
        self.href = href
        self.seen = seen

    def item(self, stored: radicale_item.Item) -> radicale_item.Item | None:
        """The card as the reader sees it (``None``: not at all)."""
        seen = self.seen
        if seen.text is None:
            return None
        if seen.whole:
            return stored
        return radicale_item.Item(collection=stored.collection, href=stored.href, text=seen.text, etag=seen.etag,
                                  uid=stored.uid, name="VCARD", component_name="VCARD",
                                  last_modified=email.utils.formatdate(seen.modified, usegmt=True))

    def entry(self, stored: Entry) -> Entry | None:
        """The card's index entry as the reader sees it: their ETag and date (``None``: not at all)."""
        seen = self.seen
        if seen.text is None or seen.etag is None:
            return None
        if seen.whole:
            return stored
        return replace(stored, facts=replace(stored.facts, etag=seen.etag),
                       stamp=replace(stored.stamp, mtime_ns=int(seen.modified * 1_000_000_000)))

    def ctag(self, view: FolderView, meta: Mapping[str, str]) -> str:
        """Radicale's collection ETag over the items as the reader sees them."""
        etags = ((href, self.seen.etag if href == self.href else view.entries[href].facts.etag) for href in view.order)
        return collection_etag(((href, etag) for href, etag in etags if etag is not None), meta)

    def last_modified(self, view: FolderView, props_mtime_ns: int) -> str:
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
        return f"{base or view.token}{COUNT_MARK}{self.seen.changes}"

    def changes(self, view: FolderView, old_token: str) -> list[str]:
        """The items changed for the reader since ``old_token`` (RFC 6578); ValueError for a token
        the index did not issue.  A token of the index alone (issued before the card was a me card,
        or to someone who saw it whole) reports the card."""
        if not old_token:
            names = [href for href in view.changes_since("") if href != self.href]
            return names + ([self.href] if self.seen.text is not None else [])
        base, mark, count = old_token.rpartition(COUNT_MARK)
        if not mark or not count.isdigit():
            base, count = old_token, ""
        names = [href for href in view.changes_since(base) if href != self.href]
        if count != str(self.seen.changes):
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
