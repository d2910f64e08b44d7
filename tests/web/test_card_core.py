"""What the My card page offers, without a browser or a server: the cards core's operations the page
and the command line call (radicale_ext/cards), each with its permission check inside, on a Site in a
temporary folder; and the words of fields, each in the Chinese catalog."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from radicale_ext.base import layout
from radicale_ext.base.errors import Conflict, Forbidden, NotFound
from radicale_ext.base.model import Grantee, GranteeKind, Role, ShareBasis
from radicale_ext.cards import me_cards
from radicale_ext.cards.consent import ConsentBook
from radicale_ext.cards.me_cards import Candidate
from radicale_ext.cards.projection import (
    _FIELD_WORDS,
    WORDED_FIELDS,
    WORDED_TYPES,
    BadPolicy,
    CardLine,
    Selector,
    card_name,
    choice_words,
    offered,
    parse_fields,
    read_card,
)
from radicale_ext.cli.collections import homes_of
from radicale_ext.homes.properties import Kind
from radicale_ext.site import Settings, Site
from radicale_ext.web.i18n import Speaker
from radicale_ext.web.pages import card_words

from ..server import USERS, write_users
from .test_card import ALICE, CAROL, GRANDMA, MARKUP

FAMILY = Grantee(GranteeKind.CIRCLE, "family")
BOB = Grantee(GranteeKind.USER, "bob")


@pytest.fixture
def site(tmp_path: Path):
    write_users(tmp_path / "users", USERS)
    site = Site(Settings(collections_folder=str(tmp_path / "collections"), database_path=str(tmp_path / "db.sqlite"),
                         groups_file=None, htpasswd_file=str(tmp_path / "users"), rights_file=None))
    yield site
    site.db.close()


def book(site: Site, owner: str, name: str, cards: dict[str, str], kind: Kind = Kind.ADDRESS_BOOK) -> str:
    """An address book of ``owner`` holding ``cards`` (file name -> vCard), as a client would leave it."""
    made = homes_of(site).create(owner, kind=kind, display_name=name, actor=owner)
    folder = layout.collection_folder(site.settings.collections_folder, made.path)
    for href, text in cards.items():
        with open(os.path.join(folder, href), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return made.path


def write(site: Site, collection: str, href: str, text: str) -> None:
    with open(os.path.join(layout.collection_folder(site.settings.collections_folder, collection), href), "w",
              encoding="utf-8", newline="") as f:
        f.write(text)


@pytest.fixture
def alice(site: Site) -> str:
    """alice's Kontakte with her card chosen, shared with circle family (bob, dave): name and mobile."""
    path = book(site, "alice", "Kontakte 家庭", {"alice.vcf": ALICE, "oma.vcf": GRANDMA})
    site.circles.create("family", ["alice"], actor=None)
    site.circles.add_members("family", ["bob", "dave"], actor="alice")
    site.cards.set_me(path, card="alice.vcf", actor="alice")
    site.cards.share("alice", FAMILY, "FN, TEL cell", actor="alice")
    return path


# -- the fields of a card, in words ------------------------------------------------------------

def test_the_fields_a_card_offers_in_words_with_their_values_in_an_address_books_order() -> None:
    choices = [(str(c.selector), c.words, c.values) for c in offered(read_card(ALICE))]
    assert choices == [
        ("FN", "name", ("Alice Müller-Lüdenscheidt (王秀英)",)),
        ("N", "name in parts", ("Müller-Lüdenscheidt, Alice, 秀英",)),
        ("TEL cell", "mobile number", ("+49 170 1234567",)),
        ("EMAIL home", "home e-mail address", ("alice@mueller.example",)),
        ("ADR home", "home address", ("Königstraße 5, München, 80331, Deutschland",)),   # its Apple label comes along
        ("ORG", "organisation", ("Bäckerei Groß GmbH",)),
        ("BDAY", "birthday", ("1984-02-29",)),
        ("NOTE", "note", ("Fußball am Sonntag 🎉, Grüße an alle",)),
    ]
    # each entry is one the field list takes, and selects the lines it was offered for
    for choice in offered(read_card(ALICE)):
        assert parse_fields(str(choice.selector)) == (choice.selector,)
    # 4.0: tel: URIs, a type list in quotes, a photo by URI, nothing empty offered
    carol = read_card("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Carol\r\nN:;;;;\r\n"
                      'TEL;VALUE=uri;TYPE="work,voice":tel:+45-1234-5678\r\nTEL:+45 0000\r\n'
                      "PHOTO:https://photos.example/carol.jpg\r\nEND:VCARD\r\n")
    assert [(str(c.selector), c.words, c.values, c.picture) for c in offered(carol)] == [
        ("FN", "name", ("Carol",), False),
        ("PHOTO", "photo", ("https://photos.example/carol.jpg",), True),
        ("TEL work", "work phone number", ("+45-1234-5678",), False),
        ("TEL", "phone number", ("+45 0000",), False),
    ]


