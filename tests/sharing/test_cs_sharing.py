"""Apple's CalendarServer sharing protocol over HTTP, with the specification's own bodies.

The users are the specification's: cyrus shares /cyrus/shared/ with
mailto:eric@example.com and mailto:wilfredo@example.com (user names may be
e-mail addresses).  Every request is the XML a client sends (caldav-sharing-03
5.3.2 examples verbatim, 5.4.1 invite-reply), every answer is checked element
by element: the status, the DAV:error precondition, the properties.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote, unquote

import pytest

from ..samples import address_book_mkcol, event
from ..server import Server, make_server

CYRUS, ERIC, WILFREDO = "cyrus", "eric@example.com", "wilfredo@example.com"
USERS = (CYRUS, ERIC, WILFREDO, "bob", "dave", "grace")   # nothing of cyrus's is ever shared with grace
NS = {"D": "DAV:", "CS": "http://calendarserver.org/ns/", "C": "urn:ietf:params:xml:ns:caldav",
      "CR": "urn:ietf:params:xml:ns:carddav", "I": "http://apple.com/ns/ical/", "E": "urn:radicale-ext"}
XML = {"Content-Type": "application/xml; charset=\"utf-8\""}

# caldav-sharing-03, 5.3.2: "Example: Successful Sharee Add Request" (verbatim)
SHARE_ADD = """<?xml version="1.0" encoding="utf-8" ?>
<CS:share xmlns:D="DAV:"
              xmlns:CS="http://calendarserver.org/ns/">
  <CS:set>
    <D:href>mailto:eric@example.com</D:href>
    <CS:common-name>Eric York</CS:common-name>
    <CS:summary>Shared workspace</CS:summary>
    <CS:read-write />
  </CS:set>
</CS:share>"""

# caldav-sharing-03, 5.3.2: "Example: Successful Multiple Sharee Change Request" (verbatim)
SHARE_CHANGE = """<?xml version="1.0" encoding="utf-8" ?>
<CS:share xmlns:D="DAV:"
              xmlns:CS="http://calendarserver.org/ns/">
  <CS:set>
    <D:href>mailto:eric@example.com</D:href>
    <CS:summary>Shared workspace</CS:summary>
    <CS:read-write />
  </CS:set>
  <CS:remove>
    <D:href>mailto:wilfredo@example.com</D:href>
  </CS:remove>
</CS:share>"""

SHARE_ONE = """<?xml version="1.0" encoding="utf-8" ?>
<CS:share xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <CS:set><D:href>{href}</D:href><CS:summary>{summary}</CS:summary><CS:{access} /></CS:set>
</CS:share>"""

SHARE_REMOVE = """<?xml version="1.0" encoding="utf-8" ?>
<CS:share xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <CS:remove><D:href>{href}</D:href></CS:remove>
</CS:share>"""

# caldav-sharing-03, 5.4.1 and the CS:invite-reply DTD
INVITE_REPLY = """<?xml version="1.0" encoding="utf-8" ?>
<CS:invite-reply xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:href>{href}</D:href>
  <CS:invite-{answer} />
  <CS:hosturl><D:href>{hosturl}</D:href></CS:hosturl>
  <CS:in-reply-to>{uid}</CS:in-reply-to>
  <CS:summary>{summary}</CS:summary>
</CS:invite-reply>"""

PROPFIND_SHARING = """<?xml version="1.0" encoding="utf-8" ?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:prop>
    <D:resourcetype/><D:displayname/><D:owner/>
    <CS:invite/><CS:allowed-sharing-modes/><CS:shared-url/><CS:organizer/>
  </D:prop>
</D:propfind>"""

PROPFIND_PRINCIPAL = """<?xml version="1.0" encoding="utf-8" ?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:prop><D:resourcetype/><CS:notification-URL/></D:prop>
</D:propfind>"""

PROPFIND_NOTIFICATIONS = """<?xml version="1.0" encoding="utf-8" ?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
  <D:prop><D:resourcetype/><D:getetag/><CS:notificationtype/><CS:getctag/></D:prop>
