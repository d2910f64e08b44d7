"""Auth plugin: Radicale's htpasswd (bcrypt), plus the user's circles.

Two things Radicale's own htpasswd type cannot do for us:

- Radicale's login cache (``cache_logins``) keeps a removed user or an old
  password working until the entry expires.  Ours remembers a good login
  only while the users file is unchanged, so ``radicale-ext user remove``
  and ``user password`` take effect on the next request.  (A custom auth
  type turns Radicale's own cache off; the start-up log says which cache
  is at work instead of Radicale's ``auth.cache_logins: False``.)
- Radicale 3.9 asks its ``[group]`` plugin for a user's groups only when the
  group type is literally ``htgroup``, but it always keeps the groups an
  auth plugin returns with the login.  We return the user's circles (the
  groups file and the database) here, so the rights file's ``groups:`` rules
  see them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Iterator

from radicale import config
from radicale.auth import AuthContext, htpasswd
from radicale.log import logger

from ._site import circles_now, site_for


def _stamp(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns


@contextlib.contextmanager
def _without_radicales_cache_line() -> Iterator[None]:
    """Radicale logs ``auth.cache_logins: False`` for any auth type of its own choosing; ours caches."""
    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("auth.cache_logins:")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


class Auth(htpasswd.Auth):
    def __init__(self, configuration: config.Configuration) -> None:
        with _without_radicales_cache_line():
            super().__init__(configuration)
        self._site = site_for(configuration)
        self._expiry = max(configuration.get("auth", "cache_successful_logins_expiry"), 0)
        logger.info("auth.cache_logins: replaced by radicale-ext's: a good login is remembered for %d s "
                    "while the users file is unchanged ([auth] cache_successful_logins_expiry)", self._expiry)
        self._salt = os.urandom(16)
        self._remembered: dict[str, tuple[bytes, tuple[int, ...] | None, float]] = {}
        self._remember_lock = threading.Lock()

    def _login_ext_with_groups(self, login: str, password: str, context: AuthContext) -> tuple[str, set]:
        user = self._checked(login, password)
        return user, set(circles_now(self._site, user)) if user else set()

    def _checked(self, login: str, password: str) -> str:
        key = hmac.new(self._salt, password.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        stamp = _stamp(self._filename)
        now = time.monotonic()
        with self._remember_lock:
            seen = self._remembered.get(login)
        if seen and hmac.compare_digest(seen[0], key) and seen[1] == stamp and now - seen[2] < self._expiry:
            return login
        user = self._login(login, password)
        with self._remember_lock:
            if user:
                self._remembered[login] = (key, stamp, now)
            else:
                self._remembered.pop(login, None)
        return user
