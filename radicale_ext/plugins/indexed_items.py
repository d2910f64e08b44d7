"""Between Radicale's items and the item index: what the index keeps of an item, and
the values Radicale would give for an indexed item without reading it (used by
radicale_ext/plugins/handlers/listing.py)."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import radicale.item as radicale_item
import vobject
from radicale import xmlutils

from radicale_ext.base import vobject_zones
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
    timed = as_stored(item)
    start, end = timed.time_range
    return ItemFacts(item.etag, item.uid, item.name, item.component_name, start, end, names,
                     occurrences_of(timed, earlier))


def as_stored(item: radicale_item.Item) -> radicale_item.Item:
    """The item as its stored text is read, where vobject gave one of its events' times a zone it looked up
    by name (pytz's: a TZID the calendar sent no VTIMEZONE for).  dateutil's recurrence rules keep such a
    zone's first offset, so a series crossing a change to or from summer time was walked an hour off on the
    other side; the text stored carries the VTIMEZONE vobject wrote for the zone, and every later reading
    of the file (stock Radicale's too) walks it by that, as here: with the text's own zones, not registered
    for the process (``vobject_zones.own_zones``).  Any other item is itself."""
    if item.component_name != "VEVENT" or not any(map(_named_zone, _event_times(item.vobject_item))):
        return item
    text = item.serialize()
    with vobject_zones.own_zones():   # parsed here: its times take the text's zones
        stored = vobject.readOne(text)
    return radicale_item.Item(collection_path=item._collection_path, text=text, vobject_item=stored)


_TIMES = ("dtstart", "dtend", "rdate", "exdate", "recurrence-id")


def _event_times(vobject_item: Any) -> Iterator[Any]:
    """The values of every event's lines that name a time (RDATE and EXDATE: a list each)."""
    for event in vobject_item.contents.get("vevent", ()):
        for name in _TIMES:
            for line in event.contents.get(name, ()):
                value = line.value
                yield from value if isinstance(value, list) else (value,)


def _named_zone(moment: Any) -> bool:
    zone = getattr(moment, "tzinfo", None)
    return zone is not None and type(zone).__module__.startswith("pytz")


@functools.lru_cache(maxsize=64)
def content_type(name: str, component: str, encoding: str) -> str:
    """Radicale's own ``getcontenttype`` of an item, from the index's facts (few distinct answers)."""
    return xmlutils.get_content_type(SimpleNamespace(name=name, component_name=component), encoding)
