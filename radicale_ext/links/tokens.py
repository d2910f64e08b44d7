"""What a link's token is, and what of it may be shown.

A link's address is ``/.links/<id><secret><.ics|.vcf>``: an 8-character id
(not secret: it names the link in lists and logs) and a 32-character secret,
192 bits from :mod:`secrets` (the operating system's CSPRNG).  Only the
SHA-256 of the secret is stored.  A fast hash is enough: the secret is
random, not a password a person chose, so there is nothing to guess from its
hash.  Presented secrets are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

PATH_PREFIX = "/.links/"
ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 8
SECRET_BYTES = 24                      # 192 bits; token_urlsafe gives exactly 32 characters for them
SECRET_LENGTH = 32
_TOKEN_PATH = re.compile(
    rf"/\.links/(?P<id>[a-z0-9]{{{ID_LENGTH}}})(?P<secret>[A-Za-z0-9_-]{{{SECRET_LENGTH}}})\.(?P<ext>ics|vcf)")
_TOKEN_IN_TEXT = re.compile(rf"(/\.links/[A-Za-z0-9_-]{{0,{ID_LENGTH}}})[^\s'\"/?&#]*")


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


def redact_tokens(text: str) -> str:
    """``text`` with every link token cut to its id: what of a link address may appear in a log."""
    return _TOKEN_IN_TEXT.sub(lambda m: m[1] + ("..." if len(m[0]) > len(m[1]) else ""), text)


def webcal(url: str) -> str:
    """The ``webcal://`` form of an http(s) address, for calendar apps to subscribe to."""
    return "webcal://" + url.split("://", 1)[1]
