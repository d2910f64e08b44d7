"""What the change-notice tests share: a server with notices, a worker driven by the test's clock,
and local stand-ins for the outside world (an SMTP server, a push service, a webhook receiver)."""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import email.utils
import http.server
import json
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from radicale import config

from radicale_ext.notices.service import Notices
from radicale_ext.notices.worker import Worker
from radicale_ext.plugins._site import settings_from
from radicale_ext.plugins.hook import notice_settings
from radicale_ext.plugins.worker import notices_for, reminders_for
from radicale_ext.site import Site

from .server import Server, free_port, make_server

ICS = {"Content-Type": "text/calendar"}
NS = {"D": "DAV:", "CS": "http://calendarserver.org/ns/", "E": "urn:radicale-ext",
      "P": "https://bitfire.at/webdav-push"}
# notices delivered only when the test says so (no thread), no coalescing unless asked; the local receivers
# on 127.0.0.1 are allowed explicitly (without it the server refuses its own machine: test_outbound.py)
TEST_OPTIONS = {"notices_worker": "none", "notices_window": "0", "notices_https_only": "false",
                "notices_outbound_allow": "127.0.0.1",
                "notices_retry_after": "30", "notices_max_attempts": "3", "notices_timeout": "5",
                "notices_poll": "0.1"}


class FakeClock:
    """The worker's clock: starts now, moves only when the test says."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def notice_server(root: Path, users: tuple[str, ...] | None = None, **hook: str) -> Server:
    kwargs = {"users": users} if users else {}
    return make_server(root, hook={**TEST_OPTIONS, **hook}, **kwargs)


def configuration(server: Server) -> config.Configuration:
    return config.load([(str(server.config), False)])


def worker_of(server: Server, clock: Callable[[], float] | None = None, *, name: str = "test-worker",
              own_database: bool = False, **kwargs) -> Worker:
    """A worker in this process on the server's database; ``own_database`` as a second process would have."""
    conf = configuration(server)
    settings = notice_settings(conf)
    notices = Notices(Site(settings_from(conf)), settings) if own_database else notices_for(conf, settings)
    return Worker(notices, name=name, clock=clock or time.time, reminders=reminders_for(notices), **kwargs)


def event(uid: str, summary: str, start: str = "20260105T180000", tzid: str | None = "Europe/Berlin") -> str:
    dtstart = f"DTSTART;TZID={tzid}:{start}" if tzid else f"DTSTART:{start}"
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{dtstart}\r\nDURATION:PT1H\r\nSUMMARY:{summary}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def put_event(server: Server, user: str, path: str, uid: str, summary: str, **kwargs: str) -> None:
    r = server.request("PUT", path, user, event(uid, summary, **kwargs), headers=ICS)
    assert r.status_code in (201, 204), (r.status_code, r.text)


PROPFIND_TYPES = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:prop><D:getetag/><CS:notificationtype/></D:prop>
</D:propfind>"""


def change_documents(server: Server, user: str) -> list[ET.Element]:
    """The user's CS:resource-change notifications, as GET returns them, oldest first."""
    r = server.request("PROPFIND", f"/{quote(user)}/.notifications/", user, PROPFIND_TYPES, headers={"Depth": "1"})
    assert r.status_code == 207, r.text
    documents = []
    for response in ET.fromstring(r.content).findall("D:response", NS):
        kind = response.find("D:propstat/D:prop/CS:notificationtype", NS)
        if kind is not None and kind.find("CS:resource-change", NS) is not None:
            href = response.findtext("D:href", namespaces=NS)
            got = server.request("GET", href, user)
            assert got.status_code == 200, got.text
            documents.append(ET.fromstring(got.content))
    return documents


def change_texts(server: Server, user: str) -> list[str]:
    """The sentence of each of the user's change notices."""
    return [d.findtext("CS:resource-change/E:text", namespaces=NS) for d in change_documents(server, user)]


# -- an SMTP server on loopback --------------------------------------------------------------


def _open() -> threading.Event:
    gate = threading.Event()
    gate.set()
    return gate


