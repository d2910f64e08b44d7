"""E-mail: a real SMTP server (aiosmtpd) on loopback receives the notices; failures are retried,
then dead-lettered, and nothing is lost."""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from radicale_ext.base import layout
from radicale_ext.base.collection_store import FolderStore
from radicale_ext.notices.changes import ChangeNotice, ItemChange
from radicale_ext.notices.channels import Outgoing
from radicale_ext.notices.channels.email import EmailSender
from radicale_ext.notices.delivery import Delivery, State
from radicale_ext.notices.outbox import ChangeKind
from radicale_ext.notices.preferences import Contact
from radicale_ext.notices.settings import SmtpSettings
from radicale_ext.notices.wording import Wording

from ..notice_kit import FakeClock, Mailbox, event, notice_server, put_event, shared, smtp_server, worker_of
from ..server import Server, free_port

USERS = ("alice", "bob", "carol", "dave@")   # dave@'s name looks like an address, but is none
SENDER = "calendar@example.org"


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str, smtp_port: int) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("email"), users=USERS, smtp_server="127.0.0.1",
                           smtp_port=str(smtp_port), from_email=SENDER).start()
    for user in ("alice", "bob", "carol"):
        server.ok("notices", "email", f"{user}@example.org", acting_as=user)
    yield server
    server.stop()


def shared_calendar(srv: Server, name: str, *sharees: str) -> str:
    return shared(srv, name, *sharees).strip("/")


def dead(srv: Server) -> list[dict]:
    return json.loads(srv.ok("--json", "notices", "dead"))


def test_each_recipient_gets_a_message_with_text_html_and_the_event(srv: Server, smtp_port: int) -> None:
    shared_calendar(srv, "sports", "bob", "carol")
    put_event(srv, "bob", "/bob/sports~alice/fp.ics", "fp-uid", "Football practice")
    mailbox = Mailbox()
    with smtp_server(mailbox, smtp_port):
        progress = worker_of(srv).run_until_idle()
    assert progress.delivered == 2
    by_rcpt = {m["To"]: m for m in mailbox.messages}
    assert set(by_rcpt) == {"alice@example.org", "carol@example.org"}, "not the actor"
    assert [rcpts for _sender, rcpts in mailbox.envelopes if rcpts == ["bob@example.org"]] == []
    carol = by_rcpt["carol@example.org"]
    assert carol["From"] == SENDER
    assert carol["Subject"] == "Bob added Football practice on Mon 5 Jan 18:00 in sports (alice)"
    assert by_rcpt["alice@example.org"]["Subject"] == "Bob added Football practice on Mon 5 Jan 18:00 in sports"
    assert carol["Message-ID"].startswith("<n") and carol["Message-ID"].endswith("@example.org>")
    assert carol["Auto-Submitted"] == "auto-generated"
    text = carol.get_body(("plain",)).get_content()
    html = carol.get_body(("html",)).get_content()
    assert "Hello carol," in text and "Bob added Football practice on Mon 5 Jan 18:00 in sports (alice)." in text
    assert "<strong>Bob added Football practice on Mon 5 Jan 18:00 in sports (alice).</strong>" in html
    [attachment] = list(carol.iter_attachments())
    assert attachment.get_content_type() == "text/calendar" and attachment.get_filename() == "fp.ics"
    assert "UID:fp-uid" in attachment.get_content() and "SUMMARY:Football practice" in attachment.get_content()
    assert carol["Message-ID"] != by_rcpt["alice@example.org"]["Message-ID"]


def test_a_server_that_is_down_means_retries_then_dead_letter_then_retry_delivers(srv: Server, smtp_port: int
                                                                                  ) -> None:
    shared_calendar(srv, "down", "carol")
    put_event(srv, "alice", "/alice/down/x.ics", "x", "Nobody listening")
    clock = FakeClock()
    worker = worker_of(srv, clock)
    assert worker.run_until_idle().failed == 1                       # attempt 1: no SMTP server
    clock.advance(29)
    assert not worker.run_until_idle(), "back-off: 30 s before the second attempt"
    clock.advance(1)
    assert worker.run_until_idle().failed == 1                       # attempt 2
    clock.advance(60)                                                # doubled
    assert worker.run_until_idle().failed == 1                       # attempt 3: max_attempts reached
    [row] = [r for r in dead(srv) if r["recipient"] == "carol"]
    assert row["channel"] == "email" and row["attempts"] == 3
    assert "cannot reach the SMTP server 127.0.0.1" in row["error"]
    clock.advance(10_000)
    assert not worker.run_until_idle(), "dead: not retried by itself"

    mailbox = Mailbox()
    with smtp_server(mailbox, smtp_port):
        assert "1 delivery queued again" in srv.ok("notices", "retry", str(row["id"]))
        clock.now = max(clock.now, time.time()) + 1
        assert worker.run_until_idle().delivered == 1
    assert [m["Subject"] for m in mailbox.messages] == [
        "Alice added Nobody listening on Mon 5 Jan 18:00 in down (alice)"]
    assert [r for r in dead(srv) if r["id"] == row["id"]] == []


