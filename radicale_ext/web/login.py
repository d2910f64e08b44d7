"""Logging in with a form: the password is checked by the server's own auth plugin (the same
htpasswd/bcrypt check as every DAV request: :class:`radicale_ext.plugins.auth.Auth`), behind two
throttles.

Each network address, and each user name, may fail a few times; after that each further failure
makes it wait before the next try, twice as long each time, up to :attr:`LoginRules.lockout`; while
it must wait, a login from it or for it is refused at once with the time left, without the password
being looked at (so a pause cannot be used to test guesses).  Failures are forgotten after a quiet
while.  A good login does not clear the failures of its address or user (else knowing one password
would let an address guess on).  The throttles are those of share links
(:class:`radicale_ext.links.throttle.BadTokenThrottle`), keyed by address and by user: in memory,
per server process, bounded.  Nothing sleeps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..base.errors import ExtError
from ..links.throttle import BadTokenThrottle

PasswordCheck = Callable[[str, str, str], str]   # (login, password, address) -> user name, "" when refused


@dataclass(frozen=True)
class LoginRules:
    free_failures_per_user: int = 5
    free_failures_per_address: int = 10   # several people behind one address (a home's router)
    first_pause: float = 2.0              # seconds after the first failure beyond the free ones
    lockout: float = 15 * 60              # the longest pause
    forget_after: float = 30 * 60         # failures are forgotten after this quiet while


class TooManyFailures(ExtError):
    """Logins from an address or for a user that failed too often: wait."""

    status = 429

    def __init__(self, seconds: float) -> None:
        self.seconds = max(1, math.ceil(seconds))
        super().__init__(f"too many failed logins; try again in {self.seconds} seconds")


class WrongPassword(ExtError):
    status = 403


class LoginGuard:
    def __init__(self, check: PasswordCheck, rules: LoginRules | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._check = check
        self.rules = rules = rules or LoginRules()
        self._by_address = BadTokenThrottle(free_misses=rules.free_failures_per_address,
                                            first_pause=rules.first_pause, longest_pause=rules.lockout,
                                            forget_after=rules.forget_after, clock=clock)
        self._by_user = BadTokenThrottle(free_misses=rules.free_failures_per_user, first_pause=rules.first_pause,
                                         longest_pause=rules.lockout, forget_after=rules.forget_after, clock=clock)

    def log_in(self, login: str, password: str, address: str) -> str:
        """The user ``login`` names when ``password`` is theirs.

        Raises :class:`TooManyFailures` (nothing checked) or :class:`WrongPassword`.
        """
        login = login.strip()
        wait = max(self._by_address.pause_left(address), self._by_user.pause_left(login.lower()))
        if wait > 0:
            raise TooManyFailures(wait)
        user = self._check(login, password, address) if login and password else ""
        if not user:
            self._by_address.miss(address)
            self._by_user.miss(login.lower())
            raise WrongPassword("the user name or the password is wrong")
        return user
