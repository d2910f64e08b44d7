"""The outbox gets exactly one record per change, including what Radicale's
hook misses (MKCOL, MKCALENDAR, MOVE, whole-collection PUT), and a crash
between the write and the record is settled at the next start."""

from __future__ import annotations

import pytest

from ..samples import ICS, address_book_mkcol, card, event
from ..server import Server, make_server


def calendar_of(*events: tuple[str, str]) -> str:
    """One VCALENDAR holding several events (a whole-collection PUT body)."""
    body = "".join(event(uid, summary).split("PRODID:-//test//EN\n")[1]
                   .replace("END:VCALENDAR\n", "") for uid, summary in events)
    return "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n" + body + "END:VCALENDAR\n"


def records(server: Server, after: int = 0) -> list[dict]:
    import json
    return json.loads(server.ok("--json", "outbox", "list", "--after", str(after)))


def last_id(server: Server) -> int:
    rows = records(server)
    return rows[-1]["id"] if rows else 0


def test_first_login_records_the_new_home(server: Server) -> None:
    start = last_id(server)
    assert server.request("PROPFIND", "/grace/", "grace", headers={"Depth": "0"}).status_code == 207
    assert server.request("PROPFIND", "/grace/", "grace", headers={"Depth": "0"}).status_code == 207
    assert [(r["kind"], r["actor"], r["collection"]) for r in records(server, start)] == [
        ("collection-created", "grace", "/grace/")]


def test_every_kind_of_change_is_recorded_once(server: Server) -> None:
    server.request("PROPFIND", "/alice/", "alice", headers={"Depth": "0"})
    start = last_id(server)
    assert server.request("MKCALENDAR", "/alice/cal/", "alice").status_code == 201
    assert server.request("MKCOL", "/alice/book/", "alice", body=MKCOL_ADDRESSBOOK).status_code == 201
    assert server.request("PUT", "/alice/cal/a.ics", "alice", event("a", "Swim"),
                          headers=ICS).status_code == 201
    assert server.request("PUT", "/alice/cal/a.ics", "alice", event("a", "Swim 2"),
                          headers=ICS).status_code == 204
    assert server.request("MOVE", "/alice/cal/a.ics", "alice",
                          headers={"Destination": server.url + "/alice/cal/b.ics"}).status_code == 201
    assert server.request("PROPPATCH", "/alice/cal/", "alice", body=PROPPATCH_NAME).status_code == 207
    assert server.request("DELETE", "/alice/cal/b.ics", "alice").status_code == 200
    whole = calendar_of(("w1", "One"), ("w2", "Two"))
    assert server.request("PUT", "/alice/whole/", "alice", whole, headers=ICS).status_code == 201
    assert server.request("PUT", "/alice/book/c.vcf", "alice", card("c", "Carol"),
                          headers={"Content-Type": "text/vcard"}).status_code == 201
    assert server.request("DELETE", "/alice/whole/", "alice").status_code == 200

    got = [(r["kind"], r["actor"], r["collection"], r["item"]) for r in records(server, start)]
    assert got == [
        ("collection-created", "alice", "/alice/cal/", None),
        ("collection-created", "alice", "/alice/book/", None),
        ("item-created", "alice", "/alice/cal/", "a.ics"),
        ("item-updated", "alice", "/alice/cal/", "a.ics"),
        ("item-moved", "alice", "/alice/cal/", "a.ics"),
        ("properties-changed", "alice", "/alice/cal/", None),
        ("item-deleted", "alice", "/alice/cal/", "b.ics"),
        ("collection-created", "alice", "/alice/whole/", None),
        ("item-created", "alice", "/alice/book/", "c.vcf"),
        ("collection-deleted", "alice", "/alice/whole/", None),
    ]
    rows = records(server, start)
    moved = rows[4]
    assert (moved["to_collection"], moved["to_item"]) == ("/alice/cal/", "b.ics")
    assert rows[3]["detail"]["old"]["SUMMARY"] == "Swim"
    assert rows[3]["detail"]["new"]["SUMMARY"] == "Swim 2"
    assert rows[2]["uid"] == "a" and rows[2]["component"] == "VEVENT"
    assert rows[7]["detail"] == {"items": 2}
    assert rows[6]["detail"]["old"]["SUMMARY"] == "Swim 2"