</D:propfind>"""

ADDRESS_BOOK = address_book_mkcol()



@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("cs"), users=USERS).start()
    for user in USERS:
        server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"})
    yield server
    server.stop()


# -- helpers ---------------------------------------------------------------------------------------

def home(user: str) -> str:
    return f"/{quote(user)}/"


def mkcalendar(srv: Server, owner: str, name: str) -> str:
    assert srv.request("MKCALENDAR", f"/{owner}/{name}/", owner).status_code == 201
    return f"/{owner}/{name}/"


def post(srv: Server, path: str, user: str | None, body: str) -> object:
    return srv.request("POST", path, user, body, headers=XML)


def responses(text: str) -> dict[str, ET.Element]:
    return {unquote(r.findtext("D:href", namespaces=NS)): r for r in ET.fromstring(text).findall("D:response", NS)}


def propfind(srv: Server, path: str, user: str, body: str = PROPFIND_SHARING, depth: str = "0") -> dict:
    r = srv.request("PROPFIND", path, user, body, headers={"Depth": depth})
    assert r.status_code == 207, (r.status_code, r.text)
    return responses(r.text)


def prop(response: ET.Element, name: str) -> ET.Element | None:
    """The property, if answered with 200."""
    for propstat in response.findall("D:propstat", NS):
        if " 200 " in (propstat.findtext("D:status", namespaces=NS) or ""):
            found = propstat.find(f"D:prop/{name}", NS)
            if found is not None:
                return found
    return None


def resourcetype(response: ET.Element) -> set[str]:
    element = prop(response, "D:resourcetype")
    assert element is not None
    return {child.tag for child in element}


def invite_users(response: ET.Element) -> dict[str, tuple[str, str, str]]:
    """CS:invite as {href: (status, access, summary)}."""
    invite = prop(response, "CS:invite")
    assert invite is not None, ET.tostring(response)
    found = {}
    for user in invite.findall("CS:user", NS):
        status = next(c.tag.split("}")[1] for c in user if c.tag.split("}")[1].startswith("invite-"))
        access = user.find("CS:access", NS)[0].tag.split("}")[1]
        found[user.findtext("D:href", namespaces=NS)] = (status, access, user.findtext("CS:summary", "",
                                                                                      namespaces=NS))
    return found


def organizer_of(element: ET.Element) -> tuple[str, str]:
    org = element.find("CS:organizer", NS)
    assert org is not None
    return org.findtext("D:href", namespaces=NS), org.findtext("CS:common-name", namespaces=NS)


def notifications(srv: Server, user: str) -> dict[str, str]:
    """{resource name: notification type} of the user's notification collection."""
    listed = propfind(srv, f"{home(user)}.notifications/", user, PROPFIND_NOTIFICATIONS, depth="1")
    found = {}
    for href, response in listed.items():
        if href.endswith(".xml"):
            kind = prop(response, "CS:notificationtype")
            assert kind is not None and prop(response, "D:getetag") is not None
            found[href.rsplit("/", 1)[1]] = kind[0].tag.split("}")[1]
    return found


def notification(srv: Server, user: str, name: str) -> ET.Element:
    r = srv.request("GET", f"{home(user)}.notifications/{quote(name)}", user)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "{http://calendarserver.org/ns/}notification"
    assert root.findtext("CS:dtstamp", namespaces=NS)
    return root[1]


def invitation_to(srv: Server, user: str, collection: str) -> ET.Element:
    """The CS:invite-notification in ``user``'s collection about ``collection``."""
    for name, kind in notifications(srv, user).items():
        if kind == "invite-notification":
            body = notification(srv, user, name)
            if body.findtext("CS:hosturl/D:href", namespaces=NS) == quote(collection) \
                    and body.find("CS:invite-noresponse", NS) is not None:
                return body
    raise AssertionError(f"no invitation to {collection} for {user}")


def reply(srv: Server, user: str, collection: str, uid: str, answer: str = "accepted", *,
          as_href: str | None = None, to: str | None = None) -> object:
    body = INVITE_REPLY.format(href=as_href or f"mailto:{user}", answer=answer, hosturl=collection, uid=uid,
                               summary="thanks")
    return post(srv, to or home(user), user, body)


def error_precondition(r: object) -> str:
    root = ET.fromstring(r.content)
    assert root.tag == "{DAV:}error"
    assert root.findtext("E:reason", namespaces=NS)
    return root[0].tag


def status_of(srv: Server, collection: str) -> dict[str, str]:
    return {p["user"]: p["state"] for p in json.loads(srv.ok("invitation", "status", collection.strip("/"),
                                                              "--json"))}


# -- discovery ----------------------------------------------------------------------------------------

def test_the_dav_header_announces_calendarserver_sharing(srv: Server) -> None:
    mkcalendar(srv, CYRUS, "announce")
    for method, path in (("OPTIONS", "/"), ("OPTIONS", "/cyrus/"), ("OPTIONS", "/cyrus/announce/"),
                         ("PROPFIND", "/cyrus/")):
        r = srv.request(method, path, CYRUS, headers={"Depth": "0"})
        assert r.status_code in (200, 207)
        features = [f.strip() for f in r.headers["DAV"].split(",")]
        assert "calendarserver-sharing" in features and "calendar-access" in features
        # CalendarServer's "whilst we do not support scheduling in shared calendars": neither do we (RFC 6638
        # is not offered at all), which Apple's clients read from this token (docs/sharing.md)
        assert "calendarserver-sharing-no-scheduling" in features
        assert not {"calendar-schedule", "calendar-auto-schedule"} & set(features)


SCHEDULING = """<?xml version="1.0" encoding="utf-8" ?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><C:schedule-inbox-URL/><C:schedule-outbox-URL/><C:schedule-default-calendar-URL/></D:prop>
</D:propfind>"""


