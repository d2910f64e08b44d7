"""Narrowing an addressbook-query by the names the item index keeps (RFC 6352, 10.5).

Radicale decides every match itself; the index only skips cards that
cannot match.  That is safe for one shape of query, the one clients send
for "find a contact by name": a filter whose every match needs an FN
property containing (or equal to, starting or ending with) a text.  Any
other shape gives None and every card is asked, as in stock Radicale.

The index keeps each card's FN values case-folded, and a needle is
case-folded too, so the test can only say yes more often than Radicale's
(which lowers both sides, or compares exactly for ``i;octet``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

CARDDAV = "urn:ietf:params:xml:ns:carddav"


def _tag(name: str) -> str:
    return f"{{{CARDDAV}}}{name}"


def name_needle(filters: Sequence[ET.Element]) -> str | None:
    """The case-folded text every matching card's FN must contain, or None (no narrowing)."""
    if len(filters) != 1:
        return None
    (filter_,) = filters
    prop_filters = list(filter_)
    if any(child.tag != _tag("prop-filter") for child in prop_filters):
        return None
    if len(prop_filters) > 1 and filter_.get("test", "anyof") != "allof":
        return None  # anyof: a card may match through another property
    for prop_filter in prop_filters:
        needle = _needle_of(prop_filter)
        if needle is not None:
            return needle
    return None


def _needle_of(prop_filter: ET.Element) -> str | None:
    if prop_filter.get("name", "").upper() != "FN":
        return None
    children = list(prop_filter)
    if len(children) != 1 or children[0].tag != _tag("text-match"):
        return None
    (text_match,) = children
    if text_match.get("negate-condition", "no") == "yes":
        return None
    text = "".join(text_match.itertext())
    if not text or "\n" in text:
        return None
    return text.casefold()


def card_names(values: Sequence[object]) -> str:
    """A card's FN values as the index keeps them: case-folded, one per line."""
    return "\n".join(str(value).casefold() for value in values)
