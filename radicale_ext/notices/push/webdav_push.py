"""The XML of WebDAV-Push (bitfireAT/webdav-push draft), as DAVx5 speaks it.

Namespace ``https://bitfire.at/webdav-push``.  A client registers a Web Push
subscription with a POST of ``push-register`` to the collection it syncs
(section "Subscription Registration"); the server then POSTs a
``push-message`` naming the collection's ``topic`` to the subscription's
push resource whenever the collection changes.  The collection properties
``transports`` (``web-push`` with the VAPID public key), ``topic`` and
``supported-triggers`` tell clients what is offered.

What is read as DAVx5 sends it (4.5.x, ``PushRegistrationManager.subscribe``)
as well as the draft writes it:

- no ``trigger`` (DAVx5 up to 4.5.19 sends none): content updates at depth 1,
  the ones a CalDAV/CardDAV client syncs for;
- no ``content-encoding`` (DAVx5 sends none): ``aes128gcm``, the only one
  the draft defines (section "Message Encryption");
- the depth of a trigger in ``{DAV:}depth`` (``0``, ``1`` or ``infinity``;
  an older draft's ``{DAV:}sync-level`` is read too).  Offered: content
  updates at depth 1, property updates at depth 0; a deeper or shallower
  request falls back to those (section "Content Updates": "the server MUST
  fall back ... instead"), so a push is never missed, at worst one more;
- the key as ``subscription-public-key`` (the draft, DAVx5) or
  ``client-public-key`` (an older draft).

Message encryption (RFC 8291) is required: a subscription without a key and
an auth secret is refused (``invalid-subscription``).  A push message carries
the collection's new ``{DAV:}sync-token`` in ``content-update`` (section
"Push Message"); a key-rotation message (section "Key Rotation") names no
topic and asks for the ``transports`` property again.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import re
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
    if trigger is None:   # DAVx5 up to 4.5.19: what a syncing client wants
        content, properties = True, False
    else:
        content = _asked(trigger, "content-update")
        properties = _asked(trigger, "property-update")
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


DEPTHS = frozenset({"0", "1", "infinity"})


def _asked(trigger: ET.Element, name: str) -> bool:
    """Whether ``trigger`` asks for ``name``; its depth, if given, must be one RFC 4918 names."""
    element = trigger.find(p(name))
    if element is None:
        return False
    for tag in (dav("depth"), dav("sync-level")):
        depth = element.findtext(tag)
        if depth is not None and depth.strip().lower() not in DEPTHS:
            raise cs_xml.MalformedBody(f"P:{name} asks for depth {depth.strip()!r}; a depth is 0, 1 or infinity")
    return True


EVERY_DEVICE = "*"


def parse_push_dont_notify(value: str) -> tuple[str, ...]:
    """The registration URLs a ``Push-Dont-Notify`` header names (section "Suppressing Notifications"):
    ``1#quoted-string`` (RFC 9110 section 5.6.1; several header lines arrive joined by commas), or ``("*",)``.

    Invalid values are ignored, as the draft says: an unquoted one, an empty one, a ``*`` beside others."""
    value = value.strip()
    if value == EVERY_DEVICE:
        return (EVERY_DEVICE,)
    found: list[str] = []
    for item in _list_items(value):
        if len(item) >= 2 and item[0] == item[-1] == '"':
            url = re.sub(r"\\(.)", r"\1", item[1:-1]).strip()
            if url:
                found.append(url)
    return tuple(dict.fromkeys(found))


def _list_items(value: str) -> list[str]:
    """A comma-separated list whose members may be quoted strings (holding commas and escaped quotes)."""
    items, current, quoted, escaped = [], [], False, False
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    items.append("".join(current).strip())
    return [item for item in items if item]


def topic(collection: str, server_secret: str) -> str:
    """The collection's push topic: stable, unique per collection, and telling nothing about it."""
    digest = hmac.new(server_secret.encode(), collection.encode(), hashlib.sha256).digest()
    return b64url(digest[:16])


def push_message(topic_value: str, *, content_update: bool, property_update: bool,
                 sync_token: str | None = None) -> bytes:
    """The body of a push message (section "Push Message"): the topic, and what changed; a content update
    with the collection's new ``DAV:sync-token``, so that a client that has it already need not sync."""
    root = ET.Element(p("push-message"))
    ET.SubElement(root, p("topic")).text = topic_value
    if content_update:
        content = ET.SubElement(root, p("content-update"))
        if sync_token:
            ET.SubElement(content, dav("sync-token")).text = sync_token
    if property_update:
        ET.SubElement(root, p("property-update"))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def key_rotation_message() -> bytes:
    """The key-rotation message (section "Key Rotation"): no topic, a property update of ``transports``,
    sent with the old key; the client then asks for the new key and subscribes again."""
    root = ET.Element(p("push-message"))
    ET.SubElement(ET.SubElement(ET.SubElement(root, p("property-update")), dav("prop")), p("transports"))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def fill_transports(prop: ET.Element, vapid_public_key: str) -> None:
    web_push = ET.SubElement(prop, p("web-push"))
    key = ET.SubElement(web_push, p("vapid-public-key"), {"type": "p256ecdsa"})
    key.text = vapid_public_key


def fill_supported_triggers(prop: ET.Element) -> None:
    """Content updates at depth 1, property updates at depth 0: in ``DAV:depth`` (the draft) and again in
    ``DAV:sync-level`` (an older draft's, which dav4jvm, DAVx5's WebDAV library, still reads)."""
    for trigger, depth in (("content-update", "1"), ("property-update", "0")):
        element = ET.SubElement(prop, p(trigger))
        ET.SubElement(element, dav("depth")).text = depth
        ET.SubElement(element, dav("sync-level")).text = depth
