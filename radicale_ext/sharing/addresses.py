"""How clients name people and collections, and how we name them back.

CalendarServer's sharing protocol names a sharee by a DAV:href: a
``mailto:`` address or a principal URL (``/bob/`` or
``https://dav.example.org/bob/``); event participants are ``mailto:``
addresses.  A user's principal URL here is their home, ``/<user>/``.

A ``mailto:`` address reaches the user whose name *is* that address (user
names may be e-mail addresses).  We do not guess from the part before the
``@``: ``mailto:bob@elsewhere.example`` is not our ``bob``, and sharing a
calendar with the wrong person is worse than refusing.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

from ..base import names
from ..base.errors import ExtError, InvalidName


class UnknownSharee(ExtError):
    """A sharee or participant address that names no user of this server."""

    status = 403


def path_of(href: str, base_prefix: str = "") -> str:
    """The path a DAV:href points to, without the scheme, host and base prefix; ``/a/b/`` form."""
    path = unquote(urlsplit(href.strip()).path)
    if base_prefix and path.startswith(base_prefix + "/"):
        path = path[len(base_prefix):]
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidName(f"the address {names.shown(href)} is not a path on this server")
    return "/" + "".join(p + "/" for p in parts)


def user_for_address(address: str, user_exists: Callable[[str], bool], base_prefix: str = "") -> str:
    """The user a ``mailto:`` address or a principal URL names.

    Raises :class:`UnknownSharee` when it names nobody here.
    """
    text = address.strip()
    if text.lower().startswith("mailto:"):
        candidate = unquote(text[len("mailto:"):])
    else:
        parts = [p for p in path_of(text, base_prefix).split("/") if p]
        candidate = parts[0] if len(parts) == 1 else ""
    try:
        names.user_name(candidate)
    except InvalidName:
        candidate = ""
    if not candidate or not user_exists(candidate):
        raise UnknownSharee(f"{names.shown(text)} is not a user of this server; "
                            "name people by their user name (mailto:NAME when NAME is an e-mail address) "
                            "or their principal URL (/NAME/)")
    return candidate


def address_of(user: str, base_prefix: str = "") -> str:
    """How we name a user to clients: ``mailto:`` when their name is an e-mail address, else their principal URL."""
    if "@" in user:
        return f"mailto:{user}"
    return href(f"/{user}/", base_prefix)


def href(path: str, base_prefix: str = "") -> str:
    """A DAV:href for a path of this server (quoted as Radicale quotes its own)."""
    return quote(f"{base_prefix}{path}")
