"""When notices and reminders leave, whatever came before (issue 13, item 1).

The target: a change notice leaves within ``notices_window`` + 5 s of the
change, and a reminder fires within 5 s of its time, after any stretch of
quiet.  Once with the server's own worker thread after a real idle gap of
tens of seconds; once with the test's clock for a quiet night (hours).
"""

from __future__ import annotations

import datetime
import itertools
import threading
import time
from collections.abc import Callable

from radicale_ext.notices import worker as worker_module
from radicale_ext.notices.worker import Yielding

from ..notice_kit import FakeClock, change_texts, notice_server, worker_of
from ..server import Server, make_server

UTC = datetime.UTC
WINDOW = 2.0
SLACK = 5.0
ICS = {"Content-Type": "text/calendar"}


def event(uid: str, summary: str, starts: float, alarm_at: float | None = None) -> str:
    """An event starting at ``starts`` (UTC seconds), with an absolute reminder at ``alarm_at``."""
    alarm = ("BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Bald geht's los\r\n"
             f"TRIGGER;VALUE=DATE-TIME:{_utc(alarm_at)}\r\nEND:VALARM\r\n") if alarm_at is not None else ""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{_utc(starts)}\r\nDURATION:PT1H\r\n"
            f"SUMMARY:{summary}\r\n{alarm}END:VEVENT\r\nEND:VCALENDAR\r\n")


