"""One HTTP POST with a timeout, for webhooks and push services (standard library only).

It connects only to the addresses a :class:`~radicale_ext.notices.outbound.Destination`
was checked with (no lookup of its own, so DNS cannot change its answer between
the check and the connection), and sends the URL's host name in ``Host`` and
in TLS (SNI and certificate check).  A redirect is an answer, not an order: a
POST is never sent somewhere else.  Proxies named in the environment are not
used (a proxy would resolve the name itself, after our check).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from functools import lru_cache

from ...base.errors import ExtError
from ..outbound import Destination, UnknownHost
from . import DeliveryFailed


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class _Pinned(http.client.HTTPConnection):
    """HTTP to the URL's host, connected to one checked address."""

    def __init__(self, destination: Destination, address: str, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedTLS(_Pinned):
    def connect(self) -> None:
        super().connect()
        self.sock = _tls().wrap_socket(self.sock, server_hostname=self.host)


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def post(destination: Destination, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body``; returns the answer, whatever its status.  Raises ``OSError`` when none came.

    The checked addresses are tried in order until one accepts the connection;
    once the request is sent, no other address is tried (it might be delivered twice).
    """
    kind = _PinnedTLS if destination.scheme == "https" else _Pinned
    refused: OSError | None = None
    for address in destination.addresses:
        connection = kind(destination, address, timeout)
        try:
            try:
                connection.connect()
            except OSError as e:
                refused = e
                continue
            connection.request("POST", destination.target, body=body, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, response.read(4096))
        except http.client.HTTPException as e:
            raise OSError(f"not an HTTP answer ({type(e).__name__}: {e})") from None
        finally:
            connection.close()
    raise refused or OSError("no address to connect to")


def retry_helps(status: int) -> bool:
    """Whether a failed POST may succeed later (RFC 9110: timeouts, overload, server errors)."""
    return status in (408, 425, 429) or status >= 500


def refusal(who: str, error: ExtError) -> DeliveryFailed:
    """A destination the check refused: for good, unless its host merely did not resolve (DNS may answer later)."""
    return DeliveryFailed(f"{who}: {error}", permanent=not isinstance(error, UnknownHost))
