"""The me card over CardDAV (issue 5): shared per audience, projected for each person, synced,
asked first, and looked up by name.

Alice's card (vCard 3.0, many fields) is shared with three circles: clients
(bob, erin), friends (carol, erin) and family (dave).  frank is in no circle
and sees nothing.  Every test speaks HTTP to a real server; the owner's and
the recipients' side of the command line runs against the same config.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from ..card_samples import ALICE_30, CAROL_40, CLIENTS, FAMILY, FRIENDS, lines
from ..samples import VCF, address_book_mkcol
from ..server import Server, make_server

NS = {"D": "DAV:", "CR": "urn:ietf:params:xml:ns:carddav", "CS": "http://calendarserver.org/ns/",
      "E": "urn:radicale-ext"}
SHARED = "/{user}/.shared-contacts/"
DIRECTORY = "/{user}/.directory/"

PROPFIND_CARDS = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
<D:prop><D:resourcetype/><D:displayname/><D:getetag/><D:current-user-privilege-set/><CS:getctag/>
<D:sync-token/></D:prop></D:propfind>"""
SYNC = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>
<D:prop><D:getetag/></D:prop></D:sync-collection>"""
MULTIGET = """<?xml version="1.0" encoding="utf-8"?>
<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/><CR:address-data/></D:prop>{hrefs}</CR:addressbook-multiget>"""
QUERY = """<?xml version="1.0" encoding="utf-8"?>
<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/><CR:address-data/></D:prop>
<CR:filter test="{test}">{filters}</CR:filter></CR:addressbook-query>"""


def name_filter(prop: str, text: str, match: str = "contains", negate: bool = False) -> str:
    neg = ' negate-condition="yes"' if negate else ""
    return (f'<CR:prop-filter name="{prop}"><CR:text-match collation="i;unicode-casemap" match-type="{match}"{neg}>'
            f"{text}</CR:text-match></CR:prop-filter>")


def put_card(srv: Server, user: str, path: str, text: str) -> None:
    r = srv.request("PUT", path, user, text, headers=VCF)
    assert r.status_code in (201, 204), r.text


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("cards")).start()
    for user in ("alice", "bob", "carol", "dave", "erin", "frank", "grace"):
        assert server.request("MKCOL", f"/{user}/contacts/", user, address_book_mkcol("Contacts")).status_code == 201
    put_card(server, "alice", "/alice/contacts/me.vcf", ALICE_30)
    server.ok("card", "set-me", "alice/contacts/me.vcf", acting_as="alice")
    for circle, members in (("clients", ("bob", "erin")), ("friends", ("carol", "erin")), ("family", ("dave",))):
        server.ok("circle", "create", circle, "--manager", "alice")
        server.ok("circle", "add", circle, *members, acting_as="alice")
    for circle, fields in (("clients", CLIENTS), ("friends", FRIENDS), ("family", FAMILY)):
        server.ok("card", "share", "--circle", circle, "--fields", fields, acting_as="alice")
    put_card(server, "alice", "/alice/contacts/other.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:other\r\n"
             "N:Other;;;;\r\nFN:Other\r\nEND:VCARD\r\n")  # a card that is not a me card
    put_card(server, "carol", "/carol/contacts/carol.vcf", CAROL_40)  # a second owner, vCard 4.0
    server.ok("card", "set-me", "carol/contacts", "--card", "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1",
              acting_as="carol")
    server.ok("card", "share", "--user", "bob", "--fields", "FN, TEL work", acting_as="carol")
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def alice_card_as_shared(srv: Server) -> Iterator[None]:
    """Each test starts with alice's card as the fixture stored it (tests may run on different workers)."""
    yield
    global ALICE_NOW
    if ALICE_NOW != ALICE_30:
        ALICE_NOW = ALICE_30
        put_card(srv, "alice", "/alice/contacts/me.vcf", ALICE_30)


def propfind(srv: Server, path: str, user: str | None, depth: str = "1", body: str = PROPFIND_CARDS):
    return srv.request("PROPFIND", path, user, body, headers={"Depth": depth})


def listed(srv: Server, user: str) -> dict[str, ET.Element]:
    r = propfind(srv, SHARED.format(user=user), user)
    assert r.status_code == 207, r.text
    return {resp.findtext("D:href", namespaces=NS): resp for resp in ET.fromstring(r.text).findall("D:response", NS)}


def etags(srv: Server, user: str) -> dict[str, str]:
    return {href: resp.findtext(".//D:getetag", namespaces=NS) for href, resp in listed(srv, user).items()
            if href.endswith(".vcf")}


def card_of(srv: Server, user: str, owner: str = "alice") -> str | None:
    r = srv.request("GET", f"{SHARED.format(user=user)}{owner}.vcf", user)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.content.decode("utf-8")


