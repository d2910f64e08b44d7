"""Refusals say why, at once; only a wrong password waits (issue 13, item 6 and the README's first probe).

Alice shares "family" with carol as a subscriber.  Every write a
subscriber's client may send, through carol's mount and through alice's
own path, gets 403 with a ``DAV:error`` holding ``DAV:need-privileges``
(RFC 3744 section 7.1.1): the resource and the privilege carol lacks, plus
a sentence.  The server runs with ``[auth] delay = 2``: a refusal answers
well under it, a wrong password takes at least it, and a client's first
request without credentials gets its 401 at once.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import unquote, urlparse

import pytest
import requests

from ..samples import ICS, event
from ..server import Server, make_server

DELAY = 2.0
DAV = "{DAV:}"
REASON = "{urn:radicale-ext}reason"
MOUNT = "/carol/family~alice/"
OWNER_PATH = "/alice/family/"

PROPPATCH_NAME = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>Carol's now</D:displayname></D:prop></D:set>
</D:propertyupdate>"""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("refusals"), auth={"delay": str(DELAY)}).start()
    try:
        assert srv.request("MKCALENDAR", OWNER_PATH, "alice").status_code == 201
        assert srv.request("PUT", OWNER_PATH + "dinner.ics", "alice", event("dinner", "Dinner"),
                           headers=ICS).status_code == 201
        assert srv.request("MKCALENDAR", "/carol/own/", "carol").status_code == 201
        srv.ok("share", "add", "alice/family", "--user", "carol", "--role", "subscriber")
        yield srv
    finally:
        srv.stop()


def need_privileges(response: requests.Response, user: str = "carol") -> list[tuple[str, str]]:
    """The (path, privilege) pairs of a ``DAV:need-privileges`` answer; asserts its shape and sentence."""
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith(("text/xml", "application/xml")), response.headers
    root = ET.fromstring(response.content)
    assert root.tag == DAV + "error", response.text
    needed = root.find(DAV + "need-privileges")
    assert needed is not None, response.text
    pairs = []
    for resource in needed.findall(DAV + "resource"):
        href = resource.findtext(DAV + "href") or ""
        privilege = resource.find(DAV + "privilege")
        assert privilege is not None and len(privilege) == 1, response.text
        pairs.append((unquote(urlparse(href).path), privilege[0].tag.removeprefix(DAV)))
    assert pairs, response.text
    reason = root.findtext(REASON) or ""
    assert user in reason and len(reason.split()) >= 5, f"no sentence that says why: {response.text}"
    return pairs


def timed(call) -> tuple[requests.Response, float]:
    began = time.monotonic()
    response = call()
    return response, time.monotonic() - began


WRITES = {
    # name: (method, path below the collection, body, headers, the (path, privilege) pairs expected)
    "put-new": ("PUT", "party.ics", event("party", "Party"), ICS, [("party.ics", "write-content")]),
    "put-existing": ("PUT", "dinner.ics", event("dinner", "Dinner at 8"), ICS, [("dinner.ics", "write-content")]),
    "delete-item": ("DELETE", "dinner.ics", None, {}, [("", "unbind")]),
    "mkcol-inside": ("MKCOL", "sub/", None, {}, [("", "bind")]),
    "mkcalendar-inside": ("MKCALENDAR", "sub/", None, {}, [("", "bind")]),
}


@pytest.mark.parametrize("base", [MOUNT, OWNER_PATH], ids=["mount", "owner-path"])
@pytest.mark.parametrize("write", list(WRITES))
def test_a_subscribers_write_is_refused_with_the_privilege_it_needs(shared: Server, base: str, write: str) -> None:
    method, below, body, headers, expected = WRITES[write]
    response, took = timed(lambda: shared.request(method, base + below, "carol", body, headers=dict(headers)))
    assert need_privileges(response) == [(base + path, privilege) for path, privilege in expected]
    assert took < DELAY / 2, f"a refusal waited {took:.2f} s; only a failed login may wait"
    assert shared.request("GET", OWNER_PATH + "dinner.ics", "alice").text.count("Dinner\r\n") == 1


