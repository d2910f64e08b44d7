"""Bounding the recurrence work of one REPORT (:mod:`radicale_ext.base.recurrence_limits`).

The application notes what a REPORT asks (:func:`note_report`: where its
time ranges and expansion end); the storage plugin asks :func:`check` for
each recurring item it hands Radicale, before Radicale walks its series.
An item's first-year count is computed once per version (ETag).
"""

from __future__ import annotations

import datetime
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict

import radicale.item as radicale_item
from radicale import config

from radicale_ext.base import recurrence_limits

from . import _request

CALDAV = "urn:ietf:params:xml:ns:caldav"
_CACHED = 10_000


class _Report(threading.local):
    serial = -1
    until: float | None = None          # the latest instant the request walks to (its time ranges, its expansion)
    expand_span: float | None = None    # the length of its CALDAV:expand range, in seconds
    walks: recurrence_limits.Walks | None = None


_report = _Report()
_first_years: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
_first_years_lock = threading.Lock()


def _timestamp(value: str | None) -> float | None:
    try:
        return datetime.datetime.strptime(value or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC).timestamp()
    except ValueError:
        return None


def note_report(body: bytes) -> None:
    """Note where a REPORT's time ranges and expansion end (its body is XML already checked)."""
    _report.serial, _report.until, _report.expand_span = _request.serial(), None, None
    _report.walks = recurrence_limits.Walks()
    try:
        root = ET.fromstring(body) if body.strip() else None
    except ET.ParseError:
        return
    if root is None:
        return
    ends = [_timestamp(e.get("end")) for e in root.iter(f"{{{CALDAV}}}time-range")]
    expand = root.find(f".//{{{CALDAV}}}expand")
    if expand is not None:
        start, end = _timestamp(expand.get("start")), _timestamp(expand.get("end"))
        ends.append(end)
        if start is not None and end is not None:
            _report.expand_span = end - start
    known = [e for e in ends if e is not None]
    _report.until = max(known) if known else None


def _first_year(item: radicale_item.Item, cap: int) -> tuple[str, int]:
    """The item's most frequent series: its name and its occurrences in its first year (up to ``cap + 1``)."""
    key = (f"{item.collection.path if item.collection else ''}/{item.href}", item.etag)
    with _first_years_lock:
        known = _first_years.get(key)
    if known is not None:
        return known
    # parsed apart from item.vobject_item: Radicale expands shallow copies of the item and relies on
    # that not being parsed yet (a shared one would be expanded twice, once per property asked)
    component, count = recurrence_limits.densest(recurrence_limits.components_of(item.serialize()), cap)
    known = (recurrence_limits.name_of(component) if component is not None else item.href or "an event", count)
    with _first_years_lock:
        _first_years[key] = known
        while len(_first_years) > _CACHED:
            _first_years.popitem(last=False)
    return known


def check(configuration: config.Configuration, item: radicale_item.Item, first_start: float, series_end: float,
          until: float | None = None) -> None:
    """Raise :class:`~radicale_ext.base.recurrence_limits.TooMuchExpansion` before Radicale walks ``item``'s
    series (starting at ``first_start``, ending at ``series_end``) further than this request may.
    ``until`` is the end of the time range the storage was asked for, if any."""
    if _report.serial != _request.serial() or _report.walks is None:
        return   # not a REPORT the application noted
    ends = [v for v in (until, _report.until) if v is not None]
    if not ends or item.component_name not in ("VEVENT", "VTODO", "VJOURNAL") or "RRULE" not in item.serialize():
        return
    max_expand = configuration.get("reporting", "max_expand_occurrence")
    name, first_year = _first_year(item, max(recurrence_limits.WALK_PER_EVENT, max_expand))
    if first_year <= 1:
        return
    _report.walks.spend(name, recurrence_limits.estimated_walk(first_year, first_start, min(max(ends), series_end)))
    if _report.expand_span is not None:
        _report.walks.expand(name, first_year, _report.expand_span, max_expand)