def sync(srv: Server, user: str, token: str = "") -> tuple[str, dict[str, int]]:
    r = srv.request("REPORT", SHARED.format(user=user), user, SYNC.format(token=token), headers={"Depth": "1"})
    assert r.status_code == 207, r.text
    root = ET.fromstring(r.text)
    changes = {}
    for resp in root.findall("D:response", NS):
        status = resp.findtext("D:status", namespaces=NS) or resp.findtext(".//D:propstat/D:status", namespaces=NS)
        changes[resp.findtext("D:href", namespaces=NS)] = int(re.search(r" (\d{3}) ", status).group(1))
    return root.findtext("D:sync-token", namespaces=NS), changes


def edit_alice(srv: Server, old: str, new: str) -> None:
    global ALICE_NOW
    ALICE_NOW = ALICE_NOW.replace(old, new)
    put_card(srv, "alice", "/alice/contacts/me.vcf", ALICE_NOW)


ALICE_NOW = ALICE_30


def card_notices(srv: Server, user: str) -> list[dict]:
    from radicale_ext.site import Settings, Site
    site = Site(Settings.from_ini(str(srv.config)))
    try:
        return [dict(n.data) for n in site.notices.notices(user) if n.kind.value == "card-changed"]
    finally:
        site.db.close()


# -- what each person sees --------------------------------------------------------------------


@pytest.mark.parametrize(("user", "fields"), [("bob", CLIENTS), ("carol", FRIENDS), ("dave", FAMILY),
                                              ("erin", f"{CLIENTS}, {FRIENDS}")])
def test_each_person_sees_exactly_the_fields_of_their_audiences(srv: Server, user: str, fields: str) -> None:
    text = card_of(srv, user)
    assert text is not None
    expected = srv.ok("card", "show", "--owner", "alice", "--for", user)
    assert lines(text) == lines(expected)
    got = set(lines(text))
    if user == "bob":
        assert "TEL;TYPE=WORK,VOICE:+44 20 7946 0000" in got and not any("7700" in line for line in got)
        assert not any(line.startswith(("NOTE", "PHOTO", "BDAY", "ADR", "item")) for line in got)
    if user == "erin":  # the union: clients' work numbers and friends' mobiles
        assert {"TEL;TYPE=WORK,VOICE:+44 20 7946 0000", "TEL;TYPE=CELL:+44 7700 900123"} <= got
    if user == "dave":
        assert any(line.startswith("NOTE:Allergic") for line in got) and any("1 Rose Street" in x for x in got)


def test_one_stable_uid_per_owner_and_no_owner_identity_lines(srv: Server) -> None:
    uids = {next(line for line in lines(card_of(srv, user)) if line.startswith("UID:")) for user in ("bob", "dave")}
    assert len(uids) == 1 and "alice-own-uid" not in uids.pop()
    assert "REV:" not in card_of(srv, "dave") and "PRODID:" not in card_of(srv, "dave")


def test_shared_contacts_is_a_read_only_address_book_in_the_home(srv: Server) -> None:
    r = propfind(srv, "/bob/", "bob")
    responses = {resp.findtext("D:href", namespaces=NS): resp
                 for resp in ET.fromstring(r.text).findall("D:response", NS)}
    book = responses["/bob/.shared-contacts/"]
    assert book.find(".//D:resourcetype/CR:addressbook", NS) is not None
    assert book.findtext(".//D:displayname", namespaces=NS) == "Shared contacts"
    privileges = {p.tag for p in book.findall(".//D:current-user-privilege-set/D:privilege/*", NS)}
    assert privileges == {"{DAV:}read"}
    frank = propfind(srv, "/frank/", "frank").text  # nothing shared with frank: listed all the same, empty
    assert "<href>/frank/.shared-contacts/</href>" in frank and etags(srv, "frank") == {}
    assert "/bob/.directory/" not in responses  # the directory is searched, not listed


def test_frank_outside_every_audience_sees_nothing(srv: Server) -> None:
    assert etags(srv, "frank") == {}
    assert card_of(srv, "frank") is None
    assert propfind(srv, SHARED.format(user="bob"), "frank").status_code == 403
    assert srv.request("GET", "/bob/.shared-contacts/alice.vcf", "frank").status_code == 403


