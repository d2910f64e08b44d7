"""vobject's handling of VTIMEZONEs made quicker, with the same results.

Half of the time vobject took to parse a one-event PUT (inside Radicale's
request, before its write lock) went to two things it does for every
VTIMEZONE it reads:

- **Is this zone UTC?**  vobject asks ``tzinfo_eq(zone, utc)`` for every
  VTIMEZONE (to know whether the zone needs a TZID) and for every date-time
  it writes out (to know whether it ends in ``Z``).  Its answer first
  compares the two offsets on 1 January 2000, and dateutil finds a
  VTIMEZONE's offset there by walking each part's rule from its DTSTART,
  often 1970.  dateutil's offset for a VTIMEZONE is always one of its parts'
  TZOFFSETTO (the part in force, or a fallback part before every onset), so
  a zone none of whose parts has TZOFFSETTO zero is never equal to UTC:
  :func:`tzinfo_eq` says so without the walk.  Every other case (London,
  Lisbon, any other kind of tzinfo) gets vobject's own answer.
- **Registering the zone.**  vobject builds a dateutil zone from each
  VTIMEZONE only to register it under its TZID, and keeps the first zone
  registered for a TZID for the whole process (as stock Radicale does).
  :func:`_to_native` skips the building when the TZID is already registered,
  which is when vobject would throw the zone away.

And a third it does for an event whose TZID names a zone the calendar
carries no VTIMEZONE for (``DTSTART;TZID=Europe/Berlin:...`` alone, as some
clients and libraries send it):

- **Writing the missing VTIMEZONE.**  vobject writes one out of the zone it
  looked up by name (``TimezoneComponent.settzinfo``), finding each
  daylight-saving change from 2000 to 2030 by searching through every year:
  116 ms for Europe/Berlin, in every PUT of such an event (stock Radicale's
  too).  The VTIMEZONE depends on the zone alone: :func:`_settzinfo` builds
  it once per zone and process and gives each later calendar a copy of its
  own (vobject's ``duplicate``), so what is stored is what vobject writes.
- **Is this zone UTC?, for a zone at UTC's offset on 1 January 2000**
  (London, Lisbon, Dublin, Casablanca, the zone looked up by name or sent):
  vobject compares the two zones' changes year by year to 2020, about 2 ms
  for every date-time it writes.  The answer depends on the zone alone and
  is kept per zone too.

And one thing it gets wrong, fixed here:

- **A zone looked up by name is not kept for the process.**  For a TZID the
  calendar carries no VTIMEZONE for, vobject takes pytz's zone of that name
  and registers it for the whole process, so that every later calendar's
  own VTIMEZONE of that TZID is ignored for it.  dateutil's recurrence rules
  cannot use a pytz zone (they keep the first occurrence's fixed offset), so
  after one such event, every series of that zone crossing a daylight-saving
  change was an hour off on the other side of it, in time-range queries and
  the index's occurrences (any walk of the series through vobject), until
  the process ended (stock Radicale too; reminders use another library).
  :func:`_register` registers every zone but pytz's: the event that
  names its zone still gets pytz's zone (as vobject gives it), and a
  calendar's VTIMEZONE is registered by the first calendar that sends one.

And one thing the index needs: reading a calendar's text as a process that
has met none of its zones would, with its own VTIMEZONEs and without
registering them for the process (:func:`own_zones`).  The index takes the
facts of an event that named its zone (pytz's zone: wrong for a series
across a change to summer time) from the text stored, which carries the
VTIMEZONE vobject wrote (``plugins/indexed_items.py``); registering that
zone would change what vobject writes for every later such event (its own
VTIMEZONE read back gives another STANDARD onset when written again).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import tzinfo
from typing import Any

from dateutil.tz import tz as dateutil_tz
from vobject import base, icalendar

_original_tzinfo_eq = icalendar.tzinfo_eq
_original_to_native = icalendar.VTimezone.transformToNative
_original_settzinfo = icalendar.TimezoneComponent.settzinfo
_original_register = icalendar.registerTzid
_original_get_tzid = icalendar.getTzid

#: zones are those clients name or send (a few dozen); a bound keeps made-up ones harmless
MOST_ZONES = 1024
_PARTS = ("tzid", "daylight", "standard")
_UNKNOWN = object()


class _PerZone:
    """What vobject works out from a zone alone, kept per zone object (by identity: the zone is kept with
    it, so its id is not reused) and arguments; past :data:`MOST_ZONES` entries, worked out each time."""

    def __init__(self) -> None:
        self._kept: dict[tuple[int, ...], tuple[tzinfo, Any]] = {}
        self._lock = threading.Lock()

    def get(self, zone: tzinfo, *args: int) -> Any:
        kept = self._kept.get((id(zone), *args))
        return kept[1] if kept is not None and kept[0] is zone else _UNKNOWN

    def keep(self, zone: tzinfo, args: tuple[int, ...], value: Any) -> None:
        with self._lock:
            if len(self._kept) < MOST_ZONES:
                self._kept[(id(zone), *args)] = (zone, value)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


#: per zone and years: the VTIMEZONE's TZID, DAYLIGHT and STANDARD as vobject built them (copies are handed out)
_BUILT = _PerZone()
#: per zone: whether vobject finds it equal to UTC
_SAME_AS_UTC = _PerZone()


def _never_utc(zone: tzinfo | None) -> bool:
    return type(zone) is dateutil_tz._tzicalvtz and all(part.tzoffsetto for part in zone._comps)


def tzinfo_eq(tzinfo1: tzinfo | None, tzinfo2: tzinfo | None, *args: Any, **kwargs: Any) -> bool:
    """vobject's ``tzinfo_eq``, the same answer; a VTIMEZONE compared with UTC without dateutil's walk, any
    other zone compared with UTC once."""
    zone = tzinfo1 if tzinfo2 is icalendar.utc else tzinfo2 if tzinfo1 is icalendar.utc else None
    if zone is None or args or kwargs:
        return _original_tzinfo_eq(tzinfo1, tzinfo2, *args, **kwargs)
    if _never_utc(zone):
        return False
    same = _SAME_AS_UTC.get(zone)
    if same is _UNKNOWN:
        same = _original_tzinfo_eq(tzinfo1, tzinfo2)
        _SAME_AS_UTC.keep(zone, (), same)
    return same


def _to_native(obj: base.Component) -> base.Component:
    """``VTimezone.transformToNative``, without building a zone whose TZID vobject already holds."""
    if not obj.isNative:
        lines = obj.contents.get("tzid")
        if lines and not lines[0].params and icalendar.getTzid(lines[0].value, False) is not None:
            object.__setattr__(obj, "__class__", icalendar.TimezoneComponent)
            obj.isNative = True
            return obj
    return _original_to_native(obj)


def _settzinfo(self: icalendar.TimezoneComponent, tzinfo: tzinfo, start: int = 2000, end: int = 2030) -> None:
    """``TimezoneComponent.settzinfo``: the VTIMEZONE vobject builds for ``tzinfo``, built once per zone."""
    built = _BUILT.get(tzinfo, start, end)
    if built is _UNKNOWN:
        _original_settzinfo(self, tzinfo, start, end)
        _BUILT.keep(tzinfo, (start, end), {part: [_copy_of(child) for child in self.contents.get(part, ())]
                                           for part in _PARTS})
        return
    for part in _PARTS:   # what settzinfo does: each part emptied, then filled with what it built
        setattr(self, part, [])
        for child in built[part]:
            self.add(_copy_of(child))


def _copy_of(child: base.VBase) -> base.VBase:
    """vobject's own deep copy of a line or component."""
    return type(child).duplicate(child)


