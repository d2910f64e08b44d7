"""The me card's policy wins on every path it can be read or written (issue 13, items 7, 8, 9).

Alice keeps her own card (a German and Chinese name, an emoji in the note)
in her address book "contacts" and shares that address book too:

- bob, collaborator of the address book; her card shows him only FN and TEL;
- carol, subscriber of the address book through the circle "friends"; the
  friends' audience hides ADR, BDAY and NOTE;
- dave, collaborator; the family audience sees everything ("*");
- erin, collaborator; in no audience of the card, so she sees nothing of it.

Every path that reads the card (a share's mount, alice's own path with a
collaborator's rights, GET, PROPFIND, multiget, query, sync, the address
book as one file, links, Shared contacts, the directory) shows each of them
the card as its audiences allow; hidden fields never appear, and editing a
hidden field moves no date, ETag or token they can see.  Writes that reach
the card from anyone but alice are checked as hers are, or refused.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from ..card_samples import lines
from ..samples import VCF, address_book_mkcol
from ..server import Server, make_server, password

NS = {"D": "DAV:", "CR": "urn:ietf:params:xml:ns:carddav", "CS": "http://calendarserver.org/ns/",
      "E": "urn:radicale-ext"}

ALICE = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "PRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n"
    "UID:6B29FC40-CA47-1067-B31D-00DD010662DA\r\n"
    "N:Müller;Alice;;;\r\n"
    "FN:Alice Müller (米勒爱丽丝)\r\n"
    "NICKNAME:Ali\r\n"
    "ORG:Müller & Söhne GmbH\r\n"
    "TEL;TYPE=CELL:+49 170 1234567\r\n"
    "TEL;TYPE=WORK,VOICE:+49 30 9876543\r\n"
    "EMAIL;TYPE=INTERNET,HOME:alice@mueller.example\r\n"
    "item1.ADR;TYPE=HOME:;;Fußgängerstraße 7;München;;80331;Deutschland\r\n"
    "item1.X-ABADR:de\r\n"
    "BDAY:1988-02-29\r\n"
    "NOTE:🎉 Party-Planerin. Schlüssel liegt beim Nachbarn (家庭)\r\n"
    "REV:2026-03-01T10:00:00Z\r\n"
    "END:VCARD\r\n"
)
ZHANG = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:zhang-wei\r\nN:张;伟;;;\r\nFN:张伟 (Zhang Wei)\r\n"
         "TEL;TYPE=CELL:+86 138 0013 8000\r\nNOTE:Kollege aus Shanghai 🎋\r\nEND:VCARD\r\n")
# what alice hides from carol (friends) and bob: the address, the birthday, the note, and the card's own REV
HIDDEN = ("Fußgängerstraße", "X-ABADR", "1988-02-29", "🎉", "Schlüssel", "REV:", "PRODID:")
FRIENDS = "FN, N, NICKNAME, ORG, TEL, EMAIL"
BOB = "FN, TEL"

CARD = "alice.vcf"
OWN = "/alice/contacts/"
MOUNT = "/{user}/contacts~alice/"


def put(srv: Server, user: str, path: str, text: str) -> None:
    r = srv.request("PUT", path, user, text, headers=VCF)
    assert r.status_code in (201, 204), (r.status_code, r.text)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("card-privacy")).start()
    for user in ("alice", "bob", "carol", "dave", "erin"):
        assert server.request("MKCOL", f"/{user}/contacts/", user, address_book_mkcol("Kontakte")).status_code == 201
    put(server, "alice", OWN + CARD, ALICE)
    put(server, "alice", OWN + "zhang.vcf", ZHANG)
    server.stored = server.request("GET", OWN + CARD, "alice").content  # as Radicale stored it (vobject's order)
    # a link made while the card was an ordinary card
    server.early_link = link_url(server.ok("link", "create", "alice/contacts", "--card", CARD, acting_as="alice"))
    server.ok("card", "set-me", f"alice/contacts/{CARD}", acting_as="alice")
    server.ok("circle", "create", "friends", "--manager", "alice")
    server.ok("circle", "add", "friends", "carol", acting_as="alice")
    server.ok("circle", "create", "family", "--manager", "alice")
    server.ok("circle", "add", "family", "dave", acting_as="alice")
    server.ok("card", "share", "--circle", "friends", "--fields", FRIENDS, acting_as="alice")
    server.ok("card", "share", "--circle", "family", "--fields", "*", acting_as="alice")
    server.ok("card", "share", "--user", "bob", "--fields", BOB, acting_as="alice")
    server.ok("share", "add", "alice/contacts", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", "alice/contacts", "--circle", "friends", "--role", "subscriber")
    server.ok("share", "add", "alice/contacts", "--user", "dave", "--role", "collaborator")
    server.ok("share", "add", "alice/contacts", "--user", "erin", "--role", "collaborator")
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def card_as_stored(srv: Server) -> Iterator[None]:
    """Each test starts and ends with alice's card as the fixture stored it."""
    yield
    if srv.request("GET", OWN + CARD, "alice").content != srv.stored:
        put(srv, "alice", OWN + CARD, ALICE)
        srv.stored = srv.request("GET", OWN + CARD, "alice").content
    srv.ok("card", "share", "--user", "bob", "--fields", BOB, acting_as="alice")


