"""What the storage plugin's two storages share (files, :mod:`.storage`; PostgreSQL, :mod:`.pg_storage`):
reads answered from a view of a collection's items and change log, as the request's reader sees
them (:mod:`.reader_views`), and every write recorded in the outbox.

Each write (item upload or delete, MOVE, MKCOL/MKCALENDAR, whole-collection
PUT, collection delete, PROPPATCH) stores a pending outbox record before the
storage changes and marks it ready right after; see :mod:`radicale_ext.notices.outbox`.
Radicale's hook misses MOVE and MKCOL, so this is the one place that sees
them all.  Pending records left by a crash are settled at start-up.

Importing this module speeds vobject's handling of time zones
(:mod:`radicale_ext.base.vobject_zones`) and of content lines
(:mod:`radicale_ext.base.vobject_lines`) and Radicale's path sanitizing
(:mod:`radicale_ext.plugins.radicale_paths`) for every storage user: the server and the CLI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import radicale.item as radicale_item
from radicale import config, pathutils
from radicale.item import filter as radicale_filter
from radicale.log import logger

from radicale_ext.base import vobject_lines, vobject_zones
from radicale_ext.index.item_index import Entry, FolderView
from radicale_ext.index.occurrences import overlaps
from radicale_ext.index.query_prefilter import card_decision, name_narrowing
from radicale_ext.notices.fanout import Audience
from radicale_ext.notices.outbox import Change, ChangeKind, Finished, Outbox

from . import _request, card_books, occurrence_spans, personal_writes, radicale_paths, reader_views, recurrence_guard
from ._site import site_for
from .indexed_items import http_date
from .occurrence_spans import event_window

vobject_zones.install()
vobject_lines.install()
radicale_paths.install()
occurrence_spans.install()


def _collection_path(path: str) -> str:
    """Any form Radicale uses ("alice/family", "/alice/family/") as "/alice/family/"."""
    return pathutils.unstrip_path(pathutils.strip_path(pathutils.sanitize_path(path)), True)


@contextlib.contextmanager
def _recorded(storage: Any, change: Change, **done: Any) -> Iterator[int]:
    """Store a pending record, run the write, then mark the record ready (:func:`_written`)."""
    outbox = site_for(storage.configuration).outbox
    record_id = outbox.begin(change)
    try:
        yield record_id
    except BaseException:
        outbox.discard(record_id)
        raise
    _written(outbox, record_id, Finished(**done))


def _written(outbox: Outbox, record_id: int, done: Finished) -> None:
    """The write of ``record_id`` is stored.  Inside Radicale's write lock its record is marked ready when
    the lock is let go, with what Radicale's hook adds meanwhile (plugins/hook.py), in one transaction
    for the whole request; outside it, at once.  (Were it ready before the hook's summary, a worker
    could tell the change without its title.)"""
    ctx = _request.current()
    if ctx.writing:
        ctx.finished[record_id] = done
    else:
        outbox.finish({record_id: done})


#: a member of a REPORT's answer: its index entry as the reader sees it, the item as Radicale read it
#: (where the index has no entry it may answer from), or None: not there for the reader (404)
Member = Entry | radicale_item.Item | None


@dataclass
class ListedMembers:
    """A REPORT whose members a handler writes itself (handlers/report_members.py), filled in by the
    storage under the request's lock."""

    collection_path: str = ""   # Radicale's path of the collection ("alice/family")
    members: list[tuple[str, Member]] | None = None


class SyncMembers(ListedMembers):
    """A sync-collection: the storage's ``sync`` keeps every changed member here and reports none to Radicale."""


class QueryMembers(ListedMembers):
    """A calendar-query or addressbook-query: ``get_filtered`` keeps here the members the index decided match
    (never None: a member the reader does not see is left out) and hands Radicale only those it must test."""


