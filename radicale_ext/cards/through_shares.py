"""The me card in its own address book, read by someone else than its owner (docs/cards.md, "Through a share").

Alice's address book may be shared: a subscriber or a collaborator reads it
through their mount (``/bob/contacts~alice/``) or, with a collaborator's
rights, on alice's own path.  Her me card in it is then shown to each of
them as her card's audiences let them see it, as in their Shared contacts:

- the lines their audiences allow, with the card's own UID (it is that
  card of that address book), without ``REV`` and ``PRODID``;
- the card as stored to someone whose audiences see everything (``*``),
  so that their client's ETag is the stored one and their edits fit;
- nothing to someone outside every audience: the card is not there.

Their client's view must not move when a field they cannot see changes.  So
for such a reader the storage plugin builds the collection's ETag, dates and
sync token from what they see of the card, and this module keeps, per reader
and owner, what they last saw of the card: its ETag, how many changes of it
they saw (a part of their sync token) and when it last changed for them
(its ``DAV:getlastmodified``).  As in Shared contacts, a change is noticed
by the reader's first request after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..base.database import Database, Writer
from .me_cards import CardBook, MeCard, StoredCard
from .projection import EVERYTHING
from .shared_contacts import changed_at

SCHEMA = """
CREATE TABLE IF NOT EXISTS card_share_sightings (
    viewer   TEXT NOT NULL,
    owner    TEXT NOT NULL,
    etag     TEXT,
    changes  INTEGER NOT NULL,
    modified REAL NOT NULL,
    PRIMARY KEY (viewer, owner)
)
"""


@dataclass(frozen=True)
class Seen:
    """The me card as one reader sees it now, in its own address book."""

    text: str | None           # None: hidden from them
    etag: str | None
    whole: bool                # they see the card as stored
    changes: int               # how many changes of what they see were noticed (their sync token carries it)
    modified: float            # when what they see last changed (0: they never saw it)


class CardThroughShares:
    def __init__(self, db: Database, cards: CardBook, circles_of: Callable[[str], frozenset[str]]) -> None:
        self._db = db
        self._cards = cards
        self._circles_of = circles_of

    def me_card_for(self, reader: str, collection: str) -> MeCard | None:
        """The me card in ``collection`` (``/alice/contacts/``) when ``reader`` is not its owner."""
        if not reader:
            return None
        me = self._cards.me_card_in(collection)
        return me if me is not None and me.owner != reader else None

    def seen(self, reader: str, me: MeCard, stored: StoredCard | None, *, etag: str, uid: str) -> Seen:
        """What ``reader`` sees of ``me`` as ``stored`` now (``etag``: the stored item's, ``uid``: the card's).

        Counts a change when it differs from what they saw before.
        """
        reach = self._cards.reaching(reader, self._circles_of(reader), {me.owner}).get(me.owner)
        selectors = reach.selectors if reach is not None else ()
        text: str | None = None
        shown: str | None = None
        whole = False
        if stored is not None and selectors == EVERYTHING and self._cards.card(stored) is not None:
            text, shown, whole = stored.text, etag, True
        elif stored is not None:
            projected = self._cards.projection(me.owner, stored, selectors, uid=uid)
            if projected is not None:
                text, shown = projected.text, projected.etag
        changes, modified = self._sighting(reader, me.owner, shown, stored.modified if stored else None)
        return Seen(text, shown, whole, changes, modified)

    def _sighting(self, reader: str, owner: str, etag: str | None, file_modified: float | None) -> tuple[int, float]:
        """(changes, modified) of what ``reader`` saw of ``owner``'s card, counting a change to ``etag``."""
        query = "SELECT etag, changes, modified FROM card_share_sightings WHERE viewer = ? AND owner = ?"
        row = self._db.read_one(query, (reader, owner))
        if row is not None and row[0] == etag:
            return row[1], row[2]
        with self._db.write() as w:
            row = w.execute(query, (reader, owner)).fetchone()
            if row is not None and row[0] == etag:
                return row[1], row[2]  # another request counted it meanwhile
            changes = row[1] + 1 if row is not None else 0
            modified = changed_at(row[2] if row is not None else None, etag, file_modified)
            w.execute("INSERT INTO card_share_sightings(viewer, owner, etag, changes, modified) "
                      "VALUES (?, ?, ?, ?, ?) ON CONFLICT(viewer, owner) DO UPDATE SET etag = excluded.etag, "
                      "changes = excluded.changes, modified = excluded.modified",
                      (reader, owner, etag, changes, modified))
        return changes, modified

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM card_share_sightings WHERE viewer = ? OR owner = ?", (user, user))



class MeCardNotices:
    """Who may hear of a change to a me card by name, in its address book's change notices
    (:class:`radicale_ext.notices.fanout.PrivateItems`): its owner, and whoever sees it whole.

    Everyone else reads the card projected (or not at all), so a sentence naming it or a link
    to it could show what is hidden from them; they hear of the card's changes only through
    their Shared contacts' own notice, which tells just the fields they see
    (:meth:`~radicale_ext.cards.me_cards.CardBook.settle`).
    """

    def __init__(self, cards: CardBook, circles_of: Callable[[str], frozenset[str]]) -> None:
        self._cards = cards
        self._circles_of = circles_of

    def is_private(self, collection: str, item: str) -> bool:
        return self._cards.owner_at(collection, item) is not None

    def may_hear(self, user: str, collection: str, item: str) -> bool:
        owner = self._cards.owner_at(collection, item)
        if owner is None or owner == user:
            return True
        reach = self._cards.reaching(user, self._circles_of(user), {owner}).get(owner)
        return reach is not None and reach.selectors == EVERYTHING
