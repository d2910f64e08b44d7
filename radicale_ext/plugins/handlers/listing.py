"""PROPFIND depth 1 on a calendar or address book, with the items' part written from the item index.

The request every client repeats most after the ctag: "the ETags of all
items" (RFC 4918 PROPFIND, Depth: 1, asking getetag and maybe
getcontenttype, resourcetype, getlastmodified).  Radicale builds, checks
and serialises an XML tree per item, about 60 us each; at 10,000 items that
is most of the request.  Here Radicale answers the collection's own part
(a Depth: 0 PROPFIND: authentication, rights, sharing and every property
stay Radicale's), and the item responses are written as text from the
index, with the same hrefs (a share's mount path where the request came
through one), the same values and the same rule for who sees items
(Radicale's ``_collect_allowed_items``: read or write on the collection).

Anything else (other properties, allprop, a virtual address book, a
birthday-calendar share, a refusal) is left to Radicale unchanged, and so is
everything with ``[storage] item_responses_from_index = false``.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import quote
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
import radicale
from defusedxml import DefusedXmlException
from radicale import pathutils, rights, types
from radicale.app.base import Access

from radicale_ext.base.xml_names import dav
from radicale_ext.index.item_index import Entry

from ..indexed_items import content_type, http_date
from ..options import storage_options
from ..recorded_storage import ViewedCollection
from ..routes import route

# what Radicale answers for an item, from its index entry (resourcetype: empty for an item)
VALUES: dict[str, Callable[[Entry, str], str]] = {
    "getetag": lambda entry, _: escape(entry.facts.etag),
    "getcontenttype": lambda entry, encoding: content_type(entry.facts.name, entry.facts.component, encoding),
    "getlastmodified": lambda entry, _: http_date(entry.stamp.mtime_ns),
    "resourcetype": lambda entry, _: "",
}
ITEM_PROPERTIES = {dav(name): name for name in VALUES}
CLOSING = b"</multistatus>"


@route("PROPFIND")
def listing_from_index(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                       user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    if environ.get("HTTP_DEPTH") != "1" or not user or not path.endswith("/"):
        return None
    if not storage_options(app.configuration).item_responses_from_index:
        return None
    raw = _buffered_body(environ)
    asked = _asked_properties(raw)
    if not asked or not all(tag in ITEM_PROPERTIES for tag in asked):
        return None
    owner, mapped, permissions_filter, mount = user, path, None, None
    if app._sharing._enabled:
        share = app._sharing.sharing_collection_resolver(path, user, user_groups)
        if share and path != share["PathMapped"]:
            if share["Conversion"] not in (None, "none"):
                return None  # birthday calendars: items are converted, Radicale's own path
            owner, mapped, permissions_filter = share["Owner"], share["PathMapped"], share["Permissions"]
            mount = (share["PathOrToken"], share["PathMapped"])
    if not Access(app._rights, owner, user_groups, mapped, permissions_filter).check("r"):
        return None
    depth0 = dict(environ, HTTP_DEPTH="0", CONTENT_LENGTH=str(len(raw)), **{"wsgi.input": io.BytesIO(raw)})
    answer = radicale.Application.do_PROPFIND(app, depth0, base_prefix, path, user, user_groups, request_info)
    status, headers, body = answer[0], answer[1], answer[2]
    if status != 207 or not isinstance(body, bytes) or not body.rstrip().endswith(CLOSING) \
            or b'<multistatus xmlns="DAV:"' not in body[:200]:
        return None  # Radicale answers the whole request itself (its copy of the body is unread)
    with app._storage.acquire_lock("r", owner):
        collection = next(iter(app._storage.discover(mapped, "0")), None)
        if not isinstance(collection, ViewedCollection) or collection.tag not in ("VCALENDAR", "VADDRESSBOOK"):
            return None
        items = _item_responses(app, collection, owner, user_groups, base_prefix, mount, asked)
    end = body.rstrip().rfind(CLOSING)
    return status, headers, body[:end] + items + body[end:], *answer[3:]


def _item_responses(app, collection: ViewedCollection, owner: str, user_groups: set, base_prefix: str,
                    mount: tuple[str, str] | None, asked: list[str]) -> bytes:
    """The items' <response> elements, as Radicale would write them for these properties."""
    collection_path = pathutils.unstrip_path(collection.path, True)
    allowed = rights.intersect(app._rights.authorization(owner, user_groups, collection_path), "rw")
    if not allowed:
        return b""
    prefix = collection_path
    if mount is not None and prefix.startswith(mount[1]):
        prefix = mount[0] + prefix.removeprefix(mount[1])
    href_prefix = quote(base_prefix + prefix)
    names = [ITEM_PROPERTIES[tag] for tag in asked]
    limit = app._storage._max_resource_size
    parts: list[str] = []
    for href, entry in collection.entries_as_seen():  # a me card as the reader may see it (docs/cards.md)
        if entry.stamp.size > limit:
            continue
        parts.append(f"<response><href>{href_prefix}{quote(href)}</href><propstat><prop>")
        parts.extend(f"<{name}>{VALUES[name](entry, app._encoding)}</{name}>" for name in names)
        parts.append("</prop><status>HTTP/1.1 200 OK</status></propstat></response>")
    return "".join(parts).encode(app._encoding)


def _buffered_body(environ: types.WSGIEnviron) -> bytes:
    """The request body, read once; Radicale reads the copy left in its place."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw


def _asked_properties(raw: bytes) -> list[str] | None:
    """The property names of a ``<propfind><prop>`` body, in order; None for anything else."""
    if not raw:
        return None  # allprop
    try:
        root = SafeET.fromstring(raw)
    except (ET.ParseError, ValueError, DefusedXmlException):
        return None
    if root.tag != dav("propfind") or len(root) != 1 or root[0].tag != dav("prop"):
        return None
    return [element.tag for element in root[0]]
