"""Directory lookup by name: whose me card matches, among those who share with the person asking.

The directory answers CardDAV addressbook-query (RFC 6352 section 8.6) by
name: ``FN``, ``N`` and ``NICKNAME`` with ``equals``, ``contains``,
``starts-with`` or ``ends-with``, case-insensitive (section 10.5.4).  Two
steps keep it fast over many users and exact:

1. :class:`NameIndex` narrows the query to the owners one of whose names
   (from the stored card: a superset of every projection) contains the
   text, with one query over a small table of lower-cased names kept up to
   date when a me card settles;
2. the caller keeps the owners who share with the person asking and tests
   the query, exactly as RFC 6352 says, against each one's projection *for
   that person*, so a name they may not see never matches.

A query that names no field of the index (or negates one) cannot be
narrowed; it is then tested against every card shared with the person.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

from ..base.errors import ExtError
from .name_index import NAME_FIELDS, NameIndex, names_of
from .projection import read_card
from .shared_contacts import SharedCard, SharedContacts

CARDDAV = "urn:ietf:params:xml:ns:carddav"


def _cr(tag: str) -> str:
    return f"{{{CARDDAV}}}{tag}"


def name_conditions(filters: Iterable[ET.Element]) -> list[tuple[str, str]] | None:
    """What the index may narrow an addressbook-query to, or ``None`` when it may not.

    Each ``CR:filter`` must hold: for ``anyof`` (the default) every
    prop-filter, for ``allof`` at least one, a name field with only
    text-matches that are not negated.  The answer is then a superset of
    the matches: the exact test comes after.
    """
    narrowed: list[tuple[str, str]] | None = None
    for filter_ in filters:
        per_prop = [_prop_conditions(p) for p in filter_ if p.tag == _cr("prop-filter")]
        if not per_prop:
            return None
        if filter_.get("test", "anyof") == "allof":
            usable = [c for c in per_prop if c is not None]
            if not usable:
                return None
            mine = min(usable, key=len)
        else:
            if any(c is None for c in per_prop):
                return None
            mine = [c for conditions in per_prop for c in conditions]  # type: ignore[union-attr]
        if narrowed is None or len(mine) < len(narrowed):
            narrowed = mine  # every filter must match: any one of them narrows
    return narrowed


def _prop_conditions(prop_filter: ET.Element) -> list[tuple[str, str]] | None:
    name = prop_filter.get("name", "").upper()
    matches = list(prop_filter)
    if name not in NAME_FIELDS or not matches:
        return None
    if any(m.tag != _cr("text-match") or m.get("negate-condition") == "yes" for m in matches):
        return None
    texts = [(name, next(m.itertext(), "").strip()) for m in matches]  # the text Radicale's test reads
    if prop_filter.get("test", "anyof") == "allof":
        return texts[:1]
    return texts


MATCH_TYPES = ("equals", "contains", "starts-with", "ends-with")


def text_matches(value: str, text: str, match_type: str) -> bool:
    """RFC 6352 section 10.5.4 with the default collation (i;unicode-casemap): case does not matter."""
    value, text = value.lower(), text.lower()
    if match_type == "equals":
        return value == text
    if match_type == "starts-with":
        return value.startswith(text)
    if match_type == "ends-with":
        return value.endswith(text)
    return text in value


class Directory:
    """Lookup by name among the cards shared with the person asking, each projected for them."""

    def __init__(self, index: NameIndex, contacts: SharedContacts) -> None:
        self._index = index
        self._contacts = contacts

    def candidates(self, requester: str, filters: Iterable[ET.Element]) -> list[SharedCard]:
        """The cards an addressbook-query may match (a superset: the caller applies the query exactly)."""
        conditions = name_conditions(filters)
        owners = None if conditions is None else self._index.owners_matching(conditions)
        if owners is not None and not owners:
            return []
        return sorted(self._contacts.served(requester, owners).values(), key=lambda c: c.owner)

    def card(self, requester: str, owner: str) -> SharedCard | None:
        return self._contacts.served(requester, {owner}).get(owner)

    def lookup(self, requester: str, text: str, match_type: str = "contains",
               fields: Sequence[str] = NAME_FIELDS) -> list[SharedCard]:
        """The command line's lookup: cards whose FN, N or NICKNAME (as the requester sees them) match."""
        if match_type not in MATCH_TYPES:
            raise ExtError(f"unknown match type {match_type!r}: use one of {', '.join(MATCH_TYPES)}")
        owners = self._index.owners_matching([(f, text) for f in fields])
        if not owners:
            return []
        found = []
        for card in self._contacts.served(requester, owners).values():
            shown = names_of(read_card(card.text))
            if any(prop in fields and text_matches(value, text, match_type) for prop, value in shown):
                found.append(card)
        return sorted(found, key=lambda c: c.owner)
