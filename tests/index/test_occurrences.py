"""A time-range query answered from an event's kept occurrences (radicale_ext/index/occurrences.py,
radicale_ext/plugins/occurrence_spans.py) is Radicale's own answer: random series (time zones with
daylight saving, all-day and floating, EXDATE, RDATE, moved occurrences, COUNT, UNTIL and no end) and
random windows (at DST changes, across UNTIL, long after the start), each decided both ways.

Where the index answers, the answer must be ``radicale.app.report.test_filter``'s; where it does not
(a window past the horizon), Radicale decides."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import vobject
from radicale import item as radicale_item
from radicale.app.report import test_filter as radicale_test_filter
from radicale.item import filter as radicale_filter

from radicale_ext.index.occurrences import MOST_SPANS, WHOLE, horizon, kept, overlaps
from radicale_ext.plugins import occurrence_spans
from radicale_ext.plugins.indexed_items import facts_of
from radicale_ext.plugins.occurrence_spans import event_window, occurrences_of, time_range_walking_once

BERLIN = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
          "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
          "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
          "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
NEW_YORK = ("BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:STANDARD\r\nDTSTART:19701101T020000\r\n"
            "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\n"
            "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"
            "TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
SHANGHAI = ("BEGIN:VTIMEZONE\r\nTZID:Asia/Shanghai\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
            "TZOFFSETFROM:+0800\r\nTZOFFSETTO:+0800\r\nTZNAME:CST\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")
ZONES = {"Europe/Berlin": BERLIN, "America/New_York": NEW_YORK, "Asia/Shanghai": SHANGHAI}
SUMMARIES = ["Fußball training", "家庭 dinner", "🎂 Geburtstag Jürgen", "Schulweg Müller"]
DST_EDGES = [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC),
             datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)]


def stamp(moment: datetime, zone: str | None) -> str:
    """``;TZID=...:20260305T083000``, ``:20260305T083000Z`` or a floating time."""
    if zone == "UTC":
        return f":{moment:%Y%m%dT%H%M%S}Z"
    if zone is None:
        return f":{moment:%Y%m%dT%H%M%S}"
    return f";TZID={zone}:{moment:%Y%m%dT%H%M%S}"


def random_event(rng: random.Random) -> str:
    zone = rng.choice([*ZONES, "UTC", None])
    all_day = rng.random() < 0.25
    start = datetime(rng.choice([1985, 2020, 2024, 2025, 2026, 2026, 2027]), rng.randrange(1, 13),
                     rng.randrange(1, 29), rng.choice([0, 1, 2, 3, 8, 17, 23]), rng.choice([0, 30]))
    uid = f"{rng.randrange(10**9)}@müller.example"
    if all_day:
        lines = [f"DTSTART;VALUE=DATE:{start:%Y%m%d}"]
        if rng.random() < 0.7:
            lines.append(f"DTEND;VALUE=DATE:{start + timedelta(days=rng.choice([1, 1, 3])):%Y%m%d}")
    else:
        lines = [f"DTSTART{stamp(start, zone)}"]
        shape = rng.choice(["dtend", "duration", "none"])
        if shape == "dtend":
            lines.append(f"DTEND{stamp(start + timedelta(minutes=rng.choice([30, 90, 600])), zone)}")
        elif shape == "duration":
            lines.append(f"DURATION:{rng.choice(['PT1H', 'PT45M', 'P1D', 'PT0S'])}")
    rule = rng.choice(["", "FREQ=DAILY;COUNT=20", "FREQ=WEEKLY", "FREQ=WEEKLY;BYDAY=MO,WE,FR",
                       "FREQ=WEEKLY;INTERVAL=2;UNTIL=20261225T000000Z", "FREQ=MONTHLY;BYMONTHDAY=15",
                       "FREQ=YEARLY", "FREQ=DAILY", "UNTIL=20270101T000000Z;FREQ=WEEKLY",
                       "FREQ=MONTHLY;COUNT=40;BYDAY=1SA"])
    if all_day and "UNTIL" in rule:
        rule = rule.replace("T000000Z", "")
    extra = ""
    if rule:
        lines.append(f"RRULE:{rule}")
        step = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 30, "YEARLY": 365}[rule.split("FREQ=")[1].split(";")[0]]
        if rng.random() < 0.5 and not rule.endswith("BYDAY=MO,WE,FR") and "MONTH" not in rule:
            excluded = start + timedelta(days=step * rng.randrange(1, 4))
            lines.append(f"EXDATE;VALUE=DATE:{excluded:%Y%m%d}" if all_day else f"EXDATE{stamp(excluded, zone)}")
        if rng.random() < 0.3:
            added = start + timedelta(days=rng.randrange(2, 40))
            lines.append(f"RDATE;VALUE=DATE:{added:%Y%m%d}" if all_day else f"RDATE{stamp(added, zone)}")
        if rng.random() < 0.3 and "MONTH" not in rule and "BYDAY" not in rule:
            moved_from = start + timedelta(days=step * rng.randrange(1, 3))
            moved_to = moved_from + timedelta(days=rng.choice([-40, 1, 200]), hours=2)
            if all_day:
                recurrence, when = f"RECURRENCE-ID;VALUE=DATE:{moved_from:%Y%m%d}", \
                    f"DTSTART;VALUE=DATE:{moved_to:%Y%m%d}"
            else:
                recurrence, when = f"RECURRENCE-ID{stamp(moved_from, zone)}", f"DTSTART{stamp(moved_to, zone)}"
            extra = (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{recurrence}\r\n{when}\r\n"
                     f"SUMMARY:moved\r\nEND:VEVENT\r\n")
    timezone = ZONES.get(zone or "", "")
    body = "\r\n".join([f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"SUMMARY:{rng.choice(SUMMARIES)}", *lines])
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{timezone}BEGIN:VEVENT\r\n{body}\r\n"
            f"END:VEVENT\r\n{extra}END:VCALENDAR\r\n")


def random_window(rng: random.Random) -> tuple[str | None, str | None]:
    kind = rng.random()
    if kind < 0.3:
        start = rng.choice(DST_EDGES) - timedelta(hours=rng.randrange(0, 30))
    elif kind < 0.9:
        start = datetime(rng.choice([1985, 2020, 2025, 2026, 2026, 2027, 2030]), rng.randrange(1, 13),
                         rng.randrange(1, 29), rng.randrange(0, 24), tzinfo=UTC)
    else:
        start = datetime(2060, 1, 5, tzinfo=UTC)   # past the horizon: Radicale decides
    end = start + timedelta(hours=rng.choice([1, 24, 24 * 7, 24 * 31]))
    first = None if rng.random() < 0.05 else f"{start:%Y%m%dT%H%M%S}Z"
    last = None if first is not None and rng.random() < 0.05 else f"{end:%Y%m%dT%H%M%S}Z"
    return first, last


def query(start: str | None, end: str | None) -> ET.Element:
    attrs = "".join(f' {name}="{value}"' for name, value in (("start", start), ("end", end)) if value)
    return ET.fromstring('<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp-filter name="VCALENDAR">'
                         f'<C:comp-filter name="VEVENT"><C:time-range{attrs}/></C:comp-filter>'
                         "</C:comp-filter></C:filter>")


def item_of(text: str) -> radicale_item.Item:
    return radicale_item.Item(collection_path="alice/家庭", vobject_item=vobject.readOne(text))


@pytest.mark.parametrize("seed", range(2))
def test_the_kept_occurrences_give_radicales_answer(seed: int) -> None:
    rng = random.Random(seed)
    answered = 0
    for _ in range(60):
        item = item_of(random_event(rng))
        occurrences = occurrences_of(item)
        start, end = item.time_range
        for _ in range(25):
            filter_ = query(*random_window(rng))
            window = event_window([filter_])
            assert window is not None
            answer = overlaps(occurrences, start, end, *window)
            if occurrences and memoryview(occurrences).cast("q")[0] < window[1]:
                assert answer is None   # past its horizon, a series is left to Radicale
            if answer is not None:
                answered += 1
                radicale_says = radicale_test_filter("VCALENDAR", item, filter_)
                assert answer == radicale_says, (item.serialize(), ET.tostring(filter_, encoding="unicode"))
    assert answered > 800   # most windows are answered from the index


def outcome(call, *args):   # noqa: ANN001, ANN201 - a value, or the kind of error raised
    try:
        return call(*args)
    except Exception as e:
        return type(e)


@pytest.mark.parametrize("seed", range(2))
def test_radicales_range_and_the_kept_occurrences_are_the_same_from_one_walk(seed: int) -> None:
    """:func:`time_range_walking_once` answers as Radicale's ``find_time_range`` does (or fails as it does),
    and the spans it keeps of the walk are those a walk of its own gives."""
    rng = random.Random(100 + seed)
    reused = 0
    for _ in range(80):
        text = random_event(rng)
        component = vobject.readOne(text)
        radicales = outcome(occurrence_spans._radicale_find_time_range, component, "VEVENT")
        assert outcome(time_range_walking_once, component, "VEVENT") == radicales, text
        walked = occurrence_spans._walked_for(component)
        reused += walked is not None
        if walked is not None:
            assert walked == occurrences_of(item_of(text)), text
    assert reused > 20   # the bounded series among them


def walks_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    walks: list[str] = []
    visit = radicale_filter.visit_time_ranges

    def counted(*args, **kwargs):   # noqa: ANN002, ANN003, ANN202
        walks.append(args[1])
        return visit(*args, **kwargs)
    monkeypatch.setattr(radicale_filter, "visit_time_ranges", counted)
    return walks


def test_a_new_bounded_series_is_walked_once_for_radicales_range_and_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PUT prepares the item (Radicale's range: the walk of a bounded series to its end) and then takes
    the index's facts: one walk, where there were two."""
    occurrence_spans.install()   # as the storage does
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + BERLIN_ZONE + "BEGIN:VEVENT\r\n"
            "UID:chorprobe-müller\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20261001T190000\r\n"
            "DTEND;TZID=Europe/Berlin:20261001T210000\r\nRRULE:FREQ=WEEKLY;COUNT=30\r\n"
            "EXDATE;TZID=Europe/Berlin:20261224T190000\r\nSUMMARY:Chorprobe 合唱 🎶\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n")
    endless_text = text.replace(";COUNT=30", "")
    fresh, endless_fresh = occurrences_of(item_of(text)), occurrences_of(item_of(endless_text))
    radicales = occurrence_spans._radicale_find_time_range(vobject.readOne(text), "VEVENT")
    walks = walks_counted(monkeypatch)
    item = item_of(text)
    item.prepare()
    facts = facts_of(item)
    assert walks == ["VEVENT"]
    assert facts.occurrences == fresh and len(fresh) == 8 * (3 + 2 * 29)
    assert (facts.start, facts.end) == radicales
    endless = item_of(endless_text)
    endless.prepare()   # Radicale's range stops at an endless rule's first occurrence: walked again for the index
    assert facts_of(endless).occurrences == endless_fresh
    assert walks == ["VEVENT"] * 3


