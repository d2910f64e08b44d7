"""Storage plugin (``[storage] type = radicale_ext.plugins.storage``): Radicale's multifilesystem with
the item index, or PostgreSQL when ``[storage] postgresql_dsn`` is set (:mod:`.pg_storage`,
docs/scale-out.md); on both, every write recorded in the outbox and reads answered from a view of the
collection (:mod:`.recorded_storage`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import radicale.item as radicale_item
from radicale import config, pathutils
from radicale.log import logger
from radicale.storage import multifilesystem

from radicale_ext.index.item_index import FileStamp, FolderView, ItemFacts, ItemIndex

from .indexed_items import facts_of
from .occurrence_spans import Earlier, earlier_of
from .options import storage_options
from .put_ahead import Ahead, ahead_for, facts_ahead
from .recorded_storage import RecordedStorage, ViewedCollection
from .storage_lock import WritersFirst, when_write_lock_released

#: the item index database, in the storage folder beside collection-root (docs/performance.md)
INDEX_FILE = ".Radicale.ext-item-index.sqlite"


def _text_of_file(path: str, encoding: str) -> tuple[str, float] | None:
    """A file's text and modification time; None where there is no file (ValueError where its text cannot be
    decoded)."""
    try:
        with open(path, encoding=encoding, newline="") as file:
            return file.read(), os.fstat(file.fileno()).st_mtime
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def earlier_in(view: FolderView, folder: str, href: str, encoding: str) -> Earlier | None:
    """The series ``view`` indexed at ``href`` in ``folder``, where the file is still the version indexed:
    what a write replacing it may keep (:func:`.occurrence_spans.occurrences_of`)."""
    def stored() -> tuple[str, str] | None:
        try:
            read = _text_of_file(os.path.join(folder, href), encoding)
        except (OSError, ValueError):
            return None
        return None if read is None else (read[0], radicale_item.get_etag(read[0]))
    return earlier_of(view.entries.get(href), stored)


def _item(collection: Any, href: str, text: str, modified: float, facts: ItemFacts) -> radicale_item.Item:
    """The item Radicale's ``_get`` makes of a file and its item cache entry, from ``facts`` instead."""
    last_modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(modified))
    return radicale_item.Item(
        collection=collection, href=href, last_modified=last_modified, etag=facts.etag, text=text, uid=facts.uid,
        name=facts.name, component_name=facts.component, time_range=(facts.start, facts.end))