def link_url(output: str) -> str:
    return next(line.strip() for line in output.splitlines() if "/.links/" in line)


def expected(srv: Server, user: str) -> list[str]:
    """The card as ``user`` sees it (the CLI's projection), without the projection's own UID."""
    return [line for line in lines(srv.ok("card", "show", "--owner", "alice", "--for", user))
            if not line.startswith("UID:")]


def without_uid(text: str) -> list[str]:
    return [line for line in lines(text) if not line.startswith("UID:")]


def assert_hidden(text: str) -> None:
    for marker in HIDDEN:
        assert marker not in text, (marker, text)


def multistatus(r) -> dict[str, ET.Element]:
    assert r.status_code == 207, (r.status_code, r.text)
    return {resp.findtext("D:href", namespaces=NS): resp for resp in ET.fromstring(r.text).findall("D:response", NS)}


def report(srv: Server, path: str, user: str, body: str):
    return srv.request("REPORT", path, user, body, headers={"Depth": "1"})


MULTIGET = ('<?xml version="1.0" encoding="utf-8"?><CR:addressbook-multiget xmlns:D="DAV:" '
            'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><CR:address-data/></D:prop>'
            "<D:href>{href}</D:href></CR:addressbook-multiget>")
QUERY = ('<?xml version="1.0" encoding="utf-8"?><CR:addressbook-query xmlns:D="DAV:" '
         'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><CR:address-data/></D:prop>'
         '<CR:filter><CR:prop-filter name="{prop}"><CR:text-match collation="i;unicode-casemap" '
         'match-type="contains">{text}</CR:text-match></CR:prop-filter></CR:filter></CR:addressbook-query>')
UNDEFINED = ('<?xml version="1.0" encoding="utf-8"?><CR:addressbook-query xmlns:D="DAV:" '
             'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><CR:filter>'
             '<CR:prop-filter name="{prop}"><CR:is-not-defined/></CR:prop-filter></CR:filter></CR:addressbook-query>')
SYNC = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:" '
        'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:sync-token>{token}</D:sync-token>'
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/><CR:address-data/></D:prop></D:sync-collection>")
ETAGS = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
         "<D:getlastmodified/></D:prop></D:propfind>")
STATE = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
         "<D:prop><D:getetag/><D:getlastmodified/><CS:getctag/><D:sync-token/></D:prop></D:propfind>")


def books(user: str) -> list[str]:
    """The paths by which ``user`` reaches alice's address book: the share's mount and alice's own path."""
    return [MOUNT.format(user=user), OWN]


