"""A moment's UTC seconds in a calendar's own time zone (its VTIMEZONE), found by bisection.

dateutil finds the offset of a VTIMEZONE zone (``tzical``) by walking the rule of
each of its parts (STANDARD, DAYLIGHT) from the part's DTSTART, often 1970,
up to the moment, again for every moment it is asked about: indexing a weekly
series in Europe/Berlin spent three fifths of its time there, inside the
storage's write lock.  Here a zone's onsets are listed once (up to
:data:`YEARS_AHEAD` years from now) and each moment is found by bisection,
with dateutil's own rule for choosing the part (the latest onset at or before
the local time; a second fold looked up one DST shift earlier).  A moment
beyond the listed onsets, a zone that is not a VTIMEZONE, or one dateutil
would answer by its fallback (a moment before every onset) gets dateutil's
own answer.  vobject keeps one zone per TZID for the whole process, so a
zone's onsets are listed once per process.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from dateutil.tz import tz as dateutil_tz

#: onsets listed up to the new year this many years ahead (an index keeps series three years ahead)
YEARS_AHEAD = 10

#: more onsets than this in one part (not a real zone's yearly rule): dateutil answers
MOST_ONSETS = 2000

_EPOCH = datetime(1970, 1, 1)
_NO_SHIFT = timedelta(0)


@dataclass(frozen=True, slots=True)
class _Part:
    onsets: list[datetime]   # naive local times, in order
    complete: bool           # the rule ended before the limit: every onset is listed
    offset: timedelta        # TZOFFSETTO
    shift: timedelta         # TZOFFSETTO - TZOFFSETFROM


@dataclass(frozen=True, slots=True)
class _Zone:
    parts: tuple[_Part, ...]
    limit: datetime

    def offset(self, local: datetime, fold: int) -> timedelta | None:
        """dateutil's ``_tzicalvtz._find_comp(...).tzoffsetto``; None where dateutil must answer."""
        if len(self.parts) == 1:
            return self.parts[0].offset
        latest: datetime | None = None
        found: _Part | None = None
        for part in self.parts:
            probe = local - part.shift if part.shift < _NO_SHIFT and fold else local
            if probe > self.limit and not part.complete:
                return None
            i = bisect.bisect_right(part.onsets, probe)
            if i and (latest is None or latest < part.onsets[i - 1]):
                latest, found = part.onsets[i - 1], part
        return None if found is None else found.offset


_zones: weakref.WeakKeyDictionary[tzinfo, _Zone | None] = weakref.WeakKeyDictionary()
_zones_lock = threading.Lock()


def utc_seconds(moment: datetime) -> float:
    """``moment.timestamp()``, the same value, without dateutil's walk for VTIMEZONE zones."""
    zone = moment.tzinfo
    if type(zone) is not dateutil_tz._tzicalvtz:
        return moment.timestamp()
    listed = _listed(zone)
    local = moment.replace(tzinfo=None)
    offset = None if listed is None else listed.offset(local, moment.fold)
    if offset is None:
        return moment.timestamp()
    return (local - offset - _EPOCH).total_seconds()


_UNLISTED = object()


def _listed(zone: tzinfo) -> _Zone | None:
    listed = _zones.get(zone, _UNLISTED)   # one dict lookup, atomic: no lock for a zone already listed
    if listed is not _UNLISTED:
        return listed  # type: ignore[return-value]
    listed = _list(zone)
    with _zones_lock:
        _zones[zone] = listed
    return listed


def _list(zone: tzinfo) -> _Zone | None:
    limit = datetime(datetime.now(UTC).year + YEARS_AHEAD, 1, 1)
    try:
        parts = [_part(part, limit) for part in zone._comps]  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError, OverflowError):   # not the zone this module knows
        return None
    return None if None in parts else _Zone(tuple(parts), limit)  # type: ignore[arg-type]


def _part(part, limit: datetime) -> _Part | None:
    """One STANDARD or DAYLIGHT part's onsets up to ``limit`` (None: too many to list; dateutil answers)."""
    onsets: list[datetime] = []
    for onset in part.rrule:
        if onset > limit:
            return _Part(onsets, False, part.tzoffsetto, part.tzoffsetdiff)
        if len(onsets) >= MOST_ONSETS:
            return None
        onsets.append(onset)
    return _Part(onsets, True, part.tzoffsetto, part.tzoffsetdiff)   # the rule ended: every onset listed
