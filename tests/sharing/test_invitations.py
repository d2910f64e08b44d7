"""Invitations: every transition of the state machine, and the access that results.

The access after each transition is checked with the foundation's access
matrix (tests/test_access_matrix.py): the same requests, and the answers of
its columns.  A person who accepted as a collaborator must get, through their
mount and through the owner's path, exactly the matrix's collaborator
answers; one who has not accepted (pending, declined, removed, withdrawn,
left the circle) exactly the answers of someone the collection was never
shared with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import caldav
import pytest

from ..server import make_server, password
from .test_access_matrix import (
    CALENDAR,
    COLUMN,
    EXPECTED,
    OWNER,
    REQUESTS,
    SEED,
    USERS,
    Target,
    Viewer,
    World,
    check,
    fresh,
)

# the matrix's rows that say what a person may do with one collection (the rows that
# make fresh collections shared the matrix's way, delete-collection and put-collection, are not ours)
ROWS = ("listed-in-home", "privileges-in-home", "propfind-collection-0", "privileges", "report-sync", "get-item",
        "put-new", "delete-item", "proppatch", "move-out")
# the matrix columns whose answers a person must get: (through their mount, through the owner's path)
ACCESS = {"collaborator": ("collab", "collab@owner-path"), "subscriber": ("sub", "sub@owner-path"),
          "none": ("no-share@own-home", "no-share@owner-path")}


class InvitationWorld(World):
    """Every user has their own calendar (for MOVE); alice's calendars are made per test."""

    def setup(self) -> InvitationWorld:
        for user in USERS:
            assert CALENDAR.create(self.server, user, f"/{user}/{CALENDAR.own}/").status_code == 201
        self.server.ok("circle", "create", "club", "--manager", OWNER)
        self.server.ok("circle", "add", "club", "erin")
        self.server.groups_file.write_text("staff: frank\n")
        return self

    def calendar(self) -> str:
        name = fresh("cal")
        assert CALENDAR.create(self.server, OWNER, f"/{OWNER}/{name}/").status_code == 201
        self.owner_put(CALENDAR, name, SEED, "the seed")
        return name


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[InvitationWorld]:
    server = make_server(tmp_path_factory.mktemp("invitations")).start()
    yield InvitationWorld(server).setup()
    server.stop()


def assert_access(world: World, name: str, user: str, access: str) -> None:
    """``user`` gets, for alice's calendar ``name``, the matrix's answers of ``access``."""
    mount_column, owner_column = ACCESS[access]
    for viewer, column in ((Viewer(f"{user}@mount", user, user), mount_column),
                           (Viewer(f"{user}@owner-path", user, None), owner_column)):
        for row in ROWS:
            outcome = REQUESTS[row](world, Target(CALENDAR, name), viewer)
            check(outcome, EXPECTED[row][COLUMN[column]], f"{row} by {user} ({access}) through {viewer.id}")


def status(world: World, name: str) -> dict[str, str]:
    rows = json.loads(world.server.ok("invitation", "status", f"{OWNER}/{name}", "--json", acting_as=OWNER))
    return {r["user"]: r["state"] for r in rows}


def invitations_of(world: World, user: str) -> dict[str, str]:
    rows = json.loads(world.server.ok("invitation", "list", "--json", acting_as=user))
    return {r["collection"]: r["state"] for r in rows}


def notification_names(world: World, user: str) -> set[str]:
    r = world.server.request("PROPFIND", f"/{user}/.notifications/", user, headers={"Depth": "1"})
    assert r.status_code == 207
    return {href.rsplit("/", 1)[1] for href in re.findall(r"<href>([^<]+\.xml)</href>", r.text)}


def one_line_error(world: World, *args: str, acting_as: str | None = None) -> str:
    result = world.server.cli(*args, acting_as=acting_as)
    assert result.code == 1 and "Traceback" not in result.err, result
    assert len(result.err.splitlines()) == 1, result.err
    return result.err


# -- a direct invitation ----------------------------------------------------------------------------------