def test_multiget_and_getetag_match_get(srv: Server) -> None:
    r = srv.request("REPORT", SHARED.format(user="carol"), "carol",
                    MULTIGET.format(hrefs="<D:href>/carol/.shared-contacts/alice.vcf</D:href>"
                                          "<D:href>/carol/.shared-contacts/nobody.vcf</D:href>"),
                    headers={"Depth": "1"})
    assert r.status_code == 207
    found = {resp.findtext("D:href", namespaces=NS): resp for resp in ET.fromstring(r.text).findall("D:response", NS)}
    data = found["/carol/.shared-contacts/alice.vcf"].findtext(".//CR:address-data", namespaces=NS)
    assert lines(data) == lines(card_of(srv, "carol"))
    assert found["/carol/.shared-contacts/nobody.vcf"].findtext("D:status", namespaces=NS).endswith("404 Not Found")
    got = srv.request("GET", "/carol/.shared-contacts/alice.vcf", "carol")
    assert got.headers["ETag"] == etags(srv, "carol")["/carol/.shared-contacts/alice.vcf"]


# -- changes -------------------------------------------------------------------------------------


def test_a_change_reaches_exactly_those_who_see_the_field_with_a_notice_in_words(srv: Server) -> None:
    before = {user: etags(srv, user) for user in ("bob", "carol", "dave", "erin")}
    tokens = {user: sync(srv, user)[0] for user in ("bob", "carol", "dave")}
    notices_before = {user: len(card_notices(srv, user)) for user in ("bob", "carol", "dave", "erin")}
    srv.ok("notices", "language", "zh_Hans", acting_as="erin")   # her notices speak Chinese
    try:
        edit_alice(srv, "+44 7700 900123", "+44 7700 900777")  # a new mobile number: friends and family see it
    finally:
        srv.ok("notices", "language", "--clear", acting_as="erin")
    after = {user: etags(srv, user) for user in ("bob", "carol", "dave", "erin")}
    assert after["bob"] == before["bob"]                   # a client cannot see mobiles: nothing changed for bob
    assert sync(srv, "bob", tokens["bob"]) == (tokens["bob"], {})
    for user in ("carol", "dave", "erin"):
        assert after[user] != before[user]
    token, changes = sync(srv, "carol", tokens["carol"])
    assert changes == {"/carol/.shared-contacts/alice.vcf": 200} and token != tokens["carol"]
    assert "TEL;TYPE=CELL:+44 7700 900777" in card_of(srv, "carol")
    new_notices = {user: card_notices(srv, user)[notices_before[user]:] for user in notices_before}
    assert new_notices["bob"] == []
    for user in ("carol", "dave"):
        assert [n["summary"] for n in new_notices[user]] == ["Dr. Alice Maria Ångström's mobile number changed"]
    assert [n["summary"] for n in new_notices["erin"]] == ["Dr. Alice Maria Ångström的手机号码有变动"]


def test_a_change_of_identity_lines_only_changes_nothing_for_anyone(srv: Server) -> None:
    before = {user: etags(srv, user) for user in ("bob", "dave")}
    notices = len(card_notices(srv, "dave"))
    edit_alice(srv, "REV:2026-01-01T00:00:00Z", "REV:2026-02-02T00:00:00Z")
    assert {user: etags(srv, user) for user in ("bob", "dave")} == before
    assert len(card_notices(srv, "dave")) == notices


def test_leaving_a_circle_takes_the_fields_away_on_the_next_request(srv: Server) -> None:
    token, _ = sync(srv, "erin")
    assert any("7700" in line for line in lines(card_of(srv, "erin")))
    srv.ok("circle", "remove", "friends", "erin", acting_as="alice")
    try:
        text = card_of(srv, "erin")
        assert lines(text) == lines(srv.ok("card", "show", "--owner", "alice", "--audience", "clients"))
        assert not any("7700" in line for line in lines(text))
        assert sync(srv, "erin", token)[1] == {"/erin/.shared-contacts/alice.vcf": 200}
    finally:
        srv.ok("circle", "add", "friends", "erin", acting_as="alice")


def test_an_empty_projection_is_not_served_and_a_withdrawn_card_syncs_as_deleted(srv: Server) -> None:
    srv.ok("card", "share", "--user", "grace", "--fields", "TEL work, EMAIL work", acting_as="alice")  # no FN
    assert card_of(srv, "grace") is None and etags(srv, "grace") == {}
    srv.ok("card", "share", "--user", "grace", "--fields", "FN, TEL work", acting_as="alice")
    token, changes = sync(srv, "grace")
    assert changes == {"/grace/.shared-contacts/alice.vcf": 200}
    srv.ok("card", "unshare", "--user", "grace", acting_as="alice")
    token2, changes = sync(srv, "grace", token)
    assert changes == {"/grace/.shared-contacts/alice.vcf": 404} and token2 != token
    assert sync(srv, "grace", token2) == (token2, {})


def test_a_stale_or_foreign_sync_token_is_refused(srv: Server) -> None:
    token, _ = sync(srv, "bob")
    r = srv.request("REPORT", SHARED.format(user="carol"), "carol", SYNC.format(token=token), headers={"Depth": "1"})
    assert r.status_code == 403 and "valid-sync-token" in r.text


