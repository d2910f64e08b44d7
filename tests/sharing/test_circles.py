"""Circles: created and managed with the CLI, or read from the admin's groups file.

Managers change membership, ordinary members may not; every change of
membership (member removed, circle deleted, groups file edited) changes
access on the very next request.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from radicale_ext.sharing.groups_file import GroupsFile

from ..server import Server
from ..test_cli import add_user, can_read, mkcalendar, one_line_error, put_event, state, unique


def show(server: Server, circle: str) -> dict:
    [row] = json.loads(server.ok("--json", "circle", "show", circle))
    return row


def write_groups(server: Server, text: str) -> None:
    """Edit the groups file as an admin's editor does: write a new file in its place."""
    write_groups_at(server.groups_file, text)


@pytest.fixture
def circle(server: Server) -> tuple[str, str, str, str]:
    """(circle, manager, member, outsider): a new circle managed by a new user."""
    manager, member, outsider = (add_user(server, p) for p in ("mgr", "mem", "out"))
    name = unique("fam")
    assert server.ok("circle", "create", name, "--manager", manager) == \
        f"circle {name} created; managers: {manager}\n"
    assert server.ok("circle", "add", name, member, "--as", manager) == f"{member} added to circle {name}\n"
    return name, manager, member, outsider


# -- creating, showing, listing ---------------------------------------------------------

def test_create_show_and_list(server: Server, circle: tuple[str, str, str, str]) -> None:
    name, manager, member, _ = circle
    assert server.ok("circle", "show", name) == (
        f"{name} (database)\n  members:  {' '.join(sorted([manager, member]))}\n  managers: {manager}\n")
    assert show(server, name) == {"circle": name, "origin": "database",
                                  "members": sorted([manager, member]), "managers": [manager]}
    listed = {row["circle"]: row for row in json.loads(server.ok("circle", "list", "--json"))}
    assert listed[name] == show(server, name)
    line = f"{name} (database): members {' '.join(sorted([manager, member]))}; managers {manager}"
    assert line in server.ok("circle", "list").splitlines()


def test_creating_as_a_user_makes_them_a_manager(server: Server) -> None:
    user = add_user(server, "self")
    name = unique("own")
    server.ok("circle", "create", name, "--as", user)
    assert show(server, name)["managers"] == [user] and show(server, name)["members"] == [user]


def test_create_refuses_duplicates_and_unknown_managers(server: Server,
                                                        circle: tuple[str, str, str, str]) -> None:
    before = state(server)
    one_line_error(server.cli("circle", "create", circle[0]), f"circle {circle[0]!r} already exists")
    one_line_error(server.cli("circle", "create", unique("x"), "--manager", "nobody"), "no user named 'nobody'")
    assert state(server) == before


# -- who may change membership ------------------------------------------------------------

def test_manager_adds_and_removes_members(server: Server, circle: tuple[str, str, str, str]) -> None:
    name, manager, member, outsider = circle
    server.ok("--as", manager, "circle", "add", name, outsider)
    assert outsider in show(server, name)["members"]
    assert server.ok("circle", "remove", name, outsider, "--as", manager) == \
        f"{outsider} removed from circle {name}\n"
    assert outsider not in show(server, name)["members"]


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_others_may_not_change_a_circle(server: Server, circle: tuple[str, str, str, str], who: str) -> None:
    name, manager, member, outsider = circle
    actor = member if who == "member" else outsider
    before = state(server)
    refusal = f"{actor!r} does not manage circle {name!r}; ask one of its managers"
    for argv in (("circle", "add", name, outsider if who == "member" else "grace"),
                 ("circle", "remove", name, manager),
                 ("circle", "manager", "add", name, actor),
                 ("circle", "manager", "remove", name, manager),
                 ("circle", "delete", name)):
        one_line_error(server.cli(*argv, acting_as=actor), refusal)
    assert state(server) == before
    # and the real console script says the same in one line, with status 1
    result = server.cli_process("--as", actor, "circle", "add", name, "grace")
    one_line_error(result, refusal)
    assert state(server) == before


def test_managers_name_and_drop_managers(server: Server, circle: tuple[str, str, str, str]) -> None:
    name, manager, member, outsider = circle
    assert server.ok("circle", "manager", "add", name, member, "--as", manager) == \
        f"{member} now manages circle {name}\n"
    server.ok("circle", "add", name, outsider, "--as", member)  # the new manager may change membership
    assert server.ok("circle", "manager", "remove", name, member, "--as", manager) == \
        f"{member} no longer manages circle {name}\n"
    one_line_error(server.cli("circle", "remove", name, outsider, acting_as=member), "does not manage")
    assert show(server, name)["managers"] == [manager]


