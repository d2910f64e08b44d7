"""CalendarServer's sharing properties, added to Radicale's PROPFIND answers.

Radicale renders the properties it knows and answers 404 for the others.
This PROPFIND step (:func:`..routes.propfind_step`) completes the answer for
the user who asked (caldav-sharing-03 sections 4, 5.2):

==========================================  ==============================================================
principal ``/bob/``                         ``CS:notification-URL``
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
whose ``CS:invite`` is asked for.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cached_property
from urllib.parse import unquote

from radicale_ext.base.model import Grant, Share
from radicale_ext.base.xml_names import cs, dav
from radicale_ext.sharing import addresses
from radicale_ext.sharing.cs_xml import fill_allowed_sharing_modes, fill_invite, organizer
from radicale_ext.sharing.invitations import Person, Standing
from radicale_ext.site import Site

from .._http import segments
from .._site import site_for
from ..routes import propfind_step
from .notifications import notification_url

RESOURCETYPE, OWNER = dav("resourcetype"), dav("owner")
INVITE, MODES, SHARED_URL, ORGANIZER = cs("invite"), cs("allowed-sharing-modes"), cs("shared-url"), cs("organizer")
NOTIFICATION_URL = cs("notification-URL")
OURS = frozenset({RESOURCETYPE, OWNER, INVITE, MODES, SHARED_URL, ORGANIZER, NOTIFICATION_URL})
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
        return {g.mount: g for g in self.site.shares.grants_for(self.user, self.site.circles.circles_of(self.user))}

    @cached_property
    def own_shares(self) -> dict[str, list[Share]]:
        found: dict[str, list[Share]] = {}
        for share in self.site.shares.shares_by(self.user):
            found.setdefault(share.collection, []).append(share)
        return found

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

    def _shared_with_me(self, response: ET.Element, grant: Grant) -> None:
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
        if MODES in self.asked and self._is_leaf(response, collection):
            fill_allowed_sharing_modes(_value(response, MODES), can_be_shared=True)

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
