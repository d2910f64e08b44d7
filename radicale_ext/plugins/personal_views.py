"""A shared calendar read by someone else than its owner: each event with the reader's own alarms and
TRANSP (caldav-sharing 5.5.x; :mod:`radicale_ext.sharing.personal_parts`), a
:class:`~radicale_ext.plugins.reader_views.ReaderView`.

Only events the reader gave parts of their own differ from what is stored.  Their
ETag is made from the stored ETag and the digest of the reader's parts, so a
depth-1 PROPFIND, the collection's ETag and its sync token need no event read;
the text is made when asked for (a GET, a multiget, a query) and kept in a small
cache by that pair.  The reader's sync token carries the newest ``seq`` of their
parts in this calendar: their own change is reported to them, and to nobody else.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace

from radicale import config
from radicale import item as radicale_item
from radicale.log import logger

from radicale_ext.index.item_index import Entry, FolderView
from radicale_ext.sharing import personal_parts
from radicale_ext.sharing.personal_data import Kept

from . import _request
from ._site import site_for
from .indexed_items import http_date
from .view_tokens import reader_token, split_token

CACHE_SIZE = 4096


def personal_etag(stored_etag: str, kept: Kept) -> str:
    return '"' + hashlib.sha256(f"{stored_etag}/{kept.digest}".encode()).hexdigest()[:32] + '"'


class _Texts:
    """Events as seen by someone with parts of their own, by (stored ETag, digest of the parts)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._texts: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, stored: radicale_item.Item, kept: Kept) -> str:
        key = (stored.etag, kept.digest)
        with self._lock:
            text = self._texts.get(key)
            if text is not None:
                self._texts.move_to_end(key)
                return text
        try:
            text = personal_parts.seen_by(stored.serialize(), kept.mapping())
        except personal_parts.NotCalendarData as e:  # vobject read it, icalendar cannot: shown as stored
            logger.warning("personal alarms: %s/%s shown as stored: %s", stored._collection_path, stored.href, e)
            text = stored.serialize()
        with self._lock:
            self._texts[key] = text
            while len(self._texts) > self._size:
                self._texts.popitem(last=False)
        return text


TEXTS = _Texts(CACHE_SIZE)


class _Entries:
    """Index entries as seen by someone with parts of their own, by what makes them (a listing of a
    calendar with many such events then costs a dictionary lookup per event, not three copies)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, href: str, stored: Entry, kept: Kept) -> Entry:
        key = (href, stored.facts.etag, stored.stamp.mtime_ns, stored.seq, kept.digest, kept.modified)
        with self._lock:
            found = self._entries.get(key)
        if found is not None:
            return found
        mtime_ns = max(stored.stamp.mtime_ns, int(kept.modified * 1_000_000_000))
        made = replace(stored, facts=replace(stored.facts, etag=personal_etag(stored.facts.etag, kept)),
                       stamp=replace(stored.stamp, mtime_ns=mtime_ns))
        with self._lock:
            self._entries[key] = made
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return made


ENTRIES = _Entries(CACHE_SIZE)


class PersonalItem(radicale_item.Item):
    """A stored event as one person sees it; its text is made only when read."""

    def __init__(self, stored: radicale_item.Item, kept: Kept) -> None:
        super().__init__(collection=stored.collection, collection_path=stored._collection_path, href=stored.href,
                         text="", etag=personal_etag(stored.etag, kept), uid=stored.uid, name=stored.name,
                         component_name=stored.component_name, time_range=stored.time_range,
                         last_modified=_later(stored.last_modified, kept.modified))
        self._text = None
        self._stored = stored
        self._kept = kept

    def serialize(self) -> str:
        if self._text is None:
            self._text = TEXTS.get(self._stored, self._kept)
        return self._text

    @property
    def vobject_item(self):
        self.serialize()
        return super().vobject_item


def _later(last_modified: str | None, modified: float) -> str:
    own = http_date(int(modified * 1_000_000_000))
    if not last_modified:
        return own
    stored = email.utils.parsedate_to_datetime(last_modified).timestamp()
    return own if modified > stored else last_modified


class PersonalView:
    """One reader's events of one calendar, for one request."""

    def __init__(self, kept: Mapping[str, Kept]) -> None:
        self.kept = kept
        self.seq = max((k.seq for k in kept.values()), default=0)

    def item(self, stored: radicale_item.Item) -> radicale_item.Item | None:
        kept = self.kept.get(stored.href or "")
        return stored if kept is None else PersonalItem(stored, kept)

    def entry(self, href: str, stored: Entry) -> Entry | None:
        kept = self.kept.get(href)
        return stored if kept is None else ENTRIES.get(href, stored, kept)

    def ctag(self, view: FolderView, meta: Mapping[str, str]) -> str:
        digest = hashlib.sha256(view.ctag(meta).encode())
        for href in sorted(self.kept):
            if href in view.entries:
                digest.update(f"{href}/{self.kept[href].digest}".encode())
        return f'"{digest.hexdigest()}"'

    def last_modified(self, view: FolderView, props_mtime_ns: int, folder_mtime_ns: int) -> str:
        own = max((int(k.modified * 1_000_000_000) for h, k in self.kept.items() if h in view.entries), default=0)
        return http_date(max(folder_mtime_ns, props_mtime_ns, view.newest_mtime_ns, own))

    def token(self, view: FolderView) -> str:
        return reader_token(view.token, self.seq)

    def changes(self, view: FolderView, old_token: str) -> list[str]:
        base, count = split_token(old_token)
        names = view.changes_since(base)
        if base:
            seen = set(names)
            names += [h for h, k in self.kept.items() if k.seq > (count or 0) and h in view.entries and h not in seen]
        return names


_local = threading.local()


def personal_view(configuration: config.Configuration, path: str, reader: str, writing: bool) -> PersonalView | None:
    """``reader``'s view of the calendar at ``path`` (Radicale's "alice/family"); None: they have no
    parts of their own in it and see what is stored.  Outside writes, the calendars where they have any
    are looked up once per request (a home listing asks for every calendar in it)."""
    data = site_for(configuration).personal_data
    collection = f"/{path.strip('/')}/"
    if writing:
        kept = data.of(collection, reader)
        return PersonalView(kept) if kept else None
    key = (_request.serial(), reader)
    known = getattr(_local, "known", None)
    if known is None or known[0] != key:
        known = (key, data.calendars_of(reader), {})
        _local.known = known
    _key, calendars, views = known
    if collection not in calendars:
        return None
    if collection not in views:
        kept = data.of(collection, reader)
        views[collection] = PersonalView(kept) if kept else None
    return views[collection]
