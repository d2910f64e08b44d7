"""Answering an addressbook-query from the text values the item index keeps of each card (RFC 6352, 10.5).

The index keeps, per card, the values of the properties people search by
(:data:`KEPT`: name, nickname, e-mail, telephone, organisation, title,
address, categories), each one exactly as Radicale's filter reads it
(``radicale.item.filter.text_match``: a list value is its elements, any other
value its text, lowered as Radicale lowers both sides).  A query made only of
prop-filters on those properties, with text-matches in the default collation
(negated or not), ``is-not-defined`` or an empty prop-filter (the property is
there), any match type, anyof or allof at both levels, then gets Radicale's
own answer from the index (:func:`card_decision`), and a matching card is not
parsed at all.  Anything else (``i;octet``, a param-filter, another
property, a card whose values hold the separators) gets no decision:
Radicale decides, as stock.

Names kept by an index written before this form (case-folded FN values, one
per line) are still used to skip cards that cannot match an FN query
(:func:`name_narrowing`); such a card gets no decision.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

CARDDAV = "urn:ietf:params:xml:ns:carddav"

#: the properties whose values the index keeps (lower-case, as vobject names them)
KEPT = frozenset({"fn", "n", "nickname", "email", "tel", "org", "title", "adr", "categories"})
#: the first character of values kept in this form; the separators between properties and between values
EXACT, PROPERTY, VALUE = "\x02", "\x1e", "\x1f"
_MARKS = (EXACT, PROPERTY, VALUE)

#: what Radicale does with each match-type (RFC 6352 10.5.4), on lowered texts
_MATCHES: dict[str, Callable[[str, str], bool]] = {
    "equals": lambda value, text: value == text,
    "contains": lambda value, text: text in value,
    "starts-with": lambda value, text: value.startswith(text),
    "ends-with": lambda value, text: value.endswith(text),
}

Values = Mapping[str, list[str]]   # property (lower-case) -> its values, lowered; a property not there is absent
Test = Callable[[Values], bool]


def _tag(name: str) -> str:
    return f"{{{CARDDAV}}}{name}"


class _Line(Protocol):
    value: object


def card_names(contents: Mapping[str, Sequence[_Line]]) -> str:
    """A card's searchable values as the index keeps them, from its parsed lines (vobject's ``contents``):
    :data:`EXACT`, then per kept property its name and values, lowered; empty where a value is not
    plain text or holds a separator, its FN values case-folded one per line as an earlier index kept them
    (the card is then never decided from the index)."""
    parts = []
    for prop in sorted(KEPT & set(contents)):
        values = [str(value).lower() for line in contents[prop] for value in _values(line.value)]
        if any(mark in value for value in values for mark in _MARKS):   # kept as an earlier index kept them
            return "\n".join(str(value).casefold() for line in contents.get("fn", ()) for value in _values(line.value))
        parts.append(VALUE.join([prop, *values]))
    return EXACT + PROPERTY.join(parts)


def _values(value: object) -> Iterable[object]:
    """Radicale's reading of a property's value: a list (ORG, CATEGORIES) is its elements."""
    return value if type(value) is list else (value,)


def _kept_values(names: str) -> Values | None:
    if not names.startswith(EXACT):
        return None
    found: dict[str, list[str]] = {}
    for part in names[len(EXACT):].split(PROPERTY) if len(names) > len(EXACT) else ():
        prop, *values = part.split(VALUE)
        found[prop] = values
    return found


def card_decision(filters: Sequence[ET.Element]) -> Callable[[str], bool | None] | None:
    """Radicale's answer for a card from its kept values (None for a card kept in another form), or None
    for a query the kept values cannot answer."""
    tests = [_filter_test(filter_) for filter_ in filters]
    if not tests or any(test is None for test in tests):
        return None
    decided = [test for test in tests if test is not None]

    def decide(names: str) -> bool | None:
        values = _kept_values(names)
        if values is None:
            return None
        return all(test(values) for test in decided)
    return decide


def _filter_test(filter_: ET.Element) -> Test | None:
    """``radicale.app.report.test_filter`` for an address book."""
    test = filter_.get("test", "anyof")
    if filter_.tag != _tag("filter") or test not in ("anyof", "allof"):
        return None
    props = [_prop_test(child) for child in filter_]
    if any(prop is None for prop in props):
        return None
    decided = [prop for prop in props if prop is not None]
    combine = any if test == "anyof" else all
    return lambda values: combine(prop(values) for prop in decided)


def _prop_test(prop_filter: ET.Element) -> Test | None:
    """``radicale.item.filter.prop_match`` for a kept property."""
    name = prop_filter.get("name", "").lower()
    if prop_filter.tag != _tag("prop-filter") or name not in KEPT:
        return None
    if len(prop_filter) == 0:
        return lambda values: name in values
    if len(prop_filter) == 1 and prop_filter[0].tag == _tag("is-not-defined"):
        return lambda values: name not in values
    matches = [_text_test(child, name) for child in prop_filter]
    if any(match is None for match in matches):
        return None
    decided = [match for match in matches if match is not None]
    combine = any if prop_filter.get("test", "anyof") == "anyof" else all
    return lambda values: name in values and combine(match(values) for match in decided)


def _text_test(text_match: ET.Element, name: str) -> Test | None:
    """``radicale.item.filter.text_match`` in the default collation."""
    if text_match.tag != _tag("text-match") or text_match.get("collation") == "i;octet":
        return None
    match = _MATCHES.get(text_match.get("match-type", "contains"))
    text = next(text_match.itertext(), "").lower()   # the text Radicale reads
    if match is None or any(mark in text for mark in _MARKS):
        return None
    if text_match.get("negate-condition") == "yes":
        return lambda values: not any(match(value, text) for value in values.get(name, ()))
    return lambda values: any(match(value, text) for value in values.get(name, ()))


def name_narrowing(filters: Sequence[ET.Element]) -> Callable[[str], bool] | None:
    """For names kept by an earlier index (case-folded FN values, one per line): a test every card
    Radicale would match passes, for a query whose every match needs an FN containing a text."""
    if len(filters) != 1:
        return None
    (filter_,) = filters
    prop_filters = list(filter_)
    if any(child.tag != _tag("prop-filter") for child in prop_filters):
        return None
    if len(prop_filters) > 1 and filter_.get("test", "anyof") != "allof":
        return None  # anyof: a card may match through another property
    for prop_filter in prop_filters:
        text = _needle_of(prop_filter)
        if text is not None:
            folded = text.casefold()
            return lambda names: names.startswith(EXACT) or folded in names
    return None


def _needle_of(prop_filter: ET.Element) -> str | None:
    """The text an FN prop-filter's one text-match needs (not negated)."""
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
    return text
