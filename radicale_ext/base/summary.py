"""A few fields of an iCalendar or vCard text, read without a full parse.

Used under Radicale's write lock, so it must stay cheap: it unfolds lines
and picks the item's first SUMMARY / FN / DTSTART / UID it meets, and the TZID of
that DTSTART (as ``DTSTART_TZID``), so that a notice can say the time in the
reader's zone.
"""

from __future__ import annotations

from .content_lines import unfolded

_FIELDS = ("UID", "SUMMARY", "FN", "DTSTART", "DTEND", "LOCATION")
_SKIPPED = ("VTIMEZONE", "VALARM")


def summarize(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    found: dict[str, str] = {}
    seen = 0
    skipping = ""  # inside a VTIMEZONE or VALARM, whose DTSTART or SUMMARY is not the item's
    for line in unfolded(text).splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key, _, params = name.partition(";")
        key = key.upper()
        if key in ("BEGIN", "END"):
            component = value.strip().upper()
            if component in _SKIPPED:
                skipping = component if key == "BEGIN" else ""
            continue
        if skipping:
            continue
        if key in _FIELDS and key not in found:
            found[key] = value.strip()
            if key == "DTSTART" and params:
                tzid = _tzid(params)
                if tzid:
                    found["DTSTART_TZID"] = tzid
            seen += 1
            if seen == len(_FIELDS):
                break
    return found


def _tzid(params: str) -> str | None:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().upper() == "TZID":
            return value.strip().strip('"') or None
    return None
