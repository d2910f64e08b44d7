"""Circles reach the rights file: a ``groups:`` rule sees every circle of
the user, from the database and from the groups file, on the next request."""

from __future__ import annotations

from ..server import Server

RULE = """
[team-board-for-circle]
user:
groups: {circle}
collection: alice/board
permissions: r

"""


def test_groups_rules_see_circles_from_the_database_and_the_file(fresh_server: Server) -> None:
    server = fresh_server
    assert server.request("MKCALENDAR", "/alice/board/", "alice").status_code == 201
    rights = server.rights_file.read_text()
    server.rights_file.write_text(RULE.format(circle="readers") + RULE.replace("[team-board-for-circle]",
                                  "[team-board-for-file-circle]").format(circle="filers") + rights)
    assert server.request("PROPFIND", "/alice/board/", "bob", headers={"Depth": "0"}).status_code == 403
    server.ok("circle", "create", "readers")
    server.ok("circle", "add", "readers", "bob")
    assert server.request("PROPFIND", "/alice/board/", "bob", headers={"Depth": "0"}).status_code == 207
    assert server.request("PUT", "/alice/board/x.ics", "bob", "BEGIN:VCALENDAR\nEND:VCALENDAR\n",
                          headers={"Content-Type": "text/calendar"}).status_code == 403
    server.ok("circle", "remove", "readers", "bob")
    assert server.request("PROPFIND", "/alice/board/", "bob", headers={"Depth": "0"}).status_code == 403

    assert server.request("PROPFIND", "/alice/board/", "carol", headers={"Depth": "0"}).status_code == 403
    server.groups_file.write_text("filers: carol\n")
    assert server.request("PROPFIND", "/alice/board/", "carol", headers={"Depth": "0"}).status_code == 207