@contextlib.contextmanager
def _temporary_file(folder: str, mode: str, newline: str | None, encoding: str | None,
                    fsync: Callable[[IO[Any]], None]) -> Iterator[tuple[str, IO[Any]]]:
    """A new file beside the items of ``folder`` (a dot-name: never listed as an item) with the umask's
    permissions, as Radicale makes its files (not mkstemp's 0600): its path and the file to write; flushed
    and fsynced at the end, removed if the writing fails."""
    temporary = os.path.join(folder, f".Radicale.tmp-{secrets.token_hex(8)}")
    try:
        with open(temporary, mode.replace("w", "x"), newline=newline, encoding=encoding) as file:
            yield temporary, file
            file.flush()
            fsync(file)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class ItemFiles(multifilesystem.Collection):
    """Radicale's item files, written without its item cache (docs/performance.md, "Writes")."""

    def upload(self, href: str, item: radicale_item.Item) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        """Radicale's upload, without writing an item cache entry (the index keeps the same facts, and reads
        take them from it: ``Collection._stored``) and without reading the file back."""
        if not pathutils.is_safe_filesystem_path_component(href):
            raise pathutils.UnsafePathError(href)
        path = pathutils.path_to_filesystem(self._filesystem_path, href, self._is_collision_free)
        old_item = self._get(href, verify_href=False)
        text = item.serialize()
        ahead = ahead_for(item)
        try:
            if ahead is not None and ahead.move_to(path):   # written and fsynced before the lock (.put_ahead)
                self._sync_folder_after_the_lock(os.path.dirname(path))
            else:
                with self._atomic_write(path, newline="") as file:
                    file.write(text)
        except Exception as e:
            raise ValueError(f"Failed to store item {href!r} in collection {self.path!r}: {e}") from e
        facts = ItemFacts(item.etag, item.uid, item.name, item.component_name, *item.time_range)
        return self._as_seen(_item(self, href, text, os.stat(path).st_mtime, facts)), old_item

    def _sync_folder_after_the_lock(self, folder: str) -> None:
        """The folder's new name made durable once the write lock is let go of, before the request is
        answered (.storage_lock, "After the write"); at once where no write lock is held."""
        sync = functools.partial(self._storage._sync_directory, folder)
        if not when_write_lock_released("sync " + folder, sync):
            sync()

    def _as_seen(self, item: radicale_item.Item | None) -> radicale_item.Item | None:
        """The item as the request's reader sees it (``ViewedCollection``'s, which comes first)."""
        return item

    def get_meta(self, key: str | None = None) -> Any:
        """Radicale's, with the properties read once per version of their file (``.Radicale.props``):
        Radicale reads and parses it on every call inside the write lock, three times a PUT.  A version is
        the file's inode, times and size: Radicale's ``set_meta`` renames a new file into place, and an
        edit by hand changes its times."""
        try:
            stat = os.stat(self._props_path)
        except OSError:   # none (Radicale's empty properties) or unreadable: Radicale's own answer
            return super().get_meta(key)
        stamp = FileStamp.of(stat)
        kept = self._storage.props_kept.get(self._props_path)
        if kept is None or kept[0] != stamp:
            self._meta_cache = None   # Radicale's copy of this object may be older than the file stat'ed
            kept = (stamp, dict(super().get_meta()))   # read after the stat: at worst read again next time
            self._storage.props_kept[self._props_path] = kept
        return dict(kept[1]) if key is None else kept[1].get(key)


