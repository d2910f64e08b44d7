"""Connections: slow clients cannot lock others out; writes keep their connection (issue 13, items 16, 21).

Slow clients are real sockets held open against a real server, for real
seconds: idle ones, and ones that trickle a request head one byte at a
time (slowloris) so that the connection never looks idle.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from ..samples import ICS, address_book_mkcol, event
from ..server import Server, make_server, password


@contextlib.contextmanager
def slow_clients(server: Server, idle: int, trickling: int, every: float = 0.5) -> Iterator[list[socket.socket]]:
    """``idle`` connections that send nothing, and ``trickling`` ones that send a request head one byte
    every ``every`` seconds, for as long as the block runs (or until the server hangs up on them)."""
    sockets: list[socket.socket] = []
    for _ in range(idle + trickling):
        s = socket.socket()
        s.settimeout(5)
        s.connect_ex(("127.0.0.1", server.port))   # beyond the server's limit, connections wait in its queue
        sockets.append(s)
    stop = threading.Event()
    hung_up: set[int] = set()

    def trickle() -> None:
        head = f"PROPFIND /alice/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {'a' * 10_000}".encode()
        position = 0
        while not stop.wait(every):
            for i, s in enumerate(sockets[idle:], start=idle):
                if i in hung_up:
                    continue
                try:
                    s.send(head[position:position + 1])
                except OSError:
                    hung_up.add(i)
            position = (position + 1) % len(head)

    worker = threading.Thread(target=trickle, daemon=True)
    worker.start()
    try:
        yield sockets
    finally:
        stop.set()
        worker.join()
        for s in sockets:
            s.close()


def hung_up_on(s: socket.socket) -> bool:
    try:
        s.settimeout(0.1)
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_many_slow_clients_do_not_lock_out_a_normal_one(tmp_path) -> None:
    """A small limit and short deadline, so the test needs seconds: 30 idle and 90 trickling connections
    against a limit of 40; a normal client is answered once the slow ones run out of time."""
    srv = make_server(tmp_path / "srv", server={"max_connections": "40", "timeout": "3"}).start()
    try:
        with slow_clients(srv, idle=30, trickling=90) as sockets:
            time.sleep(1)
            answer = requests.request("PROPFIND", srv.url + "/alice/", auth=("alice", password("alice")),
                                      headers={"Depth": "0"}, timeout=20)
            assert answer.status_code == 207
            time.sleep(4)
            assert sum(hung_up_on(s) for s in sockets) >= 100, "the slow connections were not cut off"
        assert "did not arrive within the time allowed" in srv.log()
    finally:
        srv.stop()


def test_the_default_limits_hold_120_slow_connections(server: Server) -> None:
    """The embedded default config: 120 connections that trickle their heads do not fill the server."""
    with slow_clients(server, idle=0, trickling=120, every=1.0):
        time.sleep(1)
        answer = requests.request("PROPFIND", server.url + "/alice/", auth=("alice", password("alice")),
                                  headers={"Depth": "0"}, timeout=10)
        assert answer.status_code == 207


# -- keep-alive (item 21) -------------------------------------------------------------------------


WRITES = [
    ("MKCALENDAR", "/bob/F%C3%BC%C3%9Fball/", None, {}),
    ("PUT", "/bob/F%C3%BC%C3%9Fball/%F0%9F%8E%89.ics", event("party", "🎉 party"), ICS),
    ("PUT", "/bob/F%C3%BC%C3%9Fball/%F0%9F%8E%89.ics", event("party", "🎉 party, later"), ICS),
    ("PROPPATCH", "/bob/F%C3%BC%C3%9Fball/",
     '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>Fußball</D:displayname>'
     "</D:prop></D:set></D:propertyupdate>", {"Content-Type": "application/xml"}),
    ("MOVE", "/bob/F%C3%BC%C3%9Fball/%F0%9F%8E%89.ics", None,
     {"Destination": "/bob/F%C3%BC%C3%9Fball/M%C3%BCller.ics"}),
    ("OPTIONS", "/bob/F%C3%BC%C3%9Fball/", None, {}),
    ("DELETE", "/bob/F%C3%BC%C3%9Fball/M%C3%BCller.ics", None, {}),
    ("MKCOL", "/bob/%E5%AE%B6%E5%BA%AD/", address_book_mkcol("家庭"), {"Content-Type": "application/xml"}),
    ("DELETE", "/bob/%E5%AE%B6%E5%BA%AD/", None, {}),
]


def test_writes_keep_the_connection_open(server: Server) -> None:
    """One keep-alive connection (http.client) does a client's writes; the socket is never replaced."""
    auth = "Basic " + base64.b64encode(f"bob:{password('bob')}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.connect()
    first = connection.sock
    port = first.getsockname()[1]
    for method, path, body, headers in WRITES:
        connection.request(method, path, body=body.encode() if body else None,
                           headers={"Authorization": auth, **headers})
        response = connection.getresponse()
        response.read()
        assert response.status < 300, (method, path, response.status)
        assert response.getheader("Connection", "").lower() != "close", (method, response.getheaders())
        if response.status != 204:   # a 204 may not carry one (RFC 9110 section 8.6)
            assert response.getheader("Content-Length") is not None, (method, response.getheaders())
        assert connection.sock is first and first.getsockname()[1] == port, f"{method} {path} closed the connection"
    connection.close()


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_refused_write_keeps_the_connection_open_too(server: Server, method: str) -> None:
    auth = "Basic " + base64.b64encode(f"carol:{password('carol')}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request(method, "/bob/nicht-meins/x.ics", body=event("x").encode() if method == "PUT" else None,
                       headers={"Authorization": auth, **ICS})
    first = connection.sock
    response = connection.getresponse()
    response.read()
    assert response.status == 403
    connection.request("OPTIONS", "/", headers={"Authorization": auth})
    connection.getresponse().read()
    assert connection.sock is first
    connection.close()
