"""Circles (family, team): members and managers.

A circle's membership is kept either in the sharing database (changed with
the CLI by the circle's managers or the admin) or in the admin's groups file
(changed by editing the file).  Managers are always kept in the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ..base import names
from ..base.database import Database, Writer
from ..base.errors import Conflict, Forbidden, NotFound
from ..base.model import Circle, CircleOrigin
from .groups_file import GroupsFile

ADMIN: str | None = None  # acting as the server's admin: every check passes


class CircleBook:
    def __init__(self, db: Database, groups_file: GroupsFile,
                 user_exists: Callable[[str], bool] | None = None) -> None:
        self._db = db
        self._file = groups_file
        self._user_exists = user_exists or (lambda _user: True)

    # -- reading --------------------------------------------------------------

    def circles_of(self, user: str) -> frozenset[str]:
        """Every circle ``user`` belongs to (database and groups file).

        A circle kept in the database hides a groups-file circle of the same
        name, as in :meth:`get`: membership is what ``circle show`` says.
        """
        in_db = frozenset(r[0] for r in self._db.read(
            "SELECT circle FROM circle_members WHERE user = ?", (user,)))
        in_file = self._file.circles_of(user) - in_db
        if in_file:
            marks = ",".join("?" * len(in_file))
            hidden = {r[0] for r in self._db.read(f"SELECT name FROM circles WHERE name IN ({marks})",
                                                  sorted(in_file))}
            in_file -= hidden
        return in_db | in_file

    def exists(self, name: str) -> bool:
        return self._origin(name) is not None

    def _origin(self, name: str) -> CircleOrigin | None:
        if self._db.read_one("SELECT 1 FROM circles WHERE name = ?", (name,)):
            return CircleOrigin.DATABASE
        if name in self._file.circles():
            return CircleOrigin.GROUPS_FILE
        return None

    def get(self, name: str) -> Circle:
        origin = self._origin(name)
        if origin is None:
            raise NotFound(f"no circle named {names.shown(name)}")
        if origin is CircleOrigin.DATABASE:
            members = frozenset(r[0] for r in self._db.read(
                "SELECT user FROM circle_members WHERE circle = ?", (name,)))
        else:
            members = self._file.circles()[name]
        managers = frozenset(r[0] for r in self._db.read(
            "SELECT user FROM circle_managers WHERE circle = ?", (name,)))
        return Circle(name=name, origin=origin, members=members, managers=managers)

    def members_of(self, circles: Iterable[str]) -> dict[str, frozenset[str]]:
        """The members of each named circle that exists, read at once (two queries, whatever the
        number of circles); a database circle hides a groups-file circle of the same name, as in
        :meth:`get`."""
        wanted = sorted(set(circles))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        found: dict[str, set[str]] = {r[0]: set() for r in self._db.read(
            f"SELECT name FROM circles WHERE name IN ({marks})", wanted)}
        for circle, user in self._db.read(f"SELECT circle, user FROM circle_members WHERE circle IN ({marks})",
                                          wanted):
            if circle in found:
                found[circle].add(user)
        members = {name: frozenset(users) for name, users in found.items()}
        in_file = self._file.circles()
        members.update({name: in_file[name] for name in wanted if name not in members and name in in_file})
        return members

    def list(self) -> list[Circle]:
        db_names = {r[0] for r in self._db.read("SELECT name FROM circles")}
        return [self.get(n) for n in sorted(db_names | set(self._file.circles()))]

    # -- reading as a person: only circles they are in or manage ------------------

    def visible_to(self, actor: str | None) -> list[Circle]:
        """The circles ``actor`` manages or belongs to, by name (the admin: every circle).

        Nobody else's circles: who is in a circle is for its members and managers to know.
        """
        if actor is ADMIN:
            return self.list()
        managed = {r[0] for r in self._db.read("SELECT circle FROM circle_managers WHERE user = ?", (actor,))}
        return [circle for circle in (self._found(n) for n in sorted(self.circles_of(actor) | managed))
                if circle is not None and (actor in circle.members or actor in circle.managers)]

    def show(self, name: str, *, actor: str | None) -> Circle:
        """One circle with its members and managers, for its members, its managers and the admin."""
        circle = self.get(name)
        if actor is not ADMIN and actor not in circle.members and actor not in circle.managers:
            raise Forbidden(f"{actor!r} is neither a member nor a manager of circle {name!r}")
        return circle

    def _found(self, name: str) -> Circle | None:
        try:
            return self.get(name)
        except NotFound:
            return None

    # -- changing: each checks and writes inside one transaction ----------------

    def create(self, name: str, managers: list[str], *, actor: str | None = ADMIN) -> Circle:
        """A new circle in the database; its managers are its first members.

        Shares and subscription scopes left behind by an earlier circle of the
        same name (one removed from the groups file) are dropped, so a new
        circle never inherits them.
        """
        names.circle_name(name)
        if actor is not ADMIN and actor not in managers:
            managers = [actor, *managers]
        managers = list(dict.fromkeys(managers))
        for m in managers:
            self._require_user(m)
        with self._db.write() as w:
            if self._origin(name) is not None:
                raise Conflict(f"circle {name!r} already exists")
            w.execute("DELETE FROM shares WHERE grantee_kind = 'circle' AND grantee = ?", (name,))
            w.execute("DELETE FROM scope_members WHERE kind = 'circle' AND member = ?", (name,))
            w.execute("DELETE FROM card_audiences WHERE kind = 'circle' AND name = ?", (name,))
            w.execute("INSERT INTO circles(name, created_at) VALUES (?, ?)", (name, int(time.time())))
            for m in managers:
                w.execute("INSERT INTO circle_managers(circle, user) VALUES (?, ?)", (name, m))
                w.execute("INSERT OR IGNORE INTO circle_members(circle, user) VALUES (?, ?)", (name, m))
        return self.get(name)

    def delete(self, name: str, *, actor: str | None = ADMIN) -> None:
        """Delete a database circle with its managers, every share made to it and its place in scopes."""
        with self._db.write() as w:
            circle = self.get(name)
            self._require_manager(circle, actor)
            if circle.origin is CircleOrigin.GROUPS_FILE:
                raise Forbidden(f"circle {name!r} comes from the admin's groups file; remove it there")
            w.execute("DELETE FROM circle_members WHERE circle = ?", (name,))
            w.execute("DELETE FROM circle_managers WHERE circle = ?", (name,))
            w.execute("DELETE FROM shares WHERE grantee_kind = 'circle' AND grantee = ?", (name,))
            w.execute("DELETE FROM scope_members WHERE kind = 'circle' AND member = ?", (name,))
            w.execute("DELETE FROM card_audiences WHERE kind = 'circle' AND name = ?", (name,))
            w.execute("DELETE FROM circles WHERE name = ?", (name,))

    def add_members(self, name: str, users: Iterable[str], *, actor: str | None = ADMIN) -> list[str]:
        """Add every one of ``users``, or (on any error) none of them."""
        users = list(dict.fromkeys(users))
        with self._db.write() as w:
            circle = self._changeable(name, actor)
            for user in users:
                self._require_user(user)
                if user in circle.members:
                    raise Conflict(f"{user!r} is already a member of circle {name!r}; nothing changed")
            for user in users:
                w.execute("INSERT INTO circle_members(circle, user) VALUES (?, ?)", (name, user))
        return users

    def remove_members(self, name: str, users: Iterable[str], *, actor: str | None = ADMIN) -> list[str]:
        """Remove every one of ``users`` (and their managing), or none of them."""
        users = list(dict.fromkeys(users))
        with self._db.write() as w:
            circle = self._changeable(name, actor)
            for user in users:
                names.user_name(user)
                if user not in circle.members:
                    raise NotFound(f"{user!r} is not a member of circle {name!r}; nothing changed")
            for user in users:
                w.execute("DELETE FROM circle_members WHERE circle = ? AND user = ?", (name, user))
                w.execute("DELETE FROM circle_managers WHERE circle = ? AND user = ?", (name, user))
        return users

    def add_member(self, name: str, user: str, *, actor: str | None = ADMIN) -> None:
        self.add_members(name, [user], actor=actor)

    def remove_member(self, name: str, user: str, *, actor: str | None = ADMIN) -> None:
        self.remove_members(name, [user], actor=actor)

    def add_manager(self, name: str, user: str, *, actor: str | None = ADMIN) -> None:
        """Name a manager; in a database circle the manager becomes a member too."""
        self._require_user(user)
        with self._db.write() as w:
            circle = self.get(name)
            self._require_manager(circle, actor)
            if user in circle.managers:
                raise Conflict(f"{user!r} already manages circle {name!r}")
            w.execute("INSERT INTO circle_managers(circle, user) VALUES (?, ?)", (name, user))
            if circle.origin is CircleOrigin.DATABASE:
                w.execute("INSERT OR IGNORE INTO circle_members(circle, user) VALUES (?, ?)", (name, user))

    def remove_manager(self, name: str, user: str, *, actor: str | None = ADMIN) -> None:
        names.user_name(user)
        with self._db.write() as w:
            circle = self.get(name)
            self._require_manager(circle, actor)
            if user not in circle.managers:
                raise NotFound(f"{user!r} does not manage circle {name!r}")
            w.execute("DELETE FROM circle_managers WHERE circle = ? AND user = ?", (name, user))

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        """Inside ``w``: drop ``user`` from every circle kept in the database."""
        w.execute("DELETE FROM circle_members WHERE user = ?", (user,))
        w.execute("DELETE FROM circle_managers WHERE user = ?", (user,))

    # -- checks ---------------------------------------------------------------

    def changeable(self, name: str, *, actor: str | None) -> Circle:
        """The circle, when ``actor`` may change its members or delete it: one of its managers (or the
        admin), and it is kept in the database; else :class:`Forbidden` saying why."""
        return self._changeable(name, actor)

    def _changeable(self, name: str, actor: str | None) -> Circle:
        circle = self.get(name)
        self._require_manager(circle, actor)
        if circle.origin is CircleOrigin.GROUPS_FILE:
            raise Forbidden(
                f"circle {name!r} comes from the admin's groups file; its members are changed there"
            )
        return circle

    @staticmethod
    def _require_manager(circle: Circle, actor: str | None) -> None:
        if actor is not ADMIN and actor not in circle.managers:
            raise Forbidden(f"{actor!r} does not manage circle {circle.name!r}; ask one of its managers")

    def _require_user(self, user: str) -> None:
        names.user_name(user)
        if not self._user_exists(user):
            raise NotFound(f"no user named {user!r}; add it first with 'radicale-ext user add {user}'")