# -- item 7: every read path shows the card as the reader's audiences allow ----------------------------


@pytest.mark.parametrize("user", ["bob", "carol"])
@pytest.mark.parametrize("through", ["mount", "own path"])
def test_every_read_of_a_shared_address_book_shows_the_me_card_as_the_audience_allows(
        srv: Server, user: str, through: str) -> None:
    book = books(user)[0 if through == "mount" else 1]
    want = expected(srv, user)
    assert "FN:Alice Müller (米勒爱丽丝)" in want and "TEL;TYPE=CELL:+49 170 1234567" in want

    got = srv.request("GET", book + CARD, user)
    assert got.status_code == 200, got.text
    text = got.content.decode("utf-8")
    assert without_uid(text) == want
    assert "UID:6B29FC40-CA47-1067-B31D-00DD010662DA" in text  # the card keeps its own UID in its book
    assert_hidden(text)
    etag = got.headers["ETag"]

    for body in (ETAGS, STATE, None):  # the index's quick listing, Radicale's, and allprop
        listed = multistatus(srv.request("PROPFIND", book, user, body, headers={"Depth": "1"}))
        assert listed[book + CARD].findtext(".//D:getetag", namespaces=NS) == etag
        assert "Fußgängerstraße" not in ET.tostring(listed[book + CARD], encoding="unicode")

    found = multistatus(report(srv, book, user, MULTIGET.format(href=book + CARD)))
    assert without_uid(found[book + CARD].findtext(".//CR:address-data", namespaces=NS)) == want
    assert found[book + CARD].findtext(".//D:getetag", namespaces=NS) == etag

    assert set(multistatus(report(srv, book, user, QUERY.format(prop="NOTE", text="Party")))) == set()
    assert set(multistatus(report(srv, book, user, QUERY.format(prop="ADR", text="München")))) == set()
    # as they see it, the card has no address (the stored card has one: the query is decided on their view)
    assert book + CARD in multistatus(report(srv, book, user, UNDEFINED.format(prop="ADR")))
    hits = multistatus(report(srv, book, user, QUERY.format(prop="FN", text="müller")))
    assert set(hits) == {book + CARD}
    assert without_uid(hits[book + CARD].findtext(".//CR:address-data", namespaces=NS)) == want

    synced = multistatus(report(srv, book, user, SYNC.format(token="")))
    assert without_uid(synced[book + CARD].findtext(".//CR:address-data", namespaces=NS)) == want
    assert synced[book + CARD].findtext(".//D:getetag", namespaces=NS) == etag

    whole = srv.request("GET", book, user)  # the address book as one file
    assert whole.status_code == 200 and "张伟" in whole.content.decode()
    assert_hidden(whole.content.decode())


def test_a_collaborator_outside_every_audience_sees_nothing_of_the_card(srv: Server) -> None:
    for book in books("erin"):
        assert srv.request("GET", book + CARD, "erin").status_code == 404
        listed = multistatus(srv.request("PROPFIND", book, "erin", ETAGS, headers={"Depth": "1"}))
        assert set(listed) == {book, book + "zhang.vcf"}
        assert set(multistatus(srv.request("PROPFIND", book, "erin", STATE, headers={"Depth": "1"}))) == set(listed)
        found = multistatus(report(srv, book, "erin", MULTIGET.format(href=book + CARD)))
        assert found[book + CARD].findtext("D:status", namespaces=NS).endswith("404 Not Found")
        assert set(multistatus(report(srv, book, "erin", SYNC.format(token="")))) == {book + "zhang.vcf"}
        assert set(multistatus(report(srv, book, "erin", QUERY.format(prop="FN", text="müller")))) == set()
        assert "Müller" not in srv.request("GET", book, "erin").content.decode()


