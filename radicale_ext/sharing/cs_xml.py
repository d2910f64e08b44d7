"""The XML of Apple's CalendarServer sharing protocol (caldav-sharing-03, caldav-notifications).

Parsing of the two POST bodies (``CS:share`` by an owner, ``CS:invite-reply``
by a sharee) into typed requests, and the elements we render: the
``CS:invite`` property, ``CS:allowed-sharing-modes``, notification documents
(``CS:notification`` with ``CS:invite-notification`` or ``CS:invite-reply``),
their ``CS:notificationtype`` and the ``CS:shared-as`` answer.  Element
order follows the specification's DTDs.  No Radicale here: the plugins put
these elements into Radicale's answers.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from ..base.errors import ExtError
from ..base.model import Role
from ..base.xml_names import CS, cs, dav
from . import addresses
from .invitations import Person, Standing
from .notifications import Notice, NoticeKind

ET.register_namespace("CS", CS)


class MalformedBody(ExtError):
    """A request body that is not the XML the protocol defines (400)."""


# -- requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareeChange:
    """One ``CS:set`` (``role`` given) or ``CS:remove`` (``role`` None) of a ``CS:share`` request."""

    address: str
    role: Role | None
    common_name: str = ""
    summary: str = ""


@dataclass(frozen=True)
class InviteReply:
    """A sharee's ``CS:invite-reply``."""

    address: str        # the sharee (DAV:href)
    accepted: bool
    hosturl: str        # the shared collection, as the client names it
    in_reply_to: str    # the invitation's CS:uid
    summary: str = ""


def request_root(body: bytes) -> ET.Element:
    """The root element of a request body; raises :class:`MalformedBody`."""
    if not body.strip():
        raise MalformedBody("the request has no body; expected CS:share or CS:invite-reply XML")
    try:
        return DefusedET.fromstring(body)
    except (ET.ParseError, DefusedXmlException) as e:
        raise MalformedBody(f"the request body is not well-formed XML: {e}") from None


def _text(parent: ET.Element, tag: str) -> str:
    element = parent.find(tag)
    return (element.text or "").strip() if element is not None else ""


def _href(parent: ET.Element, what: str) -> str:
    hrefs = parent.findall(dav("href"))
    if len(hrefs) != 1 or not (hrefs[0].text or "").strip():
        raise MalformedBody(f"{what} needs exactly one non-empty DAV:href")
    return (hrefs[0].text or "").strip()


def parse_share(root: ET.Element) -> list[ShareeChange]:
    """A ``CS:share`` request (caldav-sharing 5.3.2): one or more ``CS:set`` / ``CS:remove``."""
    if root.tag != cs("share"):
        raise MalformedBody(f"expected CS:share, got {root.tag}")
    changes = []
    for child in root:
        if child.tag == cs("remove"):
            changes.append(ShareeChange(address=_href(child, "CS:remove"), role=None))
        elif child.tag == cs("set"):
            access = [c for c in child if c.tag in (cs("read"), cs("read-write"))]
            if len(access) != 1:
                raise MalformedBody("CS:set needs exactly one of CS:read and CS:read-write")
            role = Role.COLLABORATOR if access[0].tag == cs("read-write") else Role.SUBSCRIBER
            changes.append(ShareeChange(address=_href(child, "CS:set"), role=role,
                                        common_name=_text(child, cs("common-name")),
                                        summary=_text(child, cs("summary"))))
    if not changes:
        raise MalformedBody("CS:share needs at least one CS:set or CS:remove")
    return changes


def parse_invite_reply(root: ET.Element) -> InviteReply:
    """A ``CS:invite-reply`` request (caldav-sharing 5.4.1)."""
    if root.tag != cs("invite-reply"):
        raise MalformedBody(f"expected CS:invite-reply, got {root.tag}")
    answers = [c.tag for c in root if c.tag in (cs("invite-accepted"), cs("invite-declined"))]
    if len(answers) != 1:
        raise MalformedBody("CS:invite-reply needs exactly one of CS:invite-accepted and CS:invite-declined")
    hosturl = root.find(cs("hosturl"))
    if hosturl is None:
        raise MalformedBody("CS:invite-reply needs CS:hosturl")
    in_reply_to = _text(root, cs("in-reply-to"))
    if not in_reply_to:
        raise MalformedBody("CS:invite-reply needs CS:in-reply-to (the invitation's CS:uid)")
    return InviteReply(address=_href(root, "CS:invite-reply"), accepted=answers[0] == cs("invite-accepted"),
                       hosturl=_href(hosturl, "CS:hosturl"), in_reply_to=in_reply_to,
                       summary=_text(root, cs("summary")))


# -- properties ---------------------------------------------------------------------------

_STATUS = {Standing.AT_ONCE: "invite-accepted", Standing.ACCEPTED: "invite-accepted",
           Standing.SUBSCRIBED: "invite-accepted", Standing.PENDING: "invite-noresponse",
           Standing.DECLINED: "invite-declined", Standing.REMOVED: "invite-declined"}


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _access(parent: ET.Element, role: Role) -> None:
    _sub(_sub(parent, cs("access")), cs("read-write" if role is Role.COLLABORATOR else "read"))


