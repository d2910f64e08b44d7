"""Subscription scopes: who may subscribe to a calendar without asking its owner.

An owner (or the admin) opens a collection to a set of users and circles, its
*scope*: the calendar of a team, a school, a project.  Anyone in scope may
list it and subscribe (read-only); the subscription is a share of basis
*subscription* to them (:mod:`radicale_ext.sharing.shares`), and it counts only while
they are in scope: the request path checks the scope on every request, so
someone dropped from the scope (or from the circle that was in it) loses
access on their next request, and regains it if they are put back.

Anyone outside the scope is refused with one sentence that is the same
whether the collection exists or not, so nobody learns of a calendar that
was not opened to them.  The ``scope_members`` table is defined with the
shares (:data:`radicale_ext.sharing.shares.SCHEMA`): the request path's one query reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..base import names
from ..base.database import Database, Writer
from ..base.errors import Conflict, Forbidden, NotFound
from ..base.model import Grant, Grantee, GranteeKind, InvitationState, ShareBasis
from .acting import ADMIN, for_themselves
from .circles import CircleBook
from .shares import ShareBook


class NotInScope(Forbidden):
    """A subscription asked for by someone outside the scope (or for no such collection)."""


@dataclass(frozen=True)
class Subscribable:
    """A collection a person may subscribe to."""

    collection: str           # the owner's path, "/school/calendar/"
    owner: str
    name: str                 # its display name
    path: str | None          # where it is in the person's home, once subscribed (or otherwise shared)
    subscribed: bool = False  # in their home through their own subscription (they may unsubscribe)


class ScopeBook:
    def __init__(self, db: Database, shares: ShareBook, circles: CircleBook, *,
                 user_exists: Callable[[str], bool] | None = None,
                 circle_exists: Callable[[str], bool] | None = None,
                 collection_tag: Callable[[str], str | None] | None = None,
                 display_name: Callable[[str], str | None] | None = None) -> None:
        self._db = db
        self._shares = shares
        self._circles = circles
        self._user_exists = user_exists or (lambda _u: True)
        self._circle_exists = circle_exists or (lambda _c: True)
        self._collection_tag = collection_tag or (lambda _p: "VCALENDAR")
        self._display_name = display_name or (lambda _p: None)

    # -- the owner's side ---------------------------------------------------------

    def add(self, collection: str, member: Grantee, *, actor: str | None = None) -> None:
        owner, collection = self._owned(collection, actor)
        self._require_member(member)
        if self._collection_tag(collection) is None:
            raise NotFound(f"no calendar or address book at {collection!r}")
        with self._db.write() as w:
            if self._has(collection, member):
                raise Conflict(f"{member} is already in the subscription scope of {collection}")
            w.execute("INSERT INTO scope_members(collection, owner, kind, member, created_at) VALUES (?, ?, ?, ?, ?)",
                      (collection, owner, member.kind.value, member.name, int(time.time())))

    def remove(self, collection: str, member: Grantee, *, actor: str | None = None) -> None:
        """Take ``member`` out of the scope; their subscriptions stop counting on the next request."""
        _owner, collection = self._owned(collection, actor)
        with self._db.write() as w:
            if not self._has(collection, member):
                raise NotFound(f"{member} is not in the subscription scope of {collection}")
            w.execute("DELETE FROM scope_members WHERE collection = ? AND kind = ? AND member = ?",
                      (collection, member.kind.value, member.name))

    def members(self, collection: str, *, actor: str | None = None) -> list[Grantee]:
        _owner, collection = self._owned(collection, actor)
        rows = self._db.read("SELECT kind, member FROM scope_members WHERE collection = ? ORDER BY kind DESC, member",
                             (collection,))
        return [Grantee(GranteeKind(kind), member) for kind, member in rows]

    # -- the subscriber's side -------------------------------------------------------

    def in_scope(self, user: str, collection: str) -> bool:
        circles = self._circles.circles_of(user)
        marks = ",".join("?" * len(circles)) or "NULL"
        return self._db.read_one(
            "SELECT 1 FROM scope_members WHERE collection = ? AND ((kind = 'user' AND member = ?)"
            f" OR (kind = 'circle' AND member IN ({marks}))) LIMIT 1",
            (collection, user, *sorted(circles))) is not None

    def subscribable(self, user: str, *, actor: str | None = ADMIN) -> list[Subscribable]:
        """Every collection ``user`` may subscribe to (other people's), and whether they have it
        (``user`` or the admin)."""
        for_themselves(user, actor)
        circles = self._circles.circles_of(user)
        marks = ",".join("?" * len(circles)) or "NULL"
        rows = self._db.read(
            "SELECT DISTINCT collection, owner FROM scope_members WHERE owner != ? AND ((kind = 'user' AND member = ?)"
            f" OR (kind = 'circle' AND member IN ({marks}))) ORDER BY collection",
            (user, user, *sorted(circles)))
        held = {g.collection: g for g in self._shares.grants_for(user, circles)}
        return [Subscribable(collection=c, owner=o, path=held[c].mount_path(user) if c in held else None,
                             subscribed=c in held and "subscription" in held[c].via,
                             name=self._display_name(c) or c.strip("/").split("/")[1])
                for c, o in rows if self._collection_tag(c) is not None]

    def subscribe(self, user: str, collection: str, *, actor: str | None = ADMIN) -> Grant:
        """Subscribe ``user`` (read-only), without the owner's action, if they are in scope (``user``
        or the admin).

        Raises :class:`NotInScope`, with the same sentence whether or not the
        collection exists.
        """
        names.user_name(user)
        for_themselves(user, actor)
        owner, collection = names.collection_path(collection)
        if owner == user:
            raise Conflict(f"{collection} is {user}'s own")
        if self._collection_tag(collection) is None or not self.in_scope(user, collection):
            raise NotInScope(f"{user!r} may not subscribe to {collection}: it is not open to them "
                             "(ask its owner to add them to its subscription scope)")
        circles = self._circles.circles_of(user)
        reaching = self._shares.reaches(user, circles, collection=collection)
        if any(r.counts for r in reaching):
            raise Conflict(f"{collection} is already in {user}'s home")
        if any(r.share.grantee == Grantee(GranteeKind.USER, user) for r in reaching) or any(
                r.share.basis is ShareBasis.INVITATION and r.state in (None, InvitationState.PENDING)
                for r in reaching):
            raise Conflict(f"{user!r} has an invitation to {collection}; accept it instead "
                           "('radicale-ext invitation accept')")
        self._shares.subscribe(collection, user)
        grant = self._shares.grant_on(user, circles, collection)
        assert grant is not None
        return grant

    def unsubscribe(self, user: str, collection: str, *, actor: str | None = ADMIN) -> None:
        for_themselves(user, actor)
        _owner, collection = names.collection_path(collection)
        if not self._shares.remove_subscription(collection, user):
            raise NotFound(f"{user!r} has no subscription to {collection}")

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM scope_members WHERE kind = 'user' AND member = ?", (user,))

    # -- helpers ------------------------------------------------------------------

    @staticmethod
    def _owned(collection: str, actor: str | None) -> tuple[str, str]:
        owner, collection = names.collection_path(collection)
        if actor is not None and actor != owner:
            raise Forbidden(f"only {owner!r} (the owner) may change who may subscribe to {collection}")
        return owner, collection

    def _has(self, collection: str, member: Grantee) -> bool:
        return self._db.read_one("SELECT 1 FROM scope_members WHERE collection = ? AND kind = ? AND member = ?",
                                 (collection, member.kind.value, member.name)) is not None

    def _require_member(self, member: Grantee) -> None:
        if member.kind is GranteeKind.USER:
            names.user_name(member.name)
            if not self._user_exists(member.name):
                raise NotFound(f"no user named {member.name!r}")
        else:
            names.circle_name(member.name)
            if not self._circle_exists(member.name):
                raise NotFound(f"no circle named {member.name!r}")