def test_the_owner_and_a_person_who_sees_everything_get_the_card_as_stored(srv: Server) -> None:
    mine = srv.request("GET", OWN + CARD, "alice")
    assert mine.content == srv.stored and "Fußgängerstraße" in mine.content.decode()
    for book in books("dave"):
        theirs = srv.request("GET", book + CARD, "dave")
        assert theirs.content == mine.content and theirs.headers["ETag"] == mine.headers["ETag"]


def test_shared_contacts_and_the_directory_show_the_same_projection(srv: Server) -> None:
    for user in ("bob", "carol"):
        shared = srv.request("GET", f"/{user}/.shared-contacts/alice.vcf", user).content.decode()
        assert without_uid(shared) == expected(srv, user)
        assert_hidden(shared)
        hits = multistatus(report(srv, f"/{user}/.directory/", user, QUERY.format(prop="FN", text="米勒")))
        assert without_uid(hits[f"/{user}/.directory/alice.vcf"].findtext(".//CR:address-data", namespaces=NS)) \
            == expected(srv, user)


def test_links_never_show_the_me_card_beyond_an_audience(srv: Server) -> None:
    book_link = link_url(srv.ok("link", "create", "alice/contacts", acting_as="alice"))
    text = srv.session.get(book_link, timeout=30).content.decode()
    assert "张伟" in text and "Alice Müller" not in text  # a link has no audience: the me card is left out
    r = srv.session.get(srv.early_link, timeout=30)  # made before the card became the me card
    assert r.status_code == 404 and "Müller" not in r.text
    refused = srv.cli("link", "create", "alice/contacts", "--card", CARD, acting_as="alice")
    assert refused.code == 1 and refused.err.count("\n") == 1, refused.err
    assert "alice's me card" in refused.err and "--audience" in refused.err
    friends = link_url(srv.ok("link", "create", "alice/contacts", "--card", CARD, "--audience", "friends",
                              acting_as="alice"))
    text = srv.session.get(friends, timeout=30).content.decode()
    assert without_uid(text) == [line for line in lines(srv.ok("card", "show", "--owner", "alice", "--audience",
                                                                  "friends")) if not line.startswith("UID:")]
    assert_hidden(text)


def test_a_collaborator_allowed_to_make_links_cannot_show_the_me_card_through_one(srv: Server) -> None:
    srv.ok("link", "allow-collaborators", "alice/contacts", "on", acting_as="alice")
    try:
        for args in (("--card", CARD, "--audience", "family"), ("--card", CARD)):
            refused = srv.cli("link", "create", "alice/contacts", *args, acting_as="dave")
            assert refused.code == 1 and refused.err.count("\n") == 1, refused.err
            assert "me card" in refused.err
        made = srv.cli("link", "create", "alice/contacts", acting_as="dave")
        assert made.code == 0 and "alice.vcf, alice's me card, is left out of this link" in made.err
        text = srv.session.get(link_url(made.out), timeout=30).content.decode()
        assert "张伟" in text and "Müller" not in text
    finally:
        srv.ok("link", "allow-collaborators", "alice/contacts", "off", acting_as="alice")


def test_share_add_warns_the_owner_what_the_people_of_the_share_see_of_the_me_card(srv: Server) -> None:
    srv.ok("circle", "create", "neighbours", "--manager", "alice")
    srv.ok("circle", "add", "neighbours", "carol", "erin", acting_as="alice")
    try:
        result = srv.cli("share", "add", "alice/contacts", "--circle", "neighbours", "--role", "subscriber",
                         acting_as="alice")
        assert result.code == 0, result.err
        assert "alice.vcf" in result.err and "me card" in result.err
        assert "\n  carol sees EMAIL, FN, N, NICKNAME, ORG, TEL\n" in result.err  # the fields of friends, not ADR ...
        assert "\n  erin sees nothing of it\n" in result.err
    finally:
        srv.ok("share", "remove", "alice/contacts", "--circle", "neighbours", acting_as="alice")
        srv.ok("circle", "delete", "neighbours", acting_as="alice")
    # choosing a me card in an address book that is shared already says the same
    srv.ok("card", "set-me", "alice/contacts/zhang.vcf", acting_as="alice")
    chosen = srv.cli("card", "set-me", f"alice/contacts/{CARD}", acting_as="alice")
    assert chosen.code == 0 and "the people of its shares" in chosen.err, chosen.err
    for line in ("  bob sees FN, TEL", "  carol sees EMAIL, FN, N, NICKNAME, ORG, TEL", "  dave sees all of it",
                 "  erin sees nothing of it"):
        assert line in chosen.err.splitlines()
    quiet = srv.cli("share", "add", "bob/contacts", "--user", "carol", "--role", "subscriber")
    assert quiet.code == 0 and quiet.err == ""  # bob has no me card: nothing to warn about
    srv.ok("share", "remove", "bob/contacts", "--user", "carol")


