"""The command line's :class:`~.home.CollectionWriter`: the stored collections written from outside the
server under the storage's own lock (:class:`~radicale_ext.base.collection_store.CollectionWrites`: Radicale's
folder layout, :mod:`radicale_ext.base.collection_folders`, or PostgreSQL), each change recorded in the
outbox as the storage plugin records it: a pending record before the collection changes, ready after, so a
server that starts after a crash settles it like its own (docs/admin.md)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from ..base.collection_store import CollectionStore, CollectionWrites, no_collection
from ..links.share_links import LinkBook
from ..notices.fanout import Audience
from ..notices.outbox import Change, ChangeKind, Outbox
from ..sharing.invitations import InvitationBook
from ..sharing.shares import ShareBook


class FolderWriter:
    def __init__(self, writes: CollectionWrites, collections: CollectionStore, *, outbox: Outbox, shares: ShareBook,
                 invitations: InvitationBook, links: LinkBook) -> None:
        self._writes = writes
        self._collections = collections
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
        with self._writes.locked(), \
                self._recorded(Change(kind=ChangeKind.COLLECTION_CREATED, actor=actor, collection=path)):
            self._writes.create(path, props)

    def change_properties(self, path: str, changes: Mapping[str, str | None], actor: str) -> None:
        with self._writes.locked():
            if self._collections.tag(path) is None:
                raise no_collection(path)
            props = self._collections.props(path)
            for key, value in changes.items():
                if value is None:
                    props.pop(key, None)
                else:
                    props[key] = value
            with self._recorded(Change(kind=ChangeKind.PROPERTIES_CHANGED, actor=actor, collection=path)):
                self._writes.set_props(path, props)

    def delete(self, path: str, actor: str) -> None:
        with self._writes.locked():
            with self._recorded(Change(kind=ChangeKind.COLLECTION_DELETED, actor=actor, collection=path)) as record:
                if self._shares.is_shared(path):  # who had it, for their notice (as the storage plugin keeps it)
                    self._outbox.annotate(record, {"audience": Audience(self._shares, self._invitations)
                                                   .with_access(path)})
                self._writes.delete(path)
            self._shares.forget_collection(path)
            self._links.revoke_all_of(path)
