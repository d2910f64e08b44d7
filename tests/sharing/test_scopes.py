"""Subscription scopes over HTTP: in scope, out of scope, dropped from the scope.

alice opens a calendar to the circle "staff" (bob, carol) and to dave; people
in scope list it and subscribe themselves, through the CLI or the JSON
endpoint /<user>/.subscribable; grace, outside, is refused with the same
sentence whether the calendar exists or not.  Events naming participants who
may subscribe invite them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ..samples import ICS, event
from ..server import Server, make_server

USERS = ("alice", "bob", "carol", "dave", "grace", "ann@school.example", "ben@school.example", "zoe@school.example")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = make_server(tmp_path_factory.mktemp("scopes"), users=USERS).start()
    for user in USERS:
        server.request("PROPFIND", f"/{user}/", user, headers={"Depth": "0"})
    server.ok("circle", "create", "staff", "--manager", "alice")
    server.ok("circle", "add", "staff", "bob", "carol")
    yield server
    server.stop()


_count = iter(range(1000))


def school(srv: Server) -> str:
    """A fresh calendar of alice's, with one event, open to the circle staff and to dave."""
    name = f"school{next(_count)}"
    assert srv.request("MKCALENDAR", f"/alice/{name}/", "alice").status_code == 201
    assert srv.request("PUT", f"/alice/{name}/seed.ics", "alice", event("seed", attendees=""),
                       headers=ICS).status_code == 201
    srv.ok("scope", "add", f"alice/{name}", "--circle", "staff", acting_as="alice")
    srv.ok("scope", "add", f"alice/{name}", "--user", "dave", acting_as="alice")
    return name


def subscribable(srv: Server, user: str) -> dict[str, dict]:
    r = srv.request("GET", f"/{user}/.subscribable", user)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    over_http = {row["collection"]: row for row in r.json()}
    by_cli = {row["collection"]: row for row in json.loads(srv.ok("subscribable", "--json", acting_as=user))}
    assert over_http == by_cli
    return over_http


def subscribe(srv: Server, user: str, collection: str, action: str = "subscribe") -> object:
    return srv.request("POST", f"/{user}/.subscribable", user, json.dumps({action: collection}),
                       headers={"Content-Type": "application/json"})


def listed(srv: Server, user: str) -> set[str]:
    r = srv.request("PROPFIND", f"/{user}/", user, headers={"Depth": "1"})
    assert r.status_code == 207
    return {part.split("</href>")[0] for part in r.text.split("<href>")[1:]}


def can_read(srv: Server, user: str, name: str) -> bool:
    """Through the mount in their home (200) or not at all (404), and the same through alice's path."""
    mount = srv.request("GET", f"/{user}/{name}~alice/seed.ics", user).status_code
    owners = srv.request("GET", f"/alice/{name}/seed.ics", user).status_code
    assert (mount, owners) in ((200, 200), (404, 403)), (mount, owners)
    return mount == 200


def standing(srv: Server, name: str) -> dict[str, str]:
    rows = json.loads(srv.ok("invitation", "status", f"alice/{name}", "--json", acting_as="alice"))
    return {r["user"]: r["state"] for r in rows}


# -- in scope ------------------------------------------------------------------------------------------

def test_people_in_scope_subscribe_without_the_owner(srv: Server) -> None:
    name = school(srv)
    collection = f"/alice/{name}/"
    assert subscribable(srv, "bob")[collection] == {"collection": collection, "owner": "alice", "name": name,
                                                   "subscribed": False, "path": None}
    assert not can_read(srv, "bob", name), "listed, not yet subscribed"

    r = subscribe(srv, "bob", f"alice/{name}")
    assert r.status_code == 200, r.text
    assert r.json() == {"collection": collection, "path": f"/bob/{name}~alice/"}
    assert can_read(srv, "bob", name)
    assert f"/bob/{name}~alice/" in listed(srv, "bob")
    assert srv.request("PUT", f"/bob/{name}~alice/bobs.ics", "bob", event("bobs", attendees=""),
                       headers=ICS).status_code == 403, "a subscription is read-only"
    assert subscribable(srv, "bob")[collection]["path"] == f"/bob/{name}~alice/"

    assert srv.ok("subscribe", f"alice/{name}", acting_as="dave") == (
        f"dave subscribed to {collection}; it is in their home as /dave/{name}~alice/ (read-only)\n")
    assert can_read(srv, "dave", name)
    assert standing(srv, name) == {"bob": "subscribed", "dave": "subscribed"}
    r = subscribe(srv, "bob", f"alice/{name}")
    assert r.status_code == 409 and "already in bob's home" in r.json()["error"]


