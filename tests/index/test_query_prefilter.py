"""The addressbook-query answered from a card's kept names (radicale_ext/index/query_prefilter.py) is
Radicale's own answer: random FN values and random FN text-match filters, each decided both ways.

Where the decision says "no answer" Radicale decides; where it answers, it must be Radicale's answer,
and the narrowing must never drop a card Radicale would match."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
import vobject
from radicale import item as radicale_item
from radicale.app.report import test_filter as radicale_test_filter

from radicale_ext.index.query_prefilter import EXACT, card_names, name_decision, name_narrowing

CARDDAV = "urn:ietf:params:xml:ns:carddav"

NAMES = ["Anna Smith", "anna smythe", "Jörg Müller-Straße", "STRASSE", "ΟΔΥΣΣΕΑΣ Παπαδόπουλος", "οδυσσεας",
         "王 小明", "小明", "Smith, Anna", "🎂 Ännchen", "İlkay Gündoğan", "ilkay", "Ǆemal", "ǆ", "Émile Zola", ""]
TEXTS = ["ann", "ANNA", "smith", "straße", "STRASSE", "ss", "ΑΣ", "ας", "σ", "ς", "王", "小明", "smith, anna", "🎂",
         "İ", "i̇", "ilkay", "ǅ", "ǆemal", "é", "zola", "a", " "]
MATCH_TYPES = ["contains", "equals", "starts-with", "ends-with"]
COLLATIONS = [None, "i;unicode-casemap", "i;ascii-casemap", "i;octet"]


def card(values: list[str]) -> radicale_item.Item:
    lines = "".join(f"FN:{value.replace(',', chr(92) + ',')}\r\n" for value in values)
    text = f"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u\r\n{lines}END:VCARD\r\n"
    return radicale_item.Item(collection_path="alice/book", vobject_item=vobject.readOne(text))


def text_match(rng: random.Random) -> str:
    attrs = f' match-type="{rng.choice(MATCH_TYPES)}"'
    collation = rng.choice(COLLATIONS)
    if collation:
        attrs += f' collation="{collation}"'
    if rng.random() < 0.1:
        attrs += ' negate-condition="yes"'
    return f"<CR:text-match{attrs}>{escape(rng.choice(TEXTS))}</CR:text-match>"


def prop_filter(rng: random.Random) -> str:
    name = "FN" if rng.random() < 0.9 else rng.choice(["EMAIL", "N", "fn"])
    test = rng.choice(["", ' test="anyof"', ' test="allof"'])
    matches = "".join(text_match(rng) for _ in range(rng.choice([1, 1, 1, 2, 3])))
    return f'<CR:prop-filter name="{name}"{test}>{matches}</CR:prop-filter>'


def a_filter(rng: random.Random) -> ET.Element:
    test = rng.choice(["", ' test="anyof"', ' test="allof"'])
    props = "".join(prop_filter(rng) for _ in range(rng.choice([1, 1, 2, 3])))
    return ET.fromstring(f'<CR:filter xmlns:CR="{CARDDAV}"{test}>{props}</CR:filter>')


@pytest.mark.parametrize("seed", range(4))
def test_the_names_give_radicales_answer_or_none(seed: int) -> None:
    rng = random.Random(seed)
    decided = 0
    for _ in range(1500):
        values = rng.sample(NAMES, rng.choice([0, 1, 1, 1, 2]))
        item = card(values)
        kept = card_names([line.value for line in item.vobject_item.contents.get("fn", [])])
        filters = [a_filter(rng)]
        radicale_says = all(radicale_test_filter("VADDRESSBOOK", item, f) for f in filters)
        decision = name_decision(filters)
        answer = decision(kept) if decision is not None else None
        if answer is not None:
            decided += 1
            assert answer == radicale_says, (values, ET.tostring(filters[0], encoding="unicode"))
        narrowing = name_narrowing(filters)
        if radicale_says and narrowing is not None:
            assert narrowing(kept), (values, ET.tostring(filters[0], encoding="unicode"))
    assert decided > 500   # most random FN queries are answered from the names


def test_names_kept_before_this_form_or_with_its_marks_get_no_decision_but_still_narrow() -> None:
    filters = [ET.fromstring(f'<CR:filter xmlns:CR="{CARDDAV}"><CR:prop-filter name="FN">'
                             "<CR:text-match>straße</CR:text-match></CR:prop-filter></CR:filter>")]
    decision, narrowing = name_decision(filters), name_narrowing(filters)
    assert decision is not None and narrowing is not None
    old_form = "jörg müller-strasse"   # case-folded, one per line: an index written by an earlier version
    assert decision(old_form) is None and narrowing(old_form)
    marked = card_names(["Straße\x1fzwei"])
    assert not marked.startswith(EXACT) and decision(marked) is None and narrowing(marked)
    assert decision(card_names(["Jörg Müller-Straße"])) is True
    assert decision(card_names(["Jörg Müller-Strasse"])) is False   # as Radicale: lowered, not folded
