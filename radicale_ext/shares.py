"""Shares: which collection is shared with whom, in which role.

A share names a grantee (a user or a circle) and a role.  A user's effective
access to a collection is the strongest role among their direct share and
the shares of the circles they belong to.  Every lookup on the request path
is one indexed query; nothing here scans every share.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from . import names
from .database import Database, Writer
from .errors import Conflict, Forbidden, InvalidName, NotFound
from .model import Grant, Grantee, GranteeKind, Role, Share

_SHARE_COLUMNS = "id, owner, collection, mount, grantee_kind, grantee, role, created_at, updated_at"


def _share(row: tuple) -> Share:
    return Share(id=row[0], owner=row[1], collection=row[2], mount=row[3],
                 grantee=Grantee(GranteeKind(row[4]), row[5]), role=Role(row[6]),
                 created_at=row[7], updated_at=row[8])


def _grantee_clause(user: str, circles: frozenset[str]) -> tuple[str, list[str]]:
    marks = ",".join("?" * len(circles))
    clause = "((grantee_kind = 'user' AND grantee = ?)"
    if circles:
        clause += f" OR (grantee_kind = 'circle' AND grantee IN ({marks}))"
    return clause + ")", [user, *sorted(circles)]


def merge_grants(shares: Iterable[Share], user: str) -> list[Grant]:
    """The effective grants of ``user``: one per collection, strongest role wins."""
    by_collection: dict[str, list[Share]] = {}
    for s in shares:
        if s.owner != user:
            by_collection.setdefault(s.collection, []).append(s)
    grants = []
    for collection, group in sorted(by_collection.items()):
        role = max((s.role for s in group), key=lambda r: r.rank)
        via = tuple(sorted("direct" if s.grantee.kind is GranteeKind.USER else f"circle:{s.grantee.name}"
                           for s in group))
        grants.append(Grant(owner=group[0].owner, collection=collection, mount=group[0].mount,
                            role=role, via=via))
    return grants


class ShareBook:
    def __init__(self, db: Database, *,
                 user_exists: Callable[[str], bool] | None = None,
                 circle_exists: Callable[[str], bool] | None = None,
                 collection_tag: Callable[[str], str | None] | None = None) -> None:
        self._db = db
        self._user_exists = user_exists or (lambda _u: True)
        self._circle_exists = circle_exists or (lambda _c: True)
        self._collection_tag = collection_tag or (lambda _p: "VCALENDAR")

    # -- request path: one indexed query each ----------------------------------

    def grants_for(self, user: str, circles: frozenset[str]) -> list[Grant]:
        clause, params = _grantee_clause(user, circles)
        rows = self._db.read(f"SELECT {_SHARE_COLUMNS} FROM shares WHERE {clause}", params)
        return merge_grants(map(_share, rows), user)

    def grant_at_mount(self, user: str, circles: frozenset[str], mount: str) -> Grant | None:
        clause, params = _grantee_clause(user, circles)
        rows = self._db.read(f"SELECT {_SHARE_COLUMNS} FROM shares WHERE mount = ? AND {clause}",
                             [mount, *params])
        grants = merge_grants(map(_share, rows), user)
        return grants[0] if grants else None

    def grant_on(self, user: str, circles: frozenset[str], collection: str) -> Grant | None:
        clause, params = _grantee_clause(user, circles)
        rows = self._db.read(f"SELECT {_SHARE_COLUMNS} FROM shares WHERE collection = ? AND {clause}",
                             [collection, *params])
        grants = merge_grants(map(_share, rows), user)
        return grants[0] if grants else None

    def is_shared(self, collection: str) -> bool:
        return self._db.read_one("SELECT 1 FROM shares WHERE collection = ? LIMIT 1", (collection,)) is not None

    # -- listing --------------------------------------------------------------

    def shares_of(self, collection: str) -> list[Share]:
        rows = self._db.read(f"SELECT {_SHARE_COLUMNS} FROM shares WHERE collection = ? "
                             "ORDER BY grantee_kind DESC, grantee", (collection,))
        return [_share(r) for r in rows]

    def shares_by(self, owner: str) -> list[Share]:
        rows = self._db.read(f"SELECT {_SHARE_COLUMNS} FROM shares WHERE owner = ? "
                             "ORDER BY collection, grantee_kind DESC, grantee", (owner,))
        return [_share(r) for r in rows]

    # -- changing -------------------------------------------------------------

    def add(self, collection: str, grantee: Grantee, role: Role, *, actor: str | None = None) -> Share:
        owner, collection = names.collection_path(collection)
        self._require_owner(owner, actor)
        self._require_grantee(grantee, owner)
        if self._collection_tag(collection) is None:
            raise NotFound(f"no calendar or address book at {collection!r}")
        now = int(time.time())
        with self._db.write() as w:
            if self._find(collection, grantee) is not None:
                raise Conflict(f"{collection} is already shared with {grantee}; use 'share role' to change the role")
            mount = self._mount_for(w, owner, collection)
            cur = w.execute(
                "INSERT INTO shares(owner, collection, mount, grantee_kind, grantee, role, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (owner, collection, mount, grantee.kind.value, grantee.name, role.value, now, now))
            share_id = cur.lastrowid
        row = self._db.read_one(f"SELECT {_SHARE_COLUMNS} FROM shares WHERE id = ?", (share_id,))
        assert row is not None
        return _share(row)

    def change_role(self, collection: str, grantee: Grantee, role: Role, *, actor: str | None = None) -> Share:
        owner, collection = names.collection_path(collection)
        self._require_owner(owner, actor)
        with self._db.write() as w:
            share = self._existing(collection, grantee)
            w.execute("UPDATE shares SET role = ?, updated_at = ? WHERE id = ?",
                      (role.value, int(time.time()), share.id))
        return self._existing(collection, grantee)

    def remove(self, collection: str, grantee: Grantee, *, actor: str | None = None) -> None:
        owner, collection = names.collection_path(collection)
        self._require_owner(owner, actor)
        with self._db.write() as w:
            w.execute("DELETE FROM shares WHERE id = ?", (self._existing(collection, grantee).id,))

    @staticmethod
    def forget_grantee(w: Writer, user: str) -> None:
        """Inside ``w``: drop every share made to ``user`` directly."""
        w.execute("DELETE FROM shares WHERE grantee_kind = 'user' AND grantee = ?", (user,))

    def forget_collection(self, collection: str) -> int:
        """Drop every share of a collection that no longer exists."""
        with self._db.write() as w:
            return w.execute("DELETE FROM shares WHERE collection = ?", (collection,)).rowcount

    # -- helpers --------------------------------------------------------------

    def _existing(self, collection: str, grantee: Grantee) -> Share:
        share = self._find(collection, grantee)
        if share is None:
            raise NotFound(f"{collection} is not shared with {grantee}")
        return share

    def _find(self, collection: str, grantee: Grantee) -> Share | None:
        row = self._db.read_one(
            f"SELECT {_SHARE_COLUMNS} FROM shares WHERE collection = ? AND grantee_kind = ? AND grantee = ?",
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
        base = f"{collection.strip('/').split('/')[1]}~{owner}"
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
