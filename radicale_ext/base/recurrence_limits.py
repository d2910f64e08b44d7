"""How much work a recurring event may cost, bounded before the work is done (RFC 4791).

Radicale walks a series occurrence by occurrence, from its first one: to
match a time range (RFC 4791 section 9.9), to expand it (section 9.6.5),
to compute free/busy.  An event that repeats every second, queried a year
later, is 31 million steps.  Three bounds:

- **Storing** (RFC 4791 section 5.3.2.1, precondition ``CALDAV:max-instances``,
  403): a series may have at most ``[server] max_vevent_rrule_occurrence``
  occurrences in its first year (Radicale already bounds series with COUNT
  or UNTIL to that many in all).  Every 10 minutes or more often, forever,
  is refused; hourly is kept.
- **Uploading a whole calendar or address book** (413): at most
  :data:`MAX_ITEMS_PER_UPLOAD` items, since Radicale writes them all inside
  its one write lock.
- **Answering** (RFC 4791 section 7.8, ``DAV:number-of-matches-within-limits``,
  507): a REPORT may make Radicale walk at most :data:`WALK_PER_EVENT`
  occurrences of one event and :data:`WALK_PER_REQUEST` in all, estimated
  from the event's first year before the walk; a series stored before
  these limits (or put on the disk by other means) is refused there,
  with its name, instead of holding the server for minutes.
"""

from __future__ import annotations

import datetime
import itertools
import math
import re
from collections.abc import Iterable

import vobject

from .content_lines import unfolded
from .errors import ExtError
from .names import shown