@pytest.mark.parametrize("base", [MOUNT, OWNER_PATH], ids=["mount", "owner-path"])
def test_a_subscribers_move_out_names_the_source_and_the_destination(shared: Server, base: str) -> None:
    response, took = timed(lambda: shared.request(
        "MOVE", base + "dinner.ics", "carol",
        headers={"Destination": shared.url + "/carol/own/dinner.ics", "Overwrite": "F"}))
    assert need_privileges(response) == [(base, "unbind"), ("/carol/own/", "bind")]
    assert took < DELAY / 2
    assert shared.request("GET", OWNER_PATH + "dinner.ics", "alice").status_code == 200


def test_a_subscribers_proppatch_of_the_owners_collection_is_refused(shared: Server) -> None:
    response, took = timed(lambda: shared.request("PROPPATCH", OWNER_PATH, "carol", PROPPATCH_NAME))
    assert need_privileges(response) == [(OWNER_PATH, "write-properties")]
    assert took < DELAY / 2


def test_an_outsiders_read_names_the_read_privilege(shared: Server) -> None:
    response, took = timed(lambda: shared.request("GET", OWNER_PATH + "dinner.ics", "grace"))
    assert need_privileges(response, "grace") == [(OWNER_PATH + "dinner.ics", "read")]
    assert took < DELAY / 2


def test_a_wrong_password_still_waits(shared: Server) -> None:
    response, took = timed(lambda: requests.request("PUT", shared.url + MOUNT + "x.ics", auth=("carol", "wrong"),
                                                    data=event("x").encode(), headers=ICS, timeout=30))
    assert response.status_code == 401
    assert took >= DELAY, f"a failed login answered after {took:.2f} s, less than [auth] delay"


def test_the_first_request_without_credentials_gets_its_401_at_once(shared: Server) -> None:
    """Clients probe without credentials first (DAVx5, Thunderbird): no failed login, no wait."""
    for method, path in (("PROPFIND", "/"), ("OPTIONS", "/alice/"), ("GET", OWNER_PATH + "dinner.ics")):
        response, took = timed(lambda m=method, p=path: requests.request(m, shared.url + p, timeout=30,
                                                                         headers={"Depth": "0"}))
        assert response.status_code == 401 or (method == "OPTIONS" and response.status_code == 200), response.text
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert took < DELAY / 2, f"{method} {path} without credentials waited {took:.2f} s"


PER_USER_INJECTION = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//CALENDARSERVER.ORG//NONSGML Version 1//EN\r\n"
                      "BEGIN:VEVENT\r\nUID:injection-家庭\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260110T100000Z\r\n"
                      "DURATION:PT1H\r\nSUMMARY:Müller's party\r\nEND:VEVENT\r\nBEGIN:X-CALENDARSERVER-PERUSER\r\n"
                      "UID:injection-家庭\r\nX-CALENDARSERVER-PERUSER-UID:carol\r\nBEGIN:X-CALENDARSERVER-PERINSTANCE\r\n"
                      "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\nEND:VALARM\r\n"
                      "END:X-CALENDARSERVER-PERINSTANCE\r\nEND:X-CALENDARSERVER-PERUSER\r\nEND:VCALENDAR\r\n")


@pytest.mark.parametrize("user, path", [("alice", OWNER_PATH + "injection.ics"), ("carol", "/carol/own/injection.ics")])
def test_calendarservers_per_person_storage_is_refused_as_invalid_calendar_data(shared: Server, user: str,
                                                                                path: str) -> None:
    """CalDAVTester's "Prevent per-user data injection" (sharing-peruser-data): 403 with
    CALDAV:valid-calendar-data (RFC 4791 section 5.3.2.1), as CalendarServer answers; nothing stored."""
    answer = shared.request("PUT", path, user, PER_USER_INJECTION, headers=ICS)
    assert answer.status_code == 403, (answer.status_code, answer.text)
    root = ET.fromstring(answer.content)
    assert root.find("{urn:ietf:params:xml:ns:caldav}valid-calendar-data") is not None, answer.text
    assert "X-CALENDARSERVER-PERUSER" in (root.findtext(REASON) or "")
    assert shared.request("GET", path, user).status_code == 404


def test_a_subscriber_sending_per_person_storage_still_learns_they_may_not_write(shared: Server) -> None:
    assert need_privileges(shared.request("PUT", MOUNT + "injection.ics", "carol", PER_USER_INJECTION, headers=ICS))
