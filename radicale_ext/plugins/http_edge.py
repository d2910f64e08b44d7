"""Waitress, set up for a small server that faces the internet (or a reverse proxy).

What reaches the application is decided here, on the wire, before a worker
thread or a byte of body is spent on it:

- **Paths in UTF-8.** Waitress decodes a percent-decoded path as latin-1
  (PEP 3333); clients send UTF-8 (RFC 3986 section 2.5).  The path is
  decoded again as UTF-8, the way Radicale's own server does it, so the
  application sees ``/alice/Müller/``; a path that is not UTF-8 gets 400.
  A ``Destination`` header sent as raw UTF-8 is read the same way.
- **No fragments.** A request-target with ``#`` gets 400 and touches nothing
  (waitress would cut ``#ment`` off and run ``DELETE /frag/``).
- **Bodies.** A ``Content-Length`` above ``[server] max_content_length``
  gets 413 before a byte of the body is read.  A body sent without
  credentials is never kept: up to 64 KiB (a client's first PROPFIND
  before it knows it must log in) is read and dropped, so the connection
  stays open and the application answers 401; anything larger gets 401 at
  once and the connection is closed.  The web page's forms (``/.my/``, which
  log in with a form and a cookie, not a header) are kept when they are at
  most :data:`radicale_ext.web.http.MAX_FORM_BYTES`; a larger one gets 413.
- **Keep-alive.** A 204 or 304 answer (no body, no length) no longer ends
  the connection; the application gives every other empty answer
  ``Content-Length: 0``.
- **Connections.** At most ``[server] max_connections`` at once (more wait
  in the listen queue).  ``[server] timeout`` seconds is how long a
  connection may sit idle, how long a request's head may take to arrive
  from its first byte, and the grace a body gets before it must keep
  arriving at 1 KiB/s on average; a client that trickles bytes to hold a
  connection (slowloris) is cut off when its time is up.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from radicale import config, types
from radicale.log import logger
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask
from waitress.utilities import Error, RequestEntityTooLarge

from radicale_ext.base import request_limits
from radicale_ext.base.errors import ExtError
from radicale_ext.web.http import MAX_FORM_BYTES, PREFIX

ANONYMOUS_BODY_DROPPED = 64 * 1024   # bytes of a body without credentials read (and dropped) to keep the connection
BODY_BYTES_PER_SECOND = 1024         # the slowest average a body may arrive at, after the grace of [server] timeout
MAINTENANCE_SECONDS = 1              # how often connections are checked against their deadlines


# auth types that take no Authorization header: anyone may send a body, or a reverse proxy logs people in
_NO_AUTHORIZATION_HEADER = frozenset({"none", "remote_user", "http_remote_user", "http_x_remote_user"})


@dataclass(frozen=True)
class Limits:
    max_body: int
    timeout: float
    realm: str
    credentials_required: bool   # the auth plugin reads the Authorization header (not a proxy's login)


class _Refusal(Error):
    """An answer given before the application, with the sentence that says why."""

    def __init__(self, code: int, reason: str, sentence: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(sentence)
        self.code, self.reason, self.extra_headers = code, reason, headers

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        body = f"{self.reason}: {self.body}\n".encode()
        return (f"{self.code} {self.reason}", [("Content-Type", "text/plain; charset=utf-8"), *self.extra_headers],
                body)


class _DroppedBody:
    """Where the bytes of a body sent without credentials go: nowhere."""

    def append(self, data: bytes) -> None:
        pass

    def __len__(self) -> int:
        return 0

    def getfile(self) -> io.BytesIO:
        return io.BytesIO()

    def close(self) -> None:
        pass


class _Request(HTTPRequestParser):
    """Waitress's request parser, with the rules above applied as soon as the head is in."""

    limits: Limits

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.began = time.monotonic()

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        try:
            problem = request_limits.fragment_problem(self.request_uri)
            if problem:
                raise ParsingError(problem)
            self.path = request_limits.decoded_target(self.path.encode("latin-1"))
            destination = self.headers.get("DESTINATION")
            if destination and not destination.isascii():
                self.headers["DESTINATION"] = request_limits.decoded_target(destination.encode("latin-1"))
        except ExtError as e:
            raise ParsingError(str(e)) from None

    def received(self, data: bytes) -> int:
        in_head = not self.headers_finished
        consumed = super().received(data)
        if in_head and self.headers_finished and not self.empty and (
                self.error is None or isinstance(self.error, RequestEntityTooLarge)):
            refusal = self._refusal()
            if refusal is not None:
                self.error, self.completed, self.expect_continue = refusal, True, False
                return len(data)  # the rest is body this connection will not read
        return consumed

    def _refusal(self) -> _Refusal | None:
        if self.content_length > self.limits.max_body:
            return _Refusal(413, "Content Too Large", (
                f"the body is {self.content_length} bytes; this server takes at most {self.limits.max_body} "
                "([server] max_content_length)"))
        if self.body_rcv is None or "AUTHORIZATION" in self.headers or not self.limits.credentials_required:
            return None
        if f"{PREFIX}/" in self.path + "/":   # the page's forms: the session is in a cookie
            if self.chunked or self.content_length > MAX_FORM_BYTES:
                return _Refusal(413, "Content Too Large", f"the page takes forms of at most {MAX_FORM_BYTES} bytes")
            return None
        if self.chunked or self.content_length > ANONYMOUS_BODY_DROPPED:
            return _Refusal(401, "Unauthorized", "log in first; a body sent without credentials is not read",
                            (("WWW-Authenticate", f'Basic realm="{self.limits.realm}"'),))
        self.body_rcv.buf = _DroppedBody()
        self.headers["CONTENT_LENGTH"] = "0"
        return None

    def overdue(self, now: float) -> bool:
        """Has this request, still arriving, run out of time?"""
        grace = self.limits.timeout
        if self.headers_finished:
            grace += self.body_bytes_received / BODY_BYTES_PER_SECOND
        return now - self.began > grace


