"""Shares: which collection is shared with whom, in which role, and how it takes effect.

A share names a grantee (a user or a circle), a role and a basis
(:class:`~radicale_ext.base.model.ShareBasis`):

- *at once*: everyone it reaches has it in their home on the next request;
- *invitation*: each person it reaches accepts or declines
  (:mod:`radicale_ext.sharing.invitations` keeps the answers);
- *subscription*: a person in the collection's subscription scope subscribed
  themselves (:mod:`radicale_ext.sharing.scopes` keeps the scope); it counts only
  while they are in scope.

A share *counts* for a person when it is at once, when they accepted it, or
when they are in scope of their subscription.  A user's effective access to a
collection is the strongest role among the shares that count for them.

The shares table stays the one grant; the other tables only say whether a
grant counts.  Every lookup on the request path is one indexed query (the
shares reaching the user, joined with their answers, the scope and their own
view of the collection's properties); nothing here scans every share.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from ..base import names
from ..base.database import Database, Writer
from ..base.errors import Conflict, Forbidden, InvalidName, NotFound
from ..base.model import Grant, Grantee, GranteeKind, InvitationState, Role, Share, ShareBasis
from . import mounts
from .acting import as_owner

# What decides whether a share counts, beside the foundation's ``shares`` table:
# its terms (basis, summary, the key of its invitations' ids), each person's answer
# to an invitation (:mod:`.invitations`), subscription scopes (:mod:`.scopes`), and
# each sharee's own view of the collection's properties.  Defined here because the
# request path's one query joins them all; :class:`ShareBook` makes sure they exist.
SCHEMA = """
CREATE TABLE IF NOT EXISTS share_terms (
    share_id INTEGER PRIMARY KEY REFERENCES shares(id) ON DELETE CASCADE,
    basis    TEXT NOT NULL CHECK (basis IN ('invitation', 'subscription')),
    summary  TEXT NOT NULL DEFAULT '',
    key      TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS invitations (
    share_id   INTEGER NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    user       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'removed')),
    dismissed  INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (share_id, user)
);
CREATE INDEX IF NOT EXISTS invitations_by_user ON invitations(user);
CREATE TABLE IF NOT EXISTS scope_members (
    collection TEXT NOT NULL,
    owner      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'circle')),
    member     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (collection, kind, member)
);
CREATE INDEX IF NOT EXISTS scope_members_by_member ON scope_members(kind, member);
CREATE TABLE IF NOT EXISTS sharee_properties (
    collection TEXT NOT NULL,
    user       TEXT NOT NULL,
    properties TEXT NOT NULL,
    PRIMARY KEY (collection, user)
)
"""

# a person's own choice whether a shared calendar makes them busy (RFC 6638 9.1), kept with their view
TRANSPARENCY = "C:schedule-calendar-transp"

_SHARE_COLUMNS = ("s.id, s.owner, s.collection, s.mount, s.grantee_kind, s.grantee, s.role, s.created_at,"
                  " s.updated_at, t.basis, t.summary, t.key")
_SHARES = f"SELECT {_SHARE_COLUMNS} FROM shares s LEFT JOIN share_terms t ON t.share_id = s.id"


# runs inside a change's transaction, e.g. to store the notices it sends
Notify = Callable[[Writer, Share], None]


def _set_property(w: Writer, user: str, collection: str, name: str, value: str | None, *,
                  only_if_unset: bool) -> None:
    row = w.execute("SELECT properties FROM sharee_properties WHERE collection = ? AND user = ?",
                    (collection, user)).fetchone()
    properties = json.loads(row[0]) if row else {}
    if only_if_unset and name in properties:
        return
    if value is None:
        properties.pop(name, None)
    else:
        properties[name] = value
    if properties:
        w.execute("INSERT OR REPLACE INTO sharee_properties(collection, user, properties) VALUES (?, ?, ?)",
                  (collection, user, json.dumps(properties, sort_keys=True)))
    else:
        w.execute("DELETE FROM sharee_properties WHERE collection = ? AND user = ?", (collection, user))


def _share(row: tuple) -> Share:
    return Share(id=row[0], owner=row[1], collection=row[2], mount=row[3],
                 grantee=Grantee(GranteeKind(row[4]), row[5]), role=Role(row[6]),
                 created_at=row[7], updated_at=row[8],
                 basis=ShareBasis(row[9]) if row[9] else ShareBasis.AT_ONCE, summary=row[10] or "",
                 key=row[11] or "")


@dataclass(frozen=True)
class Reach:
    """A share as it reaches one person, and whether it counts for them."""

    share: Share
    user: str
    state: InvitationState | None   # the person's answer to an invitation (None: not answered)
    dismissed: bool
    answered_at: int
    in_scope: bool                  # a subscription: the person is in the collection's scope
    properties: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def counts(self) -> bool:
        basis = self.share.basis
        if basis is ShareBasis.INVITATION:
            return self.state is InvitationState.ACCEPTED
        if basis is ShareBasis.SUBSCRIPTION:
            return self.in_scope
        return True

    @property
    def via(self) -> str:
        if self.share.basis is ShareBasis.SUBSCRIPTION:
            return "subscription"
        return "direct" if self.share.grantee.kind is GranteeKind.USER else f"circle:{self.share.grantee.name}"


def _in(column: str, values: frozenset[str]) -> tuple[str, list[str]]:
    if not values:
        return "FALSE", []
    return f"{column} IN ({','.join('?' * len(values))})", sorted(values)


def _reach_query(user: str, circles: frozenset[str], where: str = "") -> tuple[str, list]:
    """Every share reaching ``user`` directly or through ``circles`` (and ``where``), with what
    decides whether it counts: one query, each join on a primary key."""
    scope_circles, scope_params = _in("m.member", circles)
    grantee_circles, grantee_params = _in("s.grantee", circles)
    sql = f"""
        SELECT {_SHARE_COLUMNS}, i.state, i.dismissed, i.updated_at,
               CASE WHEN t.basis = 'subscription' THEN EXISTS (
                   SELECT 1 FROM scope_members m WHERE m.collection = s.collection
                   AND ((m.kind = 'user' AND m.member = ?) OR (m.kind = 'circle' AND {scope_circles}))
               ) ELSE FALSE END,
               p.properties
        FROM shares s
        LEFT JOIN share_terms t ON t.share_id = s.id
        LEFT JOIN invitations i ON i.share_id = s.id AND i.user = ?
        LEFT JOIN sharee_properties p ON p.collection = s.collection AND p.user = ?
        WHERE ((s.grantee_kind = 'user' AND s.grantee = ?) OR (s.grantee_kind = 'circle' AND {grantee_circles}))
              AND s.owner != ? {where}"""
    return sql, [user, *scope_params, user, user, user, *grantee_params, user]


def _reach(row: tuple, user: str) -> Reach:
    return Reach(share=_share(row), user=user, state=InvitationState(row[12]) if row[12] else None,
                 dismissed=bool(row[13]), answered_at=row[14] or 0, in_scope=bool(row[15]),
                 properties=json.loads(row[16]) if row[16] else {})


def merge_grants(reaches: Iterable[Reach]) -> list[Grant]:
    """One grant per collection from the shares that count: the strongest role wins."""
    by_collection: dict[str, list[Reach]] = {}
    for r in reaches:
        if r.counts:
            by_collection.setdefault(r.share.collection, []).append(r)
    grants = []
    for collection, group in sorted(by_collection.items()):
        role = max((r.share.role for r in group), key=lambda role: role.rank)
        first = group[0].share
        grants.append(Grant(owner=first.owner, collection=collection, mount=first.mount, role=role,
                            via=tuple(sorted(r.via for r in group)), properties=group[0].properties))
    return grants


class ShareBook:
    def __init__(self, db: Database, *,
                 user_exists: Callable[[str], bool] | None = None,
                 circle_exists: Callable[[str], bool] | None = None,
                 admin_circle: Callable[[str], bool] | None = None,
                 collection_tag: Callable[[str], str | None] | None = None,
                 occupied: Callable[[str], bool] | None = None) -> None:
        self._db = db
        # whether a collection of a person's own is at a path of their home (e.g. /bob/family~alice/)
        self._occupied = occupied or (lambda _p: False)
        self._user_exists = user_exists or (lambda _u: True)
        self._circle_exists = circle_exists or (lambda _c: True)
        self._admin_circle = admin_circle or (lambda _c: False)
        self._collection_tag = collection_tag or (lambda _p: "VCALENDAR")
        with db.write() as w:
            w.executescript_safe(SCHEMA)

    # -- request path: one indexed query each ----------------------------------

    def reaches(self, user: str, circles: frozenset[str], *, collection: str | None = None,
                mount: str | None = None) -> list[Reach]:
        """Every share reaching ``user``, whether it counts or not."""
        where, extra = "", []
        if collection is not None:
            where, extra = "AND s.collection = ?", [collection]
        elif mount is not None:
            where, extra = "AND s.mount = ?", [mount]
        sql, params = _reach_query(user, circles, where)
        return [_reach(row, user) for row in self._db.read(sql, [*params, *extra])]

    def grants_for(self, user: str, circles: frozenset[str]) -> list[Grant]:
        return [self._placed(user, g) for g in merge_grants(self.reaches(user, circles))]

    def reaches_at_mount(self, user: str, circles: frozenset[str], segment: str) -> list[Reach]:
        """The shares reaching ``user`` that ``/<user>/<segment>/`` stands for: the collection's
        mount, unless a collection of the user's own is there (then the share is at its free
        name, :func:`.mounts.free_name`).  Empty when the path is not a share of theirs."""
        reaches = self.reaches(user, circles, mount=segment)
        if any(r.counts for r in reaches) and not self._occupied(f"/{user}/{segment}/"):
            return reaches
        mount = mounts.displaced_from(segment)
        if mount is not None:
            reaches = self.reaches(user, circles, mount=mount)
            grants = merge_grants(reaches)
            if grants and self._placed(user, grants[0]).mount == segment:
                return reaches
        return []

    def grant_at_mount(self, user: str, circles: frozenset[str], segment: str) -> Grant | None:
        grants = merge_grants(self.reaches_at_mount(user, circles, segment))
        return self._placed(user, grants[0]) if grants else None

    def grant_on(self, user: str, circles: frozenset[str], collection: str) -> Grant | None:
        grants = merge_grants(self.reaches(user, circles, collection=collection))
        return self._placed(user, grants[0]) if grants else None

    def placed_mount(self, user: str, mount: str) -> str:
        """The name a share mounted at ``mount`` has in ``user``'s home: never over a collection of
        their own (:func:`.mounts.free_name`)."""
        return mounts.free_name(mount, lambda name: self._occupied(f"/{user}/{name}/"))

    def _placed(self, user: str, grant: Grant) -> Grant:
        """The grant with the name it has in ``user``'s home."""
        mount = self.placed_mount(user, grant.mount)
        return grant if mount == grant.mount else replace(grant, mount=mount)

    def is_shared(self, collection: str) -> bool:
        return self._db.read_one("SELECT 1 FROM shares WHERE collection = ? LIMIT 1", (collection,)) is not None

    # -- listing --------------------------------------------------------------

    def shares_of(self, collection: str) -> list[Share]:
        rows = self._db.read(f"{_SHARES} WHERE s.collection = ? ORDER BY s.grantee_kind DESC, s.grantee",
                             (collection,))
        return [_share(r) for r in rows]

    def shares_by(self, owner: str) -> list[Share]:
        rows = self._db.read(f"{_SHARES} WHERE s.owner = ? ORDER BY s.collection, s.grantee_kind DESC, s.grantee",
                             (owner,))
        return [_share(r) for r in rows]

    def listed(self, collection: str, *, actor: str | None) -> list[Share]:
        """The shares of ``collection`` (users first, then circles), for its owner or the admin:
        'share list' and the web page's share page."""
        owner, collection = names.collection_path(collection)
        as_owner(owner, actor, "see who a collection is shared with")
        return self.shares_of(collection)

    def share_with_key(self, key: str) -> Share | None:
        row = self._db.read_one(f"{_SHARES} WHERE t.key = ?", (key,))
        return _share(row) if row else None

    # -- changing -------------------------------------------------------------

    def add(self, collection: str, grantee: Grantee, role: Role, *, actor: str | None = None,
            basis: ShareBasis | None = None, summary: str = "") -> Share:
        """Share ``collection``: at once when the admin shares (``actor`` None), by
        invitation when its owner does; ``basis`` chooses otherwise.

        Raises :class:`Forbidden` when an owner asks for "at once" with anyone but a
        circle of the admin's groups file: nobody finds a collection in their home
        they did not accept, unless the admin vouches for the circle.
        """
        owner, collection = names.collection_path(collection)
        self._require_owner(owner, actor)
        self._require_grantee(grantee, owner)
        basis = basis or (ShareBasis.AT_ONCE if actor is None else ShareBasis.INVITATION)
        if basis is ShareBasis.SUBSCRIPTION:
            raise InvalidName("a subscription is made by the subscriber ('radicale-ext subscribe')")
        if basis is ShareBasis.AT_ONCE and not self.may_share_at_once(grantee, actor):
            raise Forbidden("only the admin may share at once, except with a circle of the admin's groups file; "
                            "drop --at-once to send invitations")
        if self._collection_tag(collection) is None:
            raise NotFound(f"no calendar or address book at {collection!r}")
        with self._db.write() as w:
            existing = self._find(collection, grantee)
            if existing is not None:
                hint = ("they subscribed themselves; 'share remove' it first"
                        if existing.basis is ShareBasis.SUBSCRIPTION else "use 'share role' to change the role")
                raise Conflict(f"{collection} is already shared with {grantee}; {hint}")
            share_id = self._insert(w, owner, collection, grantee, role, basis, summary)
        return self._by_id(share_id)

    def may_share_at_once(self, grantee: Grantee, actor: str | None) -> bool:
        """Whether ``actor`` may share with ``grantee`` at once (without invitations): the admin always,
        an owner only with a circle of the admin's groups file (the admin vouches for its members)."""
        return actor is None or (grantee.kind is GranteeKind.CIRCLE and self._admin_circle(grantee.name))

    def subscribe(self, collection: str, user: str) -> Share:
        """Record ``user``'s own subscription (read-only); the caller checks the scope."""
        owner, collection = names.collection_path(collection)
        grantee = Grantee(GranteeKind.USER, user)
        with self._db.write() as w:
            if self._find(collection, grantee) is not None:
                raise Conflict(f"{collection} is already shared with {user}; see 'radicale-ext invitation list'")
            share_id = self._insert(w, owner, collection, grantee, Role.SUBSCRIBER, ShareBasis.SUBSCRIPTION, "")
            self.taken_in(w, user, collection)
        return self._by_id(share_id)

    def change_role(self, collection: str, grantee: Grantee, role: Role, *, actor: str | None = None,
                    notify: Notify | None = None) -> Share:
        """Change the role; ``notify`` runs in the same transaction with the changed share."""
        owner, collection = names.collection_path(collection)
        self._require_owner(owner, actor)
        with self._db.write() as w:
            share = self._existing(collection, grantee)
            if share.basis is ShareBasis.SUBSCRIPTION and role is not Role.SUBSCRIBER:
                raise Conflict(f"{grantee} subscribed to {collection}, which is read-only; "
                               "'share remove' it and share with them instead")
            w.execute("UPDATE shares SET role = ?, updated_at = ? WHERE id = ?",
                      (role.value, int(time.time()), share.id))
            changed = self._existing(collection, grantee)
            if notify is not None and changed.role is not share.role:
                notify(w, changed)
        return changed

    def remove(self, collection: str, grantee: Grantee, *, actor: str | None = None,
               notify: Notify | None = None) -> Share:
        """Stop sharing; the answers to its invitations go with it.  ``notify`` runs in the
        same transaction, before the share is gone.  Returns what was removed."""
        owner, collection = names.collection_path(collection)
        self._require_owner(owner, actor)
        with self._db.write() as w:
            share = self._existing(collection, grantee)
            if notify is not None:
                notify(w, share)
            w.execute("DELETE FROM shares WHERE id = ?", (share.id,))
        return share

    def remove_subscription(self, collection: str, user: str) -> bool:
        """``user`` ends their own subscription; False when they had none."""
        with self._db.write() as w:
            return w.execute(
                "DELETE FROM shares WHERE collection = ? AND grantee_kind = 'user' AND grantee = ? AND id IN"
                " (SELECT share_id FROM share_terms WHERE basis = 'subscription')", (collection, user)).rowcount > 0

    def properties_of(self, user: str, collection: str) -> dict[str, str]:
        row = self._db.read_one("SELECT properties FROM sharee_properties WHERE collection = ? AND user = ?",
                                (collection, user))
        return json.loads(row[0]) if row else {}

    def set_property(self, user: str, collection: str, name: str, value: str | None) -> None:
        """One property of ``user``'s own view (None: theirs no more, the owner's shows again)."""
        with self._db.write() as w:
            _set_property(w, user, collection, name, value, only_if_unset=False)

    def taken_in(self, w: Writer, user: str, collection: str) -> None:
        """Inside ``w``: ``user`` took a shared calendar in (accepted, subscribed).  Unless they chose before,
        it does not make them busy (caldav-sharing: CALDAV:schedule-calendar-transp set to transparent)."""
        if self._collection_tag(collection) == "VCALENDAR":
            _set_property(w, user, collection, TRANSPARENCY, "transparent", only_if_unset=True)

    def set_properties(self, user: str, collection: str, properties: Mapping[str, str]) -> None:
        """``user``'s own view of a shared collection (name, colour): nobody else sees it."""
        with self._db.write() as w:
            if properties:
                w.execute("INSERT OR REPLACE INTO sharee_properties(collection, user, properties) VALUES (?, ?, ?)",
                          (collection, user, json.dumps(dict(properties), sort_keys=True)))
            else:
                w.execute("DELETE FROM sharee_properties WHERE collection = ? AND user = ?", (collection, user))

    @staticmethod
    def forget_grantee(w: Writer, user: str) -> None:
        """Inside ``w``: drop every share made to ``user`` directly, and their own views."""
        w.execute("DELETE FROM shares WHERE grantee_kind = 'user' AND grantee = ?", (user,))
        w.execute("DELETE FROM sharee_properties WHERE user = ?", (user,))

    def forget_collection(self, collection: str) -> int:
        """Drop every share, scope and personal view of a collection that no longer exists."""
        with self._db.write() as w:
            w.execute("DELETE FROM scope_members WHERE collection = ?", (collection,))
            w.execute("DELETE FROM sharee_properties WHERE collection = ?", (collection,))
            return w.execute("DELETE FROM shares WHERE collection = ?", (collection,)).rowcount

    # -- helpers --------------------------------------------------------------

    def _insert(self, w: Writer, owner: str, collection: str, grantee: Grantee, role: Role,
                basis: ShareBasis, summary: str) -> int:
        now = int(time.time())
        mount = self._mount_for(w, owner, collection)
        cur = w.execute(
            "INSERT INTO shares(owner, collection, mount, grantee_kind, grantee, role, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (owner, collection, mount, grantee.kind.value, grantee.name, role.value, now, now))
        share_id = cur.fetchone()[0]
        assert share_id is not None
        if basis is not ShareBasis.AT_ONCE:
            w.execute("INSERT INTO share_terms(share_id, basis, summary, key) VALUES (?, ?, ?, ?)",
                      (share_id, basis.value, summary.strip()[:1000], secrets.token_hex(8)))
        return share_id

    def _by_id(self, share_id: int) -> Share:
        row = self._db.read_one(f"{_SHARES} WHERE s.id = ?", (share_id,))
        assert row is not None
        return _share(row)

    def _existing(self, collection: str, grantee: Grantee) -> Share:
        share = self._find(collection, grantee)
        if share is None:
            raise NotFound(f"{collection} is not shared with {grantee}")
        return share

    def _find(self, collection: str, grantee: Grantee) -> Share | None:
        row = self._db.read_one(f"{_SHARES} WHERE s.collection = ? AND s.grantee_kind = ? AND s.grantee = ?",
                                (collection, grantee.kind.value, grantee.name))
        return _share(row) if row else None

    @staticmethod
    def _mount_for(w: Writer, owner: str, collection: str) -> str:
        """The segment under which the collection appears in grantees' homes.

        One mount per collection, never reused by another collection.
        """
        row = w.execute("SELECT mount FROM shares WHERE collection = ? LIMIT 1", (collection,)).fetchone()
        if row:
            return row[0]
        base = mounts.mount_name(collection.strip('/').split('/')[1], owner)
        mount, n = base, 1
        while w.execute("SELECT 1 FROM shares WHERE mount = ? LIMIT 1", (mount,)).fetchone():
            n += 1
            mount = f"{base}~{n}"
        return mount

    @staticmethod
    def _require_owner(owner: str, actor: str | None) -> None:
        if actor is not None and actor != owner:
            raise Forbidden(f"only {owner!r} (the owner) may change how this collection is shared")

    def _require_grantee(self, grantee: Grantee, owner: str) -> None:
        if grantee.kind is GranteeKind.USER:
            names.user_name(grantee.name)
            if grantee.name == owner:
                raise InvalidName(f"{owner!r} owns this collection; it cannot be shared with its owner")
            if not self._user_exists(grantee.name):
                raise NotFound(f"no user named {grantee.name!r}; add it first with 'radicale-ext user add'")
        else:
            names.circle_name(grantee.name)
            if not self._circle_exists(grantee.name):
                raise NotFound(f"no circle named {grantee.name!r}; create it first with 'radicale-ext circle create'")
