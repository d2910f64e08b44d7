"""The names of every me card, lower-cased, in one small table: what narrows a directory lookup.

Kept up to date when a me card settles (:meth:`NameIndex.index`).  A name
query can match a card only if one of these texts contains its text, so the
directory (:mod:`.directory`) tests the query exactly only against the cards
of the owners the index names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..base.content_lines import unescape_text
from ..base.database import Database, Writer
from .projection import Card

SCHEMA = """
CREATE TABLE IF NOT EXISTS card_names (
    owner TEXT NOT NULL,
    prop  TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_names_by_owner ON card_names(owner)
"""

NAME_FIELDS = ("FN", "N", "NICKNAME")


def _split(value: str, separator: str) -> list[str]:
    parts, start = [], 0
    for match in re.finditer(rf"(?<!\\){re.escape(separator)}", value):
        parts.append(value[start:match.start()])
        start = match.end()
    parts.append(value[start:])
    return parts


def _n_as_text(value: str) -> str:
    """N as RFC 6352 text-match compares it here: "prefix given additional family suffix" (vobject's order)."""
    fields = (_split(value, ";") + [""] * 5)[:5]
    family, given, additional, prefix, suffix = (" ".join(unescape_text(p) for p in _split(f, ",")) for f in fields)
    return " ".join((prefix, given, additional, family, suffix))


def names_of(card: Card) -> set[tuple[str, str]]:
    """(field, lower-cased text) for every name of a card; every text a name query could match contains one."""
    found: set[tuple[str, str]] = set()
    for line in card.lines:
        if line.prop not in NAME_FIELDS:
            continue
        texts = {line.value, unescape_text(line.value)}
        if line.prop == "N":
            texts.add(_n_as_text(line.value))
        if line.prop == "NICKNAME":
            texts.update(unescape_text(p) for p in _split(line.value, ","))
        found.update((line.prop, t.lower()) for t in texts)
    return found


class NameIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def index(w: Writer, owner: str, card: Card | None) -> None:
        """Inside ``w``: the names of ``owner``'s me card are now those of ``card``."""
        w.execute("DELETE FROM card_names WHERE owner = ?", (owner,))
        if card is not None:
            for prop, value in sorted(names_of(card)):
                w.execute("INSERT INTO card_names(owner, prop, value) VALUES (?, ?, ?)", (owner, prop, value))

    def owners_matching(self, conditions: Sequence[tuple[str, str]]) -> set[str]:
        """Owners one of whose names (field, text) contains the text of any condition."""
        found: set[str] = set()
        for prop, text in conditions:
            rows = self._db.read("SELECT DISTINCT owner FROM card_names WHERE prop = ? AND instr(value, ?) > 0",
                                 (prop, text.lower()))
            found.update(r[0] for r in rows)
        return found

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM card_names WHERE owner = ?", (user,))
