"""Reminders through a real server: who is reminded, once, on which channel; edits; restarts; bad input.

The worker runs in this process with the test's clock (no sleeping): events are put through HTTP,
the worker's step is called at chosen instants, and what people got is read back through their
notification collection, a real SMTP server on loopback and the command line.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from radicale_ext.notices.worker import Worker
from radicale_ext.reminders import scheduler

from ..notice_kit import FakeClock, Mailbox, change_texts, notice_server, smtp_server, worker_of
from ..server import Server, free_port

UTC = datetime.UTC
SENDER = "calendar@example.org"
CAP = 200


def ts(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()


START = ts("2026-03-02 12:00")


def event(uid: str, summary: str, start: str, *, lines: str = "", alarms: tuple[str, ...] = ("TRIGGER:-PT15M",),
          tzid: str = "Europe/Berlin") -> str:
    body = "".join(f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\n{a}\r\nEND:VALARM\r\n" for a in alarms)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tzid}:{start}\r\nDURATION:PT1H\r\n"
            f"SUMMARY:{summary}\r\n{lines}{body}END:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, sharing_database: str, smtp_port: int) -> Iterator[Server]:
    server = notice_server(tmp_path_factory.mktemp("reminders"), smtp_server="127.0.0.1", smtp_port=str(smtp_port),
                           from_email=SENDER, notices_reminder_max_occurrences=str(CAP)).start()
    yield server
    server.stop()


def calendar(srv: Server, name: str, *sharees: str) -> str:
    assert srv.request("MKCALENDAR", f"/alice/{name}/", "alice").status_code == 201
    for user in sharees:
        srv.ok("share", "add", f"alice/{name}", "--user", user, "--role", "subscriber")
    return f"/alice/{name}/"


def put(srv: Server, path: str, text: str, user: str = "alice") -> None:
    r = srv.request("PUT", path, user, text, headers={"Content-Type": "text/calendar"})
    assert r.status_code in (201, 204), (r.status_code, r.text)


def reminders(srv: Server, user: str, about: str) -> list[str]:
    return [t for t in change_texts(srv, user) if t.startswith("Reminder:") and about in t]


def test_people_with_the_calendar_are_reminded_once_the_muted_and_the_owner_are_not(srv: Server) -> None:
    clock = FakeClock(START)
    worker = worker_of(srv, clock)
    collection = calendar(srv, "club", "bob", "carol", "dave")
    srv.ok("reminders", "mute", "alice/club", acting_as="carol")
    put(srv, collection + "fp.ics", event("fp", "Football practice", "20260305T180000"))
    worker.run_until_idle()
    assert reminders(srv, "bob", "Football practice") == [], "not yet"
    clock.now = ts("2026-03-05 16:44")        # 18:00 in Berlin is 17:00 UTC; 15 minutes before
    worker.run_until_idle()
    assert reminders(srv, "bob", "Football practice") == []
    clock.now = ts("2026-03-05 16:45")
    worker.run_until_idle()
    expected = ["Reminder: Football practice on Thu 5 Mar 18:00 in club (alice)"]
    assert reminders(srv, "bob", "Football practice") == expected
    assert reminders(srv, "dave", "Football practice") == expected
    assert reminders(srv, "carol", "Football practice") == [], "muted"
    assert reminders(srv, "alice", "Football practice") == [], "owners opt in for their own calendars"
    clock.advance(600)
    worker.run_until_idle()
    assert reminders(srv, "bob", "Football practice") == expected, "never twice"


def daily_until(worker: Worker, clock: FakeClock, moment: str) -> None:
    """The worker's steps every day until ``moment``, and at it, as a server running all along takes them."""
    while clock.now + 86400 < ts(moment):
        clock.advance(86400)
        worker.run_until_idle()
    clock.now = ts(moment)
    worker.run_until_idle()


