"""REPORTs whose members' part is written from the item index: sync-collection (RFC 6578), and
calendar-query (RFC 4791) and addressbook-query (RFC 6352) asking only for ETags.

A phone's first sync of a calendar asks for every member's ETag, and every
later one for those changed since its token.  Radicale reads every reported
item (its text, for ``getetag``) and builds, checks and serialises an XML tree
per item; at 1,000 items that is most of the request.  Here Radicale answers
the request itself (authentication, rights, sharing, the token it was given,
the new ``DAV:sync-token``, every refusal) but the storage's ``sync`` reports
no names to it (:class:`~radicale_ext.plugins.recorded_storage.SyncMembers`);
the members' responses are written as text from the index behind Radicale's
answer, as Radicale writes them: the same hrefs (a share's mount path where
the request came through one), the deleted members first as 404 responses,
then the others with ``getetag`` and ``getcontenttype`` found and every other
property asked "404 Not Found", the ETag each reader sees (a me card's
projection, their own alarms).

A calendar-query or addressbook-query asking the same properties (a phone's
"which events fall in these weeks?", a time-range with ``getetag``) goes the
same way: the storage's ``get_filtered`` keeps the members whose match the
index decided (an event's occurrences against the time range, a card's kept
values against the text-matches) as the reader sees them, without reading
their files (:class:`~radicale_ext.plugins.recorded_storage.QueryMembers`),
and hands Radicale only the items it must test itself; their responses come
first, Radicale's own, then those written here (a multistatus has no order).
So the storage lock is held for the index's decision alone, not while every
matching file is read.

Only bodies whose properties are all in the DAV: namespace are answered so
(any other one, ``calendar-data`` and ``address-data`` included, goes down
Radicale's own path), and nothing with an ``expand``; a query only with a
``prop`` and a ``filter`` (a ``timezone`` or a ``limit`` stay Radicale's), a
sync-collection with nothing but a sync-collection's children; a
birthday-calendar share and the virtual address books stay Radicale's.
Radicale 3.9 ignores ``DAV:limit`` in a sync-collection (it reports every
change at once), and so does this.
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
from radicale import pathutils, types
from radicale.log import logger

from radicale_ext.base.xml_names import dav
from radicale_ext.index.item_index import Entry

from .. import _http, _request
from ..indexed_items import content_type
from ..options import storage_options
from ..recorded_storage import ListedMembers, Member, QueryMembers, SyncMembers
from ..routes import route

CLOSING = b"</multistatus>"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CARDDAV = "{urn:ietf:params:xml:ns:carddav}"
#: the REPORTs answered so, and the children each may have
CHILDREN = {dav("sync-collection"): frozenset(dav(name) for name in ("sync-token", "sync-level", "prop", "limit")),
            f"{CALDAV}calendar-query": frozenset((dav("prop"), f"{CALDAV}filter")),
            f"{CARDDAV}addressbook-query": frozenset((dav("prop"), f"{CARDDAV}filter"))}
EXPAND = f"{CALDAV}expand"
DAV_PREFIX = dav("")
FOUND = ("getetag", "getcontenttype")   # what Radicale's REPORT finds of the DAV: properties
FOUND_STATUS = "HTTP/1.1 200 OK"
NOT_FOUND = "HTTP/1.1 404 Not Found"


@route("REPORT")
def members_from_index(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                       user_groups: set, request_info: dict) -> types.WSGIResponse | None:
    if not user or not storage_options(app.configuration).item_responses_from_index:
        return None  # Radicale asks an anonymous client to log in
    try:
        raw = _http.read_body(app, environ)
    except RuntimeError:
        return None  # a body shorter than said: Radicale's 400
    asked = _asked_properties(raw)
    if asked is None:
        return None
    report, asked = asked
    share = app._sharing.sharing_collection_resolver(path, user, user_groups) if app._sharing._enabled else None
    if share and share["Conversion"] not in (None, "none"):
        return None  # birthday calendars: items are converted, Radicale's own path
    wanted: ListedMembers = SyncMembers() if report == dav("sync-collection") else QueryMembers()
    with _request.listing_members(wanted):
        answer = radicale.Application.do_REPORT(app, environ, base_prefix, path, user, user_groups, request_info)
    if wanted.members is None or isinstance(wanted, QueryMembers) and not wanted.members:
        # Radicale answered the whole request (a refusal, a token not issued here, a virtual book), or the
        # index decided that no member matches
        return answer
    status, body = answer[0], answer[2]
    place = _place_for_members(body) if status == 207 and isinstance(body, bytes) else None
    if place is None:
        logger.warning("REPORT on %r: Radicale's answer has no place for the members; asked again", path)
        environ["wsgi.input"] = io.BytesIO(raw)
        return None
    members = _member_responses(wanted, base_prefix, share, asked, app._encoding)
    return status, answer[1], place[0] + members + place[1], *answer[3:]


def _place_for_members(body: bytes) -> tuple[bytes, bytes] | None:
    """Radicale's multistatus cut where the members go: before its end (an empty one, which ElementTree
    writes as ``<multistatus ... />``, opened first); None where it is no multistatus."""
    text = body.rstrip()
    if text.endswith(CLOSING):
        end = text.rfind(CLOSING)
        return body[:end], body[end:]
    start = text.rfind(b"<multistatus")
    if start != -1 and text.endswith(b"/>") and b">" not in text[start:-2]:
        return text[:-2].rstrip() + b">", CLOSING
    return None


def _member_responses(wanted: ListedMembers, base_prefix: str, share: dict | None, asked: list[str],
                      encoding: str) -> bytes:
    """The members' <response> elements as Radicale's ``xml_report`` writes them for a REPORT: those not
    there first (a sync-collection's deletions, in the order reported), then the others."""
    href_of = _hrefs(base_prefix, wanted.collection_path, share)
    missing = "".join(f"<{name} />" for name in asked if name not in FOUND)
    not_found = f"<propstat><prop>{missing}</prop><status>{NOT_FOUND}</status></propstat>" if missing else ""
    gone: list[str] = []
    found: list[str] = []
    for href, member in wanted.members or ():
        if member is None:
            gone.append(f"<response><href>{href_of(href)}</href><status>{NOT_FOUND}</status></response>")
        elif asked:
            found.append(f"<response><href>{href_of(href)}</href>{_found(member, asked, encoding)}{not_found}"
                         "</response>")
    return "".join(gone + found).encode(encoding)


def _found(member: Member, asked: list[str], encoding: str) -> str:
    """The propstat of ``getetag`` and ``getcontenttype`` (the only ones Radicale's REPORT finds of these)."""
    values = []
    for name in asked:
        if name == "getetag":
            values.append(f"<getetag>{escape(_etag(member))}</getetag>")
        elif name == "getcontenttype":
            values.append(f"<getcontenttype>{escape(_content_type(member, encoding))}</getcontenttype>")
    return f"<propstat><prop>{''.join(values)}</prop><status>{FOUND_STATUS}</status></propstat>" if values else ""


def _etag(member: Member) -> str:
    return member.facts.etag if isinstance(member, Entry) else member.etag


def _content_type(member: Member, encoding: str) -> str:
    if isinstance(member, Entry):
        return content_type(member.facts.name, member.facts.component, encoding)
    return content_type(member.name, member.component_name, encoding)


def _hrefs(base_prefix: str, collection_path: str, share: dict | None) -> Callable[[str], str]:
    """Radicale's href of a member by its name (``report.xml_item_response``), escaped for XML: the
    collection's path and the name, quoted, and through a share the owner's path replaced by the share's.
    (Quoting goes character by character, so the collection's part is quoted once.)"""
    prefix = quote(base_prefix + pathutils.unstrip_path(collection_path, True))
    if not share:
        escaped = escape(prefix)
        return lambda name: escaped + quote(name)
    mapped = base_prefix + quote(share["PathMapped"])
    token = base_prefix + quote(str(share["PathOrToken"]))
    if len(mapped) > len(prefix):   # the share names more than the collection: each href on its own
        return lambda name: escape(_backmapped(prefix + quote(name), mapped, token))
    escaped_share = escape(_backmapped(prefix, mapped, token))
    return lambda name: escaped_share + quote(name)


def _backmapped(href: str, mapped: str, token: str) -> str:
    return token + href.removeprefix(mapped) if href.startswith(mapped) else href


def _asked_properties(raw: bytes) -> tuple[str, list[str]] | None:
    """The REPORT's name and the DAV: property names (without namespace) it asks, in order; None for any
    other REPORT, or one asking a property of another namespace, with an ``expand``, or with more children
    than answered here (:data:`CHILDREN`); a query must ask for at least one property."""
    try:
        root = SafeET.fromstring(raw)
    except (ET.ParseError, ValueError, DefusedXmlException):
        return None
    children = CHILDREN.get(root.tag)
    if children is None or any(child.tag not in children for child in root):
        return None
    if any(element.tag == EXPAND for element in root.iter()):
        return None  # Radicale expands even for getetag where a body has one
    prop = root.find(dav("prop"))
    asked = [element.tag for element in prop] if prop is not None else []
    if not all(isinstance(tag, str) and tag.startswith(DAV_PREFIX) for tag in asked):
        return None
    if root.tag != dav("sync-collection") and not asked:
        return None
    return root.tag, [tag.removeprefix(DAV_PREFIX) for tag in asked]
