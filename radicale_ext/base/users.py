"""Accounts in an htpasswd file with bcrypt hashes (what Radicale's
``[auth] type = htpasswd`` reads).  Every change rewrites the file atomically.

Who may add, remove and set the password of accounts, and see every circle, is
checked here (:class:`Accounts`): the admin at the command line (``actor`` None),
or a user named in the option ``[auth] admins`` (the web page's admin pages).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import bcrypt

from . import names
from .errors import Conflict, ExtError, Forbidden, InvalidName, NotFound
from .model import Circle


def _name_of(line: str) -> str | None:
    return line.split(":", 1)[0] if ":" in line and not line.startswith("#") else None


def _hash(password: str) -> str:
    """A bcrypt hash of ``password``, as Radicale's ``htpasswd_encryption = bcrypt`` checks it."""
    if not password:
        raise InvalidName("the password is empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        raise InvalidName("the password may not contain line breaks or other control characters")
    encoded = password.encode("utf-8")
    if len(encoded) > 72:
        raise InvalidName("the password is longer than 72 bytes, the most bcrypt can check")
    return bcrypt.hashpw(encoded, bcrypt.gensalt()).decode("ascii")


class UserFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()         # the cached list of names
        self._change_lock = threading.Lock()  # changes of the file, with the .lock file across processes
        self._stamp: tuple[int, int, int, int] | None = None
        self._users: frozenset[str] = frozenset()
        self._stamps: dict[str, str] = {}

    def _lines(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def users(self) -> frozenset[str]:
        """All account names; cached until the file changes."""
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                lines = self._lines()
                self._users = frozenset(n for n in map(_name_of, lines) if n)
                self._stamps = {name: hashlib.sha256(line.encode("utf-8")).hexdigest()
                                for line in lines if (name := _name_of(line))}
                self._stamp = stamp
            return self._users

    def password_stamp(self, user: str) -> str | None:
        """A digest of ``user``'s stored password hash (``None``: no such user).  It changes whenever
        the password is set again, so whatever was granted with the old one (a web page's session)
        can be ended."""
        self.users()
        with self._lock:
            return self._stamps.get(user)

    def exists(self, user: str) -> bool:
        return user in self.users()

    def add(self, user: str, password: str) -> None:
        names.user_name(user)
        hashed = _hash(password)
        with self._exclusive():
            if self.exists(user):
                raise Conflict(f"user {user!r} already exists; remove it first or use 'user password'")
            self._rewrite([*self._lines(), f"{user}:{hashed}"])

    def set_password(self, user: str, password: str) -> None:
        hashed = _hash(password)
        with self._exclusive():
            self.require(user)
            self._rewrite([f"{user}:{hashed}" if _name_of(ln) == user else ln for ln in self._lines()])

    def remove(self, user: str) -> None:
        with self._exclusive():
            self.require(user)
            self._rewrite([ln for ln in self._lines() if _name_of(ln) != user])

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialise read-change-write of the file across threads and processes,
        so that two admins' changes at the same moment both survive."""
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        with self._change_lock, open(f"{self.path}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def require(self, user: str) -> None:
        names.user_name(user)
        if not self.exists(user):
            raise NotFound(f"no user named {user!r}")

    def _rewrite(self, lines: list[str]) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".htpasswd-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + ("\n" if lines else ""))
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def admins_from(text: str) -> frozenset[str]:
    """The option ``[auth] admins``: user names separated by commas and/or spaces ("alice, bob").

    Raises :class:`InvalidName` naming the option for a name no account could have."""
    found = set()
    for name in re.split(r"[\s,]+", text.strip()):
        if name:
            try:
                found.add(names.user_name(name))
            except InvalidName as e:
                raise InvalidName(f"[auth] admins = {text.strip()!r}: {e}") from None
    return frozenset(found)


class Accounts:
    """The admin's operations on accounts, each checking who acts first.

    ``actor`` is None for the admin at the command line (who can read the config and the
    database anyway), else the logged-in user, who must be named in ``[auth] admins``.
    ``remove`` takes an account away with everything the database keeps for it
    (:meth:`radicale_ext.site.Site.remove_user`); ``circles`` lists every circle.
    """

    def __init__(self, users: UserFile | None, admins: frozenset[str], *,
                 remove: Callable[[str], frozenset[str]], circles: Callable[[], list[Circle]]) -> None:
        self._users = users
        self.admins = admins
        self._remove = remove
        self._circles = circles

    def is_admin(self, actor: str | None) -> bool:
        """Whether ``actor`` may manage accounts: the admin (None), or a user of ``[auth] admins``
        who still has an account."""
        if actor is None:
            return True
        return actor in self.admins and (self._users is None or self._users.exists(actor))

    def require_admin(self, actor: str | None) -> None:
        if not self.is_admin(actor):
            raise Forbidden(f"only an admin may manage accounts, and {actor!r} is not one "
                            "(admins are named in the option [auth] admins)")

    def _file(self, actor: str | None) -> UserFile:
        self.require_admin(actor)
        if self._users is None:
            raise ExtError("[auth] htpasswd_filename is not set in the config; users are managed elsewhere")
        return self._users

    def users(self, *, actor: str | None) -> list[str]:
        """Every account, by name."""
        return sorted(self._file(actor).users())

    def circles(self, *, actor: str | None) -> list[Circle]:
        """Every circle, from the groups file and the database, by name."""
        self.require_admin(actor)
        return self._circles()

    def add(self, user: str, password: str, *, actor: str | None) -> None:
        """A new account; :class:`Conflict` when the name is taken (nothing changes)."""
        self._file(actor).add(user, password)

    def set_password(self, user: str, password: str, *, actor: str | None) -> None:
        """A new password for ``user``: the old one stops working at once (DAV and the page's sessions)."""
        self._file(actor).set_password(user, password)

    def remove(self, user: str, *, actor: str | None) -> frozenset[str]:
        """Remove an account, the shares made to it and its circle places (its collections stay on disk).
        Returns the groups-file circles that still list it.  An admin on the page may not remove
        their own account (:class:`Conflict`): another admin, or the command line, can."""
        users = self._file(actor)
        users.require(user)
        if actor is not None and actor == user:
            raise Conflict(f"{user!r} may not remove their own account here; another admin or the command "
                           "line can ('radicale-ext user remove')")
        return self._remove(user)
