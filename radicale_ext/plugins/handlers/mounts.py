"""A share's place in a person's home: its name, and what its privileges say.

- Names reserved for shares (:mod:`radicale_ext.sharing.mounts`): a MKCOL,
  MKCALENDAR or whole-collection PUT that would create ``/<user>/<name>/``
  with ``~`` in ``<name>`` is refused with 403, a sentence and, for a calendar
  or an address book, the precondition of RFC 4791 5.3.1
  (``CALDAV:calendar-collection-location-ok``) or RFC 6352 6.3.1
  (``CARDDAV:addressbook-collection-location-ok``).  A collection of the
  user's own already there (from before the rule) is left to Radicale.
- Read-only looks read-only: a collection shared with the user that they may
  not write (a subscriber's, or a collaborator's whom the rights file lets
  only read) shows only read privileges in ``DAV:current-user-privilege-set``
  (RFC 3744 5.4), for the collection and its items.  Radicale adds
  ``DAV:write-properties`` there because the sharee may rename and recolour
  their own view (the sharing plugin's letter ``P``); Thunderbird takes any of
  write, write-content, write-properties or all for "writable" and then lets
  people type into a calendar whose events the server refuses.  The own view
  stays changeable (PROPPATCH is still accepted), it is just not advertised:
  docs/sharing.md, "Your own name and colour".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlparse

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException
from radicale import types

from radicale_ext.base.xml_names import dav
from radicale_ext.sharing import mounts

from .. import _http
from .._site import circles_now, site_for
from ..routes import propfind_step, route

CALDAV, CARDDAV = "urn:ietf:params:xml:ns:caldav", "urn:ietf:params:xml:ns:carddav"
CALENDAR_LOCATION, ADDRESS_BOOK_LOCATION = "C:calendar-collection-location-ok", "CR:addressbook-collection-location-ok"
BODY_READ_FOR_THE_KIND = 64 * 1024  # a longer MKCOL body is refused without looking at what it would create

# -- names reserved for shares ------------------------------------------------------------------


def _refuse_reserved(precondition_of):
    def handle(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
               request_info: dict) -> types.WSGIResponse | None:
        parts = _http.segments(path)
        if not user or len(parts) != 2 or parts[0] != user or not mounts.is_reserved(parts[1]):
            return None
        if site_for(app.configuration).collection_exists(f"/{user}/{parts[1]}/"):
            return None  # their own, from before the rule: Radicale answers as for any of theirs
        return _http.error(mounts.refuse_reserved(user, parts[1], precondition_of(app, environ)), user)
    return handle


def _kind_of_mkcol(app, environ: types.WSGIEnviron) -> str | None:
    """RFC 5689: the resourcetype the MKCOL body sets, as its location precondition."""
    try:
        if int(environ.get("CONTENT_LENGTH") or 0) > BODY_READ_FOR_THE_KIND:
            return None
        body = _http.read_body(app, environ)
        root = DefusedET.fromstring(body) if body.strip() else None
    except (ValueError, RuntimeError, ET.ParseError, DefusedXmlException):
        return None
    if root is None:
        return None
    if root.find(f".//{dav('resourcetype')}/{{{CALDAV}}}calendar") is not None:
        return CALENDAR_LOCATION
    if root.find(f".//{dav('resourcetype')}/{{{CARDDAV}}}addressbook") is not None:
        return ADDRESS_BOOK_LOCATION
    return None


def _kind_of_put(app, environ: types.WSGIEnviron) -> str | None:
    content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type == "text/calendar":
        return CALENDAR_LOCATION
    if content_type in ("text/vcard", "text/x-vcard"):
        return ADDRESS_BOOK_LOCATION
    return None


route("MKCALENDAR")(_refuse_reserved(lambda app, environ: CALENDAR_LOCATION))
route("MKCOL")(_refuse_reserved(_kind_of_mkcol))
route("PUT")(_refuse_reserved(_kind_of_put))

# -- read-only looks read-only --------------------------------------------------------------------

PRIVILEGE_SET = dav("current-user-privilege-set")
WRITING = frozenset(dav(p) for p in ("all", "write", "write-properties", "write-content", "bind", "unbind",
                                     "write-acl", "unlock"))
CONTENT = frozenset(dav(p) for p in ("all", "write", "write-content"))


@propfind_step
def read_only_looks_read_only(app, multistatus: ET.Element, user: str, base_prefix: str) -> None:
    if not user:
        return
    shares: set[str] | None = None
    for response in multistatus.iterfind(dav("response")):
        privileges = response.find(f"{dav('propstat')}/{dav('prop')}/{PRIVILEGE_SET}")
        if privileges is None:
            continue
        granted = {child.tag: wrapper for wrapper in privileges for child in wrapper}
        if granted.keys() & CONTENT or not granted.keys() & WRITING:
            continue  # may write, or shows it may not: nothing to take away
        href = _http.segments(_path(response.findtext(dav("href")) or "", base_prefix))
        if len(href) < 2 or href[0] != user:
            continue
        if shares is None:  # one query per answer, only for answers that need it
            site = site_for(app.configuration)
            shares = {g.mount for g in site.shares.grants_for(user, circles_now(site, user))}
        if href[1] in shares:
            for tag, wrapper in granted.items():
                if tag in WRITING:
                    privileges.remove(wrapper)


def _path(href: str, base_prefix: str) -> str:
    path = unquote(urlparse(href).path)
    return path[len(base_prefix):] if base_prefix and path.startswith(base_prefix) else path
