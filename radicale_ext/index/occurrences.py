"""When an event occurs, as the item index keeps it, so that a time-range query (RFC 4791 section 9.9)
is answered without reading the events that cannot match, nor parsing or expanding those that can.

An event's *occurrences* are the spans Radicale's own time-range test visits
(``radicale.item.filter.visit_time_ranges``: every instance of a series after
EXDATE, RDATE and RECURRENCE-ID overrides, each with the series' duration, in
UTC), computed once when the event is indexed (radicale_ext/plugins/occurrence_spans.py)
and kept as bytes:

* ``None``: not known (not an event, Radicale could not read it, or an index
  written before occurrences were kept): Radicale decides as it always did;
* ``b""``: one span, the item's own start and end (an event without
  recurrence: the span Radicale's item cache already holds);
* else a *horizon* and the spans in order of start: every span starting
  before the horizon is kept (all of them for a bounded series; for an
  unbounded or very long one, those before :func:`horizon`, the new year
  three years ahead, or the first :data:`MOST_SPANS`: each occurrence costs
  Radicale about 50 us to visit, and a write pays for them).  A query ending
  after the horizon is left to Radicale.

:func:`overlaps` then gives Radicale's answer, ``range_start < end and
start < range_end`` for some span, by two binary searches.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime

#: how many years ahead of this one a series is kept (a query reaching further is answered by Radicale)
YEARS_AHEAD = 3
#: the most spans kept of one series (a daily series without end stops here, five years or so)
MOST_SPANS = 2000
#: a horizon past every span: the series was kept whole
WHOLE = 2**62

_HEAD = 3   # horizon, longest span, number of spans


def horizon(now: datetime | None = None) -> int:
    """Where kept series end: the first of January :data:`YEARS_AHEAD` years after this year's, in UTC
    seconds (it moves once a year; an event indexed again after that keeps the later spans too)."""
    year = (now or datetime.now(UTC)).year + YEARS_AHEAD
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


def kept(spans: Sequence[tuple[int, int]], horizon: int) -> bytes:
    """``spans`` (start, end in UTC seconds) as the index keeps them, every span starting before
    ``horizon`` among them."""
    ordered = sorted(spans)
    longest = max([0, *(end - start for start, end in ordered)])
    numbers = array("q", [horizon, longest, len(ordered)])
    numbers.extend(start for start, _ in ordered)
    numbers.extend(end for _, end in ordered)
    return numbers.tobytes()


def still_kept(occurrences: bytes) -> bool:
    """Whether a series' kept spans reach as far as a walk now would keep them: whole, up to
    :data:`MOST_SPANS`, or past this year's horizon.  (Kept spans are right in any case, their head says
    how far they are complete; this is about a horizon that moved since.)"""
    if len(occurrences) < _HEAD * 8 or len(occurrences) % 8:
        return False
    kept_to, _, count = memoryview(occurrences).cast("q")[:_HEAD]
    return kept_to == WHOLE or kept_to >= horizon() or count >= MOST_SPANS


def overlaps(occurrences: bytes | None, item_start: int, item_end: int, start: int, end: int) -> bool | None:
    """Whether some span of the event overlaps ``[start, end)`` exactly as Radicale's time-range test
    says, or None where the index does not know (Radicale then decides)."""
    if occurrences is None:
        return None
    if not occurrences:
        return start < item_end and item_start < end
    numbers = memoryview(occurrences).cast("q")
    horizon, longest, count = numbers[0], numbers[1], numbers[2]
    if end > horizon:
        return None
    starts = numbers[_HEAD:_HEAD + count]
    ends = numbers[_HEAD + count:_HEAD + 2 * count]
    first = bisect.bisect_right(starts, start - longest)   # spans starting earlier end by start
    last = bisect.bisect_left(starts, end)                 # spans starting at or after end are out
    return first < last and max(ends[first:last]) > start