# -- item 8: writes that reach the card -----------------------------------------------------------------


def card_notices(srv: Server, user: str) -> list[dict]:
    from radicale_ext.site import Settings, Site
    site = Site(Settings.from_ini(str(srv.config)))
    try:
        return [dict(n.data) for n in site.notices.notices(user) if n.kind.value == "card-changed"]
    finally:
        site.db.close()


@pytest.mark.parametrize("through", ["mount", "own path"])
def test_a_collaborator_who_sees_everything_is_checked_and_told_like_the_owner(srv: Server, through: str) -> None:
    path = (MOUNT.format(user="dave") if through == "mount" else OWN) + CARD
    invalid = ALICE.replace("FN:Alice Müller (米勒爱丽丝)\r\n", "")
    r = srv.request("PUT", path, "dave", invalid, headers=VCF)
    assert r.status_code == 400, r.text
    assert ET.fromstring(r.text).find("CR:valid-address-data", NS) is not None and "needs FN" in r.text
    assert srv.request("GET", OWN + CARD, "alice").content == srv.stored
    before = {user: len(card_notices(srv, user)) for user in ("bob", "carol", "dave")}
    put(srv, "dave", path, ALICE.replace("+49 170 1234567", "+49 171 7654321"))
    # told at once, without anyone reading first; dave made the change and is not told about it
    assert [n["summary"] for n in card_notices(srv, "bob")[before["bob"]:]] == \
        ["Alice Müller (米勒爱丽丝)'s mobile number changed"]
    assert len(card_notices(srv, "carol")) == before["carol"] + 1
    assert len(card_notices(srv, "dave")) == before["dave"]


@pytest.mark.parametrize("user", ["bob", "erin"])
@pytest.mark.parametrize("through", ["mount", "own path"])
def test_a_collaborator_who_sees_part_of_the_card_may_not_change_it(srv: Server, user: str, through: str) -> None:
    book = MOUNT.format(user=user) if through == "mount" else OWN
    seen = srv.request("GET", book + CARD, user)
    attempts = [
        ("PUT", book + CARD, seen.content if seen.status_code == 200 else ALICE.encode(), VCF),  # their view back
        ("PUT", book + CARD, ALICE.replace("FN:Alice Müller (米勒爱丽丝)\r\n", "").encode(), VCF),
        ("DELETE", book + CARD, None, {}),
        ("MOVE", book + CARD, None, {"Destination": book + "moved.vcf"}),
        ("MOVE", book + "zhang.vcf", None, {"Destination": book + CARD, "Overwrite": "T"}),
    ]
    for method, path, body, headers in attempts:
        r = srv.request(method, path, user, body, headers=headers)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        root = ET.fromstring(r.text)
        assert root.find("D:need-privileges", NS) is not None
        assert "alice's me card" in root.findtext("E:reason", namespaces=NS)
    assert srv.request("GET", OWN + CARD, "alice").content == srv.stored
    assert srv.request("GET", OWN + "zhang.vcf", "alice").status_code == 200


