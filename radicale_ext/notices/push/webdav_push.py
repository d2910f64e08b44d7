"""The XML of WebDAV-Push (bitfireAT/webdav-push draft), as DAVx5 speaks it.

Namespace ``https://bitfire.at/webdav-push``.  A client registers a Web Push
subscription with a POST of ``push-register`` to the collection it syncs
(section "Subscription Registration"); the server then POSTs a
``push-message`` naming the collection's ``topic`` to the subscription's
push resource whenever the collection changes.  The collection properties
``transports`` (``web-push`` with the VAPID public key), ``topic`` and
``supported-triggers`` tell clients what is offered.

The draft's element for the subscription's key has been named
``subscription-public-key`` (what DAVx5 sends) and ``client-public-key``;
both are read.  Message encryption (RFC 8291) is required here: a
subscription without a key and an auth secret is refused.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ...base.errors import Forbidden
from ...base.xml_names import dav
from ...sharing import cs_xml
from .webpush import PushKeyError, auth_secret, b64url, subscription_key

NS = "https://bitfire.at/webdav-push"
ET.register_namespace("P", NS)
CAPABILITY = "webdav-push"  # in the DAV header


def p(tag: str) -> str:
    return f"{{{NS}}}{tag}"


class InvalidSubscription(Forbidden):
    """A ``push-register`` body whose subscription cannot be used (403, ``P:invalid-subscription``)."""

    precondition = p("invalid-subscription")


class NoSupportedTrigger(Forbidden):
    precondition = p("no-supported-trigger")


class PushNotAvailable(Forbidden):
    precondition = p("push-not-available")


@dataclass(frozen=True)
class Registration:
    """A parsed ``push-register`` request."""

    endpoint: str            # the push resource (absolute URI)
    public_key: str          # p256dh, base64url
    auth_secret: str         # base64url
    content_update: bool
    property_update: bool
    expires: float | None    # asked for by the client (Unix time), if any


def parse_registration(body: bytes) -> Registration:
    """Read a ``push-register`` body.

    Raises :class:`~radicale_ext.sharing.cs_xml.MalformedBody` (400) for XML that is
    not one, :class:`InvalidSubscription` and :class:`NoSupportedTrigger` (403)
    for one whose subscription or triggers cannot be used.
    """
    root = cs_xml.request_root(body)
    if root.tag != p("push-register"):
        raise cs_xml.MalformedBody(f"expected P:push-register, got {root.tag}")
    subscription = root.find(f"{p('subscription')}/{p('web-push-subscription')}")
    if subscription is None:
        raise InvalidSubscription("the request has no P:subscription with a P:web-push-subscription "
                                  "(the only transport offered is Web Push)")
    endpoint = (subscription.findtext(p("push-resource")) or "").strip()
    if not endpoint:
        raise InvalidSubscription("the subscription has no P:push-resource")
    key = subscription.find(p("subscription-public-key"))
    if key is None:
        key = subscription.find(p("client-public-key"))
    secret = (subscription.findtext(p("auth-secret")) or "").strip()
    if key is None or not (key.text or "").strip() or not secret:
        raise InvalidSubscription("message encryption (RFC 8291) is required: the subscription needs "
                                  "P:subscription-public-key (type p256dh) and P:auth-secret")
    if key.get("type", "p256dh") != "p256dh":
        raise InvalidSubscription(f"key type {key.get('type')!r} is not offered; use p256dh")
    encoding = (subscription.findtext(p("content-encoding")) or "aes128gcm").strip()
    if encoding != "aes128gcm":
        raise InvalidSubscription(f"content encoding {encoding!r} is not offered; use aes128gcm (RFC 8291)")
    try:
        subscription_key(key.text or "")
        auth_secret(secret)
    except PushKeyError as e:
        raise InvalidSubscription(str(e)) from None
    trigger = root.find(p("trigger"))
    content = trigger is not None and trigger.find(p("content-update")) is not None
    properties = trigger is not None and trigger.find(p("property-update")) is not None
    if not content and not properties:
        raise NoSupportedTrigger("the request asks for no trigger; ask for P:content-update or P:property-update")
    expires = None
    text = (root.findtext(p("expires")) or "").strip()
    if text:
        try:
            expires = email.utils.parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError):
            raise cs_xml.MalformedBody(f"P:expires {text!r} is not an HTTP date (IMF-fixdate)") from None
    return Registration(endpoint=endpoint, public_key=(key.text or "").strip(), auth_secret=secret,
                        content_update=content, property_update=properties, expires=expires)


def topic(collection: str, server_secret: str) -> str:
    """The collection's push topic: stable, unique per collection, and telling nothing about it."""
    digest = hmac.new(server_secret.encode(), collection.encode(), hashlib.sha256).digest()
    return b64url(digest[:16])


def push_message(topic_value: str, *, content_update: bool, property_update: bool) -> bytes:
    """The body of a push message (section "Push Message")."""
    root = ET.Element(p("push-message"))
    ET.SubElement(root, p("topic")).text = topic_value
    if content_update:
        ET.SubElement(root, p("content-update"))
    if property_update:
        ET.SubElement(root, p("property-update"))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def fill_transports(prop: ET.Element, vapid_public_key: str) -> None:
    web_push = ET.SubElement(prop, p("web-push"))
    key = ET.SubElement(web_push, p("vapid-public-key"), {"type": "p256ecdsa"})
    key.text = vapid_public_key


def fill_supported_triggers(prop: ET.Element) -> None:
    ET.SubElement(ET.SubElement(prop, p("content-update")), dav("sync-level")).text = "1"
    ET.SubElement(ET.SubElement(prop, p("property-update")), dav("depth")).text = "0"
