"""One bad event never stops notices and reminders for everyone (issue 13, item 2).

Events that made composing, wording or reminder planning raise (a TZID that
names a folder of the zone database, an absurdly long TZID, a year-1 date, a
reminder 2,000 years before its event) are told like any other, and a change
and a reminder after them are delivered.  Work that still cannot be done (here: a fault put into the
wording, the composer and the planner, standing in for a bug nobody knows of
yet, since the known ones are fixed) is set aside: logged once, listed by ``radicale-ext notices dead``,
never tried again before the admin says so (``radicale-ext notices retry``),
and never in the way of what comes after it, across restarts too.
"""

from __future__ import annotations

import datetime
import json
import logging
import time

import pytest

from radicale_ext.notices.changes import ItemChange
from radicale_ext.notices.wording import Wording
from radicale_ext.reminders import scheduler as scheduler_module

from ..notice_kit import FakeClock, change_texts, notice_server
from ..notice_kit import worker_of as kit_worker
from ..server import Server, make_server

UTC = datetime.UTC
ICS = {"Content-Type": "text/calendar"}


def utc(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%SZ")


def event(uid: str, summary: str, dtstart: str, *, lines: str = "", alarm: str = "TRIGGER:-PT15M") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{dtstart}\r\nSUMMARY:{summary}\r\n{lines}"
            f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Erinnerung\r\n{alarm}\r\nEND:VALARM\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def put(server: Server, path: str, text: str) -> None:
    r = server.request("PUT", path, "alice", text, headers=ICS)
    assert r.status_code in (201, 204), (r.status_code, r.text)


def wait_for(server: Server, user: str, wanted: list[str], within: float) -> list[str]:
    deadline = time.monotonic() + within
    texts = change_texts(server, user)
    while time.monotonic() < deadline and not all(any(t.startswith(w) for t in texts) for w in wanted):
        time.sleep(0.2)
        texts = change_texts(server, user)
    return texts


def dead(server: Server) -> list[dict]:
    return json.loads(server.ok("--json", "notices", "dead"))


def test_bad_events_are_told_and_the_next_change_and_reminder_still_arrive(tmp_path) -> None:
    """Over HTTP to a server with its own worker thread, before and after a restart."""
    server = make_server(tmp_path / "srv", hook={"notices_window": "0", "notices_poll": "0.2"}).start()
    try:
        assert server.request("MKCALENDAR", "/alice/family/", "alice").status_code == 201
        server.ok("share", "add", "alice/family", "--user", "bob", "--role", "subscriber")
        server.ok("notices", "timezone", "America/New_York", acting_as="bob")
        soon = time.time() + 3600
        put(server, "/alice/family/folder.ics", event("folder", "Zeitzone Amerika",
                                                     "DTSTART;TZID=America:20261205T180000"))
        put(server, "/alice/family/long.ics", event("long", "Lange Zeitzone",
                                                   f"DTSTART;TZID=Europe/{'x' * 300}:20261205T180000"))
        put(server, "/alice/family/year-one.ics", event("year-one", "Jahr eins", "DTSTART:00010101T000000Z"))
        put(server, "/alice/family/far-end.ics", event("far-end", "Bis ans Ende", f"DTSTART:{utc(soon)}",
                                                       lines="DURATION:PT2H\r\n",
                                                       alarm="TRIGGER:-P106000W"))
        alarm_at = float(int(time.time()) + 6)
        put(server, "/alice/family/oma.ics", event("oma", "Geburtstag Oma 🎂", f"DTSTART:{utc(alarm_at + 3600)}",
                                                   alarm=f"TRIGGER;VALUE=DATE-TIME:{utc(alarm_at)}"))
        texts = wait_for(server, "bob", ["Alice added Zeitzone Amerika", "Alice added Lange Zeitzone",
                                         "Alice added Jahr eins", "Alice added Bis ans Ende",
                                         "Alice added Geburtstag Oma 🎂", "Reminder: Geburtstag Oma 🎂"], 20)
        assert any(t.startswith("Alice added Geburtstag Oma 🎂") for t in texts), server.log()[-3000:]
        assert any(t.startswith("Reminder: Geburtstag Oma 🎂") for t in texts), server.log()[-3000:]
        # the bad ones are told too, their times as written (no zone by that name; a year bob's zone cannot hold)
        assert "Alice added Zeitzone Amerika on Sat 5 Dec 18:00 in family (alice)" in texts
        assert "Alice added Lange Zeitzone on Sat 5 Dec 18:00 in family (alice)" in texts
        assert "Alice added Jahr eins on Mon 1 Jan 1 00:00 UTC in family (alice)" in texts
        assert any(t.startswith("Alice added Bis ans Ende on ") for t in texts)
        assert dead(server) == []

        server.stop()
        server.start()
        put(server, "/alice/family/kino.ics", event("kino", "Kino mit Müllers", "DTSTART:20261212T190000Z"))
        texts = wait_for(server, "bob", ["Alice added Kino mit Müllers"], 10)
        assert any(t.startswith("Alice added Kino mit Müllers") for t in texts), server.log()[-3000:]
        assert "a round failed" not in server.log() and "Traceback" not in server.log()
    finally:
        server.stop()


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Titles the composer, the wording and the reminder planner fail on (a bug nobody knows of yet)."""
    failing: set[str] = {"Kaputt beim Verfassen", "Kaputt beim Verteilen", "Kaputt beim Planen"}
    from_record = ItemChange.from_record.__func__
    sentence = Wording.sentence
    expand = scheduler_module.expand

    def broken_from_record(cls, record):
        change = from_record(cls, record)
        if "Kaputt beim Verfassen" in failing and change.title == "Kaputt beim Verfassen":
            raise KeyError("summary")
        return change

    def broken_sentence(self, change, notice, reader, zone, *language):
        if "Kaputt beim Verteilen" in failing and change.title == "Kaputt beim Verteilen":
            raise OverflowError("date value out of range")
        return sentence(self, change, notice, reader, zone, *language)

    def broken_expand(text, **kwargs):
        if "Kaputt beim Planen" in failing and "Kaputt beim Planen" in text:
            raise IsADirectoryError(21, "Is a directory")
        return expand(text, **kwargs)

    monkeypatch.setattr(ItemChange, "from_record", classmethod(broken_from_record))
    monkeypatch.setattr(Wording, "sentence", broken_sentence)
    monkeypatch.setattr(scheduler_module, "expand", broken_expand)
    return failing


def test_work_that_cannot_be_done_is_set_aside_listed_and_retried_on_request(
        tmp_path, faults: set[str], caplog: pytest.LogCaptureFixture) -> None:
    server = notice_server(tmp_path / "srv").start()
    try:
        clock = FakeClock()
        assert server.request("MKCALENDAR", "/alice/family/", "alice").status_code == 201
        server.ok("share", "add", "alice/family", "--user", "bob", "--role", "subscriber")
        starts = clock() + 86400
        for href, summary in (("compose", "Kaputt beim Verfassen"), ("hand-out", "Kaputt beim Verteilen"),
                              ("plan", "Kaputt beim Planen"), ("good", "Elternabend")):
            put(server, f"/alice/family/{href}.ics", event(href, summary, f"DTSTART:{utc(starts)}"))
        clock.advance(5)
        with caplog.at_level(logging.ERROR, logger="radicale_ext"):
            kit_worker(server, clock).run_until_idle()
            kit_worker(server, clock, name="after-a-restart").run_until_idle()
            texts = change_texts(server, "bob")
            assert any(t.startswith("Alice added Elternabend") for t in texts), "the change after them is told"
            assert any(t.startswith("Alice added Kaputt beim Planen") for t in texts), "its notice is not blocked"
            upcoming = json.loads(server.ok("--json", "reminders", "upcoming", "--limit", "50", "--now",
                                            str(clock()), acting_as="bob"))
            assert {r["summary"] for r in upcoming} == {"Kaputt beim Verfassen", "Kaputt beim Verteilen",
                                                        "Elternabend"}
            clock.now = starts - 900            # the reminders are due: the wording fails for one of them
            kit_worker(server, clock).run_until_idle()
            kit_worker(server, clock, name="after-a-restart").run_until_idle()
        reminded = [t for t in change_texts(server, "bob") if t.startswith("Reminder:")]
        assert sorted(reminded) == ["Reminder: Elternabend on " + reminded[0].split(" on ", 1)[1],
                                    "Reminder: Kaputt beim Verfassen on " + reminded[0].split(" on ", 1)[1]]
        set_aside = {row["stage"]: row for row in dead(server)}
        assert set(set_aside) == {"compose", "hand-out", "reminder-plan", "reminder"}
        assert "/alice/family/compose.ics" in set_aside["compose"]["about"]
        assert "KeyError" in set_aside["compose"]["error"]
        assert "/alice/family/hand-out.ics" in set_aside["hand-out"]["about"]
        assert "OverflowError" in set_aside["hand-out"]["error"]
        assert "/alice/family/plan.ics" in set_aside["reminder-plan"]["about"]
        assert "/alice/family/hand-out.ics" in set_aside["reminder"]["about"]
        logged = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
        assert len(logged) == 4, f"each logged once, however often the worker runs: {logged}"

        listing = server.cli("notices", "dead")
        assert listing.code == 0 and listing.out.count("radicale-ext notices retry S") == 4, listing.out

        faults.clear()     # the bug is fixed; the admin tries again
        ids = [row["id"] for row in set_aside.values()]
        assert server.ok("notices", "retry", *ids).strip() == "4 set-aside tasks queued again"
        kit_worker(server, clock).run_until_idle()
        texts = change_texts(server, "bob")
        assert any(t.startswith("Alice added Kaputt beim Verfassen") for t in texts)
        assert any(t.startswith("Alice added Kaputt beim Verteilen") for t in texts)
        assert any(t.startswith("Reminder: Kaputt beim Verteilen") for t in texts)
        assert len([t for t in texts if "Elternabend" in t]) == 2, "nothing told twice"
        assert any(t.startswith("Reminder: Kaputt beim Planen") for t in texts), "planned again, and due"
        assert dead(server) == []
        retry_again = server.cli("notices", "retry", ids[0])
        assert retry_again.code == 1 and "nothing to retry" in retry_again.err
    finally:
        server.stop()


def recorded(server: Server) -> dict[int, str]:
    """The outbox as the admin lists it: record id -> the changed item's path."""
    return {row["id"]: row["collection"] + (row["item"] or "")
            for row in json.loads(server.ok("--json", "outbox", "list"))}


def test_the_outbox_forgets_what_every_reader_is_done_with_but_keeps_work_set_aside(
        tmp_path, faults: set[str], sharing_database: str) -> None:
    """Every change leaves an outbox record; once its notice is as old as the notices that are removed, tidying
    removes the record too, but not one the composer has not taken yet, nor one set aside (the admin may still
    put it back), nor the newest (on SQLite its id would be handed out again, below the readers' watermarks, and
    the next change never told)."""
    server = notice_server(tmp_path / "srv", notices_max_age="2").start()
    try:
        clock = FakeClock()
        assert server.request("MKCALENDAR", "/alice/Familie Müller/", "alice").status_code == 201
        server.ok("share", "add", "alice/Familie Müller", "--user", "bob", "--role", "subscriber")
        starts = utc(clock() + 86400)
        calendar = "/alice/Familie%20M%C3%BCller/"
        for href, summary in (("kaputt", "Kaputt beim Verfassen"), ("eltern", "Elternabend"),
                              ("schwimmen", "Schwimmen 游泳 🏊")):
            put(server, f"{calendar}{href}.ics", event(href, summary, f"DTSTART:{starts}"))
        clock.advance(5)
        kit_worker(server, clock).run_until_idle()
        assert [t for t in change_texts(server, "bob") if "Elternabend" in t or "Schwimmen" in t]
        clock.now = max(clock.now, time.time()) + 5
        kit_worker(server, clock).run_until_idle()    # bob's home, made as he first looked, is taken too
        [set_aside] = [row for row in dead(server) if row["stage"] == "compose"]
        for href in ("offen-1", "offen-2"):           # not composed yet: no worker ran since
            put(server, f"{calendar}{href}.ics", event(href, f"Offen {href}", f"DTSTART:{starts}"))
        records = recorded(server)
        by_item = {p.rsplit("/", 1)[1]: i for i, p in records.items() if not p.endswith("/")}
        assert sorted(by_item) == ["eltern.ics", "kaputt.ics", "offen-1.ics", "offen-2.ics", "schwimmen.ics"]

        # tidying two days on: the notices are removed, their records kept a day more; three days on, those too
        kit_worker(server, clock).purge(clock() + 2 * 86400)
        assert recorded(server) == records
        kit_worker(server, clock).purge(clock() + 3 * 86400 + 60)
        assert set(recorded(server)) == {by_item["kaputt.ics"], by_item["offen-1.ics"], by_item["offen-2.ics"]}, \
            "told and old: gone; set aside, not taken yet, or the newest: kept"

        # the next change gets an id of its own and is told; the one set aside is composed when put back
        put(server, f"{calendar}neu.ics", event("neu", "Neu nach dem Aufräumen", f"DTSTART:{starts}"))
        [new_id] = set(recorded(server)) - set(records)
        assert new_id > max(records)
        clock.now = max(clock.now, time.time()) + 5
        kit_worker(server, clock).run_until_idle()
        told = change_texts(server, "bob")
        assert any(t.startswith("Alice added Neu nach dem Aufräumen") for t in told)
        assert any("Offen offen-1" in t for t in told) and any("Offen offen-2" in t for t in told)
        faults.clear()
        assert server.ok("notices", "retry", set_aside["id"]).strip() == "1 set-aside task queued again"
        kit_worker(server, clock).run_until_idle()
        assert any(t.startswith("Alice added Kaputt beim Verfassen") for t in change_texts(server, "bob"))
    finally:
        server.stop()