def test_pending_accepted_removed_accepted_again(world: InvitationWorld) -> None:
    name = world.calendar()
    srv = world.server
    out = srv.ok("share", "add", f"{OWNER}/{name}", "--user", "dave", "--role", "collaborator",
                 "--summary", "our trips", acting_as=OWNER)
    assert "by invitation" in out and f"it appears as /dave/{name}~{OWNER}/ in dave's home once they accept" in out

    assert status(world, name) == {"dave": "pending"}
    assert invitations_of(world, "dave") == {f"/{OWNER}/{name}/": "pending"}
    assert any(n.startswith(tuple("0123456789abcdef")) and n.endswith(".dave.xml")
               for n in notification_names(world, "dave"))
    assert_access(world, name, "dave", "none")

    assert srv.ok("invitation", "accept", f"{OWNER}/{name}", acting_as="dave") == (
        f"/{OWNER}/{name}/ accepted; it is in dave's home as /dave/{name}~{OWNER}/ (collaborator)\n")
    assert status(world, name) == {"dave": "accepted"}
    assert not any(n.endswith(".dave.xml") for n in notification_names(world, "dave"))
    assert_access(world, name, "dave", "collaborator")

    srv.ok("invitation", "remove", f"{OWNER}/{name}", acting_as="dave")
    assert status(world, name) == {"dave": "removed"}
    assert_access(world, name, "dave", "none")
    assert world.disk(f"/{OWNER}/{name}/{SEED}{CALENDAR.ext}").exists(), "the owner's data stays"

    srv.ok("invitation", "accept", f"{OWNER}/{name}", acting_as="dave")
    assert_access(world, name, "dave", "collaborator")

    # removing it from one's home through DAV (what a client's "delete" does) is the same transition
    assert srv.request("DELETE", f"/dave/{name}~{OWNER}/", "dave").status_code == 204
    assert status(world, name) == {"dave": "removed"}
    assert_access(world, name, "dave", "none")


def test_declined_then_accepted(world: InvitationWorld) -> None:
    name = world.calendar()
    world.server.ok("invite", f"{OWNER}/{name}", "--user", "carol", "--role", "subscriber", acting_as=OWNER)
    world.server.ok("invitation", "decline", f"{OWNER}/{name}", acting_as="carol")
    assert status(world, name) == {"carol": "declined"}
    assert invitations_of(world, "carol")[f"/{OWNER}/{name}/"] == "declined"
    assert_access(world, name, "carol", "none")
    world.server.ok("invitation", "accept", f"{OWNER}/{name}", acting_as="carol")
    assert status(world, name) == {"carol": "accepted"}
    assert_access(world, name, "carol", "subscriber")


def test_withdrawn_by_the_owner_and_invited_again(world: InvitationWorld) -> None:
    name = world.calendar()
    srv = world.server
    srv.ok("invite", f"{OWNER}/{name}", "--user", "dave", "--role", "collaborator", acting_as=OWNER)
    srv.ok("invitation", "accept", f"{OWNER}/{name}", acting_as="dave")
    assert_access(world, name, "dave", "collaborator")

    srv.ok("share", "remove", f"{OWNER}/{name}", "--user", "dave", acting_as=OWNER)
    assert status(world, name) == {}
    assert f"/{OWNER}/{name}/" not in invitations_of(world, "dave")
    assert_access(world, name, "dave", "none")

    srv.ok("invite", f"{OWNER}/{name}", "--user", "dave", "--role", "collaborator", acting_as=OWNER)
    assert status(world, name) == {"dave": "pending"}, "a new invitation, not the old answer"
    assert_access(world, name, "dave", "none")


def test_role_change_of_an_accepted_invitation(world: InvitationWorld) -> None:
    name = world.calendar()
    srv = world.server
    srv.ok("invite", f"{OWNER}/{name}", "--user", "dave", "--role", "collaborator", acting_as=OWNER)
    srv.ok("invitation", "accept", f"{OWNER}/{name}", acting_as="dave")
    before = notification_names(world, "dave")
    srv.ok("share", "role", f"{OWNER}/{name}", "--user", "dave", "--role", "subscriber", acting_as=OWNER)
    assert status(world, name) == {"dave": "accepted"}
    assert len(notification_names(world, "dave") - before) == 1, "dave is told of his new access"
    assert_access(world, name, "dave", "subscriber")


# -- circles ---------------------------------------------------------------------------------------------

def test_a_circles_invitation_follows_its_membership(world: InvitationWorld) -> None:
    name = world.calendar()
    srv = world.server
    srv.ok("invite", f"{OWNER}/{name}", "--circle", "club", "--role", "subscriber", acting_as=OWNER)
    assert status(world, name) == {"erin": "pending"}
    assert_access(world, name, "erin", "none")
    srv.ok("invitation", "accept", f"{OWNER}/{name}", acting_as="erin")
    assert_access(world, name, "erin", "subscriber")

    # a new member finds the circle's invitation waiting, and decides for herself
    srv.ok("circle", "add", "club", "grace", acting_as=OWNER)
    assert status(world, name) == {"erin": "accepted", "grace": "pending"}
    assert invitations_of(world, "grace") == {f"/{OWNER}/{name}/": "pending"}
    assert any(n.endswith(".grace.xml") for n in notification_names(world, "grace"))
    assert_access(world, name, "grace", "none")

    # leaving the circle ends access; coming back finds one's answer as it was
    srv.ok("circle", "remove", "club", "erin", acting_as=OWNER)
    assert "erin" not in status(world, name)
    assert invitations_of(world, "erin") == {}
    assert_access(world, name, "erin", "none")
    srv.ok("circle", "add", "club", "erin", acting_as=OWNER)
    assert status(world, name)["erin"] == "accepted"
    assert_access(world, name, "erin", "subscriber")

    srv.ok("invitation", "accept", f"{OWNER}/{name}", acting_as="grace")
    assert_access(world, name, "grace", "subscriber")
    srv.ok("circle", "remove", "club", "grace", acting_as=OWNER)


