"""What a link shows: iCalendar feeds and vCards built from stored item texts.

Items are read line by line (RFC 5545 section 3.1: content lines, folding),
not parsed into objects and written back, so every value a feed passes on is
byte-for-byte what the owner's client stored.  Two things are added:

- completeness: one ``VTIMEZONE`` for every ``TZID`` the feed uses (RFC 5545
  section 3.6.5).  An item's own VTIMEZONE is used first; a TZID no item
  defines gets one made from the time zone database (icalendar's
  ``Timezone.from_tzid``, 1970-2038).
- redaction, for free/busy links and for events marked ``CLASS:PRIVATE`` or
  ``CLASS:CONFIDENTIAL`` in a full calendar: each event keeps only its times
  and recurrence (a whitelist: DTSTART, DTEND, DURATION, RRULE, RDATE, EXDATE,
  RECURRENCE-ID, DTSTAMP, SEQUENCE, STATUS, TRANSP, with only the TZID, VALUE
  and RANGE parameters), a UID replaced by a hash, and the summary "Busy".
  Alarms, to-dos and journals are dropped; an event whose master is
  transparent or cancelled does not make anyone busy, so it is left out.
  The item's VTIMEZONEs keep only what turns a local time into an instant
  (RFC 5545 section 3.6.5): TZID, and the STANDARD and DAYLIGHT rules with
  DTSTART, TZOFFSETFROM, TZOFFSETTO, RRULE and RDATE (parameter VALUE
  only); TZNAME, TZURL, LAST-MODIFIED, COMMENT, X- properties (Thunderbird's
  X-LIC-LOCATION, Outlook's X-MICROSOFT-CDO-TZID ...) and other components go.
  Events stripped this way, rather than a VFREEBUSY, because calendar apps
  show subscribed events but ignore VFREEBUSY in a feed, and recurrence
  stays the client's work instead of a window expanded here.

What each item yields is remembered by its ETag (a hash of its text), so a
feed is rebuilt from cached parts after the first request.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..base.content_lines import LINE_BREAK, ContentLine, content_lines, escape_text, fold

PRODID = "-//radicale-ext//share links//EN"
REFRESH = "PT1H"  # how often subscribers are asked to refresh (RFC 7986 REFRESH-INTERVAL)
BUSY_PROPERTIES = frozenset({"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID",
                             "DTSTAMP", "SEQUENCE", "STATUS", "TRANSP"})
BUSY_PARAMETERS = frozenset({"TZID", "VALUE", "RANGE"})
ZONE_RULES = frozenset({"STANDARD", "DAYLIGHT"})
ZONE_RULE_PROPERTIES = frozenset({"DTSTART", "TZOFFSETFROM", "TZOFFSETTO", "RRULE", "RDATE"})
ZONE_PARAMETERS = frozenset({"VALUE"})
_PRIVATE_CLASSES = frozenset({"PRIVATE", "CONFIDENTIAL"})


@dataclass(frozen=True)
class StoredItem:
    href: str
    text: str
    etag: str


@dataclass(frozen=True)
class CalendarParts:
    """What one stored calendar object contributes to a feed."""

    components: str                            # CRLF-terminated lines, VTIMEZONEs excluded
    timezones: tuple[tuple[str, str], ...]     # (TZID, its VTIMEZONE block) as the item defines them
    tzids_used: frozenset[str]
    private: bool                              # a component is CLASS:PRIVATE or CONFIDENTIAL


def calendar_parts(text: str) -> CalendarParts:
    """Split a stored calendar object (one VCALENDAR) into its parts."""
    components: list[str] = []
    timezones: list[tuple[str, str]] = []
    used: set[str] = set()
    private = False
    depth, zone, zone_id = 0, [], ""
    for line in content_lines(text):
        if line.name == "BEGIN":
            depth += 1
            if depth == 2 and line.value.upper() == "VTIMEZONE":
                zone, zone_id = [line.raw], ""
                continue
        if zone:
            zone.append(line.raw)
            if depth == 2 and line.name == "TZID":
                zone_id = line.value
            if depth == 2 and line.name == "END":
                timezones.append((zone_id, "".join(zone)))
                zone = []
        elif depth >= 2:
            components.append(line.raw)
            tzid = line.param("TZID")
            if tzid:
                used.add(tzid)
            if depth == 2 and line.name == "CLASS" and line.value.strip().upper() in _PRIVATE_CLASSES:
                private = True
        if line.name == "END":
            depth -= 1
    return CalendarParts("".join(components), tuple(timezones), frozenset(used), private)


def hidden_uid(uid: str, salt: str) -> str:
    return "busy-" + hashlib.sha256(f"{salt}\0{uid}".encode()).hexdigest()[:32]


def _busy_line(line: ContentLine, parameters: frozenset[str] = BUSY_PARAMETERS) -> str:
    if all(key in parameters for key, _value in line.params):
        return line.raw
    params = "".join(f";{key}={value}" for key, value in line.params if key in parameters)
    return fold(f"{line.name}{params}:{line.value}")


def busy_timezone(block: str) -> str:
    """A stored VTIMEZONE with only what places a time: TZID and the STANDARD/DAYLIGHT rules (see the module)."""
    out: list[str] = []
    path: list[str] = []           # the components we are in, outermost first
    for line in content_lines(block):
        if line.name == "BEGIN":
            path.append(line.value.strip().upper())
        in_zone = path[:1] == ["VTIMEZONE"]
        in_rule = in_zone and len(path) == 2 and path[1] in ZONE_RULES
        if line.name in ("BEGIN", "END"):
            keep = in_zone and (len(path) == 1 or in_rule)
        elif len(path) == 1:
            keep = in_zone and line.name == "TZID"
        else:
            keep = in_rule and line.name in ZONE_RULE_PROPERTIES
        if keep:
            out.append(_busy_line(line, ZONE_PARAMETERS))
        if line.name == "END" and path:
            path.pop()
    return "".join(out)


def busy_parts(text: str, salt: str) -> CalendarParts:
    """The item with every event reduced to when it is (see the module's notes)."""
    events: list[list[ContentLine]] = []
    timezones = tuple((tzid, busy_timezone(block)) for tzid, block in calendar_parts(text).timezones)
    depth, current = 0, None
    for line in content_lines(text):
        if line.name == "BEGIN":
            depth += 1
            if depth == 2:
                current = [] if line.value.upper() == "VEVENT" else None
                if current is not None:
                    events.append(current)
        elif line.name == "END":
            depth -= 1
        elif depth == 2 and current is not None:
            current.append(line)
    master = next((e for e in events if not any(p.name == "RECURRENCE-ID" for p in e)), None)
    if master is not None and _frees_time(master):
        return CalendarParts("", timezones, frozenset(), False)
    out: list[str] = []
    used: set[str] = set()
    for event in events:
        out.append("BEGIN:VEVENT\r\n")
        uid = next((p.value for p in event if p.name == "UID"), "")
        out.append(fold(f"UID:{hidden_uid(uid, salt)}"))
        for line in event:
            if line.name in BUSY_PROPERTIES:
                out.append(_busy_line(line))
                tzid = line.param("TZID")
                if tzid:
                    used.add(tzid)
        out.append("SUMMARY:Busy\r\nEND:VEVENT\r\n")
    return CalendarParts("".join(out), timezones, frozenset(used), False)


def _frees_time(event: list[ContentLine]) -> bool:
    values = {line.name: line.value.strip().upper() for line in event if line.name in ("TRANSP", "STATUS")}
    return values.get("TRANSP") == "TRANSPARENT" or values.get("STATUS") == "CANCELLED"


@lru_cache(maxsize=512)
def generated_timezone(tzid: str) -> str | None:
    """A VTIMEZONE for a TZID no item defines, from the time zone database; ``None`` if unknown."""
    import icalendar  # here, not with the module: most server processes never make a feed

    try:
        block = icalendar.Timezone.from_tzid(tzid).to_ical().decode("utf-8")
    except Exception:  # icalendar raises ValueError and others for names it cannot resolve
        return None
    return "".join(line + "\r\n" for line in LINE_BREAK.split(block) if line)


class FeedMaker:
    """Builds link content; what each item yields is cached by (ETag, view)."""

    def __init__(self, cache_size: int = 20_000) -> None:
        self._parts: OrderedDict[tuple[str, str], CalendarParts] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_size = cache_size

    # -- calendars ------------------------------------------------------------

    def calendar(self, items: Iterable[StoredItem], *, name: str | None, description: str | None,
                 free_busy: bool, salt: str) -> str:
        """A whole calendar as one iCalendar feed (RFC 5545, RFC 7986 name and refresh)."""
        parts = [self._item_parts(item, free_busy=free_busy, salt=salt) for item in items]
        head = ["BEGIN:VCALENDAR\r\n", "VERSION:2.0\r\n", fold(f"PRODID:{PRODID}"), "CALSCALE:GREGORIAN\r\n",
                "METHOD:PUBLISH\r\n"]
        if name:
            shown = f"{name} (free/busy)" if free_busy else name
            head += [fold(f"NAME:{escape_text(shown)}"), fold(f"X-WR-CALNAME:{escape_text(shown)}")]
        if description and not free_busy:
            head += [fold(f"DESCRIPTION:{escape_text(description)}"),
                     fold(f"X-WR-CALDESC:{escape_text(description)}")]
        head += [f"REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}\r\n", f"X-PUBLISHED-TTL:{REFRESH}\r\n"]
        return _assemble(head, parts)

    def event(self, item: StoredItem) -> str:
        """One stored event (its master and overrides), with its time zones."""
        head = ["BEGIN:VCALENDAR\r\n", "VERSION:2.0\r\n", fold(f"PRODID:{PRODID}"), "METHOD:PUBLISH\r\n"]
        return _assemble(head, [self._cached(item.etag, "full", lambda: calendar_parts(item.text))])

    def _item_parts(self, item: StoredItem, *, free_busy: bool, salt: str) -> CalendarParts:
        if not free_busy:
            parts = self._cached(item.etag, "full", lambda: calendar_parts(item.text))
            if not parts.private:
                return parts
        return self._cached(item.etag, f"busy:{salt}", lambda: busy_parts(item.text, salt))

    def _cached(self, etag: str, view: str, make) -> CalendarParts:
        key = (etag, view)
        with self._lock:
            parts = self._parts.get(key)
            if parts is not None:
                self._parts.move_to_end(key)
                return parts
        parts = make()
        with self._lock:
            self._parts[key] = parts
            while len(self._parts) > self._cache_size:
                self._parts.popitem(last=False)
        return parts

    # -- contacts -------------------------------------------------------------

    @staticmethod
    def cards(items: Iterable[StoredItem]) -> str:
        """Cards as stored, one after the other (RFC 6350 section 3.1)."""
        return "".join(_crlf_terminated(item.text) for item in items)

    @staticmethod
    def card(item: StoredItem) -> str:
        return _crlf_terminated(item.text)


def _crlf_terminated(text: str) -> str:
    return text if text.endswith("\r\n") else text.rstrip("\r\n") + "\r\n"


def _assemble(head: list[str], parts: Sequence[CalendarParts]) -> str:
    zones: dict[str, str] = {}
    used: set[str] = set()
    for p in parts:
        if p.components:
            used |= p.tzids_used
        for tzid, block in p.timezones:
            zones.setdefault(tzid, block)
    needed = [tzid for tzid in sorted(used) if tzid not in zones and tzid.upper() != "UTC"]
    blocks = [zones[tzid] for tzid in zones if tzid in used]
    for tzid in needed:
        block = generated_timezone(tzid)
        if block is not None:
            blocks.append(block)
    return "".join(head) + "".join(blocks) + "".join(p.components for p in parts) + "END:VCALENDAR\r\n"