def test_a_subscriber_is_refused_as_before_and_learns_nothing_new(srv: Server) -> None:
    r = srv.request("PUT", MOUNT.format(user="carol") + CARD, "carol", ALICE, headers=VCF)
    assert r.status_code == 403
    assert srv.request("GET", OWN + CARD, "alice").content == srv.stored


# -- item 9: a hidden edit moves no date, ETag or token ---------------------------------------------------


def state(srv: Server, user: str, path: str, body: str = STATE, depth: str = "1") -> dict[str, dict[str, str]]:
    """Every date, ETag and token property of ``path`` and its members, as ``user`` sees them."""
    found = multistatus(srv.request("PROPFIND", path, user, body, headers={"Depth": depth}))
    return {href: {prop.tag: prop.text or "" for prop in resp.findall("D:propstat/D:prop/*", NS)}
            for href, resp in found.items()}


def sync(srv: Server, user: str, path: str, token: str) -> tuple[str, dict[str, int]]:
    r = report(srv, path, user, SYNC.format(token=token))
    root = ET.fromstring(r.text)
    assert r.status_code == 207, r.text
    changes = {}
    for resp in root.findall("D:response", NS):
        status = resp.findtext("D:status", namespaces=NS) or resp.findtext(".//D:propstat/D:status", namespaces=NS)
        changes[resp.findtext("D:href", namespaces=NS)] = int(re.search(r" (\d{3}) ", status).group(1))
    return root.findtext("D:sync-token", namespaces=NS), changes


def everything_bob_sees(srv: Server) -> dict:
    seen = {}
    for path in ("/bob/.shared-contacts/", MOUNT.format(user="bob"), OWN):
        seen[path] = state(srv, "bob", path)
        seen[path + " (index)"] = state(srv, "bob", path, ETAGS)
        got = srv.request("GET", path + CARD, "bob")
        seen[path + CARD] = {"ETag": got.headers["ETag"], "Last-Modified": got.headers["Last-Modified"]}
    home = state(srv, "bob", "/bob/")
    seen["/bob/ (home)"] = {href: props for href, props in home.items()
                            if href in ("/bob/.shared-contacts/", MOUNT.format(user="bob"))}
    return seen


def test_editing_a_field_a_viewer_cannot_see_changes_no_date_etag_or_token_they_see(srv: Server) -> None:
    before = everything_bob_sees(srv)
    assert before["/bob/.shared-contacts/"]["/bob/.shared-contacts/alice.vcf"]
    tokens = {path: sync(srv, "bob", path, "")[0] for path in ("/bob/.shared-contacts/", MOUNT.format(user="bob"))}
    time.sleep(1.1)  # dates have whole seconds
    put(srv, "alice", OWN + CARD, ALICE.replace("Schlüssel liegt beim Nachbarn", "Schlüssel unter der Matte")
        .replace("BDAY:1988-02-29", "BDAY:1988-03-01").replace("REV:2026-03-01T10:00:00Z", "REV:2026-03-02T08:00:00Z"))
    assert everything_bob_sees(srv) == before
    for path, token in tokens.items():
        assert sync(srv, "bob", path, token) == (token, {})
    # and a field bob sees moves them all
    time.sleep(1.1)
    put(srv, "alice", OWN + CARD, ALICE.replace("+49 170 1234567", "+49 170 7777777"))
    after = everything_bob_sees(srv)
    card = MOUNT.format(user="bob") + CARD
    assert after[card]["ETag"] != before[card]["ETag"]
    assert after[card]["Last-Modified"] != before[card]["Last-Modified"]
    shared = "/bob/.shared-contacts/alice.vcf"
    assert after[shared]["Last-Modified"] != before[shared]["Last-Modified"]
    for path, token in tokens.items():
        new_token, changes = sync(srv, "bob", path, token)
        assert new_token != token and changes == {path + CARD: 200}, (path, changes)