@dataclass
class Mailbox:
    """aiosmtpd handler: keeps what it accepts; ``refuse`` answers RCPT TO for some addresses.  While ``gate``
    is clear, a message's DATA waits (``waiting`` is set): its sender is held in the middle of sending it,
    and the message is kept once the gate opens (as a mail server that accepted it before its sender died)."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)        # each message's bytes as received
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: Callable[[str], str | None] = lambda _address: None
    data_delay: float = 0.0
    gate: threading.Event = field(default_factory=_open)
    waiting: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        answer = self.refuse(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if not self.gate.is_set():
            self.waiting.set()
            self.gate.wait(60)
        if self.data_delay:
            time.sleep(self.data_delay)
        self.raw.append(envelope.original_content)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@contextlib.contextmanager
def smtp_server(mailbox: Mailbox, port: int | None = None) -> Iterator[int]:
    port = port or free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


# -- an HTTP receiver (webhook receiver, push service) on loopback ------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records every POST; ``answer(request)`` chooses the status (default 201)."""

    def __init__(self, answer: Callable[[Received], int] = lambda _r: 201) -> None:
        self.requests: list[Received] = []
        self.answer = answer
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                receiver.requests.append(request)
                status = receiver.answer(request)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                return None

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- a Web Push user agent: its keys, and reading what the push service got ---------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UserAgent:
    """A device's Web Push subscription keys (RFC 8291 section 2)."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.public = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                                 serialization.PublicFormat.UncompressedPoint)
        self.auth = b"0123456789abcdef"

    def register_body(self, endpoint: str, expires: str | None = None, key_element: str = "subscription-public-key"
                      ) -> str:
        when = f"<P:expires>{expires}</P:expires>" if expires else ""
        return f"""<?xml version="1.0" encoding="utf-8"?>
<P:push-register xmlns:P="https://bitfire.at/webdav-push" xmlns:D="DAV:">
  <P:subscription><P:web-push-subscription>
    <P:push-resource>{endpoint}</P:push-resource>
    <P:{key_element} type="p256dh">{b64url(self.public)}</P:{key_element}>
    <P:auth-secret>{b64url(self.auth)}</P:auth-secret>
  </P:web-push-subscription></P:subscription>
  <P:trigger><P:content-update><D:sync-level>1</D:sync-level></P:content-update></P:trigger>
  {when}
</P:push-register>"""

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 section 3 and RFC 8188 section 2, as the receiving user agent does it."""
        salt, record_size, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        sender = body[21:21 + id_length]
        ciphertext = body[21 + id_length:]
        assert record_size >= len(ciphertext), "one record"
        shared = self.private_key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), sender))

        def hkdf(salt_: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
            return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt_, info=info).derive(ikm)

        ikm = hkdf(self.auth, shared, b"WebPush: info\x00" + self.public + sender, 32)
        key = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
        nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
        plain = AESGCM(key).decrypt(nonce, ciphertext, None).rstrip(b"\x00")
        assert plain.endswith(b"\x02"), "the last record's delimiter"
        return plain[:-1]


def davx5_body(endpoint: str, agent: UserAgent, expires: str) -> str:
    """What DAVx5 4.5.19 POSTs (core/.../push/PushRegistrationManager.kt ``subscribe``), as dav4jvm's kxml2
    serializer writes it: a generated prefix, no ``trigger``, no ``content-encoding``, an ``expires`` 3 days on."""
    return ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"
            '<n0:push-register xmlns:n0="https://bitfire.at/webdav-push"><n0:subscription>'
            f"<n0:web-push-subscription><n0:push-resource>{endpoint}</n0:push-resource>"
            f'<n0:subscription-public-key type="p256dh">{b64url(agent.public)}</n0:subscription-public-key>'
            f"<n0:auth-secret>{b64url(agent.auth)}</n0:auth-secret></n0:web-push-subscription></n0:subscription>"
            f"<n0:expires>{expires}</n0:expires></n0:push-register>")


def in_days(days: float) -> str:
    return email.utils.formatdate(time.time() + days * 86400, usegmt=True)


def check_vapid(authorization: str, endpoint_origin: str, public_key: str, now: float) -> dict:
    """Verify an ``Authorization: vapid t=..., k=...`` header (RFC 8292 sections 2, 3); returns the claims."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid"
    values = dict(p.strip().split("=", 1) for p in params.split(","))
    assert values["k"] == public_key, "k is the server's advertised VAPID key"
    header, claims, signature = values["t"].split(".")
    assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
    raw = unb64url(signature)
    assert len(raw) == 64
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(values["k"]))
    key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
               f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
    body = json.loads(unb64url(claims))
    assert body["aud"] == endpoint_origin
    assert now < body["exp"] <= now + 24 * 3600
    assert body["sub"].startswith(("mailto:", "https:"))
    return body


def shared(srv: Server, name: str, *sharees: str) -> str:
    """A new calendar of alice's, shared at once with ``sharees`` as collaborators; its path."""
    assert srv.request("MKCALENDAR", f"/alice/{name}/", "alice").status_code == 201
    for user in sharees:
        srv.ok("share", "add", f"alice/{name}", "--user", user, "--role", "collaborator")
    return f"/alice/{name}/"


def servers_run_with(code: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers and workers started from now on run ``code`` first (a ``sitecustomize`` module in ``folder``,
    put on their PYTHONPATH): a test's way to make them die, or be slow, at one chosen step."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))


def servers_watch_marker(code: str, marker: Path, variable: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Servers and workers started from now on run ``code`` (:func:`servers_run_with`), which watches the
    file ``marker`` (not made here) named by the environment variable ``variable``; ``marker``."""
    servers_run_with(code, marker.with_name(marker.name + "-code"), monkeypatch)
    monkeypatch.setenv(variable, str(marker))
    return marker
