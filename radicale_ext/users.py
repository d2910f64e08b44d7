"""Accounts in an htpasswd file with bcrypt hashes (what Radicale's
``[auth] type = htpasswd`` reads).  Every change rewrites the file atomically.
"""

from __future__ import annotations

import os
import tempfile
import threading

import bcrypt

from . import names
from .errors import Conflict, InvalidName, NotFound


class UserFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._users: frozenset[str] = frozenset()

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
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._users = frozenset(
                    line.split(":", 1)[0] for line in self._lines() if ":" in line and not line.startswith("#"))
                self._stamp = stamp
            return self._users

    def exists(self, user: str) -> bool:
        return user in self.users()

    def add(self, user: str, password: str) -> None:
        names.user_name(user)
        if not password:
            raise InvalidName("the password is empty")
        if "\n" in password or "\r" in password:
            raise InvalidName("the password may not contain line breaks")
        if self.exists(user):
            raise Conflict(f"user {user!r} already exists; remove it first or use 'user password'")
        hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")
        self._rewrite([*self._lines(), f"{user}:{hashed}"])

    def set_password(self, user: str, password: str) -> None:
        if not self.exists(user):
            raise NotFound(f"no user named {user!r}")
        hashed = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")
        self._rewrite([f"{user}:{hashed}" if ln.split(":", 1)[0] == user else ln for ln in self._lines()])

    def remove(self, user: str) -> None:
        if not self.exists(user):
            raise NotFound(f"no user named {user!r}")
        self._rewrite([ln for ln in self._lines() if ln.split(":", 1)[0] != user])

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