# -- out of scope -----------------------------------------------------------------------------------------

def test_people_out_of_scope_are_refused_and_learn_nothing(srv: Server) -> None:
    name = school(srv)
    assert subscribable(srv, "grace") == {}
    there = subscribe(srv, "grace", f"alice/{name}")
    missing = subscribe(srv, "grace", "alice/no-such-calendar")
    assert there.status_code == missing.status_code == 403
    reason = there.json()["error"]
    assert "'grace' may not subscribe to" in reason and "not open to them" in reason
    assert reason.replace(name, "X") == missing.json()["error"].replace("no-such-calendar", "X")
    err = srv.cli("subscribe", f"alice/{name}", acting_as="grace").err
    assert err.replace(name, "X") == srv.cli("subscribe", "alice/no-such-calendar",
                                             acting_as="grace").err.replace("no-such-calendar", "X")
    assert len(err.splitlines()) == 1 and "not open to them" in err
    for path, status in ((f"/alice/{name}/", 403), (f"/grace/{name}~alice/", 404)):
        assert srv.request("GET", path, "grace").status_code == status
        assert srv.request("GET", path.replace(name, "no-such-calendar"), "grace").status_code == status
    assert not can_read(srv, "grace", name)
    assert "grace" not in standing(srv, name)


# -- dropped from the scope ---------------------------------------------------------------------------------

def test_dropped_from_the_scope_loses_access_on_the_next_request(srv: Server) -> None:
    name = school(srv)
    for user in ("bob", "dave"):
        assert subscribe(srv, user, f"alice/{name}").status_code == 200
        assert can_read(srv, user, name)

    srv.ok("circle", "remove", "staff", "bob", acting_as="alice")
    assert not can_read(srv, "bob", name)
    assert f"/bob/{name}~alice/" not in listed(srv, "bob")
    assert f"/alice/{name}/" not in subscribable(srv, "bob")
    assert standing(srv, name)["bob"] == "out of scope"
    srv.ok("circle", "add", "staff", "bob", acting_as="alice")
    assert can_read(srv, "bob", name), "back in scope, the subscription counts again"

    srv.ok("scope", "remove", f"alice/{name}", "--user", "dave", acting_as="alice")
    assert not can_read(srv, "dave", name)
    r = subscribe(srv, "dave", f"alice/{name}")
    assert r.status_code == 403 and "not open to them" in r.json()["error"]
    assert json.loads(srv.ok("scope", "list", f"alice/{name}", "--json", acting_as="alice")) == [
        {"member": "circle:staff", "kind": "circle", "name": "staff"}]


def test_unsubscribing(srv: Server) -> None:
    name = school(srv)
    assert subscribe(srv, "bob", f"alice/{name}").status_code == 200
    assert srv.request("DELETE", f"/bob/{name}~alice/", "bob").status_code == 204
    assert not can_read(srv, "bob", name)
    assert srv.request("GET", f"/alice/{name}/seed.ics", "alice").status_code == 200
    assert subscribe(srv, "carol", f"alice/{name}").status_code == 200
    r = subscribe(srv, "carol", f"alice/{name}", "unsubscribe")
    assert r.status_code == 200 and not can_read(srv, "carol", name)
    r = subscribe(srv, "carol", f"alice/{name}", "unsubscribe")
    assert r.status_code == 404 and "no subscription" in r.json()["error"]


# -- the endpoint and the CLI refuse what they should ------------------------------------------------------