def reminded_once_at(srv: Server, worker: Worker, clock: FakeClock, moment: str, about: str, told: str) -> None:
    """Daily steps until five minutes before ``moment``: bob has no reminder ``about`` it yet; at ``moment`` he is
    told ``told``; an hour later, still once."""
    daily_until(worker, clock, datetime.datetime.fromtimestamp(ts(moment) - 300, UTC).strftime("%Y-%m-%d %H:%M"))
    assert reminders(srv, "bob", about) == [], "not yet"
    clock.now = ts(moment)
    worker.run_until_idle()
    assert reminders(srv, "bob", about) == [told]
    clock.advance(3600)
    worker.run_until_idle()
    assert len(reminders(srv, "bob", about)) == 1, "never twice"


def test_a_one_off_event_further_ahead_than_the_window_is_reminded_when_its_time_comes(srv: Server) -> None:
    """The schedule is kept 180 days ahead (``notices_reminder_window``); a wedding put in the calendar
    ten months ahead, and a dentist's appointment just inside the window, are both reminded, once, on
    time, with the worker running every day in between as it does."""
    clock = FakeClock(START)
    worker = worker_of(srv, clock)
    collection = calendar(srv, "Hochzeit Müller 家庭", "bob")
    put(srv, collection + "wedding.ics", event("wedding", "Hochzeit von Jürgen 🎉", "20270115T140000"))
    put(srv, collection + "dentist.ics", event("dentist", "Zahnarzt", "20260825T090000"))
    worker.run_until_idle()

    daily_until(worker, clock, "2026-08-25 06:45")             # 09:00 in Berlin is 07:00 UTC in summer
    assert reminders(srv, "bob", "Zahnarzt") == [
        "Reminder: Zahnarzt on Tue 25 Aug 09:00 in Hochzeit Müller 家庭 (alice)"]
    # 14:00 in Berlin is 13:00 UTC in winter; 15 minutes before
    reminded_once_at(srv, worker, clock, "2027-01-15 12:45", "Hochzeit", "Reminder: Hochzeit von Jürgen 🎉 on Fri "
                     "15 Jan 14:00 in Hochzeit Müller 家庭 (alice)")


