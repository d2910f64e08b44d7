"""Each person's own properties of a shared calendar (caldav-sharing, "Per-user WebDAV Properties"):
name, colour, order and ``CALDAV:schedule-calendar-transp`` default to the owner's until the person sets their
own; accepting an invitation (or subscribing) makes the calendar transparent for the person (the draft's
SHOULD: a calendar just taken in does not make them busy)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest

from ..server import Server, make_server

CALENDAR = "家庭"
C = "urn:ietf:params:xml:ns:caldav"
NS = {"D": "DAV:", "C": C, "I": "http://apple.com/ns/ical/"}
XML = {"Content-Type": "application/xml; charset=utf-8"}


def where(user: str) -> str:
    return f"/{user}/{quote(CALENDAR if user == 'alice' else CALENDAR + '~alice')}/"


def proppatch(server: Server, user: str, *, transp: str | None = None, name: str | None = None,
              colour: str | None = None, order: str | None = None):
    props = ""
    if transp is not None:
        props += f"<C:schedule-calendar-transp><C:{transp}/></C:schedule-calendar-transp>"
    if name is not None:
        props += f"<D:displayname>{name}</D:displayname>"
    if colour is not None:
        props += f"<I:calendar-color>{colour}</I:calendar-color>"
    if order is not None:
        props += f"<I:calendar-order>{order}</I:calendar-order>"
    body = (f'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="{C}" '
            f'xmlns:I="http://apple.com/ns/ical/"><D:set><D:prop>{props}</D:prop></D:set></D:propertyupdate>')
    answer = server.request("PROPPATCH", where(user), user, body, headers=XML)
    assert answer.status_code == 207, answer.text
    statuses = {p.tag: propstat.findtext("D:status", namespaces=NS)
                for propstat in ET.fromstring(answer.content).iter("{DAV:}propstat")
                for p in propstat.find("D:prop", NS)}
    assert all(" 200 " in s for s in statuses.values()), statuses
    return answer


def seen(server: Server, user: str, *, order: bool = False) -> dict[str, str]:
    """The person's transparency, name and colour (and order, when asked) as PROPFIND answers them."""
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
            f'xmlns:C="{C}" xmlns:I="http://apple.com/ns/ical/"><D:prop><C:schedule-calendar-transp/>'
            "<D:displayname/><I:calendar-color/><I:calendar-order/></D:prop></D:propfind>")
    answer = server.request("PROPFIND", where(user), user, body, headers={**XML, "Depth": "0"})
    assert answer.status_code == 207, answer.text
    found: dict[str, str] = {}
    for propstat in ET.fromstring(answer.content).iter("{DAV:}propstat"):
        if " 200 " not in (propstat.findtext("D:status", namespaces=NS) or ""):
            continue
        prop = propstat.find("D:prop", NS)
        transp = prop.find("C:schedule-calendar-transp", NS)
        if transp is not None:
            assert len(transp) == 1 and not (transp.text or "").strip(), ET.tostring(transp)
            found["transp"] = transp[0].tag.split("}")[-1]
        for key, tag in (("name", "D:displayname"), ("colour", "I:calendar-color"), ("order", "I:calendar-order")):
            if prop.find(tag, NS) is not None and (order or key != "order"):
                found[key] = prop.findtext(tag, namespaces=NS) or ""
    return found


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory, sharing_database: str):
    server = make_server(tmp_path_factory.mktemp("personal-properties")).start()
    assert server.request("MKCALENDAR", where("alice"), "alice").status_code == 201
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "bob", "--role", "collaborator")
    yield server
    server.stop()


