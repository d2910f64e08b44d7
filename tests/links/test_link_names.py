"""Links and me cards to items whose names are in any language (issue 13, item 10: every feature).

Clients name items as they like: ``Fußball 🎉.ics``, ``家庭聚会.ics``,
``Anna Müller.vcf``.  A link to such an event or card, made from the
command line by its file name or its UID, opens without an account and
shows it; so does a card chosen as a me card by such a name.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from ..samples import ICS, VCF, address_book_mkcol
from ..server import Server, make_server

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T180000Z\r\nDURATION:PT1H\r\nSUMMARY:{summary}\r\n"
         "END:VEVENT\r\nEND:VCALENDAR\r\n")
CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:anna-müller\r\nFN:Anna Müller\r\nTEL:+49 30 1234\r\nEND:VCARD\r\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("link-names")).start()
    assert server.request("MKCALENDAR", f"/alice/{quote('家庭')}/", "alice").status_code == 201
    events = (("Fußball 🎉.ics", "fussball", "Fußball 🎉"), ("家庭聚会.ics", "家庭聚会-2026", "家庭聚会"))
    for name, uid, summary in events:
        r = server.request("PUT", f"/alice/{quote('家庭')}/{quote(name)}", "alice",
                           EVENT.format(uid=uid, summary=summary), headers=ICS)
        assert r.status_code == 201, r.text
    book = f"/alice/{quote('Kontakte 家庭')}/"
    assert server.request("MKCOL", book, "alice", address_book_mkcol("Kontakte")).status_code == 201
    assert server.request("PUT", book + quote("Anna Müller.vcf"), "alice", CARD, headers=VCF).status_code == 201
    yield server
    server.stop()


def opened(srv: Server, *args: str) -> requests.Response:
    """Create a link with the CLI as alice and open it without an account."""
    made = srv.cli("link", "create", *args, "--base-url", srv.url, acting_as="alice")
    assert made.code == 0, made.err
    url = next(line.strip() for line in made.out.splitlines() if line.strip().startswith("http"))
    return requests.get(url, timeout=10)


@pytest.mark.parametrize(("wanted", "summary"), [
    ("Fußball 🎉.ics", "Fußball 🎉"), ("Fußball 🎉", "Fußball 🎉"),      # by file name, with or without .ics
    ("家庭聚会.ics", "家庭聚会"), ("家庭聚会-2026", "家庭聚会"),          # by file name, by UID
])
def test_a_link_to_an_event_named_in_any_language(srv: Server, wanted: str, summary: str) -> None:
    r = opened(srv, "alice/家庭", "--event", wanted)
    assert r.status_code == 200 and f"SUMMARY:{summary}" in r.text, r.text


def test_a_link_to_a_card_named_in_any_language(srv: Server) -> None:
    r = opened(srv, "alice/Kontakte 家庭", "--card", "Anna Müller.vcf")
    assert r.status_code == 200 and "FN:Anna Müller" in r.text, r.text


def test_a_me_card_named_in_any_language(srv: Server) -> None:
    srv.ok("card", "set-me", "alice/Kontakte 家庭/Anna Müller.vcf", acting_as="alice")
    srv.ok("card", "share", "--user", "bob", "--fields", "FN, TEL", acting_as="alice")
    shown = srv.ok("card", "show", "--owner", "alice", "--for", "bob")
    assert "FN:Anna Müller" in shown and "TEL:+49 30 1234" in shown
    r = srv.request("GET", "/bob/.shared-contacts/alice.vcf", "bob")
    assert r.status_code == 200 and "FN:Anna Müller" in r.text, r.text


@pytest.mark.parametrize("bad", ["../x.ics", ".Radicale.props", "a/b.ics", "tab\there.ics", "x" * 256 + ".ics"])
def test_names_that_cannot_be_an_item_are_refused_in_one_line(srv: Server, bad: str) -> None:
    result = srv.cli("link", "create", "alice/家庭", "--event", bad, acting_as="alice")
    assert result.code == 1 and result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
