"""Share links: read access to a calendar, an event, an address book or a
card for whoever holds the link's address, with no account.

A link's address carries a token (see :mod:`.tokens`); the database
keeps the link's id and the hash of its secret, never the secret itself, so
a copy of the database opens no link.  Rows are never deleted (a revoked
link stays revoked), so no later link reuses an id.

Links only ever read: nothing here writes to a collection, and every view
gives whoever holds the address a subscriber's role (:attr:`LinkView.role`,
what the page's writable-link warning asks).  Who may create and revoke them:
the owner, the admin (the CLI without ``--as``), and the collection's
collaborators when the owner allows it (:meth:`LinkBook.allow_collaborators`).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..base import names
from ..base.collection_store import CollectionStore
from ..base.content_lines import unescape_text
from ..base.database import Database
from ..base.errors import Conflict, ExtError, Forbidden, InvalidName, NotFound
from ..base.layout import check_item_name
from ..base.model import Grant, Role
from ..base.summary import summarize
from ..sharing.shares import ShareBook
from .tokens import PATH_PREFIX, new_id, new_secret, secret_hash, secret_matches, webcal

SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    id            TEXT PRIMARY KEY,
    secret_hash   BLOB NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('calendar', 'event', 'address-book', 'card')),
    owner         TEXT NOT NULL,
    collection    TEXT NOT NULL,
    item          TEXT,
    view          TEXT NOT NULL CHECK (view IN ('full', 'free-busy')),
    audience      TEXT,
    label         TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    created_at    REAL NOT NULL,
    expires_at    REAL,
    revoked_at    REAL,
    last_used_at  REAL,
    use_count     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS links_by_collection ON links(collection);
CREATE INDEX IF NOT EXISTS links_by_owner ON links(owner);
CREATE TABLE IF NOT EXISTS link_settings (
    collection             TEXT PRIMARY KEY,
    collaborators_may_link INTEGER NOT NULL DEFAULT 0
);
"""

MAX_LABEL_LENGTH = 200
ADMIN = "(admin)"                      # created_by of links made at the CLI without --as

Clock = Callable[[], float]


class LinkKind(enum.Enum):
    CALENDAR = "calendar"          # the whole calendar, an iCalendar feed (also as webcal://)
    EVENT = "event"                # one event (a calendar object resource: master and overrides)
    ADDRESS_BOOK = "address-book"  # every card of an address book
    CARD = "card"                  # one contact card

    @property
    def extension(self) -> str:
        return ".ics" if self in (LinkKind.CALENDAR, LinkKind.EVENT) else ".vcf"


class LinkView(enum.Enum):
    FULL = "full"
    FREE_BUSY = "free-busy"        # calendars only: when, never what, where or with whom

    @property
    def role(self) -> Role:
        """What whoever holds a link of this view may do, in sharing's words: read (a subscriber)
        or also write (a collaborator).  Every view reads only today; the reader refuses writes."""
        return VIEW_ROLES[self]


# the role each view gives the holder of the address; a view that wrote would be Role.COLLABORATOR,
# and the page warns about every such link (docs/web.md, "Links")
VIEW_ROLES: dict[LinkView, Role] = {LinkView.FULL: Role.SUBSCRIBER, LinkView.FREE_BUSY: Role.SUBSCRIBER}


class LinkState(enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class LinkTarget:
    kind: LinkKind
    owner: str
    collection: str                # "/alice/family/"
    item: str | None = None        # "dinner.ics" for an event or card link

    @property
    def path(self) -> str:
        return self.collection + (self.item or "")

    def __str__(self) -> str:
        return self.path.strip("/")


@dataclass(frozen=True)
class Link:
    id: str
    target: LinkTarget
    view: LinkView
    label: str
    # which projection of a card the link shows (radicale_ext.cards.me_cards): an audience
    # of the owner's me card, "circle:friends" or "dave"; None: the card as stored
    audience: str | None
    created_by: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    use_count: int

    @property
    def role(self) -> Role:
        return self.view.role

    @property
    def writable(self) -> bool:
        """Whoever holds the address may change what it points at."""
        return self.role is Role.COLLABORATOR

    def state(self, now: float) -> LinkState:
        if self.revoked_at is not None:
            return LinkState.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return LinkState.EXPIRED
        return LinkState.ACTIVE


@dataclass(frozen=True)
class NewLink:
    """A link just created: the only time its full address is known."""

    link: Link
    token: str

    @property
    def path(self) -> str:
        return f"{PATH_PREFIX}{self.token}{self.link.target.kind.extension}"

    def url(self, base_url: str) -> str:
        return base_url.rstrip("/") + self.path

    def webcal_url(self, base_url: str) -> str | None:
        """The ``webcal://`` form calendar apps subscribe to (calendar links only)."""
        if self.link.target.kind is not LinkKind.CALENDAR:
            return None
        return webcal(self.url(base_url))


@dataclass(frozen=True)
class LinkableItem:
    """An event or card a link may point at, named as people read it."""

    href: str                      # its file name in the collection, "dinner.ics"
    name: str                      # its SUMMARY or FN ("" when it has none)
    starts: str = ""               # an event's DTSTART as stored ("20260105T180000"), else ""

    @property
    def day(self) -> str:
        """The day an event starts, ``2026-01-05`` (``""`` for cards or an unreadable start)."""
        digits = self.starts[:8]
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}" if len(digits) == 8 and digits.isdigit() else ""


