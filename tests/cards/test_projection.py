"""Field projection of a me card (radicale_ext.cards.projection): each audience sees exactly its fields.

vCard 3.0 and 4.0, grouped properties (``item1.TEL`` with Apple's labels),
folded lines, non-ASCII names, PHOTO inline and by URI; values pass byte for
byte.  Field lists are read as people type them, and refused with one clear
sentence when they name a field or type that does not exist.
"""

from __future__ import annotations

import pytest

from radicale_ext.cards.directory import name_conditions
from radicale_ext.cards.name_index import names_of
from radicale_ext.cards.projection import (
    EVERYTHING,
    BadCard,
    BadPolicy,
    Selector,
    changed_fields,
    fingerprint,
    in_words,
    parse_fields,
    project,
    read_card,
)

from ..card_samples import ALICE_30, CAROL_40, CLIENTS, FAMILY, FRIENDS, PHOTO_FOLDED, lines

UID = "urn:uuid:00000000-0000-0000-0000-000000000001"


def seen(text: str, fields: str) -> list[str]:
    projected = project(read_card(text), parse_fields(fields), UID)
    assert projected is not None
    return lines(projected.text)


def test_clients_see_name_organisation_and_work_numbers_only() -> None:
    assert seen(ALICE_30, CLIENTS) == [
        "VERSION:3.0", f"UID:{UID}", "N:;;;;",  # vCard 3.0 requires N: an empty one when N is not shown
        "FN:Dr. Alice Maria Ångström",
        "ORG:Acme Ltd.;Research",
        "TEL;TYPE=WORK,VOICE:+44 20 7946 0000",
        "EMAIL;TYPE=INTERNET,WORK:alice@acme.example",
    ]


def test_friends_see_mobiles_with_their_group_labels_home_mail_and_the_inline_photo_byte_for_byte() -> None:
    projected = project(read_card(ALICE_30), parse_fields(FRIENDS), UID)
    assert projected is not None
    assert lines(projected.text) == [
        "VERSION:3.0", f"UID:{UID}",
        "N:Ångström;Alice;Maria;Dr.;",
        "FN:Dr. Alice Maria Ångström",
        "NICKNAME:Ally",
        "TEL;TYPE=CELL:+44 7700 900123",
        "item1.TEL:+44 7700 900456",            # a mobile by its Apple label ...
        "item1.X-ABLabel:_$!<Mobile>!$_",       # ... which comes along
        "EMAIL;TYPE=INTERNET,HOME:alice@home.example",
        lines(PHOTO_FOLDED + "\r\n")[0],
    ]
    assert PHOTO_FOLDED + "\r\n" in projected.text  # the folded physical lines, as stored


def test_family_sees_everything_but_the_owners_identity_lines() -> None:
    everything = [line for line in lines(ALICE_30) if not line.startswith(("UID:", "REV:", "PRODID:"))]
    assert seen(ALICE_30, FAMILY) == [everything[0], f"UID:{UID}", *everything[1:]]
    assert "NOTE:Allergic to peanuts. Prefers e-mail to phone calls; call the office number between nine " \
           "and five." in seen(ALICE_30, FAMILY)


def test_a_grouped_address_brings_its_apple_format_line_and_only_its_own_group() -> None:
    assert [line for line in seen(ALICE_30, "FN, ADR home") if "ADR" in line] == [
        "item2.ADR;TYPE=HOME:;;1 Rose Street;Oxford;;OX1 1AA;United Kingdom", "item2.X-ABADR:gb"]
    assert not any(line.startswith("item1.") for line in seen(ALICE_30, "FN, ADR home"))
    assert not any(line.startswith("item2.") for line in seen(ALICE_30, "FN, ADR work"))


def test_vcard_40_types_in_quotes_uris_and_photo_by_uri() -> None:
    assert seen(CAROL_40, CLIENTS) == [
        "VERSION:4.0", f"UID:{UID}", "FN:Carol Østergaard",
        'TEL;VALUE=uri;TYPE="work,voice";PREF=1:tel:+45-1234-5678', "EMAIL;TYPE=work:carol@firm.example"]
    assert seen(CAROL_40, FRIENDS) == [
        "VERSION:4.0", f"UID:{UID}", "FN:Carol Østergaard", "N:Østergaard;Carol;;;",
        'TEL;VALUE=uri;TYPE="cell,text":tel:+45-8765-4321', "EMAIL;TYPE=home:carol@private.example",
        "PHOTO:https://photos.example/carol.jpg"]
    assert "N:;;;;" not in seen(CAROL_40, "FN")  # 4.0 does not require N


def test_bare_30_style_types_and_pref_are_types_too() -> None:
    card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Old Style\r\nTEL;WORK;VOICE:+1 555\r\nTEL;PREF;CELL:+1 666\r\n"
            "END:VCARD\r\n")
    assert seen(card, "FN, TEL work") == ["VERSION:3.0", f"UID:{UID}", "N:;;;;", "FN:Old Style",
                                          "TEL;WORK;VOICE:+1 555"]
    assert seen(card, "FN, TEL mobile")[-1] == "TEL;PREF;CELL:+1 666"


def test_a_projection_without_the_name_is_empty_and_not_a_card() -> None:
    assert project(read_card(ALICE_30), parse_fields("TEL work, EMAIL work"), UID) is None
    assert project(read_card(ALICE_30), (), UID) is None
    assert fingerprint(read_card(ALICE_30), parse_fields("TEL")) is None


def test_union_of_audiences_is_the_union_of_their_fields() -> None:
    both = seen(ALICE_30, f"{CLIENTS}, {FRIENDS}")
    assert set(both) == set(seen(ALICE_30, CLIENTS)) - {"N:;;;;"} | set(seen(ALICE_30, FRIENDS))


