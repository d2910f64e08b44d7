"""Each person's own ``CALDAV:schedule-calendar-transp`` on a shared calendar (RFC 6638 9.1; caldav-sharing,
"Per-user WebDAV Properties"; docs/sharing.md, "Your own calendar properties").

Radicale keeps a property's text only, and its properties overlay of a share
takes only its own list (name, description, colour, order).  So a PROPPATCH of
this property is handled here: through a mount it is kept with the person's own
view of the calendar (:meth:`radicale_ext.sharing.shares.ShareBook.set_property`)
and the rest of the request goes to Radicale; on the owner's own calendar its
value is handed to Radicale as text.  PROPFIND answers show it as RFC 6638
writes it: the person's own, else the owner's, else opaque.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import defusedxml.ElementTree as DefusedET
import radicale
from defusedxml import DefusedXmlException
from radicale import types

from radicale_ext.base.errors import ExtError
from radicale_ext.base.model import Grant
from radicale_ext.base.xml_names import dav
from radicale_ext.sharing.shares import TRANSPARENCY

from .. import _http
from .._site import circles_now, site_for
from ..routes import propfind_step, route

CALDAV = "urn:ietf:params:xml:ns:caldav"
TRANSP = f"{{{CALDAV}}}schedule-calendar-transp"
CHOICES = ("opaque", "transparent")


class BadTransparency(ExtError):
    """A PROPPATCH of CALDAV:schedule-calendar-transp with a value RFC 6638 does not name."""


@route("PROPPATCH")
def own_transparency(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
                     request_info: dict) -> types.WSGIResponse | None:
    """Radicale keeps a property's text only: the value (an element) is written as its text for the owner,
    and kept with the person's own view of a calendar shared with them (Radicale's overlay takes only
    its own list of properties)."""
    if not user or not path.endswith("/"):
        return None
    raw = _http.read_body(app, environ)
    if b"schedule-calendar-transp" not in raw:
        return None
    try:
        root = DefusedET.fromstring(raw)
    except (ET.ParseError, DefusedXmlException):
        return None   # Radicale answers a body it cannot read
    found = [(action, prop, element) for action in root for prop in action.findall(dav("prop"))
             for element in prop.findall(TRANSP)]
    if not found:
        return None
    value: str | None = None
    for action, _prop, element in found:
        value = _chosen(element) if action.tag == dav("set") else None
    grant = _mounted(app, path, user)
    if grant is None:   # the owner's own calendar (or one Radicale refuses): its text is the choice
        for _action, _prop, element in found:
            element.text, element[:] = (_chosen(element) if len(element) else None), []
        _replace_body(environ, root)
        return None
    if site_for(app.configuration).collection_tag(grant.collection) != "VCALENDAR":
        return None
    site_for(app.configuration).shares.set_property(user, grant.collection, TRANSPARENCY, value)
    for _action, prop, element in found:
        prop.remove(element)
    _replace_body(environ, root)
    status, headers, body, xml_request = radicale.Application.do_PROPPATCH(app, environ, base_prefix, path, user,
                                                                            user_groups, request_info)
    if status != 207 or not body:
        return status, headers, body, xml_request
    answer = ET.fromstring(body)
    for response in answer.findall(dav("response")):
        ET.SubElement(_ok_prop(response), TRANSP)
    return status, headers, ET.tostring(answer, encoding="utf-8", xml_declaration=True), xml_request


def _chosen(element: ET.Element) -> str:
    names = [child.tag.split("}")[-1] for child in element if child.tag.startswith(f"{{{CALDAV}}}")]
    if len(names) != 1 or names[0] not in CHOICES:
        raise BadTransparency("CALDAV:schedule-calendar-transp holds one element, CALDAV:opaque or "
                              "CALDAV:transparent (RFC 6638 section 9.1)")
    return names[0]


def _mounted(app, path: str, user: str) -> Grant | None:
    """The share ``/<user>/<mount>/`` stands for (None: not a share of theirs)."""
    parts = _http.segments(path)
    if len(parts) != 2 or parts[0] != user:
        return None
    site = site_for(app.configuration)
    if site.collection_exists(f"/{parts[0]}/{parts[1]}/"):
        return None
    return site.shares.grant_at_mount(user, circles_now(site, user), parts[1])


def _replace_body(environ: types.WSGIEnviron, root: ET.Element) -> None:
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    environ["wsgi.input"] = io.BytesIO(body)   # type: ignore[index]
    environ["CONTENT_LENGTH"] = str(len(body))   # type: ignore[index]


def _ok_prop(response: ET.Element) -> ET.Element:
    for propstat in response.findall(dav("propstat")):
        if " 200 " in (propstat.findtext(dav("status")) or ""):
            prop = propstat.find(dav("prop"))
            if prop is not None:
                return prop
    propstat = ET.SubElement(response, dav("propstat"))
    prop = ET.SubElement(propstat, dav("prop"))
    ET.SubElement(propstat, dav("status")).text = "HTTP/1.1 200 OK"
    return prop


@propfind_step
def transparency_as_element(app, multistatus: ET.Element, user: str, base_prefix: str) -> None:
    """CALDAV:schedule-calendar-transp as RFC 6638 writes it: Radicale renders the kept text (the person's
    own, else the owner's); where none is kept, a calendar is opaque (RFC 6638 9.1)."""
    if next(multistatus.iter(TRANSP), None) is None:
        return
    for response in multistatus.findall(dav("response")):
        for propstat in response.findall(dav("propstat")):
            prop = propstat.find(dav("prop"))
            element = prop.find(TRANSP) if prop is not None else None
            if element is None or prop is None:
                continue
            status = propstat.findtext(dav("status")) or ""
            if " 200 " in status and not len(element):
                kept = (element.text or "").strip().lower()
                element.text = None
                ET.SubElement(element, f"{{{CALDAV}}}{kept if kept in CHOICES else 'opaque'}")
            elif " 404 " in status and _is_calendar(app, response, user, base_prefix):
                prop.remove(element)
                if not len(prop):
                    response.remove(propstat)
                ET.SubElement(ET.SubElement(_ok_prop(response), TRANSP), f"{{{CALDAV}}}opaque")


def _is_calendar(app, response: ET.Element, user: str, base_prefix: str) -> bool:
    resourcetype = response.find(f"{dav('propstat')}/{dav('prop')}/{dav('resourcetype')}")
    if resourcetype is not None:
        return resourcetype.find(f"{{{CALDAV}}}calendar") is not None
    href = unquote(response.findtext(dav("href")) or "")
    parts = _http.segments(href[len(base_prefix):] if href.startswith(base_prefix) else href)
    if len(parts) != 2:
        return False
    site = site_for(app.configuration)
    own = f"/{parts[0]}/{parts[1]}/"
    if site.collection_exists(own):
        return site.collection_tag(own) == "VCALENDAR"
    grant = _mounted(app, f"/{parts[0]}/{parts[1]}/", user)
    return grant is not None and site.collection_tag(grant.collection) == "VCALENDAR"
