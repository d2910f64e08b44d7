"""What the storage plugin knows of the request in progress, for the hook.

Radicale calls the storage and the hook from the request's thread; the
storage plugin notes here which outbox record each write made, and the hook
adds what it is told about the same write.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class RequestContext:
    actor: str = ""
    creating_collection: bool = False
    # collection path ("/alice/family/") -> outbox record ids of item writes, in order
    item_records: dict[str, list[int]] = field(default_factory=dict)


_local = threading.local()


def current() -> RequestContext:
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = RequestContext()
        _local.ctx = ctx
    return ctx


def start(actor: str) -> RequestContext:
    _local.ctx = RequestContext(actor=actor)
    return _local.ctx


def begin_request() -> None:
    """Called by the application at the start of every HTTP request."""
    _local.serial = getattr(_local, "serial", 0) + 1


def serial() -> int:
    """This thread's request number; 0 outside a request (then nothing may be cached)."""
    return getattr(_local, "serial", 0)


def note_login(failed: bool) -> None:
    """Called by the application after the auth plugin answered this request's login."""
    _local.failed_login = serial() if failed else 0


def login_failed() -> bool:
    """Did this thread's current request carry credentials that were refused?"""
    return serial() != 0 and getattr(_local, "failed_login", 0) == serial()