class Collection(ViewedCollection, ItemFiles):
    """Radicale's collection, answering reads from the item index (docs/performance.md)."""

    _storage: Storage
    _view_cache: FolderView | None = None
    #: the item this collection is writing now: its href, the item Radicale parsed from the request, and
    #: what the index kept of the series it replaces
    _uploading: tuple[str, radicale_item.Item, Earlier | None] | None = None

    # -- reads served from the item index (radicale_ext.index.item_index) -------------

    def _view(self) -> FolderView:
        """The folder's current state; within a read-locked request, taken once."""
        if self._view_cache is not None and self._storage._lock.locked == "r":
            return self._view_cache
        self._view_cache = self._storage.item_index.view(
            self.path, self._filesystem_path, pathutils.is_safe_filesystem_path_component, self._facts_of)
        return self._view_cache

    def _facts_of(self, href: str, known: ItemFacts | None) -> ItemFacts | None:
        """An item file read the way Radicale's ``get_all`` reads it; None where it leaves it out."""
        path = os.path.join(self._filesystem_path, href)
        if not pathutils.file_check_size(path, self._storage._max_resource_size):
            return None
        uploading = self._uploading
        if uploading is not None and uploading[0] == href:
            if self._etag_of_file(href) == uploading[1].etag:
                # the same text, already parsed for the PUT (and its facts taken before the lock, or else not
                # walked again if its times are those of the version it replaced)
                ahead = ahead_for(uploading[1])
                return ahead.facts if ahead is not None else facts_of(uploading[1], uploading[2])
        elif known is not None and self._etag_of_file(href) == known.etag:
            return known   # the text indexed, with a new stamp (touched, copied back): not parsed again
        item = super()._get(href, verify_href=False)
        return None if item is None else facts_of(item)

    def _upload_stored(self, href: str, item: radicale_item.Item) -> Any:
        self._uploading = (href, item, None if ahead_for(item) is not None else self._earlier(href))
        try:
            result = super()._upload_stored(href, item)
            self._view()  # the index takes the new file now, with the facts parsed for this PUT
            return result
        finally:
            self._uploading = None

    def _earlier(self, href: str) -> Earlier | None:
        """The indexed series at ``href`` (about to be replaced), if the file is still the version indexed."""
        return earlier_in(self._view(), self._filesystem_path, href, self._encoding)

    @contextlib.contextmanager
    def _atomic_write(self, path: str, mode: str = "w", newline: str | None = None) -> Iterator[Any]:
        """Radicale's atomic write (a temporary file fsynced, renamed over the file, the folder fsynced)
        with the temporary file beside the file instead of in a temporary folder of its own: a PUT makes
        and removes no folder.  Like Radicale's, the file gets the umask's permissions (not mkstemp's
        0600), and a name starting with a dot is never listed as an item."""
        folder = os.path.dirname(path)
        with _temporary_file(folder, mode, newline, None if "b" in mode else self._encoding,
                             self._storage._fsync) as (temporary, file):
            yield file
        try:
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        self._storage._sync_directory(folder)

    def _read_stored(self, href: str) -> radicale_item.Item | None:
        return self._stored(href, verify_href=False)

    def _get(self, href: str, verify_href: bool = True) -> radicale_item.Item | None:
        return self._as_seen(self._stored(href, verify_href))

    def _stored(self, href: str, verify_href: bool) -> radicale_item.Item | None:
        """An item file as Radicale's ``_get`` reads it: with the index's facts where they are those of the
        file's text (its ETag is theirs), else with Radicale's item cache (a file edited by hand, whose text
        Radicale serves as vobject writes it again)."""
        view = self._view_cache if self._view_cache is not None else self._view()
        entry = view.entries.get(href)  # a listed name: safe as a file name
        if entry is not None:
            try:
                read = self._text_of(href)
            except ValueError:   # not decodable: Radicale's own reading says so
                return super()._get(href, verify_href)
            if read is None:
                return None
            text, modified = read
            if radicale_item.get_etag(text) == entry.facts.etag:
                if self._storage._debug_cache_actions:
                    logger.debug("Item cache from the index for: %r", href)
                return _item(self, href, text, modified, entry.facts)
        return super()._get(href, verify_href)

    def _text_of(self, href: str) -> tuple[str, float] | None:
        """An item file's text and modification time; None where there is no file (ValueError where its
        text cannot be decoded)."""
        return _text_of_file(os.path.join(self._filesystem_path, href), self._encoding)

    def _etag_of_file(self, href: str) -> str | None:
        try:
            read = self._text_of(href)
        except ValueError:
            return None
        return None if read is None else radicale_item.get_etag(read[0])

    def _absent(self, href: str) -> Iterator[tuple[str, radicale_item.Item | None]]:
        if not pathutils.is_safe_filesystem_path_component(href) or not os.path.lexists(
                os.path.join(self._filesystem_path, href)):
            yield href, None
        else:
            yield from super().get_multi([href])

    def _forget(self) -> None:
        self._storage.item_index.forget(self.path, self._filesystem_path)

    @property
    def last_modified(self) -> str:
        """Radicale's: the newest mtime of the folder, its properties and its items."""
        props = self._props_path
        props_mtime_ns = os.stat(props).st_mtime_ns if os.path.exists(props) else 0
        return self._dated(props_mtime_ns, os.stat(self._filesystem_path).st_mtime_ns)

    # Radicale's item cache is derived from the item file, and checked against the file's hash on every
    # read: it is written without fsync (half of a PUT's fsyncs), and an entry a crash left torn or empty
    # is read again from the file (Radicale would raise on an empty one).
    def _store_item_cache(self, href, item, cache_hash=""):
        with self._storage.unsynced():
            return super()._store_item_cache(href, item, cache_hash)

    def _load_item_cache(self, href, cache_hash):
        try:
            return super()._load_item_cache(href, cache_hash)
        except (EOFError, TypeError, AttributeError, ImportError, IndexError) as e:   # what a torn pickle raises
            logger.warning("Item cache entry %r of %r is damaged (%s): read again from the file", href, self.path, e)
            return None

    # Radicale's own sync history is not read any more (the index keeps the change log);
    # keeping it would cost a scan of the history folder on every upload.
    def _update_history_etag(self, href, item):
        return ""

    def _clean_history(self) -> None:
        return None


