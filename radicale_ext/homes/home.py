"""A person's home: the calendars and address books they own, and the operations on them.

Every operation takes the ``actor`` (``None``: the admin, at the command line)
and checks it first: only the owner, or the admin, may list, create, change or
delete in a home.  How the folders are written is a :class:`CollectionWriter`
handed in: the server writes through Radicale's storage (so the item index,
sync tokens and the outbox see the change as a DAV client's), the command line
writes Radicale's folder layout under its lock (:mod:`.folder_writer`).
Reading is from the stored collections (:class:`radicale_ext.base.collection_store.CollectionStore`: files or
PostgreSQL).

Making a collection is MKCALENDAR (RFC 4791 section 5.3.1) or an extended
MKCOL (RFC 5689) with its properties; changing the name or colour is a
PROPPATCH (RFC 4918 section 9.2); deleting is DELETE of the collection
(RFC 4918 section 9.6), which takes its shares and links with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..base import names
from ..base.collection_store import CollectionStore, CollectionSummary
from ..base.errors import Conflict, Forbidden, NotFound
from ..base.model import Share
from ..base.names import shown
from ..links.share_links import LinkBook
from ..sharing.invitations import InvitationBook, Person
from ..sharing.shares import ShareBook
from . import properties
from .properties import Kind

# how many "家庭 2", "家庭 3"... a new collection made from a display name may try
MAX_NUMBERED = 50


class CollectionWriter(Protocol):
    """Writes a collection's folder; each call is one change, recorded as ``actor``'s."""

    def create(self, path: str, props: Mapping[str, str], actor: str) -> None:
        """Make ``path`` with ``props``; :class:`Conflict` when anything is there already."""

    def change_properties(self, path: str, changes: Mapping[str, str | None], actor: str) -> None:
        """Set (or, for ``None``, remove) some properties of ``path``, keeping the others."""

    def delete(self, path: str, actor: str) -> None:
        """Remove ``path`` with everything in it, its shares and its links."""


@dataclass(frozen=True)
class OwnCollection:
    """One calendar or address book of a home, as its owner sees it."""

    path: str                 # "/alice/家庭/"
    kind: Kind
    display_name: str | None
    colour: str | None
    items: int                # events, tasks and journal entries, or cards
    shares: int               # shares of it (users and circles)
    people: tuple[Person, ...]  # everyone its shares reach, and where each stands
    changed_at: float         # seconds since the epoch: the folder or its properties last changed

    @property
    def name(self) -> str:
        return self.path.strip("/").split("/")[-1]

    @property
    def owner(self) -> str:
        return self.path.strip("/").split("/")[0]

    @property
    def shown_as(self) -> str:
        return self.display_name or self.name

    @property
    def reaching(self) -> tuple[Person, ...]:
        """The people who have it now (in their home): they would lose access."""
        return tuple(p for p in self.people if p.standing.has_access)


@dataclass(frozen=True)
class Deleted:
    collection: OwnCollection
    shares: int
    links: int


class Homes:
    def __init__(self, *, collections: CollectionStore, user_exists: Callable[[str], bool], shares: ShareBook,
                 invitations: InvitationBook, links: LinkBook, writer: CollectionWriter) -> None:
        self._collections = collections
        self._user_exists = user_exists
        self._shares = shares
        self._invitations = invitations
        self._links = links
        self._writer = writer

    # -- who may ------------------------------------------------------------------------------

    def _acting(self, owner: str, actor: str | None) -> str:
        """Who acts: the owner, or the admin for them (recorded as the owner)."""
        names.user_name(owner)
        if actor is not None and actor != owner:
            raise Forbidden(f"{actor!r} may not change {owner!r}'s calendars and address books")
        if not self._user_exists(owner):
            raise NotFound(f"no user named {owner!r}; add them first: radicale-ext user add {owner}")
        return actor or owner

    # -- reading ------------------------------------------------------------------------------

    def collections(self, owner: str, *, actor: str | None) -> list[OwnCollection]:
        """``owner``'s calendars and address books, by name."""
        self._acting(owner, actor)
        shares: dict[str, list[Share]] = {}
        for share in self._shares.shares_by(owner):
            shares.setdefault(share.collection, []).append(share)
        people = self._invitations.people_by_collection(s for listed in shares.values() for s in listed)
        return [self._own(found, shares.get(found.path, []), people.get(found.path, []))
                for found in self._collections.collections_of(owner)]

    def to_choose_from(self, owner: str, *, actor: str | None) -> list[CollectionSummary]:
        """``owner``'s calendars and address books as a list to choose one from: what
        :meth:`collections` gives without who each reaches (cheaper: no sharing data read)."""
        self._acting(owner, actor)
        return self._collections.collections_of(owner)

    def collection(self, path: str, *, actor: str | None) -> OwnCollection:
        """One of them (``/alice/家庭/`` or ``alice/家庭``); :class:`NotFound` when there is none."""
        owner, path = names.collection_path(path)
        self._acting(owner, actor)
        found = next((f for f in self._collections.collections_of(owner) if f.path == path), None)
        if found is None:
            raise NotFound(f"no calendar or address book at {shown(path.strip('/'))}")
        shares = self._shares.shares_of(found.path)
        return self._own(found, shares, self._invitations.people_of_shares(shares))

    @staticmethod
    def _own(found: CollectionSummary, shares: list[Share], people: list[Person]) -> OwnCollection:
        return OwnCollection(path=found.path, kind=Kind(found.tag), display_name=found.display_name,
                             colour=found.colour, items=found.items, shares=len(shares), people=tuple(people),
                             changed_at=found.changed_at)

    # -- changing -----------------------------------------------------------------------------

    def create(self, owner: str, *, kind: Kind, display_name: str | None = None, colour: str | None = None,
               name: str | None = None, actor: str | None) -> OwnCollection:
        """Make a calendar or address book in ``owner``'s home.

        With ``name`` (the command line), that folder name or :class:`Conflict`;
        without it (the web page), a name made from ``display_name``
        (:func:`.properties.folder_name_for`), numbered ("家庭 2") when taken.
        An existing collection is never overwritten.
        """
        if name is None and display_name is None:
            raise ValueError("a new collection needs a name or a display name")
        props = {"tag": kind.value}
        if display_name is not None:
            props["D:displayname"] = properties.display_name(display_name)
        if colour is not None:
            props[kind.colour_property] = properties.colour(colour)
        if name is not None:
            owner, path = names.new_collection_path(f"{owner}/{name}")
            candidates = [path]
        else:
            names.user_name(owner)
            base = properties.folder_name_for(props["D:displayname"], kind)
            candidates = [f"/{owner}/{properties.numbered(base, n)}/" for n in range(1, MAX_NUMBERED + 1)]
        acting = self._acting(owner, actor)
        for path in candidates:
            made = {**props, "D:displayname": props.get("D:displayname") or path.strip("/").split("/")[1]}
            try:
                self._writer.create(path, made, acting)
            except Conflict:
                if name is not None or path == candidates[-1]:
                    raise
                continue
            return self.collection(path, actor=actor)
        raise AssertionError("unreachable")

    def change(self, path: str, *, display_name: str | None = None, colour: str | None = None,
               actor: str | None) -> OwnCollection:
        """Rename (its display name) and/or recolour one of ``owner``'s collections; ``None``: unchanged."""
        found = self.collection(path, actor=actor)
        changes: dict[str, str | None] = {}
        if display_name is not None:
            changes["D:displayname"] = properties.display_name(display_name)
        if colour is not None:
            changes[found.kind.colour_property] = properties.colour(colour)
        if changes:
            self._writer.change_properties(found.path, changes, actor or found.owner)
        return self.collection(found.path, actor=actor)

    def delete(self, path: str, *, actor: str | None) -> Deleted:
        """Delete a collection with everything in it; its shares and links go with it."""
        found = self.collection(path, actor=actor)
        links = sum(1 for link in self._links.links_of(found.path.strip("/")) if link.revoked_at is None)
        self._writer.delete(found.path, actor or found.owner)
        return Deleted(collection=found, shares=found.shares, links=links)
