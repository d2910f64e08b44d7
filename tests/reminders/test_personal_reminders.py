"""Reminders from each person's own alarms (caldav-sharing 5.5.x; docs/reminders.md, "Whose alarms"):
alice's "家庭" calendar has the weekly "Fußball 🎉 training" (Mondays 17:00 in Berlin, the 23 March one
moved to Tuesday 18:00); bob collaborates, carol subscribes, dave subscribes and keeps alice's alarms.
Each is reminded at their own trigger, by e-mail through a real SMTP server, and nobody at someone
else's.  The worker runs in this process with the test's clock."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from ..notice_kit import FakeClock, Mailbox, change_texts, notice_server, smtp_server, worker_of
from ..samples import ICS
from ..server import Server, free_port
from ..sharing.test_personal_alarms import CALENDAR, ITEM, alarm, series, triggers

UTC = datetime.UTC
SENDER = "calendar@example.org"


def ts(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()


START = ts("2026-03-01 12:00")


@pytest.fixture
def family(tmp_path) -> Iterator[tuple[Server, int]]:
    port = free_port()
    server = notice_server(tmp_path / "server", smtp_server="127.0.0.1", smtp_port=str(port),
                           from_email=SENDER).start()
    assert server.request("MKCALENDAR", f"/alice/{quote(CALENDAR)}/", "alice").status_code == 201
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "bob", "--role", "collaborator")
    for user in ("carol", "dave"):
        server.ok("share", "add", f"alice/{CALENDAR}", "--user", user, "--role", "subscriber")
    for user in ("alice", "bob", "carol", "dave"):
        server.ok("notices", "email", f"{user}@example.org", acting_as=user)
    server.ok("reminders", "own", "on", acting_as="alice")
    yield server, port
    server.stop()


def put(server: Server, user: str, text: str):
    where = CALENDAR if user == "alice" else f"{CALENDAR}~alice"
    answer = server.request("PUT", f"/{user}/{quote(where)}/{quote(ITEM)}", user, text, headers=ICS)
    assert answer.status_code in (201, 204), answer.text
    return answer


def told(mailbox: Mailbox) -> list[tuple[str, str]]:
    """(recipient, subject) of each reminder e-mail, in order."""
    return [(m["To"], m["Subject"]) for m in mailbox.messages if m["Subject"].startswith("Reminder:")]


def test_each_person_is_reminded_at_their_own_trigger(family: tuple[Server, int]) -> None:
    server, port = family
    clock = FakeClock(START)
    mailbox = Mailbox()
    with smtp_server(mailbox, port):
        worker = worker_of(server, clock)
        put(server, "alice", series(master=alarm("-PT30M"), moved=alarm("-PT30M")))
        put(server, "bob", series(master=alarm("-PT2H"), moved=alarm("-PT2H")))
        put(server, "carol", series(master=alarm("-PT10M"), moved=alarm("-PT1H")))
        worker.run_until_idle()
        training = "Fußball 🎉 training on Mon 2 Mar 17:00 in 家庭"
        expected = [  # the first training: 17:00 in Berlin is 16:00 UTC
            ("2026-03-02 13:59", []),
            ("2026-03-02 14:00", [("bob@example.org", f"Reminder: {training} (alice)")]),
            ("2026-03-02 15:29", []),
            ("2026-03-02 15:30", [("alice@example.org", f"Reminder: {training}"),
                                  ("dave@example.org", f"Reminder: {training} (alice)")]),
            ("2026-03-02 15:50", [("carol@example.org", f"Reminder: {training} (alice)")]),
        ]
        for moment, now_told in expected:
            mailbox.messages.clear()
            clock.now = ts(moment)
            worker.run_until_idle()
            assert sorted(told(mailbox)) == sorted(now_told), moment
        # the moved occurrence (Tuesday 24 March, 18:00 in Berlin = 17:00 UTC): carol's own one-hour alarm
        clock.now = ts("2026-03-24 15:30")
        worker.run_until_idle()
        assert [to for to, _ in told(mailbox)][-1:] == ["bob@example.org"], "bob's two hours before"
        mailbox.messages.clear()
        clock.now = ts("2026-03-24 16:00")
        worker.run_until_idle()
        assert [to for to, _ in told(mailbox)] == ["carol@example.org"]
    # the notification collection says the same: dave has alice's alarms, one reminder
    assert [t for t in change_texts(server, "dave") if "Mon 2 Mar" in t] == [f"Reminder: {training} (alice)"]


def test_a_person_who_leaves_loses_their_alarms_and_is_no_longer_reminded(family: tuple[Server, int]) -> None:
    server, port = family
    clock = FakeClock(START)
    worker = worker_of(server, clock)
    put(server, "alice", series(master=alarm("-PT30M"), moved=alarm("-PT30M")))
    put(server, "carol", series(master=alarm("-PT3H"), moved=alarm("-PT3H")))
    worker.run_until_idle()
    server.ok("share", "remove", f"alice/{CALENDAR}", "--user", "carol")
    clock.advance(120)   # the worker looks for people who left once a minute
    worker.run_until_idle()
    server.ok("share", "add", f"alice/{CALENDAR}", "--user", "carol", "--role", "subscriber")
    seen = server.request("GET", f"/carol/{quote(CALENDAR)}~alice/{quote(ITEM)}", "carol")
    assert triggers(seen.text) == {"": ["-PT30M"], "0323": ["-PT30M"]}, "back again: alice's alarms"
    mailbox = Mailbox()
    with smtp_server(mailbox, port):
        clock.now = ts("2026-03-02 13:00")   # carol's old three-hour alarm would be now
        worker.run_until_idle()
        assert told(mailbox) == []
        clock.now = ts("2026-03-02 15:30")
        worker.run_until_idle()
        assert sorted(to for to, _ in told(mailbox)) == [f"{u}@example.org" for u in ("alice", "bob", "carol", "dave")]


OLD_SCHEDULE = """CREATE TABLE reminder_schedule (
    id INTEGER PRIMARY KEY, collection TEXT NOT NULL, item TEXT NOT NULL, uid TEXT NOT NULL,
    occurrence TEXT NOT NULL, alarm TEXT NOT NULL, fire_at REAL NOT NULL, starts_at REAL NOT NULL,
    summary TEXT NOT NULL, start_text TEXT NOT NULL, start_tzid TEXT,
    state TEXT NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'sent', 'skipped')),
    UNIQUE (collection, item, uid, occurrence, alarm))"""
OLD_SENT = """CREATE TABLE reminders_sent (
    collection TEXT NOT NULL, uid TEXT NOT NULL, occurrence TEXT NOT NULL, alarm TEXT NOT NULL,
    sent_at REAL NOT NULL, notice_id INTEGER, PRIMARY KEY (collection, uid, occurrence, alarm))"""


def test_a_database_from_before_per_person_alarms_keeps_its_schedule_and_what_was_sent(
        family: tuple[Server, int]) -> None:
    server, _port = family
    clock = FakeClock(START)
    put(server, "alice", series(master=alarm("-PT30M"), moved=alarm("-PT30M")))
    worker_of(server, clock).run_until_idle()
    clock.now = ts("2026-03-02 15:30")
    worker_of(server, clock).run_until_idle()       # the first training's reminder is sent
    columns = "id, collection, item, uid, occurrence, alarm, fire_at, starts_at, summary, start_text, start_tzid, state"
    with server.sharing_db() as db:           # as a database written before this feature looks
        planned = db.execute(f"SELECT {columns} FROM reminder_schedule ORDER BY id").fetchall()
        sent = db.execute("SELECT collection, uid, occurrence, alarm, sent_at, notice_id"
                          " FROM reminders_sent").fetchall()
        assert planned and sent
        db.execute("DROP TABLE reminder_schedule")
        db.execute("DROP TABLE reminders_sent")
        db.execute(OLD_SCHEDULE)
        db.execute(OLD_SENT)
        db.executemany(f"INSERT INTO reminder_schedule({columns}) VALUES ({','.join('?' * 12)})", planned)
        db.executemany("INSERT INTO reminders_sent VALUES (?, ?, ?, ?, ?, ?)", sent)
    before = len(change_texts(server, "dave"))
    worker_of(server, clock, name="after-upgrade").run_until_idle()
    with server.sharing_db() as db:
        assert db.execute(f"SELECT {columns} FROM reminder_schedule ORDER BY id").fetchall() == planned
        assert db.execute("SELECT collection, uid, occurrence, alarm, sent_at, notice_id, person"
                          " FROM reminders_sent").fetchall() == [(*row, "") for row in sent]
    assert len(change_texts(server, "dave")) == before, "nothing sent twice"
    put(server, "bob", series(master=alarm("-PT2H"), moved=alarm("-PT2H")))
    clock.now = ts("2026-03-09 14:00")
    worker_of(server, clock, name="after-upgrade").run_until_idle()
    assert [t for t in change_texts(server, "bob") if "Mon 9 Mar" in t], "bob's own alarm reminds him"
