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
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from dateutil.tz import tz as dateutil_tz
from vobject import base, icalendar

_original_tzinfo_eq = icalendar.tzinfo_eq
_original_to_native = icalendar.VTimezone.transformToNative


def _never_utc(zone: tzinfo | None) -> bool:
    return type(zone) is dateutil_tz._tzicalvtz and all(part.tzoffsetto for part in zone._comps)


def tzinfo_eq(tzinfo1: tzinfo | None, tzinfo2: tzinfo | None, *args: Any, **kwargs: Any) -> bool:
    """vobject's ``tzinfo_eq``, the same answer; a VTIMEZONE compared with UTC without dateutil's walk."""
    if (tzinfo2 is icalendar.utc and _never_utc(tzinfo1)) or (tzinfo1 is icalendar.utc and _never_utc(tzinfo2)):
        return False
    return _original_tzinfo_eq(tzinfo1, tzinfo2, *args, **kwargs)


def _to_native(obj: base.Component) -> base.Component:
    """``VTimezone.transformToNative``, without building a zone whose TZID vobject already holds."""
    if not obj.isNative:
        lines = obj.contents.get("tzid")
        if lines and not lines[0].params and icalendar.getTzid(lines[0].value, False) is not None:
            object.__setattr__(obj, "__class__", icalendar.TimezoneComponent)
            obj.isNative = True
            return obj
    return _original_to_native(obj)


def install() -> None:
    """Use both wherever vobject's icalendar module asks (parsing and writing)."""
    icalendar.tzinfo_eq = tzinfo_eq
    icalendar.VTimezone.transformToNative = staticmethod(_to_native)