class ViewedCollection:
    """What both storages' collections share (files and PostgreSQL, docs/scale-out.md): reads answered
    from a :class:`FolderView` of the collection (its items' facts and change log), as the request's
    reader sees them, and every write recorded in the outbox.

    A storage's collection supplies ``_view`` (the view now), ``_read_stored`` (an item as stored),
    ``_get``, ``last_modified``, ``_absent`` (get_multi's answer for an href the view does not list)
    and ``_forget`` (a deleted collection's leftovers), and sits before Radicale's collection class,
    whose ``upload``, ``delete`` and ``set_meta`` do the storing."""

    _storage: Any
    path: str
    tag: str
    _seen_cache: tuple[int, reader_views.ReaderView | None] | None = None

    def _view(self) -> FolderView:
        raise NotImplementedError

    def _read_stored(self, href: str) -> radicale_item.Item | None:
        raise NotImplementedError

    def _absent(self, href: str) -> Iterator[tuple[str, radicale_item.Item | None]]:
        """get_multi's answer for an href the view does not list (or one too large)."""
        yield href, None

    def _prefetch(self, hrefs: Iterable[str]) -> None:
        """Several items about to be read (a storage that can read them at once does)."""

    def _forget(self) -> None:
        """The collection was deleted: what the storage keeps beside it goes too."""

    def _read(self, href: str) -> radicale_item.Item | None:
        """An item the index lists, read now (under the request's storage lock) by Radicale,
        as the request's reader sees it (:mod:`.reader_views`).

        Radicale writes a REPORT's answer after releasing the lock, so an item's
        text must be read while it is held, never later."""
        return self._as_seen(self._read_stored(href))

    # -- what the request's reader sees (radicale_ext/plugins/reader_views.py) -------------

    def _reader_view(self) -> reader_views.ReaderView | None:
        """The collection as the request's reader sees it (a me card projected, their own alarms);
        ``None``: they see what is stored.  Kept for the request outside writes (Radicale writes a
        PROPFIND's answer after it released the lock); within a write, asked afresh."""
        reader = _request.reader()
        if reader_views.sees_stored(self.path, reader):  # before the view and the tag: the owner's writes
            return None
        config = self._storage.configuration
        if _request.current().writing:
            return reader_views.view_for(config, self.path, self.tag, reader, True, self._read_stored, self._view())
        serial = _request.serial()
        if self._seen_cache is None or self._seen_cache[0] != serial:
            self._seen_cache = (serial, reader_views.view_for(config, self.path, self.tag, reader, False,
                                                              self._read_stored, self._view()))
        return self._seen_cache[1]

    def _as_seen(self, item: radicale_item.Item | None) -> radicale_item.Item | None:
        seen = self._reader_view() if item is not None else None
        return item if seen is None or item is None else seen.item(item)

    def entries_as_seen(self) -> Iterator[tuple[str, Entry]]:
        """The index's entries in directory order, as the request's reader sees them
        (for handlers/listing.py, which answers from them)."""
        view = self._view()
        seen = self._reader_view()
        for href in view.order:
            entry = view.entries[href] if seen is None else seen.entry(href, view.entries[href])
            if entry is not None:
                yield href, entry

    @property
    def etag(self) -> str:
        """Radicale's collection ETag (the ctag), same value, without reading every item."""
        seen = self._reader_view()
        return seen.ctag(self._view(), self.get_meta()) if seen else self._view().ctag(self.get_meta())

    def _dated(self, props_mtime_ns: int, folder_mtime_ns: int) -> str:
        """Radicale's ``last_modified``: the newest of the collection, its properties and its items."""
        seen = self._reader_view()
        if seen is not None:
            return seen.last_modified(self._view(), props_mtime_ns, folder_mtime_ns)
        return http_date(max(folder_mtime_ns, props_mtime_ns, self._view().newest_mtime_ns))

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        """Token and changes from the index's change log (tokens are the index's own: a stock
        Radicale token is refused, and the client syncs afresh)."""
        view = self._view()
        seen = self._reader_view()
        if seen is not None:
            token, names = seen.token(view), seen.changes(view, old_token)
        else:
            token, names = view.token, view.changes_since(old_token)
        wanted = _request.listed_members()
        if isinstance(wanted, SyncMembers) and wanted.members is None:
            wanted.collection_path, wanted.members = self.path, self.members_as_seen(names)
            return token, []
        return token, names

    def members_as_seen(self, hrefs: Iterable[str]) -> list[tuple[str, Member]]:
        """Each href with what ``get_multi`` would give for it, as the request's reader sees it, but from the
        index where it can say: the entry (with the reader's ETag), or None where the reader sees no item;
        an href the index lists no entry for that it may answer from (a deletion, a file too large) is read
        through ``get_multi``."""
        view = self._view()
        seen = self._reader_view()
        limit = self._storage._max_resource_size
        members: list[tuple[str, Member]] = []
        unlisted: list[str] = []
        for href in hrefs:
            entry = view.entries.get(href)
            if entry is None or entry.stamp.size > limit:
                unlisted.append(href)
                members.append((href, None))
            else:
                members.append((href, entry if seen is None else seen.entry(href, entry)))
        if unlisted:
            read = dict(self.get_multi(unlisted))
            members = [(href, read[href] if href in read else member) for href, member in members]
        return members

    def _list(self) -> Iterator[str]:
        return iter(self._view().order)

    def get_all(self) -> Iterator[radicale_item.Item]:
        view = self._view()
        limit = self._storage._max_resource_size
        self._prefetch(href for href in view.order if view.entries[href].stamp.size <= limit)
        for href in view.order:
            if view.entries[href].stamp.size <= limit:
                item = self._read(href)
                if item is not None:
                    yield item

    def get_multi(self, hrefs: Iterable[str]) -> Iterator[tuple[str, radicale_item.Item | None]]:
        view = self._view()
        hrefs = list(hrefs)
        self._prefetch(href for href in hrefs if href in view.entries)
        for href in hrefs:
            entry = view.entries.get(href)
            if entry is not None and entry.stamp.size <= self._storage._max_resource_size:
                item = self._read(href)
                if item is not None:   # a CALDAV:expand walks its series (radicale_ext/plugins/recurrence_guard.py)
                    recurrence_guard.check(self._storage.configuration, item, entry.facts.start, entry.facts.end)
                yield href, item
            else:
                yield from self._absent(href)

    def get_filtered(self, filters) -> Iterator[tuple[radicale_item.Item, bool]]:
        """Radicale's pre-filter (component, time range) from the index, and Radicale's whole answer from it
        where the index can give it: an event query's time range against each event's occurrences
        (:mod:`radicale_ext.index.occurrences`), a card query against each card's kept values
        (:mod:`radicale_ext.index.query_prefilter`); the items so answered are handed over as matched,
        never parsed for the query.  Where a handler writes the answer's members itself
        (:class:`QueryMembers`, handlers/report_members.py), those the index decided are kept for it as the
        reader sees them, never read; Radicale gets only the items it must test."""
        if not self.tag:
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self.tag)
        cards = self.tag == "VADDRESSBOOK"
        narrowing = name_narrowing(filters) if cards else None
        values = card_decision(filters) if cards else None
        window = None if cards else event_window(filters)
        seen = self._reader_view() if values is not None else None
        view = self._view()
        wanted: list[tuple[str, bool | None]] = []
        # a calendar's items whose span meets the range, cut in C from the view's spans (the test below)
        candidates = view.order if cards else view.by_position.meeting(start, end)
        for href in candidates:
            entry = view.entries[href]
            facts = entry.facts
            if tag is not None and tag != facts.component:
                continue
            if facts.start >= end or facts.end <= start:
                continue
            if narrowing is not None and not narrowing(facts.names):
                continue
            decided = None
            if values is not None:
                decided = values(facts.names)
                if decided is not None and seen is not None:   # a me card the reader sees projected
                    theirs = seen.entry(href, entry)
                    if theirs is None:
                        continue
                    if theirs.facts.etag != facts.etag:
                        decided = None   # Radicale decides on the projection they see
            elif window is not None:
                decided = overlaps(facts.occurrences, facts.start, facts.end, *window)
            if decided is not False:
                wanted.append((href, decided))
        listed = _request.listed_members()
        if isinstance(listed, QueryMembers) and listed.members is None:
            limit = self._storage._max_resource_size
            matched = [href for href, decided in wanted if decided and view.entries[href].stamp.size <= limit]
            listed.collection_path = self.path
            listed.members = [(href, member) for href, member in self.members_as_seen(matched) if member is not None]
            held = set(matched)
            wanted = [(href, decided) for href, decided in wanted if href not in held]
        self._prefetch(href for href, _ in wanted)
        for href, decided in wanted:
            facts = view.entries[href].facts
            item = self._read(href)
            if item is None:
                continue
            if decided:
                yield item, True
                continue
            # before Radicale walks a series to the time range (radicale_ext/plugins/recurrence_guard.py)
            recurrence_guard.check(self._storage.configuration, item, facts.start, facts.end,
                                   end if end < radicale_filter.TIMESTAMP_MAX else None)
            yield item, simple and (start <= facts.start or facts.end <= end)

    def has_uid(self, uid: str) -> bool:
        return uid in self._view().uids

    # -- writes, each recorded in the outbox -------------------------------------

    def _change(self, kind: ChangeKind, **fields: Any) -> Change:
        actor = _request.current().actor or "system"
        return Change(kind=kind, actor=actor, collection=_collection_path(self.path),
                      push_dont_notify=_request.push_dont_notify(), **fields)

    def upload(self, href, item):
        person = personal_writes.sharee(self.path, self.tag)
        if person:  # their alarms are theirs, the rest is the owner's file (radicale_ext/plugins/personal_writes.py)
            return personal_writes.upload(self, person, href, item, self._upload_stored,
                                          may_write_shared=not _request.current().personal_only)
        return self._upload_stored(href, item)

    def _upload_stored(self, href, item):
        outbox = site_for(self._storage.configuration).outbox
        record_id = outbox.begin(self._change(ChangeKind.ITEM_CHANGED, item=href, etag=item.etag))
        try:
            result = super().upload(href, item)
        except BaseException:
            outbox.discard(record_id)
            raise
        kind = ChangeKind.ITEM_UPDATED if result[1] is not None else ChangeKind.ITEM_CREATED
        _written(outbox, record_id, Finished(kind=kind, component=item.component_name, uid=item.uid))
        _request.current().item_records.setdefault(_collection_path(self.path), []).append(record_id)
        return result

    def delete(self, href=None):
        if href is None:
            site = site_for(self._storage.configuration)
            with _recorded(self._storage, self._change(ChangeKind.COLLECTION_DELETED)) as record_id:
                # its shares go with it: keep who had access, for the notice (radicale_ext.notices.fanout)
                if site.shares.is_shared(_collection_path(self.path)):
                    site.outbox.annotate(record_id, {"audience": Audience(site.shares, site.invitations)
                                                     .with_access(_collection_path(self.path))})
                super().delete(href)
            self._forget()
            site.shares.forget_collection(_collection_path(self.path))
            site.personal_data.forget_collection(_collection_path(self.path))
            site.links.revoke_all_of(_collection_path(self.path))
            return
        with _recorded(self._storage, self._change(ChangeKind.ITEM_DELETED, item=href)) as record_id:
            super().delete(href)
        site_for(self._storage.configuration).personal_data.forget_item(_collection_path(self.path), href)
        _request.current().item_records.setdefault(_collection_path(self.path), []).append(record_id)

    def set_meta(self, props: Mapping[str, str]) -> None:
        if _request.current().creating_collection:
            return super().set_meta(props)
        with _recorded(self._storage, self._change(ChangeKind.PROPERTIES_CHANGED)):
            return super().set_meta(props)