def test_no_scheduling_is_offered_to_sharees(srv: Server) -> None:
    """What calendarserver-sharing-no-scheduling promises: no scheduling inbox or outbox to send
    invitations through, for the owner or a sharee, on the principal or a shared calendar."""
    shared = mkcalendar(srv, CYRUS, "no-scheduling")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)
    assert reply(srv, ERIC, shared, uid).status_code == 200
    for user, path in ((CYRUS, home(CYRUS)), (ERIC, home(ERIC)), (ERIC, f"{home(ERIC)}no-scheduling~cyrus/")):
        for href, response in propfind(srv, path, user, SCHEDULING).items():
            for name in ("C:schedule-inbox-URL", "C:schedule-outbox-URL", "C:schedule-default-calendar-URL"):
                assert prop(response, name) is None, (user, href, name)


def test_the_principal_names_its_notification_collection(srv: Server) -> None:
    answer = propfind(srv, home(ERIC), ERIC, PROPFIND_PRINCIPAL)[home(ERIC).replace("%40", "@")]
    url = prop(answer, "CS:notification-URL")
    assert url is not None and url.findtext("D:href", namespaces=NS) == f"{home(ERIC)}.notifications/"
    listed = propfind(srv, f"{home(ERIC)}.notifications/", ERIC, PROPFIND_NOTIFICATIONS)
    collection = listed[f"/{ERIC}/.notifications/"]
    assert resourcetype(collection) == {"{DAV:}collection", "{http://calendarserver.org/ns/}notification"}
    assert prop(collection, "CS:getctag") is not None


def test_own_calendars_may_be_shared(srv: Server) -> None:
    mkcalendar(srv, CYRUS, "modes")
    answer = propfind(srv, "/cyrus/modes/", CYRUS)["/cyrus/modes/"]
    modes = prop(answer, "CS:allowed-sharing-modes")
    assert modes is not None and [c.tag for c in modes] == ["{http://calendarserver.org/ns/}can-be-shared"]
    assert "{http://calendarserver.org/ns/}shared-owner" not in resourcetype(answer)
    assert prop(answer, "CS:invite") is None, "an unshared calendar has no CS:invite"


# -- sharing, accepting, declining -------------------------------------------------------------------------

def test_the_specifications_share_request_invites_eric(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "shared")
    r = post(srv, shared, CYRUS, SHARE_ADD)
    assert r.status_code == 200, r.text

    answer = propfind(srv, shared, CYRUS)[shared]
    assert "{http://calendarserver.org/ns/}shared-owner" in resourcetype(answer)
    assert organizer_of(prop(answer, "CS:invite")) == ("/cyrus/", "cyrus")
    assert invite_users(answer) == {f"mailto:{ERIC}": ("invite-noresponse", "read-write", "Shared workspace")}
    # pending: nothing in eric's home yet, and no access
    assert f"/{ERIC}/shared~cyrus/" not in propfind(srv, home(ERIC), ERIC, depth="1")
    assert srv.request("GET", f"{home(ERIC)}shared~cyrus/", ERIC).status_code == 404

    invite = invitation_to(srv, ERIC, shared)
    assert invite.tag == "{http://calendarserver.org/ns/}invite-notification"
    assert [c.tag.split("}")[1] for c in invite] == ["uid", "href", "invite-noresponse", "access", "hosturl",
                                                     "organizer", "summary"]
    assert invite.findtext("D:href", namespaces=NS) == f"mailto:{ERIC}"
    assert invite.find("CS:access/CS:read-write", NS) is not None
    assert organizer_of(invite) == ("/cyrus/", "cyrus")
    assert invite.findtext("CS:summary", namespaces=NS) == "Shared workspace"
    assert notifications(srv, ERIC)[invite.findtext("CS:uid", namespaces=NS) + ".xml"] == "invite-notification"


def test_eric_accepts_and_finds_the_calendar_in_his_home(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "accepted")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    srv.request("PUT", f"{shared}first.ics", CYRUS, event("first"),
                headers={"Content-Type": "text/calendar"})
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)

    r = reply(srv, ERIC, shared, uid)
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag == "{http://calendarserver.org/ns/}shared-as"
    mount = f"{home(ERIC)}accepted~cyrus/"
    assert root.findtext("D:href", namespaces=NS) == mount

    listing = propfind(srv, home(ERIC), ERIC, depth="1")
    answer = listing[unquote(mount)]
    assert {"{urn:ietf:params:xml:ns:caldav}calendar",
            "{http://calendarserver.org/ns/}shared"} <= resourcetype(answer)
    assert prop(answer, "CS:shared-url").findtext("D:href", namespaces=NS) == shared
    assert prop(answer, "D:owner").findtext("D:href", namespaces=NS) == "/cyrus/"
    assert organizer_of(answer.find(".//CS:invite", NS)) == ("/cyrus/", "cyrus")
    assert prop(answer, "CS:organizer").findtext("CS:common-name", namespaces=NS) == "cyrus"
    assert invite_users(answer) == {f"mailto:{ERIC}": ("invite-accepted", "read-write", "")}
    assert list(prop(answer, "CS:allowed-sharing-modes")) == [], "a sharee may not share it on"
    assert prop(answer, "D:displayname").text == "accepted (cyrus)"
    assert srv.request("GET", f"{mount}first.ics", ERIC).status_code == 200
    assert srv.request("PUT", f"{mount}erics.ics", ERIC, event("erics"),
                       headers={"Content-Type": "text/calendar"}).status_code == 201

    # the owner sees the answer, and is told
    assert invite_users(propfind(srv, shared, CYRUS)[shared])[f"mailto:{ERIC}"][0] == "invite-accepted"
    replies = [notification(srv, CYRUS, n) for n, kind in notifications(srv, CYRUS).items() if kind == "invite-reply"]
    mine = [r for r in replies if r.findtext("CS:in-reply-to", namespaces=NS) == uid]
    assert len(mine) == 1
    assert [c.tag.split("}")[1] for c in mine[0]] == ["href", "invite-accepted", "hosturl", "in-reply-to", "summary"]
    assert mine[0].findtext("D:href", namespaces=NS) == f"mailto:{ERIC}"
    assert mine[0].findtext("CS:hosturl/D:href", namespaces=NS) == shared
    # and the answered invitation left eric's notification collection
    assert uid + ".xml" not in notifications(srv, ERIC)


