"""A sharee's write of an event: their alarms and TRANSP kept for them, the rest for everyone (caldav-sharing
5.5.x; docs/sharing.md, "My alarms on someone else's calendar").

The storage plugin's collection hands every item upload by someone else than the
calendar's owner to :func:`upload` (the read-only sharee's PUT comes through
``handlers/personal_data.py``):

- the same shared part as stored (only alarms, TRANSP, Thunderbird's alarm
  bookkeeping or what clients rewrite anyway differ): the owner's file is not
  written; the writer's own parts are kept;
- another shared part: refused for whoever may not write events; otherwise the
  file gets the new shared part with the owner's own alarms as they were
  (:func:`~radicale_ext.sharing.personal_parts.stored_with`), and the writer's own
  parts are kept.

Own parts that are exactly the owner's are not kept for someone who had none:
their alarms go on following the owner's until they set others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from radicale import item as radicale_item

from radicale_ext.base.errors import Forbidden
from radicale_ext.sharing import personal_data, personal_parts

from . import _request
from ._site import site_for

Write = Callable[[str, radicale_item.Item], Any]


def sharee(path: str, tag: str) -> str:
    """The request's reader when they write into a calendar that is not theirs ("" otherwise)."""
    reader = _request.reader()
    owner = path.strip("/").split("/")[0]
    return reader if reader and reader != owner and tag == "VCALENDAR" else ""


def upload(collection: Any, person: str, href: str, item: radicale_item.Item, write: Write, *,
           may_write_shared: bool) -> tuple[radicale_item.Item, radicale_item.Item | None]:
    """``person``'s upload of ``item`` at ``href`` into ``collection`` (the storage plugin's); ``write`` stores
    an item in the owner's file as any upload does.  Returns Radicale's (uploaded, replaced) as ``person``
    sees them.  Raises :class:`Forbidden` for a change of shared data by someone who may not write events."""
    site = site_for(collection._storage.configuration)
    calendar = f"/{collection.path.strip('/')}/"
    stored = collection._read_stored(href)
    before = collection._get(href, verify_href=False) if stored is not None else None
    new_text = item.serialize()
    stored_text = stored.serialize() if stored is not None else None
    try:
        parts = personal_parts.parts_of(new_text)
        same = stored_text is not None and personal_parts.same_shared(new_text, stored_text)
    except personal_parts.NotCalendarData:   # valid for Radicale (vobject), not for icalendar: stored as sent
        if not may_write_shared:
            raise _refused(person, collection.path, href, stored is not None) from None
        write(href, item)
        return collection._get(href, verify_href=False), before
    limit = collection._storage._max_resource_size
    if not same and not may_write_shared:
        raise _refused(person, collection.path, href, stored is not None)
    personal_data.require_fitting(person, href, parts, limit)   # before anything is written
    if not same:
        merged = radicale_item.Item(collection_path=collection.path,
                                    text=personal_parts.stored_with(new_text, stored_text))
        merged.prepare()
        write(href, merged)
        stored_text = merged.serialize()
    assert stored_text is not None
    owner_parts = personal_parts.parts_of(stored_text)
    book = site.personal_data
    if href in book.of(calendar, person) or parts != owner_parts:
        book.keep(calendar, person, href, personal_parts.compact(parts, owner_parts), limit=limit)
    uploaded = collection._get(href, verify_href=False)
    assert uploaded is not None
    return uploaded, before


def _refused(person: str, path: str, href: str, exists: bool) -> Forbidden:
    name = path.strip("/").split("/")
    shown = f"{name[1]} ({name[0]})" if len(name) == 2 else path
    if not exists:
        return Forbidden(f"{person} may not add events to {shown}: it is shared with {person} read-only "
                         "(a subscriber sets only their own alarms and free/busy on its events)")
    return Forbidden(f"{person} may change only their own alarms and free/busy (TRANSP) of {href!r} in {shown}: "
                     f"it is shared with {person} read-only, and this change would alter the event for everyone; "
                     "its owner can make them a collaborator")
