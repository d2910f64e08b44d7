"""Event participants: the people an event names, by their calendar addresses.

A line scan of the iCalendar text (RFC 5545 3.1 unfolding, 3.8.4.1
ATTENDEE), so that no second parse of an item Radicale already parsed is
needed.
"""

from __future__ import annotations

import re

from ..base.content_lines import unfolded


def _value(line: str) -> str | None:
    """The value of a content line: after the first ``:`` outside a quoted parameter."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            return line[i + 1:].strip()
    return None


def participant_addresses(text: str) -> list[str]:
    """The ATTENDEE addresses of an iCalendar text, in order, each once."""
    found: dict[str, None] = {}
    for line in unfolded(text).splitlines():
        name = re.split(r"[;:]", line, maxsplit=1)[0]
        if name.upper() == "ATTENDEE":
            value = _value(line)
            if value:
                found.setdefault(value, None)
    return list(found)