def test_an_imported_calendar_expands_only_what_can_still_remind_and_a_far_series_comes_on_time(
        srv: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A family moving its calendar here imports last year's events: their reminders are all over, so
    none is parsed and expanded (reminders/bounds.py); next week's parents' evening is, and reminded on
    time; a weekly choir practice starting next January, beyond the 180-day window, is planned when the
    window reaches it and reminded at its first practice, once."""
    expanded: list[str] = []
    expand = scheduler.expand
    monkeypatch.setattr(scheduler, "expand", lambda text, **kw: expanded.append(text) or expand(text, **kw))
    clock = FakeClock(START)                                   # 2 March 2026
    worker = worker_of(srv, clock)
    collection = calendar(srv, "Umzug Müller 搬家", "bob")
    for week in range(40):
        day = datetime.date(2025, 1, 6) + datetime.timedelta(weeks=week)
        put(srv, collection + f"alt {week}.ics", event(f"alt-{week}", f"Termin {week} 旧", f"{day:%Y%m%d}T170000"))
    put(srv, collection + "kurs.ics", event("kurs", "Kurs", "20250106T090000",
                                            lines="RRULE:FREQ=WEEKLY;COUNT=10\r\n"))
    put(srv, collection + "elternabend.ics", event("elternabend", "Elternabend 家长会", "20260305T190000"))
    put(srv, collection + "chor.ics", event("chor", "Chorprobe 合唱", "20270112T190000",
                                            lines="RRULE:FREQ=WEEKLY\r\n"))
    worker.run_until_idle()
    assert [text for text in expanded if "UID:alt-" in text or "UID:kurs" in text] == []
    assert ["UID:elternabend" in text for text in expanded] == [True]
    clock.now = ts("2026-03-05 17:45")                         # 19:00 in Berlin is 18:00 UTC in March
    worker.run_until_idle()
    assert reminders(srv, "bob", "Elternabend") == ["Reminder: Elternabend 家长会 on Thu 5 Mar 19:00 in "
                                                    "Umzug Müller 搬家 (alice)"]
    reminded_once_at(srv, worker, clock, "2027-01-12 17:45", "Chorprobe",
                     "Reminder: Chorprobe 合唱 on Tue 12 Jan 19:00 in Umzug Müller 搬家 (alice)")


def test_an_owner_who_opts_in_is_reminded_of_their_own_calendar(srv: Server) -> None:
    clock = FakeClock(START)
    worker = worker_of(srv, clock)
    collection = calendar(srv, "own")
    srv.ok("reminders", "own", "on", acting_as="alice")
    try:
        put(srv, collection + "d.ics", event("d", "Dentist", "20260306T090000"))
        worker.run_until_idle()
        clock.now = ts("2026-03-06 07:45")
        worker.run_until_idle()
        assert reminders(srv, "alice", "Dentist") == ["Reminder: Dentist on Fri 6 Mar 09:00 in own"]
    finally:
        srv.ok("reminders", "own", "off", acting_as="alice")


def test_an_event_moved_or_deleted_before_its_reminder_changes_or_cancels_it(srv: Server) -> None:
    clock = FakeClock(START)
    worker = worker_of(srv, clock)
    collection = calendar(srv, "edits", "bob")
    put(srv, collection + "m.ics", event("m", "Match", "20260305T180000"))
    put(srv, collection + "c.ics", event("c", "Cancelled training", "20260305T180000"))
    worker.run_until_idle()
    put(srv, collection + "m.ics", event("m", "Match", "20260306T200000"))      # moved a day and two hours
    assert srv.request("DELETE", collection + "c.ics", "alice").status_code in (200, 204)
    worker.run_until_idle()
    clock.now = ts("2026-03-05 16:50")
    worker.run_until_idle()
    assert reminders(srv, "bob", "Match") == [] and reminders(srv, "bob", "Cancelled") == []
    clock.now = ts("2026-03-06 18:45")
    worker.run_until_idle()
    assert reminders(srv, "bob", "Match") == ["Reminder: Match on Fri 6 Mar 20:00 in edits (alice)"]


def test_after_a_stop_reminders_within_the_grace_are_sent_once_older_ones_skipped_and_logged(
        srv: Server, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(START)
    worker = worker_of(srv, clock)
    collection = calendar(srv, "restart", "bob")
    put(srv, collection + "old.ics", event("old", "Long ago", "20260303T180000"))
    put(srv, collection + "new.ics", event("new", "Just now", "20260304T180000"))
    worker.run_until_idle()
    # the worker stops; a new one starts 45 minutes after the second reminder (grace: one hour)
    clock.now = ts("2026-03-04 16:45") + 45 * 60
    restarted = worker_of(srv, clock, name="after-restart")
    with caplog.at_level(logging.WARNING, logger="radicale_ext.reminders"):
        restarted.run_until_idle()
    assert reminders(srv, "bob", "Just now") == ["Reminder: Just now on Wed 4 Mar 18:00 in restart (alice)"]
    assert reminders(srv, "bob", "Long ago") == []
    assert any("skipped the reminder of 'Long ago'" in r.getMessage() for r in caplog.records)
    worker_of(srv, clock, name="third").run_until_idle()
    assert len(reminders(srv, "bob", "Just now")) == 1


def test_two_workers_at_once_send_each_reminder_once(srv: Server) -> None:
    clock = FakeClock(START)
    collection = calendar(srv, "race", "bob")
    for n in range(5):
        put(srv, collection + f"r{n}.ics", event(f"r{n}", f"Race {n}", "20260307T100000"))
    worker_of(srv, clock).run_until_idle()
    clock.now = ts("2026-03-07 08:50")
    workers = [worker_of(srv, clock, name=f"w{i}", own_database=True) for i in range(2)]
    barrier = threading.Barrier(2)

    def run(w) -> None:
        barrier.wait()
        w.run_until_idle()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(reminders(srv, "bob", "Race")) == [f"Reminder: Race {n} on Sat 7 Mar 10:00 in race (alice)"
                                                     for n in range(5)]


def test_a_reminder_arrives_by_email_through_a_real_smtp_server(srv: Server, smtp_port: int) -> None:
    clock = FakeClock(START)
    collection = calendar(srv, "mailed", "erin")
    srv.ok("notices", "email", "erin@example.org", acting_as="erin")
    srv.ok("notices", "timezone", "America/New_York", acting_as="erin")
    mailbox = Mailbox()
    with smtp_server(mailbox, smtp_port):
        worker = worker_of(srv, clock)
        put(srv, collection + "q.ics", event("q", "Quiz night", "20260308T190000"))
        worker.run_until_idle()
        mailbox.messages.clear()
        clock.now = ts("2026-03-08 17:45")
        worker.run_until_idle()
    [message] = [m for m in mailbox.messages if m["Subject"].startswith("Reminder:")]
    assert message["To"] == "erin@example.org"
    # 19:00 in Berlin (CET, 18:00 UTC) is 14:00 in New York (EDT since 8 March): the reader's zone
    assert message["Subject"] == "Reminder: Quiz night on Sun 8 Mar 14:00 in mailed (alice)"
    assert message["Message-ID"].startswith("<n")


def test_a_reminder_by_email_in_chinese_for_a_person_who_chose_chinese(srv: Server, smtp_port: int) -> None:
    clock = FakeClock(START)
    collection = calendar(srv, "zh-mailed", "grace")
    srv.ok("notices", "email", "grace@example.org", acting_as="grace")
    srv.ok("notices", "timezone", "Asia/Shanghai", acting_as="grace")
    srv.ok("notices", "language", "zh_Hans", acting_as="grace")
    mailbox = Mailbox()
    with smtp_server(mailbox, smtp_port):
        worker = worker_of(srv, clock)
        put(srv, collection + "k.ics", event("k", "Karaoke", "20260308T190000"))
        worker.run_until_idle()
        mailbox.messages.clear()
        clock.now = ts("2026-03-08 17:45")
        worker.run_until_idle()
    [message] = [m for m in mailbox.messages if m["To"] == "grace@example.org"]
    # 19:00 in Berlin (18:00 UTC) is 02:00 the next day in Shanghai: the reader's zone, the Chinese way
    assert message["Subject"] == "提醒：3月9日周一 02:00 “Karaoke”（zh-mailed (alice)）"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("grace，您好：") and "2026年3月9日 01:45:00" in text, "sent at 17:45 UTC, told in Shanghai"
    assert [t for t in change_texts(srv, "grace") if "Karaoke" in t] == [message["Subject"]], \
        "the notification collection speaks Chinese to her too"


def test_a_calendars_default_reminder_is_set_by_its_owner_only(srv: Server) -> None:
    clock = FakeClock(START)
    worker = worker_of(srv, clock)
    collection = calendar(srv, "defaults", "bob")
    refused = srv.cli("reminders", "default", "alice/defaults", "1h", acting_as="bob")
    assert refused.code == 1 and refused.err.count("\n") == 1 and "only alice" in refused.err
    srv.ok("reminders", "default", "alice/defaults", "1h", acting_as="alice")
    put(srv, collection + "n.ics", event("n", "No alarm of its own", "20260309T180000", alarms=()))
    worker.run_until_idle()
    clock.now = ts("2026-03-09 16:00")
    worker.run_until_idle()
    assert reminders(srv, "bob", "No alarm") == ["Reminder: No alarm of its own on Mon 9 Mar 18:00 in "
                                                 "defaults (alice)"]


def test_the_cli_lists_a_persons_next_reminders_of_a_weekly_series(srv: Server) -> None:
    clock = FakeClock(START)
    worker = worker_of(srv, clock)
    collection = calendar(srv, "weekly", "frank")
    put(srv, collection + "w.ics", event("w", "Choir", "20260310T190000", lines="RRULE:FREQ=WEEKLY\r\n"
                                         "EXDATE;TZID=Europe/Berlin:20260317T190000\r\n"))
    worker.run_until_idle()
    rows = json.loads(srv.ok("--json", "reminders", "upcoming", "--limit", "3", "--now", str(START),
                             acting_as="frank"))
    assert [r["fire_at"] for r in rows] == ["2026-03-10 17:45 UTC", "2026-03-24 17:45 UTC", "2026-03-31 16:45 UTC"]
    assert {r["calendar"] for r in rows} == {"/frank/weekly~alice/"}
    srv.ok("reminders", "mute", "alice/weekly", acting_as="frank")
    assert json.loads(srv.ok("--json", "reminders", "upcoming", "--now", str(START), acting_as="frank")) == []
    bad = srv.cli("reminders", "upcoming", "--limit", "0", acting_as="frank")
    assert bad.code == 1 and bad.err.startswith("radicale-ext: error:")


def test_bad_input_is_stored_logged_and_bounded_and_the_server_stays_healthy(
        srv: Server, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(START)
    worker = worker_of(srv, clock)
    collection = calendar(srv, "bad", "bob")
    put(srv, collection + "t.ics", event("t", "Odd trigger", "20260305T180000",
                                         alarms=("TRIGGER;VALUE=DATE-TIME:20260305T170000", "TRIGGER:-PT5M")))
    put(srv, collection + "e.ics", event("e", "Endless", "20200101T180000", lines="RRULE:FREQ=DAILY\r\n"))
    # hourly: more than the cap in the window (a series repeating every 10 minutes or more often is refused
    # at PUT since issue 13, tests/edge/test_recurrence_limits.py)
    put(srv, collection + "s.ics", event("s", "Every hour", "20260310T130000", lines="RRULE:FREQ=HOURLY\r\n"))
    with caplog.at_level(logging.WARNING, logger="radicale_ext.reminders"):
        worker.run_until_idle()
    messages = [r.getMessage() for r in caplog.records]
    assert any("20260305T170000' is neither" in m for m in messages), "an absolute trigger must be UTC"
    assert len([m for m in messages if "'s'" in m and f"only {CAP} occurrences" in m]) == 1, "said once"
    for href in ("t.ics", "e.ics", "s.ics"):
        assert srv.request("GET", collection + href, "alice").status_code == 200, "stored"
    upcoming = json.loads(srv.ok("--json", "reminders", "upcoming", "--limit", "1000", "--now", str(START),
                                 acting_as="bob"))
    assert 0 < len([r for r in upcoming if r["uid"] == "s"]) <= CAP
    assert len([r for r in upcoming if r["uid"] == "e"]) == 180, "the endless series: the window only"
    assert [r["fire_at"] for r in upcoming if r["uid"] == "t"] == ["2026-03-05 16:55 UTC"]
    assert srv.request("PROPFIND", "/bob/", "bob", headers={"Depth": "1"}).status_code == 207


def test_the_first_pass_plans_in_batches_and_misses_nothing(tmp_path) -> None:
    """A large first start is planned a batch per worker step; an event changed
    half-way through the pass is planned again, at its new time, afterwards."""
    server = notice_server(tmp_path / "first").start()
    try:
        collection = calendar(server, "big", "bob")
        for n in range(7):
            put(server, collection + f"b{n}.ics", event(f"b{n}", f"Batch {n}", "20260310T100000"))
        scheduler = worker_of(server, FakeClock(START)).reminders
        assert scheduler is not None
        assert scheduler.plan_everything(START, 3) == 3
        assert scheduler._watermark() is None
        put(server, collection + "b0.ics", event("b0", "Batch 0 moved", "20260311T100000"))
        assert scheduler.plan_everything(START, 3) == 3
        assert scheduler.plan_everything(START, 3) == 1
        assert scheduler._watermark() is not None
        worker_of(server, FakeClock(START)).run_until_idle()
        db = server.sharing_db()
        try:
            rows = dict(db.execute("SELECT item, MIN(fire_at) FROM reminder_schedule WHERE collection = ?"
                                   " GROUP BY item", (collection,)).fetchall())
        finally:
            db.close()
        assert sorted(rows) == [f"b{n}.ics" for n in range(7)]
        assert rows["b0.ics"] == ts("2026-03-11 08:45")
        assert rows["b1.ics"] == ts("2026-03-10 08:45")
    finally:
        server.stop()
