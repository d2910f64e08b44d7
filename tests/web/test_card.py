"""My card on the page (issue 14, item 6), on a real server: over HTTP as a browser speaks (forms and
cookies), and in headless Chromium for the flow the issue names (alice ticks "phone" for circle family;
bob's Shared contacts, read over CardDAV, shows the phone and nothing else; then the e-mail too).

alice keeps a real-world card (umlauts, a Chinese name, an emoji in the note) in her address book
"Kontakte 家庭"; circle family is bob and dave; carol shares her own card with bob; erin is in
nothing (the outsider).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import vobject
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from radicale_ext.site import Settings, Site

from ..samples import VCF, address_book_mkcol
from ..server import Server, make_server
from .conftest import screenshot
from .page_kit import Browser
from .test_browser import go, log_in, submit

BOOK = "/alice/Kontakte/"
BOOK_NAME = "Kontakte 家庭"
ALICE = ("BEGIN:VCARD\r\n"
         "VERSION:3.0\r\n"
         "PRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\n"
         "UID:4E0C1B3A-6F1D-4B8E-9C2A-alice\r\n"
         "N:Müller-Lüdenscheidt;Alice;秀英;;\r\n"
         "FN:Alice Müller-Lüdenscheidt (王秀英)\r\n"
         "TEL;TYPE=CELL:+49 170 1234567\r\n"
         "EMAIL;TYPE=INTERNET,HOME:alice@mueller.example\r\n"
         "item1.ADR;TYPE=HOME:;;Königstraße 5;München;;80331;Deutschland\r\n"
         "item1.X-ABADR:de\r\n"
         "BDAY:1984-02-29\r\n"
         "NOTE:Fußball am Sonntag 🎉\\, Grüße an alle\r\n"
         "ORG:Bäckerei Groß GmbH\r\n"
         "END:VCARD\r\n")
GRANDMA = ("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:oma\r\nFN:Oma Gisela 🎂\r\nTEL;TYPE=home:+49 89 4711\r\n"
           "END:VCARD\r\n")
MARKUP = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:markup\r\nN:;;;;\r\nFN:<script>alert(1)</script>\r\n"
          "END:VCARD\r\n")
CAROL = ("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:carol\r\nFN:Carol Østergaard\r\nTEL;TYPE=cell:+45 8765 4321\r\n"
         "TITLE:Chorleiterin\r\nEND:VCARD\r\n")
ALICE_VALUES = ("+49 170 1234567", "alice@mueller.example", "Königstraße 5", "1984-02-29", "Fußball am Sonntag",
                "Bäckerei Groß")


def put(srv: Server, user: str, path: str, text: str) -> None:
    r = srv.request("PUT", quote(path), user, text, headers=VCF)
    assert r.status_code in (201, 204), r.text


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("card")).start()
    assert server.request("MKCOL", BOOK, "alice", address_book_mkcol(BOOK_NAME)).status_code == 201
    put(server, "alice", BOOK + "alice.vcf", ALICE)
    put(server, "alice", BOOK + "oma.vcf", GRANDMA)
    assert server.request("MKCOL", quote("/alice/Fußball 🎉/"), "alice",
                          address_book_mkcol(html.escape("Fußball 🎉 <b>Verein</b>"))).status_code == 201
    put(server, "alice", "/alice/Fußball 🎉/markup.vcf", MARKUP)
    for user in ("bob", "carol"):
        assert server.request("MKCOL", f"/{user}/contacts/", user, address_book_mkcol("Contacts")).status_code == 201
    put(server, "bob", "/bob/contacts/bob.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bob\r\nN:;;;;\r\n"
        "FN:Bob Builder\r\nEND:VCARD\r\n")
    put(server, "carol", "/carol/contacts/carol.vcf", CAROL)
    server.ok("circle", "create", "family", "--manager", "alice")
    server.ok("circle", "add", "family", "bob", "dave", acting_as="alice")
    server.ok("card", "set-me", "carol/contacts/carol.vcf", acting_as="carol")
    server.ok("card", "share", "--user", "bob", "--fields", "FN, TEL, TITLE", acting_as="carol")
    yield server
    server.stop()


def fresh_alice(srv: Server, *, chosen: bool = True, family: str | None = None) -> None:
    """alice's card as a test wants it: no me card, or chosen (and shared with family with ``family``)."""
    if srv.cli("card", "show", acting_as="alice").code == 0:
        srv.ok("card", "unset-me", acting_as="alice")
    put(srv, "alice", BOOK + "alice.vcf", ALICE)
    if chosen:
        srv.ok("card", "set-me", "alice/Kontakte/alice.vcf", acting_as="alice")
    if family:
        srv.ok("card", "share", "--circle", "family", "--fields", family, acting_as="alice")


