"""CalendarServer's sharing properties, added to Radicale's PROPFIND answers.

Radicale renders the properties it knows and answers 404 for the others.
This PROPFIND step (:func:`..routes.propfind_step`) completes the answer for
the user who asked (caldav-sharing-03 sections 4, 5.2):

==========================================  ==============================================================
principal ``/bob/``                         ``CS:notification-URL``
any calendar or address book in his home    ``CS:notify-changes`` (bob's own choice, caldav-notifications
                                            5.3.4: his ``notices mute`` preference)
bob's own calendar or address book          ``CS:allowed-sharing-modes`` (``CS:can-be-shared``); when
                                            shared also ``CS:shared-owner`` in ``D:resourcetype``,
                                            ``CS:invite`` (everyone, with their answer), ``CS:organizer``
a collection shared with bob, in his home   ``CS:shared`` in ``D:resourcetype``, ``CS:invite`` (the
                                            organizer and bob only: sharees do not see each other),
                                            ``CS:shared-url``, ``D:owner``, ``CS:organizer``,
                                            ``CS:allowed-sharing-modes`` (empty: no re-sharing)
==========================================  ==============================================================

Nothing is done for answers that ask for none of these; otherwise at most two
indexed queries (bob's grants, bob's shares), plus one per shared collection
whose ``CS:invite`` is asked for, plus one for bob's notice choices.

``CS:notify-changes`` is also set here: a PROPPATCH of it on a calendar or
address book in bob's home sets his preference
(:meth:`~radicale_ext.notices.preferences.Preferences.set_hearing`), alone
or together with properties Radicale sets (all or nothing, RFC 4918 9.2).
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from functools import cached_property
from urllib.parse import unquote

from radicale import httputils, types

from radicale_ext.base.errors import ExtError
from radicale_ext.base.model import Grant, Share
from radicale_ext.base.xml_names import cs, dav
from radicale_ext.notices.preferences import Preferences, hears_in
from radicale_ext.sharing import addresses, cs_xml
from radicale_ext.sharing.cs_xml import fill_allowed_sharing_modes, fill_invite, organizer
from radicale_ext.sharing.invitations import Person, Standing
from radicale_ext.site import Site

from .._http import read_body, segments, xml
from .._site import circles_now, site_for
from ..routes import propfind_step, route
from .notifications import notification_url

RESOURCETYPE, OWNER = dav("resourcetype"), dav("owner")
INVITE, MODES, SHARED_URL, ORGANIZER = cs("invite"), cs("allowed-sharing-modes"), cs("shared-url"), cs("organizer")
NOTIFICATION_URL, NOTIFY_CHANGES = cs("notification-URL"), cs("notify-changes")
OURS = frozenset({RESOURCETYPE, OWNER, INVITE, MODES, SHARED_URL, ORGANIZER, NOTIFICATION_URL, NOTIFY_CHANGES})
LEAVES = frozenset({"{urn:ietf:params:xml:ns:caldav}calendar", "{urn:ietf:params:xml:ns:carddav}addressbook"})


@propfind_step
def complete_sharing_properties(app, multistatus: ET.Element, user: str, base_prefix: str) -> None:
    responses = multistatus.findall(dav("response"))
    if not user or not responses:
        return
    asked = {p.tag for p in responses[0].iterfind(f"{dav('propstat')}/{dav('prop')}/*")} & OURS
    if asked:
        view = _View(site_for(app.configuration), user, base_prefix, asked)
        for response in responses:
            view.complete(response)


class _View:
    """What ``user`` sees of sharing, loaded once per answer and only when needed."""

    def __init__(self, site: Site, user: str, base_prefix: str, asked: set[str]) -> None:
        self.site, self.user, self.base_prefix, self.asked = site, user, base_prefix, asked

    @cached_property
    def mounts(self) -> dict[str, Grant]:
        return {g.mount: g for g in self.site.shares.grants_for(self.user, circles_now(self.site, self.user))}

    @cached_property
    def own_shares(self) -> dict[str, list[Share]]:
        found: dict[str, list[Share]] = {}
        for share in self.site.shares.shares_by(self.user):
            found.setdefault(share.collection, []).append(share)
        return found

    @cached_property
    def notice_choices(self) -> list[tuple[str, str, str]]:
        return Preferences(self.site.db).rows(self.user)

    def complete(self, response: ET.Element) -> None:
        href = unquote(response.findtext(dav("href")) or "")
        parts = segments(href[len(self.base_prefix):] if href.startswith(self.base_prefix) else href)
        if parts == [self.user]:
            if NOTIFICATION_URL in self.asked:
                ET.SubElement(_value(response, NOTIFICATION_URL), dav("href")).text = \
                    notification_url(self.user, self.base_prefix)
        elif len(parts) == 2 and parts[0] == self.user and not parts[1].startswith("."):
            grant = self.mounts.get(parts[1])
            if grant is not None:
                self._shared_with_me(response, grant)
            else:
                self._mine(response, f"/{parts[0]}/{parts[1]}/")

    def _notify_changes(self, response: ET.Element, collection: str) -> None:
        if NOTIFY_CHANGES in self.asked:
            heard = hears_in(self.notice_choices, collection)
            ET.SubElement(_value(response, NOTIFY_CHANGES), cs("true" if heard else "false"))

    def _shared_with_me(self, response: ET.Element, grant: Grant) -> None:
        self._notify_changes(response, grant.collection)
        if RESOURCETYPE in self.asked:
            ET.SubElement(_existing(response, RESOURCETYPE), cs("shared"))
        if INVITE in self.asked:
            fill_invite(_value(response, INVITE), grant.owner, [Person(self.user, grant.role, Standing.ACCEPTED, ())],
                        self.base_prefix)
        if SHARED_URL in self.asked:
            ET.SubElement(_value(response, SHARED_URL), dav("href")).text = \
                addresses.href(grant.collection, self.base_prefix)
        if OWNER in self.asked:
            ET.SubElement(_value(response, OWNER), dav("href")).text = addresses.href(f"/{grant.owner}/",
                                                                                      self.base_prefix)
        if ORGANIZER in self.asked:
            _replace(response, organizer(grant.owner, self.base_prefix))
        if MODES in self.asked:
            fill_allowed_sharing_modes(_value(response, MODES), can_be_shared=False)

    def _mine(self, response: ET.Element, collection: str) -> None:
        shares = self.own_shares.get(collection, [])
        if shares and RESOURCETYPE in self.asked:
            ET.SubElement(_existing(response, RESOURCETYPE), cs("shared-owner"))
        if shares and INVITE in self.asked:
            fill_invite(_value(response, INVITE), self.user, self.site.invitations.people_of_shares(shares),
                        self.base_prefix)
        if shares and ORGANIZER in self.asked:
            _replace(response, organizer(self.user, self.base_prefix))
        if {MODES, NOTIFY_CHANGES} & self.asked and self._is_leaf(response, collection):
            if MODES in self.asked:
                fill_allowed_sharing_modes(_value(response, MODES), can_be_shared=True)
            self._notify_changes(response, collection)

    def _is_leaf(self, response: ET.Element, collection: str) -> bool:
        resourcetype = response.find(f".//{RESOURCETYPE}")
        if resourcetype is not None:
            return any(child.tag in LEAVES for child in resourcetype)
        return self.site.collection_tag(collection) is not None


# -- moving a property from Radicale's 404 propstat to the 200 one ------------------------------


def _ok_prop(response: ET.Element) -> ET.Element:
    for propstat in response.findall(dav("propstat")):
        if " 200 " in (propstat.findtext(dav("status")) or ""):
            prop = propstat.find(dav("prop"))
            if prop is not None:
                return prop
    propstat = ET.Element(dav("propstat"))
    prop = ET.SubElement(propstat, dav("prop"))
    ET.SubElement(propstat, dav("status")).text = "HTTP/1.1 200 OK"
    response.insert(1, propstat)
    return prop


def _take(response: ET.Element, tag: str) -> None:
    """Take property ``tag`` out of whichever propstat Radicale put it in."""
    for propstat in response.findall(dav("propstat")):
        prop = propstat.find(dav("prop"))
        element = prop.find(tag) if prop is not None else None
        if prop is not None and element is not None:
            prop.remove(element)
            if len(prop) == 0:
                response.remove(propstat)
            return


def _value(response: ET.Element, tag: str) -> ET.Element:
    """An empty element for property ``tag``, answered with 200."""
    _take(response, tag)
    return ET.SubElement(_ok_prop(response), tag)


def _replace(response: ET.Element, element: ET.Element) -> None:
    _take(response, element.tag)
    _ok_prop(response).append(element)


def _existing(response: ET.Element, tag: str) -> ET.Element:
    """The element Radicale rendered for property ``tag`` (200), or a new one."""
    found = response.find(f"{dav('propstat')}/{dav('prop')}/{tag}")
    return found if found is not None else _value(response, tag)


# -- CS:notify-changes set by PROPPATCH (caldav-notifications 5.3.4) ---------------------------------------


class _BadValue(ExtError):
    status = 409


def _hearing(element: ET.Element, instruction: str) -> bool | None:
    """What one ``CS:notify-changes`` of a PROPPATCH asks: hear (True), not (False), the default (None)."""
    if instruction == dav("remove"):
        return None
    children = list(element)
    if len(children) != 1 or children[0].tag not in (cs("true"), cs("false")) or (element.text or "").strip():
        raise _BadValue("CS:notify-changes holds CS:true or CS:false (caldav-notifications section 5.3.4)")
    return children[0].tag == cs("true")


def _take_ours(root: ET.Element) -> tuple[list[ET.Element], list[str]]:
    """Take each CS:notify-changes out of a DAV:propertyupdate (in order, with its instruction as
    ``instruction`` attribute); returns them and the other properties left in it."""
    ours, others = [], []
    for instruction in list(root):
        prop = instruction.find(dav("prop"))
        if instruction.tag not in (dav("set"), dav("remove")) or prop is None:
            continue
        for element in list(prop):
            if element.tag == NOTIFY_CHANGES:
                prop.remove(element)
                element.set("instruction", instruction.tag)
                ours.append(element)
            else:
                others.append(element.tag)
        if len(prop) == 0:
            root.remove(instruction)
    return ours, others


def _collection_in_home(site: Site, user: str, name: str) -> str | None:
    """The calendar or address book ``/<user>/<name>/`` is: one of theirs, or a share mounted there."""
    grant = site.shares.grant_at_mount(user, circles_now(site, user), name)
    if grant is not None:
        return grant.collection
    own = f"/{user}/{name}/"
    return own if site.collection_tag(own) is not None else None


def _answer(href: str, statuses: list[tuple[str, list[str], str]]) -> ET.Element:
    """A PROPPATCH multistatus: (status line, properties, why) per propstat."""
    root = ET.Element(dav("multistatus"))
    response = ET.SubElement(root, dav("response"))
    ET.SubElement(response, dav("href")).text = href
    for status, tags, why in statuses:
        _propstat(response, status, tags, why)
    return root


def _propstat(response: ET.Element, status: str, tags: list[str], why: str = "") -> None:
    propstat = ET.SubElement(response, dav("propstat"))
    prop = ET.SubElement(propstat, dav("prop"))
    for tag in tags:
        ET.SubElement(prop, tag)
    ET.SubElement(propstat, dav("status")).text = status
    if why:
        ET.SubElement(propstat, dav("responsedescription")).text = why


@route("PROPPATCH")
def set_notify_changes(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
                       request_info: dict) -> types.WSGIResponse | None:
    """A person's CS:notify-changes on a calendar or address book in their home: their notice preference."""
    parts = segments(path)
    if not user or len(parts) != 2 or parts[0] != user or parts[1].startswith("."):
        return None
    try:
        body = read_body(app, environ)
    except RuntimeError:
        return httputils.BAD_REQUEST
    if b"notify-changes" not in body:
        return None
    try:
        root = cs_xml.request_root(body)
    except ExtError:
        return None  # Radicale refuses what is not XML
    site = site_for(app.configuration)
    collection = _collection_in_home(site, user, parts[1])
    if root.tag != dav("propertyupdate") or collection is None:
        return None  # not a calendar or address book in their home: Radicale answers as for any property
    ours, others = _take_ours(root)
    if not ours:
        return None
    href = addresses.href(path, base_prefix)
    try:
        hearing = [_hearing(element, element.get("instruction", "")) for element in ours]
    except _BadValue as e:
        return xml(207, _answer(href, [("HTTP/1.1 409 Conflict", [NOTIFY_CHANGES], str(e)),
                                       ("HTTP/1.1 424 Failed Dependency", others, "")] if others else
                                [("HTTP/1.1 409 Conflict", [NOTIFY_CHANGES], str(e))]))
    if not others:
        Preferences(site.db).set_hearing(user, collection, hearing[-1])
        return xml(207, _answer(href, [("HTTP/1.1 200 OK", [NOTIFY_CHANGES], "")]))
    return _with_radicales(app, environ, base_prefix, path, user, user_groups, request_info, root,
                           lambda: Preferences(site.db).set_hearing(user, collection, hearing[-1]))


def _with_radicales(app, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str, user_groups: set,
                    request_info: dict, rest: ET.Element, apply) -> types.WSGIResponse:
    """Radicale sets the other properties; ours is set only when all of those were (RFC 4918 section 9.2)."""
    stripped = ET.tostring(rest, encoding="utf-8", xml_declaration=True)
    environ["wsgi.input"] = io.BytesIO(stripped)
    environ["CONTENT_LENGTH"] = str(len(stripped))
    status, headers, answer, *more = app.do_PROPPATCH(environ, base_prefix, path, user, user_groups, request_info)
    if status != 207 or not answer:
        return (status, headers, answer, *more)
    multistatus = ET.fromstring(answer)
    response = multistatus.find(dav("response"))
    if response is None:
        return (status, headers, answer, *more)
    done = all(" 200 " in (s.text or "") for s in response.iterfind(f"{dav('propstat')}/{dav('status')}"))
    if done:
        apply()
    _propstat(response, "HTTP/1.1 200 OK" if done else "HTTP/1.1 424 Failed Dependency", [NOTIFY_CHANGES])
    return xml(207, multistatus)
