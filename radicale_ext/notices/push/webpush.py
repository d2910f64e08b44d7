"""Web Push as an application server: message encryption (RFC 8291) and VAPID (RFC 8292).

Everything cryptographic comes from the ``cryptography`` package: ECDH on
P-256, HKDF-SHA-256, AES-128-GCM and ECDSA (ES256).  It is imported where it is
used, not with this module: a server process that never sends a push message nor
shows the VAPID key does not hold it (about 7 MiB; docs/performance.md, "Memory").

- :func:`encrypt` makes the ``aes128gcm`` body (RFC 8188 section 2, one
  record) of a push message for a subscription's ``p256dh`` key and auth
  secret, with a fresh sender key pair per message (RFC 8291 section 3).
- :class:`VapidKey` is the server's long-lived signing key pair (RFC 8292
  section 2), kept by :mod:`.vapid_keys`; :meth:`VapidKey.authorization` is the ``Authorization: vapid t=..., k=...``
  header value for one push service (section 3), a JWT signed with ES256
  whose ``aud`` is the push resource's origin and ``exp`` at most 24 hours
  ahead.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ...base.errors import ExtError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

RECORD_SIZE = 4096           # rs of the single record; a push service accepts at least 4096 octets
MAX_BODY = 4096              # RFC 8291 section 4: the whole encrypted body, at most 4096 octets
JWT_LIFETIME = 12 * 3600     # RFC 8292 section 2: "exp" no more than 24 hours ahead


class PushKeyError(ExtError):
    """A subscription key or secret that is not what RFC 8291 needs."""


class PayloadTooLarge(ExtError):
    """A push message that does not fit one record of 4096 octets."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def subscription_key(text: str) -> ec.EllipticCurvePublicKey:
    """A user agent's ``p256dh`` public key: 65 octets, uncompressed point, base64url."""
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        raw = from_b64url(text)
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("not an uncompressed P-256 point")
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except (ValueError, TypeError) as e:
        raise PushKeyError(f"the subscription's public key is not a P-256 key in uncompressed form, "
                           f"base64url-encoded ({e})") from None


def auth_secret(text: str) -> bytes:
    try:
        raw = from_b64url(text)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 16:
        raise PushKeyError("the subscription's auth secret is not 16 octets, base64url-encoded")
    return raw


def _public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def encrypt(payload: bytes, ua_public: str, ua_auth: str, *, salt: bytes | None = None,
            sender_key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """The ``aes128gcm`` body of a push message (RFC 8291 section 3.4, RFC 8188 section 2).

    Raises :class:`PushKeyError` for a bad subscription key or secret and
    :class:`PayloadTooLarge` when the body would exceed 4096 octets.
    """
    from cryptography.exceptions import InvalidKey
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    receiver = subscription_key(ua_public)
    secret = auth_secret(ua_auth)
    sender = sender_key or ec.generate_private_key(ec.SECP256R1())
    salt = salt or secrets.token_bytes(16)
    try:
        shared = sender.exchange(ec.ECDH(), receiver)
    except (ValueError, InvalidKey) as e:
        raise PushKeyError(f"key agreement with the subscription's key failed ({e})") from None
    ua_bytes, as_bytes = _public_bytes(receiver), _public_bytes(sender.public_key())
    ikm = _hkdf(secret, shared, b"WebPush: info\x00" + ua_bytes + as_bytes, 32)        # section 3.3
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)                      # RFC 8188 2.2
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)                        # RFC 8188 2.3
    record = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)                        # last record: 0x02
    body = salt + struct.pack("!IB", RECORD_SIZE, len(as_bytes)) + as_bytes + record
    if len(body) > MAX_BODY:
        raise PayloadTooLarge(f"the push message is {len(body)} octets encrypted; a push service takes at most "
                              f"{MAX_BODY} (RFC 8291 section 4)")
    return body


class VapidKey:
    """The server's VAPID key pair (RFC 8292), and the JWTs it signs (cached per push service)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, subject: str) -> None:
        self._key = private_key
        self.subject = subject
        self.public_key = b64url(_public_bytes(private_key.public_key()))
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_pem(cls, data: bytes, subject: str, *, origin: str = "the database") -> VapidKey:
        """The key of a PKCS#8 PEM (as :meth:`pem` writes it).  Raises :class:`ExtError` when it is not a P-256 key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as e:
            raise ExtError(f"the VAPID key in {origin} is not a PEM private key ({e})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ExtError(f"the VAPID key in {origin} is not a P-256 key")
        return cls(key, subject)

    @classmethod
    def generate(cls, subject: str) -> VapidKey:
        from cryptography.hazmat.primitives.asymmetric import ec

        return cls(ec.generate_private_key(ec.SECP256R1()), subject)

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        """``vapid t=<JWT>, k=<public key>`` for the push service of ``endpoint`` (RFC 8292 section 3)."""
        now = time.time() if now is None else now
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            token, expires = self._tokens.get(audience, ("", 0.0))
            if expires - now < 3600:
                expires = int(now) + JWT_LIFETIME
                token = self._jwt({"aud": audience, "exp": expires, "sub": self.subject})
                self._tokens[audience] = (token, float(expires))
        return f"vapid t={token}, k={self.public_key}"

    def _jwt(self, claims: dict) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        header = b64url(json.dumps({"typ": "JWT", "alg": "ES256"}, separators=(",", ":")).encode())
        body = b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        signing_input = f"{header}.{body}".encode("ascii")
        r, s = decode_dss_signature(self._key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return f"{header}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