class _Answer(WSGITask):
    """Waitress ends the connection after an answer without ``Content-Length``, a 204 or 304 too, which
    end with their head and may not carry one (RFC 9110 sections 8.6, 15.3.5): an HTTP/1.1 client's
    connection stays open after them (a PUT that changes an event answers 204)."""

    _heading = False

    def build_response_header(self) -> bytes:
        server = self.channel.server
        if server.hand_over is not None and not self.close_on_finish and server.hand_over(server.held()):
            WSGITask.set_close_on_finish(self)   # another process takes this client when it connects again
        self._heading = True
        try:
            return super().build_response_header()
        finally:
            self._heading = False

    def set_close_on_finish(self) -> None:
        if (self._heading and not self.has_body and self.version == "1.1"
                and self.request.headers.get("CONNECTION", "").lower() != "close"):
            return
        super().set_close_on_finish()


class _Connection(HTTPChannel):
    parser_class = _Request
    task_class = _Answer


class _Server(TcpWSGIServer):
    channel_class = _Connection
    # several server processes on one address (plugins/processes.py): may this one take another connection,
    # holding the given number?
    may_accept: Callable[[int], bool] | None = None
    # ... and should it end the connection it answers on, holding the given number (processes.ProcessTable)?
    hand_over: Callable[[int], bool] | None = None
    siblings: list[_Server] = []   # this process's servers, one per listening address

    def held(self) -> int:
        """The connections this process holds, on every listening address."""
        return sum(len(server.active_channels) for server in self.siblings)

    def readable(self) -> bool:
        accepting = super().readable()
        if self.may_accept is None:
            return accepting
        allowed = self.may_accept(self.held())   # asked even at the connection limit: it writes the table's line
        return accepting and allowed

    def maintenance(self, now: float) -> None:
        """Waitress closes connections idle for ``channel_timeout``; we also close those whose request
        arrives too slowly."""
        super().maintenance(now)
        clock = time.monotonic()
        for connection in list(self.active_channels.values()):
            request = connection.request
            if request is not None and not request.completed and request.overdue(clock):
                logger.warning("closing a connection from %s: its request did not arrive within the time allowed "
                               "([server] timeout)", connection.addr[0] if connection.addr else "?")
                connection.will_close = True