def test_eric_declines(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "declined")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)
    r = reply(srv, ERIC, shared, uid, "declined")
    assert r.status_code == 200 and not r.content
    assert f"/{ERIC}/declined~cyrus/" not in propfind(srv, home(ERIC), ERIC, depth="1")
    assert invite_users(propfind(srv, shared, CYRUS)[shared])[f"mailto:{ERIC}"][0] == "invite-declined"
    assert status_of(srv, shared) == {ERIC: "declined"}
    declined = [notification(srv, CYRUS, n) for n, k in notifications(srv, CYRUS).items() if k == "invite-reply"]
    assert any(d.findtext("CS:in-reply-to", namespaces=NS) == uid and d.find("CS:invite-declined", NS) is not None
               for d in declined)


def test_the_specifications_change_request_removes_wilfredo_and_tells_him(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "changed")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    assert post(srv, shared, CYRUS, SHARE_ONE.format(href=f"mailto:{WILFREDO}", summary="w",
                                                     access="read")).status_code == 200
    assert set(invite_users(propfind(srv, shared, CYRUS)[shared])) == {f"mailto:{ERIC}", f"mailto:{WILFREDO}"}
    old_uid = invitation_to(srv, WILFREDO, shared).findtext("CS:uid", namespaces=NS)

    r = post(srv, shared, CYRUS, SHARE_CHANGE)
    assert r.status_code == 200, r.text
    assert invite_users(propfind(srv, shared, CYRUS)[shared]) == {
        f"mailto:{ERIC}": ("invite-noresponse", "read-write", "Shared workspace")}
    # wilfredo's invitation is gone, and a notice says so
    kinds = notifications(srv, WILFREDO)
    assert old_uid + ".xml" not in kinds
    withdrawn = [notification(srv, WILFREDO, n) for n, k in kinds.items() if k == "invite-notification"]
    assert any(w.find("CS:invite-deleted", NS) is not None
               and w.findtext("CS:hosturl/D:href", namespaces=NS) == shared for w in withdrawn)
    r = reply(srv, WILFREDO, shared, old_uid)
    assert r.status_code == 409, "a reply to an invitation that no longer exists"
    assert "no longer exists" in r.text


def test_changing_an_accepted_sharees_access_tells_them(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "downgraded")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)
    assert reply(srv, ERIC, shared, uid).status_code == 200
    before = set(notifications(srv, ERIC))

    assert post(srv, shared, CYRUS, SHARE_ONE.format(href=f"mailto:{ERIC}", summary="now read-only",
                                                     access="read")).status_code == 200

    assert invite_users(propfind(srv, shared, CYRUS)[shared])[f"mailto:{ERIC}"][:2] == ("invite-accepted", "read")
    new = [notification(srv, ERIC, n) for n in set(notifications(srv, ERIC)) - before]
    assert len(new) == 1 and new[0].find("CS:invite-accepted", NS) is not None
    assert new[0].find("CS:access/CS:read", NS) is not None
    assert srv.request("PUT", f"{home(ERIC)}downgraded~cyrus/late.ics", ERIC, event("late"),
                       headers={"Content-Type": "text/calendar"}).status_code == 403


def test_a_principal_url_names_a_sharee_too(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "by-url")
    r = post(srv, shared, CYRUS, SHARE_ONE.format(href=f"{srv.url}/bob/", summary="s", access="read"))
    assert r.status_code == 200, r.text
    assert invite_users(propfind(srv, shared, CYRUS)[shared]) == {"/bob/": ("invite-noresponse", "read", "s")}
    uid = invitation_to(srv, "bob", shared).findtext("CS:uid", namespaces=NS)
    assert reply(srv, "bob", shared, uid, as_href="/bob/").status_code == 200
    assert "/bob/by-url~cyrus/" in propfind(srv, "/bob/", "bob", depth="1")


