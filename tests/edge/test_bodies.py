"""Request bodies cannot crash, exhaust or stall the server (issue 13, items 14 and 15).

Each body is sent over a real socket to a real server process, and then the
same process must still answer.  Big bodies are announced by their
``Content-Length`` and only partly sent (or streamed in pieces until the
server hangs up): the test never holds them in memory, and the server must
not either.
"""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Iterator

import pytest

from ..server import Server, make_server, password

MB = 1_000_000


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("bodies")).start()
    assert server.request("MKCALENDAR", "/alice/Fußball/", "alice").status_code == 201
    yield server
    server.stop()


def still_answers(server: Server) -> None:
    assert server.proc is not None and server.proc.poll() is None, f"the server died:\n{server.log()[-2000:]}"
    assert server.request("PROPFIND", "/alice/", "alice", headers={"Depth": "0"}).status_code == 207


def rss_kib(server: Server) -> int:
    assert server.proc is not None
    for line in open(f"/proc/{server.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def head(server: Server, method: str, path: str, length: int | None, user: str | None = None,
         *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", *extra]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if user:
        lines.append("Authorization: Basic " + base64.b64encode(f"{user}:{password(user)}".encode()).decode())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer_of(sock: socket.socket, wait: float = 10) -> bytes:
    """The status line, headers and body (as long as its Content-Length says) the server sent, whatever
    arrived within ``wait`` seconds: the body may come in a packet of its own."""
    sock.settimeout(wait)
    data = b""
    try:
        while not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def _complete(data: bytes) -> bool:
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return length is None or len(body) >= int(length.group(1))


# -- XML bodies (item 14) ------------------------------------------------------------------------

NESTED = 200_000
DEEP = ('<?xml version="1.0" encoding="utf-8"?>' + "<D:prop xmlns:D=\"DAV:\">" + "<a>" * NESTED + "</a>" * NESTED
        + "</D:prop>").encode()
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol9;</D:displayname></D:prop></D:propfind>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE propfind [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>&secret;</D:displayname></D:prop></D:set>
</D:propertyupdate>"""
XML_TARGETS = {
    "PROPFIND": "/alice/Fu%C3%9Fball/",
    "PROPPATCH": "/alice/Fu%C3%9Fball/",
    "REPORT": "/alice/Fu%C3%9Fball/",
    "MKCOL": "/alice/neu%201/",
    "MKCALENDAR": "/alice/neu%202/",
}


@pytest.mark.parametrize("method", list(XML_TARGETS))
def test_a_body_nested_200000_deep_is_refused_and_the_server_lives(srv: Server, method: str) -> None:
    answer = srv.request(method, XML_TARGETS[method], "alice", DEEP,
                         headers={"Content-Type": "application/xml", "Depth": "1"})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert "deep" in answer.text
    still_answers(srv)


@pytest.mark.parametrize("body", [BOMB, XXE], ids=["billion-laughs", "xxe"])
@pytest.mark.parametrize("method", list(XML_TARGETS))
def test_entities_are_refused(srv: Server, method: str, body: bytes) -> None:
    answer = srv.request(method, XML_TARGETS[method], "alice", body,
                         headers={"Content-Type": "application/xml", "Depth": "0"})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert "entity" in answer.text and "root:" not in answer.text
    still_answers(srv)


def test_an_xml_body_larger_than_4_mib_is_refused(srv: Server) -> None:
    many = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:prop><D:getetag/></D:prop>" + "<D:href>/alice/Fu%C3%9Fball/x.ics</D:href>" * 120_000
            + "</C:calendar-multiget>").encode()
    answer = srv.request("REPORT", "/alice/Fu%C3%9Fball/", "alice", many, headers={"Depth": "1"})
    assert answer.status_code == 413, (answer.status_code, answer.text[:300])
    still_answers(srv)


# -- the body limit (item 15) ----------------------------------------------------------------------


def test_a_put_above_max_content_length_gets_413_before_its_body_is_read(srv: Server) -> None:
    """150 MB announced (the limit is 100 MB); the test streams 1 MB pieces until the server hangs up."""
    before = rss_kib(srv)
    sent = 0
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(head(srv, "PUT", "/alice/Fu%C3%9Fball/gross.ics", 150 * MB, "alice",
                          "Content-Type: text/calendar"))
        piece = b"x" * MB
        try:
            while sent < 150 * MB:
                sock.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert sent < 50 * MB, f"the server read {sent} bytes of a body it refuses"
    assert rss_kib(srv) - before < 50_000
    still_answers(srv)


def test_an_announced_body_above_the_limit_is_refused_at_once(srv: Server) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(head(srv, "PUT", "/alice/Fu%C3%9Fball/gross.ics", 150 * MB, "alice") + b"BEGIN:VCALENDAR")
        answer = answer_of(sock, wait=10)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"max_content_length" in answer or b"100000000" in answer


def test_a_chunked_body_is_cut_at_the_limit(tmp_path) -> None:
    small = make_server(tmp_path / "small", server={"max_content_length": str(MB)}).start()
    try:
        sent = 0
        with socket.create_connection(("127.0.0.1", small.port), timeout=30) as sock:
            sock.sendall(head(small, "PUT", "/alice/x.ics", None, "alice", "Transfer-Encoding: chunked"))
            piece = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
            try:
                while sent < 20 * MB:
                    sock.sendall(piece)
                    sent += 64 * 1024
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = answer_of(sock)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
        assert sent < 10 * MB
        still_answers(small)
    finally:
        small.stop()


def test_a_body_without_credentials_is_not_read(srv: Server) -> None:
    """A 50 MB POST without credentials (under the limit) gets 401 at once; the body is never read."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(head(srv, "POST", "/alice/Fu%C3%9Fball/", 50 * MB, None, "Content-Type: application/xml")
                     + b"<x/>")
        answer = answer_of(sock, wait=10)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b"www-authenticate: basic" in answer.lower()
    still_answers(srv)


def test_a_small_probe_without_credentials_keeps_its_connection(srv: Server) -> None:
    """A client's first PROPFIND, before it knows it must log in: 401, and the same connection goes on."""
    body = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>'
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall(head(srv, "PROPFIND", "/", len(body), None, "Depth: 0") + body)
        first = answer_of(sock)
        assert first.startswith(b"HTTP/1.1 401"), first[:300]
        length = int(first.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        rest = first.split(b"\r\n\r\n", 1)[1]
        while len(rest) < length:
            rest += sock.recv(65536)
        sock.sendall(head(srv, "PROPFIND", "/alice/", len(body), "alice", "Depth: 0") + body)
        second = answer_of(sock)
    assert second.startswith(b"HTTP/1.1 207"), second[:300]