def _utc(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%SZ")


def put(server: Server, path: str, text: str) -> None:
    r = server.request("PUT", path, "alice", text, headers=ICS)
    assert r.status_code in (201, 204), (r.status_code, r.text)


def arrival(server: Server, found: Callable[[list[str]], bool], within: float) -> float | None:
    """The time bob's notification collection first satisfies ``found`` (looking every 0.2 s), or None."""
    deadline = time.time() + within
    while time.time() < deadline:
        if found(change_texts(server, "bob")):
            return time.time()
        time.sleep(0.2)
    return None


def test_after_real_quiet_a_change_leaves_within_the_window_and_a_reminder_on_time(tmp_path) -> None:
    """The default worker (a thread of the server), a short window, and 30 s of real quiet between two changes."""
    server = make_server(tmp_path / "srv", hook={"notices_window": str(WINDOW)}).start()
    try:
        assert server.request("MKCALENDAR", "/alice/family/", "alice").status_code == 201
        server.ok("share", "add", "alice/family", "--user", "bob", "--role", "subscriber")
        put(server, "/alice/family/first.ics", event("first", "Fußballtraining", time.time() + 86400))
        put_at = time.time()
        first = arrival(server, lambda texts: any("Fußballtraining" in t for t in texts), 30)
        assert first is not None and first - put_at <= WINDOW + SLACK, server.log()

        time.sleep(30)   # real quiet: nobody changes anything

        alarm_at = float(int(time.time()) + 15)
        put(server, "/alice/family/dinner.ics", event("dinner", "家庭聚餐 🎉", alarm_at + 3600, alarm_at))
        put_at = time.time()
        told = arrival(server, lambda texts: any(t.startswith("Alice added 家庭聚餐 🎉") for t in texts),
                       WINDOW + SLACK + 1)
        assert told is not None, f"no notice within {WINDOW + SLACK} s of the change after 30 s of quiet"
        assert told - put_at <= WINDOW + SLACK
        reminded = arrival(server, lambda texts: any(t.startswith("Reminder: 家庭聚餐 🎉") for t in texts),
                           alarm_at + SLACK + 1 - time.time())
        assert reminded is not None, f"no reminder within {SLACK} s of its time"
        assert alarm_at <= reminded + 0.3 and reminded - alarm_at <= SLACK
    finally:
        server.stop()


class _TestTime:
    """What the worker module reads of ``time``, on the test's clock (a night passes in no time)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock()

    perf_counter = monotonic = thread_time = time

    def sleep(self, seconds: float) -> None:
        self._clock.advance(seconds)


class _Night:
    """The worker's stop event: each wait moves the test's clock; it notes when bob's notices arrive."""

    def __init__(self, server: Server, clock: FakeClock, until: float) -> None:
        self.server, self.clock, self.until = server, clock, until
        self.seen: dict[str, float] = {}

    def is_set(self) -> bool:
        return self.clock() >= self.until or len(self.seen) == 2

    def wait(self, seconds: float) -> bool:
        for text in change_texts(self.server, "bob"):
            for key in ("Alice moved Morgenlauf", "Reminder: Zahnarzt Müller"):
                if text.startswith(key):
                    self.seen.setdefault(key, self.clock())
        self.clock.advance(seconds)
        return self.is_set()


def test_after_a_quiet_night_morning_changes_and_reminders_are_on_time(tmp_path, monkeypatch) -> None:
    """A night of quiet on the test's clock: the worker thread's rests (Yielding) must not count it as work."""
    server = notice_server(tmp_path / "srv", notices_window="60", notices_poll="1").start()
    try:
        clock = FakeClock()                                # the evening
        monkeypatch.setattr(worker_module, "time", _TestTime(clock))
        worker = worker_of(server, clock, pause=Yielding())
        assert server.request("MKCALENDAR", "/alice/morning/", "alice").status_code == 201
        server.ok("share", "add", "alice/morning", "--user", "bob", "--role", "subscriber")
        morning = clock() + 9 * 3600                       # the next morning
        put(server, "/alice/morning/run.ics", event("run", "Morgenlauf", morning + 86400))
        put(server, "/alice/morning/dentist.ics", event("dentist", "Zahnarzt Müller", morning + 3600,
                                                        alarm_at=morning + 600))   # ten minutes later
        # the window of the last PUT closes 60 s after the server wrote it, by the server's clock: on a busy
        # machine the set-up alone can take more than a second of it
        clock.now = max(clock.now, time.time()) + 61
        worker.run_until_idle()                            # the evening's notices go out
        assert change_texts(server, "bob") == ["Alice made 2 changes to morning (alice)"]

        clock.now = morning                                # the night passes: the worker only waited
        put(server, "/alice/morning/run.ics", event("run", "Morgenlauf", morning + 2 * 86400))
        night = _Night(server, clock, until=morning + 2 * 3600)
        worker.run(night)
        assert "Alice moved Morgenlauf" in night.seen, "the morning's change was never told"
        assert night.seen["Alice moved Morgenlauf"] - morning <= 60 + SLACK
        assert "Reminder: Zahnarzt Müller" in night.seen, "the 07:10 reminder was dropped"
        assert night.seen["Reminder: Zahnarzt Müller"] - (morning + 600) <= SLACK
    finally:
        server.stop()


def test_a_reminder_beyond_the_window_fires_on_time_after_real_quiet(tmp_path) -> None:
    """A one-off event whose reminder lies beyond the schedule's window (here 4 s, where the default is 180
    days) when it is put: the server's own worker plans it as the window reaches it, and it fires on time."""
    window = 4.0
    server = make_server(tmp_path / "srv", hook={"notices_window": str(WINDOW), "notices_poll": "0.2",
                                                 "notices_reminder_window": repr(window / 86400)}).start()
    try:
        assert server.request("MKCALENDAR", "/alice/Geburtstag 家庭/", "alice").status_code == 201
        server.ok("share", "add", "alice/Geburtstag 家庭", "--user", "bob", "--role", "subscriber")
        alarm_at = time.time() + 3 * window
        put(server, "/alice/Geburtstag 家庭/oma.ics", event("oma", "Oma Müller 🎂", alarm_at + 3600, alarm_at))
        came = arrival(server, lambda texts: any(t.startswith("Reminder: Oma Müller 🎂") for t in texts),
                       within=3 * window + 2 * SLACK)
        assert came is not None, server.log()[-3000:]
        assert alarm_at - 1 <= came <= alarm_at + SLACK, (came - alarm_at)
    finally:
        server.stop()


def test_the_worker_thread_rests_after_each_busy_round(tmp_path) -> None:
    """The worker thread yields to its process's requests after every piece of work (Yielding: a third of
    the time at most is the worker's), a round that only composed notices or planned reminders included:
    before, only deliveries and a fan-out's chunks were followed by a rest, and a bulk import's reminder
    planning ran round after round without one."""
    server = notice_server(tmp_path / "srv").start()
    try:
        assert server.request("MKCALENDAR", "/alice/Familie Müller 家庭/", "alice").status_code == 201
        start = time.time() + 86400
        for n in range(3):   # alice's own calendar, shared with nobody: no delivery, no fan-out to anyone
            put(server, f"/alice/Familie Müller 家庭/termin-{n}.ics",
                event(f"termin-{n}-🎉", f"Termin {n} beim Zahnarzt Müller 🦷", start + 3600 * n, start - 600))
        seen: list[str] = []
        stop = threading.Event()
        worker = worker_of(server, pause=lambda: seen.append("rest"))
        step = worker.step

        def watched_step() -> worker_module.Progress:
            progress = step()
            seen.append("busy" if progress else "idle")
            if not progress:
                stop.set()
            return progress
        worker.step = watched_step   # type: ignore[method-assign]
        worker.run(stop)
        rounds = [what for what in seen if what != "rest"]
        assert rounds[-1] == "idle" and "busy" in rounds, seen
        assert all(after == "rest" for what, after in itertools.pairwise(seen) if what == "busy"), seen
    finally:
        server.stop()
