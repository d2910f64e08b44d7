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

What others read of a me card in its own address book (through a share, a
link) is :mod:`.me_card_views`'.
"""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Iterable, Iterator
from functools import cached_property

from radicale import item as radicale_item
from radicale import pathutils, storage, types

from radicale_ext.cards.me_cards import card_uid
from radicale_ext.cards.shared_contacts import DISPLAY_NAME, InvalidSyncToken, Listing, SharedCard, owner_of
from radicale_ext.site import Site

from ._site import site_for

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
