"""Radicale items made from the item index, read from disk only when their text is needed.

A PROPFIND for ETags, a sync-collection or the time-range pre-filter of a
calendar-query needs only what :class:`radicale_ext.item_index.ItemFacts`
holds; :class:`IndexedItem` gives Radicale's code exactly that, and reads
the file (through Radicale's own item cache) the first time something asks
for the text or the parsed object.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import radicale.item as radicale_item

from radicale_ext.item_index import Entry, ItemFacts
from radicale_ext.query_prefilter import card_names


def http_date(mtime_ns: int) -> str:
    """Radicale's ``last_modified`` for a file modified at ``mtime_ns``."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(mtime_ns // 1_000_000_000))


def facts_of(item: radicale_item.Item) -> ItemFacts:
    """What the index keeps of an item Radicale read (its cache has all but a card's names)."""
    names = ""
    if item.name == "VCARD":
        names = card_names([line.value for line in item.vobject_item.contents.get("fn", [])])
    start, end = item.time_range
    return ItemFacts(item.etag, item.uid, item.name, item.component_name, start, end, names)


class IndexedItem(radicale_item.Item):
    """An item answered from the index; ``read_text`` is called once, when the text is needed."""

    def __init__(self, collection, href: str, entry: Entry, read_text: Callable[[str], str]) -> None:
        # Radicale's __init__ re-sanitises the collection path for every item (a third of a
        # depth-1 PROPFIND's time); the collection's path is sanitised already.
        facts = entry.facts
        self._collection_path = collection.path
        self.collection = collection
        self.href = href
        self.last_modified = http_date(entry.stamp.mtime_ns)
        self._text = None
        self._vobject_item = None
        self._etag, self._uid, self._name = facts.etag, facts.uid, facts.name
        self._component_name = facts.component
        self._time_range = (facts.start, facts.end)
        self._read_text = read_text

    def serialize(self) -> str:
        if self._text is None:
            self._text = self._read_text(self.href or "")
        return self._text

    @property
    def vobject_item(self):
        if self._vobject_item is None and self._text is None:
            self._text = self._read_text(self.href or "")
        return super().vobject_item
