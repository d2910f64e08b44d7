"""What of an event is each person's own (radicale_ext/sharing/personal_parts.py), on the texts clients send:
Thunderbird's dismissed reminder, a date written in UTC or with its TZID, folded lines, an override added
only to carry one occurrence's alarm, and what a sharee's write leaves in the owner's file."""

from __future__ import annotations

import icalendar

from radicale_ext.sharing import personal_parts

ALARM = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Fußball 🎉\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"


def calendar(body: str) -> str:
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n"


def event(lines: str = "", *, start: str = "DTSTART;TZID=Europe/Berlin:20260302T170000") -> str:
    return ("BEGIN:VEVENT\r\nUID:fussball\r\nDTSTAMP:20260101T000000Z\r\n"
            f"{start}\r\nDURATION:PT1H30M\r\nSUMMARY:Fußball 🎉 training\r\n{lines}END:VEVENT\r\n")


def test_what_clients_rewrite_and_alarm_bookkeeping_are_no_shared_change() -> None:
    stored = calendar(event(ALARM))
    thunderbird = calendar(event("LAST-MODIFIED:20260302T160100Z\r\nX-MOZ-LASTACK:20260302T160100Z\r\n"
                                 "X-MOZ-GENERATION:3\r\nTRANSP:TRANSPARENT\r\n").replace(
        "DTSTAMP:20260101T000000Z", "DTSTAMP:20260302T160100Z"))
    assert personal_parts.same_shared(thunderbird, stored)
    utc = calendar(event(start="DTSTART:20260302T160000Z"))
    assert personal_parts.same_shared(utc, stored), "the same instant written in UTC"
    folded = stored.replace("SUMMARY:Fußball 🎉 training", "SUMMARY:Fußball 🎉\r\n  training")
    assert personal_parts.same_shared(folded, stored)
    assert not personal_parts.same_shared(stored.replace("training", "match"), stored)
    assert not personal_parts.same_shared(stored.replace("PT1H30M", "PT2H"), stored)


def test_an_override_that_only_carries_an_alarm_is_personal_and_not_written_to_the_file() -> None:
    series = event("RRULE:FREQ=WEEKLY;BYDAY=MO\r\n" + ALARM)
    stored = calendar(series)
    own = ("BEGIN:VEVENT\r\nUID:fussball\r\nDTSTAMP:20260101T000000Z\r\n"
           "RECURRENCE-ID:20260309T160000Z\r\nDTSTART:20260309T160000Z\r\nDURATION:PT1H30M\r\n"
           "SUMMARY:Fußball 🎉 training\r\nBEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER:-PT1H\r\nEND:VALARM\r\n"
           "END:VEVENT\r\n")
    sent = calendar(series + own)
    assert personal_parts.same_shared(sent, stored)
    assert not personal_parts.same_shared(calendar(series + own.replace("SUMMARY:Fußball 🎉 training",
                                                                        "SUMMARY:abgesagt")), stored)
    parts = personal_parts.parts_of(sent)
    seen = icalendar.Calendar.from_ical(personal_parts.seen_by(stored, parts))
    overrides = [c for c in seen.walk("VEVENT") if "RECURRENCE-ID" in c]
    assert len(overrides) == 1 and overrides[0].walk("VALARM")[0]["TRIGGER"].to_ical() == b"-PT1H"
    # a collaborator who also renames the series: the file gets the new name, alice's alarm, no override
    written = personal_parts.stored_with(sent.replace("Fußball 🎉 training", "Fußball 🎉 Training"), stored)
    kept = icalendar.Calendar.from_ical(written).walk("VEVENT")
    assert len(kept) == 1 and str(kept[0]["SUMMARY"]) == "Fußball 🎉 Training"
    assert kept[0].walk("VALARM")[0]["TRIGGER"].to_ical() == b"-PT15M"


def test_an_occurrence_the_series_does_not_make_gets_no_override() -> None:
    stored = calendar(event("RRULE:FREQ=WEEKLY;BYDAY=MO\r\n"))
    parts = {"": "", "20260310T160000Z": "BEGIN:X-PERSONAL\r\n" + ALARM + "END:X-PERSONAL\r\n"}   # a Tuesday
    seen = icalendar.Calendar.from_ical(personal_parts.seen_by(stored, parts))
    assert [c for c in seen.walk("VEVENT") if "RECURRENCE-ID" in c] == []


def test_tasks_without_a_start_are_compared_without_an_error() -> None:
    series = ("BEGIN:VTODO\r\nUID:einkauf\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Einkaufen 🛒\r\n"
              "RRULE:FREQ=WEEKLY\r\nEND:VTODO\r\n")
    override = ("BEGIN:VTODO\r\nUID:einkauf\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;VALUE=DATE:20260309\r\n"
                f"SUMMARY:Einkaufen 🛒\r\n{ALARM}END:VTODO\r\n")
    assert personal_parts.same_shared(calendar(series + override), calendar(series + override))
    assert personal_parts.parts_of(calendar(series + override))["20260309"].count("BEGIN:VALARM") == 1
    # an override the task's series cannot make (it has no start): a change for everyone, not an error
    assert not personal_parts.same_shared(calendar(series + override), calendar(series))
