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
import hashlib
import xml.etree.ElementTree as ET

from radicale import httputils, types

from radicale_ext.base.errors import ExtError, Forbidden, NotFound
from radicale_ext.base.xml_names import cs, dav
from radicale_ext.notices.change_xml import resource_change_document
from radicale_ext.sharing import addresses, cs_xml
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


def _version(notices: list[Notice]) -> str:
    return hashlib.sha256("".join(n.name + n.etag for n in notices).encode()).hexdigest()[:32]


# -- properties --------------------------------------------------------------------------

def _collection_props(user: str, notices: list[Notice], base_prefix: str) -> _http.Properties:
    def resourcetype(e: ET.Element) -> None:
        ET.SubElement(e, dav("collection"))
        ET.SubElement(e, cs("notification"))

    def privileges(e: ET.Element) -> None:
        for name in ("read", "unbind"):
            ET.SubElement(ET.SubElement(e, dav("privilege")), dav(name))

    def reports(e: ET.Element) -> None:
        ET.SubElement(ET.SubElement(ET.SubElement(e, dav("supported-report")), dav("report")),
                      dav("sync-collection"))

    version = _version(notices)
    return {
        dav("resourcetype"): resourcetype,
        dav("displayname"): lambda e: setattr(e, "text", "Notifications"),
        cs("getctag"): lambda e: setattr(e, "text", f'"{version}"'),
        dav("sync-token"): lambda e: setattr(e, "text", SYNC_TOKEN_PREFIX + version),
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
    notices = site_for(app.configuration).inbox.notices(user)
    asked, names_only = _http.asked_properties(body)
    collection = f"/{user}/{SEGMENT}/"
    multistatus = ET.Element(dav("multistatus"))
    if name is None:
        multistatus.append(_response(addresses.href(collection, base_prefix),
                                     _collection_props(user, notices, base_prefix), asked, names_only))
        if environ.get("HTTP_DEPTH", "0") != "0":
            for n in notices:
                multistatus.append(_response(addresses.href(f"{collection}{n.name}.xml", base_prefix),
                                             _item_props(n), asked, names_only))
    else:
        notice = next((n for n in notices if f"{n.name}.xml" == name), None)
        if notice is None:
            raise NotFound(f"no notification {name} in {collection}")
        multistatus.append(_response(addresses.href(collection + name, base_prefix), _item_props(notice),
                                     asked, names_only))
    return _http.xml(207, multistatus)


def _report(app, environ, base_prefix: str, user: str, name: str | None, body: bytes) -> types.WSGIResponse:
    """sync-collection (RFC 6578): all notifications, or none when nothing changed since the token."""
    root = cs_xml.request_root(body)
    if name is not None or root.tag != dav("sync-collection"):
        raise Forbidden("the notification collection answers only the sync-collection report",
                        precondition="D:supported-report")
    notices = site_for(app.configuration).inbox.notices(user)
    version = _version(notices)
    token = (root.findtext(dav("sync-token")) or "").strip()
    if token and token != SYNC_TOKEN_PREFIX + version:
        raise Forbidden("the sync-token is not the current one; sync again without a token",
                        precondition="D:valid-sync-token")
    prop = root.find(dav("prop"))
    asked = [child.tag for child in prop] if prop is not None else [dav("getetag")]
    multistatus = ET.Element(dav("multistatus"))
    collection = f"/{user}/{SEGMENT}/"
    for n in ([] if token else notices):
        multistatus.append(_response(addresses.href(f"{collection}{n.name}.xml", base_prefix), _item_props(n),
                                     asked, False))
    ET.SubElement(multistatus, dav("sync-token")).text = SYNC_TOKEN_PREFIX + version
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