def test_removing_an_accepted_calendar_from_ones_home_keeps_the_owners_data(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "left")
    srv.request("PUT", f"{shared}kept.ics", CYRUS, event("kept"), headers={"Content-Type": "text/calendar"})
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)
    assert reply(srv, ERIC, shared, uid).status_code == 200
    mount = f"{home(ERIC)}left~cyrus/"

    assert srv.request("DELETE", mount, ERIC).status_code == 204

    assert unquote(mount) not in propfind(srv, home(ERIC), ERIC, depth="1")
    assert srv.request("GET", f"{mount}kept.ics", ERIC).status_code == 404
    assert srv.request("GET", f"{shared}kept.ics", CYRUS).status_code == 200
    assert invite_users(propfind(srv, shared, CYRUS)[shared])[f"mailto:{ERIC}"][0] == "invite-declined"
    assert status_of(srv, shared) == {ERIC: "removed"}


# -- per-sharee name and colour -----------------------------------------------------------------------------

PROPPATCH = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:I="http://apple.com/ns/ical/"><D:set><D:prop>
<D:displayname>{name}</D:displayname><I:calendar-color>{color}</I:calendar-color>
</D:prop></D:set></D:propertyupdate>"""
NAME_AND_COLOUR = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:I="http://apple.com/ns/ical/"><D:prop>
<D:displayname/><I:calendar-color/></D:prop></D:propfind>"""


def test_a_sharee_moves_an_event_into_the_calendar_it_accepted(srv: Server) -> None:
    """What CalDAVTester's sharing-moves.xml sends: the Destination is the CS:shared-as href and the item's
    name joined with a slash, so it holds "//"; read as Radicale reads it (one slash), never a 500."""
    shared = mkcalendar(srv, CYRUS, "Umzug Müller")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)
    r = reply(srv, ERIC, shared, uid)
    mount = ET.fromstring(r.content).findtext("D:href", namespaces=NS)
    own = f"{home(ERIC)}eigen/"
    assert srv.request("MKCALENDAR", own, ERIC).status_code == 201
    assert srv.request("PUT", f"{own}1.ics", ERIC, event("umzug-1", "Kisten packen 📦"),
                       headers={"Content-Type": "text/calendar"}).status_code == 201
    moved = srv.request("MOVE", f"{own}1.ics", ERIC, headers={"Destination": f"{srv.url}{mount}/1.ics"})
    assert moved.status_code == 201, moved.text
    assert "Kisten packen" in srv.request("GET", f"{quote(shared)}1.ics", CYRUS).text
    assert srv.request("GET", f"{own}1.ics", ERIC).status_code == 404


def _name_and_colour(srv: Server, path: str, user: str) -> tuple[str | None, str | None]:
    answer = propfind(srv, path, user, NAME_AND_COLOUR)[unquote(path)]
    name, colour = prop(answer, "D:displayname"), prop(answer, "I:calendar-color")
    return (name.text if name is not None else None), (colour.text if colour is not None else None)


def test_each_sharee_names_and_colours_their_own_view(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "colours")
    assert srv.request("PROPPATCH", shared, CYRUS, PROPPATCH.format(name="Team", color="#112233FF")).status_code == 207
    for user, access in ((ERIC, "read-write"), ("bob", "read")):
        href = f"mailto:{user}" if "@" in user else "/bob/"
        assert post(srv, shared, CYRUS, SHARE_ONE.format(href=href, summary="", access=access)).status_code == 200
        uid = invitation_to(srv, user, shared).findtext("CS:uid", namespaces=NS)
        assert reply(srv, user, shared, uid, as_href=href).status_code == 200
    eric_mount, bob_mount = f"{home(ERIC)}colours~cyrus/", "/bob/colours~cyrus/"
    assert _name_and_colour(srv, eric_mount, ERIC) == ("Team (cyrus)", "#112233FF")

    for user, mount, name, colour in ((ERIC, eric_mount, "Cyrus at work", "#FF0000FF"),
                                      ("bob", bob_mount, "Read only, renamed", "#00FF00FF")):
        r = srv.request("PROPPATCH", mount, user, PROPPATCH.format(name=name, color=colour))
        assert r.status_code == 207, r.text
        assert all(" 200 " in s.text for s in ET.fromstring(r.content).iter("{DAV:}status"))

    assert _name_and_colour(srv, eric_mount, ERIC) == ("Cyrus at work", "#FF0000FF")
    assert _name_and_colour(srv, bob_mount, "bob") == ("Read only, renamed", "#00FF00FF")
    assert _name_and_colour(srv, shared, CYRUS) == ("Team", "#112233FF"), "the owner's stay as they were"
    listed = propfind(srv, "/bob/", "bob", NAME_AND_COLOUR, depth="1")
    assert prop(listed[bob_mount], "D:displayname").text == "Read only, renamed"


# -- address books ---------------------------------------------------------------------------------------

