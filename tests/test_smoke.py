"""The README's story end to end: share a calendar with a circle and a user."""

from __future__ import annotations

import caldav

from .samples import event
from .server import Server, password


def test_circle_collaborator_finds_reads_and_writes(server: Server) -> None:
    assert server.request("MKCALENDAR", "/alice/family/", "alice").status_code == 201
    server.ok("circle", "create", "family", "--manager", "alice")
    server.ok("circle", "add", "family", "bob")
    server.ok("share", "add", "alice/family", "--circle", "family", "--role", "collaborator")
    server.ok("share", "add", "alice/family", "--user", "carol", "--role", "subscriber")

    client = caldav.DAVClient(url=server.url + "/", username="bob", password=password("bob"))
    calendars = {c.get_display_name(): c for c in client.principal().calendars()}
    assert "family (alice)" in calendars
    family = calendars["family (alice)"]
    family.save_event(event("e1", "Football practice"))
    assert [e.icalendar_component["summary"] for e in family.events()] == ["Football practice"]
    assert "e1" in server.request("GET", "/alice/family/e1.ics", "alice").text

    carol = caldav.DAVClient(url=server.url + "/", username="carol", password=password("carol"))
    carol_cal = {c.get_display_name(): c for c in carol.principal().calendars()}["family (alice)"]
    assert len(carol_cal.events()) == 1
    r = server.request("PUT", "/carol/family~alice/e2.ics", "carol", event("e2", "x"),
                       headers={"Content-Type": "text/calendar"})
    assert r.status_code == 403
