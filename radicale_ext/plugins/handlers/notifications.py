"""A person's DAV notification collection, ``/<user>/.notifications/`` (caldav-notifications section 4).

A virtual collection: nothing of it is on disk (Radicale's own files never
start with ".", so its name cannot collide with a calendar), its content is
the person's :class:`~radicale_ext.sharing.inbox.Inbox`.  Clients find it through
``CS:notification-URL`` on the principal, list it (PROPFIND depth 1, or a
sync-collection REPORT), read a notification (GET: a ``CS:notification``
document) and delete it once handled.  Only its owner may read it; nobody
may add to it (PUT, MKCOL, PROPPATCH, MOVE, POST are refused: the server
writes notifications).
"""

from __future__ import annotations

import email.utils
import xml.etree.ElementTree as ET

from radicale import httputils, types

from radicale_ext.base.errors import ExtError, Forbidden, NotFound
from radicale_ext.base.xml_names import cs, dav
from radicale_ext.notices.change_xml import resource_change_document
from radicale_ext.sharing import addresses, cs_xml
from radicale_ext.sharing.inbox_history import UnknownVersion
from radicale_ext.sharing.notifications import Notice, NoticeKind

from .. import _http
from .._site import site_for
from ..routes import route

SEGMENT = ".notifications"
CONTENT_TYPE = "text/xml; charset=utf-8"
SYNC_TOKEN_PREFIX = "urn:radicale-ext:notifications:"
READ_ONLY = Forbidden("the server writes notifications; clients may read and delete them")


def notification_url(user: str, base_prefix: str) -> str:
    return addresses.href(f"/{user}/{SEGMENT}/", base_prefix)


def sync_token(version: int) -> str:
    return f"{SYNC_TOKEN_PREFIX}{version}"


def _version_of(token: str) -> int:
    """The version a sync-token names; raises :class:`UnknownVersion` for anything we did not hand out."""
    number = token.removeprefix(SYNC_TOKEN_PREFIX)
    if token == number or not (number.isascii() and number.isdigit()) or len(number) > 18:
        raise UnknownVersion("the sync-token is not one of this notification collection's; sync again without one")
    return int(number)


class TooManyChanges(ExtError):
    """More changes than the client's DAV:limit (RFC 6578 section 3.7, RFC 5323 section 5.17)."""

    status = 507
    precondition = "D:number-of-matches-within-limits"


# -- properties --------------------------------------------------------------------------

def _collection_props(user: str, version: int, base_prefix: str) -> _http.Properties:
    def resourcetype(e: ET.Element) -> None:
        ET.SubElement(e, dav("collection"))
        ET.SubElement(e, cs("notification"))

    def privileges(e: ET.Element) -> None:
        for name in ("read", "unbind"):
            ET.SubElement(ET.SubElement(e, dav("privilege")), dav(name))

    def reports(e: ET.Element) -> None:
        ET.SubElement(ET.SubElement(ET.SubElement(e, dav("supported-report")), dav("report")),
                      dav("sync-collection"))

    return {
        dav("resourcetype"): resourcetype,
        dav("displayname"): lambda e: setattr(e, "text", "Notifications"),
        cs("getctag"): lambda e: setattr(e, "text", f'"{version}"'),
        dav("sync-token"): lambda e: setattr(e, "text", sync_token(version)),
        dav("owner"): lambda e: setattr(ET.SubElement(e, dav("href")), "text",
                                        addresses.href(f"/{user}/", base_prefix)),
        dav("current-user-privilege-set"): privileges,
        dav("supported-report-set"): reports,
    }


def _item_props(notice: Notice) -> _http.Properties:
    return {
        dav("resourcetype"): lambda e: None,
        dav("getetag"): lambda e: setattr(e, "text", notice.etag),
        dav("getcontenttype"): lambda e: setattr(e, "text", CONTENT_TYPE),
        dav("getlastmodified"): lambda e: setattr(e, "text", email.utils.formatdate(notice.created_at, usegmt=True)),
        cs("notificationtype"): lambda e: cs_xml.fill_notificationtype(e, notice),
    }


ALLPROP = frozenset({dav("resourcetype"), dav("displayname"), dav("getetag"), dav("getcontenttype"),
                     dav("getlastmodified")})  # CS:notificationtype is not for allprop (section 4.2.1)


def _response(href: str, props: _http.Properties, asked: list[str] | None, names_only: bool) -> ET.Element:
    return _http.propfind_response(href, props, asked, names_only, allprop=ALLPROP)


# -- the requests ----------------------------------------------------------------------------

def _propfind(app, environ, base_prefix: str, user: str, name: str | None, body: bytes) -> types.WSGIResponse:
    inbox = site_for(app.configuration).inbox
    asked, names_only = _http.asked_properties(body)
    collection = f"/{user}/{SEGMENT}/"
    multistatus = ET.Element(dav("multistatus"))
    if name is None:
        notices, version = inbox.listing(user)  # the sync-token names exactly this listing
        multistatus.append(_response(addresses.href(collection, base_prefix),
                                     _collection_props(user, version, base_prefix), asked, names_only))
        if environ.get("HTTP_DEPTH", "0") != "0":
            for n in notices:
                multistatus.append(_response(addresses.href(f"{collection}{n.name}.xml", base_prefix),
                                             _item_props(n), asked, names_only))
    else:
        notice = next((n for n in inbox.notices(user) if f"{n.name}.xml" == name), None)
        if notice is None:
            raise NotFound(f"no notification {name} in {collection}")
        multistatus.append(_response(addresses.href(collection + name, base_prefix), _item_props(notice),
                                     asked, names_only))
    return _http.xml(207, multistatus)