def test_identity_lines_never_change_a_projection() -> None:
    touched = ALICE_30.replace("REV:2026-01-01T00:00:00Z", "REV:2026-06-01T00:00:00Z").replace(
        "PRODID:-//Apple Inc.//iPhone OS 17.0//EN", "PRODID:-//Other//EN")
    for fields in (CLIENTS, FRIENDS, FAMILY):
        assert project(read_card(touched), parse_fields(fields), UID) == \
            project(read_card(ALICE_30), parse_fields(fields), UID)


def test_a_change_is_seen_only_by_audiences_that_see_the_field_and_said_in_words() -> None:
    before = read_card(ALICE_30)
    after = read_card(ALICE_30.replace("+44 7700 900123", "+44 7700 900999"))
    assert fingerprint(before, parse_fields(CLIENTS)) == fingerprint(after, parse_fields(CLIENTS))
    assert fingerprint(before, parse_fields(FRIENDS)) != fingerprint(after, parse_fields(FRIENDS))
    assert changed_fields(before, after, parse_fields(FRIENDS)) == ["mobile number"]
    assert in_words("Alice", ["mobile number"]) == "Alice's mobile number changed"
    moved = read_card(ALICE_30.replace("1 Rose Street", "2 Rose Street").replace("alice@acme", "ali@acme"))
    assert changed_fields(before, moved, EVERYTHING) == ["work e-mail address", "home address"]
    assert in_words("Alice", ["work e-mail address", "home address"]) == \
        "Alice's work e-mail address and home address changed"


def test_outlines_keep_no_values_yet_detect_the_same_changes() -> None:
    outline = read_card(ALICE_30).outline()
    assert "Ångström" not in repr(outline) and "7700" not in repr(outline)
    from radicale_ext.cards.projection import Card
    stored = Card.from_outline("3.0", outline)
    after = read_card(ALICE_30.replace("+44 7700 900123", "+44 7700 900999"))
    assert fingerprint(stored, parse_fields(CLIENTS)) == fingerprint(after, parse_fields(CLIENTS))
    assert fingerprint(stored, parse_fields(FRIENDS)) != fingerprint(after, parse_fields(FRIENDS))


@pytest.mark.parametrize(("text", "selectors"), [
    ("FN, ORG, TEL work, EMAIL work", [Selector("FN"), Selector("ORG"), Selector("TEL", "work"),
                                       Selector("EMAIL", "work")]),
    ("fn,tel Mobile", [Selector("FN"), Selector("TEL", "cell")]),
    ("*", [Selector("*")]), ("everything", [Selector("*")]),
    ("FN, X-SOCIALPROFILE", [Selector("FN"), Selector("X-SOCIALPROFILE")]),
])
def test_field_lists_as_people_type_them(text: str, selectors: list[Selector]) -> None:
    assert list(parse_fields(text)) == selectors


@pytest.mark.parametrize(("text", "message"), [
    ("FN, PHONE", "unknown vCard field 'PHONE'"),
    ("FN, TEL wrok", "unknown type 'wrok' for TEL"),
    ("FN work", "FN has no types"),
    ("UID", "UID is not a field an audience chooses"),
    ("", "the field list is empty"),
    ("TEL work home", "write a field and at most one type"),
])
def test_bad_field_lists_are_refused_with_one_sentence(text: str, message: str) -> None:
    with pytest.raises(BadPolicy) as raised:
        parse_fields(text)
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(("text", "message"), [
    ("not a card", "outside BEGIN:VCARD"),
    ("BEGIN:VCARD\r\nVERSION:3.0\r\nN:X;;;;\r\nEND:VCARD\r\n", "needs FN"),
    ("BEGIN:VCARD\r\nVERSION:2.1\r\nFN:X\r\nEND:VCARD\r\n", "vCard 3.0 or 4.0"),
    (ALICE_30 + CAROL_40, "exactly one vCard"),
    ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\n", "exactly one vCard"),
    ("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "found BEGIN:VCALENDAR"),
])
def test_what_cannot_be_a_me_card(text: str, message: str) -> None:
    with pytest.raises(BadCard) as raised:
        read_card(text)
    assert message in str(raised.value)


def test_names_for_the_directory_cover_fn_n_and_nicknames() -> None:
    found = names_of(read_card(ALICE_30))
    assert ("FN", "dr. alice maria ångström") in found
    assert ("N", "dr. alice maria ångström ") in found     # N as "prefix given additional family suffix"
    assert ("NICKNAME", "ally") in found


def test_only_name_queries_without_negation_are_narrowed() -> None:
    import xml.etree.ElementTree as ET

    def query(body: str) -> list:
        ns = 'xmlns:C="urn:ietf:params:xml:ns:carddav"'
        return [ET.fromstring(f"<C:filter {ns} {body}</C:filter>")]

    assert name_conditions(query('><C:prop-filter name="FN"><C:text-match>ann</C:text-match></C:prop-filter>')) \
        == [("FN", "ann")]
    assert name_conditions(query('><C:prop-filter name="EMAIL"><C:text-match>a</C:text-match></C:prop-filter>')) \
        is None
    assert name_conditions(query('><C:prop-filter name="FN"><C:text-match negate-condition="yes">a'
                                 '</C:text-match></C:prop-filter>')) is None
    assert name_conditions(query(' test="allof"><C:prop-filter name="FN"><C:text-match>a</C:text-match>'
                                 '</C:prop-filter><C:prop-filter name="EMAIL"><C:is-not-defined/>'
                                 '</C:prop-filter>')) == [("FN", "a")]
