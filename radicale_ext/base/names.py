"""Validation of the names people type: users, circles, collections.

A name that reaches the database or a path is checked here first, so that
``..``, ``/``, control characters and absurd lengths never get stored.

Users and circles are ASCII (they appear in login prompts and the groups
file).  Collections are named in any language (家庭, Fußball 🎉, Familie
Müller): their names are folder names in Radicale's storage and path segments
of URLs (percent-encoded UTF-8, RFC 3986 section 2.5), so they may hold
letters, digits, spaces, emoji and most punctuation, but nothing Radicale
refuses in a path (``: ' " * ? ,``, control and format characters), no ``/``
or ``\\``, and at most 255 bytes in UTF-8 (one folder name).
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidName

MAX_NAME_LENGTH = 128
MAX_NAME_BYTES = 255  # one folder name on the file systems Radicale runs on

# users may be e-mail addresses; no "/", ":", "~", space or control characters
_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
_CIRCLE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EXTRA = {"user": ", '.', '_', '@', '+', '-'", "circle": ", '.', '_', '-'"}
# Radicale refuses these in a request path ("minimal" validation, radicale/app/base.py);
# "\\" separates paths for some clients
_NOT_IN_COLLECTION = "/\\:'\"*?,"
# "~" joins a shared collection's name to its owner's in a sharee's home ("family~alice")
MOUNT_SEPARATOR = "~"
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
    """The name of a collection that may exist: as a client or the CLI made it (UUIDs, 家庭)."""
    return _check_collection(value)


def new_collection_name(value: str) -> str:
    """The name of a collection about to be made (the CLI's ``collection create``), in NFC.

    Stricter than :func:`collection_segment`: no ``~`` (a sharee's home shows
    shares as ``family~alice``, so such a name could hide a share) and no
    space at either end (invisible when typed)."""
    value = _check_collection(unicodedata.normalize("NFC", value) if isinstance(value, str) else value)
    if MOUNT_SEPARATOR in value:
        raise InvalidName(f"collection name {shown(value)} may not contain {MOUNT_SEPARATOR!r}: it marks "
                          "a shared collection in a home (family~alice)")
    if value != value.strip():
        raise InvalidName(f"collection name {shown(value)} may not start or end with a space")
    return value


def _check_collection(value: str) -> str:
    kind = "collection"
    if not isinstance(value, str) or value == "":
        raise InvalidName(f"{kind} name is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidName(f"{kind} name {shown(value)} is longer than {MAX_NAME_LENGTH} characters")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidName(f"{kind} name {shown(value)} is longer than {MAX_NAME_BYTES} bytes in UTF-8 "
                          f"(about {MAX_NAME_BYTES // 3} Chinese characters)")
    if any(unicodedata.category(ch)[0] == "C" or (ch.isspace() and ch != " ") for ch in value):
        raise InvalidName(f"{kind} name {shown(value)} contains control characters "
                          "(tabs, line breaks or invisible formatting)")
    if ".." in value or "/" in value:
        raise InvalidName(f"{kind} name {shown(value)} may not contain '..' or '/'")
    refused = sorted({ch for ch in value if ch in _NOT_IN_COLLECTION})
    if refused:
        raise InvalidName(f"{kind} name {shown(value)} may not contain {' '.join(refused)} "
                          f"(not allowed: {' '.join(_NOT_IN_COLLECTION)})")
    if value[0] in ".-" or value[0].isspace():
        raise InvalidName(f"{kind} name {shown(value)} may not start with '.', '-' or a space")
    return value


def item_name(value: str) -> str:
    """The file name of an event or card in a collection, as a client chose it (``Fußball 🎉.ics``,
    a UUID): anything a folder can hold but Radicale's own files (a leading ``.``), ``/``, ``\\``
    and control characters, at most :data:`MAX_NAME_BYTES` bytes in UTF-8."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise InvalidName(f"{shown(value)} is not the name of an event or card")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidName(f"item name {shown(value)} is longer than {MAX_NAME_BYTES} bytes in UTF-8")
    if any(unicodedata.category(ch)[0] == "C" for ch in value):
        raise InvalidName(f"item name {shown(value)} contains control characters")
    if "/" in value or "\\" in value or value.startswith("."):
        raise InvalidName(f"item name {shown(value)} may not contain '/' or '\\' nor start with '.'")
    return value


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


def new_collection_path(value: str) -> tuple[str, str]:
    """Parse ``owner/name`` for a collection about to be made; the name as :func:`new_collection_name`.

    Returns ``(owner, "/owner/name/")``.
    """
    if len(value) > 2 * MAX_NAME_LENGTH + 3:
        raise InvalidName(f"collection {shown(value)} is longer than {2 * MAX_NAME_LENGTH + 3} characters")
    parts = [p for p in value.split("/") if p != ""]
    if len(parts) != 2:
        raise InvalidName(f"collection {shown(value)} is not of the form OWNER/NAME (e.g. alice/family)")
    owner = user_name(parts[0])
    return owner, f"/{owner}/{new_collection_name(parts[1])}/"
