"""Answering a request for a link's address: parse, check, read, render.

The web layer hands :meth:`LinkReader.read` the request's path, the client's
address and its conditional headers, plus a :class:`ContentSource` that
reads the owner's collection under the storage's read lock; it gets back a
:class:`Reply` (status, headers, body).

Revalidation is cheap: the ETag of a link's last answer is remembered with
a *stamp* of the files it came from (the collection folder and its
properties file, or the one item file).  Radicale writes every change by
creating a file in the collection folder and renaming it into place, so the
folder's modification time changes with every write.  While the stamp is
unchanged, a conditional request is answered 304 without reading an item.
A stamp younger than :data:`RACY_SECONDS` is not trusted (two writes within
one tick of the file system's clock would leave it unchanged), as git does
with its index.  Full answers are not cached: the body is built each time
from per-item parts (see :mod:`.feeds`), so memory stays bounded.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from ..base.collection_store import CollectionStore
from ..base.content_lines import first_text
from ..base.errors import ExtError, Forbidden, NotFound
from . import qr
from .feeds import FeedMaker, StoredItem
from .share_links import Link, LinkBook, LinkKind, LinkState, LinkView
from .throttle import BadTokenThrottle
from .tokens import token_in_path, webcal

RACY_SECONDS = 2.0
NOT_FOUND_TEXT = "This link does not exist, has expired, or was revoked by its owner."
CONTENT_TYPES = {".ics": "text/calendar; charset=utf-8", ".vcf": "text/vcard; charset=utf-8"}
_COMMON_HEADERS = {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff",
                   "X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer"}


class TooManyMisses(ExtError):
    status = 429

    def __init__(self, wait: float) -> None:
        self.retry_after = max(1, int(wait + 0.999))
        super().__init__(f"Too many link addresses from your network address did not exist; "
                         f"try again in {self.retry_after} seconds.")


@dataclass(frozen=True)
class StoredCollection:
    tag: str                       # "VCALENDAR" or "VADDRESSBOOK"
    display_name: str | None
    description: str | None
    items: Sequence[StoredItem]
    last_modified: str             # an HTTP date


class MeCards(Protocol):
    """What a link may show of a me card, handed in by the edge (links do not import the cards feature)."""

    def holds_me_card(self, collection: str) -> bool:
        """Whether a me card is kept in ``collection`` (what a link shows then depends on its policy)."""

    def shown(self, owner: str, collection: str, audience: str | None,
              items: Sequence[StoredItem]) -> list[StoredItem]:
        """The items a link with ``audience`` may show: with an audience, the card as that audience of
        ``owner``'s me card sees it; without, everything but the me card."""


class ContentSource(Protocol):
    """The owner's data, as the storage has it."""

    def reading(self) -> AbstractContextManager[None]:
        """Hold the storage's read lock (no write happens meanwhile)."""

    def collection(self, path: str) -> StoredCollection | None: ...

    def item(self, collection: str, href: str) -> tuple[StoredItem, str] | None:
        """The item and its Last-Modified HTTP date."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class _Validator:
    stamp: tuple
    etag: str
    last_modified: str


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 section 13.1.2: weak comparison; ``*`` matches any current representation."""
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in re.findall(r'(?:W/)?"[^"]*"', if_none_match))


def not_modified_since(if_modified_since: str, last_modified: str) -> bool:
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
        modified = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False
    return modified <= since


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def _filename(name: str, extension: str) -> str:
    cleaned = "".join(ch for ch in name if ch.isprintable() and ch not in '/\\"*:<>?|;').strip(" .")[:100]
    return (cleaned or "shared") + extension


def content_disposition(filename: str) -> str:
    """RFC 6266, with an ASCII fallback and the UTF-8 name (RFC 8187)."""
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"


