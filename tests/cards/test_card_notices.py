"""Change notices about an address book that holds a me card never show the card to whom it is hidden.

Alice shares her address book "contacts", which holds her me card, with bob
(her card shows him FN and TEL), dave (he sees it whole) and erin (in no
audience of the card).  A change to the card is an ordinary change of the
address book for Radicale, so it reaches the notice worker like any other;
only dave, who reads the card as stored, may hear of it by name.  bob hears
of it only through his Shared contacts' own notice, and only when a field
he sees changed; erin never hears of it.  Changes of other cards in the same
burst reach everyone as before.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from ..notice_kit import FakeClock, change_documents, notice_server, worker_of
from ..samples import VCF, address_book_mkcol
from ..server import Server
from .test_card_privacy import ALICE, ZHANG

CARD = "/alice/contacts/alice.vcf"


def put(srv: Server, path: str, text: str) -> None:
    r = srv.request("PUT", path, "alice", text, headers=VCF)
    assert r.status_code in (201, 204), (r.status_code, r.text)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    # a burst within one window makes one notice, so the card's edit and another card's share one
    server = notice_server(tmp_path_factory.mktemp("card-notices"), notices_window="60").start()
    assert server.request("MKCOL", "/alice/contacts/", "alice", address_book_mkcol("Kontakte")).status_code == 201
    put(server, CARD, ALICE)
    put(server, "/alice/contacts/zhang.vcf", ZHANG)
    server.ok("card", "set-me", "alice/contacts/alice.vcf", acting_as="alice")
    server.ok("card", "share", "--user", "bob", "--fields", "FN, TEL", acting_as="alice")
    server.ok("card", "share", "--user", "dave", "--fields", "*", acting_as="alice")
    for user in ("bob", "dave", "erin"):
        server.ok("share", "add", "alice/contacts", "--user", user, "--role", "collaborator")
    tell(server)   # what the set-up itself told
    yield server
    server.stop()


def tell(srv: Server) -> None:
    """Run the worker once the window of what was just changed has closed."""
    clock = FakeClock()
    clock.advance(61)
    worker_of(srv, clock).run_until_idle()


def told(srv: Server, user: str) -> str:
    """Everything ``user``'s change notices say (sentences, lines and hrefs), as one text."""
    return "\n".join(ET.tostring(d, encoding="unicode") for d in change_documents(srv, user))


def test_a_hidden_edit_of_the_me_card_is_told_only_to_who_sees_the_card_whole(srv: Server) -> None:
    before = {user: told(srv, user) for user in ("bob", "dave", "erin")}
    put(srv, CARD, ALICE.replace("Schlüssel liegt beim Nachbarn", "Schlüssel liegt unter der Matte"))
    put(srv, "/alice/contacts/zhang.vcf", ZHANG.replace("Shanghai", "Peking"))
    tell(srv)

    news = {user: told(srv, user).removeprefix(before[user]) for user in before}
    for user in ("bob", "dave", "erin"):
        assert "张伟" in news[user], f"{user} hears of the other card as before"
    assert "alice.vcf" in news["dave"] and "Alice Müller" in news["dave"]
    for user in ("bob", "erin"):
        assert "alice.vcf" not in news[user] and "Müller" not in news[user], news[user]
