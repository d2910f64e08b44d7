"""Between Radicale's items and the item index: what the index keeps of an item, and
the values Radicale would give for an indexed item without reading it (used by
radicale_ext/plugins/listing.py)."""

from __future__ import annotations

import time

import radicale.item as radicale_item
from radicale.xmlutils import OBJECT_MIMETYPES

from radicale_ext.item_index import ItemFacts
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


def content_type(facts: ItemFacts, encoding: str) -> str:
    """Radicale's ``xmlutils.get_content_type`` for an item with these facts."""
    mimetype = OBJECT_MIMETYPES[facts.name]
    return f"{mimetype};charset={encoding};component={facts.component}" if facts.component \
        else f"{mimetype};charset={encoding}"
