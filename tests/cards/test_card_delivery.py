"""A me card that changed for someone reaches them through the channels they chose, like any notice.

Alice's card (vCard 3.0: name, two phone numbers, e-mail, a home address, a birthday, a note) is shared with
bob (FN and TEL) and dave (everything).  Her address book "Kontakte" is shared with bob as a collaborator as
well, so his phone also syncs it through his mount.  A real SMTP server (aiosmtpd), a webhook receiver and a
push service on loopback stand for the outside world; the worker runs on a clock the test moves past the
coalescing window (60 s).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from ..dav_kit import parse_sync, sync
from ..notice_kit import (
    NS,
    FakeClock,
    Mailbox,
    Received,
    Receiver,
    UserAgent,
    davx5_body,
    in_days,
    notice_server,
    smtp_server,
    worker_of,
)
from ..samples import VCF, address_book_mkcol
from ..server import Server, free_port
from .test_card_privacy import ALICE, ZHANG

CARD = "/alice/contacts/alice.vcf"
NAME = "Alice Müller (米勒爱丽丝)"
SENDER = "kalender@example.org"
# what bob may not see of alice's card, as values and as the words for the fields
HIDDEN_VALUES = ("alice@mueller.example", "Fußgängerstraße", "München", "1988-02-29", "Schlüssel", "Nachbarn",
                 "Party", "Söhne")
HIDDEN_WORDS = ("e-mail", "address", "birthday", "note", "nickname", "organi")


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str, smtp_port: int) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("card-delivery"), notices_window="60", smtp_server="127.0.0.1",
                           smtp_port=str(smtp_port), from_email=SENDER).start()
    assert server.request("MKCOL", "/alice/contacts/", "alice", address_book_mkcol("Kontakte")).status_code == 201
    server.card = ALICE
    put(server, ALICE)
    assert server.request("PUT", "/alice/contacts/zhang.vcf", "alice", ZHANG, headers=VCF).status_code == 201
    server.ok("card", "set-me", "alice/contacts/alice.vcf", acting_as="alice")
    server.ok("card", "share", "--user", "bob", "--fields", "FN, TEL", acting_as="alice")
    server.ok("card", "share", "--user", "dave", "--fields", "*", acting_as="alice")
    server.ok("share", "add", "alice/contacts", "--user", "bob", "--role", "collaborator")
    for user in ("bob", "dave"):
        server.ok("notices", "email", f"{user}@example.org", acting_as=user)
    yield server
    server.stop()


PROPFIND_PUSH = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:P="https://bitfire.at/webdav-push">
  <D:prop><P:transports/><P:topic/><P:supported-triggers/></D:prop>
</D:propfind>"""


def put(srv: Server, text: str) -> None:
    r = srv.request("PUT", CARD, "alice", text, headers=VCF)
    assert r.status_code in (201, 204), (r.status_code, r.text)


def edit(srv: Server, field: str, value: str, **more: str) -> None:
    """Alice sets lines of her card (``TEL;TYPE=CELL``, ``NOTE``..., and ``more`` by the names of their
    properties: ``BDAY="..."``) to new values in one PUT, whatever they were: each test sets values of its own,
    so none depends on what another test of this module left (xdist's worksteal may run them anywhere)."""
    lines = srv.card.split("\r\n")
    for name, new in {field: value, **more}.items():
        [at] = [n for n, line in enumerate(lines) if line.startswith(f"{name}:")]
        assert lines[at] != f"{name}:{new}", "a change"
        lines[at] = f"{name}:{new}"
    srv.card = "\r\n".join(lines)
    put(srv, srv.card)


def tell(srv: Server, smtp_port: int, *, later: float = 61) -> Mailbox:
    """Run the worker once the window of what was just changed has closed; what the SMTP server received."""
    mailbox = Mailbox()
    clock = FakeClock()
    clock.advance(later)
    with smtp_server(mailbox, smtp_port):
        worker_of(srv, clock).run_until_idle()
    return mailbox


