"""Radicale's storage contract (``BaseStorage``/``BaseCollection``) on PostgreSQL, chosen by the storage
plugin when ``[storage] postgresql_dsn`` is set (docs/scale-out.md).

The tables, their SQL and the lock are the core's (:mod:`radicale_ext.index.pg_items`); this module
turns rows into Radicale's collections and items.  Reads, the reader's views and the outbox record of
every write are the same code as on files (:class:`~radicale_ext.plugins.storage.ViewedCollection`,
:class:`~radicale_ext.plugins.storage.RecordedStorage`); only the storing differs.  Names are checked
as Radicale's multifilesystem checks them, so the same requests are refused on both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import radicale.item as radicale_item
from radicale import config, pathutils, storage, types
from radicale.log import logger

from radicale_ext.base.errors import Conflict
from radicale_ext.base.postgres import PostgresDatabase
from radicale_ext.index.item_index import FolderView, ItemFacts
from radicale_ext.index.pg_items import DuplicateUid, NewItem, PgItems, StoredCollection

from . import _request
from ._site import site_for
from .indexed_items import facts_of, http_date
from .occurrence_spans import earlier_of
from .options import storage_options
from .put_ahead import Ahead, facts_ahead, facts_for
from .recorded_storage import RecordedStorage, ViewedCollection
from .storage_lock import write_lock_let_go


def items_for(configuration: config.Configuration) -> PgItems:
    """The process's one :class:`PgItems` for the configured database (its pool shared with the core's readers)."""
    options = storage_options(configuration)
    items = PgItems.shared(options.postgresql_dsn, options.postgresql_pool_size)
    items.max_token_age_s = configuration.get("storage", "max_sync_token_age")
    items.idle_seconds = options.index_idle_seconds
    items.request_number = _request.serial   # collection rows are remembered per request (PgItems.collection)
    items.walk_series_again(_facts_of_text)
    database = site_for(configuration).db
    if isinstance(database, PostgresDatabase) and database.dsn == options.postgresql_dsn:
        # both counters read at a request's start in one round trip (the sharing database asks first)
        database.read_along("(SELECT n FROM dav_commits WHERE id = 1)", items.commits_read_along)
    return items


def _facts_of_text(path: str, text: str) -> ItemFacts | None:
    """An item's facts made again from its stored text (None where Radicale cannot read it now)."""
    try:
        return facts_of(radicale_item.Item(collection_path=pathutils.strip_path(pathutils.sanitize_path(path)),
                                           text=text))
    except Exception:   # it stays as it was indexed
        return None


def _check_name(name: str) -> None:
    """Refuse a name Radicale's files would refuse (``.Radicale.props``, ``..``, a slash...)."""
    if not pathutils.is_safe_filesystem_path_component(name):
        raise pathutils.UnsafePathError(name)


class PgCollectionBase(storage.BaseCollection):
    """A collection stored in PostgreSQL: its row, its items' rows."""

    _storage: PgStorageBase

    def __init__(self, storage_: PgStorageBase, path: str, stored: StoredCollection) -> None:
        self._storage = storage_
        self._path = path.strip("/")
        self._stored = stored
        self._texts: dict[tuple[str, str], str] = {}  # (href, ETag): text, read ahead for this request
        self._row_read_at = (storage_.items.lock_mode(), storage_.items.thread_writes())
        self._meta: tuple[str, Mapping[str, str]] | None = None   # the properties' JSON text, read

    @property
    def path(self) -> str:
        return self._path

    def _row(self) -> StoredCollection:
        """The collection's row: the one it was found with, read again under the write lock once this
        thread wrote since (nobody else writes while it holds that lock).  Radicale writes a PROPFIND's
        answer after letting go of the read lock: the row it found gives that answer's getctag, sync-token
        and items from one state, for one query."""
        items = self._storage.items
        now = (items.lock_mode(), items.thread_writes())
        if now[0] == "w" and now != self._row_read_at:
            fresh = items.collection(self._path)
            if fresh is not None:
                self._stored = fresh
            self._row_read_at = now
        return self._stored

    def get_meta(self, key: str | None = None) -> Any:
        props_text = self._row().props_text
        if self._meta is None or self._meta[0] != props_text:
            try:
                self._meta = (props_text, radicale_item.check_and_sanitize_props(self._row().props))
            except ValueError as e:
                raise RuntimeError(f"Failed to load properties of collection {self.path!r}: {e}") from e
        meta = self._meta[1]
        return meta if key is None else meta.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        self._storage.items.set_props(self._path, props)

    def upload(self, href: str, item: radicale_item.Item) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        _check_name(href)
        old = self._stored_item(href)
        try:
            self._storage.items.put(self._path, NewItem(href, item.serialize(), facts_for(item)))
        except DuplicateUid as e:   # Radicale checked under the lock; the UNIQUE index is the last line
            raise _uid_conflict(self.get_meta("tag"), str(e)) from e
        uploaded = self._stored_item(href)
        if uploaded is None:
            raise RuntimeError("Storage modified externally")
        return uploaded, old

    def delete(self, href: str | None = None) -> None:
        if href is None:
            self._storage.items.delete_collection(self._path)
            return
        _check_name(href)
        if not self._storage.items.delete_item(self._path, href):
            raise storage.ComponentNotFoundError(href)

    def _stored_item(self, href: str) -> radicale_item.Item | None:
        """The item at ``href`` as stored, read now: its text with that text's ETag.

        The request's view gives the facts; but the view may be of the state its request found before
        it took the storage lock (the rows are remembered while the commit counter stands, and that is
        read without the lock), and a writer of another process may have stored a newer version since.
        Such a text is answered with its own ETag (Radicale parses it for the rest), never the view's."""
        stored = self._row()
        view = self._storage.items.view(stored)
        entry = view.entries.get(href)
        if entry is None:
            return None
        text = self._texts.get((href, entry.facts.etag))
        if text is None:
            found = self._storage.items.texts(stored, [href]).get(href)
            if found is None:
                return None
            if found.etag != entry.facts.etag:
                return radicale_item.Item(collection=self, href=href, last_modified=http_date(found.modified_ns),
                                          etag=found.etag, text=found.text)
            text = found.text
        facts = entry.facts
        return radicale_item.Item(collection=self, href=href, last_modified=http_date(entry.stamp.mtime_ns),
                                  etag=facts.etag, text=text, uid=facts.uid, name=facts.name,
                                  component_name=facts.component, time_range=(facts.start, facts.end))


