"""Answering an addressbook-query by the names the item index keeps (RFC 6352, 10.5).

The index keeps each card's FN values (:func:`card_names`).  Two uses:

* **narrowing** (:func:`name_narrowing`): skip the cards that cannot match a
  query whose every match needs an FN containing a text (the query clients
  send for "find a contact by name"); Radicale then decides on the rest;
* **deciding** (:func:`name_decision`): answer Radicale's own test from the
  names, for queries made only of FN text-matches with the default
  collation, so that a matching card is not parsed at all.  The names are
  kept as Radicale compares them (each value ``str.lower()``-ed, as
  ``radicale.item.filter.text_match`` lowers it), so the answer is the same
  as Radicale's, not merely close.  A card whose names are not kept so (a
  value holding the separator, or an index written before this form) gets no
  decision, and Radicale decides.

Any other shape of query gives None and every card is asked, as in stock
Radicale.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

CARDDAV = "urn:ietf:params:xml:ns:carddav"

#: the first character of names kept as Radicale compares them; the separator between the values
EXACT, SEPARATOR = "\x01", "\x1f"

#: what Radicale does with each match-type (RFC 6352 10.5.4), on lowered texts
_MATCHES: dict[str, Callable[[str, str], bool]] = {
    "equals": lambda value, text: value == text,
    "contains": lambda value, text: text in value,
    "starts-with": lambda value, text: value.startswith(text),
    "ends-with": lambda value, text: value.endswith(text),
}

NamesTest = Callable[[str], bool]


def _tag(name: str) -> str:
    return f"{{{CARDDAV}}}{name}"


def card_names(values: Sequence[object]) -> str:
    """A card's FN values as the index keeps them: lowered, after :data:`EXACT`, one per :data:`SEPARATOR`
    (or, where a value is not plain text or holds either mark, case-folded one per line: narrowing only)."""
    if all(isinstance(value, str) and EXACT not in value and SEPARATOR not in value for value in values):
        return EXACT + SEPARATOR.join(str(value).lower() for value in values)
    return "\n".join(str(value).casefold() for value in values)


def name_narrowing(filters: Sequence[ET.Element]) -> NamesTest | None:
    """A test every card Radicale would match passes (its kept names contain the FN text), or None."""
    if len(filters) != 1:
        return None
    (filter_,) = filters
    prop_filters = list(filter_)
    if any(child.tag != _tag("prop-filter") for child in prop_filters):
        return None
    if len(prop_filters) > 1 and filter_.get("test", "anyof") != "allof":
        return None  # anyof: a card may match through another property
    for prop_filter in prop_filters:
        found = _needle_of(prop_filter)
        if found is not None:
            text, octet = found
            return lambda names: _may_contain(names, text, octet)
    return None


def _needle_of(prop_filter: ET.Element) -> tuple[str, bool] | None:
    """The text an FN prop-filter's one text-match needs, and whether it compares exactly (``i;octet``)."""
    if prop_filter.get("name", "").upper() != "FN":
        return None
    children = list(prop_filter)
    if len(children) != 1 or children[0].tag != _tag("text-match"):
        return None
    (text_match,) = children
    if text_match.get("negate-condition", "no") == "yes":
        return None
    text = "".join(text_match.itertext())
    if not text or "\n" in text or EXACT in text or SEPARATOR in text:
        return None
    return text, text_match.get("collation") == "i;octet"


def _may_contain(names: str, text: str, octet: bool) -> bool:
    if names.startswith(EXACT):
        # lowering is not a superset of an exact comparison (Greek final sigma): no narrowing then
        return octet or text.lower() in names
    return text.casefold() in names


def name_decision(filters: Sequence[ET.Element]) -> Callable[[str], bool | None] | None:
    """Radicale's answer for a card from its kept names (None for a card whose names are not kept as
    Radicale compares them), or None for a query that is not made only of FN text-matches."""
    tests = [_filter_test(filter_) for filter_ in filters]
    if not tests or any(test is None for test in tests):
        return None
    decided = [test for test in tests if test is not None]

    def decide(names: str) -> bool | None:
        if not names.startswith(EXACT):
            return None
        values = names[len(EXACT):].split(SEPARATOR)
        return all(test(values) for test in decided)
    return decide


def _filter_test(filter_: ET.Element) -> Callable[[list[str]], bool] | None:
    """``radicale.app.report.test_filter`` for an address book, on the FN values."""
    test = filter_.get("test", "anyof")
    if filter_.tag != _tag("filter") or test not in ("anyof", "allof") or len(filter_) == 0:
        return None
    props = [_prop_test(child) for child in filter_]
    if any(prop is None for prop in props):
        return None
    decided = [prop for prop in props if prop is not None]
    combine = any if test == "anyof" else all
    return lambda values: combine(prop(values) for prop in decided)


def _prop_test(prop_filter: ET.Element) -> Callable[[list[str]], bool] | None:
    """``radicale.item.filter.prop_match`` for an FN prop-filter of text-matches only."""
    if prop_filter.tag != _tag("prop-filter") or prop_filter.get("name", "").lower() != "fn" or len(prop_filter) == 0:
        return None
    texts = []
    for child in prop_filter:
        if child.tag != _tag("text-match") or child.get("negate-condition") == "yes" \
                or child.get("collation") == "i;octet":
            return None
        match = _MATCHES.get(child.get("match-type", "contains"))
        text = next(child.itertext(), "").lower()   # the text Radicale reads
        if match is None or not text or EXACT in text or SEPARATOR in text:
            return None
        texts.append((match, text))
    combine = any if prop_filter.get("test", "anyof") == "anyof" else all
    return lambda values: combine(any(match(value, text) for value in values) for match, text in texts)