def to(mailbox: Mailbox, user: str) -> list[EmailMessage]:
    return [m for m in mailbox.messages if m["To"] == f"{user}@example.org"]


def every_part(raw: bytes) -> str:
    """The whole message as its reader's program could show it: headers, and every part decoded."""
    import email
    import email.policy
    message = email.message_from_bytes(raw, policy=email.policy.default)
    texts = [str(v) for _k, v in message.items()]
    for part in message.walk():
        if not part.is_multipart():
            content = part.get_content()
            texts.append(content.decode("utf-8", "replace") if isinstance(content, bytes) else content)
    return "\n".join(texts)


def hides_what_bob_may_not_see(text: str) -> None:
    for value in HIDDEN_VALUES:
        assert value not in text, value
    # the footer speaks of "address books": no word for a field may be there but that
    lowered = text.lower().replace("address book", "")
    for words in HIDDEN_WORDS:
        assert words not in lowered, words


def test_a_hidden_field_changes_bob_hears_nothing_dave_hears_it(srv: Server, smtp_port: int) -> None:
    tell(srv, smtp_port)   # what the set-up told
    edit(srv, "NOTE", "🎉 Party-Planerin. Schlüssel liegt unter der Matte (家庭)")
    mailbox = tell(srv, smtp_port)
    assert to(mailbox, "bob") == []
    [dave] = to(mailbox, "dave")
    assert dave["Subject"] == f"{NAME}'s note changed"


def test_a_visible_field_changes_one_email_in_words_and_nothing_hidden(srv: Server, smtp_port: int) -> None:
    tell(srv, smtp_port)
    # the mobile number (bob sees it) and the note and the birthday (he does not) change in one edit
    edit(srv, "TEL;TYPE=CELL", "+49 171 7654321", BDAY="1988-03-01")
    mailbox = tell(srv, smtp_port)
    [bob] = to(mailbox, "bob")
    assert bob["Subject"] == f"{NAME}'s mobile number changed"
    assert f"{NAME}'s mobile number changed." in bob.get_body(("plain",)).get_content()
    assert [p for p in bob.iter_attachments()] == [], "no card attached: it would show what bob may not see"
    [raw] = [r for r, (_sender, rcpts) in zip(mailbox.raw, mailbox.envelopes, strict=True)
             if rcpts == ["bob@example.org"]]
    whole = every_part(raw)
    assert "mobile number" in whole
    hides_what_bob_may_not_see(whole)
    [dave] = to(mailbox, "dave")
    assert dave["Subject"] == f"{NAME}'s birthday and mobile number changed", "dave sees it whole"


def test_a_burst_of_three_edits_is_one_message(srv: Server, smtp_port: int) -> None:
    tell(srv, smtp_port)
    edit(srv, "TEL;TYPE=CELL", "+49 172 1111111")
    edit(srv, "TEL;TYPE=WORK,VOICE", "+49 30 2222222")
    edit(srv, "TEL;TYPE=CELL", "+49 173 3333333")
    mailbox = tell(srv, smtp_port)
    [bob] = to(mailbox, "bob")
    assert bob["Subject"] == f"{NAME}'s mobile number and work phone number changed", bob["Subject"]
    assert len(to(mailbox, "dave")) == 1


