"""Validation of the names people type: users, circles, collections.

A name that reaches the database or a path is checked here first, so that
``..``, ``/``, control characters and absurd lengths never get stored.
"""

from __future__ import annotations

import re

from .errors import InvalidName

MAX_NAME_LENGTH = 128

# users may be e-mail addresses; no "/", ":", "~", space or control characters
_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
_CIRCLE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# a collection segment as clients create them (UUIDs, names, "family")
_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+~-]*")
_EXTRA = {"user": ", '.', '_', '@', '+', '-'", "circle": ", '.', '_', '-'",
          "collection": ", '.', '_', '@', '+', '~', '-'"}
SHOWN_LENGTH = 60


def shown(value: object) -> str:
    """``value`` as it may appear in a one-line message: quoted, control
    characters escaped, and cut short when it is long."""
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else f"{text[:SHOWN_LENGTH - 4]}...{text[-1]}"


def _check(kind: str, value: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or value == "":
        raise InvalidName(f"{kind} name is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidName(f"{kind} name {shown(value)} is longer than {MAX_NAME_LENGTH} characters")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise InvalidName(f"{kind} name {shown(value)} contains control characters")
    if ".." in value or "/" in value:
        raise InvalidName(f"{kind} name {shown(value)} may not contain '..' or '/'")
    if not pattern.fullmatch(value):
        raise InvalidName(
            f"{kind} name {shown(value)} has characters that are not allowed "
            f"(use letters, digits{_EXTRA[kind]}; start with a letter or digit)"
        )
    return value


def user_name(value: str) -> str:
    return _check("user", value, _USER_RE)


def circle_name(value: str) -> str:
    return _check("circle", value, _CIRCLE_RE)


def collection_segment(value: str) -> str:
    return _check("collection", value, _SEGMENT_RE)


def collection_path(value: str) -> tuple[str, str]:
    """Parse ``owner/collection`` (slashes around it allowed) into its parts.

    Returns ``(owner, "/owner/collection/")``.
    """
    if len(value) > 2 * MAX_NAME_LENGTH + 3:
        raise InvalidName(f"collection {shown(value)} is longer than {2 * MAX_NAME_LENGTH + 3} characters")
    parts = [p for p in value.strip(" ").split("/") if p != ""]
    if len(parts) != 2 or ".." in value:
        raise InvalidName(
            f"collection {shown(value)} is not of the form OWNER/COLLECTION (e.g. alice/family)"
        )
    owner = user_name(parts[0])
    return owner, f"/{owner}/{collection_segment(parts[1])}/"