class PgCollection(ViewedCollection, PgCollectionBase):
    """The storage plugin's collection on PostgreSQL: reads from the tables' view, writes recorded."""

    _view_cache: FolderView | None = None

    def _view(self) -> FolderView:
        if self._view_cache is not None and self._storage.items.lock_mode() == "r":
            return self._view_cache
        self._view_cache = self._storage.items.view(self._row())
        return self._view_cache

    def _read_stored(self, href: str) -> radicale_item.Item | None:
        return self._stored_item(href)

    def _get(self, href: str, verify_href: bool = True) -> radicale_item.Item | None:
        if verify_href and not pathutils.is_safe_filesystem_path_component(href):
            return None
        return self._as_seen(self._stored_item(href))

    def _prefetch(self, hrefs: Iterable[str]) -> None:
        view = self._view()
        wanted = [href for href in hrefs if (href, view.entries[href].facts.etag) not in self._texts]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for href, found in self._storage.items.texts(self._row(), chunk).items():
                self._texts[href, found.etag] = found.text   # a newer version than the view's: not used

    @property
    def last_modified(self) -> str:
        stored = self._row()
        return self._dated(stored.props_modified_ns, stored.modified_ns)


class PgStorageBase(storage.BaseStorage):
    """Radicale's storage on PostgreSQL: collections by path, their items, the storage lock."""

    _collection_class: type[PgCollectionBase] = PgCollectionBase
    # what Radicale asks of a storage's names: as Radicale's files on Linux allow
    _is_collision_free = True
    _supports_unicode = True
    _supports_trailing_whitespace = True
    _supports_problematic_chars = True

    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self.items = items_for(configuration)
        self._max_resource_size = configuration.get("server", "max_resource_size")

    @types.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args, **kwargs) -> Iterator[None]:
        outermost = not self.items.holds_lock()
        try:
            with self.items.locked(mode):
                yield
        finally:
            if mode == "w" and outermost:
                write_lock_let_go()

    def _collection(self, path: str, stored: StoredCollection) -> PgCollectionBase:
        return self._collection_class(self, path, stored)

    def discover(self, path: str, depth: str = "0", child_context_manager=None,
                 user_groups: set[str] = set()) -> Iterator[types.CollectionOrItem]:  # noqa: B006 - Radicale's
        if child_context_manager is None:
            child_context_manager = _no_context
        sane_path = pathutils.strip_path(path)
        stored, above = self.items.collection_or_parent(sane_path)
        if stored is None:
            if not sane_path:
                return
            parent, _, href = sane_path.rpartition("/")
            if not pathutils.is_safe_filesystem_path_component(href) or above is None:
                return
            item = self._collection(parent, above)._get(href)
            if item is not None and len(item.serialize().encode()) <= self._max_resource_size:
                yield item
            return
        collection = self._collection(sane_path, stored)
        yield collection
        if depth == "0":
            return
        view = self.items.view(stored)
        hrefs = [href for href in view.order if view.entries[href].stamp.size <= self._max_resource_size]
        if isinstance(collection, PgCollection):
            collection._prefetch(hrefs)
        for href in hrefs:
            with child_context_manager(sane_path, href):
                item = collection._get(href, verify_href=False)
                if item is not None:
                    yield item
        for child in self.items.children_rows(sane_path):
            with child_context_manager(child.path, None):
                yield self._collection(child.path, child)

    def create_collection(self, href: str, items: Iterable[radicale_item.Item] | None = None,
                          props: Mapping[str, str] | None = None
                          ) -> tuple[PgCollectionBase, dict[str, radicale_item.Item], list[str]]:
        sane_path = pathutils.strip_path(href)
        for name in sane_path.split("/") if sane_path else []:
            _check_name(name)
        if not props:
            self.items.make_collection(sane_path)
            stored = self.items.collection(sane_path)
            assert stored is not None
            return self._collection(sane_path, stored), {}, []
        tag = props.get("tag")
        suffix = {"VCALENDAR": ".ics", "VADDRESSBOOK": ".vcf"}.get(tag or "")
        new_items: list[NewItem] = []
        if items is not None and suffix is not None:
            taken: set[str] = set()
            for item in items:
                href_of = _free_href(item.uid, suffix, taken)
                taken.add(href_of)
                new_items.append(NewItem(href_of, item.serialize(), facts_of(item)))
        before = self.items.collection(sane_path)
        replaced_before: dict[str, radicale_item.Item] = {}
        if before is not None:
            old = self._collection(sane_path, before)
            for new in new_items:
                found = old._stored_item(new.href)
                if found is not None:
                    replaced_before[new.href] = found
        try:
            _replaced, new_hrefs = self.items.make_collection(sane_path, props, new_items)
        except ValueError as e:
            raise ValueError(f"Failed to create collection {href!r}: {e}") from e
        stored = self.items.collection(sane_path)
        assert stored is not None
        return self._collection(sane_path, stored), replaced_before, new_hrefs

    def move(self, item: radicale_item.Item, to_collection: storage.BaseCollection, to_href: str) -> None:
        _check_name(to_href)
        assert item.collection is not None and item.href
        try:
            self.items.move(item.collection.path.strip("/"), item.href, to_collection.path.strip("/"), to_href)
        except DuplicateUid as e:
            raise _uid_conflict(to_collection.tag, str(e)) from e

    def verify(self) -> bool:
        """Every collection's properties and every item's text read back as Radicale would."""
        ok = True
        with self.acquire_lock("r"):
            for path in ["", *self.items.collections_under("")]:
                stored = self.items.collection(path)
                if stored is None:
                    continue
                collection = self._collection(path, stored)
                try:
                    collection.get_meta()
                    for found in collection.get_all():
                        radicale_item.read_components(found.serialize())
                except Exception as e:
                    ok = False
                    logger.error("Invalid collection %r: %s", path, e)
        return ok


