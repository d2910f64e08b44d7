"""vobject's content lines made quicker keep vobject's results (radicale_ext/base/vobject_lines.py): TEXT
values read as vobject reads them, with and without escapes; parameters, properties and class properties
set as vobject sets them; a value vobject cannot read refused with vobject's own error; and real
calendars and address books (the benchmark's generator: time zones, series with exceptions, alarms,
German, Chinese and emoji) read and written again byte for byte as vobject itself does, whichever way
they are parsed; long lines folded where vobject folds them; the server's
storage installs them."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
import vobject
from vobject import base, behavior, icalendar, vcard

from radicale_ext.base import vobject_lines

from ..test_real_calendars import _load_generator
from .test_storage_equivalence import VTIMEZONE

TEXTS = ["", "Zahnarzt", "Müller, Jürgen", "家庭聚会 🎉", "a\\,b", "Zeile 1\\nZeile 2", "Zeile\\N2",
         "back\\\\slash", "semi\\;colon", "semi;colon", "trailing\\", ",", "a,,b", ",leading", "\\x unknown",
         "say \\\"hi\\\"", "Straße 5;Berlin", "王芳,李娜"]

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//radicale-ext//test//DE\r
""" + VTIMEZONE + """BEGIN:VEVENT\r
UID:müller-家庭-1\r
DTSTAMP:20261201T080000Z\r
DTSTART;TZID=Europe/Berlin:20261207T073000\r
DURATION:PT45M\r
RRULE:FREQ=WEEKLY;BYDAY=MO,WE\r
EXDATE;TZID=Europe/Berlin:20261209T073000\r
SUMMARY:Schulweg\\, mit Jürgen 🚸\r
LOCATION:Grundschule am Park\\; Tor 2\r
DESCRIPTION:Erste Zeile\\nZweite Zeile 家庭\r
CATEGORIES:Familie,Schule,家庭\r
ATTENDEE;CN="Müller, Anna";PARTSTAT=ACCEPTED:mailto:anna.mueller@example.org\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:Los geht's\r
TRIGGER:-PT15M\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""


@contextlib.contextmanager
def vobject_own() -> Iterator[None]:
    """vobject as it comes, for the duration."""
    saved = (base.ContentLine.__setattr__, base.Component.__setattr__, icalendar.stringToTextValues,
             vcard.stringToTextValues, base.VBase.transformToNative, behavior.Behavior.serialize,
             base.foldOneLine, icalendar.foldOneLine, base.ContentLine.__init__)
    base.foldOneLine = icalendar.foldOneLine = vobject_lines._original_fold
    base.ContentLine.__init__ = vobject_lines._original_line_init
    base.ContentLine.__setattr__ = vobject_lines._original_line_setattr
    base.Component.__setattr__ = vobject_lines._original_component_setattr
    icalendar.stringToTextValues = vcard.stringToTextValues = vobject_lines._original_string_to_text_values
    base.VBase.transformToNative = vobject_lines._original_to_native
    behavior.Behavior.serialize = vobject_lines._original_serialize
    try:
        yield
    finally:
        (base.ContentLine.__setattr__, base.Component.__setattr__, icalendar.stringToTextValues,
         vcard.stringToTextValues, base.VBase.transformToNative, behavior.Behavior.serialize,
         base.foldOneLine, icalendar.foldOneLine, base.ContentLine.__init__) = saved


@pytest.fixture(autouse=True, scope="module")
def installed() -> None:
    vobject_lines.install()


def _shape(component: Any) -> Any:
    """Everything vobject made of a text: per line its name, parameters, value (native) and flags."""
    if isinstance(component, base.ContentLine):
        return (component.name, component.params, component.singletonparams, component.value,
                component.encoded, component.isNative, type(component.behavior))
    return (component.name, type(component), type(component.behavior),
            [(name, [_shape(child) for child in children]) for name, children in sorted(component.contents.items())])


def _read_and_write(text: str) -> tuple[Any, str, Any, str]:
    """What vobject made of ``text``, what it writes, its state after writing, and what it writes again."""
    parsed = vobject.readOne(text)
    shape = _shape(parsed)
    written = parsed.serialize()
    return shape, written, _shape(parsed), parsed.serialize()


@pytest.mark.parametrize("separator", [",", ";"])
def test_text_values_are_read_as_vobject_reads_them(separator: str) -> None:
    for text in TEXTS:
        assert vobject_lines.string_to_text_values(text, separator) == \
            vobject_lines._original_string_to_text_values(text, separator), text
        assert vobject_lines.string_to_text_values(text, separator, ";") == \
            vobject_lines._original_string_to_text_values(text, separator, ";"), text
    assert icalendar.stringToTextValues is vobject_lines.string_to_text_values   # vobject's own calls come here
    assert vcard.stringToTextValues is vobject_lines.string_to_text_values


def test_a_hand_written_event_is_read_and_written_as_vobject_does() -> None:
    ours = _read_and_write(EVENT)
    with vobject_own():
        own = _read_and_write(EVENT)
    assert ours == own
    assert "Schulweg\\, mit Jürgen 🚸" in ours[1] and "CATEGORIES:Familie,Schule,家庭" in ours[1]


def test_real_calendars_and_address_books_are_read_and_written_as_vobject_does() -> None:
    data = _load_generator().generate(300, seed=23)
    texts = [event.text() for event in data.events] + [card.text() for card in data.cards]
    ours = [_read_and_write(text) for text in texts]
    with vobject_own():
        own = [_read_and_write(text) for text in texts]
    assert ours == own
    assert any("\\," in written or "\\n" in written for _, written, _, _ in ours)   # escapes were among them
    assert any("RECURRENCE-ID" in written for _, written, _, _ in ours)
    assert any("BEGIN:VCARD" in written for _, written, _, _ in ours)
    assert all(written == again for _, written, _, again in ours)


#: lines of every length around the fold, in one-, two-, three- and four-octet characters and mixed
LONG_LINES = [prefix + filler * count
              for prefix in ("DESCRIPTION:", "SUMMARY:Müller ", "X-NOTE:家庭 ", "LOCATION:🎉")
              for filler in ("a", "ü", "家", "🎂", "aü家🎂 ")
              for count in range(0, 170, 7)] + ["", "x" * 74, "x" * 75, "x" * 76, "x" * 149, "x" * 150, "ü" * 37,
                                                "ü" * 38, "a" + "ü" * 37, "家" * 25, "a" * 73 + "家", "a" * 74 + "🎂"]


def _folded(fold: Any, text: str, line_length: int = 75) -> str:
    buffer = io.StringIO()
    fold(buffer, text, line_length)
    return buffer.getvalue()


def test_long_lines_are_folded_where_vobject_folds_them() -> None:
    for text in LONG_LINES:
        for line_length in (75, 20, 4):
            ours = _folded(vobject_lines.fold_one_line, text, line_length)
            assert ours == _folded(vobject_lines._original_fold, text, line_length), (text, line_length)
            assert ours.replace("\r\n ", "") == text + "\r\n"
    assert _folded(vobject_lines.fold_one_line, "SUMMARY:" + "家" * 70).count("\r\n ") == 2   # 218 octets
    bytes_buffer = io.BytesIO()   # a buffer of bytes: vobject's own writing
    vobject_lines.fold_one_line(bytes_buffer, "SUMMARY:Müller", 75)
    assert bytes_buffer.getvalue() == "SUMMARY:Müller\r\n".encode()


def test_an_event_with_long_lines_is_written_as_vobject_writes_it() -> None:
    long_text = ("Elternabend der Klasse 3b im Raum 家庭 🎉, bitte Jürgens Zeugnis mitbringen; "
                 "danach Grillen bei Müllers. " * 4)
    event = EVENT.replace("DESCRIPTION:Erste Zeile", "DESCRIPTION:" + long_text.replace(",", "\\,").replace(
        ";", "\\;") + "Erste Zeile").replace("ATTENDEE;", "ATTENDEE;X-LONG=" + "ä" * 60 + ";")
    ours = _read_and_write(event)
    with vobject_own():
        own = _read_and_write(event)
    assert ours == own
    assert "\r\n " in ours[1]   # folded


LINES: list[tuple[Any, ...]] = [
    ("dtstart", [["TZID", "Europe/Berlin"]], "20261207T073000"),
    ("summary", [], "Müllabfuhr 家庭 🎉", None, True, False, 7),
    ("email", [["TYPE", "work", "pref"], ["type", "INTERNET"], ["X-SINGLE"]], "anna@example.org", "item1"),
    ("note", [["ENCODING", "QUOTED-PRINTABLE"], ["CHARSET", "utf-8"]], "M=C3=BCller", None, True),
    ("note", [["QUOTED-PRINTABLE"]], "J=C3=BCrgen", None, True),
    ("x-empty", {}, ""),
    ("categories", ({"a": 1},), "Familie,Schule"),
]


def _made(line_args: tuple[Any, ...]) -> Any:
    try:
        line = base.ContentLine(*line_args)
    except Exception as e:   # vobject's own failure, the same either way
        return type(e)
    return list(line.__dict__.items())


def test_lines_are_made_as_vobject_makes_them() -> None:
    ours = [_made(args) for args in LINES]
    with vobject_own():
        own = [_made(args) for args in LINES]
    assert ours == own
    assert ours[3][-1] == ("value", "Müller") and ours[4][-1] == ("value", "Jürgen")   # quoted-printable undone
    assert base.ContentLine.__init__ is vobject_lines._line_init


def test_parameters_properties_and_class_properties_are_set_as_vobject_sets_them() -> None:
    def setting() -> Any:
        calendar = vobject.readOne(EVENT)
        event = calendar.vevent
        event.dtstart.tzid_param = "Asia/Shanghai"
        event.attendee.role_paramlist = ["CHAIR", "REQ-PARTICIPANT"]
        event.attendee.value = "mailto:wang.fang@example.cn"
        event.location = event.summary   # a component's property: its contents
        zone = calendar.vtimezone
        zone.tzinfo = zone.gettzinfo()   # a class property of TimezoneComponent (in its normal attributes)
        event.rruleset = event.getrruleset(addRDate=True)   # RecurringComponent's own __setattr__, then ours
        event.x_family_name = event.summary   # a made-up property, in contents
        return _shape(calendar), sorted(event.contents), event.dtstart.params, event.attendee.params
    ours = setting()
    with vobject_own():
        own = setting()
    assert ours == own
    assert ours[2]["TZID"] == ["Asia/Shanghai"] and ours[3]["ROLE"] == ["CHAIR", "REQ-PARTICIPANT"]
    with pytest.raises(vobject.base.VObjectError):
        vobject.readOne(EVENT).vevent.summary.cn_paramlist = "not a list"


@pytest.mark.parametrize("line", ["DTSTART:Montag", "DTSTART;VALUE=DATE:2026", "DURATION:PT45X",
                                  "RDATE;VALUE=PERIOD:20261207T073000Z/Dienstag", "DTEND;TZID=Europe/Berlin:家庭"])
def test_a_line_vobject_cannot_read_fails_with_vobjects_own_error(line: str) -> None:
    """A value that is no date, duration or period: the same ParseError, the same message (quoting the line
    as it was read), whichever way it is parsed."""
    text = EVENT.replace("DURATION:PT45M", line)

    def failure() -> tuple[type, str, Any]:
        with pytest.raises(base.VObjectError) as caught:
            vobject.readOne(text)
        return type(caught.value), str(caught.value), getattr(caught.value, "lineNumber", None)
    ours = failure()
    with vobject_own():
        own = failure()
    assert ours == own
    assert ours[0] is base.ParseError


def test_made_up_names_are_set_without_growing_the_memory_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vobject_lines, "MOST_NAMES", len(vobject_lines._PLAIN) + 5)
    line = vobject.readOne(EVENT).vevent.summary
    for k in range(50):
        setattr(line, f"made_up_{k}", k)
    assert [getattr(line, f"made_up_{k}") for k in range(50)] == list(range(50))
    assert len(vobject_lines._PLAIN) <= vobject_lines.MOST_NAMES


def test_the_servers_storage_installs_them() -> None:
    import radicale_ext.plugins.recorded_storage  # noqa: F401 - what the server and the CLI import

    assert base.ContentLine.__setattr__ is vobject_lines._line_setattr
    assert base.VBase.transformToNative is vobject_lines._line_to_native
    assert behavior.Behavior.serialize.__func__ is vobject_lines._serialize_line  # type: ignore[attr-defined]
    assert base.foldOneLine is icalendar.foldOneLine is vobject_lines.fold_one_line
    assert base.Component.__setattr__ is vobject_lines._component_setattr
