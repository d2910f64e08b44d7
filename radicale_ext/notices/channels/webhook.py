"""Webhooks: a JSON POST per notice (or digest), signed with HMAC-SHA256, timestamped.

The signature follows the Standard Webhooks scheme, so existing receiver
libraries verify it: headers ``webhook-id`` (the delivery's idempotency
key, the same on every attempt), ``webhook-timestamp`` (Unix seconds of
this attempt) and ``webhook-signature`` (``v1,`` and the base64 of
HMAC-SHA256 over ``id.timestamp.body`` with the secret's key, the base64
after ``whsec_``).  A receiver rejects a timestamp more than five minutes
off, and an id it has already seen: a replayed request fails one or the
other (:func:`verify` does both, for receivers in Python).

2xx is success; 408, 425, 429 and 5xx are retried; other answers are
permanent failures.  The URL is checked again before each attempt
(:mod:`radicale_ext.notices.outbound`): one that now leads to the server's
own machine or networks is a permanent failure, one whose host does not
resolve is retried.  A body over ``[hook] notices_webhook_max_bytes`` is not
sent (permanent failure).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, MutableMapping
from typing import Any

from ...base.errors import ExtError
from ..outbound import Outbound
from ..wording import Wording
from . import DeliveryFailed, Outgoing
from .http import post, refusal, retry_helps

TOLERANCE = 300  # seconds a receiver accepts between a timestamp and its clock


class BadSignature(ExtError):
    status = 401


def signing_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(signing_key(secret), f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float,
           seen: MutableMapping[str, float]) -> dict[str, Any]:
    """What a receiver does: check the signature, the time and that the id is new; returns the JSON.

    ``seen`` remembers ids (with their time) across calls.  Raises :class:`BadSignature`.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    webhook_id, stamp = lowered.get("webhook-id", ""), lowered.get("webhook-timestamp", "")
    if not webhook_id or not stamp.isdigit():
        raise BadSignature("webhook-id or webhook-timestamp is missing")
    if abs(now - int(stamp)) > TOLERANCE:
        raise BadSignature(f"webhook-timestamp {stamp} is more than {TOLERANCE} s from now: a replay, or a clock off")
    expected = signature(secret, webhook_id, int(stamp), body)
    offered = lowered.get("webhook-signature", "").split()
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise BadSignature("webhook-signature does not match the body")
    for old, when in list(seen.items()):
        if now - when > 2 * TOLERANCE:
            del seen[old]
    if webhook_id in seen:
        raise BadSignature(f"webhook-id {webhook_id} was delivered before: a replay (or a retry already handled)")
    seen[webhook_id] = now
    return json.loads(body)


class WebhookSender:
    def __init__(self, wording: Wording, *, outbound: Outbound, max_bytes: int, timeout: float) -> None:
        self._wording = wording
        self._outbound = outbound
        self._max_bytes = max_bytes
        self._timeout = timeout

    def body(self, outgoing: Outgoing, now: float) -> bytes:
        reader, zone, language = outgoing.recipient, outgoing.contact.timezone, outgoing.contact.language
        notices = [{
            "id": n.id, "collection": n.collection, "actor": n.actor,
            "text": self._wording.headline(n, reader, zone, language),
            "lines": self._wording.lines(n, reader, zone, language),
            "changes": [c.to_json() for c in n.changes],
        } for n in outgoing.notices]
        payload = {"type": "change-notices", "id": outgoing.key, "recipient": reader, "language": language,
                   "digest": outgoing.digest or None, "sent_at": int(now), "notices": notices}
        return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()

    def send(self, outgoing: Outgoing, now: float) -> None:
        contact = outgoing.contact
        if not contact.webhook_url or not contact.webhook_secret:
            raise DeliveryFailed(f"webhook of {outgoing.recipient!r}: none is set any more", permanent=True)
        try:
            destination = self._outbound.check(contact.webhook_url, what="webhook URL")
        except ExtError as e:
            raise refusal(f"webhook of {outgoing.recipient!r}", e) from None
        body = self.body(outgoing, now)
        if len(body) > self._max_bytes:
            raise DeliveryFailed(f"webhook of {outgoing.recipient!r}: the payload is {len(body)} bytes, over the "
                                 f"limit of {self._max_bytes} ([hook] notices_webhook_max_bytes)", permanent=True)
        stamp = int(now)
        headers = {"Content-Type": "application/json", "User-Agent": "radicale-ext",
                   "webhook-id": outgoing.key, "webhook-timestamp": str(stamp),
                   "webhook-signature": signature(contact.webhook_secret, outgoing.key, stamp, body)}
        try:
            answer = post(destination, body, headers, self._timeout)
        except OSError as e:
            raise DeliveryFailed(f"webhook {contact.webhook_url}: no answer ({e})") from None
        if 200 <= answer.status < 300:
            return
        raise DeliveryFailed(f"webhook {contact.webhook_url} answered {answer.status}",
                             permanent=not retry_helps(answer.status))

    def close(self) -> None:
        return None