class Storage(RecordedStorage, multifilesystem.Storage):
    """The configured storage (``[storage] type = radicale_ext.plugins.storage``): Radicale's files with
    the item index, or, when ``[storage] postgresql_dsn`` is set, PostgreSQL
    (:class:`radicale_ext.plugins.pg_storage.PgStorage`, docs/scale-out.md)."""

    _collection_class = Collection

    def __new__(cls, configuration: config.Configuration, *args: Any, **kwargs: Any) -> Any:
        if storage_options(configuration).postgresql_dsn:
            from .pg_storage import PgStorage

            return PgStorage(configuration, settles_outbox=cls.settles_outbox)
        return super().__new__(cls)

    _unsynced = threading.local()

    def put_ahead(self, path: str, item: radicale_item.Item) -> Ahead | None:
        """Before the write lock (:mod:`.put_ahead`): the item's facts, and its text in a temporary file,
        fsynced, beside the file it will replace.  None where the facts cannot be had (the same work
        inside the lock reports it); no file where the collection's folder cannot take one (it does not
        exist: Radicale answers the PUT)."""
        collection, _, href = pathutils.strip_path(path).rpartition("/")
        try:
            folder = pathutils.path_to_filesystem(self._get_collection_root_folder(), collection,
                                                  self._is_collision_free)
        except ValueError:   # a path Radicale refuses: it says so inside the lock
            return facts_ahead(item)
        ahead = facts_ahead(item, self._earlier_ahead(collection, folder, href))
        if ahead is None:
            return None
        try:
            text = item.serialize().encode(self.configuration.get("encoding", "stock"))  # as Radicale writes it
            with _temporary_file(folder, "wb", None, None, self._fsync) as (temporary, file):
                file.write(text)
        except OSError:   # no such folder (Radicale answers the PUT inside the lock), a full disk
            return ahead
        ahead.temporary = temporary
        return ahead

    def _earlier_ahead(self, collection: str, folder: str, href: str) -> Earlier | None:
        """The series a PUT replaces, as the last view this process made of its collection indexed it (no look
        at the folder outside the lock): an edit that keeps its times keeps its occurrences, not walked again.
        What it takes is checked against the file (:func:`earlier_in`); the facts then hold for the new text
        whatever was written meanwhile, for they depend only on its timing lines."""
        view = self.item_index.last_view(collection)
        if view is None or not pathutils.is_safe_filesystem_path_component(href):
            return None
        return earlier_in(view, folder, href, self.configuration.get("encoding", "stock"))

    @contextlib.contextmanager
    def unsynced(self) -> Iterator[None]:
        """Writes of this thread inside it skip fsync (for what is derived from the item files)."""
        self._unsynced.on = True
        try:
            yield
        finally:
            self._unsynced.on = False

    def _fsync(self, f) -> None:
        if not getattr(self._unsynced, "on", False):
            super()._fsync(f)

    def _sync_directory(self, path: str) -> None:
        if not getattr(self._unsynced, "on", False):
            super()._sync_directory(path)

    def _exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Radicale's lock file, exclusively (its ``acquire_lock`` would run the ``[storage] hook`` command)."""
        return self._lock.acquire("w")

    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self._lock = WritersFirst(self._lock._path)
        #: each collection's properties as last read, with the version of their file (``ItemFiles.get_meta``)
        self.props_kept: dict[str, tuple[FileStamp, dict[str, str]]] = {}
        self.item_index = ItemIndex(Path(self._filesystem_folder) / INDEX_FILE,
                                    max_token_age_s=configuration.get("storage", "max_sync_token_age"),
                                    idle_seconds=storage_options(configuration).index_idle_seconds)
        self._settle_outbox()