def test_the_name_of_a_stored_card_read_fast_is_the_name_read_whole() -> None:
    for text in (ALICE, GRANDMA, MARKUP, CAROL):
        assert card_name(text.encode()) == read_card(text).name
    folded = ("BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:FN:not this\r\n"
              'item1.FN;X-NOTE="a:b";CHARSET=UTF-8:Dr. Hans-Jürgen\r\n  Groß\\, 王\r\nEND:VCARD\r\n')
    assert card_name(folded.encode()) == "Dr. Hans-Jürgen Groß, 王"
    assert card_name(b"BEGIN:VCARD\nVERSION:3.0\nX-FN:no\nFN:\nEND:VCARD\n") is None


def test_every_word_of_a_field_is_marked_and_translated() -> None:
    words = set(_FIELD_WORDS.values()) | {"everything", "mobile number", choice_words(Selector("N"))}
    for field in WORDED_FIELDS:
        for kind in (*WORDED_TYPES, "cell"):
            words.add(CardLine("", field, frozenset({kind}), "").words)
            words.add(Selector(field, kind).words)
    assert words == set(card_words.WORDS)
    chinese = Speaker("zh_Hans")
    assert [w for w in sorted(words) if chinese.gettext(w) == w] == []
    assert chinese.gettext("mobile number") == "手机号码"


# -- my card: only mine ------------------------------------------------------------------------

def test_the_cards_i_may_choose_are_those_of_my_own_address_books(site: Site) -> None:
    book(site, "alice", "Kontakte 家庭", {"alice.vcf": ALICE, "oma.vcf": GRANDMA})
    nameless = "BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n"
    book(site, "alice", "Fußball 🎉", {"markup.vcf": MARKUP, "no-name.vcf": nameless})
    book(site, "alice", "Termine", {}, kind=Kind.CALENDAR)
    book(site, "bob", "contacts", {"bob.vcf": CAROL})
    found = [(c.book, c.place, c.name) for c in site.cards.candidates("alice", actor="alice")]
    assert found == [("Fußball 🎉", "alice/Fußball 🎉/markup.vcf", "<script>alert(1)</script>"),
                     ("Fußball 🎉", "alice/Fußball 🎉/no-name.vcf", "no-name.vcf"),
                     ("Kontakte 家庭", "alice/Kontakte 家庭/alice.vcf", "Alice Müller-Lüdenscheidt (王秀英)"),
                     ("Kontakte 家庭", "alice/Kontakte 家庭/oma.vcf", "Oma Gisela 🎂")]
    assert site.cards.candidates("frank", actor="frank") == []
    with pytest.raises(Forbidden):
        site.cards.candidates("alice", actor="bob")
    assert len(site.cards.candidates("alice", actor=None)) == 4   # the admin


def test_a_card_is_found_by_its_name_as_a_person_types_it() -> None:
    card = Candidate("/alice/Kontakte 家庭/", "Kontakte 家庭", "zoe.vcf", "Zoe\u0308 Müller-Weiß (王秀英) 🎉")
    for typed in ("", "ZOË", "zoë", "müller", "MÜLLER-WEISS", "weiß", "王秀英", "🎉", "Ｍüller"):
        assert card.named_like(typed), typed
    for typed in ("家庭", "zoe.vcf", "Mueller", "Zoe Müller"):
        assert not card.named_like(typed), typed