def test_a_narrower_policy_reaches_sync_through_the_share_without_a_file_change(srv: Server) -> None:
    book = MOUNT.format(user="bob")
    token, changes = sync(srv, "bob", book, "")
    assert book + CARD in changes
    srv.ok("card", "share", "--user", "bob", "--fields", "FN", acting_as="alice")
    new_token, changes = sync(srv, "bob", book, token)
    assert new_token != token and changes == {book + CARD: 200}
    assert not any(line.startswith("TEL") for line in lines(srv.request("GET", book + CARD, "bob").content.decode()))
    srv.ok("card", "unshare", "--user", "bob", acting_as="alice")
    last, changes = sync(srv, "bob", book, new_token)
    assert changes == {book + CARD: 404} and last != new_token
    assert sync(srv, "bob", book, last) == (last, {})


def test_the_owner_syncs_as_before(srv: Server) -> None:
    token, changes = sync(srv, "alice", OWN, "")
    assert set(changes) == {OWN + CARD, OWN + "zhang.vcf"}
    put(srv, "alice", OWN + CARD, ALICE.replace("Schlüssel liegt", "Schlüssel lag"))
    new_token, changes = sync(srv, "alice", OWN, token)
    assert new_token != token and changes == {OWN + CARD: 200}


# -- a real client ---------------------------------------------------------------------------------------------


def test_vdirsyncer_keeps_only_what_bob_may_see_and_downloads_nothing_after_a_hidden_edit(
        srv: Server, tmp_path) -> None:
    local, config = tmp_path / "local", tmp_path / "config"
    config.write_text(f"""[general]
status_path = "{tmp_path / 'status'}/"

[pair kontakte]
a = "alice_book"
b = "local"
collections = null

[storage alice_book]
type = "carddav"
url = "{srv.url}{MOUNT.format(user='bob')}"
username = "bob"
password = "{password('bob')}"
read_only = true

[storage local]
type = "filesystem"
path = "{local}/"
fileext = ".vcf"
""")
    local.mkdir()
    vdirsyncer = [sys.executable, "-m", "vdirsyncer", "-c", str(config)]

    def run(step: str) -> str:
        done = subprocess.run([*vdirsyncer, step], input="y\n", capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout + done.stderr

    run("discover")
    assert "Copying (uploading) item" in run("sync")  # the words the check below looks for
    files = {p.name: p.read_text(encoding="utf-8") for p in local.glob("*.vcf")}
    assert len(files) == 2
    mine = next(text for text in files.values() if "Müller" in text)
    assert without_uid(mine) == expected(srv, "bob")
    assert_hidden(mine)
    stamps = {p.name: p.stat().st_mtime_ns for p in local.glob("*.vcf")}
    put(srv, "alice", OWN + CARD, ALICE.replace("Schlüssel liegt beim Nachbarn", "Schlüssel unter der Matte"))
    output = run("sync")
    assert "Copying" not in output, output
    assert {p.name: p.stat().st_mtime_ns for p in local.glob("*.vcf")} == stamps


# -- "Shared contacts" is always listed ----------------------------------------------------------------------


def test_shared_contacts_is_listed_in_every_home_even_before_anything_is_shared(tmp_path) -> None:
    server = make_server(tmp_path / "fresh", users=("franz",)).start()
    try:
        home = multistatus(server.request("PROPFIND", "/franz/", "franz", STATE.replace(
            "<D:getetag/>", "<D:resourcetype/><D:displayname/><D:getetag/>"), headers={"Depth": "1"}))
        book = home["/franz/.shared-contacts/"]
        assert book.find(".//D:resourcetype/CR:addressbook", NS) is not None
        assert book.findtext(".//D:displayname", namespaces=NS) == "Shared contacts"
        assert book.findtext(".//D:sync-token", namespaces=NS)
        empty = multistatus(server.request("PROPFIND", "/franz/.shared-contacts/", "franz", ETAGS,
                                           headers={"Depth": "1"}))
        assert list(empty) == ["/franz/.shared-contacts/"]
    finally:
        server.stop()
