"""The cards feature's requests (docs/cards.md):

- writes into "Shared contacts" or the directory (PUT, DELETE, PROPPATCH,
  MKCOL, MKCALENDAR, POST, MOVE from or into them): 403 with
  ``DAV:need-privileges`` and the reason, before Radicale's handlers;
- PUT of a me card (on the owner's path or through a share): refused with
  400 and ``CR:valid-address-data`` when it is not one valid vCard 3.0 or
  4.0 with a name; after a stored PUT, the people it is shared with are told
  what changed for them;
- PROPFIND: the virtual address books are read-only for everyone
  (``D:current-user-privilege-set`` is ``D:read``), and the principal names
  the directory (``CR:directory-gateway``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlsplit

from radicale import httputils, pathutils, types

from radicale_ext.base.errors import Forbidden
from radicale_ext.cards.projection import BadCard, read_card
from radicale_ext.sharing import addresses

from .. import _http
from .._site import site_for
from ..card_books import DIRECTORY, virtual_place
from ..routes import after, propfind_step, route

READ_ONLY = ("{path} is read-only: its cards are other people's me cards as they let you see them; "
             "only each card's owner changes their card")
_WRITES = ("PUT", "DELETE", "PROPPATCH", "MKCOL", "MKCALENDAR", "POST", "MOVE")
CARDDAV = "urn:ietf:params:xml:ns:carddav"


def _destination(environ: types.WSGIEnviron, base_prefix: str) -> str:
    target = unquote(urlsplit(environ.get("HTTP_DESTINATION", "")).path)
    return target[len(base_prefix):] if base_prefix and target.startswith(base_prefix) else target


def _refuse_writes(method: str):
    def refuse(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
               request_info: dict) -> types.WSGIResponse | None:
        place = virtual_place(path)
        if place is None and method == "MOVE":
            place = virtual_place(_destination(environ, base_prefix))
        if place is None:
            return None
        if not user:
            return httputils.NOT_ALLOWED
        shown = f"/{place[0]}/{place[1]}/"
        return _http.error(Forbidden(READ_ONLY.format(path=shown)), user)
    return refuse


for _method in _WRITES:
    route(_method)(_refuse_writes(_method))


# -- the me card ------------------------------------------------------------------------------

def _me_card_owner(app, path: str, user: str, user_groups: set) -> str | None:
    """Whose me card a PUT by ``user`` on ``path`` writes (their own, or through a share they may
    write), if anyone's.  Others' PUTs are left to Radicale's refusal, which says nothing of me cards."""
    if not path.endswith(".vcf") or not user:
        return None
    target = path
    if app._sharing._enabled:
        share = app._sharing.sharing_collection_resolver(path, user, user_groups)
        if share and share["PathMapped"] != path:  # Radicale maps an item's path to the owner's item
            if "w" not in share["Permissions"]:
                return None
            target = share["PathMapped"]
    collection, _slash, href = pathutils.sanitize_path(target).rpartition("/")
    owner = site_for(app.configuration).cards.owner_at(collection + "/", href)
    return owner if owner == user or target != path else None


@route("PUT")
def check_me_card(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
                  request_info: dict) -> types.WSGIResponse | None:
    owner = _me_card_owner(app, path, user, user_groups)
    if owner is None:
        return None
    try:
        body = _http.read_body(app, environ)
    except RuntimeError:
        return httputils.BAD_REQUEST
    try:
        read_card(body.decode("utf-8"))
    except UnicodeDecodeError:
        return _http.error(BadCard(f"this is {owner}'s me card, and the body is not UTF-8 text"), user)
    except BadCard as e:
        return _http.error(BadCard(f"this is {owner}'s me card, so it must be valid vCard: {e}"), user)
    return None


@after("PUT")
def tell_recipients(app, path: str, user: str, user_groups: set, body: bytes | None) -> None:
    owner = _me_card_owner(app, path, user, user_groups)
    if owner is not None:
        site_for(app.configuration).cards.settle(owner)


# -- PROPFIND ---------------------------------------------------------------------------------

PRIVILEGES = "{DAV:}current-user-privilege-set"
GATEWAY = f"{{{CARDDAV}}}directory-gateway"


@propfind_step
def read_only_books(app, multistatus: ET.Element, user: str, base_prefix: str) -> None:
    for response in multistatus.findall("{DAV:}response"):
        href = unquote(response.findtext("{DAV:}href") or "")
        if not href.endswith("/"):
            continue  # an item: nothing to complete
        path = href[len(base_prefix):] if base_prefix and href.startswith(base_prefix) else href
        if virtual_place(path) is not None:
            for privileges in response.iter(PRIVILEGES):
                privileges.clear()
                ET.SubElement(ET.SubElement(privileges, "{DAV:}privilege"), "{DAV:}read")
            if path.rstrip("/").endswith(DIRECTORY):
                for resourcetype in response.iter("{DAV:}resourcetype"):
                    ET.SubElement(resourcetype, f"{{{CARDDAV}}}directory")
        elif user and pathutils.strip_path(path) == user:
            for gateway in list(response.iter(GATEWAY)):
                _found(response, gateway)
                ET.SubElement(gateway, "{DAV:}href").text = addresses.href(f"/{user}/{DIRECTORY}/", base_prefix)


def _found(response: ET.Element, element: ET.Element) -> None:
    """Move a property Radicale answered 404 into the 200 propstat."""
    for propstat in response.findall("{DAV:}propstat"):
        prop = propstat.find("{DAV:}prop")
        if prop is not None and element in list(prop) and " 200 " not in (propstat.findtext("{DAV:}status") or ""):
            prop.remove(element)
            if not len(prop):
                response.remove(propstat)
            ok = next((p.find("{DAV:}prop") for p in response.findall("{DAV:}propstat")
                       if " 200 " in (p.findtext("{DAV:}status") or "")), None)
            if ok is None:
                ok_propstat = ET.SubElement(response, "{DAV:}propstat")
                ok = ET.SubElement(ok_propstat, "{DAV:}prop")
                ET.SubElement(ok_propstat, "{DAV:}status").text = "HTTP/1.1 200 OK"
            ok.append(element)
            return
