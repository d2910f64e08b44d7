"""bench/real_calendars.py, the data of bench/run_real.py: the same for a seed, in the proportions its
docstring gives (read back from the iCalendar and vCard texts, not from the generator's labels), and
the counts the benchmark demands of every server are stock Radicale's own answers (its test_filter)."""

from __future__ import annotations

import importlib.util
import random
import re
import sys
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

import pytest
import vobject
from radicale import item as radicale_item
from radicale.app.report import test_filter as radicale_test_filter

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load_generator():  # noqa: ANN202 - the module
    spec = importlib.util.spec_from_file_location("real_calendars", BENCH / "real_calendars.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_calendars", module)
    spec.loader.exec_module(module)
    return module


real = _load_generator()
SIZE = 400


@pytest.fixture(scope="module")
def data():  # noqa: ANN201 - real_calendars.RealData
    return real.generate(SIZE, seed=17)


@pytest.fixture(scope="module")
def cards(data) -> list[vobject.base.Component]:  # noqa: ANN001
    return [vobject.readOne(c.text()) for c in data.cards]


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(data) -> None:  # noqa: ANN001
    again = real.generate(SIZE, seed=17)
    assert [e.text() for e in again.events] == [e.text() for e in data.events]
    assert [c.text() for c in again.cards] == [c.text() for c in data.cards]
    other = real.generate(SIZE, seed=18)
    assert {e.uid for e in other.events}.isdisjoint(e.uid for e in data.events)
    assert {e.uid for e in real.new_events(50, seed=17, batch=4)}.isdisjoint(e.uid for e in data.events)


def share(count: int) -> float:
    return count / SIZE


def test_the_calendar_has_the_proportions_of_its_description(data) -> None:  # noqa: ANN001
    texts = [e.text() for e in data.events]
    rules = [re.search(r"^RRULE:(.*)\r$", t[t.index("BEGIN:VEVENT"):], re.M) for t in texts]  # not VTIMEZONE's
    bounded = [t for t, r in zip(texts, rules, strict=True) if r and re.search(r"COUNT=|UNTIL=", r.group(1))]
    unbounded_weekly = [r for r in rules if r and r.group(1).startswith("FREQ=WEEKLY")
                        and not re.search(r"COUNT=|UNTIL=", r.group(1))]
    birthdays = [t for t, r in zip(texts, rules, strict=True)
                 if r and r.group(1) == "FREQ=YEARLY" and "DTSTART;VALUE=DATE:" in t]
    singles = [t for t, r in zip(texts, rules, strict=True) if not r]
    zoned = [t for t in singles if "DTSTART;TZID=" in t]
    utc = [t for t in singles if re.search(r"^DTSTART:\d{8}T\d{6}Z", t, re.M)]
    all_day = [t for t in singles if "DTSTART;VALUE=DATE:" in t]
    assert share(len(singles)) == pytest.approx(0.72, abs=0.01)
    assert share(len(zoned)) == pytest.approx(0.50, abs=0.01)
    assert share(len(utc)) == pytest.approx(0.08, abs=0.01)
    assert share(len(all_day)) == pytest.approx(0.14, abs=0.01)  # 10% one day, 4% several
    assert share(len(bounded)) == pytest.approx(0.20, abs=0.01)
    assert share(len(unbounded_weekly)) == pytest.approx(0.05, abs=0.01)
    assert share(len(birthdays)) == pytest.approx(0.03, abs=0.01)
    assert share(sum("BEGIN:VALARM" in t for t in texts)) == pytest.approx(1 / 3, abs=0.01)
    assert 0.35 < sum("EXDATE" in t for t in bounded) / len(bounded) < 0.65
    assert 0.1 < sum("RECURRENCE-ID" in t for t in bounded) / len(bounded) < 0.5
    assert share(sum(_days(t) > 1 for t in all_day)) == pytest.approx(0.04, abs=0.01)

    zones = {z for t in texts for z in re.findall(r"^DTSTART;TZID=([^:]+):", t, re.M)}
    assert zones == {"Europe/Berlin", "America/New_York", "Asia/Shanghai"}
    for text in texts:  # every zone used has its VTIMEZONE
        for zone in set(re.findall(r";TZID=([^:;]+)[:;]", text)):
            assert f"BEGIN:VTIMEZONE\r\nTZID:{zone}\r\n" in text
    years = {e.start.year for e in data.events if e.kind != "birthday"}
    assert years == {2025, 2026, 2027}


