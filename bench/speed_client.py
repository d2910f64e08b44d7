"""The speed benchmark's thin client, request bodies and test data (see run_speed.py).

A keep-alive ``http.client.HTTPConnection`` with a Basic Authorization header:
``requests`` adds ~1.7 ms per call, which would swamp a 5 ms target.  Every
status is checked; a wrong one raises :class:`RequestFailed` with the same
message as ``http_timing.expect``.

``http.client`` sets TCP_NODELAY on its socket.  With ``Site.quick_ack`` the
client also acknowledges every segment at once (Linux TCP_QUICKACK, set again
before each read, as the kernel leaves quick-ACK mode on its own): a server
that writes an answer in several pieces without TCP_NODELAY (Cyrus IMAP's
httpd) otherwise waits for the client's delayed ACK (40 ms on Linux) before
the last piece, a floor that on loopback, where one segment holds 64 KiB,
hits every answer of more than one write (bench/run_real.py).
"""

from __future__ import annotations

import base64
import http.client
import io
import random
import re
import socket
from dataclasses import dataclass

from run_foundation import PROPFIND_ETAGS, RESPONSE_RE, SYNC_REPORT, SYNC_TOKEN_RE

from tests.server import password

PROPFIND_CTAG = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
<D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>"""

CALENDAR_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
<C:time-range start="{start}" end="{end}"/>
</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"""

ADDRESSBOOK_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/></D:prop>
<CR:filter><CR:prop-filter name="FN"><CR:text-match match-type="contains">{text}</CR:text-match>
</CR:prop-filter></CR:filter></CR:addressbook-query>"""

SURNAMES = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Schmidt", "Haddad", "Kowalski", "Nguyen", "Silva",
            "O'Brien", "Rossi", "Petrov", "Jensen", "Murphy", "Dubois", "Novak", "Costa", "Fischer", "Yilmaz",
            "Andersen", "Kim", "Garcia", "Ivanova", "Brown", "Mensah", "Horvath", "Sato", "Larsen", "Weber",
            "Popescu", "Chen", "Martin", "Nielsen", "Bauer", "Kaya", "Santos", "Meyer", "Ali", "Wagner",
            "Singh", "Berg", "Lopez", "Kovacs", "Hansen", "Moller", "Ortiz", "Varga", "Lambert", "Duarte", "Ito")
CARD_QUERY_TEXT = "lindq"  # one surname in 50: 2% of the cards

VCARD = """BEGIN:VCARD\r
VERSION:3.0\r
UID:{uid}\r
FN:Person {n:05d} {surname}\r
N:{surname};Person {n:05d};;;\r
EMAIL;TYPE=INTERNET:person{n:05d}@example.org\r
TEL;TYPE=CELL:+1-555-{n:05d}\r
END:VCARD\r
"""

WEEK_RE = re.compile(r"^\d{8}T\d{6}Z$")


def card_uid(n: int) -> str:
    return f"card-{n:05d}"


def card_href(n: int) -> str:
    return f"{card_uid(n)}.vcf"


def vcard(n: int) -> str:
    return VCARD.format(uid=card_uid(n), n=n, surname=SURNAMES[n % len(SURNAMES)])


def address_book_of(cards: int) -> str:
    return "".join(vcard(n) for n in range(cards))


def card_matches(cards: int) -> int:
    """How many of ``cards`` cards the addressbook-query must return."""
    return sum(CARD_QUERY_TEXT in SURNAMES[n % len(SURNAMES)].lower() for n in range(cards))


def calendar_query(start: str, end: str) -> str:
    assert WEEK_RE.match(start) and WEEK_RE.match(end), (start, end)
    return CALENDAR_QUERY.format(start=start, end=end)


def addressbook_query(text: str = CARD_QUERY_TEXT) -> str:
    return ADDRESSBOOK_QUERY.format(text=text)


def sync_report(token: str) -> str:
    return SYNC_REPORT.format(token=token)


def responses(body: str) -> int:
    """``<response>`` elements in a multistatus, whatever the namespace prefix."""
    return len(RESPONSE_RE.findall(body))


def sync_token_of(body: str, who: str) -> str:
    match = SYNC_TOKEN_RE.search(body)
    if not match:
        raise RuntimeError(f"{who}: no sync-token in {body[:300]}")
    return match.group(1)


@dataclass(frozen=True)
class Site:
    """One server as the benchmark sees it: where its data is.  Picklable (client processes get it).

    ``others``: the ports of more processes of the same server (one database behind them all); a
    client then sends each request to one of them at random, as a load balancer would."""

    name: str
    port: int
    user: str
    calendar: str  # the loaded calendar, N events
    cards: str  # the loaded address book, N vCards
    bulk: str  # an empty calendar, made for the bulk PUT
    others: tuple[int, ...] = ()
    quick_ack: bool = False  # acknowledge every segment at once (see the module's docstring)

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, *self.others)

    def client(self) -> Http:
        return Http(self.ports, self.user, quick_ack=self.quick_ack)


class RequestFailed(RuntimeError):
    """A response with a status the benchmark did not expect."""

    def __init__(self, method: str, url: str, status: int, codes: tuple[int, ...], text: str) -> None:
        super().__init__(f"{method} {url}: {status} (expected {codes}):\n{text[:500]}")
        self.method, self.status, self.text = method, status, text

    def summary(self) -> str:
        """The same for every item: no path, the first line of the answer."""
        first = next((line.strip() for line in self.text.splitlines() if line.strip()), "")
        return f"{self.method} answered {self.status}: {first[:160] or '(no body)'}"


class QuickAckReader(io.RawIOBase):
    """The socket's reading end (``raw``, what ``socket.makefile`` gives) asking for an immediate ACK before
    every read (TCP_QUICKACK is not sticky).  Closing it closes ``raw``, which lets the socket go."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket) -> None:
        self.raw, self.sock = raw, sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:  # noqa: ANN001 - a writable buffer
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return self.raw.readinto(buffer)

    def close(self) -> None:
        self.raw.close()
        super().close()


class QuickAckResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args, **kwargs) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = io.BufferedReader(QuickAckReader(self.fp.detach(), sock))


class QuickAckConnection(http.client.HTTPConnection):
    """``http.client.HTTPConnection`` (TCP_NODELAY) that also acknowledges every segment at once."""

    response_class = QuickAckResponse


class Http:
    """Keep-alive connections to 127.0.0.1 as ``user`` (password from tests.server): one to ``ports``, or,
    given several, one to each, every request going to one of them at random (its own random numbers,
    seeded afresh in each client process)."""

    def __init__(self, ports: int | tuple[int, ...], user: str, timeout: float = 300,
                 quick_ack: bool = False) -> None:
        self.ports = (ports,) if isinstance(ports, int) else ports
        self.timeout = timeout
        self.connection = QuickAckConnection if quick_ack else http.client.HTTPConnection
        token = base64.b64encode(f"{user}:{password(user)}".encode()).decode()
        self.auth = f"Basic {token}"
        self.conns: dict[int, http.client.HTTPConnection] = {}
        self._pick = random.Random()

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()

    def _port(self) -> int:
        return self.ports[0] if len(self.ports) == 1 else self._pick.choice(self.ports)

    def _send(self, port: int, method: str, path: str, body: bytes | None,
              headers: dict[str, str]) -> tuple[int, bytes]:
        conn = self.conns.get(port)
        if conn is None:
            conn = self.conns[port] = self.connection("127.0.0.1", port, timeout=self.timeout)
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        data = response.read()
        if response.will_close:
            self.conns.pop(port).close()
        return response.status, data

    def call(self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None,
             codes: tuple[int, ...] = (200,)) -> str:
        """The response body, after checking the status; one retry when a kept-alive connection was closed."""
        sent = {"Authorization": self.auth, **(headers or {})}
        if body is not None:
            sent.setdefault("Content-Type", "application/xml; charset=utf-8")
        data = body.encode() if body is not None else None
        port = self._port()
        reused = port in self.conns
        try:
            status, answer = self._send(port, method, path, data, sent)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn = self.conns.pop(port, None)
            if conn is not None:
                conn.close()
            if not reused:
                raise
            status, answer = self._send(port, method, path, data, sent)
        text = answer.decode("utf-8", errors="replace")
        if status not in codes:
            raise RequestFailed(method, f"http://127.0.0.1:{port}{path}", status, codes, text)
        return text

    # the requests of the benchmark, each checked

    def ctag(self, site: Site) -> str:
        return self.call("PROPFIND", site.calendar, PROPFIND_CTAG, {"Depth": "0"}, (207,))

    def sync_token(self, site: Site) -> str:
        return sync_token_of(self.ctag(site), site.name)

    def sync(self, site: Site, token: str) -> str:
        return self.call("REPORT", site.calendar, sync_report(token), {"Depth": "1"}, (207,))

    def etags(self, site: Site) -> str:
        return self.call("PROPFIND", site.calendar, PROPFIND_ETAGS, {"Depth": "1"}, (207,))

    def week(self, site: Site, start: str, end: str) -> str:
        return self.call("REPORT", site.calendar, calendar_query(start, end), {"Depth": "1"}, (207,))

    def card_search(self, site: Site) -> str:
        return self.call("REPORT", site.cards, addressbook_query(), {"Depth": "1"}, (207,))

    def put(self, path: str, body: str, codes: tuple[int, ...] = (201, 204), new: bool = False) -> str:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if new:
            headers["If-None-Match"] = "*"
        return self.call("PUT", path, body, headers, codes)