def test_a_second_owner_with_a_vcard_40_card(srv: Server) -> None:
    seen = lines(card_of(srv, "bob", "carol"))  # (Radicale stores the card with its parameters reordered)
    assert seen[:3] == ["VERSION:4.0", seen[1], "FN:Carol Østergaard"] and seen[1].startswith("UID:urn:uuid:")
    assert len(seen) == 4 and seen[3].startswith("TEL;") and seen[3].endswith(":tel:+45-1234-5678")
    assert 'TYPE="work,voice"' in seen[3]
    assert set(etags(srv, "bob")) == {"/bob/.shared-contacts/alice.vcf", "/bob/.shared-contacts/carol.vcf"}


# -- writes and bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "headers"), [
    ("PUT", "/bob/.shared-contacts/alice.vcf", ALICE_30, VCF),
    ("PUT", "/bob/.shared-contacts/new.vcf", ALICE_30, VCF),
    ("DELETE", "/bob/.shared-contacts/alice.vcf", None, {}),
    ("DELETE", "/bob/.shared-contacts/", None, {}),
    ("PROPPATCH", "/bob/.shared-contacts/", '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x'
                                            '</D:displayname></D:prop></D:set></D:propertyupdate>', {}),
    ("MKCOL", "/bob/.shared-contacts/", None, {}),
    ("MOVE", "/bob/.shared-contacts/alice.vcf", None, {"Destination": "/bob/contacts/alice.vcf"}),
    ("MOVE", "/bob/contacts/x.vcf", None, {"Destination": "/bob/.shared-contacts/x.vcf"}),
    ("PUT", "/bob/.directory/x.vcf", ALICE_30, VCF),
])
def test_writes_into_the_projected_address_books_are_refused_with_a_reason(srv: Server, method: str, path: str,
                                                                           body: str | None, headers: dict) -> None:
    r = srv.request(method, path, "bob", body, headers=headers)
    assert r.status_code == 403, (r.status_code, r.text)
    root = ET.fromstring(r.text)
    assert root.find("D:need-privileges", NS) is not None
    assert "read-only" in root.findtext("E:reason", namespaces=NS)
    assert "Dr. Alice" in card_of(srv, "bob")


def test_a_me_card_that_is_not_valid_vcard_is_refused_at_put_with_the_reason(srv: Server) -> None:
    stored = srv.request("GET", "/alice/contacts/me.vcf", "alice").content
    for body, reason in (("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Nobody;;;;\r\nEND:VCARD\r\n", "needs FN"),
                         ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\n", "exactly one vCard"),
                         ("hello", "outside BEGIN:VCARD")):
        r = srv.request("PUT", "/alice/contacts/me.vcf", "alice", body, headers=VCF)
        assert r.status_code == 400, r.text
        assert "me card" in r.text and reason in r.text
        assert ET.fromstring(r.text).find("CR:valid-address-data", NS) is not None
    assert srv.request("GET", "/alice/contacts/me.vcf", "alice").content == stored
    r = srv.request("PUT", "/alice/contacts/another.vcf", "alice", "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:another"
                    "\r\nN:Another;;;;\r\nFN:Another\r\nEND:VCARD\r\n", headers=VCF)
    assert r.status_code == 201  # other cards are not me cards (2.1 is not one): only Radicale's rules apply


@pytest.mark.parametrize(("args", "message"), [
    (("card", "share", "--circle", "clients", "--fields", "FN, PHONE"), "unknown vCard field 'PHONE'"),
    (("card", "share", "--circle", "clients", "--fields", "FN, TEL wrok"), "unknown type 'wrok' for TEL"),
    (("card", "share", "--circle", "nosuchcircle", "--fields", "FN"), "no circle named 'nosuchcircle'"),
    (("card", "share", "--user", "nobody", "--fields", "FN"), "no user named 'nobody'"),
    (("card", "set-me", "alice/contacts/missing.vcf"), "no card named or with UID 'missing.vcf'"),
    (("card", "set-me", "bob/contacts/x.vcf"), "only 'bob' chooses their me card"),
])
def test_cli_refuses_bad_policies_with_one_clear_line(srv: Server, args: tuple[str, ...], message: str) -> None:
    before = srv.ok("card", "show", acting_as="alice")
    result = srv.cli(*args, acting_as="alice")
    assert result.code == 1 and result.out == ""
    assert result.err.count("\n") == 1 and message in result.err, result.err
    assert srv.ok("card", "show", acting_as="alice") == before


# -- ask me first ------------------------------------------------------------------------------------


