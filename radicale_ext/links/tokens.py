"""What a link's token is, and what of it may be shown.

A link's address is ``/.links/<id><secret><.ics|.vcf>``: an 8-character id
(not secret: it names the link in lists and logs) and a 32-character secret,
192 bits from :mod:`secrets` (the operating system's CSPRNG).  Only the
SHA-256 of the secret is stored.  A fast hash is enough: the secret is
random, not a password a person chose, so there is nothing to guess from its
hash.  Presented secrets are compared in constant time.

A link has one spelling, the one it was given out with: a request whose
target reaches a link's path only through path normalisation (``//``,
``.`` and ``..`` segments) or percent-encoding (``%2E``, ``%2F``, an encoded
secret) is not that link (:func:`spelled_as_given`).  And no log line may
hold a secret, however the path was spelled (:func:`redact_tokens`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from urllib.parse import unquote

PATH_PREFIX = "/.links/"
ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 8
SECRET_BYTES = 24                      # 192 bits; token_urlsafe gives exactly 32 characters for them
SECRET_LENGTH = 32
_TOKEN_PATH = re.compile(
    rf"/\.links/(?P<id>[a-z0-9]{{{ID_LENGTH}}})(?P<secret>[A-Za-z0-9_-]{{{SECRET_LENGTH}}})\.(?P<ext>ics|vcf)")
# in log text: a quoted string (Python's repr, with its escapes) or a run of other non-space characters
_LOG_PIECE = re.compile(r"'(?:[^'\\\r\n]|\\.)*'|\"(?:[^\"\\\r\n]|\\.)*\"|[^\s'\"]+")
_LINK_SEGMENT = re.compile(r"(?:^|/)\.links(?=/|$)", re.IGNORECASE)
_LINK_ID = re.compile(rf"[a-z0-9]{{0,{ID_LENGTH}}}")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


@dataclass(frozen=True)
class TokenInPath:
    link_id: str
    secret: str
    extension: str                     # ".ics" or ".vcf"


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii", "replace")).digest()


NO_HASH = secret_hash("")  # compared against when an id is unknown, so both cases cost the same


def secret_matches(secret: str, stored_hash: bytes | None) -> bool:
    """Whether ``secret`` is the one whose hash was stored (``None``: no such link), in constant time."""
    matches = hmac.compare_digest(secret_hash(secret), stored_hash if stored_hash is not None else NO_HASH)
    return matches and stored_hash is not None


def token_in_path(path: str) -> TokenInPath | None:
    """The token of a link path ``/.links/<id><secret>.ics``; ``None`` if the path has none."""
    match = _TOKEN_PATH.fullmatch(path)
    if match is None:
        return None
    return TokenInPath(match["id"], match["secret"], "." + match["ext"])


def is_link_path(path: str) -> bool:
    return path == PATH_PREFIX.rstrip("/") or path.startswith(PATH_PREFIX)


def spelled_as_given(request_target: str, path: str) -> bool:
    """Whether a request reached the link path ``path`` written exactly that way.

    ``request_target`` is what the request line carried (origin or absolute
    form, RFC 9112 section 3.2), ``path`` the link path Radicale made of it.
    Whatever precedes ``path`` in the target (a reverse proxy's prefix) may
    hold no empty, ``.`` or ``..`` segment, even percent-encoded: those are
    how normalisation turns another path into a link's (RFC 3986 section
    5.2.4).  The query and a fragment are not part of the path.
    """
    target = _ABSOLUTE.sub("", request_target, count=1).split("?", 1)[0].split("#", 1)[0]
    if not target.endswith(path):
        return False
    prefix = _fully_unquoted(target[:len(target) - len(path)])
    return prefix == "" or (prefix.startswith("/") and all(
        segment not in ("", ".", "..") for segment in prefix[1:].split("/")))


def may_mention_link(text: str) -> bool:
    """Whether ``text`` may hold a link address (cheap; :func:`redact_tokens` decides)."""
    return ".links" in text.lower() or "%" in text


def redact_tokens(text: str) -> str:
    """``text`` with every link token cut to its id: what of a link address may appear in a log.

    Everything after a ``.links`` segment, up to the end of the quoted string
    or the run of non-space characters it is in, is cut, however the path is
    spelled (``//``, ``.`` segments, percent-encoding, once or twice); the id
    stays (``'/.links/k3f9x2ab...'``) so that log lines still tell links apart.
    """
    if not may_mention_link(text):
        return text
    return _LOG_PIECE.sub(_redacted_piece, text)


def _redacted_piece(match: re.Match[str]) -> str:
    piece = match[0]
    quote = piece[0] if piece[0] in "'\"" and len(piece) > 1 and piece[-1] == piece[0] else ""
    plain = _fully_unquoted(piece[1:-1] if quote else piece)
    found = _LINK_SEGMENT.search(plain)
    rest = plain[found.end():] if found else ""
    if not rest:
        return piece
    segments = [s for s in rest.split("/") if s not in ("", ".")]
    shown = "/" + (_LINK_ID.match(segments[0])[0] if segments and segments[0] != ".." else "")
    return quote + plain[:found.end()] + shown + ("" if rest == shown else "...") + quote


def _fully_unquoted(text: str, rounds: int = 4) -> str:
    for _ in range(rounds):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def webcal(url: str) -> str:
    """The ``webcal://`` form of an http(s) address, for calendar apps to subscribe to."""
    return "webcal://" + url.split("://", 1)[1]
