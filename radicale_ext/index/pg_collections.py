"""The core's reading of stored collections (:class:`~radicale_ext.base.collection_store.CollectionStore`)
from the PostgreSQL storage's tables (:mod:`.pg_items`, docs/scale-out.md), and the choice between it and
Radicale's folders: PostgreSQL when ``[storage] postgresql_dsn`` is set."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import vobject

from ..base.collection_folders import FolderWrites
from ..base.collection_store import (
    TAGS,
    CollectionStore,
    CollectionSummary,
    CollectionWrites,
    FolderStore,
    already_there,
    display_name_of,
    no_collection,
    not_found,
    summary,
    tag_of,
)
from ..base.layout import _is_item_name
from .item_index import ItemFacts
from .pg_items import NewItem, PgItems
from .query_prefilter import card_names


def collection_store(collections_folder: str, postgresql_dsn: str = "", pool_size: int = 8) -> CollectionStore:
    """The stored collections a server or command reads: PostgreSQL's tables, or Radicale's folders."""
    if postgresql_dsn:
        return PgCollectionStore(PgItems.shared(postgresql_dsn, pool_size))
    return FolderStore(collections_folder)


def _key(path: str) -> str:
    """``/alice/family/`` as the tables name it: ``alice/family``."""
    return "/".join(p for p in path.split("/") if p)


class PgCollectionStore:
    """:class:`CollectionStore` on the tables of :mod:`.pg_items` (each answer one indexed query or two)."""

    def __init__(self, items: PgItems) -> None:
        self._items = items

    def owners(self) -> list[str]:
        return [path for path in self._items.children("") if path and not path.startswith(".")]

    def props(self, path: str) -> dict:
        stored = self._items.collection(_key(path))
        return stored.props if stored is not None else {}

    def tag(self, path: str) -> str | None:
        return tag_of(self.props(path))

    def display_name(self, path: str) -> str | None:
        return display_name_of(self.props(path))

    def exists(self, path: str) -> bool:
        return self._items.collection(_key(path)) is not None

    def collections_of(self, owner: str) -> list[CollectionSummary]:
        found = []
        for stored, count in self._items.collections_in(_key(owner)):
            name = stored.path.rsplit("/", 1)[-1]
            if name.startswith("."):
                continue
            made = summary(f"/{stored.path}/", stored.props, count,
                           max(stored.modified_ns, stored.props_modified_ns) / 1e9)
            if made is not None:
                found.append(made)
        return sorted(found, key=lambda c: c.path)

    def item_names(self, path: str) -> list[str]:
        stored = self._items.collection(_key(path))
        return list(self._items.view(stored).order) if stored is not None else []

    def item_data(self, path: str, href: str) -> tuple[bytes, float] | None:
        stored = self._items.collection(_key(path))
        if stored is None or not href:
            return None
        entry = self._items.view(stored).entries.get(href)
        text = self._items.text(stored, href) if entry is not None else None
        return None if text is None or entry is None else (text.encode(), entry.stamp.mtime_ns / 1e9)

    def item_text(self, path: str, href: str) -> str | None:
        if not href or "/" in href or href.startswith("."):
            return None
        stored = self._items.collection(_key(path))
        return self._items.text(stored, href) if stored is not None else None

    def find_item(self, path: str, wanted: str, extension: str) -> str:
        stored = self._items.collection(_key(path))
        if stored is not None:
            view = self._items.view(stored)
            for name in (wanted, wanted + extension):
                if _is_item_name(name) and name in view.entries:
                    return name
            for href in view.order:
                if href.endswith(extension) and view.entries[href].facts.uid == wanted:
                    return href
        raise not_found(extension, wanted, path)

    def stamp(self, path: str, href: str | None = None) -> tuple | None:
        stored = self._items.collection(_key(path))
        if stored is None:
            return None
        if href is None:
            newest = max(stored.modified_ns, stored.props_modified_ns)
            return ((stored.id, stored.seq, newest, stored.epoch),)
        entry = self._items.view(stored).entries.get(href)
        if entry is None:
            return None
        return ((stored.id, hashlib.sha256(entry.facts.etag.encode()).hexdigest(), entry.stamp.mtime_ns),)


def collection_writes(collections_folder: str, postgresql_dsn: str = "", pool_size: int = 8) -> CollectionWrites:
    """How the command line writes collections: into PostgreSQL's tables, or Radicale's folders."""
    if postgresql_dsn:
        return PgWrites(PgItems.shared(postgresql_dsn, pool_size))
    return FolderWrites(collections_folder)


class PgWrites:
    """:class:`CollectionWrites` on the tables of :mod:`.pg_items`, under the storage's advisory lock."""

    def __init__(self, items: PgItems) -> None:
        self._items = items

    def locked(self) -> AbstractContextManager[None]:
        return self._items.locked("w")

    def create(self, path: str, props: Mapping[str, str]) -> None:
        if self._items.collection(_key(path)) is not None:
            raise already_there(path)
        self._items.make_collection(_key(path), props)

    def set_props(self, path: str, props: Mapping[str, str]) -> None:
        self._items.set_props(_key(path), props)

    def delete(self, path: str) -> None:
        stored = self._items.collection(_key(path))
        if stored is None or stored.props.get("tag") not in TAGS:
            raise no_collection(path)
        self._items.delete_collection(_key(path))

    def write_card(self, path: str, href: str, text: str) -> None:
        """The card with the facts Radicale would read from it: its ETag (the SHA-256 of the text), UID, FN
        searchable values for queries, and no time range (Radicale's widest, a card has none)."""
        card = vobject.readOne(text)
        uid = card.uid.value.strip() if hasattr(card, "uid") else ""
        names = card_names(card.contents)
        facts = ItemFacts(f'"{hashlib.sha256(text.encode()).hexdigest()}"', uid, "VCARD", "VCARD",
                          NO_START, NO_END, names)
        self._items.put(_key(path), NewItem(href, text, facts))


#: Radicale's time range of an item without one (``radicale.item.filter.TIMESTAMP_MIN`` and ``_MAX``)
NO_START = math.floor(datetime.min.replace(tzinfo=UTC).timestamp())
NO_END = math.ceil(datetime.max.replace(tzinfo=UTC).timestamp())
