"""Between Radicale's items and the item index: what the index keeps of an item, and
the values Radicale would give for an indexed item without reading it (used by
radicale_ext/plugins/handlers/listing.py)."""

from __future__ import annotations

import functools
import time
from types import SimpleNamespace

import radicale.item as radicale_item
from radicale import xmlutils

from radicale_ext.index.item_index import ItemFacts
from radicale_ext.index.query_prefilter import card_names

from .occurrence_spans import Earlier, occurrences_of


def http_date(mtime_ns: int) -> str:
    """Radicale's ``last_modified`` for a file modified at ``mtime_ns``."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(mtime_ns // 1_000_000_000))


def facts_of(item: radicale_item.Item, earlier: Earlier | None = None) -> ItemFacts:
    """What the index keeps of an item Radicale read (its cache has all but a card's searchable values and
    an event's occurrences; ``earlier``: of the version it replaces, see ``occurrences_of``)."""
    names = ""
    if item.name == "VCARD":
        names = card_names(item.vobject_item.contents)
    start, end = item.time_range
    return ItemFacts(item.etag, item.uid, item.name, item.component_name, start, end, names,
                     occurrences_of(item, earlier))


@functools.lru_cache(maxsize=64)
def content_type(name: str, component: str, encoding: str) -> str:
    """Radicale's own ``getcontenttype`` of an item, from the index's facts (few distinct answers)."""
    return xmlutils.get_content_type(SimpleNamespace(name=name, component_name=component), encoding)