def updates(srv: Server, user: str) -> dict:
    r = srv.request("GET", f"/{user}/.card-updates", user)
    assert r.status_code == 200, r.text
    return r.json()


def answer(srv: Server, user: str, body: dict) -> tuple[int, dict]:
    r = srv.request("POST", f"/{user}/.card-updates", user, json.dumps(body),
                    headers={"Content-Type": "application/json"})
    return r.status_code, r.json()


def test_ask_first_over_http_accept_decline_and_an_update_while_pending(srv: Server) -> None:
    assert answer(srv, "dave", {"ask_first": True})[0] == 200
    kept = card_of(srv, "dave")
    token, _ = sync(srv, "dave")
    edit_alice(srv, "Chief Scientist", "Director of Research")
    assert card_of(srv, "dave") == kept and sync(srv, "dave", token)[1] == {}  # dave's copy stays
    assert updates(srv, "dave")["pending"] == [{"owner": "alice", "name": "Dr. Alice Maria Ångström",
                                                "fields": ["job title"]}]
    assert "until you accept" in card_notices(srv, "dave")[-1]["summary"]
    edit_alice(srv, "Allergic to peanuts", "Allergic to nuts")  # a later update replaces the pending one
    assert sorted(updates(srv, "dave")["pending"][0]["fields"]) == ["job title", "note"]
    assert card_of(srv, "dave") == kept
    status, body = answer(srv, "dave", {"accept": "alice"})
    assert status == 200 and body["accepted"]["owner"] == "alice"
    assert "TITLE:Director of Research" in card_of(srv, "dave") and "Allergic to nuts" in card_of(srv, "dave")
    assert sync(srv, "dave", token)[1] == {"/dave/.shared-contacts/alice.vcf": 200}
    assert updates(srv, "dave")["pending"] == []
    edit_alice(srv, "Director of Research", "Head of Research")
    accepted = card_of(srv, "dave")
    status, body = answer(srv, "dave", {"decline": "alice"})
    assert status == 200 and body["declined"]["fields"] == ["job title"]
    assert card_of(srv, "dave") == accepted and updates(srv, "dave")["pending"] == []  # not offered again
    status, body = answer(srv, "dave", {"decline": "alice"})
    assert status == 404 and "no change of 'alice'" in body["error"]
    edit_alice(srv, "Head of Research", "Research Director")  # a newer version is offered again
    assert updates(srv, "dave")["pending"][0]["owner"] == "alice"
    answer(srv, "dave", {"ask_first": False})
    assert "TITLE:Research Director" in card_of(srv, "dave")


def test_ask_first_on_the_command_line_and_fields_taken_away_apply_at_once(srv: Server) -> None:
    srv.ok("card", "ask-first", "on", "--from", "alice", acting_as="carol")
    kept = card_of(srv, "carol")
    edit_alice(srv, "alice@home.example", "alice@house.example")
    assert card_of(srv, "carol") == kept
    assert srv.ok("card", "updates", acting_as="carol").strip() == \
        "alice: Dr. Alice Maria Ångström changed home e-mail address"
    srv.ok("card", "share", "--circle", "friends", "--fields", "FN, N, NICKNAME, TEL cell, PHOTO", acting_as="alice")
    try:
        assert not any("EMAIL" in line for line in lines(card_of(srv, "carol")))  # at once, even while asked first
        assert srv.ok("card", "updates", acting_as="carol").strip() == "no changed cards are waiting for your answer"
    finally:
        srv.ok("card", "share", "--circle", "friends", "--fields", FRIENDS, acting_as="alice")
    assert "alice@home.example" in card_of(srv, "carol")
    assert srv.ok("card", "accept", "alice", acting_as="carol").startswith("carol accepted")
    assert "alice@house.example" in card_of(srv, "carol")
    result = srv.cli("card", "accept", "alice", acting_as="carol")
    assert result.code == 1 and "no change of 'alice'" in result.err
    result = srv.cli("card", "decline", "alice", acting_as="bob")
    assert result.code == 1 and "not asked first" in result.err
    srv.ok("card", "ask-first", "off", "--from", "alice", acting_as="carol")


def test_card_updates_endpoint_is_for_its_owner_only(srv: Server) -> None:
    assert srv.request("GET", "/dave/.card-updates", None).status_code == 401
    assert srv.request("GET", "/dave/.card-updates", "bob").status_code == 403
    status, body = answer(srv, "dave", {"frobnicate": 1})
    assert status == 400 and "accept" in body["error"]


# -- the directory -------------------------------------------------------------------------------------


def query(srv: Server, user: str | None, filters: str, test: str = "anyof"):
    return srv.request("REPORT", DIRECTORY.format(user=user or "bob"), user, QUERY.format(test=test, filters=filters),
                       headers={"Depth": "1"})


