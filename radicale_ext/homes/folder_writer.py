"""The command line's :class:`~.home.CollectionWriter`: Radicale's folder layout, written from outside
the server under Radicale's storage lock (:mod:`radicale_ext.base.collection_folders`), each change
recorded in the outbox as the storage plugin records it: a pending record before the folder changes,
ready after, so a server that starts after a crash settles it like its own (docs/admin.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from ..base import collection_folders as folders
from ..base import layout
from ..base.collection_store import FolderStore
from ..base.errors import NotFound
from ..base.names import shown
from ..links.share_links import LinkBook
from ..notices.fanout import Audience
from ..notices.outbox import Change, ChangeKind, Outbox
from ..sharing.invitations import InvitationBook
from ..sharing.shares import ShareBook


class FolderWriter:
    def __init__(self, collections_folder: str, *, outbox: Outbox, shares: ShareBook, invitations: InvitationBook,
                 links: LinkBook) -> None:
        self._folder = collections_folder
        self._outbox = outbox
        self._shares = shares
        self._invitations = invitations
        self._links = links

    @contextmanager
    def _recorded(self, change: Change) -> Iterator[int]:
        record = self._outbox.begin(change)
        try:
            yield record
        except BaseException:
            self._outbox.discard(record)
            raise
        self._outbox.complete(record)

    def create(self, path: str, props: Mapping[str, str], actor: str) -> None:
        with folders.storage_lock(self._folder), \
                self._recorded(Change(kind=ChangeKind.COLLECTION_CREATED, actor=actor, collection=path)):
            folders.create_collection(self._folder, path, props)

    def change_properties(self, path: str, changes: Mapping[str, str | None], actor: str) -> None:
        with folders.storage_lock(self._folder):
            stored = FolderStore(self._folder)
            if stored.tag(path) is None:
                raise NotFound(f"no calendar or address book at {shown(path.strip('/'))}")
            props = stored.props(path)
            for key, value in changes.items():
                if value is None:
                    props.pop(key, None)
                else:
                    props[key] = value
            collection = layout.collection_folder(self._folder, path)
            with self._recorded(Change(kind=ChangeKind.PROPERTIES_CHANGED, actor=actor, collection=path)):
                folders.atomic_write(collection, os.path.join(collection, folders.PROPS_NAME),
                                     json.dumps(props, sort_keys=True))

    def delete(self, path: str, actor: str) -> None:
        with folders.storage_lock(self._folder):
            with self._recorded(Change(kind=ChangeKind.COLLECTION_DELETED, actor=actor, collection=path)) as record:
                if self._shares.is_shared(path):  # who had it, for their notice (as the storage plugin keeps it)
                    self._outbox.annotate(record, {"audience": Audience(self._shares, self._invitations)
                                                   .with_access(path)})
                folders.delete_collection(self._folder, path)
            self._shares.forget_collection(path)
            self._links.revoke_all_of(path)
