"""WebDAV-Push over Web Push: an encrypted ``push-message`` to each subscribed device.

For each delivery (one device's subscription), POST to its push resource
(RFC 8030 section 5) the ``push-message`` naming the collection's topic and,
for a content update, the collection's sync token as the device's reader
gets it from a sync-collection REPORT now
(:mod:`radicale_ext.notices.push.webdav_push`), encrypted for the subscription (RFC 8291,
``Content-Encoding: aes128gcm``), with ``Authorization: vapid`` (RFC 8292)
signed with the key the device subscribed for (:mod:`..push.vapid_keys`),
``TTL`` (how long the push service may keep it), ``Urgency: normal`` and a
``Topic`` header (the collection's topic), so the push service replaces a
message still waiting with the newer one.  A key-rotation message (after
``radicale-ext notices vapid-key --rotate``) has no topic.

201 (or any 2xx) is success; 404 and 410 mean the subscription is gone: it
is removed and the delivery dropped.  413 (too large), other 4xx and a
subscription that breaks the rules (not https, bad keys) are permanent
failures; 429 and 5xx are retried.  The push resource is checked again
before each push (:mod:`radicale_ext.notices.outbound`): one that now leads
to the server's own machine or networks is a permanent failure (the
subscription stays until it expires).  A push is a hint to sync, so a repeat
after a crash costs a device one more sync, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from ...base.errors import ExtError
from ..outbound import Outbound
from ..outbox import ChangeKind
from ..push.subscriptions import PushSubscription, PushSubscriptions
from ..push.vapid_keys import VapidKeys
from ..push.webdav_push import key_rotation_message, push_message
from ..push.webpush import PayloadTooLarge, PushKeyError, encrypt
from . import DeliveryFailed, Outgoing, RecipientGone
from .http import post, refusal, retry_helps

TTL = 24 * 3600
CONTENT_KINDS = frozenset(ChangeKind) - {ChangeKind.PROPERTIES_CHANGED}

# (collection, reader) -> the sync token a sync-collection REPORT by reader answers now, or None
SyncToken = Callable[[str, str], "str | None"]


class PushSender:
    def __init__(self, subscriptions: PushSubscriptions, keys: VapidKeys, topic_of: Callable[[str], str], *,
                 outbound: Outbound, timeout: float, sync_token: SyncToken | None = None) -> None:
        self._subscriptions = subscriptions
        self._keys = keys
        self._topic_of = topic_of
        self._outbound = outbound
        self._timeout = timeout
        self._sync_token = sync_token or (lambda _collection, _reader: None)

    def message(self, outgoing: Outgoing, sub: PushSubscription) -> tuple[bytes, str | None]:
        """The push message for ``sub`` and its ``Topic`` header (none for a key-rotation message)."""
        kinds = {c.kind for n in outgoing.notices for c in n.changes}
        if ChangeKind.VAPID_KEY_ROTATED in kinds:
            return key_rotation_message(), None
        topic = self._topic_of(sub.collection)
        content = bool(kinds & CONTENT_KINDS)
        token = self._sync_token(sub.collection, sub.user) if content else None
        return push_message(topic, content_update=content, property_update=ChangeKind.PROPERTIES_CHANGED in kinds,
                            sync_token=token), topic

    def send(self, outgoing: Outgoing, now: float) -> None:
        delivery = outgoing.deliveries[0]
        sub = self._subscriptions.get(delivery.target)
        if sub is None or sub.expires_at <= now:
            raise RecipientGone("the push subscription expired or was removed")
        try:
            destination = self._outbound.check(sub.endpoint, what="push resource")
        except ExtError as e:
            raise refusal(f"push to {outgoing.recipient!r}", e) from None
        payload, topic = self.message(outgoing, sub)
        try:
            body = encrypt(payload, sub.public_key, sub.auth_secret)
        except (PayloadTooLarge, PushKeyError) as e:
            raise DeliveryFailed(f"push to {outgoing.recipient!r}: {e}", permanent=True) from None
        headers = {"Content-Type": 'application/xml; charset="UTF-8"', "Content-Encoding": "aes128gcm",
                   "TTL": str(TTL), "Urgency": "normal",
                   "Authorization": self._keys.for_endpoint(sub.endpoint).authorization(sub.endpoint, now)}
        if topic is not None:
            headers["Topic"] = topic
        try:
            answer = post(destination, body, headers, self._timeout)
        except OSError as e:
            raise DeliveryFailed(f"push to {outgoing.recipient!r}: the push service did not answer ({e})") from None
        if 200 <= answer.status < 300:
            return
        if answer.status in (404, 410):
            self._subscriptions.remove(sub.id)
            raise RecipientGone(f"the push service answered {answer.status}: the subscription is gone; removed it")
        raise DeliveryFailed(f"push to {outgoing.recipient!r}: the push service answered {answer.status}",
                             permanent=not retry_helps(answer.status))

    def close(self) -> None:
        return None