def test_removing_a_manager_from_the_circle_ends_their_managing(server: Server,
                                                               circle: tuple[str, str, str, str]) -> None:
    name, manager, member, _ = circle
    server.ok("circle", "manager", "add", name, member)
    server.ok("circle", "remove", name, member)
    assert show(server, name)["managers"] == [manager]
    one_line_error(server.cli("circle", "add", name, member, acting_as=member), "does not manage")


def test_adding_several_members_is_all_or_nothing(server: Server, circle: tuple[str, str, str, str]) -> None:
    name, manager, member, outsider = circle
    before = state(server)
    one_line_error(server.cli("circle", "add", name, outsider, "nobody", acting_as=manager),
                   "no user named 'nobody'")
    one_line_error(server.cli("circle", "add", name, outsider, member, acting_as=manager),
                   f"{member!r} is already a member of circle {name!r}; nothing changed")
    one_line_error(server.cli("circle", "remove", name, member, outsider, acting_as=manager),
                   f"{outsider!r} is not a member of circle {name!r}; nothing changed")
    assert state(server) == before
    assert server.ok("circle", "add", name, outsider, outsider, "grace") == \
        f"{outsider} added to circle {name}\ngrace added to circle {name}\n"


# -- membership changes access on the next request -------------------------------------

def test_member_removed_or_circle_deleted_loses_access_at_once(server: Server,
                                                               circle: tuple[str, str, str, str]) -> None:
    name, manager, member, outsider = circle
    calendar = mkcalendar(server, manager)
    server.ok("share", "add", f"{manager}/{calendar}", "--circle", name, "--role", "collaborator")
    server.ok("circle", "add", name, outsider, "--as", manager)
    assert put_event(server, member, manager, calendar) == 201
    assert put_event(server, outsider, manager, calendar) == 201

    server.ok("circle", "remove", name, member, "--as", manager)
    assert not can_read(server, member, manager, calendar)
    assert put_event(server, member, manager, calendar, at_owner=True) == 403
    assert put_event(server, outsider, manager, calendar) == 201
    assert put_event(server, outsider, manager, calendar, at_owner=True) == 201

    assert server.ok("circle", "delete", name, "--as", manager) == f"circle {name} deleted, with its shares\n"
    assert not can_read(server, outsider, manager, calendar)
    assert put_event(server, outsider, manager, calendar, at_owner=True) == 403
    assert server.ok("share", "list", f"{manager}/{calendar}") == ""
    assert name not in {row["circle"] for row in json.loads(server.ok("--json", "circle", "list"))}

    # a new circle of the same name starts with no shares
    server.ok("circle", "create", name, "--manager", manager)
    server.ok("circle", "add", name, outsider)
    assert not can_read(server, outsider, manager, calendar)


def test_groups_file_circle_gives_access_and_an_edit_takes_it_away(server: Server) -> None:
    owner, kept, dropped = (add_user(server, p) for p in ("fown", "fkeep", "fdrop"))
    calendar = mkcalendar(server, owner)
    name = unique("file")
    write_groups(server, f"# the admin's circles\n{name}: {kept} {dropped}\n")
    assert show(server, name) == {"circle": name, "origin": "groups-file",
                                  "members": sorted([kept, dropped]), "managers": []}
    server.ok("share", "add", f"{owner}/{calendar}", "--circle", name, "--role", "subscriber")
    assert server.ok("share", "list", f"{owner}/{calendar}") == "".join(
        f"{u}: subscriber via circle:{name} (subscriber)\n" for u in sorted([kept, dropped]))
    assert can_read(server, kept, owner, calendar) and can_read(server, dropped, owner, calendar)
    assert put_event(server, kept, owner, calendar) == 403

    write_groups(server, f"{name}: {kept}\n")  # no restart
    assert not can_read(server, dropped, owner, calendar)
    assert can_read(server, kept, owner, calendar)

    write_groups(server, "")
    assert not can_read(server, kept, owner, calendar)
    one_line_error(server.cli("circle", "show", name), f"no circle named {name!r}")


def _same_size_same_mtime_edit(path: Path, text: str) -> None:
    """Replace the file by one of the same size and modification time."""
    old = path.stat()
    assert len(text.encode()) == old.st_size
    write_groups_at(path, text)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))


