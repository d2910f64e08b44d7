"""Slowing down whoever guesses link addresses.

Each network address may try a few link addresses that do not exist; after
that it must pause before the next try, twice as long after each further
miss, up to a limit.  While an address must pause, every link request from
it is answered 429 with ``Retry-After`` without looking at the token, so a
pause cannot be used to test guesses either.  A good link does not clear an
address's misses (else one known link would let it guess on), but misses are
forgotten after a quiet while.

Nothing sleeps: the answer is immediate, so no thread or lock is held.  The
state is in memory, per server process, and bounded.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Misses:
    count: int = 0
    last: float = 0.0
    paused_until: float = 0.0


class BadTokenThrottle:
    def __init__(self, *, free_misses: int = 5, first_pause: float = 1.0, longest_pause: float = 300.0,
                 forget_after: float = 600.0, max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_misses = free_misses
        self.first_pause = first_pause
        self.longest_pause = longest_pause
        self.forget_after = forget_after
        self._max_addresses = max_addresses
        self._clock = clock
        self._by_address: OrderedDict[str, _Misses] = OrderedDict()
        self._lock = threading.Lock()

    def pause_left(self, address: str) -> float:
        """Seconds ``address`` must still wait before its next link request (0: none)."""
        now = self._clock()
        with self._lock:
            misses = self._by_address.get(address)
            return max(0.0, misses.paused_until - now) if misses else 0.0

    def miss(self, address: str) -> None:
        """``address`` asked for a link that does not exist."""
        now = self._clock()
        with self._lock:
            misses = self._by_address.pop(address, None) or _Misses()
            if now - misses.last > self.forget_after:
                misses = _Misses()
            misses.count += 1
            misses.last = now
            beyond = misses.count - self.free_misses
            if beyond >= 0:
                pause = min(self.first_pause * 2 ** min(beyond, 30), self.longest_pause)
                misses.paused_until = now + pause
            self._by_address[address] = misses
            while len(self._by_address) > self._max_addresses:
                self._by_address.popitem(last=False)