def test_replacing_a_collection_is_one_record(server: Server) -> None:
    server.request("PUT", "/alice/again/", "alice", event("x1", "x"), headers=ICS)
    start = last_id(server)
    r = server.request("PUT", "/alice/again/", "alice", event("x2", "y"), headers=ICS)
    assert r.status_code == 201
    assert [(x["kind"], x["collection"]) for x in records(server, start)] == [
        ("collection-replaced", "/alice/again/")]


def test_a_sharee_is_recorded_as_the_actor(server: Server) -> None:
    server.request("MKCALENDAR", "/alice/club/", "alice")
    server.ok("share", "add", "alice/club", "--user", "bob", "--role", "collaborator")
    server.request("PROPFIND", "/bob/", "bob", headers={"Depth": "0"})
    start = last_id(server)
    r = server.request("PUT", "/bob/club~alice/p.ics", "bob", event("p", "Practice"),
                       headers=ICS)
    assert r.status_code == 201
    [row] = records(server, start)
    assert (row["kind"], row["actor"], row["collection"], row["item"]) == (
        "item-created", "bob", "/alice/club/", "p.ics")


def test_a_refused_or_failed_write_records_nothing(server: Server) -> None:
    server.request("MKCALENDAR", "/alice/quiet/", "alice")
    server.request("PROPFIND", "/carol/", "carol", headers={"Depth": "0"})
    start = last_id(server)
    assert server.request("PUT", "/alice/quiet/bad.ics", "alice", "BEGIN:VCALENDAR\nnonsense",
                          headers=ICS).status_code == 400
    assert server.request("PUT", "/alice/quiet/x.ics", "carol", event("q", "q"),
                          headers=ICS).status_code == 403
    assert records(server, start) == []
    assert records(server, 0) and not [r for r in _pending(server)]


def _pending(server: Server) -> list[dict]:
    import json
    return json.loads(server.ok("--json", "outbox", "list", "--state", "pending"))


@pytest.mark.parametrize("write_happened", [True, False])
def test_crash_between_write_and_record_is_settled_at_start(tmp_path, write_happened: bool) -> None:
    """Simulate a crash: a pending record (written before the files change)
    whose 'ready' mark never came.  At the next start, the storage plugin
    keeps it if the change is on disk and drops it if it is not."""
    server = make_server(tmp_path / "srv").start()
    try:
        assert server.request("MKCALENDAR", "/alice/cal/", "alice").status_code == 201
        body = event("crash", "Crash")
        if write_happened:
            assert server.request("PUT", "/alice/cal/crash.ics", "alice", body, headers=ICS).status_code == 201
    finally:
        server.stop()
    db = server.sharing_db()
    with db:
        if write_happened:
            # the write reached the disk, the process died before marking the record ready
            db.execute("UPDATE outbox SET state = 'pending' WHERE item = 'crash.ics'")
        else:
            # the process died after recording the intent, before writing the file
            db.execute("INSERT INTO outbox(state, kind, actor, owner, collection, item, etag, created_at)"
                       " VALUES ('pending', 'item-changed', 'alice', 'alice', '/alice/cal/', 'ghost.ics',"
                       " '\"nope\"', 0)")
    db.close()
    server.start()
    try:
        assert _pending(server) == []
        kinds = [(r["item"], r["recovered"]) for r in records(server) if r["item"] in ("crash.ics", "ghost.ics")]
        assert kinds == ([("crash.ics", True)] if write_happened else [])
    finally:
        server.stop()


MKCOL_ADDRESSBOOK = address_book_mkcol("Book")

PROPPATCH_NAME = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:">
  <D:set><D:prop><D:displayname>Renamed</D:displayname></D:prop></D:set>
</D:propertyupdate>"""