def _days(text: str) -> int:
    """How many days an all-day event lasts (DTEND - DTSTART)."""
    start, end = (re.search(rf"^{p};VALUE=DATE:(\d{{8}})", text, re.M).group(1) for p in ("DTSTART", "DTEND"))
    return (date.fromisoformat(end) - date.fromisoformat(start)).days


def test_the_cards_have_several_addresses_and_real_world_names(data, cards) -> None:  # noqa: ANN001
    assert all(c.version.value == "3.0" for c in cards)
    for prop in ("tel", "email", "adr"):
        counts = [len(c.contents.get(prop, [])) for c in cards]
        assert min(counts) >= 1 and sum(n > 1 for n in counts) > SIZE / 5, prop
    names = [c.fn.value for c in cards]
    assert any(ch in n for n in names for ch in "äöüß")
    assert any(re.search(r"[\u4e00-\u9fff]", n) for n in names)
    emoji = [c for c in data.cards if re.search(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]", c.text())]
    assert 0.05 < share(len(emoji)) < 0.2


def week_filter(start: str, end: str) -> ET.Element:
    return ET.fromstring('<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp-filter name="VCALENDAR">'
                         f'<C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/>'
                         "</C:comp-filter></C:comp-filter></C:filter>")


def test_the_week_counts_are_stock_radicales_answers(data) -> None:  # noqa: ANN001
    """Random weeks and the weeks of the DST changes in Europe (days 87, 297) and the US (66, 304)."""
    subset = real.RealData(data.seed, data.events[:100], ())
    items = [radicale_item.Item(collection_path="alice/家庭", vobject_item=vobject.readOne(e.text()))
             for e in subset.events]
    counts = subset.week_matches()
    rng = random.Random(5)
    for day in [rng.randrange(real.WEEK_STARTS), 66, 87, 297, 304]:
        filter_ = week_filter(*real.week_of(day))
        assert sum(radicale_test_filter("VCALENDAR", item, filter_) for item in items) == counts[day], day


def test_excluded_and_moved_occurrences_are_where_stock_radicale_sees_them(data) -> None:  # noqa: ANN001
    """An hour at each EXDATE, at a moved occurrence's original time and at its new time: the series
    is in it exactly when Radicale's test_filter says so."""
    series = [e for e in data.events if e.moved or e.exdates][:50]
    assert sum(e.moved is not None for e in series) >= 10
    for event in series:
        item = radicale_item.Item(collection_path="alice/家庭", vobject_item=vobject.readOne(event.text()))
        moments = [*event.exdates] + ([event.moved.recurrence_id, event.moved.start] if event.moved else [])
        for moment in moments:
            start = real.instant(moment)
            end = start + timedelta(hours=1)
            filter_ = week_filter(f"{start:%Y%m%dT%H%M%SZ}", f"{end:%Y%m%dT%H%M%SZ}")
            assert bool(event.spans(start, end)) == radicale_test_filter("VCALENDAR", item, filter_), \
                (event.text(), start)


def test_the_card_counts_are_stock_radicales_answers(data, cards) -> None:  # noqa: ANN001
    items = [radicale_item.Item(collection_path="alice/contacts", vobject_item=card) for card in cards]
    for properties, text, want in ((("EMAIL",), real.EMAIL_QUERY, data.email_matches()),
                                   (("FN", "EMAIL"), real.FN_OR_EMAIL_QUERY, data.fn_or_email_matches())):
        filters = "".join(f'<CR:prop-filter name="{p}"><CR:text-match match-type="contains">{text}'
                          "</CR:text-match></CR:prop-filter>" for p in properties)
        filter_ = ET.fromstring(f'<CR:filter xmlns:CR="urn:ietf:params:xml:ns:carddav" test="anyof">{filters}'
                                "</CR:filter>")
        assert 0 < want < SIZE / 10
        assert sum(radicale_test_filter("VADDRESSBOOK", item, filter_) for item in items) == want, properties
