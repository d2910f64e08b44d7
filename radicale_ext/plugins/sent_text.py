"""A calendar object PUT is stored in the text its client sent, where Radicale's writing it out again
would say the same (docs/performance.md, "Writes").

Stock Radicale parses a PUT's body with vobject, sanitizes it, and stores vobject's serialization of the
parsed object: the lines in vobject's order, folded at its width, every value written out again from
Python's dates and lists.  That serialization was a sixth of a PUT's processor time (issue 17).  Most
servers keep a client's text as sent (Cyrus, sabre/dav, Xandikos); here it is kept where nothing would
differ in meaning:

- the body is one ``VCALENDAR``, from its first line to its last, with CRLF line ends only (what
  Radicale's own workarounds left of it: :func:`_read_components` keeps the text vobject was given);
- Radicale's sanitizing changed nothing (Thunderbird's zero DURATION beside DTEND, Evolution's EXDATE
  dates for a DATE-TIME series, floating and zoned dates mixed);
- vobject's implicit parameters add nothing (a missing DTSTAMP, UID, PRODID or VERSION, an alarm
  without ACTION or TRIGGER, a VTIMEZONE for a TZID the body does not carry) and the object validates
  as serializing it would validate it.

Any other body is stored as stock Radicale stores it, and a body serializing would refuse is refused
by the serializing, as before.  What is compared (:func:`_shape`): how many lines and components each
component holds, and the dates and parameters of every EXDATE and RDATE, before Radicale's ``prepare``
and after the implicit parameters.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import radicale.item as radicale_item
import vobject
from vobject.base import Component

_local = threading.local()


@dataclass(frozen=True, slots=True)
class _Sent:
    """The one calendar parsed from a PUT's body, the text vobject read it from, and its shape then."""

    calendar: Component
    text: str
    shape: tuple[Any, ...]

    def says_the_same(self) -> bool:
        """Would vobject's serialization of the calendar, as it is now, say what the text says?"""
        if self.calendar.behavior is None:
            return False
        try:
            for component in _components(self.calendar):
                if component.behavior is not None:
                    component.behavior.generateImplicitParameters(component)
            self.calendar.behavior.validate(self.calendar, raiseException=True)
        except Exception:   # left to the serialization, which refuses it as before
            return False
        return _shape(self.calendar) == self.shape


def _components(calendar: Component) -> list[Component]:
    """The calendar and every component in it, at any depth."""
    found, waiting = [], [calendar]
    while waiting:
        component = waiting.pop()
        found.append(component)
        waiting.extend(child for children in component.contents.values() for child in children
                       if isinstance(child, Component))
    return found


def _shape(calendar: Component) -> tuple[Any, ...]:
    """What Radicale's sanitizing and vobject's implicit parameters change when they change anything."""
    shape: list[Any] = []
    for component in _components(calendar):
        shape.append(sum(len(children) for children in component.contents.values()))
        for name in ("exdate", "rdate"):
            for line in component.contents.get(name, ()):
                value = line.value
                shape.append((tuple(value) if isinstance(value, list) else value,
                              tuple((key, tuple(values)) for key, values in line.params.items())))
    return tuple(shape)


def _plain(text: str) -> bool:
    """One VCALENDAR from the first line to the last, every line ended by CRLF."""
    return (text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
            and text.count("\n") == text.count("\r\n") == text.count("\r"))


def _read_components(text: str) -> list[Component]:
    """Radicale's ``read_components``, noting the calendar read and the text it was read from."""
    _local.sent, _local.parsed, _local.reading = None, None, True
    try:
        components = _radicale_read_components(text)
    finally:
        _local.reading = False
    parsed, _local.parsed = _local.parsed, None
    if len(components) == 1 and components[0].name == "VCALENDAR" and parsed is not None and _plain(parsed):
        _local.sent = _Sent(components[0], parsed, _shape(components[0]))
    return components


def _read_with_vobject(text: Any, *args: Any, **kwargs: Any) -> Any:
    """vobject's ``readComponents``; in :func:`_read_components`, the text is noted."""
    if getattr(_local, "reading", False) and isinstance(text, str):
        _local.parsed = text
    return _vobject_read_components(text, *args, **kwargs)


def _prepare_item(item: radicale_item.Item) -> None:
    """Radicale's ``Item.prepare``; for the calendar this thread's PUT read, its text where it says the
    same as the serialization would."""
    sent = getattr(_local, "sent", None)
    if sent is not None and item._text is None and item._vobject_item is sent.calendar:
        _local.sent = None
        if sent.says_the_same():
            item._text = sent.text
            item._kept_as_sent = True  # type: ignore[attr-defined]
    _radicale_prepare_item(item)


def kept_as_sent(item: radicale_item.Item) -> bool:
    """Is ``item``'s text the one its client sent (where vobject's serialization would differ in form)?"""
    return getattr(item, "_kept_as_sent", False)


_radicale_read_components = radicale_item.read_components
_vobject_read_components = vobject.readComponents
_radicale_prepare_item = radicale_item.Item.prepare


def install() -> None:
    """Wrap Radicale's ``read_components`` and ``Item.prepare`` and vobject's ``readComponents`` (once)."""
    radicale_item.read_components = _read_components
    vobject.readComponents = _read_with_vobject
    radicale_item.Item.prepare = _prepare_item  # type: ignore[method-assign]