def organizer(owner: str, base_prefix: str) -> ET.Element:
    """``CS:organizer``: the sharer's principal URL and name."""
    element = ET.Element(cs("organizer"))
    _sub(element, dav("href"), addresses.href(f"/{owner}/", base_prefix))
    _sub(element, cs("common-name"), owner)
    return element


def fill_invite(prop: ET.Element, owner: str, people: Iterable[Person], base_prefix: str) -> None:
    """``CS:invite``: the organizer and each sharee with their status and access (5.2.2)."""
    prop.append(organizer(owner, base_prefix))
    for person in people:
        status = _STATUS.get(person.standing)
        if status is None:
            continue  # out of scope: no access, nothing to show
        user = _sub(prop, cs("user"))
        _sub(user, dav("href"), addresses.address_of(person.user, base_prefix))
        _sub(user, cs("common-name"), person.user)
        _sub(user, cs(status))
        _access(user, person.role)
        if person.summary:
            _sub(user, cs("summary"), person.summary)


def fill_allowed_sharing_modes(prop: ET.Element, can_be_shared: bool) -> None:
    if can_be_shared:
        _sub(prop, cs("can-be-shared"))


# -- notifications ---------------------------------------------------------------------------


def _dtstamp(created_at: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created_at))


def fill_notificationtype(prop: ET.Element, notice: Notice) -> None:
    """``CS:notificationtype``: the notification's type element, empty, with its attributes."""
    element = _sub(prop, cs(notice.kind.value))
    shared_type = notice.data.get("shared_type")
    if shared_type:
        element.set("shared-type", str(shared_type))


def notification(notice: Notice) -> tuple[ET.Element, ET.Element]:
    """``CS:notification`` with ``CS:dtstamp`` and the notice's (empty) type element: (root, type element)."""
    root = ET.Element(cs("notification"))
    _sub(root, cs("dtstamp"), _dtstamp(notice.created_at))
    fill_notificationtype(root, notice)  # the type element, with its attributes; the caller fills it
    return root, root[-1]


def notification_document(notice: Notice, base_prefix: str) -> bytes:
    """The body of a notification resource of the sharing protocol (and of a shared card's change).

    A change notice (``CS:resource-change``, section 5.3) is written by the
    notices feature (:func:`radicale_ext.notices.change_xml.resource_change_document`).
    """
    root, body = notification(notice)
    data = notice.data
    if notice.kind is NoticeKind.CARD_CHANGED:  # the card in the person's "Shared contacts", and what changed
        _sub(body, dav("href"), addresses.href(f"/{notice.user}/.shared-contacts/{data['owner']}.vcf", base_prefix))
        _sub(body, cs("summary"), str(data["summary"]))
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)
    collection, owner = str(data["collection"]), str(data["owner"])
    if notice.kind is NoticeKind.INVITATION:
        _sub(body, cs("uid"), str(data["uid"]))
        _sub(body, dav("href"), addresses.address_of(str(data["sharee"]), base_prefix))
        _sub(body, cs(f"invite-{data['status']}"))
        _access(body, Role(data["role"]))
        _sub(_sub(body, cs("hosturl")), dav("href"), addresses.href(collection, base_prefix))
        body.append(organizer(owner, base_prefix))
    else:
        _sub(body, dav("href"), addresses.address_of(str(data["sharee"]), base_prefix))
        _sub(body, cs("invite-accepted" if data["state"] == "accepted" else "invite-declined"))
        _sub(_sub(body, cs("hosturl")), dav("href"), addresses.href(collection, base_prefix))
        _sub(body, cs("in-reply-to"), str(data["in_reply_to"]))
    if data.get("summary"):
        _sub(body, cs("summary"), str(data["summary"]))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def per_sharee(answers: list[tuple[str, str | None]]) -> ET.Element:
    """The answer to a ``CS:share`` request refused for some sharees (CalendarServer's): a multistatus
    with, per address as the client sent it, 403 and why for each refused one (``reason`` given), and 424
    Failed Dependency for the others, whose changes were not made either (RFC 4918 sections 13, 14.24)."""
    root = ET.Element(dav("multistatus"))
    for address, reason in dict(answers).items():
        response = _sub(root, dav("response"))
        _sub(response, dav("href"), address)
        _sub(response, dav("status"), "HTTP/1.1 424 Failed Dependency" if reason is None else "HTTP/1.1 403 Forbidden")
        if reason is not None:
            _sub(response, dav("responsedescription"), reason)
    return root


def shared_as(path: str, base_prefix: str) -> bytes:
    """The answer to an accepted invitation: where the collection now is in the sharee's home."""
    root = ET.Element(cs("shared-as"))
    _sub(root, dav("href"), addresses.href(path, base_prefix))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