def test_refusals_temporary_are_retried_permanent_are_dead_at_once(srv: Server, smtp_port: int) -> None:
    shared_calendar(srv, "refused", "bob", "carol")
    put_event(srv, "alice", "/alice/refused/r.ics", "r", "Refused")
    answers = {"bob@example.org": "451 4.3.0 try again later", "carol@example.org": "550 5.1.1 no such user"}
    mailbox = Mailbox(refuse=answers.get)
    clock = FakeClock()
    with smtp_server(mailbox, smtp_port):
        worker = worker_of(srv, clock)
        worker.run_until_idle()
        rows = {r["recipient"]: r for r in dead(srv) if "refused by the SMTP server" in r["error"]}
        assert set(rows) == {"carol"} and "550 5.1.1 no such user" in rows["carol"]["error"]
        for _ in range(2):
            clock.advance(3600)
            worker.run_until_idle()
        rows = {r["recipient"]: r for r in dead(srv) if "refused by the SMTP server" in r["error"]}
        assert set(rows) == {"bob", "carol"} and rows["bob"]["attempts"] == 3
    assert mailbox.messages == []


def test_an_invalid_address_is_dead_lettered_and_others_still_get_theirs(srv: Server, smtp_port: int,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    shared_calendar(srv, "mixed", "dave@", "carol")
    put_event(srv, "alice", "/alice/mixed/m.ics", "m", "Mixed bag")
    mailbox = Mailbox()
    with smtp_server(mailbox, smtp_port), caplog.at_level(logging.WARNING, logger="radicale_ext.notices"):
        progress = worker_of(srv).run_until_idle()
    assert (progress.delivered, progress.failed) == (1, 1)
    assert [m["To"] for m in mailbox.messages] == ["carol@example.org"]
    [row] = [r for r in dead(srv) if r["recipient"] == "dave@"]
    assert row["attempts"] == 1 and "'dave@' is not a valid e-mail address" in row["error"]
    assert any(r.levelno == logging.ERROR and "'dave@' is not a valid e-mail address" in r.getMessage()
               and "dead" in r.getMessage() for r in caplog.records)


def test_an_hourly_digest_collects_notices_into_one_message(srv: Server, smtp_port: int) -> None:
    shared_calendar(srv, "digest", "carol")
    srv.ok("notices", "set", "email", "hourly", "--collection", "alice/digest", acting_as="carol")
    mailbox = Mailbox()
    clock = FakeClock()
    with smtp_server(mailbox, smtp_port):
        worker = worker_of(srv, clock)
        put_event(srv, "alice", "/alice/digest/one.ics", "one", "First thing")
        clock.now = time.time()
        worker.run_until_idle()
        put_event(srv, "alice", "/alice/digest/two.ics", "two", "Second thing")
        clock.now = time.time()
        worker.run_until_idle()
        assert [m for m in mailbox.messages if m["To"] == "carol@example.org"] == []
        clock.now = (int(clock.now) // 3600 + 1) * 3600 + 1                     # the next full hour
        worker.run_until_idle()
    [digest] = [m for m in mailbox.messages if m["To"] == "carol@example.org"]
    assert digest["Subject"] == "2 changes in calendars and address books shared with you"
    text = digest.get_body(("plain",)).get_content()
    assert "First thing" in text and "Second thing" in text


def _certificate() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_login(tmp_path, security: str) -> None:
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert, key = _certificate()
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    port, mailbox = free_port(), Mailbox()
    # aiosmtpd offers AUTH only after its own STARTTLS; with implicit TLS the whole session is encrypted
    options = {"tls_context": context, "require_starttls": True} if security == "starttls" else \
        {"ssl_context": context, "auth_require_tls": False}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_required=True, **options)
    (tmp_path / "password").write_text("s3cret\n")
    server = notice_server(tmp_path / "srv", smtp_server="127.0.0.1", smtp_port=str(port), from_email=SENDER,
                           smtp_security=security, smtp_ssl_verify_mode="NONE", smtp_username="mailer",
                           smtp_password_file=str(tmp_path / "password")).start()
    controller.start()
    try:
        assert server.request("MKCALENDAR", "/alice/tls/", "alice").status_code == 201
        server.ok("share", "add", "alice/tls", "--user", "bob", "--role", "subscriber")
        server.ok("notices", "email", "bob@example.org", acting_as="bob")
        put_event(server, "alice", "/alice/tls/t.ics", "t", "Over TLS")
        assert worker_of(server).run_until_idle().delivered == 1
    finally:
        controller.stop()
        server.stop()
    assert logins == [(b"mailer", b"s3cret")]
    assert [m["Subject"] for m in mailbox.messages] == ["Alice added Over TLS on Mon 5 Jan 18:00 in tls (alice)"]


# -- non-ASCII names and long subjects (issue 13, item 3) ------------------------------------------------

LONG_SUMMARY = ("Großes Familientreffen bei Müllers im Schrebergarten mit Grillen, Kuchen und Fußball für "
                "alle Generationen 全家人在花园里烧烤吃蛋糕踢足球庆祝奶奶八十大寿欢迎所有亲戚朋友参加 🎉🎂 danach "
                "gemütliches Beisammensein bis spät in die Nacht, Übernachtung möglich")
ICS_SUMMARY = LONG_SUMMARY.replace(",", "\\,")    # RFC 5545 3.3.11


def _line_ends(raw: bytes) -> tuple[int, int]:
    """(bare LF, bare CR) in a message as received."""
    return raw.replace(b"\r\n", b"").count(b"\n"), raw.replace(b"\r\n", b"").count(b"\r")


def _check_received(raw: bytes) -> None:
    assert _line_ends(raw) == (0, 0), "every line ends in CRLF (RFC 5322 2.1)"
    assert raw.isascii(), "8-bit text only through MIME encodings (RFC 2045, 2047, 2231)"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998, "RFC 5322 2.1.1"


def _hrefs(srv: Server, path: str) -> list[str]:
    """The names of a collection's members, as the server lists them (PROPFIND, decoded)."""
    r = srv.request("PROPFIND", path, "alice", headers={"Depth": "1"})
    assert r.status_code == 207
    return [unquote(h.text or "").rsplit("/", 1)[-1] for h in ET.fromstring(r.content).iter("{DAV:}href")]


def test_an_item_with_a_non_ascii_name_and_a_long_summary_is_mailed(srv: Server, smtp_port: int) -> None:
    """Over HTTP: the item's name is not ASCII, its summary is 200 characters of German and Chinese."""
    assert len(LONG_SUMMARY) >= 200
    shared_calendar(srv, "garten", "bob")
    put_event(srv, "alice", "/alice/garten/caf%C3%A9.ics", "cafe-uid", ICS_SUMMARY)
    [stored] = [href for href in _hrefs(srv, "/alice/garten/") if href.endswith(".ics")]
    mailbox = Mailbox()
    with smtp_server(mailbox, smtp_port):
        progress = worker_of(srv).run_until_idle()
    assert (progress.delivered, progress.failed) == (1, 0)
    [raw] = mailbox.raw
    _check_received(raw)
    [message] = mailbox.messages
    assert message["Subject"] == f"Alice added {LONG_SUMMARY} on Mon 5 Jan 18:00 in garten (alice)"
    assert LONG_SUMMARY in message.get_body(("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == stored, "named as the server names the item"
    assert f"SUMMARY:{ICS_SUMMARY}" in attachment.get_content().replace("\r\n ", "")


@pytest.mark.parametrize("name", ["Fußball 🎉.ics", "家庭.ics", "Geburtstag Oma (Müller).ics", "Geburtstag.ics"])
def test_the_attachment_keeps_its_non_ascii_name(tmp_path, name: str) -> None:
    """The e-mail channel and a real SMTP server, the item stored under its name as Radicale stores it
    (UTF-8 file names); "Geburtstag.ics": an ASCII name, the long subject alone."""
    calendar = layout.collection_folder(str(tmp_path / "collections"), "/alice/家庭/")
    os.makedirs(calendar)
    text = event("u1", ICS_SUMMARY)
    with open(os.path.join(calendar, name), "w", encoding="utf-8", newline="") as f:
        f.write(text)
    change = ItemChange(kind=ChangeKind.ITEM_CREATED, at=time.time(), item=name, component="VEVENT", uid="u1",
                        new={"SUMMARY": ICS_SUMMARY, "DTSTART": "20260105T180000", "DTSTART_TZID": "Europe/Berlin"})
    notice = ChangeNotice(id=7, collection="/alice/家庭/", actor="alice", changes=(change,), created_at=time.time())
    delivery = Delivery(id=1, notice_id=7, recipient="bob", channel="email", target="", digest="",
                        state=State.QUEUED, due_at=0, attempts=0, last_error="", created_at=0)
    port, mailbox = free_port(), Mailbox()
    sender = EmailSender(SmtpSettings(server="127.0.0.1", port=port, sender=SENDER), Wording(lambda _c: "家庭"),
                         FolderStore(str(tmp_path / "collections")).item_text, timeout=5)
    with smtp_server(mailbox, port):
        sender.send(Outgoing((delivery,), (notice,), Contact("bob", email="bob@example.org")), time.time())
        sender.close()
    [raw] = mailbox.raw
    _check_received(raw)
    [message] = mailbox.messages
    assert message["Subject"] == f"Alice added {LONG_SUMMARY} on Mon 5 Jan 18:00 in 家庭 (alice)"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == name
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_content().replace("\r\n", "\n") == text.replace("\r\n", "\n")
