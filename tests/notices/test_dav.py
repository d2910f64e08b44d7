"""The notification collection as a channel: CS:resource-change items, their words, bursts, expiry,
and the server's own worker thread end to end."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ..notice_kit import NS, FakeClock, change_documents, change_texts, event, notice_server, put_event, worker_of
from ..server import Server, make_server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("dav"), notices_window="60", notices_max_age="2").start()
    assert server.request("MKCALENDAR", "/alice/family/", "alice").status_code == 201
    server.ok("share", "add", "alice/family", "--user", "bob", "--role", "collaborator")
    server.ok("share", "add", "alice/family", "--user", "carol", "--role", "subscriber")
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def deliver(srv: Server, clock: FakeClock, after: float = 61) -> None:
    """Let the coalescing window of what was just changed close, then run the worker until nothing is due.
    The window is counted from the real time of the last change (the clock was made before the test's
    requests, which take more than a second on a loaded machine), and the clock never goes back."""
    clock.now = max(clock.now, time.time()) + after
    worker_of(srv, clock).run_until_idle()


def test_a_change_is_a_resource_change_item_each_recipient_reads_and_deletes(srv: Server, clock: FakeClock) -> None:
    put_event(srv, "alice", "/alice/family/f.ics", "f", "Football practice")
    put_event(srv, "bob", "/bob/family~alice/f.ics", "f", "Football practice", start="20260106T180000")
    deliver(srv, clock)

    [doc] = [d for d in change_documents(srv, "carol") if "moved" in d.findtext(".//E:text", namespaces=NS)]
    assert doc.tag == "{http://calendarserver.org/ns/}notification"
    assert doc.findtext("CS:dtstamp", namespaces=NS)
    updated = doc.find("CS:resource-change/CS:updated", NS)
    assert updated.findtext("D:href", namespaces=NS) == "/carol/family~alice/f.ics", "the reader's own path"
    assert updated.findtext("CS:changed-by/CS:first-name", namespaces=NS) == "Bob"
    assert updated.findtext("CS:changed-by/D:href", namespaces=NS) == "/bob/"
    assert [e.get("name") for e in updated.iterfind(".//CS:changed-property", NS)] == ["DTSTART"]
    assert doc.findtext("CS:resource-change/E:text", namespaces=NS) == \
        "Bob moved Football practice to Tue 6 Jan 18:00 (was Mon 5 Jan 18:00) in family (alice)"

    # the owner reads it at the owner's path; the actor has none of it
    owner_doc = [d for d in change_documents(srv, "alice") if "moved" in d.findtext(".//E:text", namespaces=NS)]
    assert owner_doc[0].findtext(".//CS:updated/D:href", namespaces=NS) == "/alice/family/f.ics"
    assert not [t for t in change_texts(srv, "bob") if "moved" in t]

    listed = srv.request("PROPFIND", "/carol/.notifications/", "carol", headers={"Depth": "1"})
    names = [h.split("/")[-1] for h in listed.text.split("<href>")[1:] for h in [h.split("</href>")[0]]
             if h.endswith(".xml")]
    assert names, listed.text
    for name in names:
        assert srv.request("DELETE", f"/carol/.notifications/{name}", "carol").status_code == 204
        assert srv.request("GET", f"/carol/.notifications/{name}", "carol").status_code == 404
    assert change_documents(srv, "carol") == []


def test_words_say_what_happened_in_the_readers_zone(srv: Server, clock: FakeClock) -> None:
    srv.ok("notices", "timezone", "America/New_York", acting_as="carol")
    put_event(srv, "alice", "/alice/family/w.ics", "w", "Swim")
    put_event(srv, "alice", "/alice/family/w.ics", "w", "Swim lesson")
    assert srv.request("DELETE", "/alice/family/w.ics", "alice").status_code == 200
    put_event(srv, "alice", "/alice/family/u.ics", "u", "Flight", start="20260107T090000Z", tzid=None)
    deliver(srv, clock)
    assert change_texts(srv, "carol")[-1] == "Alice made 4 changes to family (alice)"
    lines = change_documents(srv, "carol")[-1].findall("CS:resource-change/E:line", NS)
    assert [e.text for e in lines] == [
        "Alice added Swim on Mon 5 Jan 12:00",
        "Alice renamed Swim to Swim lesson",
        "Alice deleted Swim lesson on Mon 5 Jan 12:00",
        "Alice added Flight on Wed 7 Jan 04:00",
    ]
    # bob chose no zone: the event's own zone, and UTC said as such
    bob = change_documents(srv, "bob")[-1]
    assert [e.text for e in bob.findall("CS:resource-change/E:line", NS)][::3] == [
        "Alice added Swim on Mon 5 Jan 18:00", "Alice added Flight on Wed 7 Jan 09:00 UTC"]
    assert [e.tag.split("}")[1] for e in bob.find("CS:resource-change", NS)][:4] == [
        "created", "updated", "deleted", "created"]
    assert bob.findtext(".//CS:deleted/CS:deleted-details/CS:deleted-summary", namespaces=NS) == "Swim lesson"


def test_fifty_edits_in_one_window_are_one_notice_per_recipient(srv: Server, clock: FakeClock) -> None:
    before = {u: len(change_texts(srv, u)) for u in ("alice", "carol")}
    for i in range(50):
        put_event(srv, "bob", f"/bob/family~alice/burst{i}.ics", f"burst{i}", f"Burst {i}")
    worker_of(srv, clock).run_until_idle()
    assert {u: len(change_texts(srv, u)) for u in before} == before, "the window is still open"

    deliver(srv, clock)
    for user in ("alice", "carol"):
        texts = change_texts(srv, user)
        assert len(texts) == before[user] + 1
        assert texts[-1] == f"Bob made 50 changes to family{' (alice)' if user == 'carol' else ''}"
        doc = change_documents(srv, user)[-1]
        assert len(doc.findall("CS:resource-change/CS:created", NS)) == 50
        assert len(doc.findall("CS:resource-change/E:line", NS)) == 50

    # after the window: a new notice; another person's change in the same window: their own notice
    put_event(srv, "bob", "/bob/family~alice/late.ics", "late", "Late one")
    put_event(srv, "alice", "/alice/family/mine.ics", "mine", "Alice's own")
    deliver(srv, clock)
    late, own = change_texts(srv, "carol")[-2:]
    assert late.startswith("Bob added Late one on Mon 5 Jan") and late.endswith(" in family (alice)")
    assert own.startswith("Alice added Alice's own on Mon 5 Jan")


def test_notices_expire_after_the_configured_age(srv: Server, clock: FakeClock) -> None:
    put_event(srv, "alice", "/alice/family/old.ics", "old", "Old news")
    deliver(srv, clock)
    assert any("Old news" in t for t in change_texts(srv, "bob"))
    clock.advance(1 * 86400)
    worker_of(srv, clock).purge(clock())
    assert any("Old news" in t for t in change_texts(srv, "bob")), "younger than notices_max_age (2 days)"
    clock.advance(1.5 * 86400)
    worker_of(srv, clock).purge(clock())
    assert not any("Old news" in t for t in change_texts(srv, "bob"))


def test_the_servers_own_worker_thread_delivers(tmp_path) -> None:
    """End to end with the defaults but a short window: the server's thread, no test-driven worker."""
    server = make_server(tmp_path / "srv", hook={"notices_window": "0.5", "notices_poll": "0.2"}).start()
    try:
        assert server.request("MKCALENDAR", "/alice/home/", "alice").status_code == 201
        server.ok("share", "add", "alice/home", "--user", "bob", "--role", "subscriber")
        assert server.request("PUT", "/alice/home/e.ics", "alice", event("e", "Garden party"),
                              headers={"Content-Type": "text/calendar"}).status_code == 201
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not change_texts(server, "bob"):
            time.sleep(0.2)
        assert change_texts(server, "bob") == ["Alice added Garden party on Mon 5 Jan 18:00 in home (alice)"]
        assert change_texts(server, "alice") == []
    finally:
        server.stop()
