"""The "ask me first" choice: a person keeps the version of a card they last accepted.

A person may choose, for every card shared with them or for one owner's,
to be asked before a changed card replaces their copy.  Their copy is then
the *accepted* projection, kept here (it exists nowhere else once the owner
changes the card), and shown restricted to the fields they may see now, so
a field taken away disappears at once.  The current projection, when it
differs, is *pending* until they accept it (it becomes their copy) or
decline it (their copy stays, and this version is not offered again); a
later change replaces the pending version.  The first version a person
receives is taken as accepted: sharing a card is the owner's decision,
updates are the person's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..base.database import Database, Writer
from .projection import BadCard, Card, ProjectedCard, read_card

SCHEMA = """
CREATE TABLE IF NOT EXISTS card_consent_modes (
    recipient TEXT NOT NULL,
    owner     TEXT NOT NULL,
    ask_first INTEGER NOT NULL,
    PRIMARY KEY (recipient, owner)
);
CREATE TABLE IF NOT EXISTS card_accepted (
    recipient     TEXT NOT NULL,
    owner         TEXT NOT NULL,
    text          TEXT NOT NULL,
    etag          TEXT NOT NULL,
    declined_etag TEXT,
    accepted_at   REAL NOT NULL,
    PRIMARY KEY (recipient, owner)
)
"""

EVERY_OWNER = ""  # the owner column of a person's choice for every card


@dataclass(frozen=True)
class Accepted:
    text: str
    etag: str
    declined_etag: str | None
    accepted_at: float


@dataclass(frozen=True)
class ConsentModes:
    """A person's choices: for every card, and per owner."""

    default: bool
    per_owner: dict[str, bool]

    def asks_first(self, owner: str) -> bool:
        return self.per_owner.get(owner, self.default)


class ConsentBook:
    def __init__(self, db: Database) -> None:
        self._db = db

    def modes(self, recipient: str) -> ConsentModes:
        rows = self._db.read("SELECT owner, ask_first FROM card_consent_modes WHERE recipient = ?", (recipient,))
        chosen = {owner: bool(ask) for owner, ask in rows}
        default = chosen.pop(EVERY_OWNER, False)
        return ConsentModes(default, chosen)

    def asks_first(self, recipient: str, owner: str) -> bool:
        return self.modes(recipient).asks_first(owner)

    @staticmethod
    def set_mode(w: Writer, recipient: str, ask_first: bool, owner: str = EVERY_OWNER) -> None:
        w.execute("INSERT INTO card_consent_modes(recipient, owner, ask_first) VALUES (?, ?, ?) "
                  "ON CONFLICT(recipient, owner) DO UPDATE SET ask_first = excluded.ask_first",
                  (recipient, owner, int(ask_first)))
        if owner == EVERY_OWNER:
            w.execute("DELETE FROM card_consent_modes WHERE recipient = ? AND owner != ''", (recipient,))

    def accepted(self, recipient: str) -> dict[str, Accepted]:
        rows = self._db.read("SELECT owner, text, etag, declined_etag, accepted_at FROM card_accepted "
                             "WHERE recipient = ?", (recipient,))
        return {r[0]: Accepted(*r[1:]) for r in rows}

    def accepted_card(self, recipient: str, owner: str) -> Card | None:
        row = self._db.read_one("SELECT text FROM card_accepted WHERE recipient = ? AND owner = ?", (recipient, owner))
        if row is None:
            return None
        try:
            return read_card(row[0])
        except BadCard:
            return None

    @staticmethod
    def accept(w: Writer, recipient: str, owner: str, card: ProjectedCard) -> None:
        w.execute("INSERT INTO card_accepted(recipient, owner, text, etag, declined_etag, accepted_at) "
                  "VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT(recipient, owner) DO UPDATE SET text = excluded.text, "
                  "etag = excluded.etag, declined_etag = NULL, accepted_at = excluded.accepted_at",
                  (recipient, owner, card.text, card.etag, time.time()))

    @staticmethod
    def decline(w: Writer, recipient: str, owner: str, etag: str) -> None:
        w.execute("UPDATE card_accepted SET declined_etag = ? WHERE recipient = ? AND owner = ?",
                  (etag, recipient, owner))

    @staticmethod
    def forget_owner(w: Writer, owner: str) -> None:
        """Inside ``w``: the copies people keep of ``owner``'s card, when it stops being a me card."""
        w.execute("DELETE FROM card_accepted WHERE owner = ?", (owner,))

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM card_consent_modes WHERE recipient = ? OR owner = ?", (user, user))
        w.execute("DELETE FROM card_accepted WHERE recipient = ? OR owner = ?", (user, user))
