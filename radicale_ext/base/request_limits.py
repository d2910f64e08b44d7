"""What one request may ask of the server, checked before any work is done.

- **Names**: a calendar, address book or item is a folder or a file named
  as in the path, so a name longer than a file name may be (255 bytes on
  Linux, in UTF-8) is refused with a sentence instead of failing on the disk.
- **Request targets**: the path must be UTF-8 once percent-decoded (RFC 3986
  section 2.5) and hold no fragment: a ``#`` in a request-target starts one
  (RFC 3986 section 3.5; RFC 9112 section 3.2 has no room for it), and a
  ``#`` in a name is sent as ``%23``.
- **XML bodies** (PROPFIND, PROPPATCH, REPORT, MKCOL, MKCALENDAR, POST):
  bounded in size, depth and number of elements, and without entity
  declarations (the "billion laughs") or external entities (XXE), by one
  streaming pass of expat that builds nothing, before any parser that builds
  a tree sees them.
"""

from __future__ import annotations

import xml.parsers.expat

from .errors import ExtError
from .names import shown

MAX_NAME_BYTES = 255          # NAME_MAX of Linux file systems
MAX_PATH_BYTES = 1024         # a home, a collection and an item of the longest names fit
MAX_XML_BYTES = 4 * 1024 * 1024
MAX_XML_DEPTH = 64            # a CalDAV filter nests about 8 deep
MAX_XML_ELEMENTS = 100_000    # a multiget of tens of thousands of items


class NameTooLong(ExtError):
    status = 400


class BodyTooLarge(ExtError):
    status = 413


class BadTarget(ExtError):
    status = 400


def decoded_target(raw_path: bytes) -> str:
    """A request path, percent-decoded to bytes, as text: UTF-8 or refused."""
    try:
        return raw_path.decode("utf-8")
    except UnicodeDecodeError:
        raise BadTarget(f"the path {shown(raw_path)[1:]} is not UTF-8 once percent-decoded; clients send "
                        "names as UTF-8, e.g. M%C3%BCller for Müller (RFC 3986 section 2.5)") from None


def fragment_problem(request_target: str) -> str | None:
    """Why a request-target holding ``#`` is refused, or None."""
    if "#" not in request_target:
        return None
    return (f"the request-target {shown(request_target)} holds a fragment ('#...'), which is not part of a "
            "path (RFC 3986 section 3.5); nothing was done. A name with '#' in it is sent as %23")


def check_names(path: str) -> None:
    """Raise :class:`NameTooLong` for a path whose names cannot be files or folders."""
    encoded = path.encode("utf-8", "surrogatepass")
    for name in path.split("/"):
        size = len(name.encode("utf-8", "surrogatepass"))
        if size > MAX_NAME_BYTES:
            raise NameTooLong(f"the name {shown(name)} is {size} bytes long in UTF-8; a calendar, address book "
                              f"or item name may be at most {MAX_NAME_BYTES} bytes; choose a shorter one")
    if len(encoded) > MAX_PATH_BYTES:
        raise NameTooLong(f"the path {shown(path)} is {len(encoded)} bytes long in UTF-8; at most "
                          f"{MAX_PATH_BYTES} bytes are accepted (and each name at most {MAX_NAME_BYTES}); "
                          "choose shorter names")


def check_xml_length(length: int) -> None:
    if length > MAX_XML_BYTES:
        raise BodyTooLarge(f"the XML body is {length} bytes; a WebDAV request body may be at most "
                           f"{MAX_XML_BYTES} bytes; ask for fewer items at a time")


def check_xml(body: bytes) -> None:
    """Raise :class:`ExtError` (4xx) for an XML body too large, too deep, with too many elements,
    with entity declarations or external entities, or not well-formed; build nothing."""
    check_xml_length(len(body))
    if not body.strip():
        return
    walk = _Walk()
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = walk.start
    parser.EndElementHandler = walk.end
    parser.EntityDeclHandler = walk.entity
    parser.UnparsedEntityDeclHandler = walk.unparsed_entity
    parser.ExternalEntityRefHandler = walk.external_entity
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(body, True)
    except xml.parsers.expat.ExpatError as e:
        raise ExtError(f"the XML body is not well-formed: {e}") from None


class _Walk:
    def __init__(self) -> None:
        self.depth = 0
        self.elements = 0

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_XML_DEPTH:
            raise ExtError(f"the XML body nests elements more than {MAX_XML_DEPTH} deep; WebDAV requests "
                           "need far fewer levels")
        if self.elements > MAX_XML_ELEMENTS:
            raise BodyTooLarge(f"the XML body holds more than {MAX_XML_ELEMENTS} elements; ask for fewer "
                               "items at a time")

    def end(self, name: str) -> None:
        self.depth -= 1

    def entity(self, name: str, *rest: object) -> None:
        raise ExtError(f"the XML body declares an entity ({name!r}); WebDAV requests need none, and they are "
                       "refused (an entity can expand a small body into gigabytes)")

    def unparsed_entity(self, name: str, *rest: object) -> None:
        self.entity(name)

    def external_entity(self, context: str | None, base: str | None, system_id: str | None,
                        public_id: str | None) -> int:
        raise ExtError(f"the XML body refers to an external entity ({system_id!r}); it is not fetched and "
                       "the request is refused")