def audiences(srv: Server) -> list[dict]:
    result = srv.cli("card", "show", "--json", acting_as="alice")
    return json.loads(result.out)[0]["audiences"] if result.code == 0 else []


def shared_card(srv: Server, user: str, owner: str = "alice") -> vobject.base.Component | None:
    """``owner``'s card in ``user``'s Shared contacts, read over CardDAV as ``user``."""
    r = srv.request("GET", f"/{user}/.shared-contacts/{owner}.vcf", user)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return vobject.readOne(r.content.decode("utf-8"))


def fields_of(card: vobject.base.Component | None) -> set[str]:
    """The properties a card shows, besides its identity and an empty N (vCard 3.0 requires one)."""
    if card is None:
        return set()
    found = {child.name for child in card.getChildren()} - {"VERSION", "UID"}
    if "N" in found and not str(card.n.value).strip():
        found.discard("N")
    return found


def card_notices(srv: Server, user: str) -> list[str]:
    """The sentences of the card notices in ``user``'s notification collection."""
    site = Site(Settings.from_ini(str(srv.config)))
    try:
        return [n.data["summary"] for n in site.notices.notices(user) if n.kind.value == "card-changed"]
    finally:
        site.db.close()


def text_of(r) -> str:
    """What the page says: its text without tags, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r.text)).split()).replace(" )", ")").replace("( ", "(")


# -- choosing my card --------------------------------------------------------------------------

def test_choose_my_card_from_my_own_address_books_and_stop_having_one(srv: Server) -> None:
    fresh_alice(srv, chosen=False)
    alice = Browser(srv).logged_in("alice")
    page = alice.get("/card")
    assert page.status_code == 200
    shown = text_of(page)
    assert "You have no me card yet" in shown
    # the cards of her own address books, by name in any language, grouped by address book
    for name in ("Alice Müller-Lüdenscheidt (王秀英)", "Oma Gisela 🎂", "<script>alert(1)</script>", BOOK_NAME,
                 "Fußball 🎉 <b>Verein</b>"):
        assert name in shown, name
    assert "<script>alert(1)</script>" not in page.text and "<b>Verein</b>" not in page.text
    assert "Bob Builder" not in shown and "Carol" not in shown          # nobody else's cards
    r = alice.post("/card/me", {"card": BOOK + "alice.vcf"})
    assert r.status_code == 303 and "done=chosen" in r.headers["Location"]
    assert "me card: alice/Kontakte/alice.vcf" in srv.ok("card", "show", acting_as="alice")
    shown = text_of(alice.get("/card"))
    assert "Your me card is “Alice Müller-Lüdenscheidt (王秀英)” in the address book “Kontakte 家庭”" in shown
    assert "You share your card with nobody yet" in shown
    # a card that cannot be a me card: the page says why, nothing changes
    r = alice.post("/card/me", {"card": "/alice/Fußball 🎉/nothing.vcf"})
    assert r.status_code == 404 and "no card named or with UID 'nothing.vcf'" in text_of(r)
    assert "me card: alice/Kontakte/alice.vcf" in srv.ok("card", "show", acting_as="alice")
    # stop having one: a confirmation that says who loses it, then nobody sees it and its audiences go
    srv.ok("card", "share", "--circle", "family", "--fields", "FN, TEL", acting_as="alice")
    assert fields_of(shared_card(srv, "bob")) == {"FN", "TEL"}
    confirm = alice.get("/card/stop")
    assert confirm.status_code == 200
    assert re.search(r'class="person">bob<.*class="person">dave<', confirm.text, re.S)
    r = alice.post("/card/stop", {"owner": "alice"})
    assert r.status_code == 303 and "done=stopped" in r.headers["Location"]
    assert shared_card(srv, "bob") is None
    assert srv.cli("card", "show", acting_as="alice").code != 0 and audiences(srv) == []
    assert card_notices(srv, "bob")[-1] == "alice's card is no longer shared with you"
    assert "You have no me card yet" in text_of(alice.get("/card"))
    assert alice.get("/card/stop").status_code == 303   # nothing to stop


def test_a_large_address_book_lists_fifty_cards_and_finds_mine_by_name(srv: Server) -> None:
    folder = srv.root / "data" / "collections" / "collection-root" / "grace" / "Adressen"
    assert srv.request("MKCOL", "/grace/Adressen/", "grace", address_book_mkcol("Adressen")).status_code == 201
    for i in range(70):
        (folder / f"c{i:02}.vcf").write_text(f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c{i}\r\nN:;;;;\r\n"
                                             f"FN:Kunde {i:02}\r\nEND:VCARD\r\n", encoding="utf-8")
    # her name as macOS may store it: "ë" decomposed (e + U+0308)
    put(srv, "grace", "/grace/Adressen/ich.vcf", "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:grace\r\n"
        "FN:Zoe\u0308 Grace Hopper-Weiß\r\nEND:VCARD\r\n")
    grace = Browser(srv).logged_in("grace")
    page = grace.get("/card")
    assert page.text.count('name="card"') == 50 and "and 21 more cards: find yours by name" in text_of(page)
    assert "Grace Hopper-Weiß" not in text_of(page)
    # the search is a plain GET form (no script, no token: it changes nothing)
    search = re.search(r'<form method="get" action="/.my/card" role="search"[^>]*>(.*?)</form>', page.text, re.S)
    assert search and 'name="find"' in search[1] and "csrf" not in search[1]
    # case, ß and Unicode forms aside: "ZOË" (composed) and "weiss" find "Zoë … Weiß"
    for typed in ("hopper-weiß", "  ZOË   grace ", "weiss"):
        found = grace.get("/card", params={"find": typed})
        assert found.status_code == 200 and found.text.count('name="card"') == 1, typed
        assert "Zoe\u0308 Grace Hopper-Weiß" in text_of(found) and "more card" not in text_of(found), typed
    assert grace.get("/card", params={"find": "Kunde 6"}).text.count('name="card"') == 10
    nothing = grace.get("/card", params={"find": "<b>zz"})
    assert nothing.status_code == 200 and 'name="card"' not in nothing.text
    assert "No card here has “<b>zz” in its name." in text_of(nothing) and "<b>zz" not in nothing.text
    assert 'value="&lt;b&gt;zz"' in nothing.text      # what she typed stays in the box, escaped
    # a very long text is cut to the box's length, not an error
    long = grace.get("/card", params={"find": "Kunde" + "x" * 5000})
    assert long.status_code == 200 and 'value="Kunde' + "x" * 95 + '"' in long.text
    # choose the card found: the form posts as without a search
    found = grace.get("/card", params={"find": "weiß"})
    assert grace.post("/card/me", {"card": "/grace/Adressen/ich.vcf"}).status_code == 303
    assert "me card: grace/Adressen/ich.vcf" in srv.ok("card", "show", acting_as="grace")
    page = grace.get("/card")     # the me card is always listed, checked
    assert page.text.count('name="card"') == 51
    assert re.search(r'value="/grace/Adressen/ich.vcf" checked', page.text)
    # a search that finds nothing still lists the me card, and says so
    other = grace.get("/card", params={"find": "Kunde 99"})
    assert other.text.count('name="card"') == 1 and "No card here has “Kunde 99” in its name." in text_of(other)
    # in Chinese
    chinese = Browser(srv, language="zh-CN").logged_in("grace")
    shown = text_of(chinese.get("/card"))
    assert "按姓名查找名片" in shown and "还有 21 张名片：请按姓名查找你的名片" in shown and "全部显示" not in shown
    shown = text_of(chinese.get("/card", params={"find": "家庭"}))
    assert "这里没有姓名中包含“家庭”的名片。" in shown and "全部显示" in shown and "查找" in shown
    assert "Find a card by name" not in shown and "No card here" not in shown


def test_find_looks_only_among_my_own_cards(srv: Server) -> None:
    fresh_alice(srv, chosen=False)
    alice, bob, erin, anonymous = (Browser(srv).logged_in("alice"), Browser(srv).logged_in("bob"),
                                   Browser(srv).logged_in("erin"), Browser(srv))
    # alice, in a small address book: no search box, but a search still works (a link, a bookmark)
    assert 'id="find"' not in alice.get("/card").text
    for typed, name in (("müller", "Alice Müller-Lüdenscheidt (王秀英)"), ("MÜLLER", "Alice Müller-Lüdenscheidt"),
                        ("王秀英", "Alice Müller-Lüdenscheidt (王秀英)"), ("🎂", "Oma Gisela 🎂"),
                        ("<script>", "<script>alert(1)</script>")):
        r = alice.get("/card", params={"find": typed})
        assert r.status_code == 200 and r.text.count('name="card"') == 1 and name in text_of(r), typed
        assert 'id="find"' in r.text
    r = alice.get("/card", params={"find": "<script>"})
    assert "<script>alert(1)</script>" not in r.text and "Fußball 🎉 <b>Verein</b>" in text_of(r)
    assert "Kontakte 家庭" not in text_of(r)     # an address book without a card found is left out
    # an address book's name is not a card's name
    r = alice.get("/card", params={"find": "家庭"})
    assert "No card here has “家庭” in its name." in text_of(r) and 'name="card"' not in r.text
    assert "None of your address books has a card yet" not in text_of(r)
    # searching changes nothing
    assert srv.cli("card", "show", acting_as="alice").code != 0
    # bob and erin find only their own cards, whatever they type or name
    for who, own in ((bob, "Bob Builder"), (erin, None)):
        for query in ({"find": "Müller"}, {"find": "oma"}, {"find": "Müller", "owner": "alice"},
                      {"find": "alice.vcf"}, {"find": "<script>"}):
            r = who.get("/card", params=query)
            assert r.status_code == 200, query
            shown = text_of(r)
            assert not any(v in shown for v in ("Oma Gisela", "<script>alert(1)</script>", *ALICE_VALUES)), query
            assert "/alice/" not in r.text, query
        if own:
            r = who.get("/card", params={"find": "builder"})
            assert r.text.count('name="card"') == 1 and own in text_of(r)
    r = anonymous.get("/card", params={"find": "Müller"})
    assert r.status_code == 303 and "/login?next=" in r.headers["Location"]
    assert "Müller" not in r.text


# -- who sees what -----------------------------------------------------------------------------

def test_the_fields_offered_are_the_cards_in_words_with_their_values(srv: Server) -> None:
    fresh_alice(srv, family="FN, TEL cell")
    alice = Browser(srv).logged_in("alice")
    page = alice.get("/card")
    shown = text_of(page)
    for words in ("name", "name in parts", "mobile number", "home e-mail address", "home address", "birthday",
                  "note", "organisation", "everything"):
        assert re.search(rf"<label for=\"a1-\d+\">{re.escape(words)}</label>", page.text), words
    for value in ("Alice Müller-Lüdenscheidt (王秀英)", "Müller-Lüdenscheidt, Alice, 秀英", "+49 170 1234567",
                  "Königstraße 5, München, 80331, Deutschland", "Fußball am Sonntag 🎉, Grüße an alle"):
        assert value in shown, value
    ticked = set(re.findall(r'name="field:([^"]+)" checked', page.text))
    assert {t for t in ticked if not t.startswith("FN")} >= {"TEL cell"} and "FN" in ticked
    # the preview beside the boxes: what circle family sees now
    pane = page.text.split('id="pane-1"')[1].split("</section>")[0]
    assert "What circle “family” sees" in html.unescape(pane)
    assert "+49 170 1234567" in pane and "Königstraße" not in pane and "Fußball" not in pane


def test_tick_phone_then_email_and_bob_sees_exactly_that(srv: Server) -> None:
    fresh_alice(srv)
    alice = Browser(srv).logged_in("alice")
    alice.get("/card")
    r = alice.post("/card/audience/add", {"owner": "alice", "kind": "circle", "name": "family", "field:FN": "on",
                                          "field:TEL cell": "on"})
    assert r.status_code == 303 and "done=added" in r.headers["Location"]
    assert audiences(srv) == [{"audience": "circle:family", "fields": "FN, TEL cell"}]
    bob = shared_card(srv, "bob")
    assert fields_of(bob) == {"FN", "TEL"} and bob.tel.value == "+49 170 1234567"
    assert fields_of(shared_card(srv, "dave")) == {"FN", "TEL"}
    assert shared_card(srv, "erin") is None
    alice.get("/card")
    r = alice.post("/card/audience", {"owner": "alice", "audience": "circle:family", "field:FN": "on",
                                      "field:TEL cell": "on", "field:EMAIL home": "on"})
    assert r.status_code == 303 and "done=saved" in r.headers["Location"]
    bob = shared_card(srv, "bob")
    assert fields_of(bob) == {"FN", "TEL", "EMAIL"} and bob.email.value == "alice@mueller.example"
    # a person as an audience, and removing one
    alice.get("/card")
    assert alice.post("/card/audience/add", {"owner": "alice", "kind": "user", "name": "erin",
                                             "field:FN": "on", "field:BDAY": "on"}).status_code == 303
    assert fields_of(shared_card(srv, "erin")) == {"FN", "BDAY"}
    assert alice.post("/card/audience/remove", {"owner": "alice", "audience": "user:erin"}).status_code == 303
    assert shared_card(srv, "erin") is None
    # nothing ticked, an unknown circle or person: the page says why, nothing changes
    before = audiences(srv)
    r = alice.post("/card/audience", {"owner": "alice", "audience": "circle:family"})
    assert r.status_code == 400 and "tick at least one field" in text_of(r)
    r = alice.post("/card/audience/add", {"owner": "alice", "kind": "circle", "name": "famliy", "field:FN": "on"})
    assert r.status_code == 404 and "no circle named 'famliy'" in text_of(r)
    assert 'value="famliy"' in r.text      # the form keeps what was typed
    r = alice.post("/card/audience/add", {"owner": "alice", "kind": "user", "name": "<b>zoe</b>", "field:FN": "on"})
    assert r.status_code == 400 and "<b>zoe</b>" not in r.text and "&lt;b&gt;zoe&lt;/b&gt;" in r.text
    r = alice.post("/card/audience", {"owner": "alice", "audience": "circle:family", "field:TEL wrok": "on"})
    assert r.status_code == 400 and "unknown type 'wrok'" in text_of(r)
    assert audiences(srv) == before


def test_preview_without_javascript_and_for_the_script(srv: Server) -> None:
    fresh_alice(srv, family="FN")
    alice = Browser(srv).logged_in("alice")
    alice.get("/card")
    form = {"owner": "alice", "audience": "circle:family", "field:FN": "on", "field:ADR home": "on"}
    # the Preview button without JavaScript: the whole page, the boxes as ticked, the preview beside, nothing saved
    r = alice.post("/card/preview", form)
    assert r.status_code == 200 and "<h1>My card</h1>" in r.text
    pane = html.unescape(r.text.split('id="pane-1"')[1].split("</section>")[0])
    assert "A preview: not saved yet." in pane and "Königstraße 5" in pane and "+49" not in pane
    assert 'name="field:ADR home" checked' in r.text
    assert audiences(srv) == [{"audience": "circle:family", "fields": "FN"}]
    # what card.js asks: only the preview
    r = alice.post("/card/preview", {**form, "part": "preview"})
    assert r.status_code == 200 and "<h1>" not in r.text and "<h4>" in r.text
    assert "Königstraße 5" in html.unescape(r.text) and "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in r.headers["Content-Security-Policy"]
    # without the name nothing is shown; for the form that adds an audience
    r = alice.post("/card/preview", {"owner": "alice", "audience": "new", "field:TEL cell": "on", "part": "preview"})
    assert "Nothing: without the name, they see no card at all." in html.unescape(r.text)
    r = alice.post("/card/preview", {"owner": "alice", "audience": "new", "kind": "circle", "name": "family",
                                     "field:FN": "on", "field:NOTE": "on"})
    pane = html.unescape(r.text.split('id="pane-new"')[1].split("</section>")[0])
    assert r.status_code == 200 and "Fußball am Sonntag 🎉, Grüße an alle" in pane
    assert 'name="field:NOTE" checked' in r.text.split('id="pane-new"')[0].rsplit("<form", 1)[1]


def test_the_warning_when_the_address_book_of_my_card_is_shared(srv: Server) -> None:
    fresh_alice(srv, family="FN, TEL cell")
    alice = Browser(srv).logged_in("alice")
    assert 'id="book-warning"' not in alice.get("/card").text
    srv.ok("share", "add", "alice/Kontakte", "--user", "dave", "--role", "subscriber",
               acting_as="alice")
    srv.ok("share", "add", "alice/Kontakte", "--user", "erin", "--role", "collaborator",
               acting_as="alice")
    try:
        page = alice.get("/card")
        warning = html.unescape(page.text.split('id="book-warning"')[1].split("</div>")[0])
        assert "“Kontakte 家庭” keeps your me card and is shared" in warning
        assert re.search(r"dave</span>: name, mobile number", warning)
        assert re.search(r"erin</span>: nothing of it", warning)
        # the address book is marked where a card is chosen too
        assert "This address book is shared" in text_of(page)
    finally:
        for user in ("dave", "erin"):
            srv.ok("share", "remove", "alice/Kontakte", "--user", user, acting_as="alice")


# -- ask me first --------------------------------------------------------------------------------

def test_ask_me_first_per_person_and_the_requests_with_accept_and_reject(srv: Server) -> None:
    srv.ok("card", "ask-first", "off", acting_as="bob")
    put(srv, "carol", "/carol/contacts/carol.vcf", CAROL)
    bob = Browser(srv).logged_in("bob")
    page = text_of(bob.get("/card"))
    assert "Carol Østergaard (carol): changes show at once" in page
    r = bob.post("/card/ask-first", {"user": "bob", "from": "carol", "ask": "on"})
    assert r.status_code == 303 and "done=asking" in r.headers["Location"]
    assert "Carol Østergaard (carol): ask me first" in text_of(bob.get("/card"))
    # carol changes her mobile: bob's copy stays, and his page asks him
    put(srv, "carol", "/carol/contacts/carol.vcf", CAROL.replace("8765 4321", "1111 2222"))
    assert "8765 4321" in shared_card(srv, "bob", "carol").tel.value
    page = bob.get("/card")
    assert "Changes waiting for your answer" in page.text
    assert "Carol Østergaard (carol): changed mobile number" in text_of(page)
    assert bob.post("/card/accept", {"user": "bob", "from": "carol"}).status_code == 303
    assert shared_card(srv, "bob", "carol").tel.value == "+45 1111 2222"
    assert "Changes waiting for your answer" not in bob.get("/card").text
    # another change, rejected: his copy stays and the change is not offered again
    put(srv, "carol", "/carol/contacts/carol.vcf", CAROL.replace("Chorleiterin", "Kantorin"))
    bob.get("/card")
    r = bob.post("/card/decline", {"user": "bob", "from": "carol"})
    assert r.status_code == 303 and "done=declined" in r.headers["Location"]
    assert shared_card(srv, "bob", "carol").title.value == "Chorleiterin"
    assert "Changes waiting for your answer" not in bob.get("/card").text
    # nothing waiting: a clear refusal
    r = bob.post("/card/accept", {"user": "bob", "from": "carol"})
    assert r.status_code == 404 and "no change of 'carol''s card is waiting" in text_of(r)
    # for every card at once: replaces the choice per person
    assert bob.post("/card/ask-first", {"user": "bob", "from": "", "ask": "off"}).status_code == 303
    assert "Carol Østergaard (carol): changes show at once" in text_of(bob.get("/card"))
    assert shared_card(srv, "bob", "carol").title.value == "Kantorin"
    assert json.loads(srv.request("GET", "/bob/.card-updates", "bob").text)["ask_first"] is False


# -- who may: alice, a member of her audience, an outsider, anonymous ----------------------------------

def test_nobody_but_alice_sees_or_changes_her_card_whatever_the_form_says(srv: Server) -> None:
    fresh_alice(srv, family="FN, TEL cell")
    alice, bob, erin, anonymous = (Browser(srv).logged_in("alice"), Browser(srv).logged_in("bob"),
                                   Browser(srv).logged_in("erin"), Browser(srv))
    assert all(v in text_of(alice.get("/card")) for v in ALICE_VALUES)
    # pages: bob (in family) sees alice only as one whose card he receives; erin not at all
    for who, knows_her in ((bob, True), (erin, False)):
        for path in ("/card", "/card?owner=alice", "/card/stop"):
            r = who.get(path)
            assert r.status_code in (200, 303), path
            shown = text_of(r)
            assert not any(v in shown for v in ALICE_VALUES[1:]), (path, shown[:500])
        assert ("Alice Müller-Lüdenscheidt" in text_of(who.get("/card"))) is knows_her
    for path in ("/card", "/card/stop"):
        r = anonymous.get(path)
        assert r.status_code == 303 and "/login?next=" in r.headers["Location"]
    # actions naming alice's card, each with the person's own valid token: refused, nothing changes
    before = audiences(srv)
    actions = (("/card/me", {"card": BOOK + "oma.vcf"}),
               ("/card/stop", {"owner": "alice"}),
               ("/card/audience", {"owner": "alice", "audience": "circle:family", "field:*": "on"}),
               ("/card/audience/add", {"owner": "alice", "kind": "user", "name": "erin", "field:*": "on"}),
               ("/card/audience/remove", {"owner": "alice", "audience": "circle:family"}),
               ("/card/preview", {"owner": "alice", "audience": "circle:family", "field:*": "on"}),
               ("/card/preview", {"owner": "alice", "audience": "new", "field:*": "on", "part": "preview"}))
    for who in (bob, erin):
        who.get("/card")
        for path, data in actions:
            r = who.post(path, data)
            assert r.status_code == 403, (path, r.status_code)
            assert not any(v in text_of(r) for v in ALICE_VALUES[1:]), path
    anonymous.get("/login")
    for path, data in actions:
        assert anonymous.post(path, data).status_code == 403, path
    assert audiences(srv) == before
    assert "me card: alice/Kontakte/alice.vcf" in srv.ok("card", "show", acting_as="alice")
    assert fields_of(shared_card(srv, "bob")) == {"FN", "TEL"} and shared_card(srv, "erin") is None
    # bob's own answers: only he gives them (erin names bob in the form: refused)
    for path, data in (("/card/ask-first", {"user": "bob", "from": "alice", "ask": "on"}),
                       ("/card/ask-first", {"user": "bob", "from": "", "ask": "on"}),
                       ("/card/accept", {"user": "bob", "from": "alice"}),
                       ("/card/decline", {"user": "bob", "from": "alice"})):
        r = erin.post(path, data)
        assert r.status_code == 403 and "only 'bob' chooses" in text_of(r), path
        assert anonymous.post(path, data).status_code == 403
    assert json.loads(srv.request("GET", "/bob/.card-updates", "bob").text)["ask_first_from"] == {}
    # the command line asks the same core: bob cannot stop alice's card either
    result = srv.cli("card", "unset-me", "--owner", "alice", acting_as="bob")
    assert result.code == 1 and "may not act for 'alice'" in result.err
    # alice herself may
    alice.get("/card")
    assert alice.post("/card/audience", {"owner": "alice", "audience": "circle:family",
                                         "field:FN": "on"}).status_code == 303


def test_every_form_is_refused_without_its_token(srv: Server) -> None:
    fresh_alice(srv, family="FN")
    alice = Browser(srv).logged_in("alice")
    alice.get("/card")
    forms = {"/card/me": {"card": BOOK + "oma.vcf"},
             "/card/stop": {"owner": "alice"},
             "/card/audience": {"owner": "alice", "audience": "circle:family", "field:*": "on"},
             "/card/audience/add": {"owner": "alice", "kind": "user", "name": "erin", "field:FN": "on"},
             "/card/audience/remove": {"owner": "alice", "audience": "circle:family"},
             "/card/preview": {"owner": "alice", "audience": "circle:family", "field:*": "on"},
             "/card/ask-first": {"user": "alice", "from": "", "ask": "on"},
             "/card/accept": {"user": "alice", "from": "carol"},
             "/card/decline": {"user": "alice", "from": "carol"}}
    for path, data in forms.items():
        for token in ("", "a-wrong-token-" + "x" * 30):
            r = alice.post(path, data, token=token)
            assert r.status_code == 403 and "nothing was changed" in r.text, path
    assert audiences(srv) == [{"audience": "circle:family", "fields": "FN"}]
    assert "me card: alice/Kontakte/alice.vcf" in srv.ok("card", "show", acting_as="alice")
    assert json.loads(srv.request("GET", "/alice/.card-updates", "alice").text)["ask_first"] is False


def test_the_page_in_chinese(srv: Server) -> None:
    fresh_alice(srv, family="FN, TEL cell")
    alice = Browser(srv, language="zh-CN").logged_in("alice")
    page = alice.get("/card").text
    for words in ("我的名片", "手机号码", "家庭地址", "生日", "备注", "全部"):
        assert words in page, words
    assert "mobile number" not in page and "Who sees what" not in page


# -- in the browser ------------------------------------------------------------------------------

def checkbox(driver, form, entry: str):
    return form.find_element(By.CSS_SELECTOR, f'input[name="field:{entry}"]')


def pane_text(driver, pane_id: str) -> str:
    return driver.find_element(By.ID, pane_id).text


def test_in_the_browser_alice_ticks_phone_for_family_and_bob_sees_the_phone_only(browser, srv: Server) -> None:
    fresh_alice(srv, chosen=False)
    browser.delete_all_cookies()
    log_in(browser, srv, "alice")
    go(browser, srv, "/card")
    assert browser.find_element(By.TAG_NAME, "h1").text == "My card"
    browser.find_element(By.CSS_SELECTOR, 'input[value="/alice/Kontakte/alice.vcf"]').click()
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.choose button[type=submit]"))
    assert "This card is now your me card" in browser.find_element(By.CSS_SELECTOR, ".done").text
    # share with circle family: the name only, to start with
    browser.find_element(By.ID, "audience-name").send_keys("family")
    add = browser.find_element(By.CSS_SELECTOR, "form[action$='/card/audience/add']")
    assert checkbox(browser, add, "FN").is_selected()
    submit(browser, add.find_element(By.CSS_SELECTOR, "button.primary"))
    assert "“family” now sees the fields you ticked." in browser.find_element(By.CSS_SELECTOR, ".done").text
    assert fields_of(shared_card(srv, "bob")) == {"FN"}
    # tick "mobile number": the preview beside the boxes follows at once (card.js), before saving
    family = browser.find_element(By.CSS_SELECTOR, "form[action$='/card/audience']")
    assert not family.find_element(By.CSS_SELECTOR, ".preview-button").is_displayed()   # the script does it
    assert "+49 170 1234567" not in pane_text(browser, "pane-1")
    checkbox(browser, family, "TEL cell").click()
    WebDriverWait(browser, 10).until(lambda d: "+49 170 1234567" in pane_text(d, "pane-1"))
    shown = pane_text(browser, "pane-1")
    assert "What circle “family” sees" in shown and "A preview: not saved yet." in shown
    assert not any(v in shown for v in ("Königstraße", "1984", "Fußball", "mueller.example"))
    screenshot(browser, "card")
    assert fields_of(shared_card(srv, "bob")) == {"FN"}            # a preview saves nothing
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/card/audience'] button.primary"))
    assert "Saved what “family” sees." in browser.find_element(By.CSS_SELECTOR, ".done").text
    # bob's Shared contacts, over CardDAV as bob: the phone and nothing else
    bob = shared_card(srv, "bob")
    assert fields_of(bob) == {"FN", "TEL"}, bob.serialize()
    assert bob.fn.value == "Alice Müller-Lüdenscheidt (王秀英)" and bob.tel.value == "+49 170 1234567"
    # alice also ticks the e-mail: bob sees it at his next read
    family = browser.find_element(By.CSS_SELECTOR, "form[action$='/card/audience']")
    checkbox(browser, family, "EMAIL home").click()
    WebDriverWait(browser, 10).until(lambda d: "alice@mueller.example" in pane_text(d, "pane-1"))
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/card/audience'] button.primary"))
    bob = shared_card(srv, "bob")
    assert fields_of(bob) == {"FN", "TEL", "EMAIL"} and bob.email.value == "alice@mueller.example"
    screenshot(browser, "card-saved")


def test_in_the_browser_bob_answers_a_change_waiting_for_him(browser, srv: Server) -> None:
    put(srv, "carol", "/carol/contacts/carol.vcf", CAROL)
    srv.ok("card", "ask-first", "on", "--from", "carol", acting_as="bob")
    try:
        assert shared_card(srv, "bob", "carol") is not None
        put(srv, "carol", "/carol/contacts/carol.vcf", CAROL.replace("8765 4321", "3333 4444"))
        browser.delete_all_cookies()
        log_in(browser, srv, "bob")
        go(browser, srv, "/card")
        waiting = browser.find_element(By.CSS_SELECTOR, "ul.pending li")
        assert "Carol Østergaard (carol): changed mobile number" in waiting.text
        screenshot(browser, "card-requests")
        submit(browser, waiting.find_element(By.CSS_SELECTOR, "form[action$='/card/accept'] button"))
        assert "You took the new version of Carol Østergaard's card." in browser.find_element(
            By.CSS_SELECTOR, ".done").text
        assert shared_card(srv, "bob", "carol").tel.value == "+45 3333 4444"
    finally:
        srv.ok("card", "ask-first", "off", acting_as="bob")


def test_in_the_browser_frank_finds_his_card_among_many_by_name(browser, srv: Server) -> None:
    folder = srv.root / "data" / "collections" / "collection-root" / "frank" / "Verein"
    assert srv.request("MKCOL", "/frank/Verein/", "frank", address_book_mkcol("Fußball 🎉 Verein")).status_code == 201
    for i in range(60):
        (folder / f"m{i:02}.vcf").write_text(f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:m{i}\r\nN:;;;;\r\n"
                                             f"FN:Mitglied {i:02}\r\nEND:VCARD\r\n", encoding="utf-8")
    put(srv, "frank", "/frank/Verein/frank.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:frank\r\nN:;;;;\r\n"
        "FN:Frank MÜLLER (王伟)\r\nTEL;TYPE=CELL:+49 151 000\r\nEND:VCARD\r\n")
    browser.delete_all_cookies()
    log_in(browser, srv, "frank")
    go(browser, srv, "/card")
    assert len(browser.find_elements(By.CSS_SELECTOR, "form.choose input[name=card]")) == 50
    box = browser.find_element(By.ID, "find")
    box.send_keys("müller")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]"))
    cards = browser.find_elements(By.CSS_SELECTOR, "form.choose input[name=card]")
    assert len(cards) == 1 and browser.find_element(By.ID, "find").get_attribute("value") == "müller"
    assert "Frank MÜLLER (王伟)" in browser.find_element(By.CSS_SELECTOR, "form.choose").text
    screenshot(browser, "card-find")
    cards[0].click()
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.choose button[type=submit]"))
    assert "This card is now your me card" in browser.find_element(By.CSS_SELECTOR, ".done").text
    assert "me card: frank/Verein/frank.vcf" in srv.ok("card", "show", acting_as="frank")


def test_in_the_browser_at_a_phones_width(browser, srv: Server) -> None:
    fresh_alice(srv, family="FN, TEL cell, EMAIL home")
    browser.delete_all_cookies()
    browser.set_window_size(390, 844)
    try:
        log_in(browser, srv, "alice")
        go(browser, srv, "/card")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        # the boxes and the preview stack: the preview comes after the boxes, at the screen's width
        boxes = browser.find_element(By.CSS_SELECTOR, "form[action$='/card/audience'] fieldset.fields")
        pane = browser.find_element(By.ID, "pane-1")
        assert pane.location["y"] > boxes.location["y"] and pane.size["width"] <= 390
        browser.execute_script("arguments[0].scrollIntoView()", boxes)
        screenshot(browser, "card-phone")
    finally:
        browser.set_window_size(1280, 1000)