def limits_of(configuration: config.Configuration) -> Limits:
    return Limits(max_body=configuration.get("server", "max_content_length"),
                  timeout=configuration.get("server", "timeout") or 30,
                  realm=configuration.get("auth", "realm"),
                  credentials_required=configuration.get("auth", "type") not in _NO_AUTHORIZATION_HEADER)


def addresses(configuration: config.Configuration) -> str:
    """``[server] hosts`` as waitress's ``listen`` takes them (and the log shows them)."""
    return " ".join(f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
                    for host, port in configuration.get("server", "hosts"))


def listening_sockets(configuration: config.Configuration) -> list[socket.socket]:
    """``[server] hosts`` bound and listening, as waitress binds them, for several server processes to
    accept connections from (:mod:`.processes`); raises OSError when an address is taken."""
    sockets = []
    try:
        for family, kind, proto, address in Adjustments(listen=addresses(configuration)).listen:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(Adjustments.backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def serve(application: types.WSGIApplication, configuration: config.Configuration, threads: int,
          sockets: list[socket.socket] | None = None, process: str = "",
          ready: Callable[[], None] | None = None, may_accept: Callable[[int], bool] | None = None,
          hand_over: Callable[[int], bool] | None = None) -> None:
    """Run ``application`` on ``[server] hosts`` until the process is told to stop; on ``sockets`` (bound
    by a parent process and shared with the other server processes) where given.  ``process`` says, in
    the log line, which of several processes this is; ``ready`` is called once it listens; ``may_accept``
    (the number of connections this process holds) says whether it takes another now, ``hand_over`` whether
    it ends the connection it is about to answer on after the answer."""
    limits = limits_of(configuration)
    where = {"sockets": sockets} if sockets else {"listen": addresses(configuration)}
    adjustments = Adjustments(
        **where, threads=threads, ident="radicale-ext",
        connection_limit=configuration.get("server", "max_connections"),
        channel_timeout=max(1, round(limits.timeout)), cleanup_interval=MAINTENANCE_SECONDS,
        max_request_body_size=limits.max_body + 1, asyncore_use_poll=True,
        clear_untrusted_proxy_headers=True)
    parser = type("_LimitedRequest", (_Request,), {"limits": limits})
    connection = type("_LimitedConnection", (_Connection,), {"parser_class": parser})
    siblings: list[_Server] = []
    server_class = type("_LimitedServer", (_Server,), {"channel_class": connection, "siblings": siblings,
                                                       "may_accept": staticmethod(may_accept) if may_accept else None,
                                                       "hand_over": staticmethod(hand_over) if hand_over else None})
    map_: dict = {}
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    if sockets:
        servers = [server_class(application, map_, _sock=sock, dispatcher=dispatcher, adj=adjustments,
                                bind_socket=False, sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))
                   for sock in sockets]
    else:
        servers = [server_class(application, map_, dispatcher=dispatcher, adj=adjustments, sockinfo=info)
                   for info in adjustments.listen]
    siblings.extend(servers)
    listen = " ".join(f"{s.effective_host}:{s.effective_port}" if ":" not in str(s.effective_host)
                      else f"[{s.effective_host}]:{s.effective_port}" for s in servers)
    logger.info("radicale-ext listening on %s%s (at most %d connections, %g s to send a request)",
                listen, f" ({process})" if process else "", adjustments.connection_limit, limits.timeout)
    if ready is not None:
        ready()
    if len(servers) == 1:
        servers[0].run()
        return
    MultiSocketServer(map_, adjustments, [(s.effective_host, s.effective_port) for s in servers], dispatcher,
                      servers[-1].log_info).run()