_own = threading.local()


@contextlib.contextmanager
def own_zones() -> Iterator[None]:
    """Within it, this thread's parsing registers the zones it meets for itself only, and finds a TZID
    among them first (module docstring)."""
    _own.zones = {}
    try:
        yield
    finally:
        _own.zones = None


def _register(tzid: str, zone: tzinfo) -> None:
    """vobject's ``registerTzid``, for every zone but pytz's (module docstring); within :func:`own_zones`,
    for this thread's parsing only."""
    own = getattr(_own, "zones", None)
    if own is not None:
        own[tzid] = zone
    elif not type(zone).__module__.startswith("pytz"):
        _original_register(tzid, zone)


def _get_tzid(tzid: str, smart: bool = True) -> tzinfo | None:
    """vobject's ``getTzid``; within :func:`own_zones`, this thread's own zones first."""
    own = getattr(_own, "zones", None)
    if own is not None and tzid in own:
        return own[tzid]
    return _original_get_tzid(tzid, smart)


def install() -> None:
    """Use these wherever vobject's icalendar module asks (parsing and writing)."""
    icalendar.registerTzid = _register
    icalendar.getTzid = _get_tzid
    icalendar.tzinfo_eq = tzinfo_eq
    icalendar.VTimezone.transformToNative = staticmethod(_to_native)
    icalendar.TimezoneComponent.settzinfo = _settzinfo
    # ``TimezoneComponent(tzinfo=zone)`` and ``component.tzinfo = zone`` go through the property
    icalendar.TimezoneComponent.tzinfo = property(icalendar.TimezoneComponent.gettzinfo, _settzinfo)
