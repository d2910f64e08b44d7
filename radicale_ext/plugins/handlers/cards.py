"""The cards feature's requests (docs/cards.md):

- writes into "Shared contacts" or the directory (PUT, DELETE, PROPPATCH,
  MKCOL, MKCALENDAR, POST, MOVE from or into them): 403 with
  ``DAV:need-privileges`` and the reason, before Radicale's handlers;
- PUT of a me card (on the owner's path or through a share, by the owner or
  by someone who sees the whole card): refused with 400 and
  ``CR:valid-address-data`` when it is not one valid vCard 3.0 or 4.0 with a
  name; after a stored PUT, the people it is shared with are told what
  changed for them (not the one who changed it);
- PUT, DELETE or MOVE of someone else's me card by anyone else who may
  write its address book: 403 with ``DAV:need-privileges`` and the reason;
- PROPFIND: the virtual address books are read-only for everyone
  (``D:current-user-privilege-set`` is ``D:read``), and the principal names
  the directory (``CR:directory-gateway``).  (Reads of an address book that
  keeps someone else's me card show it as the reader may see it: that is the
  storage plugin's, with :mod:`..me_card_views`.)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import unquote

from radicale import httputils, pathutils, types
from radicale.app.base import Access

from radicale_ext.base.errors import Forbidden
from radicale_ext.cards.projection import EVERYTHING, BadCard, fields_text, read_card
from radicale_ext.sharing import addresses

from .. import _http
from .._site import circles_now, site_for
from ..card_books import DIRECTORY, virtual_place
from ..request_checks import radicales_destination
from ..routes import after, propfind_step, route

READ_ONLY = ("{path} is read-only: its cards are other people's me cards as they let you see them; "
             "only each card's owner changes their card")
_WRITES = ("PUT", "DELETE", "PROPPATCH", "MKCOL", "MKCALENDAR", "POST", "MOVE")
CARDDAV = "urn:ietf:params:xml:ns:carddav"


def _destination(environ: types.WSGIEnviron, base_prefix: str) -> str:
    """A MOVE's Destination as Radicale reads it ("/a//b" is "/a/b")."""
    return radicales_destination(environ, base_prefix) or ""


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
#
# Every write that reaches a me card is the me card's business, whether it comes on the owner's
# path (with a collaborator's rights) or through a share's mount (docs/cards.md, "Through a share"):
# a PUT by the owner, or by someone whose audiences see the whole card, must be a valid me card and
# is told to the people it is shared with; anyone else who may write the address book sees only part
# of the card (or none of it), so their PUT, DELETE or MOVE of it is refused with the reason.

NOT_YOURS = "{href} is {owner}'s me card: only {owner} deletes, moves or replaces it"
PART_OF_IT = ("{href} is {owner}'s me card, and you see only {fields} of it: a change from you would drop "
              "the rest, so only {owner} changes it")
NONE_OF_IT = "{href} is {owner}'s me card, which {owner} does not share with you: only {owner} changes it"


@dataclass(frozen=True)
class _Reach:
    """A me card a request reaches: whose it is, its name, and whether the user may write there."""

    owner: str
    href: str
    writable: bool


def _me_card_at(app, path: str, user: str, user_groups: set) -> _Reach | None:
    """The me card at ``path`` (the owner's path, or a share's mount mapped to it, as Radicale maps it)."""
    if not path.endswith(".vcf") or not user:
        return None
    mapped, access_user, permissions_filter = path, user, None
    if app._sharing._enabled:
        share = app._sharing.sharing_collection_resolver(path, user, user_groups)
        if share and share["PathMapped"] != path:
            mapped, access_user, permissions_filter = share["PathMapped"], share["Owner"], share["Permissions"]
    mapped = pathutils.sanitize_path(mapped)
    collection, _slash, href = mapped.rpartition("/")
    owner = site_for(app.configuration).cards.owner_at(collection + "/", href)
    if owner is None:
        return None
    writable = Access(app._rights, access_user, user_groups, mapped, permissions_filter).check("w")
    return _Reach(owner, href, writable)


def _refusal(app, reach: _Reach, user: str, sentence: str) -> types.WSGIResponse:
    site = site_for(app.configuration)
    fields = site.cards.fields_seen_by(user, circles_now(site, user), reach.owner)
    if sentence == PART_OF_IT and not fields:
        sentence = NONE_OF_IT
    return _http.error(Forbidden(sentence.format(href=reach.href, owner=reach.owner, fields=fields_text(fields))),
                       user)


@route("PUT")
def check_me_card(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
                  request_info: dict) -> types.WSGIResponse | None:
    reach = _me_card_at(app, path, user, user_groups)
    if reach is None or (reach.owner != user and not reach.writable):
        return None  # not a me card, or Radicale's refusal, which says nothing of me cards
    if reach.owner != user:
        site = site_for(app.configuration)
        if site.cards.fields_seen_by(user, circles_now(site, user), reach.owner) != EVERYTHING:
            return _refusal(app, reach, user, PART_OF_IT)
    try:
        body = _http.read_body(app, environ)
    except RuntimeError:
        return httputils.BAD_REQUEST
    try:
        read_card(body.decode("utf-8"))
    except UnicodeDecodeError:
        return _http.error(BadCard(f"this is {reach.owner}'s me card, and the body is not UTF-8 text"), user)
    except BadCard as e:
        return _http.error(BadCard(f"this is {reach.owner}'s me card, so it must be valid vCard: {e}"), user)
    return None


@after("PUT")
def tell_recipients(app, path: str, user: str, user_groups: set, body: bytes | None) -> None:
    reach = _me_card_at(app, path, user, user_groups)
    if reach is not None:
        site_for(app.configuration).cards.settle(reach.owner, actor=user)


def _keep_me_card(method: str):
    """Only the owner deletes their me card, moves it away or moves another card onto it."""
    def keep(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
             request_info: dict) -> types.WSGIResponse | None:
        ends = [path, _destination(environ, base_prefix)] if method == "MOVE" else [path]
        for end in ends:
            reach = _me_card_at(app, end, user, user_groups)
            if reach is not None and reach.owner != user and reach.writable:
                return _refusal(app, reach, user, NOT_YOURS)
        return None
    return keep


for _method in ("DELETE", "MOVE"):
    route(_method)(_keep_me_card(_method))


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