def test_transparency_is_the_owners_until_a_person_sets_their_own(family: Server) -> None:
    assert seen(family, "alice")["transp"] == "opaque", "RFC 6638 9.1: opaque unless set"
    assert seen(family, "bob")["transp"] == "opaque"
    proppatch(family, "alice", transp="transparent", colour="#3a86ffff")
    assert seen(family, "alice")["transp"] == "transparent"
    assert seen(family, "bob")["transp"] == "transparent", "bob has none of his own: alice's"
    proppatch(family, "bob", transp="opaque", name="Familie Müller 🎉")
    assert seen(family, "bob") == {"transp": "opaque", "name": "Familie Müller 🎉", "colour": "#3a86ffff"}
    assert seen(family, "alice")["transp"] == "transparent", "bob's is his"
    proppatch(family, "bob", colour="#ff006eff")          # a later change of another property keeps it
    assert seen(family, "bob") == {"transp": "opaque", "name": "Familie Müller 🎉", "colour": "#ff006eff"}
    assert seen(family, "alice")["colour"] == "#3a86ffff"


def test_accepting_an_invitation_or_subscribing_makes_the_calendar_transparent_for_them(family: Server) -> None:
    proppatch(family, "alice", transp="opaque")
    family.ok("invite", f"alice/{CALENDAR}", "--user", "carol", "--role", "subscriber", acting_as="alice")
    family.ok("invitation", "accept", f"alice/{CALENDAR}", acting_as="carol")
    assert seen(family, "carol")["transp"] == "transparent"
    proppatch(family, "carol", transp="opaque")
    family.ok("invitation", "remove", f"alice/{CALENDAR}", acting_as="carol")
    family.ok("invitation", "accept", f"alice/{CALENDAR}", acting_as="carol")
    assert seen(family, "carol")["transp"] == "opaque", "taken in again: her own choice stays"
    family.ok("scope", "add", f"alice/{CALENDAR}", "--user", "dave", acting_as="alice")
    family.ok("subscribe", f"alice/{CALENDAR}", acting_as="dave")
    assert seen(family, "dave")["transp"] == "transparent"
    assert seen(family, "alice")["transp"] == "opaque" and seen(family, "bob")["transp"] == "opaque"


def test_a_value_rfc_6638_does_not_name_is_refused_and_nothing_changes(family: Server) -> None:
    before = seen(family, "bob")
    body = (f'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="{C}"><D:set><D:prop>'
            "<C:schedule-calendar-transp><C:busy/></C:schedule-calendar-transp></D:prop></D:set></D:propertyupdate>")
    for user in ("alice", "bob"):
        answer = family.request("PROPPATCH", where(user), user, body, headers=XML)
        assert answer.status_code == 400 and "CALDAV:opaque or CALDAV:transparent" in answer.text, answer.text
    assert seen(family, "bob") == before


def test_name_colour_and_order_are_the_owners_until_a_person_sets_their_own(family: Server) -> None:
    proppatch(family, "alice", name="家庭 Müller", colour="#8338ecff", order="3")
    family.ok("share", "add", f"alice/{CALENDAR}", "--user", "erin", "--role", "subscriber")
    erin = seen(family, "erin", order=True)
    assert (erin["colour"], erin["order"]) == ("#8338ecff", "3"), erin
    assert erin["name"] == "家庭 Müller (alice)", erin
    proppatch(family, "alice", name="Familie", colour="#ffbe0bff", order="4")
    followed = seen(family, "erin", order=True)
    assert (followed["name"], followed["colour"], followed["order"]) == ("Familie (alice)", "#ffbe0bff", "4"), \
        "she follows alice's until she sets her own"
    proppatch(family, "erin", name="Oma's Kalender 🎉", colour="#06d6a0ff", order="1")
    own = seen(family, "erin", order=True)
    assert (own["name"], own["colour"], own["order"]) == ("Oma's Kalender 🎉", "#06d6a0ff", "1")
    alice = seen(family, "alice", order=True)
    assert (alice["name"], alice["colour"], alice["order"]) == ("Familie", "#ffbe0bff", "4"), "hers stay"
    proppatch(family, "alice", order="7")
    assert seen(family, "erin", order=True)["order"] == "1", "erin's own order stays hers"