def _limit(root: ET.Element) -> int | None:
    text = root.findtext(f"{dav('limit')}/{dav('nresults')}")
    if text is None:
        return None
    if not text.strip().isdigit() or len(text.strip()) > 9 or int(text) < 1:
        raise cs_xml.MalformedBody(f"DAV:nresults must be a whole number of at least 1, not {text.strip()!r}")
    return int(text)


def _member(href: str, notice: Notice, asked: list[str]) -> ET.Element:
    """A changed member of a sync-collection answer: its properties (an empty DAV:prop when none were asked,
    so that the answer still says 200 for it, RFC 6578 section 3.5)."""
    response = _response(href, _item_props(notice), asked, False)
    if response.find(dav("propstat")) is None:
        propstat = ET.SubElement(response, dav("propstat"))
        ET.SubElement(propstat, dav("prop"))
        ET.SubElement(propstat, dav("status")).text = "HTTP/1.1 200 OK"
    return response


def _report(app, environ, base_prefix: str, user: str, name: str | None, body: bytes) -> types.WSGIResponse:
    """sync-collection (RFC 6578): everything, or what was added, changed and removed since the token."""
    root = cs_xml.request_root(body)
    if name is not None or root.tag != dav("sync-collection"):
        raise Forbidden("the notification collection answers only the sync-collection report",
                        precondition="D:supported-report")
    level = (root.findtext(dav("sync-level")) or "1").strip()
    if level not in ("1", "infinite", "infinity"):  # no member is a collection: both levels list the same
        raise cs_xml.MalformedBody(f"DAV:sync-level must be 1 or infinite, not {level!r}")
    limit = _limit(root)
    token = (root.findtext(dav("sync-token")) or "").strip()
    inbox = site_for(app.configuration).inbox
    if token:
        changed, removed, version = inbox.changes(user, _version_of(token))
    else:
        (changed, version), removed = inbox.listing(user), []
    if limit is not None and len(changed) + len(removed) > limit:
        raise TooManyChanges(f"{len(changed) + len(removed)} notifications changed, more than the limit of {limit}; "
                             "sync again with a larger limit or none")
    prop = root.find(dav("prop"))
    asked = [child.tag for child in prop] if prop is not None else [dav("getetag")]
    multistatus = ET.Element(dav("multistatus"))
    collection = f"/{user}/{SEGMENT}/"
    for n in changed:
        multistatus.append(_member(addresses.href(f"{collection}{n.name}.xml", base_prefix), n, asked))
    for gone in removed:
        response = ET.SubElement(multistatus, dav("response"))
        ET.SubElement(response, dav("href")).text = addresses.href(f"{collection}{gone}.xml", base_prefix)
        ET.SubElement(response, dav("status")).text = "HTTP/1.1 404 Not Found"
    ET.SubElement(multistatus, dav("sync-token")).text = sync_token(version)
    return _http.xml(207, multistatus)


def _get(app, environ, base_prefix: str, user: str, name: str | None, body: bytes) -> types.WSGIResponse:
    if name is None:
        return httputils.DIRECTORY_LISTING
    notice = site_for(app.configuration).inbox.notice(user, name.removesuffix(".xml"))
    if notice is None:
        raise NotFound(f"no notification {name}")
    document = (resource_change_document if notice.kind is NoticeKind.RESOURCE_CHANGE
                else cs_xml.notification_document)
    return 200, {"Content-Type": CONTENT_TYPE, "ETag": notice.etag}, document(notice, base_prefix), None


def _delete(app, environ, base_prefix: str, user: str, name: str | None, body: bytes) -> types.WSGIResponse:
    if name is None:
        raise Forbidden("the notification collection itself cannot be deleted; delete its notifications")
    if not site_for(app.configuration).inbox.delete(user, name.removesuffix(".xml")):
        raise NotFound(f"no notification {name}")
    return 204, {}, None, None


def _refuse(app, environ, base_prefix: str, user: str, name: str | None, body: bytes) -> types.WSGIResponse:
    raise READ_ONLY


_HANDLERS = {"PROPFIND": _propfind, "REPORT": _report, "GET": _get, "DELETE": _delete,
             **{m: _refuse for m in ("PUT", "PROPPATCH", "MKCOL", "MKCALENDAR", "MOVE", "POST")}}


def _handler(method: str):
    def handle(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
               request_info: dict) -> types.WSGIResponse | None:
        parts = _http.segments(path)
        if len(parts) not in (2, 3) or parts[1] != SEGMENT:
            return None
        if not user:
            return httputils.NOT_ALLOWED
        try:
            if parts[0] != user:
                raise Forbidden("a notification collection is for its owner only")
            body = _http.read_body(app, environ) if method in ("PROPFIND", "REPORT") else b""
            return _HANDLERS[method](app, environ, base_prefix, user, parts[2] if len(parts) == 3 else None, body)
        except ExtError as e:
            return _http.error(e, user)
        except RuntimeError:  # a body shorter than its Content-Length
            return httputils.BAD_REQUEST
    return handle


for _method in _HANDLERS:
    route(_method)(_handler(_method))