def test_an_unbounded_series_is_kept_to_three_new_years_ahead_and_a_long_one_to_its_most_spans() -> None:
    weekly = item_of("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:w\r\n"
                     "DTSTAMP:20260101T000000Z\r\nDTSTART:20200106T080000Z\r\nDURATION:PT1H\r\n"
                     "RRULE:FREQ=WEEKLY\r\nSUMMARY:Schulweg\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    occurrences = occurrences_of(weekly)
    assert occurrences
    edge = datetime.fromtimestamp(horizon(), UTC)   # the new year three years ahead
    late = event_window([query(f"{edge - timedelta(days=7):%Y%m%dT%H%M%S}Z", f"{edge:%Y%m%dT%H%M%S}Z")])
    past = event_window([query(f"{edge:%Y%m%dT%H%M%S}Z", f"{edge + timedelta(days=7):%Y%m%dT%H%M%S}Z")])
    assert late is not None and past is not None
    assert overlaps(occurrences, 0, 0, *late) is True
    assert overlaps(occurrences, 0, 0, *past) is None
    minutely = item_of("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:m\r\n"
                       "DTSTAMP:20260101T000000Z\r\nDTSTART:20260106T080000Z\r\nRRULE:FREQ=MINUTELY\r\n"
                       "SUMMARY:zu oft\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    kept_spans = occurrences_of(minutely)
    assert kept_spans is not None
    assert len(kept_spans) == 8 * (3 + 2 * MOST_SPANS)   # bounded work, whatever the rule
    day_after = event_window([query("20260108T080000Z", "20260108T090000Z")])   # after 2,000 minutes
    assert day_after is not None and overlaps(kept_spans, 0, 0, *day_after) is None


def test_a_plain_event_is_its_own_span_and_other_queries_are_left_to_radicale() -> None:
    single = item_of("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:s\r\n"
                     "DTSTAMP:20260101T000000Z\r\nDTSTART:20260106T080000Z\r\nDTEND:20260106T090000Z\r\n"
                     "SUMMARY:家庭\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert occurrences_of(single) == b""
    todo = item_of("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:t\r\n"
                   "DTSTAMP:20260101T000000Z\r\nDUE:20260106T080000Z\r\nRRULE:FREQ=DAILY\r\nSUMMARY:x\r\n"
                   "END:VTODO\r\nEND:VCALENDAR\r\n")
    assert occurrences_of(todo) is None
    assert kept([(5, 9), (1, 3)], WHOLE) == kept([(1, 3), (5, 9)], WHOLE)
    assert overlaps(kept([(1, 3), (5, 9)], WHOLE), 0, 0, 3, 5) is False   # touching is not overlapping
    assert overlaps(kept([(1, 3), (5, 9)], WHOLE), 0, 0, 2, 3) is True
    for body in ('<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"><C:time-range start="20260101T000000Z"/>'
                 "</C:comp-filter></C:comp-filter>",
                 '<C:comp-filter name="VCALENDAR"><C:time-range start="20260101T000000Z"/></C:comp-filter>',
                 '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range/></C:comp-filter>'
                 "</C:comp-filter>",
                 '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="2026"/>'
                 "</C:comp-filter></C:comp-filter>",
                 '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260101T000000Z"/>'
                 '<C:prop-filter name="SUMMARY"/></C:comp-filter></C:comp-filter>'):
        filter_ = ET.fromstring(f'<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav">{body}</C:filter>')
        assert event_window([filter_]) is None, body


BERLIN_ZONE = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
               "DTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
               "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19961027T030000\r\n"
               "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")


def test_an_event_in_a_zone_with_daylight_saving_rules_is_its_own_span() -> None:
    """The RRULEs of a VTIMEZONE are the zone's, not the event's: the event is one span, kept as such (not
    walked as a series), and the index answers as Radicale does on both sides of it; an event without
    DTSTART is left to Radicale, whatever its zone says."""
    single = item_of("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + BERLIN_ZONE + "BEGIN:VEVENT\r\n"
                     "UID:elternabend\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20261210T193000\r\n"
                     "DTEND;TZID=Europe/Berlin:20261210T210000\r\nSUMMARY:Elternabend Müller 家长会\r\n"
                     "END:VEVENT\r\nEND:VCALENDAR\r\n")
    occurrences = occurrences_of(single)
    assert occurrences == b""
    start, end = single.time_range
    for first, last, says in (("20261210T182900Z", "20261210T183000Z", False),
                              ("20261210T182900Z", "20261210T183001Z", True),
                              ("20261210T195959Z", "20261210T210000Z", True),
                              ("20261210T200000Z", "20261210T210000Z", False)):
        filter_ = query(first, last)
        window = event_window([filter_])
        assert window is not None
        assert overlaps(occurrences, start, end, *window) is says == radicale_test_filter("VCALENDAR", single, filter_)
    no_start = item_of("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + BERLIN_ZONE + "BEGIN:VEVENT\r\n"
                       "UID:ohne-beginn\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Ohne Beginn\r\nEND:VEVENT\r\n"
                       "END:VCALENDAR\r\n")
    assert occurrences_of(no_start) is None