def test_address_books_are_shared_the_same_way(srv: Server) -> None:
    book = "/cyrus/contacts/"
    assert srv.request("MKCOL", book, CYRUS, ADDRESS_BOOK).status_code == 201
    assert list(prop(propfind(srv, book, CYRUS)[book], "CS:allowed-sharing-modes"))
    assert post(srv, book, CYRUS, SHARE_ADD).status_code == 200
    answer = propfind(srv, book, CYRUS)[book]
    assert "{http://calendarserver.org/ns/}shared-owner" in resourcetype(answer)
    assert invite_users(answer)[f"mailto:{ERIC}"][0] == "invite-noresponse"
    listed = propfind(srv, f"{home(ERIC)}.notifications/", ERIC, PROPFIND_NOTIFICATIONS, depth="1")
    types = {prop(r, "CS:notificationtype")[0].get("shared-type") for h, r in listed.items() if h.endswith(".xml")}
    assert "addressbook" in types
    uid = invitation_to(srv, ERIC, book).findtext("CS:uid", namespaces=NS)
    assert reply(srv, ERIC, book, uid).status_code == 200
    mount = propfind(srv, home(ERIC), ERIC, depth="1")[f"/{ERIC}/contacts~cyrus/"]
    assert {"{urn:ietf:params:xml:ns:carddav}addressbook",
            "{http://calendarserver.org/ns/}shared"} <= resourcetype(mount)


# -- the sharer's name, for whoever they share with ---------------------------------------------------------

def test_a_sharee_may_read_the_sharers_principal_name(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "whose")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)
    assert reply(srv, ERIC, shared, uid).status_code == 200
    asked = PROPFIND_PRINCIPAL.replace("<D:resourcetype/>", "<D:resourcetype/><D:displayname/><D:principal-URL/>")
    answer = propfind(srv, "/cyrus/", ERIC, asked)["/cyrus/"]
    assert prop(answer, "D:displayname").text == "cyrus"
    assert prop(answer, "D:principal-URL").findtext("D:href", namespaces=NS) == "/cyrus/"
    assert "{DAV:}principal" in resourcetype(answer)
    assert prop(answer, "CS:notification-URL") is None, "nobody learns where another's notifications are"
    # grace reads nothing of cyrus's (dave would, once another test of this module shared with him)
    assert srv.request("PROPFIND", "/cyrus/", "grace", PROPFIND_PRINCIPAL, headers={"Depth": "0"}).status_code == 403
    assert srv.request("PROPFIND", "/cyrus/", ERIC, PROPFIND_PRINCIPAL, headers={"Depth": "1"}).status_code == 403


# -- the notification collection ----------------------------------------------------------------------------

def test_deleting_notifications(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "dismissed")
    assert post(srv, shared, CYRUS, SHARE_ONE.format(href="/dave/", summary="", access="read")).status_code == 200
    uid = invitation_to(srv, "dave", shared).findtext("CS:uid", namespaces=NS)
    assert srv.request("DELETE", f"/dave/.notifications/{uid}.xml", "dave").status_code == 204
    assert uid + ".xml" not in notifications(srv, "dave")
    assert srv.request("GET", f"/dave/.notifications/{uid}.xml", "dave").status_code == 404
    assert srv.request("DELETE", f"/dave/.notifications/{uid}.xml", "dave").status_code == 404
    # the invitation itself is still pending, and may still be accepted
    assert status_of(srv, shared) == {"dave": "pending"}
    assert reply(srv, "dave", shared, uid, as_href="/dave/").status_code == 200

    stored = next(n for n, k in notifications(srv, CYRUS).items() if k == "invite-reply")
    assert srv.request("DELETE", f"/cyrus/.notifications/{stored}", CYRUS).status_code == 204
    assert stored not in notifications(srv, CYRUS)


@pytest.mark.parametrize(("method", "path", "user", "status"), [
    ("PUT", "/dave/.notifications/new.xml", "dave", 403),
    ("MKCOL", "/dave/.notifications/sub/", "dave", 403),
    ("PROPPATCH", "/dave/.notifications/", "dave", 403),
    ("DELETE", "/dave/.notifications/", "dave", 403),
    ("POST", "/dave/.notifications/", "dave", 403),
    ("GET", "/dave/.notifications/", "dave", 403),
    ("PROPFIND", "/dave/.notifications/", "bob", 403),
    ("GET", "/dave/.notifications/x.xml", "bob", 403),
    ("PROPFIND", "/dave/.notifications/", None, 401),
    ("GET", "/dave/.notifications/x.xml", "dave", 404),
])
def test_nobody_adds_to_a_notification_collection_and_only_its_owner_reads_it(
        srv: Server, method: str, path: str, user: str | None, status: int) -> None:
    body = "<x/>" if method in ("PUT", "PROPPATCH", "POST") else None
    r = srv.request(method, path, user, body, headers={"Depth": "0", "Content-Type": "text/xml"})
    assert r.status_code == status, r.text


