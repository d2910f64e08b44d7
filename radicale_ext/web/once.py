"""A new share link's address, held in memory from the form that made it to the page that shows it.

The server keeps only a hash of a link's secret (:mod:`radicale_ext.links.tokens`), so the address
can be shown once.  After the form's POST the browser is sent on (303) to the page that shows it
(docs/web.md, "Links"); in between, the address waits here: in this process's memory only (never on
disk), for the session that made the link only, taken by the first page that shows it, and dropped
after :attr:`ShownOnce.keep_for` seconds when no page asks for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ShownOnce:
    def __init__(self, keep_for: float = 600, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep_for = keep_for
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str], tuple[str, float]] = {}

    def keep(self, session_key: str, link_id: str, token: str) -> None:
        """Hold ``token`` for the next page of the session ``session_key`` that asks for ``link_id``."""
        now = self._clock()
        with self._lock:
            for key in [k for k, (_token, kept_at) in self._waiting.items() if now - kept_at > self.keep_for]:
                del self._waiting[key]
            self._waiting[(session_key, link_id)] = (token, now)

    def take(self, session_key: str, link_id: str) -> str | None:
        """The token, once; ``None`` when it was taken already, is too old, or another session asks."""
        with self._lock:
            found = self._waiting.pop((session_key, link_id), None)
        if found is None or self._clock() - found[1] > self.keep_for:
            return None
        return found[0]