def found(srv: Server, user: str, filters: str, test: str = "anyof") -> dict[str, str]:
    r = query(srv, user, filters, test)
    assert r.status_code == 207, r.text
    return {resp.findtext("D:href", namespaces=NS): resp.findtext(".//CR:address-data", namespaces=NS)
            for resp in ET.fromstring(r.text).findall("D:response", NS)}


@pytest.mark.parametrize(("prop", "text", "match", "hit"), [
    ("FN", "alice", "contains", True), ("FN", "ALICE", "contains", True), ("FN", "ångström", "contains", True),
    ("FN", "dr. alice", "starts-with", True), ("FN", "alice", "starts-with", False),
    ("FN", "ÅNGSTRÖM", "ends-with", True), ("FN", "dr. alice maria ångström", "equals", True),
    ("FN", "alice", "equals", False), ("NICKNAME", "ally", "equals", True), ("N", "Ångström", "contains", True),
    ("FN", "zebra", "contains", False),
])
def test_directory_matches_names_as_rfc_6352_text_match(srv: Server, prop: str, text: str, match: str,
                                                        hit: bool) -> None:
    results = found(srv, "dave", name_filter(prop, text, match))
    assert (results != {}) is hit
    if hit:
        assert list(results) == ["/dave/.directory/alice.vcf"]
        assert lines(results["/dave/.directory/alice.vcf"]) == lines(card_of(srv, "dave"))


def test_directory_answers_each_with_their_projection_and_only_on_fields_they_see(srv: Server) -> None:
    assert lines(found(srv, "bob", name_filter("FN", "alice"))["/bob/.directory/alice.vcf"]) == \
        lines(card_of(srv, "bob"))
    assert found(srv, "bob", name_filter("NICKNAME", "ally")) == {}   # clients do not see the nickname
    assert set(found(srv, "carol", name_filter("NICKNAME", "ally"))) == {"/carol/.directory/alice.vcf"}
    assert set(found(srv, "bob", name_filter("FN", "R"))) == {"/bob/.directory/alice.vcf",
                                                              "/bob/.directory/carol.vcf"}
    assert set(found(srv, "bob", name_filter("FN", "alice", negate=True))) == {"/bob/.directory/carol.vcf"}


def test_directory_outsiders_see_nothing_and_anonymous_requests_get_401(srv: Server) -> None:
    assert found(srv, "frank", name_filter("FN", "alice")) == {}
    assert query(srv, None, name_filter("FN", "alice")).status_code == 401
    r = srv.request("REPORT", "/bob/.directory/", "frank", QUERY.format(test="anyof", filters=name_filter("FN", "a")),
                    headers={"Depth": "1"})
    assert r.status_code == 403


def test_directory_lists_nothing_by_itself_and_is_named_by_the_principal(srv: Server) -> None:
    r = propfind(srv, DIRECTORY.format(user="bob"), "bob")
    assert [resp.findtext("D:href", namespaces=NS) for resp in ET.fromstring(r.text).findall("D:response", NS)] == \
        ["/bob/.directory/"]
    assert ET.fromstring(r.text).find(".//D:resourcetype/CR:directory", NS) is not None
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">'
            "<D:prop><CR:directory-gateway/></D:prop></D:propfind>")
    r = propfind(srv, "/bob/", "bob", depth="0", body=body)
    assert ET.fromstring(r.text).findtext(".//CR:directory-gateway/D:href", namespaces=NS) == "/bob/.directory/"


def test_cli_lookup_answers_as_the_directory(srv: Server) -> None:
    assert lines(srv.ok("card", "lookup", "ångström", acting_as="bob")) == lines(card_of(srv, "bob"))
    assert srv.ok("card", "lookup", "ally", acting_as="bob") == ""
    assert srv.ok("card", "lookup", "ally", "--match", "equals", acting_as="carol") != ""
    assert srv.ok("card", "lookup", "nobody at all", acting_as="carol") == ""
    assert srv.ok("card", "lookup", "alice", acting_as="frank") == ""
    rows = json.loads(srv.ok("card", "list", "--json", acting_as="bob"))
    assert [r["owner"] for r in rows] == ["alice", "carol"]


# -- links -----------------------------------------------------------------------------------------