def test_sync_collection_on_the_notification_collection(srv: Server) -> None:
    sync = ("<?xml version=\"1.0\"?><D:sync-collection xmlns:D=\"DAV:\"><D:sync-token>{}</D:sync-token>"
            "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>")
    first = srv.request("REPORT", "/bob/.notifications/", "bob", sync.format(""), headers={"Depth": "1"})
    assert first.status_code == 207
    token = ET.fromstring(first.content).findtext("D:sync-token", namespaces=NS)
    again = srv.request("REPORT", "/bob/.notifications/", "bob", sync.format(token), headers={"Depth": "1"})
    assert again.status_code == 207 and not responses(again.text)
    shared = mkcalendar(srv, CYRUS, "synced")
    assert post(srv, shared, CYRUS, SHARE_ONE.format(href="/bob/", summary="", access="read")).status_code == 200
    later = srv.request("REPORT", "/bob/.notifications/", "bob", sync.format(token), headers={"Depth": "1"})
    assert later.status_code == 207, "incremental: only what changed (tests/sharing/test_notification_sync.py)"
    [(href, response)] = responses(later.text).items()
    assert prop(response, "D:getetag") is not None
    assert invitation_to(srv, "bob", shared).findtext("CS:uid", namespaces=NS) in unquote(href)
    unknown = srv.request("REPORT", "/bob/.notifications/", "bob", sync.format(token + "99999"), headers={"Depth": "1"})
    assert unknown.status_code == 403 and error_precondition(unknown) == "{DAV:}valid-sync-token"


# -- errors ---------------------------------------------------------------------------------------------------

# CalDAVTester's Resource/CalDAV/sharing/invites/broken/1.xml, with our user for $cuaddr2:
BROKEN_INVITE = """<?xml version="1.0" encoding="utf-8" ?>
<CS:share xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">
    <CS:set>
        <D:href>/bob/</D:href>
        <CS:summary>My Shared Calendar</CS:summary>
        <CS:read-write/>
    </CS:set>
    <CS:set>
        <D:href>mailto:bogus@example.net</D:href>
        <CS:summary>Bogus Calendar</CS:summary>
        <CS:read-write/>
    </CS:set>
</CS:share>"""


def per_person(r: object) -> dict[str, tuple[str, str]]:
    """{href as sent: (status, description)} of a 207 answer to CS:share."""
    assert r.status_code == 207, (r.status_code, r.text)
    return {resp.findtext("D:href", namespaces=NS): (resp.findtext("D:status", namespaces=NS),
                                                     resp.findtext("D:responsedescription", "", namespaces=NS))
            for resp in ET.fromstring(r.content).findall("D:response", NS)}


def test_a_share_naming_someone_unknown_answers_per_person_and_changes_nothing(srv: Server) -> None:
    """CalendarServer's answer (twistedcaldav/sharing.py, CalDAVTester's sharing-invites.xml "Attempt broken
    invite"): 207, 403 for whoever is not a user, 424 Failed Dependency for the others; nobody is invited."""
    shared = mkcalendar(srv, CYRUS, "unknown")
    r = post(srv, shared, CYRUS, BROKEN_INVITE)
    answers = per_person(r)
    assert answers["/bob/"] == ("HTTP/1.1 424 Failed Dependency", "")
    status, why = answers["mailto:bogus@example.net"]
    assert status == "HTTP/1.1 403 Forbidden"
    assert why.startswith("'mailto:bogus@example.net' is not a user of this server")
    assert len(answers) == 2
    assert srv.ok("share", "list", "cyrus/unknown") == ""
    with pytest.raises(AssertionError):
        invitation_to(srv, "bob", shared)

    body = SHARE_CHANGE.replace("</CS:share>", "<CS:set><D:href>mailto:eric@elsewhere.example</D:href><CS:read/>"
                                               "</CS:set><CS:set><D:href>/cyrus/</D:href><CS:read/></CS:set>"
                                               "</CS:share>")
    answers = per_person(post(srv, shared, CYRUS, body))
    assert answers["mailto:eric@example.com"][0] == answers["mailto:wilfredo@example.com"][0] == \
        "HTTP/1.1 424 Failed Dependency"
    assert answers["mailto:eric@elsewhere.example"][0] == "HTTP/1.1 403 Forbidden", \
        "a mailto: address is never guessed from its local part"
    assert answers["/cyrus/"] == ("HTTP/1.1 403 Forbidden",
                                  "'cyrus' owns this collection; it cannot be shared with its owner")
    assert srv.ok("share", "list", "cyrus/unknown") == ""


def test_removing_someone_who_is_not_a_user_is_done_at_once(srv: Server) -> None:
    """CalendarServer treats a CS:remove of an unknown address as done, so that a client can clear out a sharee
    whose account is gone; the rest of the request is applied."""
    shared = mkcalendar(srv, CYRUS, "cleared-out")
    body = SHARE_ADD.replace("</CS:share>", "<CS:remove><D:href>mailto:left@example.com</D:href></CS:remove>"
                                            "</CS:share>")
    r = post(srv, shared, CYRUS, body)
    assert r.status_code == 200, r.text
    assert invitation_to(srv, ERIC, shared) is not None


