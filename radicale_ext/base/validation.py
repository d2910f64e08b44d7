"""Say, in words, why a calendar object or contact card cannot be stored.

Radicale refuses bad data with a bare "Bad Request"; the application
extension (radicale_ext/plugins/app.py) asks :func:`describe_problem` for a sentence the
person (or the client's log) can act on.  Used only after a refusal, so it
costs nothing on the success path.
"""

from __future__ import annotations

import re

import vobject

from .errors import ExtError

#: CalendarServer's storage of each person's alarms inside the event; a client never sends it
_SERVER_STORAGE = re.compile(r"^BEGIN:X-CALENDARSERVER-PERUSER\s*$", re.IGNORECASE | re.MULTILINE)


class NotClientData(ExtError):
    """Data only a server stores (RFC 4791 section 5.3.2.1, ``CALDAV:valid-calendar-data``)."""

    status = 403
    precondition = "C:valid-calendar-data"


def refuse_server_storage(text: str) -> None:
    """Raise for an upload holding CalendarServer's per-person storage component (Apple's CalDAVTester,
    sharing-peruser-data, "Prevent per-user data injection"): each person's alarms are theirs here, kept
    apart from the event (docs/sharing.md), and never taken from what someone uploads."""
    if _SERVER_STORAGE.search(text):
        raise NotClientData("the event holds an X-CALENDARSERVER-PERUSER component, where a server keeps each "
                            "person's alarms; a client may not send one: send the event without it (your own "
                            "alarms go in the event's VALARMs, and stay yours)")


_KIND = {"VCALENDAR": "iCalendar (RFC 5545)", "VCARD": "vCard (RFC 6350)"}


def describe_problem(text: str, expected: str | None) -> str:
    """``expected`` is "VCALENDAR" for a calendar, "VCARD" for an address book."""
    kind = _KIND.get(expected or "", "iCalendar or vCard")
    if not text.strip():
        return f"the body is empty; send one {kind} object"
    try:
        components = list(vobject.readComponents(text, allowQP=True))
    except vobject.base.ParseError as e:
        return f"the data is not valid {kind}: {e}"
    except Exception as e:  # vobject raises many kinds of errors on odd input
        return f"the data is not valid {kind}: {e}"
    if not components:
        return f"the body holds no {kind} object"
    names = {c.name.upper() for c in components}
    if expected and names != {expected}:
        found = ", ".join(sorted(names))
        return f"this collection stores {kind} data, but the body is {found}"
    if expected == "VCALENDAR":
        for component in components:
            inner = [c for c in component.getChildren() if c.name.upper() in ("VEVENT", "VTODO", "VJOURNAL")]
            if not inner:
                return "the calendar object has no VEVENT, VTODO or VJOURNAL"
            uids = {c.uid.value for c in inner if hasattr(c, "uid")}
            if len(uids) > 1:
                return "one calendar object may hold one UID only (recurrence overrides share it); split it"
    return f"the {kind} data could not be stored; check that it is one complete object with a UID"