def _uid_conflict(tag: str | None, sentence: str) -> Conflict:
    """409 with CALDAV:no-uid-conflict (RFC 4791 5.3.2.1) or CARDDAV:no-uid-conflict (RFC 6352 6.3.2.1)."""
    return Conflict(sentence, precondition=("CR" if tag == "VADDRESSBOOK" else "C") + ":no-uid-conflict")


@contextlib.contextmanager
def _no_context(path: str, href: str | None) -> Iterator[None]:
    yield


def _free_href(uid: str, suffix: str, taken: set[str]) -> str:
    """The name Radicale's files give an item of a whole-collection upload (``<uid>.ics``, else its
    digest, else a free random one)."""
    for href in (uid if uid.lower().endswith(suffix.lower()) else uid + suffix,
                 radicale_item.get_etag(uid).strip('"') + suffix):
        if pathutils.is_safe_filesystem_path_component(href) and href not in taken:
            return href
    return radicale_item.find_available_uid(
        lambda href: not pathutils.is_safe_filesystem_path_component(href) or href in taken, suffix)


class PgStorage(RecordedStorage, PgStorageBase):
    """The storage plugin on PostgreSQL (made by :class:`radicale_ext.plugins.storage.Storage`)."""

    _collection_class = PgCollection

    def __init__(self, configuration: config.Configuration, settles_outbox: bool = True) -> None:
        self.settles_outbox = settles_outbox
        super().__init__(configuration)
        self._settle_outbox()

    def put_ahead(self, path: str, item: radicale_item.Item) -> Ahead | None:
        """Before the write lock (:mod:`.put_ahead`): the item's facts (the database has no file to write),
        keeping the occurrences of the series it replaces where its times are unchanged (the last view this
        process made of the calendar, checked against the stored version's ETag)."""
        collection, _, href = pathutils.strip_path(path).rpartition("/")
        view = self.items.last_view(collection)
        earlier = None if view is None else earlier_of(view.entries.get(href),
                                                       lambda: self.items.text_at(collection, href))
        return facts_ahead(item, earlier)