def test_only_the_owner_may_share(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "owners")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)
    assert reply(srv, ERIC, shared, uid).status_code == 200
    someone = SHARE_ONE.format(href="/dave/", summary="", access="read")
    for user, path in ((ERIC, shared), (ERIC, f"{home(ERIC)}owners~cyrus/"), ("bob", shared),
                       ("bob", "/cyrus/no-such-calendar/")):
        r = post(srv, path, user, someone)
        assert r.status_code == 403, (user, path, r.text)
        assert error_precondition(r) == "{DAV:}need-privileges"
    assert set(invite_users(propfind(srv, shared, CYRUS)[shared])) == {f"mailto:{ERIC}"}
    assert post(srv, "/cyrus/no-such-calendar/", CYRUS, someone).status_code == 404
    assert post(srv, shared, None, someone).status_code == 401


@pytest.mark.parametrize("body", [
    "this is not XML",
    "<CS:share xmlns:CS='http://calendarserver.org/ns/'><CS:set>",
    "<CS:share xmlns:CS='http://calendarserver.org/ns/'/>",
    "<CS:share xmlns:D='DAV:' xmlns:CS='http://calendarserver.org/ns/'><CS:set><D:href>/bob/</D:href></CS:set>"
    "</CS:share>",
    "<CS:share xmlns:D='DAV:' xmlns:CS='http://calendarserver.org/ns/'><CS:set><CS:read/></CS:set></CS:share>",
    "<CS:share xmlns:D='DAV:' xmlns:CS='http://calendarserver.org/ns/'><CS:remove/></CS:share>",
    "<D:propfind xmlns:D='DAV:'/>",
    "<!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]><x>&b;</x>",
])
def test_a_malformed_share_request_is_refused(srv: Server, body: str) -> None:
    shared = mkcalendar(srv, CYRUS, f"bad{abs(hash(body)) % 10**8}")
    r = srv.request("POST", shared, CYRUS, body, headers={"Content-Type": "text/xml"})
    assert r.status_code == 400, r.text
    assert r.text.startswith("Bad Request: ")
    assert srv.ok("share", "list", shared.strip("/")) == ""


@pytest.mark.parametrize("body", [
    "<CS:invite-reply xmlns:D='DAV:' xmlns:CS='http://calendarserver.org/ns/'><D:href>/bob/</D:href>"
    "<CS:hosturl><D:href>/cyrus/x/</D:href></CS:hosturl><CS:in-reply-to>x</CS:in-reply-to></CS:invite-reply>",
    "<CS:invite-reply xmlns:D='DAV:' xmlns:CS='http://calendarserver.org/ns/'><D:href>/bob/</D:href>"
    "<CS:invite-accepted/><CS:in-reply-to>x</CS:in-reply-to></CS:invite-reply>",
    "<CS:invite-reply xmlns:D='DAV:' xmlns:CS='http://calendarserver.org/ns/'><D:href>/bob/</D:href>"
    "<CS:invite-accepted/><CS:hosturl><D:href>/cyrus/x/</D:href></CS:hosturl></CS:invite-reply>",
])
def test_a_malformed_reply_is_refused(srv: Server, body: str) -> None:
    r = srv.request("POST", "/bob/", "bob", body, headers={"Content-Type": "text/xml"})
    assert r.status_code == 400, r.text


def test_a_reply_by_the_wrong_user_is_refused(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "wrong")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)
    # bob answers eric's invitation, as himself ...
    r = reply(srv, "bob", shared, uid, as_href="/bob/")
    assert r.status_code == 403 and error_precondition(r) == "{DAV:}need-privileges"
    assert "was sent to someone else" in r.text
    # ... naming eric ...
    r = reply(srv, "bob", shared, uid, as_href=f"mailto:{ERIC}")
    assert r.status_code == 403 and "may answer only their own invitations" in r.text
    # ... or on eric's home
    assert reply(srv, "bob", shared, uid, as_href=f"mailto:{ERIC}", to=home(ERIC)).status_code == 403
    assert status_of(srv, shared) == {ERIC: "pending"}
    assert "/bob/wrong~cyrus/" not in propfind(srv, "/bob/", "bob", depth="1")


def test_a_reply_to_an_invitation_that_no_longer_exists(srv: Server) -> None:
    shared = mkcalendar(srv, CYRUS, "gone")
    assert post(srv, shared, CYRUS, SHARE_ADD).status_code == 200
    uid = invitation_to(srv, ERIC, shared).findtext("CS:uid", namespaces=NS)
    assert post(srv, shared, CYRUS, SHARE_REMOVE.format(href=f"mailto:{ERIC}")).status_code == 200
    r = reply(srv, ERIC, shared, uid)
    assert r.status_code == 409 and "no longer exists" in r.text
    r = reply(srv, ERIC, shared, "0000000000000000.eric@example.com")
    assert r.status_code == 409
    assert f"/{ERIC}/gone~cyrus/" not in propfind(srv, home(ERIC), ERIC, depth="1")