_COLUMNS = ("id, kind, owner, collection, item, view, audience, label, created_by, created_at, expires_at, "
            "revoked_at, last_used_at, use_count")


def _link(row: tuple) -> Link:
    return Link(id=row[0], target=LinkTarget(LinkKind(row[1]), row[2], row[3], row[4]), view=LinkView(row[5]),
                audience=row[6], label=row[7], created_by=row[8], created_at=row[9], expires_at=row[10],
                revoked_at=row[11], last_used_at=row[12], use_count=row[13])


class LinkBook:
    """The links of every collection, kept in the sharing database."""

    def __init__(self, db: Database, *, shares: ShareBook, circles_of: Callable[[str], frozenset[str]],
                 collections: CollectionStore, clock: Clock = time.time) -> None:
        self._db = db
        self._shares = shares
        self._circles_of = circles_of
        self._collections = collections
        self.clock = clock

    # -- targets --------------------------------------------------------------

    def target(self, collection: str, *, event: str | None = None, card: str | None = None,
               item: str | None = None) -> LinkTarget:
        """What ``OWNER/COLLECTION`` (and ``event`` or ``card``, a file name or UID) names; ``item``
        is an event of a calendar or a card of an address book, whichever the collection holds.

        Raises :class:`NotFound` when it does not exist, :class:`InvalidName`
        when the event is looked for in an address book or the card in a calendar.
        """
        owner, path = names.collection_path(collection)
        tag = self._collections.tag(path)
        if tag is None:
            raise NotFound(f"no calendar or address book at {path}")
        if item is not None and event is None and card is None:
            event, card = (item, None) if tag == "VCALENDAR" else (None, item)
        if tag == "VCALENDAR":
            if card is not None:
                raise InvalidName(f"{path} is a calendar; link one of its events with --event")
            if event is None:
                return LinkTarget(LinkKind.CALENDAR, owner, path)
            return LinkTarget(LinkKind.EVENT, owner, path, self._collections.find_item(path, event, ".ics"))
        if event is not None:
            raise InvalidName(f"{path} is an address book; link one of its cards with --card")
        if card is None:
            return LinkTarget(LinkKind.ADDRESS_BOOK, owner, path)
        return LinkTarget(LinkKind.CARD, owner, path, self._collections.find_item(path, card, ".vcf"))

    # -- creating, listing, revoking ------------------------------------------

    def create(self, target: LinkTarget, *, view: LinkView = LinkView.FULL, label: str = "",
               expires_at: float | None = None, actor: str | None = None, audience: str | None = None) -> NewLink:
        """A new link; its token is in the answer and nowhere else.

        ``audience`` (card links: checked by the cards feature, see
        :meth:`radicale_ext.cards.me_cards.CardBook.link_audience`) makes the link show
        the card as that audience sees it.
        """
        self._require_may_create(target, actor)
        if view is LinkView.FREE_BUSY and target.kind is not LinkKind.CALENDAR:
            raise InvalidName("free/busy links are for whole calendars; this link is to "
                              f"{'an' if target.kind is LinkKind.EVENT else 'a'} {target.kind.value}")
        label = _checked_label(label)
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidName("the expiry is in the past; give a later date or a duration such as 30d")
        if target.item is not None:
            check_item_name(target.item)
        secret = new_secret()
        with self._db.write() as w:
            for _attempt in range(20):
                link_id = new_id()
                if w.execute("SELECT 1 FROM links WHERE id = ?", (link_id,)).fetchone() is None:
                    break
            else:  # pragma: no cover - 36^8 ids
                raise Conflict("could not find an unused link id; try again")
            w.execute(
                "INSERT INTO links(id, secret_hash, kind, owner, collection, item, view, label, created_by, "
                "created_at, expires_at, audience) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (link_id, secret_hash(secret), target.kind.value, target.owner, target.collection, target.item,
                 view.value, label, actor or ADMIN, now, expires_at, audience))
        return NewLink(self.get(link_id), link_id + secret)

    def get(self, link_id: str) -> Link:
        row = self._db.read_one(f"SELECT {_COLUMNS} FROM links WHERE id = ?", (link_id,))
        if row is None:
            raise NotFound(f"no link with id {names.shown(link_id)}; 'radicale-ext link list' shows the ids")
        return _link(row)

    def links_of(self, collection: str, *, actor: str | None = None) -> list[Link]:
        """The links of a collection (``OWNER/COLLECTION``), newest first.

        The owner (and the admin) see every link; anyone else sees the links
        they made.
        """
        owner, path = names.collection_path(collection)
        rows = self._db.read(f"SELECT {_COLUMNS} FROM links WHERE collection = ? ORDER BY created_at DESC, id",
                             (path,))
        links = [_link(r) for r in rows]
        if actor is None or actor == owner:
            return links
        mine = [link for link in links if link.created_by == actor]
        if not mine and not self._may_link_as_collaborator(actor, path):
            raise Forbidden(f"only {owner!r} (the owner) may see the links of {path}")
        return mine

    def links_by(self, user: str) -> list[Link]:
        """Links to ``user``'s collections and links ``user`` made, newest first."""
        rows = self._db.read(f"SELECT {_COLUMNS} FROM links WHERE owner = ? OR created_by = ? "
                             "ORDER BY created_at DESC, id", (user, user))
        return [_link(r) for r in rows]

    def every_link(self) -> list[Link]:
        rows = self._db.read(f"SELECT {_COLUMNS} FROM links ORDER BY created_at DESC, id")
        return [_link(r) for r in rows]

    def may_create(self, collection: str, actor: str | None) -> bool:
        """Whether ``actor`` may create links to ``OWNER/COLLECTION`` (whether or not it exists)."""
        owner, path = names.collection_path(collection)
        return actor is None or actor == owner or self._may_link_as_collaborator(actor, path)

    def require_may_create(self, collection: str, actor: str | None) -> None:
        """:class:`Forbidden` unless ``actor`` may create links to ``OWNER/COLLECTION``; asked before
        anything says whether it exists, so an outsider learns nothing of another's collections."""
        owner, path = names.collection_path(collection)
        self._require_may_create(LinkTarget(LinkKind.CALENDAR, owner, path), actor)

    def shared_linkable(self, actor: str) -> list[Grant]:
        """Others' collections ``actor`` may create links to: those they collaborate on whose owner
        allows collaborators' links."""
        grants = self._shares.grants_for(actor, self._circles_of(actor))
        return [g for g in grants if g.role is Role.COLLABORATOR and self.collaborators_may_link(g.collection)]

    def items(self, collection: str, *, actor: str | None) -> list[LinkableItem]:
        """The events or cards of ``OWNER/COLLECTION`` a link may point at, by name, for someone who
        may create links to it (:class:`Forbidden` first, then :class:`NotFound`)."""
        self.require_may_create(collection, actor)
        _owner, path = names.collection_path(collection)
        tag = self._collections.tag(path)
        if tag is None:
            raise NotFound(f"no calendar or address book at {path}")
        found = [item for item in (_read_item(self._collections.item_text(path, name), name, tag)
                                   for name in self._collections.item_names(path)) if item is not None]
        return sorted(found, key=lambda i: (i.starts, (i.name or i.href).casefold(), i.href))

    def item_of(self, target: LinkTarget) -> LinkableItem | None:
        """The event or card a link points at, with its name; ``None`` for a whole collection or an item gone."""
        if target.item is None:
            return None
        tag = "VCALENDAR" if target.kind is LinkKind.EVENT else "VADDRESSBOOK"
        return _read_item(self._collections.item_text(target.collection, target.item), target.item, tag)

    def revoke(self, link_id: str, *, actor: str | None = None) -> Link:
        """Revoke a link for good: from the next request on, its address answers 404."""
        link = self.get(link_id)
        if not self.may_manage(link, actor):
            raise Forbidden(f"only {link.target.owner!r} (the owner) or the link's maker may revoke link {link.id}")
        if link.revoked_at is None:
            with self._db.write() as w:
                w.execute("UPDATE links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                          (self.clock(), link.id))
        return self.get(link.id)

    def revoke_all_of(self, collection: str) -> int:
        """The collection was deleted: its links die with it, so that a new
        collection created later under the same name is never served by them."""
        with self._db.write() as w:
            return w.execute("UPDATE links SET revoked_at = ? WHERE collection = ? AND revoked_at IS NULL",
                             (self.clock(), collection)).rowcount

    def may_manage(self, link: Link, actor: str | None) -> bool:
        """The admin, the owner, or the person who made the link."""
        return actor is None or actor in (link.target.owner, link.created_by)

    # -- the owner's setting --------------------------------------------------

    def collaborators_may_link(self, collection_path: str) -> bool:
        row = self._db.read_one("SELECT collaborators_may_link FROM link_settings WHERE collection = ?",
                                (collection_path,))
        return bool(row and row[0])

    def allow_collaborators(self, collection: str, allowed: bool, *, actor: str | None = None) -> None:
        owner, path = names.collection_path(collection)
        if actor is not None and actor != owner:
            raise Forbidden(f"only {owner!r} (the owner) may decide whether collaborators create links")
        if self._collections.tag(path) is None:
            raise NotFound(f"no calendar or address book at {path}")
        with self._db.write() as w:
            w.execute("INSERT INTO link_settings(collection, collaborators_may_link) VALUES (?, ?) "
                      "ON CONFLICT(collection) DO UPDATE SET collaborators_may_link = excluded.collaborators_may_link",
                      (path, int(allowed)))

    # -- the request path -----------------------------------------------------

    def find(self, link_id: str, secret: str) -> Link | None:
        """The link this token opens, in whatever state; ``None`` when the id
        is unknown or the secret is wrong.  The secret's hash is compared in
        constant time, and an unknown id costs the same comparison."""
        row = self._db.read_one(f"SELECT secret_hash, {_COLUMNS} FROM links WHERE id = ?", (link_id,))
        if not secret_matches(secret, bytes(row[0]) if row else None):
            return None
        assert row is not None
        return _link(row[1:])

    def record_use(self, link: Link) -> None:
        with self._db.write() as w:
            w.execute("UPDATE links SET use_count = use_count + 1, last_used_at = ? WHERE id = ?",
                      (self.clock(), link.id))

    # -- helpers --------------------------------------------------------------

    def _may_link_as_collaborator(self, actor: str, collection_path: str) -> bool:
        grant = self._shares.grant_on(actor, self._circles_of(actor), collection_path)
        return grant is not None and grant.role is Role.COLLABORATOR and self.collaborators_may_link(collection_path)

    def _require_may_create(self, target: LinkTarget, actor: str | None) -> None:
        if actor is None or actor == target.owner:
            return
        if self._may_link_as_collaborator(actor, target.collection):
            return
        grant = self._shares.grant_on(actor, self._circles_of(actor), target.collection)
        if grant is None or grant.role is not Role.COLLABORATOR:
            raise Forbidden(f"only {target.owner!r} (the owner) or a collaborator they allow may create links to "
                            f"{target.collection}; {actor!r} is not a collaborator of it")
        raise Forbidden(f"{target.owner!r} (the owner) does not let collaborators create links to "
                        f"{target.collection}; they can allow it with "
                        f"'radicale-ext link allow-collaborators {target.owner}/{target.collection.split('/')[2]} on'")


def _read_item(text: str | None, href: str, tag: str) -> LinkableItem | None:
    """An event's SUMMARY and start, or a card's FN, read with the cheap line scan of :mod:`..base.summary`."""
    if text is None:
        return None
    fields = summarize(text)
    if tag == "VCALENDAR":
        return LinkableItem(href, unescape_text(fields.get("SUMMARY", "")), fields.get("DTSTART", ""))
    return LinkableItem(href, unescape_text(fields.get("FN", "")))


def _checked_label(label: str) -> str:
    label = label.strip()
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidName(f"the label is longer than {MAX_LABEL_LENGTH} characters")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in label):
        raise InvalidName("the label contains control characters")
    return label


# -- expiry as people type it ------------------------------------------------

_DURATION = re.compile(r"(?P<n>\d{1,6})\s*(?P<unit>m|min|h|d|w)")
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_expiry(text: str, now: float, zone: dt.tzinfo | None = None) -> float:
    """When a link given ``--expires TEXT`` stops working, as a Unix time.

    ``30d``, ``12h``, ``2w``, ``90m``: that long from now.  ``2026-12-31``:
    at the end of that day, in ``zone`` (default: server time).
    ``2026-12-31T18:00`` (in ``zone``) or with an offset (``...+01:00``,
    ``...Z``): at that moment.
    """
    text = text.strip()
    duration = _DURATION.fullmatch(text.lower())
    if duration:
        return now + int(duration["n"]) * _UNIT_SECONDS[duration["unit"]]
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
            return (end.replace(tzinfo=zone) if zone else end.astimezone()).timestamp()
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ExtError(f"cannot read the expiry {names.shown(text)}: use a duration such as 30d, 12h or 2w, "
                       "a date such as 2026-12-31, or a date and time such as 2026-12-31T18:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone) if zone else moment.astimezone()
    return moment.timestamp()
