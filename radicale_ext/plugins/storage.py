"""Storage plugin: Radicale's multifilesystem, with every write recorded.

Each write (item upload or delete, MOVE, MKCOL/MKCALENDAR, whole-collection
PUT, collection delete, PROPPATCH) stores a pending outbox record before the
files change and marks it ready right after; see :mod:`radicale_ext.outbox`.
Radicale's hook misses MOVE and MKCOL, so this is the one place that sees
them all.  Pending records left by a crash are settled at start-up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from radicale import config, pathutils
from radicale.log import logger
from radicale.storage import multifilesystem

from radicale_ext.fanout import Audience
from radicale_ext.item_index import FileStamp, ItemIndex, collection_etag
from radicale_ext.outbox import Change, ChangeKind

from . import _request, cards
from ._site import site_for


def _collection_path(path: str) -> str:
    """Any form Radicale uses ("alice/family", "/alice/family/") as "/alice/family/"."""
    return pathutils.unstrip_path(pathutils.strip_path(pathutils.sanitize_path(path)), True)


@contextlib.contextmanager
def _recorded(storage: Storage, change: Change, **done: Any) -> Iterator[int]:
    """Store a pending record, run the write, then mark the record ready."""
    outbox = site_for(storage.configuration).outbox
    record_id = outbox.begin(change)
    try:
        yield record_id
    except BaseException:
        outbox.discard(record_id)
        raise
    outbox.complete(record_id, **done)


#: the item index database, in the storage folder beside collection-root (docs/performance.md)
INDEX_FILE = ".Radicale.ext-item-index.sqlite"


class Collection(multifilesystem.Collection):
    _storage: Storage

    # -- reads served from the item index (radicale_ext.item_index) -------------

    @property
    def etag(self) -> str:
        """Radicale's collection ETag (the ctag), same value, without reading every item."""
        items = self._storage.item_index.etags(self.path, self._stamped_listing(), self._item_etag)
        return collection_etag(items, self.get_meta())

    def _stamped_listing(self) -> list[tuple[str, FileStamp]]:
        """Radicale's ``_list`` (same files, same order), each with its stamp."""
        listing = []
        with os.scandir(self._filesystem_path) as entries:
            for entry in entries:
                if entry.is_file() and pathutils.is_safe_filesystem_path_component(entry.name):
                    with contextlib.suppress(FileNotFoundError):
                        listing.append((entry.name, FileStamp.of(entry.stat())))
        return listing

    def _item_etag(self, href: str) -> str | None:
        """The ETag as Radicale's ``get_all`` gives it; None where it leaves the file out."""
        path = os.path.join(self._filesystem_path, href)
        if not pathutils.file_check_size(path, self._storage._max_resource_size):
            return None
        item = self._get(href, verify_href=False)
        return item.etag if item is not None else None

    # -- writes, each recorded in the outbox -------------------------------------

    def _change(self, kind: ChangeKind, **fields: Any) -> Change:
        actor = _request.current().actor or "system"
        return Change(kind=kind, actor=actor, collection=_collection_path(self.path), **fields)

    def upload(self, href, item):
        outbox = site_for(self._storage.configuration).outbox
        record_id = outbox.begin(self._change(ChangeKind.ITEM_CHANGED, item=href, etag=item.etag))
        try:
            result = super().upload(href, item)
        except BaseException:
            outbox.discard(record_id)
            raise
        kind = ChangeKind.ITEM_UPDATED if result[1] is not None else ChangeKind.ITEM_CREATED
        outbox.complete(record_id, kind=kind, component=item.component_name, uid=item.uid)
        _request.current().item_records.setdefault(_collection_path(self.path), []).append(record_id)
        return result

    def delete(self, href=None):
        if href is None:
            site = site_for(self._storage.configuration)
            with _recorded(self._storage, self._change(ChangeKind.COLLECTION_DELETED)) as record_id:
                # its shares go with it: keep who had access, for the notice (radicale_ext.fanout)
                if site.shares.is_shared(_collection_path(self.path)):
                    site.outbox.annotate(record_id, {"audience": Audience(site.shares, site.invitations)
                                                     .with_access(_collection_path(self.path))})
                super().delete(href)
            site.shares.forget_collection(_collection_path(self.path))
            site.links.revoke_all_of(_collection_path(self.path))
            return
        with _recorded(self._storage, self._change(ChangeKind.ITEM_DELETED, item=href)) as record_id:
            super().delete(href)
        _request.current().item_records.setdefault(_collection_path(self.path), []).append(record_id)

    def set_meta(self, props: Mapping[str, str]) -> None:
        if _request.current().creating_collection:
            return super().set_meta(props)
        with _recorded(self._storage, self._change(ChangeKind.PROPERTIES_CHANGED)):
            return super().set_meta(props)


class Storage(multifilesystem.Storage):
    _collection_class = Collection

    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self.item_index = ItemIndex(Path(self._filesystem_folder) / INDEX_FILE)
        kept, dropped = site_for(configuration).outbox.recover(self._happened)
        if kept or dropped:
            logger.warning("outbox: settled records interrupted by a crash: %d kept, %d dropped",
                           kept, dropped)

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args, **kwargs) -> Iterator[None]:
        with super().acquire_lock(mode, user, *args, **kwargs):
            if mode == "w":
                _request.start(actor=kwargs.get("actor") or user or "")
            yield

    # -- the virtual address books of the cards feature (radicale_ext/plugins/cards.py) -----

    def discover(self, path, depth="0", child_context_manager=None, user_groups=frozenset()):
        virtual = cards.discover(self, path, depth)
        if virtual is not None:
            return virtual
        found = super().discover(path, depth, child_context_manager, user_groups)
        return cards.with_home_books(self, path, depth, found)

    # -- writes ---------------------------------------------------------------

    def create_collection(self, href, items=None, props=None):
        ctx = _request.current()
        existed = next(iter(self.discover(href)), None) is not None
        kind = ChangeKind.COLLECTION_REPLACED if items is not None and existed else ChangeKind.COLLECTION_CREATED
        change = Change(kind=kind, actor=ctx.actor or "system", collection=_collection_path(href))
        detail_count = None
        if items is not None:
            items = list(items)
            detail_count = len(items)
        with _recorded(self, change) as record_id:
            ctx.creating_collection = True
            try:
                result = super().create_collection(href, items, props)
            finally:
                ctx.creating_collection = False
        if detail_count is not None:
            site_for(self.configuration).outbox.annotate(record_id, {"items": detail_count})
        return result

    def move(self, item, to_collection, to_href):
        change = Change(kind=ChangeKind.ITEM_MOVED, actor=_request.current().actor or "system",
                        collection=_collection_path(item.collection.path), item=item.href,
                        to_collection=_collection_path(to_collection.path), to_item=to_href)
        with _recorded(self, change, component=item.component_name, uid=item.uid):
            return super().move(item, to_collection, to_href)

    # -- crash recovery -------------------------------------------------------

    def _happened(self, change: Change) -> bool:
        """Did a change whose record is still pending reach the disk?"""
        with self.acquire_lock("r"):
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