@pytest.mark.parametrize(("user", "path", "body", "status"), [
    ("bob", "/carol/.subscribable", None, 403),
    (None, "/bob/.subscribable", None, 401),
    ("bob", "/bob/.subscribable", "not json", 400),
    ("bob", "/bob/.subscribable", '{"follow": "alice/x"}', 400),
    ("bob", "/bob/.subscribable", '["alice/x"]', 400),
])
def test_the_endpoint_refuses_bad_requests(srv: Server, user: str | None, path: str, body: str | None,
                                           status: int) -> None:
    r = srv.request("POST" if body else "GET", path, user, body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text


def test_only_the_owner_sets_the_scope(srv: Server) -> None:
    name = school(srv)
    result = srv.cli("scope", "add", f"alice/{name}", "--user", "grace", acting_as="bob")
    assert result.code == 1 and "only 'alice' (the owner)" in result.err and len(result.err.splitlines()) == 1
    result = srv.cli("scope", "add", f"alice/{name}", "--user", "dave", acting_as="alice")
    assert result.code == 1 and "already in the subscription scope" in result.err
    assert f"/alice/{name}/" not in subscribable(srv, "grace")


# -- event participants ---------------------------------------------------------------------------------------

def test_participants_who_may_subscribe_are_invited(srv: Server) -> None:
    name = school(srv)
    srv.ok("scope", "add", f"alice/{name}", "--user", "ann@school.example", acting_as="alice")
    srv.ok("scope", "add", f"alice/{name}", "--user", "zoe@school.example", acting_as="alice")
    srv.ok("invite", f"alice/{name}", "--user", "zoe@school.example", "--role", "collaborator", acting_as="alice")
    attendees = ('ATTENDEE;CN="Ann: teacher";PARTSTAT=NEEDS-ACTION:mailto:ann@school.example\n'
                 "ATTENDEE;CN=Ben:mailto:ben@school\n .example\n"   # folded (RFC 5545 3.1); not in scope
                 "ATTENDEE:mailto:zoe@school.example\n"              # already invited
                 "ATTENDEE:mailto:stranger@elsewhere.example\n"      # no such user
                 "ORGANIZER:mailto:alice@school.example\n")
    r = srv.request("PUT", f"/alice/{name}/meeting.ics", "alice", event("meeting", attendees=attendees),
                    headers=ICS)
    assert r.status_code == 201

    assert standing(srv, name) == {"ann@school.example": "pending", "zoe@school.example": "pending"}
    invitations = json.loads(srv.ok("invitation", "list", "--json", acting_as="ann@school.example"))
    assert [(i["collection"], i["role"], i["state"]) for i in invitations] == [(f"/alice/{name}/", "subscriber",
                                                                               "pending")]
    assert json.loads(srv.ok("invitation", "list", "--json", acting_as="ben@school.example")) == []

    # a collaborator's event, through their mount, invites as well (to the owner's calendar)
    srv.ok("invitation", "accept", f"alice/{name}", acting_as="zoe@school.example")
    srv.ok("circle", "add", "staff", "ben@school.example", acting_as="alice")
    r = srv.request("PUT", f"/zoe@school.example/{name}~alice/second.ics", "zoe@school.example",
                    event("second", attendees="ATTENDEE:mailto:ben@school.example\n"), headers=ICS)
    assert r.status_code == 201
    assert standing(srv, name)["ben@school.example"] == "pending"
    srv.ok("circle", "remove", "staff", "ben@school.example", acting_as="alice")


def test_a_new_circle_of_the_same_name_is_not_in_the_old_ones_scopes(srv: Server) -> None:
    name = school(srv)
    srv.ok("circle", "create", "choir", "--manager", "alice")
    srv.ok("circle", "add", "choir", "grace")
    srv.ok("scope", "add", f"alice/{name}", "--circle", "choir", acting_as="alice")
    assert f"/alice/{name}/" in subscribable(srv, "grace")
    srv.ok("circle", "delete", "choir")
    srv.ok("circle", "create", "choir", "--manager", "alice")
    srv.ok("circle", "add", "choir", "grace")
    assert f"/alice/{name}/" not in subscribable(srv, "grace")