def test_a_card_link_serves_the_projection_of_the_audience_the_owner_picked(srv: Server) -> None:
    output = srv.ok("link", "create", "alice/contacts", "--card", "me.vcf", "--audience", "friends",
                    acting_as="alice")
    url = next(line for line in output.splitlines() if "/.links/" in line)
    r = srv.session.get(url, timeout=30)
    assert r.status_code == 200
    assert lines(r.content.decode()) == lines(srv.ok("card", "show", "--owner", "alice", "--audience", "friends"))
    plain = srv.cli("link", "create", "alice/contacts", "--card", "me.vcf", acting_as="alice")
    assert plain.code == 1 and "add --audience" in plain.err  # a link has no login: the card needs an audience
    result = srv.cli("link", "create", "alice/contacts", "--card", "other.vcf", "--audience", "friends",
                     acting_as="alice")
    assert result.code == 1 and "is for 'alice''s me card" in result.err
    result = srv.cli("link", "create", "alice/contacts", "--card", "me.vcf", "--audience", "strangers",
                     acting_as="alice")
    assert result.code == 1 and "no audience 'strangers'" in result.err


def test_quoted_hrefs_work(srv: Server) -> None:
    assert srv.request("GET", quote("/bob/.shared-contacts/alice.vcf"), "bob").status_code == 200


# -- editing the card from the command line ----------------------------------------------------------


def test_the_me_card_is_edited_from_the_command_line_like_from_a_client(srv: Server, tmp_path) -> None:
    global ALICE_NOW
    stored = srv.ok("card", "show", "--stored", acting_as="alice")
    assert stored.replace("\r\n", "\n") == srv.request("GET", "/alice/contacts/me.vcf", "alice").text.replace(
        "\r\n", "\n")
    tokens = {user: sync(srv, user)[0] for user in ("bob", "carol")}
    notices = len(card_notices(srv, "carol"))
    new = tmp_path / "me.vcf"
    changed = ALICE_NOW.replace("NICKNAME:Ally", "NICKNAME:Ali")
    new.write_text(changed, newline="")
    assert "is replaced" in srv.ok("card", "replace", str(new), acting_as="alice")
    ALICE_NOW = changed
    assert "NICKNAME:Ali" in srv.request("GET", "/alice/contacts/me.vcf", "alice").text
    assert sync(srv, "bob", tokens["bob"])[1] == {}  # clients do not see the nickname
    assert sync(srv, "carol", tokens["carol"])[1] == {"/carol/.shared-contacts/alice.vcf": 200}
    assert [n["summary"] for n in card_notices(srv, "carol")[notices:]] == \
        ["Dr. Alice Maria Ångström's nickname changed"]
    from radicale_ext.site import Settings, Site
    site = Site(Settings.from_ini(str(srv.config)))
    try:
        record = [r for r in site.outbox.records() if r.change.item == "me.vcf"][-1]
    finally:
        site.db.close()
    assert (record.change.kind.value, record.change.actor, record.change.collection) == \
        ("item-updated", "alice", "/alice/contacts/")
    for text, message in (("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nN:X;;;;\r\nEND:VCARD\r\n", "needs FN"),
                          (ALICE_NOW.replace("UID:alice-own-uid\r\n", ""), "needs a UID"),
                          (ALICE_NOW.replace("UID:alice-own-uid", "UID:other"), "has the UID 'other'")):
        new.write_text(text, newline="")
        result = srv.cli("card", "replace", str(new), acting_as="alice")
        assert result.code == 1 and result.err.count("\n") == 1 and message in result.err, result.err
    result = srv.cli("card", "replace", str(new), "--owner", "alice", acting_as="bob")
    assert result.code == 1 and "'bob' may not act for 'alice'" in result.err
    assert "NICKNAME:Ali" in srv.request("GET", "/alice/contacts/me.vcf", "alice").text


def test_notices_are_listed_in_the_dav_notification_collection(srv: Server) -> None:
    edit_alice(srv, "+44 7700 900123", "+44 7700 900111")
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
            "<D:prop><CS:notificationtype/></D:prop></D:propfind>")
    r = propfind(srv, "/carol/.notifications/", "carol", body=body)
    names = [resp.findtext("D:href", namespaces=NS) for resp in ET.fromstring(r.text).findall("D:response", NS)
             if resp.find(".//CS:card-changed", NS) is not None]
    assert names
    document = ET.fromstring(srv.request("GET", names[-1], "carol").content)
    assert document.findtext("CS:card-changed/D:href", namespaces=NS) == "/carol/.shared-contacts/alice.vcf"
    assert document.findtext("CS:card-changed/CS:summary", namespaces=NS).endswith("changed")