def test_bob_chose_a_webhook_and_his_phone_subscribed_to_push(srv: Server, smtp_port: int) -> None:
    tell(srv, smtp_port)
    shared_contacts, mount = UserAgent(), UserAgent()
    offered = srv.request("PROPFIND", "/bob/.shared-contacts/", "bob", PROPFIND_PUSH, headers={"Depth": "0"})
    assert offered.status_code == 207, offered.text
    prop = ET.fromstring(offered.content).find("D:response/D:propstat/D:prop", NS)
    assert prop.findtext("P:topic", namespaces=NS) and prop.find("P:transports/P:web-push/P:vapid-public-key", NS) \
        is not None, "DAVx5 sees that bob's Shared contacts offer push"
    theirs = srv.request("POST", "/bob/.shared-contacts/", "carol", davx5_body("https://push.example/c", UserAgent(),
                         in_days(3)), headers={"Content-Type": "application/xml; charset=utf-8"})
    assert theirs.status_code == 403 and ET.fromstring(theirs.content).find("P:push-not-available", NS) is not None
    with Receiver() as receiver:
        srv.ok("notices", "webhook", f"{receiver.url}/hook", acting_as="bob")
        for path, agent, name in (("/bob/.shared-contacts/", shared_contacts, "shared"),
                                  ("/bob/contacts~alice/", mount, "mount")):
            r = srv.request("POST", path, "bob", davx5_body(f"{receiver.url}/push/{name}", agent, in_days(3)),
                            headers={"Content-Type": "application/xml; charset=utf-8"})
            assert r.status_code == 201, r.text

        edit(srv, "NOTE", "🎉 Party-Königin. Schlüssel liegt unter der Matte (家庭)")   # hidden from bob: nothing
        tell(srv, smtp_port)
        assert receiver.requests == []

        edit(srv, "TEL;TYPE=CELL", "+49 174 4444444")      # he sees it: webhook, and a push to both devices
        mailbox = tell(srv, smtp_port)
        got: dict[str, Received] = {r.path: r for r in receiver.requests}
    assert sorted(got) == ["/hook", "/push/mount", "/push/shared"]
    hook = json.loads(got["/hook"].body)
    [notice] = hook["notices"]
    assert notice["text"] == f"{NAME}'s mobile number changed"
    hides_what_bob_may_not_see(json.dumps(hook, ensure_ascii=False))
    for path, agent, name in (("/bob/.shared-contacts/", shared_contacts, "shared"),
                              ("/bob/contacts~alice/", mount, "mount")):
        message = ET.fromstring(agent.decrypt(got[f"/push/{name}"].body))
        token = message.findtext("P:content-update/D:sync-token", namespaces=NS)
        assert token and parse_sync(sync(srv, path, "bob")).token == token, path
    assert len(to(mailbox, "bob")) == 1
    srv.ok("notices", "webhook", "--remove", acting_as="bob")


def test_muted_and_digests_are_honoured(srv: Server, smtp_port: int) -> None:
    tell(srv, smtp_port)
    srv.ok("notices", "mute", acting_as="bob")
    before = stored(srv, "bob")
    edit(srv, "TEL;TYPE=CELL", "+49 175 5555555")
    assert to(tell(srv, smtp_port), "bob") == []
    assert stored(srv, "bob") == before, "muted: not even the notification collection"
    srv.ok("notices", "unmute", acting_as="bob")

    srv.ok("notices", "set", "email", "daily", acting_as="bob")
    edit(srv, "TEL;TYPE=CELL", "+49 176 6666666")
    assert to(tell(srv, smtp_port), "bob") == [], "a daily digest waits for its hour"
    [digest] = to(tell(srv, smtp_port, later=2 * 86400), "bob")
    assert f"{NAME}'s mobile number changed" in digest.get_body(("plain",)).get_content()
    srv.ok("notices", "reset", "email", acting_as="bob")


def stored(srv: Server, user: str) -> list[str]:
    from radicale_ext.site import Settings, Site
    site = Site(Settings.from_ini(str(srv.config)))
    try:
        return [str(n.data["summary"]) for n in site.notices.notices(user) if n.kind.value == "card-changed"]
    finally:
        site.db.close()


def test_the_owner_and_a_stranger_hear_nothing_of_it(srv: Server, smtp_port: int) -> None:
    tell(srv, smtp_port)
    srv.ok("notices", "email", "erin@example.org", acting_as="erin")
    srv.ok("notices", "email", "alice@example.org", acting_as="alice")
    edit(srv, "TEL;TYPE=CELL", "+49 177 7777777")
    mailbox = tell(srv, smtp_port)
    assert to(mailbox, "alice") == [] and to(mailbox, "erin") == []
    assert len(to(mailbox, "bob")) == 1
