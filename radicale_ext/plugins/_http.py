"""Answers of our own request handlers, and the one translation of core errors into HTTP.

An :class:`~radicale_ext.base.errors.ExtError` becomes its status with the
sentence that says why: as ``text/plain``, or, where a specification names a
precondition, as a ``DAV:error`` element holding it and the sentence
(``<D:error><D:need-privileges/><E:reason>...</E:reason></D:error>``,
RFC 4918 section 16), or, for a JSON endpoint, as ``{"error": "..."}``.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from http import client
from typing import Any

from radicale import httputils, types, xmlutils

from radicale_ext.base import privileges
from radicale_ext.base.errors import ExtError, Forbidden
from radicale_ext.sharing import cs_xml

from .routes import route

REASON = "{urn:radicale-ext}reason"  # the sentence that says why, inside DAV:error
ET.register_namespace("E", "urn:radicale-ext")


def error(e: ExtError, user: str) -> types.WSGIResponse:
    """The answer to a request the core refused."""
    if not user and e.status == 403:
        return httputils.NOT_ALLOWED  # Radicale asks an anonymous client to log in (401)
    if e.precondition:
        root = xmlutils.webdav_error(e.precondition)
        ET.SubElement(root, REASON).text = str(e)
        return xml(e.status, root)
    return e.status, {"Content-Type": "text/plain"}, f"{client.responses.get(e.status, 'Error')}: {e}", None


def need_privileges(base_prefix: str, user: str, method: str, path: str,
                    destination: str | None = None, reason: str | None = None) -> types.WSGIResponse:
    """Radicale's bare refusal of a logged-in user, with the privileges it lacked (RFC 3744 section 7.1.1);
    ``reason``: a sentence of the refusing feature's instead of the general one."""
    root = xmlutils.webdav_error("D:need-privileges")
    for needed in privileges.needed(method, path, destination):
        resource = ET.SubElement(root[0], "{DAV:}resource")
        ET.SubElement(resource, "{DAV:}href").text = xmlutils.make_href(base_prefix, needed.path)
        ET.SubElement(ET.SubElement(resource, "{DAV:}privilege"), f"{{DAV:}}{needed.privilege}")
    ET.SubElement(root, REASON).text = reason or privileges.why(user, method, path)
    return xml(403, root)


def json_error(e: ExtError, user: str) -> types.WSGIResponse:
    """The answer to a JSON request the core refused: ``{"error": "<why>"}``."""
    if not user and e.status == 403:
        return httputils.NOT_ALLOWED
    return json_answer(e.status, {"error": str(e)})


def xml(status: int, element: ET.Element | bytes) -> types.WSGIResponse:
    body = element if isinstance(element, bytes) else ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return status, {"Content-Type": "text/xml; charset=utf-8"}, body, None


def json_answer(status: int, value: Any) -> types.WSGIResponse:
    return status, {"Content-Type": "application/json"}, json.dumps(value, indent=2, sort_keys=True) + "\n", None


def read_body(app: Any, environ: types.WSGIEnviron) -> bytes:
    """The request body, read once; Radicale can read it again from the copy left in ``environ``."""
    raw = httputils.read_raw_request_body(app.configuration, environ)
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    return raw


def segments(path: str) -> list[str]:
    """``/bob/family~alice/x.ics`` as ``["bob", "family~alice", "x.ics"]``."""
    return [p for p in path.split("/") if p]


# -- PROPFIND answers of our own (virtual) resources ------------------------------------------

# property (Clark notation) -> what fills its element
Properties = dict[str, Callable[[ET.Element], None]]


def asked_properties(body: bytes) -> tuple[list[str] | None, bool]:
    """The properties a PROPFIND body asks for (None: allprop), and whether only their names.

    Raises :class:`~radicale_ext.sharing.cs_xml.MalformedBody`.
    """
    if not body.strip():
        return None, False
    root = cs_xml.request_root(body)
    if root.find("{DAV:}propname") is not None:
        return None, True
    prop = root.find("{DAV:}prop")
    return ([child.tag for child in prop] if prop is not None else None), False


def propfind_response(href: str, props: Properties, asked: list[str] | None, names_only: bool,
                      allprop: frozenset[str]) -> ET.Element:
    """One DAV:response: the asked properties we have (200), and the others (404)."""
    response = ET.Element("{DAV:}response")
    ET.SubElement(response, "{DAV:}href").text = href
    wanted = asked if asked is not None else [t for t in props if t in allprop or names_only]
    for status, tags in (("200 OK", [t for t in wanted if t in props]),
                         ("404 Not Found", [t for t in wanted if t not in props])):
        if tags:
            propstat = ET.SubElement(response, "{DAV:}propstat")
            prop = ET.SubElement(propstat, "{DAV:}prop")
            for tag in tags:
                element = ET.SubElement(prop, tag)
                if tag in props and not names_only:
                    props[tag](element)
            ET.SubElement(propstat, "{DAV:}status").text = f"HTTP/1.1 {status}"
    return response


def read_json(app: Any, environ: types.WSGIEnviron, usage: str) -> Any:
    """The request body as JSON; a body that is not JSON gets ``usage`` as the reason."""
    try:
        return json.loads(read_body(app, environ) or b"null")
    except (ValueError, RuntimeError):
        raise ExtError(f"the body is not JSON; {usage}") from None


def personal_json_endpoint(segment: str, listing: Callable[[Any, str], Any],
                           change: Callable[[Any, types.WSGIEnviron, str], types.WSGIResponse]) -> None:
    """Serve ``/<user>/<segment>`` to its user only: GET answers ``listing``, POST ``change``."""

    def handler(method: str):
        def handle(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
                   request_info: dict) -> types.WSGIResponse | None:
            parts = segments(path)
            if len(parts) != 2 or parts[1] != segment:
                return None
            if not user:
                return httputils.NOT_ALLOWED
            try:
                if parts[0] != user:
                    raise Forbidden("this list is for its owner only")
                if method == "GET":
                    return json_answer(200, listing(app, user))
                return change(app, environ, user)
            except ExtError as e:
                return json_error(e, user)
        return handle

    route("GET")(handler("GET"))
    route("POST")(handler("POST"))