def write_groups_at(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_groups_file_reread_even_when_size_and_mtime_stay(tmp_path: Path) -> None:
    path = tmp_path / "groups"
    path.write_text("family: anna\n")
    groups = GroupsFile(str(path))
    assert groups.circles_of("anna") == {"family"}
    _same_size_same_mtime_edit(path, "family: bert\n")
    assert groups.circles_of("anna") == frozenset()
    assert groups.circles_of("bert") == {"family"}


def test_groups_file_edit_that_keeps_size_and_mtime_is_seen_over_http(server: Server) -> None:
    owner, first, other = (add_user(server, p) for p in ("sown", "s1", "s2"))
    assert len(first) == len(other)
    calendar = mkcalendar(server, owner)
    name = unique("same")
    write_groups(server, f"{name}: {first}\n")
    server.ok("share", "add", f"{owner}/{calendar}", "--circle", name, "--role", "subscriber")
    assert can_read(server, first, owner, calendar)
    assert server.request("PROPFIND", f"/{owner}/{calendar}/", first, headers={"Depth": "0"}).status_code == 207

    _same_size_same_mtime_edit(server.groups_file, f"{name}: {other}\n")
    assert show(server, name)["members"] == [other]
    assert can_read(server, other, owner, calendar)
    assert not can_read(server, first, owner, calendar)
    assert server.request("PROPFIND", f"/{owner}/{calendar}/", first, headers={"Depth": "0"}).status_code == 403


def test_groups_file_circles_are_changed_only_in_the_file(server: Server) -> None:
    member = add_user(server, "fm")
    name = unique("admin")
    write_groups(server, f"{name}: {member}\n")
    before = state(server)
    one_line_error(server.cli("circle", "add", name, "bob"), "comes from the admin's groups file")
    one_line_error(server.cli("circle", "remove", name, member), "comes from the admin's groups file")
    one_line_error(server.cli("circle", "delete", name), "comes from the admin's groups file; remove it there")
    one_line_error(server.cli("circle", "create", name), f"circle {name!r} already exists")
    assert state(server) == before


def test_a_new_circle_does_not_inherit_shares_of_a_removed_file_circle(server: Server) -> None:
    owner, member, newcomer = (add_user(server, p) for p in ("iown", "imem", "inew"))
    calendar = mkcalendar(server, owner)
    name = unique("old")
    write_groups(server, f"{name}: {member}\n")
    server.ok("share", "add", f"{owner}/{calendar}", "--circle", name, "--role", "collaborator")
    assert can_read(server, member, owner, calendar)
    write_groups(server, "")
    assert not can_read(server, member, owner, calendar)

    server.ok("circle", "create", name, "--manager", newcomer)
    assert not can_read(server, newcomer, owner, calendar)
    assert server.ok("shared-with", newcomer) == ""


def test_user_removed_from_a_database_circle_by_user_remove(server: Server,
                                                           circle: tuple[str, str, str, str]) -> None:
    name, manager, member, _ = circle
    write_groups(server, f"{unique('other')}: {member}\n")
    out = server.ok("user", "remove", member)
    assert "note: the groups file still lists" in out and "remove them there" in out
    assert show(server, name)["members"] == [manager]


def test_a_database_circle_hides_a_groups_file_circle_of_the_same_name(
        server: Server, circle: tuple[str, str, str, str]) -> None:
    name, manager, member, outsider = circle
    calendar = mkcalendar(server, manager)
    server.ok("share", "add", f"{manager}/{calendar}", "--circle", name, "--role", "subscriber")
    write_groups(server, f"{name}: {outsider}\n")  # the admin later uses the same name
    assert show(server, name)["origin"] == "database"
    assert outsider not in show(server, name)["members"]
    assert outsider not in server.ok("share", "list", f"{manager}/{calendar}")
    assert can_read(server, member, manager, calendar)
    assert not can_read(server, outsider, manager, calendar)
    assert server.ok("shared-with", outsider) == ""


def test_with_as_a_person_lists_and_shows_only_circles_they_manage_or_are_in(
        server: Server, circle: tuple[str, str, str, str]) -> None:
    """What the web page's circles show: nobody else's circle, its members or managers."""
    name, manager, member, outsider = circle
    for who in (manager, member):
        assert name in {row["circle"] for row in json.loads(server.ok("--json", "circle", "list", acting_as=who))}
        assert json.loads(server.ok("--json", "circle", "show", name, acting_as=who))[0]["members"] == sorted(
            [manager, member])
    assert name not in {row["circle"] for row in json.loads(server.ok("--json", "circle", "list",
                                                                      acting_as=outsider))}
    one_line_error(server.cli("circle", "show", name, acting_as=outsider),
                   f"{outsider!r} is neither a member nor a manager of circle {name!r}")
    assert name in {row["circle"] for row in json.loads(server.ok("--json", "circle", "list"))}  # the admin: all