class RecordedStorage:
    """What both storages share (files and PostgreSQL): the outbox record of every write, settled
    after a crash; the request's actor taken from the write lock; the cards feature's virtual
    address books.  Sits before the storage class that stores (``super()``)."""

    configuration: config.Configuration
    settles_outbox = True   # False for a reader beside the server (plugins/sync_tokens.py): the records are its

    def _settle_outbox(self) -> None:
        """Pending records of writes a crash interrupted: kept if the write happened, else dropped.

        Under the storage's write lock: every write of every process records, writes and marks its
        record ready inside that lock, so while this process holds it a pending record is a crash's,
        never that of a write another server process is making (docs/scale-out.md)."""
        if not self.settles_outbox:
            return
        with self._exclusive():
            kept, dropped = site_for(self.configuration).outbox.recover(self._happened)
        if kept or dropped:
            logger.warning("outbox: settled records interrupted by a crash: %d kept, %d dropped",
                           kept, dropped)

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args, **kwargs) -> Iterator[None]:
        if mode == "r" and _request.principal_check_now():
            # Radicale looks, before every request, whether the user's principal collection exists: a folder
            # made in one step (mkdir) or a row, read the same without the lock, and never waiting
            # there for the writes of others (a PUT could not even parse its body while another held the
            # write lock; docs/performance.md, "Writes from several processes")
            yield
            return
        with super().acquire_lock(mode, user, *args, **kwargs):  # type: ignore[misc]
            if mode != "w" or _request.current().writing:   # a read, or a write lock taken again inside one
                yield
                return
            ctx = _request.start(actor=kwargs.get("actor") or user or "")
            try:
                yield
            finally:
                ctx.writing = False
                self._finish_records(ctx)

    def _finish_records(self, ctx: _request.RequestContext) -> None:
        """The records of the writes done under the lock, marked ready (whatever else failed, they are
        stored); if even that fails, they stay pending and the next start settles them."""
        finished, ctx.finished = ctx.finished, {}
        try:
            site_for(self.configuration).outbox.finish(finished)
        except Exception:
            logger.exception("outbox: could not mark records %s ready; they are settled at the next start",
                             sorted(finished))

    # -- the virtual address books of the cards feature (radicale_ext/plugins/card_books.py) -----

    def discover(self, path, depth="0", child_context_manager=None, user_groups=frozenset()):
        virtual = card_books.discover(self, path, depth)
        if virtual is not None:
            return virtual
        found = super().discover(path, depth, child_context_manager, user_groups)  # type: ignore[misc]
        return card_books.with_home_books(self, path, depth, found)

    # -- writes ---------------------------------------------------------------

    def create_collection(self, href, items=None, props=None):
        ctx = _request.current()
        existed = next(iter(self.discover(href)), None) is not None
        kind = ChangeKind.COLLECTION_REPLACED if items is not None and existed else ChangeKind.COLLECTION_CREATED
        change = Change(kind=kind, actor=ctx.actor or "system", collection=_collection_path(href),
                        push_dont_notify=_request.push_dont_notify())
        detail_count = None
        if items is not None:
            items = list(items)
            detail_count = len(items)
        with _recorded(self, change) as record_id:
            ctx.creating_collection = True
            try:
                result = super().create_collection(href, items, props)  # type: ignore[misc]
            finally:
                ctx.creating_collection = False
        if detail_count is not None:
            site_for(self.configuration).outbox.annotate(record_id, {"items": detail_count})
        if kind is ChangeKind.COLLECTION_REPLACED:  # its events are new ones: nobody's own alarms stay
            site_for(self.configuration).personal_data.forget_collection(_collection_path(href))
        return result

    def move(self, item, to_collection, to_href):
        change = Change(kind=ChangeKind.ITEM_MOVED, actor=_request.current().actor or "system",
                        collection=_collection_path(item.collection.path), item=item.href,
                        to_collection=_collection_path(to_collection.path), to_item=to_href,
                        push_dont_notify=_request.push_dont_notify())
        with _recorded(self, change, component=item.component_name, uid=item.uid):
            result = super().move(item, to_collection, to_href)  # type: ignore[misc]
        # everyone's own alarms follow the event (docs/sharing.md)
        site_for(self.configuration).personal_data.move(change.collection, item.href, change.to_collection or "",
                                                         to_href)
        return result

    # -- crash recovery -------------------------------------------------------

    def _exclusive(self) -> contextlib.AbstractContextManager[None]:
        """The storage's write lock alone: no request begins, no ``[storage] hook`` command runs."""
        return super().acquire_lock("w")  # type: ignore[misc]

    def _happened(self, change: Change) -> bool:
        """Did a change whose record is still pending reach the disk?  (The caller holds the write lock.)"""
        if change.kind is ChangeKind.ITEM_MOVED:
            return self._item(change.to_collection, change.to_item) is not None
        if change.kind is ChangeKind.ITEM_CHANGED:
            found = self._item(change.collection, change.item)
            return found is not None and found.etag == change.etag
        if change.kind is ChangeKind.ITEM_DELETED:
            return self._item(change.collection, change.item) is None
        exists = next(iter(self.discover(change.collection)), None) is not None
        if change.kind is ChangeKind.COLLECTION_DELETED:
            return not exists
        return exists

    def _item(self, collection: str | None, href: str | None):
        if collection is None or href is None:
            return None
        return next(iter(self.discover(collection + href)), None)