# -- at once ----------------------------------------------------------------------------------------------

def test_shares_that_take_effect_at_once(world: InvitationWorld) -> None:
    name = world.calendar()
    srv = world.server
    srv.ok("share", "add", f"{OWNER}/{name}", "--user", "dave", "--role", "collaborator")  # the admin
    assert status(world, name) == {"dave": "at once"}
    assert_access(world, name, "dave", "collaborator")
    assert srv.request("DELETE", f"/dave/{name}~{OWNER}/", "dave").status_code == 403, \
        "what the admin put in a home stays there"

    # an owner may share at once only with a circle of the admin's groups file
    srv.ok("share", "add", f"{OWNER}/{name}", "--circle", "staff", "--role", "subscriber", "--at-once",
           acting_as=OWNER)
    assert status(world, name)["frank"] == "at once"
    assert_access(world, name, "frank", "subscriber")
    err = one_line_error(world, "share", "add", f"{OWNER}/{name}", "--user", "carol", "--role", "subscriber",
                         "--at-once", acting_as=OWNER)
    assert "only the admin may share at once" in err
    assert "carol" not in status(world, name)
    # and the admin may send invitations too
    srv.ok("share", "add", f"{OWNER}/{name}", "--user", "carol", "--role", "subscriber", "--invite")
    assert status(world, name)["carol"] == "pending"


# -- what cannot be done ----------------------------------------------------------------------------------

def test_transitions_that_do_not_exist_are_refused(world: InvitationWorld) -> None:
    name = world.calendar()
    srv = world.server
    srv.ok("invite", f"{OWNER}/{name}", "--user", "dave", "--role", "subscriber", acting_as=OWNER)
    assert "it is not in your home" in one_line_error(world, "invitation", "remove", f"{OWNER}/{name}",
                                                      acting_as="dave")
    srv.ok("invitation", "accept", f"{OWNER}/{name}", acting_as="dave")
    assert "use 'invitation remove'" in one_line_error(world, "invitation", "decline", f"{OWNER}/{name}",
                                                       acting_as="dave")
    assert "has no invitation" in one_line_error(world, "invitation", "accept", f"{OWNER}/{name}",
                                                 acting_as="carol")
    assert "may act only for themselves" in one_line_error(world, "invitation", "decline", f"{OWNER}/{name}",
                                                           "--user", "dave", acting_as="carol")
    assert "say for whom" in one_line_error(world, "invitation", "accept", f"{OWNER}/{name}")
    assert "only 'alice' (the owner)" in one_line_error(world, "invitation", "status", f"{OWNER}/{name}",
                                                        acting_as="dave")
    assert status(world, name) == {"dave": "accepted"}
    # the admin may answer for anyone
    srv.ok("invite", f"{OWNER}/{name}", "--user", "carol", "--role", "subscriber", acting_as=OWNER)
    srv.ok("invitation", "decline", f"{OWNER}/{name}", "--user", "carol")
    assert status(world, name) == {"dave": "accepted", "carol": "declined"}


# -- a stock client after accepting ---------------------------------------------------------------------------

def test_the_caldav_library_finds_an_accepted_calendar_read_only(world: InvitationWorld) -> None:
    name = world.calendar()
    srv = world.server
    srv.ok("invite", f"{OWNER}/{name}", "--user", "carol", "--role", "subscriber", acting_as=OWNER)
    client = caldav.DAVClient(url=srv.url + "/", username="carol", password=password("carol"))
    shown = f"{name} ({OWNER})"
    assert shown not in [c.get_display_name() for c in client.principal().calendars()]

    srv.ok("invitation", "accept", f"{OWNER}/{name}", acting_as="carol")

    calendars = {c.get_display_name(): c for c in client.principal().calendars()}
    assert shown in calendars
    calendar = calendars[shown]
    assert [e.icalendar_component["uid"] for e in calendar.events()] == [SEED]
    privileges = calendar.get_properties([caldav.elements.dav.CurrentUserPrivilegeSet()])
    assert "write-content" not in str(privileges) and "read" in str(privileges)
    with pytest.raises(caldav.lib.error.DAVError):
        calendar.save_event(CALENDAR.item("carols", "not hers to write"))
    assert not world.disk(f"/{OWNER}/{name}/carols{CALENDAR.ext}").exists()
