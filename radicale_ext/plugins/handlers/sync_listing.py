"""sync-collection REPORT (RFC 6578) with the members' part written from the item index.

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

Only bodies whose properties are all in the DAV: namespace are answered so
(any other one, ``calendar-data`` and ``address-data`` included, goes down
Radicale's own path), and nothing with a filter or an ``expand``; a
birthday-calendar share and the virtual address books stay Radicale's.
Radicale 3.9 ignores ``DAV:limit`` (it reports every change at once), and so
does this.
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
from ..recorded_storage import Member, SyncMembers
from ..routes import route

CLOSING = b"</multistatus>"
SYNC_CHILDREN = frozenset(dav(name) for name in ("sync-token", "sync-level", "prop", "limit"))
EXPAND = "{urn:ietf:params:xml:ns:caldav}expand"
DAV_PREFIX = dav("")
FOUND = ("getetag", "getcontenttype")   # what Radicale's REPORT finds of the DAV: properties
FOUND_STATUS = "HTTP/1.1 200 OK"
NOT_FOUND = "HTTP/1.1 404 Not Found"


@route("REPORT")
def sync_from_index(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
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
    share = app._sharing.sharing_collection_resolver(path, user, user_groups) if app._sharing._enabled else None
    if share and share["Conversion"] not in (None, "none"):
        return None  # birthday calendars: items are converted, Radicale's own path
    wanted = SyncMembers()
    with _request.listing_sync_members(wanted):
        answer = radicale.Application.do_REPORT(app, environ, base_prefix, path, user, user_groups, request_info)
    if wanted.members is None:
        return answer  # Radicale answered the whole request (a refusal, a token not issued here, a virtual book)
    status, body = answer[0], answer[2]
    if status != 207 or not isinstance(body, bytes) or not body.rstrip().endswith(CLOSING):
        logger.warning("sync-collection on %r: Radicale's answer has no place for the members; asked again", path)
        environ["wsgi.input"] = io.BytesIO(raw)
        return None
    members = _member_responses(wanted, base_prefix, share, asked, app._encoding)
    end = body.rstrip().rfind(CLOSING)
    return status, answer[1], body[:end] + members + body[end:], *answer[3:]


def _member_responses(wanted: SyncMembers, base_prefix: str, share: dict | None, asked: list[str],
                      encoding: str) -> bytes:
    """The members' <response> elements as Radicale's ``xml_report`` writes them for a sync-collection:
    those not there first (in the order reported), then the others."""
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


def _asked_properties(raw: bytes) -> list[str] | None:
    """The DAV: property names (without namespace) of a ``<sync-collection>`` body, in order; None for any
    other body, or one asking a property of another namespace, or with more than a sync-collection has."""
    try:
        root = SafeET.fromstring(raw)
    except (ET.ParseError, ValueError, DefusedXmlException):
        return None
    if root.tag != dav("sync-collection") or any(child.tag not in SYNC_CHILDREN for child in root):
        return None
    if any(element.tag == EXPAND for element in root.iter()):
        return None  # Radicale expands even for getetag where a body has one
    prop = root.find(dav("prop"))
    asked = [element.tag for element in prop] if prop is not None else []
    if not all(isinstance(tag, str) and tag.startswith(DAV_PREFIX) for tag in asked):
        return None
    return [tag.removeprefix(DAV_PREFIX) for tag in asked]
