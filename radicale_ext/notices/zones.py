"""Time zones by name (IANA names such as ``Europe/Berlin``), for times people read.

One lookup for everything that turns a name from outside (an event's TZID,
a person's chosen zone, an option) into a zone.  Python's :mod:`zoneinfo`
raises more than :class:`zoneinfo.ZoneInfoNotFoundError` for names that are
no zone: :class:`IsADirectoryError` for a folder of the zone database
(``America``), :class:`OSError` for a name too long for a file name,
:class:`ValueError` for paths and NUL characters.  Here each of them is
simply "no such zone".
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

LONGEST = 64    # the longest IANA zone name has 32 characters; RFC 5545 names no limit


@lru_cache(maxsize=512)
def zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone called ``name``, or None when there is none by that name."""
    if not name or len(name) > LONGEST:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def is_zone(name: str) -> bool:
    return zone(name) is not None