def test_the_names_of_my_cards_are_read_once_per_version_of_their_file(site: Site, monkeypatch) -> None:
    path = book(site, "alice", "Kontakte 家庭", {"alice.vcf": ALICE, "oma.vcf": GRANDMA})
    folder = layout.collection_folder(site.settings.collections_folder, path)
    read: list[bytes] = []

    def counted(data: bytes) -> str | None:
        read.append(data)
        return card_name(data)

    monkeypatch.setattr(me_cards, "card_name", counted)
    names = [c.name for c in site.cards.candidates("alice", actor="alice")]
    assert names == ["Alice Müller-Lüdenscheidt (王秀英)", "Oma Gisela 🎂"] and len(read) == 2
    assert [c.name for c in site.cards.candidates("alice", actor="alice")] == names and len(read) == 2
    # a client changes a card as Radicale stores it: a new file put in place; here even of the same size
    # and modification time, so only the file itself tells the change
    old = os.stat(os.path.join(folder, "alice.vcf"))
    changed = ALICE.replace("FN:Alice", "FN:Alise")
    with open(os.path.join(folder, ".new"), "w", encoding="utf-8", newline="") as f:
        f.write(changed)
    os.utime(os.path.join(folder, ".new"), ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(os.path.join(folder, ".new"), os.path.join(folder, "alice.vcf"))
    assert os.stat(os.path.join(folder, "alice.vcf")).st_size == old.st_size
    assert [c.name for c in site.cards.candidates("alice", actor="alice")] == [
        "Alise Müller-Lüdenscheidt (王秀英)", "Oma Gisela 🎂"] and len(read) == 3
    os.remove(os.path.join(folder, "oma.vcf"))
    assert [c.name for c in site.cards.candidates("alice", actor="alice")] == ["Alise Müller-Lüdenscheidt (王秀英)"]


def test_overview_and_preview_show_what_each_audience_sees_and_save_nothing(site: Site, alice: str) -> None:
    overview = site.cards.overview("alice", actor="alice")
    assert str(overview.me) == "alice/Kontakte 家庭/alice.vcf" and overview.card.name.startswith("Alice Müller")
    assert [str(c.selector) for c in overview.choices][:3] == ["FN", "N", "TEL cell"]
    [(audience, seen)] = overview.audiences
    assert audience.grantee == FAMILY and [(f.words, f.values) for f in seen.shown] == [
        ("name", ("Alice Müller-Lüdenscheidt (王秀英)",)), ("mobile number", ("+49 170 1234567",))]
    preview = site.cards.preview("alice", ["FN", "ADR home", "NOTE"], actor="alice")
    assert [f.words for f in preview.shown] == ["name", "home address", "note"]
    assert "Königstraße 5" in preview.card.text and "+49" not in preview.card.text
    assert site.cards.preview("alice", ["TEL cell"], actor="alice").card is None     # no name: nothing
    assert site.cards.preview("alice", [], actor="alice").shown == ()
    assert [str(s) for s in site.cards.audiences("alice")[0].selectors] == ["FN", "TEL cell"]   # unchanged
    with pytest.raises(BadPolicy):
        site.cards.preview("alice", ["TEL wrok"], actor="alice")
    with pytest.raises(Conflict):
        site.cards.preview("erin", ["FN"], actor="erin")
    for call in (lambda: site.cards.overview("alice", actor="bob"),
                 lambda: site.cards.preview("alice", ["*"], actor="bob"),
                 lambda: site.cards.set_me(alice, card="oma.vcf", actor="bob"),
                 lambda: site.cards.share("alice", BOB, "*", actor="bob"),
                 lambda: site.cards.unshare("alice", FAMILY, actor="bob"),
                 lambda: site.cards.unset_me("alice", actor="bob")):
        with pytest.raises(Forbidden):
            call()
    assert site.cards.me_card("alice") is not None and len(site.cards.audiences("alice")) == 1


def test_stop_having_a_me_card_tells_whoever_saw_it_and_forgets_its_audiences(site: Site, alice: str) -> None:
    site.shared_contacts.ask_first("dave", True, actor="dave")
    assert set(site.shared_contacts.served("bob")) == {"alice"}
    me = site.cards.unset_me("alice", actor="alice")
    assert str(me) == "alice/Kontakte 家庭/alice.vcf"
    assert site.cards.me_card("alice") is None and site.cards.audiences("alice") == []
    assert site.shared_contacts.served("bob") == {} and site.shared_contacts.served("dave") == {}
    for person in ("bob", "dave"):
        [notice] = [n.data for n in site.notices.notices(person) if n.kind.value == "card-changed"]
        assert notice["summary"] == "alice's card is no longer shared with you"
    assert ConsentBook(site.db).accepted("dave") == {}   # the copy kept for asking first is gone
    assert site.directory.lookup("bob", "Müller", "contains") == []
    with pytest.raises(NotFound):
        site.cards.unset_me("alice", actor="alice")
    # chosen again: shared with nobody until she says so
    site.cards.set_me(alice, card="alice.vcf", actor="alice")
    assert site.cards.audiences("alice") == [] and site.shared_contacts.served("bob") == {}


def test_what_the_people_of_a_share_see_of_the_card_in_it(site: Site, alice: str) -> None:
    site.shares.add(alice, Grantee(GranteeKind.USER, "erin"), Role.SUBSCRIBER, actor=None,
                    basis=ShareBasis.AT_ONCE)
    site.cards.share("alice", Grantee(GranteeKind.USER, "frank"), "*", actor="alice")
    people = {p for share in site.shares.shares_of(alice) for p in site.cards.people_of(share.grantee)}
    people |= site.cards.people_of(FAMILY) | {"frank", "alice"}
    exposure = site.cards.share_exposure(alice, people, site.circles.circles_of)
    assert str(exposure.me) == "alice/Kontakte 家庭/alice.vcf"
    assert [(p, [str(s) for s in f]) for p, f in exposure.seen] == [
        ("bob", ["FN", "TEL cell"]), ("dave", ["FN", "TEL cell"]), ("erin", []), ("frank", ["*"])]
    assert site.cards.share_warning(alice, people, site.circles.circles_of).splitlines()[1:] == [
        "  bob sees FN, TEL cell", "  dave sees FN, TEL cell", "  erin sees nothing of it", "  frank sees all of it"]
    other = book(site, "alice", "Oma", {"oma.vcf": GRANDMA})
    assert site.cards.share_exposure(other, people, site.circles.circles_of) is None
    assert site.cards.people_of(Grantee(GranteeKind.CIRCLE, "gone")) == frozenset()


# -- cards others share with me: only my answers -------------------------------------------------

def test_ask_first_and_the_answers_are_the_persons_own(site: Site, alice: str) -> None:
    carol = book(site, "carol", "contacts", {"carol.vcf": CAROL})
    site.cards.set_me(carol, card="carol.vcf", actor="carol")
    site.cards.share("carol", BOB, "FN, TEL, TITLE", actor="carol")
    assert [(s.owner, s.name, s.asks_first) for s in site.shared_contacts.senders("bob", actor="bob")] == [
        ("alice", "Alice Müller-Lüdenscheidt (王秀英)", False), ("carol", "Carol Østergaard", False)]
    site.shared_contacts.ask_first("bob", True, "carol", actor="bob")
    assert site.shared_contacts.modes("bob", actor="bob").per_owner == {"carol": True}
    write(site, carol, "carol.vcf", CAROL.replace("8765 4321", "1111 2222"))
    site.cards.settle("carol")
    [waiting] = site.shared_contacts.pending("bob", actor="bob")
    assert (waiting.owner, waiting.fields) == ("carol", ["mobile number"])
    contacts = site.shared_contacts
    for call in (lambda: contacts.senders("bob", actor="erin"), lambda: contacts.modes("bob", actor="erin"),
                 lambda: contacts.pending("bob", actor="erin"), lambda: contacts.accept("bob", "carol", actor="erin"),
                 lambda: contacts.decline("bob", "carol", actor="alice"),
                 lambda: contacts.ask_first("bob", False, actor="carol")):
        with pytest.raises(Forbidden):
            call()
    assert contacts.accept("bob", "carol", actor="bob").owner == "carol"
    assert "1111 2222" in contacts.served("bob")["carol"].text
    with pytest.raises(NotFound):
        contacts.decline("bob", "carol", actor="bob")
    with pytest.raises(Conflict):
        contacts.accept("bob", "alice", actor="bob")       # changes of alice's card show at once for him
    contacts.ask_first("bob", True, actor=None)             # the admin, as the command line's --as-less form
    assert contacts.modes("bob").default is True and contacts.modes("bob").per_owner == {}