def test_removing_a_user_forgets_their_card_and_what_they_saw(fresh_server: Server) -> None:
    s = fresh_server
    for user in ("alice", "bob"):
        assert s.request("MKCOL", f"/{user}/contacts/", user, address_book_mkcol("Contacts")).status_code == 201
    put_card(s, "alice", "/alice/contacts/me.vcf", ALICE_30)
    s.ok("card", "set-me", "alice/contacts/me.vcf", acting_as="alice")
    s.ok("card", "share", "--user", "bob", "--fields", "FN, TEL work", acting_as="alice")
    s.ok("card", "ask-first", "on", acting_as="bob")
    token, changes = sync(s, "bob")
    assert changes == {"/bob/.shared-contacts/alice.vcf": 200}
    s.ok("user", "remove", "alice")
    assert sync(s, "bob", token)[1] == {"/bob/.shared-contacts/alice.vcf": 404}
    from radicale_ext.site import Settings, Site
    site = Site(Settings.from_ini(str(s.config)))
    try:
        for table, column in (("me_cards", "owner"), ("card_audiences", "owner"), ("card_accepted", "owner"),
                              ("card_names", "owner")):
            assert site.db.read(f"SELECT 1 FROM {table} WHERE {column} = 'alice'") == [], table
    finally:
        site.db.close()


def test_a_change_through_a_share_of_the_address_book_is_checked_and_told(srv: Server) -> None:
    srv.ok("share", "add", "alice/contacts", "--user", "grace", "--role", "collaborator")
    srv.ok("card", "share", "--user", "grace", "--fields", "*", acting_as="alice")  # she sees all of it
    try:
        mount = "/grace/contacts~alice/me.vcf"
        r = srv.request("PUT", mount, "grace", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:alice-own-uid\r\nN:X;;;;\r\n"
                        "END:VCARD\r\n", headers=VCF)
        assert r.status_code == 400 and "alice's me card" in r.text and "needs FN" in r.text
        notices = len(card_notices(srv, "bob"))
        edit_alice_through(srv, mount, "alice@acme.example", "alice@acme.test")
        assert [n["summary"] for n in card_notices(srv, "bob")[notices:]] == \
            ["Dr. Alice Maria Ångström's work e-mail address changed"]
        assert "alice@acme.test" in card_of(srv, "bob")
    finally:
        srv.ok("card", "unshare", "--user", "grace", acting_as="alice")
        srv.ok("share", "remove", "alice/contacts", "--user", "grace")


def edit_alice_through(srv: Server, path: str, old: str, new: str) -> None:
    global ALICE_NOW
    ALICE_NOW = ALICE_NOW.replace(old, new)
    r = srv.request("PUT", path, "grace", ALICE_NOW, headers=VCF)
    assert r.status_code in (201, 204), r.text


def test_a_change_by_other_means_than_a_put_is_told_at_the_next_read(srv: Server) -> None:
    token, _ = sync(srv, "bob")
    notices = len(card_notices(srv, "bob"))
    assert srv.request("DELETE", "/alice/contacts/me.vcf", "alice").status_code == 200
    try:
        token2, changes = sync(srv, "bob", token)
        assert changes == {"/bob/.shared-contacts/alice.vcf": 404}
        assert [n["summary"] for n in card_notices(srv, "bob")[notices:]] == \
            ["alice's card is no longer shared with you"]
        assert found(srv, "dave", name_filter("FN", "alice")) == {}
    finally:
        put_card(srv, "alice", "/alice/contacts/me.vcf", ALICE_30)
    assert sync(srv, "bob", token2)[1] == {"/bob/.shared-contacts/alice.vcf": 200}
    assert lines(card_of(srv, "bob")) == lines(srv.ok("card", "show", "--owner", "alice", "--audience", "clients"))


def test_people_who_may_not_write_the_card_learn_nothing_of_it_from_a_put(srv: Server) -> None:
    srv.ok("share", "add", "alice/contacts", "--user", "frank", "--role", "subscriber")
    try:
        bad = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:alice-own-uid\r\nN:X;;;;\r\nEND:VCARD\r\n"
        for user, path in (("frank", "/frank/contacts~alice/me.vcf"), ("bob", "/alice/contacts/me.vcf")):
            r = srv.request("PUT", path, user, bad, headers=VCF)
            assert r.status_code == 403 and "me card" not in r.text, (user, r.status_code, r.text)
    finally:
        srv.ok("share", "remove", "alice/contacts", "--user", "frank")


def test_a_deleted_circle_takes_its_audience_with_it(srv: Server) -> None:
    srv.ok("circle", "create", "neighbours", "--manager", "alice")
    srv.ok("circle", "add", "neighbours", "grace", acting_as="alice")
    srv.ok("card", "share", "--circle", "neighbours", "--fields", "FN, ADR home", acting_as="alice")
    assert card_of(srv, "grace") is not None
    srv.ok("circle", "delete", "neighbours", acting_as="alice")
    srv.ok("circle", "create", "neighbours", "--manager", "grace")  # someone else's circle of the same name
    try:
        assert card_of(srv, "grace") is None
        assert "circle:neighbours" not in srv.ok("card", "show", acting_as="alice")
    finally:
        srv.ok("circle", "delete", "neighbours")
