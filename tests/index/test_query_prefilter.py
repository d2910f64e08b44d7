"""An addressbook-query answered from a card's kept values (radicale_ext/index/query_prefilter.py) is
Radicale's own answer: random cards (names, e-mail, telephone, organisation, nickname, categories,
address) and random filters (every match type, collations, negation, is-not-defined, anyof/allof at
both levels, properties the index does not keep, param-filters), each decided both ways.

Where the decision says "no answer" Radicale decides; where it answers, it must be Radicale's answer,
and the narrowing kept for older indexes must never drop a card Radicale would match."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
import vobject
from radicale import item as radicale_item
from radicale.app.report import test_filter as radicale_test_filter

from radicale_ext.index.query_prefilter import EXACT, card_decision, card_names, name_narrowing

CARDDAV = "urn:ietf:params:xml:ns:carddav"

NAMES = ["Anna Smith", "anna smythe", "Jörg Müller-Straße", "STRASSE", "ΟΔΥΣΣΕΑΣ Παπαδόπουλος", "οδυσσεας",
         "王 小明", "小明", "Smith\\, Anna", "🎂 Ännchen", "İlkay Gündoğan", "ilkay", "Ǆemal", "Émile Zola"]
LINES = {
    "EMAIL": ["anna@example.org", "ANNA@Müller.example", "xiaoming@家庭.example", "bob.work@example.net"],
    "TEL": ["+49 30 1234567", "+1-555-0100", "+86 10 8888 0000", "0049301234567"],
    "ORG": ["Fußball-Verein;Jugend", "家庭", "Example\\, Inc.;R&D", "ACME"],
    "NICKNAME": ["Anni", "小明", "Jörgi,JM"],
    "TITLE": ["Trainerin", "老师"],
    "CATEGORIES": ["family,Fußball", "work", "家庭,🎉 party"],
    "ADR;TYPE=HOME": [";;Hauptstraße 5;Berlin;;10115;Germany", ";;长安街 1;北京;;100000;China"],
    "NOTE": ["likes Fußball"],
}
TEXTS = ["ann", "ANNA", "smith", "straße", "STRASSE", "ss", "ΑΣ", "ας", "ς", "王", "小明", "smith, anna", "🎂", "İ",
         "example", "@example.org", "+49", "555", "fußball", "家庭", "jugend", "inc.", "anni", "jörgi,jm", "work",
         "berlin", "hauptstraße", "party", "", " "]
PROPS = ["FN", "EMAIL", "TEL", "ORG", "NICKNAME", "TITLE", "CATEGORIES", "ADR", "N", "NOTE", "fn", "email", "X-FOO"]
MATCH_TYPES = ["contains", "equals", "starts-with", "ends-with"]
COLLATIONS = [None, "i;unicode-casemap", "i;ascii-casemap", "i;octet"]


def random_card(rng: random.Random) -> radicale_item.Item:
    name = rng.choice(NAMES)
    lines = [f"FN:{name}", f"N:{name.split()[-1]};{name.split()[0]};;;"] if rng.random() < 0.95 else []
    for prop, values in LINES.items():
        for value in rng.sample(values, min(len(values), rng.choice([0, 0, 1, 1, 2]))):
            lines.append(f"{prop}:{value}")
    body = "\r\n".join(lines)
    text = f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u-{rng.randrange(10**6)}\r\n{body}\r\nEND:VCARD\r\n".replace(
        "\r\n\r\n", "\r\n")
    return radicale_item.Item(collection_path="alice/book", vobject_item=vobject.readOne(text))


def text_match(rng: random.Random) -> str:
    attrs = f' match-type="{rng.choice(MATCH_TYPES)}"'
    collation = rng.choice(COLLATIONS)
    if collation:
        attrs += f' collation="{collation}"'
    if rng.random() < 0.15:
        attrs += ' negate-condition="yes"'
    return f"<CR:text-match{attrs}>{escape(rng.choice(TEXTS))}</CR:text-match>"


def prop_filter(rng: random.Random) -> str:
    name = rng.choice(PROPS)
    test = rng.choice(["", ' test="anyof"', ' test="allof"'])
    shape = rng.random()
    if shape < 0.1:
        inside = ""
    elif shape < 0.2:
        inside = "<CR:is-not-defined/>"
    elif shape < 0.25:
        inside = '<CR:param-filter name="TYPE"><CR:text-match>home</CR:text-match></CR:param-filter>'
    else:
        inside = "".join(text_match(rng) for _ in range(rng.choice([1, 1, 1, 2, 3])))
    return f'<CR:prop-filter name="{name}"{test}>{inside}</CR:prop-filter>'


def a_filter(rng: random.Random) -> ET.Element:
    test = rng.choice(["", ' test="anyof"', ' test="allof"'])
    props = "".join(prop_filter(rng) for _ in range(rng.choice([1, 1, 2, 3])))
    return ET.fromstring(f'<CR:filter xmlns:CR="{CARDDAV}"{test}>{props}</CR:filter>')


@pytest.mark.parametrize("seed", range(4))
def test_the_kept_values_give_radicales_answer_or_none(seed: int) -> None:
    rng = random.Random(seed)
    decided = 0
    for _ in range(1500):
        item = random_card(rng)
        kept = card_names(item.vobject_item.contents)
        filters = [a_filter(rng)]
        try:
            radicale_says = all(radicale_test_filter("VADDRESSBOOK", item, f) for f in filters)
        except ValueError:
            radicale_says = None   # Radicale refuses the filter: the index must not answer it
        decision = card_decision(filters)
        answer = decision(kept) if decision is not None else None
        if answer is not None:
            decided += 1
            assert answer == radicale_says, (item.serialize(), ET.tostring(filters[0], encoding="unicode"))
        narrowing = name_narrowing(filters)
        if radicale_says and narrowing is not None:
            assert narrowing(kept), (item.serialize(), ET.tostring(filters[0], encoding="unicode"))
    assert decided > 400   # most random queries on kept properties are answered from the index


def test_values_kept_by_an_earlier_index_or_holding_the_separators_get_no_decision_but_still_narrow() -> None:
    filters = [ET.fromstring(f'<CR:filter xmlns:CR="{CARDDAV}"><CR:prop-filter name="FN">'
                             "<CR:text-match>straße</CR:text-match></CR:prop-filter></CR:filter>")]
    decision, narrowing = card_decision(filters), name_narrowing(filters)
    assert decision is not None and narrowing is not None
    old_form = "jörg müller-strasse"   # case-folded FN values, one per line: an index written by an earlier version
    assert decision(old_form) is None and narrowing(old_form)

    def kept(fn: str, email: str = "jm@example.org") -> str:
        card = vobject.readOne(f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u\r\nFN:{fn}\r\nEMAIL:{email}\r\nEND:VCARD\r\n")
        return card_names(card.contents)

    marked = kept("Jörg Müller-Straße", "jm\x1f@example.org")
    assert not marked.startswith(EXACT) and decision(marked) is None and narrowing(marked)
    assert decision(kept("Jörg Müller-Straße")) is True
    assert decision(kept("Jörg Müller-Strasse")) is False   # as Radicale: lowered, not folded
