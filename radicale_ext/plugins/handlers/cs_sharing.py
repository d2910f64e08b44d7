"""Apple's CalendarServer sharing protocol: the requests Radicale has no handler for.

- POST ``CS:share`` on a calendar or address book, by its owner: invite,
  change or withdraw sharees (caldav-sharing 5.3.2);
- POST ``CS:invite-reply`` on one's own home: accept (the answer is
  ``CS:shared-as``) or decline an invitation (5.4.1);
- DELETE of a collection in one's home that one accepted or subscribed to:
  it leaves the home, the owner's data stays (5.4.2);
- PROPFIND (depth 0) of a sharer's principal by someone they share with: the
  sharer's name, so clients can say whose a shared calendar is;
- after a PUT: invitations for an event's participants who may subscribe.

Each handler parses, lets the core decide, and renders; core errors become
HTTP answers in :mod:`.._http`.  The properties of the protocol are added to
Radicale's PROPFIND answers by :mod:`.cs_properties`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from radicale import httputils, types
from radicale.log import logger

from radicale_ext.base.errors import ExtError, Forbidden, NotFound
from radicale_ext.base.model import Grantee, GranteeKind, ShareBasis
from radicale_ext.sharing import addresses, cs_xml
from radicale_ext.sharing.participants import participant_addresses
from radicale_ext.site import Site

from .. import _http
from .._site import circles_now, site_for
from ..routes import DAV_FEATURES, after, route

# Apple's clients read "-no-scheduling" as: no scheduling (RFC 6638) on behalf of sharees in shared calendars;
# CalendarServer announces both, and we offer no scheduling at all (docs/sharing.md)
DAV_FEATURES.extend(("calendarserver-sharing", "calendarserver-sharing-no-scheduling"))


def _is_ours(environ: types.WSGIEnviron, body: bytes) -> bool:
    return "xml" in environ.get("CONTENT_TYPE", "") or body.lstrip().startswith(b"<")


@route("POST")
def post(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
         request_info: dict) -> types.WSGIResponse | None:
    parts = _http.segments(path)
    if not 1 <= len(parts) <= 2 or any(p.startswith(".") for p in parts):
        return None
    try:
        body = _http.read_body(app, environ)
    except RuntimeError:
        return httputils.BAD_REQUEST
    if not _is_ours(environ, body):
        return None
    if not user:
        return httputils.NOT_ALLOWED
    site = site_for(app.configuration)
    try:
        root = cs_xml.request_root(body)
        if root.tag == cs_xml.cs("share"):
            return _share(site, parts, user, cs_xml.parse_share(root), base_prefix)
        if root.tag == cs_xml.cs("invite-reply"):
            return _reply(site, parts, user, cs_xml.parse_invite_reply(root), base_prefix)
        raise cs_xml.MalformedBody(f"expected CS:share or CS:invite-reply, got {root.tag}")
    except ExtError as e:
        return _http.error(e, user)


def _share(site: Site, parts: list[str], user: str, changes: list[cs_xml.ShareeChange],
           base_prefix: str) -> types.WSGIResponse:
    """Every sharee is checked first; when one cannot be shared with, nothing changes and the answer says so
    per person (CalendarServer's 207: 403 for them, 424 Failed Dependency for the others)."""
    if len(parts) != 2 or parts[0] != user:
        raise Forbidden("only a collection's owner may share it, by a POST on the collection in their own home")
    collection = f"/{parts[0]}/{parts[1]}/"
    if site.collection_tag(collection) is None:
        if site.shares.grant_at_mount(user, circles_now(site, user), parts[1]) is not None:
            raise Forbidden(f"{collection} is shared with {user!r}; only its owner may share it")
        raise NotFound(f"{user!r} has no calendar or address book at {collection}")
    sharees, refused = _sharees(site, user, changes, base_prefix)
    if refused:
        return _http.xml(207, cs_xml.per_sharee([(c.address, refused.get(c.address)) for c in changes]))
    current = {s.grantee.name: s for s in site.shares.shares_of(collection) if s.grantee.kind is GranteeKind.USER}
    for sharee, change in sharees:  # every sharee is known: now change, one sharee at a time
        grantee, share = Grantee(GranteeKind.USER, sharee), current.get(sharee)
        if change.role is None:
            if share is not None:
                site.invitations.withdraw(collection, grantee, actor=user)
        elif share is None:
            current[sharee] = site.shares.add(collection, grantee, change.role, actor=user,
                                              basis=ShareBasis.INVITATION, summary=change.summary)
        elif share.role is not change.role:
            current[sharee] = site.invitations.change_role(collection, grantee, change.role, actor=user)
    return 200, {}, None, None


def _sharees(site: Site, owner: str, changes: list[cs_xml.ShareeChange], base_prefix: str
             ) -> tuple[list[tuple[str, cs_xml.ShareeChange]], dict[str, str]]:
    """The user each change names, and why each address that cannot be shared with cannot (by address).

    A CS:remove of an address that names nobody here is done already (CalendarServer's rule: a client may
    clear out a sharee whose account is gone)."""
    sharees: list[tuple[str, cs_xml.ShareeChange]] = []
    refused: dict[str, str] = {}
    for change in changes:
        try:
            sharee = addresses.user_for_address(change.address, site.user_exists, base_prefix)
        except ExtError as e:
            if change.role is not None:
                refused[change.address] = str(e)
            continue
        if sharee == owner:
            if change.role is not None:
                refused[change.address] = f"{owner!r} owns this collection; it cannot be shared with its owner"
            continue
        sharees.append((sharee, change))
    return sharees, refused


def _reply(site: Site, parts: list[str], user: str, reply: cs_xml.InviteReply,
           base_prefix: str) -> types.WSGIResponse:
    if parts != [user]:
        raise Forbidden("answer invitations with a POST on your own home")
    if addresses.user_for_address(reply.address, site.user_exists, base_prefix) != user:
        raise Forbidden(f"{user!r} may answer only their own invitations, not {reply.address!r}'s")
    collection = addresses.path_of(reply.hosturl, base_prefix)
    if reply.accepted:
        grant = site.invitations.accept(user, collection, invitation_id=reply.in_reply_to, summary=reply.summary)
        return _http.xml(200, cs_xml.shared_as(grant.mount_path(user), base_prefix))
    site.invitations.decline(user, collection, invitation_id=reply.in_reply_to, summary=reply.summary)
    return 200, {}, None, None


@route("DELETE")
def remove_from_home(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
                     request_info: dict) -> types.WSGIResponse | None:
    """A sharee deletes a collection they accepted or subscribed to: it leaves their home only."""
    parts = _http.segments(path)
    if not user or len(parts) != 2 or parts[0] != user or not path.endswith("/"):
        return None
    site = site_for(app.configuration)
    counting = [r for r in site.shares.reaches_at_mount(user, circles_now(site, user), parts[1]) if r.counts]
    if not counting or any(r.share.basis is ShareBasis.AT_ONCE for r in counting):
        return None  # not a share, or one the admin put there: Radicale refuses as before
    collection = counting[0].share.collection
    try:
        if any(r.share.basis is ShareBasis.INVITATION for r in counting):
            site.invitations.remove_from_home(user, collection)
        if any(r.share.basis is ShareBasis.SUBSCRIPTION for r in counting):
            site.scopes.unsubscribe(user, collection)
    except ExtError as e:
        return _http.error(e, user)
    return 204, {}, None, None


@route("PROPFIND")
def sharer_principal(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
                     request_info: dict) -> types.WSGIResponse | None:
    """Someone a user shares with may read that user's principal name (depth 0), nothing more."""
    parts = _http.segments(path)
    if not user or len(parts) != 1 or parts[0] == user or environ.get("HTTP_DEPTH", "0") != "0":
        return None
    site = site_for(app.configuration)
    sharer = parts[0]
    if not any(g.owner == sharer for g in site.shares.grants_for(user, circles_now(site, user))):
        return None
    try:
        asked, names_only = _http.asked_properties(_http.read_body(app, environ))
    except (ExtError, RuntimeError):
        return httputils.BAD_REQUEST
    principal = addresses.href(f"/{sharer}/", base_prefix)
    props: _http.Properties = {
        "{DAV:}resourcetype": lambda e: [ET.SubElement(e, f"{{DAV:}}{t}") for t in ("principal", "collection")],
        "{DAV:}displayname": lambda e: setattr(e, "text", sharer),
        "{DAV:}principal-URL": lambda e: setattr(ET.SubElement(e, "{DAV:}href"), "text", principal),
        "{urn:ietf:params:xml:ns:caldav}calendar-user-address-set":
            lambda e: setattr(ET.SubElement(e, "{DAV:}href"), "text", addresses.address_of(sharer, base_prefix)),
    }
    multistatus = ET.Element("{DAV:}multistatus")
    multistatus.append(_http.propfind_response(principal, props, asked, names_only, allprop=frozenset(props)))
    return _http.xml(207, multistatus)


@after("PUT")
def invite_participants(app, path: str, user: str, user_groups: set, body: bytes | None) -> None:
    """An event names participants: invite those who may subscribe to its calendar."""
    if not body or b"ATTENDEE" not in body.upper() or not path.endswith(".ics"):
        return
    try:
        share = app._sharing.sharing_collection_resolver(path, user, user_groups) if app._sharing._enabled else None
        item = share["PathMapped"] if share else path
        parts = _http.segments(item)
        if len(parts) != 3:
            return
        invited = site_for(app.configuration).invitations.invite_participants(
            f"{parts[0]}/{parts[1]}", participant_addresses(body.decode("utf-8", "replace")))
        if invited:
            logger.info("invited the participants %s of %s to its calendar", ", ".join(invited), item)
    except Exception:  # the event is stored; an invitation that failed is logged, never the request's failure
        logger.exception("could not invite the participants of %s", path)
