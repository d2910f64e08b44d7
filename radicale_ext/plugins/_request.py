"""What the storage plugin knows of the request in progress, for the hook.

Radicale calls the storage and the hook from the request's thread; the
storage plugin notes here which outbox record each write made, and the hook
adds what it is told about the same write.  It also notes who the request
reads as (:func:`reader`): Radicale hands the storage the owner's name for a
read through a share, but a me card in that collection must be shown as the
person asking may see it (:mod:`radicale_ext.plugins.me_card_views`), and an event of a
shared calendar with their own alarms (:mod:`radicale_ext.plugins.personal_views`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from radicale_ext.notices.outbox import Finished

T = TypeVar("T")


@dataclass
class RequestContext:
    actor: str = ""
    writing: bool = False      # inside the storage's write lock (reads then see what is stored)
    creating_collection: bool = False
    personal_only: bool = False  # the writer may change only their own alarms (plugins/personal_writes.py)
    # collection path ("/alice/family/") -> outbox record ids of item writes, in order
    item_records: dict[str, list[int]] = field(default_factory=dict)
    # outbox record id -> what it gets when the write lock is let go (notices.outbox.Outbox.finish)
    finished: dict[int, Finished] = field(default_factory=dict)


_local = threading.local()


def current() -> RequestContext:
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = RequestContext()
        _local.ctx = ctx
    return ctx


def start(actor: str) -> RequestContext:
    _local.ctx = RequestContext(actor=actor, writing=True)
    return _local.ctx


def begin_request() -> None:
    """Called by the application at the start of every HTTP request."""
    _local.serial = getattr(_local, "serial", 0) + 1


def serial() -> int:
    """This thread's request number; 0 outside a request (then nothing may be cached)."""
    return getattr(_local, "serial", 0)


def once_per_request(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``'s answer for ``key``, asked once in this request (Radicale asks a person's circles in its
    login, its sharing lookups and its rights, each a query when the database is PostgreSQL); outside a
    request, asked every time."""
    number = serial()
    if number == 0:
        return compute()
    memo = getattr(_local, "memo", None)
    if memo is None or memo[0] != number:
        memo = _local.memo = (number, {})
    if key not in memo[1]:
        memo[1][key] = compute()
    return memo[1][key]


def principal_check_next() -> None:
    """Radicale's ``_handle_request`` is about to begin: its first read lock, if it takes one before the
    method's handler, is its check that the user's principal collection exists (:func:`principal_check_now`)."""
    _local.principal_check = serial()


def principal_check_now() -> bool:
    """Is this read lock Radicale's check that the user's principal collection exists?  True once per
    request, and only before the method's handler (:func:`no_principal_check`)."""
    if getattr(_local, "principal_check", None) == serial() != 0:
        _local.principal_check = None
        return True
    return False


def no_principal_check() -> None:
    """The method's handler begins: a read lock from now on is its own (a request without a login has no
    principal to check)."""
    _local.principal_check = None


def set_reader(user: str) -> None:
    """Who the request in progress reads as: its logged-in user (a me card shows them what they may see)."""
    _local.reader = (serial(), user)


def reader() -> str:
    """The request's reader; "" outside a request and for reads as nobody in particular (a link)."""
    found = getattr(_local, "reader", None)
    return found[1] if found is not None and found[0] == serial() != 0 else ""


@contextlib.contextmanager
def reading_as(user: str) -> Iterator[None]:
    """Read as ``user`` (a link: "", what is stored) for a while, then as before."""
    before = getattr(_local, "reader", None)
    _local.reader = (serial(), user)
    try:
        yield
    finally:
        _local.reader = before


@contextlib.contextmanager
def listing_members(answer: T) -> Iterator[T]:
    """Within: the members of a REPORT are written by the handler that asked
    (:mod:`radicale_ext.plugins.handlers.report_members`), not by Radicale: the storage puts what it would
    have reported into ``answer`` (a sync-collection's ``sync``: every changed member; a query's
    ``get_filtered``: the members the index decided match) and reports those to Radicale no more."""
    _local.listed_members = (serial(), answer)
    try:
        yield answer
    finally:
        _local.listed_members = None


def listed_members() -> Any:
    """What :func:`listing_members` was handed in this request, or None."""
    found = getattr(_local, "listed_members", None)
    return found[1] if found is not None and found[0] == serial() != 0 else None


def note_push_dont_notify(registrations: tuple[str, ...]) -> None:
    """The request's ``Push-Dont-Notify`` (WebDAV-Push): the ids of the user's push registrations not to push
    about what it changes, or ``("*",)``; the storage plugin puts them in each outbox record it writes."""
    _local.push_dont_notify = (serial(), registrations)


def push_dont_notify() -> tuple[str, ...]:
    found = getattr(_local, "push_dont_notify", None)
    return found[1] if found is not None and found[0] == serial() != 0 else ()


def note_login(failed: bool) -> None:
    """Called by the application after the auth plugin answered this request's login."""
    _local.failed_login = serial() if failed else 0


def login_failed() -> bool:
    """Did this thread's current request carry credentials that were refused?"""
    return serial() != 0 and getattr(_local, "failed_login", 0) == serial()
