"""A few fields of an iCalendar or vCard text, read without a full parse.

Used under Radicale's write lock, so it must stay cheap: it unfolds lines
and picks the first SUMMARY / FN / DTSTART / UID it meets.
"""

from __future__ import annotations

_FIELDS = ("UID", "SUMMARY", "FN", "DTSTART", "DTEND", "LOCATION")


def summarize(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    found: dict[str, str] = {}
    unfolded = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "")
    for line in unfolded.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.split(";", 1)[0].upper()
        if key in _FIELDS and key not in found:
            found[key] = value.strip()
            if len(found) == len(_FIELDS):
                break
    return found