YEAR_SECONDS = 366 * 24 * 3600
MAX_ITEMS_PER_UPLOAD = 1000
WALK_PER_EVENT = 100_000
WALK_PER_REQUEST = 1_000_000
_RECURRING = ("VEVENT", "VTODO", "VJOURNAL")
#: a time zone's definition, whose own RRULEs (its DST changes) are no series of the upload's
_TIME_ZONE = re.compile(r"^BEGIN:VTIMEZONE\r?$.*?^END:VTIMEZONE\r?$", re.IGNORECASE | re.MULTILINE | re.DOTALL)
_RULE = re.compile(r"^RRULE[;:]", re.IGNORECASE | re.MULTILINE)
_RULE_VALUE = re.compile(r"^RRULE[^:\r\n]*:([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_RDATE_VALUE = re.compile(r"^RDATE[^:\r\n]*:([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_AT_MOST_DAILY = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_WITHIN_A_DAY = frozenset({"BYHOUR", "BYMINUTE", "BYSECOND"})


class TooManyInstances(ExtError):
    status = 403
    precondition = "C:max-instances"


class TooManyItems(ExtError):
    status = 413


class TooMuchExpansion(ExtError):
    status = 507
    precondition = "D:number-of-matches-within-limits"


def first_year_instances(component: vobject.base.Component, cap: int) -> int:
    """How many times ``component`` occurs in the year from its first occurrence, counted up to ``cap + 1``."""
    occurrences = iter(component.getrruleset(addRDate=True))
    first = next(occurrences, None)
    if first is None:
        return 0
    last = first + datetime.timedelta(seconds=YEAR_SECONDS)
    return 1 + sum(1 for _ in itertools.islice(itertools.takewhile(lambda o: o < last, occurrences), cap))


def densest(components: Iterable[vobject.base.Component], cap: int) -> tuple[vobject.base.Component | None, int]:
    """The recurring component with the most occurrences in its first year, and how many (up to ``cap + 1``)."""
    found: tuple[vobject.base.Component | None, int] = (None, 0)
    for component in components:
        if component.name.upper() not in _RECURRING or "rrule" not in getattr(component, "contents", {}):
            continue
        try:
            count = first_year_instances(component, cap)
        except Exception:   # vobject and dateutil raise many kinds on odd rules; Radicale refuses those itself
            continue
        if count > found[1]:
            found = (component, count)
    return found


def components_of(text: str) -> list[vobject.base.Component]:
    """The components inside the iCalendar objects of ``text`` (none if it is not iCalendar)."""
    try:
        return [child for calendar in vobject.readComponents(text, allowQP=True) for child in calendar.getChildren()
                if isinstance(child, vobject.base.Component)]
    except Exception:   # not iCalendar: Radicale refuses it and says so
        return []


def name_of(component: vobject.base.Component) -> str:
    for attribute in ("summary", "uid"):
        line = component.contents.get(attribute)
        if line:
            return str(line[0].value)
    return "an event"


def repeats(text: str) -> bool:
    """Whether ``text`` holds a series (an RRULE outside the time zones' definitions): only then is it parsed
    here (most events carry a VTIMEZONE with rules of its own and repeat nothing)."""
    return "RRULE" in text.upper() and bool(_RULE.search(_outside_time_zones(text)))


def _outside_time_zones(text: str) -> str:
    return _TIME_ZONE.sub("", unfolded(text))


def most_in_a_year(text: str) -> int | None:
    """More than any component of ``text`` can occur in a year (a year from its first occurrence), read
    from the text alone; None where that takes parsing.  A rule repeating daily or less often, without
    BYHOUR, BYMINUTE or BYSECOND, occurs at most once a day (always at its start's time of day): 366 in a
    year; each RDATE value adds one.  So a birthday, a weekly meeting or a school run is not parsed for
    the ``max-instances`` check: it cannot reach the limit."""
    return _most_in_a_year(_outside_time_zones(text))


def _most_in_a_year(series: str) -> int | None:
    bound = 0
    for rule in _RULE_VALUE.findall(series):
        parts = dict(part.split("=", 1) for part in rule.upper().split(";") if "=" in part)
        if parts.get("FREQ") not in _AT_MOST_DAILY or _WITHIN_A_DAY & parts.keys():
            return None
        bound += 366
    return bound + sum(len(value.split(",")) for value in _RDATE_VALUE.findall(series))


def check_upload(text: str, max_instances: int, whole_collection: bool) -> None:
    """Raise for an upload whose series repeat too often, or a whole collection with too many items."""
    upper = text.upper()
    if whole_collection:
        items = max(upper.count("BEGIN:VCARD"), len({line for line in upper.splitlines() if line.startswith("UID:")}))
        if items > MAX_ITEMS_PER_UPLOAD:
            raise TooManyItems(f"the upload holds {items} items; a whole calendar or address book is replaced "
                               f"with at most {MAX_ITEMS_PER_UPLOAD} at a time, because nothing else can be written "
                               "meanwhile; import the items one by one instead (a calendar app's import does)")
    if max_instances <= 0 or "RRULE" not in upper:   # 0: no limit, as for Radicale
        return
    series = _outside_time_zones(text)   # the time zones' own rules repeat nothing
    bound = _most_in_a_year(series) if _RULE.search(series) else 0
    if bound is not None and bound <= max_instances:
        return
    component, count = densest(components_of(text), max_instances)
    if component is not None and count > max_instances:
        raise TooManyInstances(
            f"{shown(name_of(component))} repeats more than {max_instances} times in its first year; this server "
            f"stores at most {max_instances} occurrences a year of one event ([server] max_vevent_rrule_occurrence): "
            "make it repeat less often, or end it sooner")


def estimated_walk(first_year: int, first_start: float, until: float) -> int:
    """Occurrences walked from a series' first one to ``until`` (timestamps), at its first year's pace."""
    years = max(until - first_start, 0) / YEAR_SECONDS
    return math.ceil(first_year * max(years, 1.0))


class Walks:
    """What one request may make Radicale walk; raises :class:`TooMuchExpansion` beyond it."""

    def __init__(self, per_event: int = WALK_PER_EVENT, per_request: int = WALK_PER_REQUEST) -> None:
        self.per_event, self.per_request, self.spent = per_event, per_request, 0

    def spend(self, name: str, walk: int) -> None:
        if walk > self.per_event:
            raise TooMuchExpansion(
                f"{shown(name)} repeats so often that answering would step through about {walk} of its "
                f"occurrences (at most {self.per_event} are); ask for a time range closer to its start, or ask "
                "its owner to make it repeat less often")
        self.spent += walk
        if self.spent > self.per_request:
            raise TooMuchExpansion(
                f"answering would step through more than {self.per_request} occurrences of recurring events; "
                "ask for a shorter time range")

    def expand(self, name: str, first_year: int, span_seconds: float, max_instances: int) -> None:
        """An expansion (RFC 4791 section 9.6.5) of ``span_seconds`` gives at most ``max_instances``."""
        instances = math.ceil(first_year * span_seconds / YEAR_SECONDS)
        if instances > max_instances:
            raise TooMuchExpansion(
                f"expanding {shown(name)} over the range asked gives about {instances} occurrences; at most "
                f"{max_instances} are given for one event ([reporting] max_expand_occurrence); ask for a shorter "
                "range")
