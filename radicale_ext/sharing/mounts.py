"""Where a shared collection appears in a person's home: its mount name.

alice's ``/alice/family/`` appears in the home of each person it is shared
with as ``/<person>/family~alice/``.  A mount never hides a collection of the
person's own (docs/sharing.md, "Names in a home"):

- names with ``~`` directly in a home are reserved for shares: nobody creates
  a calendar or an address book under such a name (:func:`is_reserved`,
  :class:`ReservedName`), so a share that arrives later finds its place free;
- a collection of the person's own that is already there (made before this
  rule, or restored from a backup) keeps its place, and the share takes the
  first free name ``family~alice~2``, ``family~alice~3`` ... in that home
  (:func:`free_name`); :func:`displaced_from` reads such a name back.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..base.errors import ExtError
from ..base.names import shown

MARK = "~"
_NUMBER = re.compile(r"[1-9][0-9]{0,8}")


class ReservedName(ExtError):
    """A collection may not be created under a name reserved for shares.

    403; the plugin adds the precondition that fits what was being created
    (RFC 4791 5.3.1 ``CALDAV:calendar-collection-location-ok``, RFC 6352 6.3.1
    ``CARDDAV:addressbook-collection-location-ok``).
    """

    status = 403


def mount_name(segment: str, owner: str) -> str:
    """``family`` of ``alice``: ``family~alice``."""
    return f"{segment}{MARK}{owner}"


def is_reserved(segment: str) -> bool:
    """Whether a name directly in a home is kept for shares."""
    return MARK in segment


def refuse_reserved(user: str, segment: str, precondition: str | None = None) -> ReservedName:
    return ReservedName(
        f"{shown(segment)} is reserved: names with {MARK!r} directly in a home are where calendars and address "
        f"books shared with {user!r} appear (e.g. /{user}/family{MARK}alice/); choose a name without {MARK!r}",
        precondition=precondition)


def free_name(mount: str, occupied: Callable[[str], bool]) -> str:
    """``mount`` itself, or, when ``occupied(mount)`` (a collection of the person's own is there),
    the first of ``mount~2``, ``mount~3`` ... that is not."""
    if not occupied(mount):
        return mount
    n = 2
    while occupied(f"{mount}{MARK}{n}"):
        n += 1
    return f"{mount}{MARK}{n}"


def displaced_from(segment: str) -> str | None:
    """The mount a name made by :func:`free_name` stands for: ``family~alice~2`` -> ``family~alice``."""
    base, mark, number = segment.rpartition(MARK)
    if mark and MARK in base and _NUMBER.fullmatch(number) and int(number) >= 2:
        return base
    return None
