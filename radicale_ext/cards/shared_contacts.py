"""A person's "Shared contacts": every me card shared with them, projected for them.

The address book is computed on every request, never stored: for each me
card that reaches the person (:meth:`radicale_ext.cards.CardBook.reaching`),
the card as stored now, projected to the union of the fields the person may
see, or, when they asked to be asked first, the version they accepted
(:mod:`radicale_ext.cards.consent`).  Each card is named ``<owner>.vcf``,
has a stable UID per owner and an ETag per projection (a hash of its text).

Sync (RFC 6578) needs to know what changed *for this person*.  Each
listing compares the projections' ETags with the ones it saw last
(``card_views``: one row per card the person ever had, an ETag or none once
it is gone, and the number of the change that last touched it) and counts
a change only where an ETag differs.  The sync token is the person's
*epoch* (random, so a token of a forgotten person is never taken for a new
one's) and the number of their last change.  So a token changes exactly
when the person's projected set does: a field they cannot see changing
changes nothing for them.  The same goes for dates: a card's
``DAV:getlastmodified`` is when what the person sees of it last changed
(``card_view_times``), not when the owner last saved it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from ..base import names
from ..base.database import Database, Writer
from ..base.errors import Conflict, ExtError, Forbidden, InvalidName, NotFound
from .consent import ConsentBook, ConsentModes
from .me_cards import CardBook, CardReach, StoredCard
from .projection import EVERYTHING, BadCard, ProjectedCard, changed_fields, read_card

SCHEMA = """
CREATE TABLE IF NOT EXISTS card_view_books (
    recipient TEXT PRIMARY KEY,
    epoch     TEXT NOT NULL,
    seq       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS card_views (
    recipient TEXT NOT NULL,
    owner     TEXT NOT NULL,
    etag      TEXT,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (recipient, owner)
);
CREATE INDEX IF NOT EXISTS card_views_by_change ON card_views(recipient, seq);
CREATE TABLE IF NOT EXISTS card_view_times (
    recipient TEXT NOT NULL,
    owner     TEXT NOT NULL,
    modified  REAL NOT NULL,
    PRIMARY KEY (recipient, owner)
)
"""

TOKEN_PREFIX = "urn:radicale-ext:shared-contacts:"
DISPLAY_NAME = "Shared contacts"


class InvalidSyncToken(ExtError):
    """A sync token that is not (or no longer) one of this address book's (RFC 6578 section 3.2)."""

    status = 403
    precondition = "D:valid-sync-token"


@dataclass(frozen=True)
class SharedCard:
    owner: str
    text: str
    etag: str
    modified: float

    @property
    def href(self) -> str:
        return card_href(self.owner)


@dataclass(frozen=True)
class Listing:
    cards: dict[str, SharedCard]   # by href
    token: str
    modified: float = 0.0          # when what the person sees last changed (a card came, changed or went)


@dataclass(frozen=True)
class Sender:
    """Someone whose me card a person receives, and whether its changes wait for their answer."""

    owner: str
    name: str                      # the card's FN as the person sees it
    asks_first: bool


@dataclass(frozen=True)
class PendingUpdate:
    owner: str
    name: str
    fields: list[str]              # what differs from the person's copy, in words


def card_href(owner: str) -> str:
    return f"{owner}.vcf"


def owner_of(href: str) -> str | None:
    """The owner a card's resource name stands for (``alice.vcf``), or ``None``."""
    if not href.endswith(".vcf"):
        return None
    try:
        return names.user_name(href.removesuffix(".vcf"))
    except InvalidName:
        return None


class SharedContacts:
    def __init__(self, db: Database, cards: CardBook, consent: ConsentBook,
                 circles_of: Callable[[str], frozenset[str]]) -> None:
        self._db = db
        self._cards = cards
        self._consent = consent
        self._circles_of = circles_of
        self._first_sight = threading.Lock()

    # -- what a person sees ------------------------------------------------------------------

    def listing(self, recipient: str) -> Listing:
        served = self._served(recipient)
        token, times = self._track(recipient, served)
        cards = {card.href: replace(card, modified=times[owner]) for owner, card in served.items()}
        return Listing(cards, token, max(times.values(), default=0.0))

    def card(self, recipient: str, owner: str) -> SharedCard | None:
        """One card, as ``listing`` would show it (without counting changes)."""
        return self.served(recipient, {owner}).get(owner)

    def served(self, recipient: str, owners: Collection[str] | None = None) -> dict[str, SharedCard]:
        """The cards shared with ``recipient`` (only those of ``owners`` when given), as they see them.

        A card's date is when what they see of it changed, as the last listing noticed; a change
        no listing has noticed yet shows the card's own date.
        """
        served = self._served(recipient, owners)
        if not served:
            return served
        seen = {owner: (etag, modified) for owner, etag, modified in self._db.read(
            "SELECT v.owner, v.etag, t.modified FROM card_views v JOIN card_view_times t "
            "ON t.recipient = v.recipient AND t.owner = v.owner WHERE v.recipient = ?", (recipient,))}
        return {owner: replace(card, modified=seen[owner][1]) if seen.get(owner, (None,))[0] == card.etag else card
                for owner, card in served.items()}

    def _served(self, recipient: str, owners: Collection[str] | None = None) -> dict[str, SharedCard]:
        reaching = self._cards.reaching(recipient, self._circles_of(recipient), owners)
        if not reaching:
            return {}
        modes = self._consent.modes(recipient)
        accepted = self._consent.accepted(recipient) if modes.default or modes.per_owner else {}
        found: dict[str, SharedCard] = {}
        for owner, reach in reaching.items():
            stored = self._stored(owner, reach)
            current = self._cards.projection(owner, stored, reach.selectors)
            if current is None or stored is None:
                continue
            card, modified = current, stored.modified
            if modes.asks_first(owner):
                kept = accepted.get(owner)
                if kept is None:
                    self._accept_first(recipient, owner, current)
                else:
                    card, modified = self._kept(owner, kept.text, kept.etag, reach), kept.accepted_at
            if card is not None:
                found[owner] = SharedCard(owner, card.text, card.etag, modified)
        return found

    def _stored(self, owner: str, reach: CardReach) -> StoredCard | None:
        stored = self._cards.stored(reach.me)
        if (stored.source if stored else None) != reach.settled:
            self._cards.settle(owner)  # changed by other means than a PUT (deleted, moved, restored ...)
        return stored

    def _kept(self, owner: str, text: str, etag: str, reach: CardReach) -> ProjectedCard | None:
        """The accepted version, showing only the fields the person may see now."""
        return self._cards.projection(owner, StoredCard(text, etag, 0.0), reach.selectors)

    def _accept_first(self, recipient: str, owner: str, card: ProjectedCard) -> None:
        with self._first_sight, self._db.write() as w:
            if w.execute("SELECT 1 FROM card_accepted WHERE recipient = ? AND owner = ?",
                         (recipient, owner)).fetchone() is None:
                self._consent.accept(w, recipient, owner, card)

    # -- sync --------------------------------------------------------------------------------

    def changes(self, recipient: str, old_token: str = "", listing: Listing | None = None) -> tuple[str, list[str]]:
        """The current token and the resource names changed since ``old_token`` (all, without one).

        ``listing`` is the person's listing of this request, when there is one.
        Raises :class:`InvalidSyncToken`.
        """
        listing = listing or self.listing(recipient)
        if not old_token:
            return listing.token, sorted(listing.cards)
        epoch, seq = _parse_token(old_token)
        book = self._db.read_one("SELECT epoch, seq FROM card_view_books WHERE recipient = ?", (recipient,))
        if book is None or book[0] != epoch or seq > book[1]:
            raise InvalidSyncToken("the sync token is not one of this address book's; sync again without a token")
        rows = self._db.read("SELECT owner FROM card_views WHERE recipient = ? AND seq > ? ORDER BY seq",
                             (recipient, seq))
        return listing.token, [card_href(r[0]) for r in rows]

    def _track(self, recipient: str, served: dict[str, SharedCard]) -> tuple[str, dict[str, float]]:
        """Count a change for each card whose ETag differs from the last listing.

        Returns the current token and, for every card the person ever had, when what they see of
        it last changed.
        """
        etags = {owner: card.etag for owner, card in served.items()}
        book = self._db.read_one("SELECT epoch, seq FROM card_view_books WHERE recipient = ?", (recipient,))
        if book is not None:
            times = self._times_if_unchanged(recipient, etags)
            if times is not None:
                return _token(*book), times
        with self._db.write() as w:
            book = w.execute("SELECT epoch, seq FROM card_view_books WHERE recipient = ?", (recipient,)).fetchone()
            epoch, seq = book if book else (secrets.token_hex(6), 0)
            seen = dict(w.execute("SELECT owner, etag FROM card_views WHERE recipient = ?", (recipient,)).fetchall())
            times = dict(w.execute("SELECT owner, modified FROM card_view_times WHERE recipient = ?",
                                   (recipient,)).fetchall())
            for owner in sorted(set(seen) | set(etags)):
                card = served.get(owner)
                if owner in seen and seen[owner] == etags.get(owner) and owner in times:
                    continue
                if owner not in seen or seen[owner] != etags.get(owner):
                    seq += 1
                    w.execute("INSERT INTO card_views(recipient, owner, etag, seq) VALUES (?, ?, ?, ?) "
                              "ON CONFLICT(recipient, owner) DO UPDATE SET etag = excluded.etag, seq = excluded.seq",
                              (recipient, owner, etags.get(owner), seq))
                times[owner] = changed_at(times.get(owner), etags.get(owner), card.modified if card else None)
                w.execute("INSERT INTO card_view_times(recipient, owner, modified) VALUES (?, ?, ?) "
                          "ON CONFLICT(recipient, owner) DO UPDATE SET modified = excluded.modified",
                          (recipient, owner, times[owner]))
            w.execute("INSERT INTO card_view_books(recipient, epoch, seq) VALUES (?, ?, ?) "
                      "ON CONFLICT(recipient) DO UPDATE SET seq = excluded.seq", (recipient, epoch, seq))
        return _token(epoch, seq), times

    def _times_if_unchanged(self, recipient: str, etags: dict[str, str]) -> dict[str, float] | None:
        """The dates of the last listing, when nothing changed since (one query)."""
        rows = self._db.read("SELECT v.owner, v.etag, t.modified FROM card_views v LEFT JOIN card_view_times t "
                             "ON t.recipient = v.recipient AND t.owner = v.owner WHERE v.recipient = ?",
                             (recipient,))
        if {owner: etag for owner, etag, _ in rows if etag is not None} != etags:
            return None
        if any(modified is None for _, _, modified in rows):
            return None  # kept by an older version, without dates: the slow path adds them
        return {owner: modified for owner, _, modified in rows}

    # -- ask me first ------------------------------------------------------------------------

    def ask_first(self, recipient: str, on: bool, owner: str | None = None, *, actor: str | None = None) -> None:
        """Choose whether changed cards (every card, or ``owner``'s) wait for the person's answer.

        Turning it on keeps the version the person has now; turning it off
        shows the current versions from the next request on.  Choosing for
        every card replaces the choices per owner.  Only the person
        (``actor``; ``None``: the admin) chooses: else :class:`Forbidden`.
        """
        _require_self(recipient, actor)
        if owner is not None:
            names.user_name(owner)
        reaching = self._cards.reaching(recipient, self._circles_of(recipient))
        concerned = [o for o in reaching if owner is None or o == owner]
        with self._db.write() as w:
            self._consent.set_mode(w, recipient, on, owner if owner is not None else "")
            for o in concerned:
                if on:
                    current = self._cards.projection(o, self._cards.stored(reaching[o].me), reaching[o].selectors)
                    if current is not None:
                        self._consent.accept(w, recipient, o, current)
                else:
                    w.execute("DELETE FROM card_accepted WHERE recipient = ? AND owner = ?", (recipient, o))

    def modes(self, recipient: str, *, actor: str | None = None) -> ConsentModes:
        _require_self(recipient, actor)
        return self._consent.modes(recipient)

    def senders(self, recipient: str, *, actor: str | None = None) -> list[Sender]:
        """Everyone whose card ``recipient`` receives now, by name, with their choice for it."""
        _require_self(recipient, actor)
        modes = self._consent.modes(recipient)
        found = [Sender(owner, read_card(card.text).name or owner, modes.asks_first(owner))
                 for owner, card in self.served(recipient).items()]
        return sorted(found, key=lambda s: (s.name.casefold(), s.owner))

    def pending(self, recipient: str, *, actor: str | None = None) -> list[PendingUpdate]:
        """Changed cards waiting for the person's answer."""
        _require_self(recipient, actor)
        return [update for update, _card in self._pending(recipient).values()]

    def accept(self, recipient: str, owner: str, *, actor: str | None = None) -> PendingUpdate:
        """Take the waiting version of ``owner``'s card.  Raises :class:`Forbidden`, :class:`NotFound`
        (nothing waits), :class:`Conflict` (the person is not asked first about it)."""
        _require_self(recipient, actor)
        update, card = self._waiting(recipient, owner)
        with self._db.write() as w:
            self._consent.accept(w, recipient, owner, card)
        return update

    def decline(self, recipient: str, owner: str, *, actor: str | None = None) -> PendingUpdate:
        """Keep the person's version; the waiting one is not offered again (as :meth:`accept` raises)."""
        _require_self(recipient, actor)
        update, card = self._waiting(recipient, owner)
        with self._db.write() as w:
            self._consent.decline(w, recipient, owner, card.etag)
        return update

    def _waiting(self, recipient: str, owner: str) -> tuple[PendingUpdate, ProjectedCard]:
        names.user_name(owner)
        found = self._pending(recipient, owner).get(owner)
        if found is None:
            if not self._consent.asks_first(recipient, owner):
                raise Conflict(f"{recipient!r} is not asked first about {owner!r}'s card: changes show at once "
                               f"(radicale-ext card ask-first on --from {owner})")
            raise NotFound(f"no change of {owner!r}'s card is waiting for {recipient!r}'s answer")
        return found

    def _pending(self, recipient: str, only: str | None = None) -> dict[str, tuple[PendingUpdate, ProjectedCard]]:
        modes = self._consent.modes(recipient)
        if not modes.default and not any(modes.per_owner.values()):
            return {}
        reaching = self._cards.reaching(recipient, self._circles_of(recipient))
        accepted = self._consent.accepted(recipient)
        found = {}
        for owner, reach in reaching.items():
            kept = accepted.get(owner)
            if (only is not None and owner != only) or not modes.asks_first(owner) or kept is None:
                continue
            stored = self._stored(owner, reach)
            current = self._cards.projection(owner, stored, reach.selectors)
            served = self._kept(owner, kept.text, kept.etag, reach)
            if current is None or served is None or current.etag in (served.etag, kept.declined_etag):
                continue
            try:
                before, after = read_card(served.text), read_card(current.text)
            except BadCard:
                continue
            update = PendingUpdate(owner, after.name or owner, changed_fields(before, after, EVERYTHING))
            found[owner] = (update, current)
        return found

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM card_views WHERE recipient = ?", (user,))
        w.execute("DELETE FROM card_view_times WHERE recipient = ?", (user,))
        w.execute("DELETE FROM card_view_books WHERE recipient = ?", (user,))


def _require_self(recipient: str, actor: str | None) -> None:
    """Only the person themselves (or the admin, ``None``) answers for their Shared contacts."""
    names.user_name(recipient)
    if actor is not None and actor != recipient:
        raise Forbidden(f"only {recipient!r} chooses what happens to the cards shared with them")


def changed_at(before: float | None, etag: str | None, file_modified: float | None) -> float:
    """When what a person sees of a card changed, noticed now: the card's own date when it is newer
    than the last change they saw, else now (their audiences changed, or the card went away)."""
    if before is None and etag is None:
        return 0.0  # never seen: nothing changed for them
    if file_modified is not None and file_modified > (before or 0.0):
        return file_modified
    return max(time.time(), before or 0.0)


def _token(epoch: str, seq: int) -> str:
    return f"{TOKEN_PREFIX}{epoch}-{seq}"


def _parse_token(token: str) -> tuple[str, int]:
    epoch, _sep, seq = token.strip().removeprefix(TOKEN_PREFIX).rpartition("-")
    if not token.strip().startswith(TOKEN_PREFIX) or not epoch or not seq.isdigit():
        raise InvalidSyncToken("the sync token is not one of this address book's; sync again without a token")
    return epoch, int(seq)
