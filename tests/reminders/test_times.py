"""When reminders are due: VALARM triggers on single and recurring events, time zones, bad input."""

from __future__ import annotations

import datetime

import pytest

from radicale_ext.reminders import times
from radicale_ext.reminders.times import expand, without_known_zones

from ..test_real_calendars import _load_generator

UTC = datetime.UTC


def ts(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()


def utc(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M")


def calendar(*events: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n"


def vevent(uid: str, start: str, *, tzid: str | None = "Europe/Berlin", lines: str = "DURATION:PT1H\r\n",
           alarms: tuple[str, ...] = ("TRIGGER:-PT15M",), summary: str = "Practice") -> str:
    dtstart = f"DTSTART;TZID={tzid}:{start}" if tzid else (f"DTSTART;VALUE=DATE:{start}" if len(start) == 8
                                                            else f"DTSTART:{start}")
    body = "".join(f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\n{a}\r\nEND:VALARM\r\n" for a in alarms)
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{dtstart}\r\n{lines}SUMMARY:{summary}\r\n"
            f"{body}END:VEVENT\r\n")


def fires(text: str, start: str = "2026-01-01 00:00", days: int = 400, **kwargs) -> list[str]:
    result = expand(text, start=ts(start), end=ts(start) + days * 86400, max_occurrences=kwargs.pop("cap", 1000),
                    **kwargs)
    assert not result.problems, result.problems
    return sorted(utc(d.fire_at) for d in result.due)


def test_relative_to_start_and_end_before_and_after() -> None:
    text = calendar(vevent("a", "20260305T180000", lines="DTEND;TZID=Europe/Berlin:20260305T200000\r\n",
                           alarms=("TRIGGER:-PT15M", "TRIGGER:PT10M", "TRIGGER;RELATED=END:-PT5M",
                                   "TRIGGER;RELATED=END:PT30M")))
    # 18:00 CET = 17:00 UTC; the end 20:00 CET = 19:00 UTC
    assert fires(text) == ["2026-03-05 16:45", "2026-03-05 17:10", "2026-03-05 18:55", "2026-03-05 19:30"]


def test_absolute_trigger_is_a_utc_instant() -> None:
    text = calendar(vevent("a", "20260305T180000", alarms=("TRIGGER;VALUE=DATE-TIME:20260304T090000Z",)))
    assert fires(text) == ["2026-03-04 09:00"]


def test_all_day_and_floating_events_happen_in_the_calendars_zone_not_the_servers() -> None:
    all_day = calendar(vevent("d", "20260305", tzid=None, lines="", alarms=("TRIGGER:-PT15H",)))
    # midnight of 5 March in New York (EST, UTC-5) is 05:00 UTC; 15 hours before: 14:00 UTC on the 4th
    assert fires(all_day, floating_zone="America/New_York") == ["2026-03-04 14:00"]
    assert fires(all_day, floating_zone="Europe/Berlin") == ["2026-03-04 08:00"]
    floating = calendar(vevent("f", "20260305T090000", tzid=None, alarms=("TRIGGER:-PT30M",)))
    assert fires(floating, floating_zone="Europe/Berlin") == ["2026-03-05 07:30"]
    assert fires(floating) == ["2026-03-05 08:30"], "no zone known: UTC, never the server's own"


def test_weekly_series_with_an_exdate_and_a_moved_occurrence() -> None:
    text = calendar(
        vevent("w", "20260302T180000", lines="DURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n"
               "EXDATE;TZID=Europe/Berlin:20260309T180000\r\n"),
        # the third practice moved a day later and an hour earlier, with its own reminder
        "BEGIN:VEVENT\r\nUID:w\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260316T180000\r\n"
        "DTSTART;TZID=Europe/Berlin:20260317T170000\r\nDURATION:PT1H\r\nSUMMARY:Practice (moved)\r\n"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT1H\r\nEND:VALARM\r\nEND:VEVENT\r\n")
    result = expand(text, start=ts("2026-03-01 00:00"), end=ts("2026-05-01 00:00"), max_occurrences=100)
    assert sorted((utc(d.fire_at), d.summary) for d in result.due) == [
        ("2026-03-02 16:45", "Practice"),
        ("2026-03-17 15:00", "Practice (moved)"),
        ("2026-03-23 16:45", "Practice"),
    ]


def test_a_weekly_series_keeps_its_local_time_across_dst_in_berlin_and_new_york() -> None:
    berlin = calendar(vevent("b", "20260319T180000", lines="DURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n"))
    # Europe/Berlin changes on 29 March: 18:00 is 17:00 UTC before, 16:00 UTC after
    assert fires(berlin) == ["2026-03-19 16:45", "2026-03-26 16:45", "2026-04-02 15:45"]
    york = calendar(vevent("n", "20260301T090000", tzid="America/New_York",
                           lines="DURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n", alarms=("TRIGGER:-P1D",)))
    # New York changes on 8 March: 09:00 EST = 14:00 UTC, 09:00 EDT = 13:00 UTC; "1 day before" is
    # 09:00 the day before on the wall clock, so the reminder of 8 March is at 09:00 EST on the 7th
    assert fires(york) == ["2026-02-28 14:00", "2026-03-07 14:00", "2026-03-14 13:00"]


def test_a_calendars_default_reminder_adds_to_the_events_own_but_not_twice() -> None:
    text = calendar(vevent("a", "20260305T180000", alarms=("TRIGGER:-PT1H",)),
                    vevent("b", "20260306T180000", alarms=()))
    result = expand(text, start=ts("2026-03-01 00:00"), end=ts("2026-04-01 00:00"), max_occurrences=10,
                    default_alarms=[datetime.timedelta(hours=-1)])
    assert sorted((d.uid, utc(d.fire_at), d.alarm) for d in result.due) == [
        ("a", "2026-03-05 16:00", "start:-3600"), ("b", "2026-03-06 16:00", "default:-3600")]


def test_a_malformed_trigger_is_skipped_and_said_the_others_still_fire() -> None:
    text = calendar(vevent("m", "20260305T180000", alarms=("TRIGGER:soon please", "TRIGGER:-PT15M")))
    result = expand(text, start=ts("2026-03-01 00:00"), end=ts("2026-04-01 00:00"), max_occurrences=10)
    assert [utc(d.fire_at) for d in result.due] == ["2026-03-05 16:45"]
    assert len(result.problems) == 1 and "soon please" in result.problems[0]


def test_an_endless_series_costs_only_the_window() -> None:
    text = calendar(vevent("e", "20200106T180000", lines="DURATION:PT1H\r\nRRULE:FREQ=WEEKLY\r\n"))
    result = expand(text, start=ts("2026-03-01 00:00"), end=ts("2026-03-01 00:00") + 180 * 86400,
                    max_occurrences=1000)
    assert len(result.due) == 26 and result.recurring and not result.capped and not result.problems


def test_an_every_second_series_is_capped_and_said_once() -> None:
    text = calendar(vevent("s", "20260301T000000", lines="RRULE:FREQ=SECONDLY\r\n"),
                    vevent("ok", "20260305T180000"))
    result = expand(text, start=ts("2026-03-01 00:00"), end=ts("2026-03-01 00:00") + 180 * 86400,
                    max_occurrences=500)
    assert result.capped and len([d for d in result.due if d.uid == "s"]) <= 500
    assert [p for p in result.problems if "'s'" in p] and len(result.problems) == 1
    assert [utc(d.fire_at) for d in result.due if d.uid == "ok"] == ["2026-03-05 16:45"], "others unharmed"


def test_text_that_is_not_icalendar_is_a_problem_not_an_exception() -> None:
    result = expand("BEGIN:VCALENDAR\r\nthis is not", start=0, end=1e10, max_occurrences=10)
    assert result.due == [] and result.problems


# -- VTIMEZONEs icalendar does not read ----------------------------------------------------------------------

def vtimezone(tzid: str, offset: str = "+0500") -> str:
    """A one-part definition of ``tzid`` at ``offset`` (for a known zone: deliberately not its real one)."""
    return (f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
            f"TZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nTZNAME:X\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")


def test_definitions_of_zones_icalendar_knows_are_not_parsed_and_others_are_kept() -> None:
    berlin, mars = vtimezone("Europe/Berlin"), vtimezone("Mars/Olympus Mons 🚀")
    windows = vtimezone("W. Europe Standard Time", "+0100")
    folded = vtimezone("America/New_York").replace("TZID:America/New_York", "TZID:America/\r\n New_York")
    text = calendar(vevent("a", "20260305T180000")).replace("BEGIN:VEVENT", berlin + mars + windows + folded
                                                             + "BEGIN:VEVENT")
    kept = without_known_zones(text)
    assert "TZID:Europe/Berlin\r\n" not in kept and "New_York" not in kept
    assert mars in kept and windows in kept and "BEGIN:VEVENT" in kept and kept.endswith("END:VCALENDAR\r\n")
    assert without_known_zones(calendar(vevent("b", "20260305T180000"))) == calendar(vevent("b", "20260305T180000"))


def test_a_known_zone_is_read_from_the_zone_database_whatever_the_definition_says(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What icalendar does, which is why the definition need not be parsed: with every definition parsed,
    Berlin's times stay Berlin's even under a definition that says +05:00; a zone it does not know is read
    from the calendar's definition.  (Should icalendar start to honour such a definition, this fails and
    ``without_known_zones`` must go.)"""
    monkeypatch.setattr(times, "without_known_zones", lambda text: text)
    known = calendar(vtimezone("Europe/Berlin"), vevent("k", "20260305T180000"))
    assert fires(known) == ["2026-03-05 16:45"]          # 18:00 CET - 15 min, in UTC
    own = calendar(vtimezone("Mars/Olympus Mons 🚀"), vevent("o", "20260305T180000", tzid="Mars/Olympus Mons 🚀"))
    assert fires(own) == ["2026-03-05 12:45"]            # 18:00 at +05:00 - 15 min


def test_reminders_are_the_same_with_the_known_zones_definitions_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reminder of the real-calendars benchmark's events with alarms (zones of Berlin, New York and
    Shanghai with their definitions, UTC, all-day, series with EXDATEs and moved occurrences), and of
    events whose calendar defines a zone of its own or under a Windows name, planned with and without the
    definitions icalendar does not read."""
    events = [e.text(e.summary) for e in _load_generator().generate(400, seed=5).events]
    texts = [t for t in events if "BEGIN:VALARM" in t]
    texts.append(calendar(vtimezone("W. Europe Standard Time", "+0100"),
                          vevent("w", "20260305T180000", tzid="W. Europe Standard Time",
                                 lines="RRULE:FREQ=WEEKLY;COUNT=5\r\nDURATION:PT1H\r\n")))
    assert len(texts) > 100

    def plan(text: str) -> list[tuple]:
        result = expand(text, start=ts("2026-01-01 00:00"), end=ts("2027-06-01 00:00"), max_occurrences=500)
        return sorted((d.uid, d.occurrence, d.alarm, d.fire_at, d.summary, d.start_text, d.start_tzid)
                      for d in result.due) + sorted(result.problems)

    planned = [plan(text) for text in texts]
    monkeypatch.setattr(times, "without_known_zones", lambda text: text)
    assert [plan(text) for text in texts] == planned
    assert sum(map(len, planned)) > 500