class LinkReader:
    def __init__(self, links: LinkBook, *, collections: CollectionStore, owner_exists: Callable[[str], bool],
                 throttle: BadTokenThrottle | None = None, feeds: FeedMaker | None = None,
                 wall_clock: Callable[[], float] = time.time, max_validators: int = 4096,
                 me_cards: MeCards | None = None) -> None:
        self._links = links
        self._collections = collections
        self._owner_exists = owner_exists
        self.throttle = throttle or BadTokenThrottle()
        self._feeds = feeds or FeedMaker()
        self._me_cards = me_cards
        self._wall_clock = wall_clock
        self._validators: OrderedDict[str, _Validator] = OrderedDict()
        self._max_validators = max_validators
        self._lock = threading.Lock()

    # -- the anonymous reader ---------------------------------------------------

    def read(self, path: str, *, address: str, source: ContentSource, if_none_match: str = "",
             if_modified_since: str = "") -> Reply:
        """Answer GET/HEAD of a link address; never raises :class:`ExtError`."""
        try:
            link = self._open(path, address)
            with source.reading():
                reply = self._answer(link, source, if_none_match, if_modified_since)
            self._links.record_use(link)
            return reply
        except ExtError as e:
            return error_reply(e)

    def _open(self, path: str, address: str) -> Link:
        wait = self.throttle.pause_left(address)
        if wait > 0:
            raise TooManyMisses(wait)
        token = token_in_path(path)
        link = self._links.find(token.link_id, token.secret) if token else None
        if token is None or link is None:
            self.throttle.miss(address)
            raise NotFound(NOT_FOUND_TEXT)
        if (link.state(self._links.clock()) is not LinkState.ACTIVE
                or token.extension != link.target.kind.extension
                or not self._owner_exists(link.target.owner)):
            raise NotFound(NOT_FOUND_TEXT)
        return link

    def _answer(self, link: Link, source: ContentSource, if_none_match: str, if_modified_since: str) -> Reply:
        # a me card's projection also depends on the owner's policy, not only on the files
        stamp = None if link.audience or self._holds_me_card(link) else self._stamp(link)
        with self._lock:
            known = self._validators.get(link.id)
        if known is not None and stamp is not None and known.stamp == stamp:
            if self._unchanged_for(known.etag, known.last_modified, if_none_match, if_modified_since):
                return self._not_modified(known)
        started = self._wall_clock()
        text, name, last_modified = self._content(link, source)
        body = text.encode("utf-8")
        validator = _Validator(stamp or (), f'"{hashlib.sha256(body).hexdigest()}"', last_modified)
        if stamp is not None and self._settled(stamp, started):
            with self._lock:
                self._validators[link.id] = validator
                self._validators.move_to_end(link.id)
                while len(self._validators) > self._max_validators:
                    self._validators.popitem(last=False)
        if self._unchanged_for(validator.etag, last_modified, if_none_match, if_modified_since):
            return self._not_modified(validator)
        extension = link.target.kind.extension
        headers = {"Content-Type": CONTENT_TYPES[extension], "ETag": validator.etag,
                   "Last-Modified": last_modified,
                   "Content-Disposition": content_disposition(_filename(name, extension)), **_COMMON_HEADERS}
        return Reply(200, headers, body)

    def _unchanged_for(self, etag: str, last_modified: str, if_none_match: str, if_modified_since: str) -> bool:
        """RFC 9110 section 13.2.2: If-None-Match first; If-Modified-Since only without it, and only
        for a Last-Modified older than :data:`RACY_SECONDS` (a date has whole seconds: a change in
        the same second as the client's copy would not show in it)."""
        if if_none_match:
            return etag_matches(if_none_match, etag)
        return (bool(if_modified_since) and not_modified_since(if_modified_since, last_modified)
                and not_modified_since(_http_date(self._wall_clock() - RACY_SECONDS), last_modified))

    @staticmethod
    def _not_modified(validator: _Validator) -> Reply:
        return Reply(304, {"ETag": validator.etag, "Last-Modified": validator.last_modified, **_COMMON_HEADERS})

    def _stamp(self, link: Link) -> tuple | None:
        return self._collections.stamp(link.target.collection, link.target.item)

    @staticmethod
    def _settled(stamp: tuple, started: float) -> bool:
        newest = max((s[2] for s in stamp if s is not None), default=0)
        return newest / 1e9 < started - RACY_SECONDS

    def _content(self, link: Link, source: ContentSource) -> tuple[str, str, str]:
        """(text, a name for the file, Last-Modified)."""
        target = link.target
        if target.item is not None:
            found = source.item(target.collection, target.item)
            if found is None:
                raise NotFound(NOT_FOUND_TEXT)
            item, last_modified = found
            if target.kind is LinkKind.EVENT:
                return self._feeds.event(item), first_text(item.text, "SUMMARY") or "event", last_modified
            shown = self._shown(link, [item])
            if not shown:
                raise NotFound(NOT_FOUND_TEXT)
            text = self._feeds.card(shown[0])
            return text, first_text(text, "FN") or "contact", last_modified
        collection = source.collection(target.collection)
        expected = "VCALENDAR" if target.kind is LinkKind.CALENDAR else "VADDRESSBOOK"
        if collection is None or collection.tag != expected:
            raise NotFound(NOT_FOUND_TEXT)
        name = collection.display_name or target.collection.strip("/").split("/")[-1]
        if target.kind is LinkKind.ADDRESS_BOOK:
            return self._feeds.cards(self._shown(link, collection.items)), name, collection.last_modified
        free_busy = link.view is LinkView.FREE_BUSY
        text = self._feeds.calendar(collection.items, name=name, description=collection.description,
                                    free_busy=free_busy, salt=link.id)
        return text, f"{name} (free-busy)" if free_busy else name, collection.last_modified

    def _holds_me_card(self, link: Link) -> bool:
        return (self._me_cards is not None and link.target.kind in (LinkKind.CARD, LinkKind.ADDRESS_BOOK)
                and self._me_cards.holds_me_card(link.target.collection))

    def _shown(self, link: Link, items: Sequence[StoredItem]) -> Sequence[StoredItem]:
        """What the link may show of these cards; without the cards feature, a link with an audience nothing."""
        if self._me_cards is None:
            return [] if link.audience else items
        return self._me_cards.shown(link.target.owner, link.target.collection, link.audience, items)

    # -- the owner's QR code ----------------------------------------------------

    def qr_code(self, path: str, *, actor: str, address: str, base_url: str, kind: qr.ImageKind,
                scale: int = qr.DEFAULT_SCALE, as_webcal: bool = False) -> Reply:
        """The QR code of a link's address, for whoever may manage the link."""
        try:
            link = self._open(path, address)
            if not self._links.may_manage(link, actor):
                raise Forbidden(f"only {link.target.owner!r} (the owner) or the link's maker may see its QR code")
            url = base_url.rstrip("/") + path
            if as_webcal and link.target.kind is LinkKind.CALENDAR:
                url = webcal(url)
            body = qr.image(url, kind, scale=scale)
            return Reply(200, {"Content-Type": kind.media_type, "Cache-Control": "private, no-store",
                               "X-Content-Type-Options": "nosniff"}, body)
        except ExtError as e:
            return error_reply(e)


def error_reply(error: ExtError) -> Reply:
    headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    if isinstance(error, TooManyMisses):
        headers["Retry-After"] = str(error.retry_after)
    return Reply(error.status, headers, (str(error) + "\n").encode("utf-8"))
