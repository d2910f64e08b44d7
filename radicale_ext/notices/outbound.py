"""Where the server may connect: the push resources and webhooks that people register.

Anyone with an account can name a URL the server will POST to (a WebDAV-Push
subscription's push resource, a webhook).  Unchecked, that lets a person
make the server reach what only the server can reach: its own machine
(``127.0.0.1``, ``localhost``, ``[::1]``, ``0.0.0.0``), its local network,
a cloud's metadata address (``169.254.169.254``): server-side request
forgery.  So a destination's host is resolved, and every address it
resolves to must be a public Internet address (``ipaddress``'s
``is_global``, and none of unspecified, loopback, link-local, multicast,
private, reserved; an IPv4 address inside IPv6, as IPv4-mapped, -compatible,
6to4, Teredo or NAT64 writes it, is checked as itself).  Odd spellings
(``127.1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``0``) are what the
resolver makes of them, so they are checked as the address they reach.

The check runs when a destination is registered and again before every
delivery (DNS answers change), and a delivery connects to the very addresses
that were checked, never to a second lookup's, so a name that answers with
a public address to the check and a private one to the connection (DNS
rebinding) cannot slip through.

The admin's ``[hook] notices_outbound_allow`` lists what may be reached
anyway, for deployments with an internal push gateway or webhook receiver:
addresses and networks (``10.0.0.5``, ``10.0.0.0/8``, ``fd00::/8``) and host
names (``push.internal.example``: the name as written in the URL, whatever
it resolves to).  docs/notifications.md explains the option.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..base import names
from ..base.errors import ExtError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., list]

OPTION = "[hook] notices_outbound_allow"
_HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class BadDestination(ExtError):
    """A URL the server will not send to."""


class RefusedDestination(BadDestination):
    """A URL that leads to the server's own machine or to a network that is not the public Internet."""


class UnknownHost(BadDestination):
    """A URL whose host name does not resolve (now: DNS may answer later)."""


def _name(text: str) -> str:
    return text.strip().lower().rstrip(".")


@dataclass(frozen=True)
class AllowList:
    """What the admin lets the server reach although it is not on the public Internet."""

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Entries separated by commas or spaces.  Raises :class:`BadDestination` naming a bad entry."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in filter(None, re.split(r"[\s,]+", text.strip())):
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.fullmatch(_name(entry)) or "/" in entry:
                raise BadDestination(f"{entry!r} is neither an address, a network (10.0.0.0/8) nor a host name")
            hosts.add(_name(entry))
        return cls(tuple(networks), frozenset(hosts))

    def allows_address(self, address: str | IPAddress) -> bool:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        candidates = [ip, *_embedded_ipv4(ip)]
        return any(c in network for network in self.networks for c in candidates if c.version == network.version)

    def allows_name(self, host: str) -> bool:
        return _name(host) in self.names


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (RFC 4291 2.5.5, RFC 3056, RFC 4380, RFC 6052)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())) if a is not None]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def why_internal(ip: IPAddress) -> str | None:
    """What keeps the server from connecting to ``ip`` ("loopback", "private" ...); ``None`` if it is public."""
    for inner in _embedded_ipv4(ip):
        reason = why_internal(inner)
        if reason:
            return f"{reason}, as {inner}"
    checks = (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
              ("multicast", ip.is_multicast), ("private", ip.is_private), ("reserved", ip.is_reserved),
              ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
              ("not a public Internet address", not ip.is_global))
    return next((reason for reason, applies in checks if applies), None)


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (only ``addresses``) and what to ask for."""

    url: str
    scheme: str                    # "http" or "https"
    host: str                      # as the URL writes it, for the Host header and TLS (no brackets)
    port: int
    target: str                    # path and query, for the request line
    addresses: tuple[str, ...]     # checked, in the resolver's order


def parse_url(url: str, *, https_only: bool, what: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, target)`` of an absolute http(s) URL; https only when ``https_only``.

    Raises :class:`BadDestination`.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or port == 0:
        raise BadDestination(f"{what} {names.shown(url)} is not an absolute http(s) URL")
    if https_only and parts.scheme != "https":
        raise BadDestination(f"{what} {names.shown(url)} is not https: this server sends only over TLS "
                             "([hook] notices_https_only)")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), target


class Outbound:
    """The server's rule for where it sends: :meth:`check` a URL, then connect only to what it returned."""

    def __init__(self, allow: AllowList, *, https_only: bool, resolve: Resolver = socket.getaddrinfo) -> None:
        self._allow = allow
        self._https_only = https_only
        self._resolve = resolve

    def check(self, url: str, *, what: str) -> Destination:
        """Resolve ``url``'s host and check every address.

        Raises :class:`BadDestination` for a URL that is not one (or not https
        where required), :class:`UnknownHost` when the host does not resolve and
        :class:`RefusedDestination` when an address is not the public Internet's
        and the allow-list does not name it.
        """
        scheme, host, port, target = parse_url(url, https_only=self._https_only, what=what)
        addresses = self._addresses(host, port, url, what)
        if not self._allow.allows_name(host):
            for address in addresses:
                ip = ipaddress.ip_address(address)
                reason = None if self._allow.allows_address(ip) else why_internal(ip)
                if reason:
                    shown = address if address == host.strip("[]") else f"{host} -> {address}"
                    raise RefusedDestination(
                        f"{what} {names.shown(url)} leads to {shown} ({reason}): this server does not connect to "
                        f"its own machine or to internal networks (an admin may allow an internal push gateway or "
                        f"webhook receiver with {OPTION})")
        return Destination(url, scheme, host, port, target, addresses)

    def _addresses(self, host: str, port: int, url: str, what: str) -> tuple[str, ...]:
        try:
            found = self._resolve(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            raise UnknownHost(f"{what} {names.shown(url)}: its host {host!r} cannot be found ({reason})") from None
        addresses = _unique(str(info[4][0]) for info in found if info[0] in (socket.AF_INET, socket.AF_INET6))
        if not addresses:
            raise UnknownHost(f"{what} {names.shown(url)}: its host {host!r} has no IP address")
        return addresses


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
