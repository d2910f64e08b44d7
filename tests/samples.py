"""Calendar objects, cards and request bodies that many tests send."""

from __future__ import annotations

ICS = {"Content-Type": "text/calendar"}
VCF = {"Content-Type": "text/vcard"}


def event(uid: str, summary: str | None = None, *, attendees: str = "") -> str:
    """One VEVENT on 2026-01-05 18:00-19:00 UTC; ``attendees`` are whole ATTENDEE lines."""
    return ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VEVENT\n"
            f"UID:{uid}\nDTSTAMP:20260101T000000Z\nDTSTART:20260105T180000Z\nDTEND:20260105T190000Z\n"
            f"SUMMARY:{uid if summary is None else summary}\n{attendees}END:VEVENT\nEND:VCALENDAR\n")


def card(uid: str, name: str) -> str:
    return f"BEGIN:VCARD\nVERSION:3.0\nUID:{uid}\nFN:{name}\nN:{name};;;;\nEND:VCARD\n"


def address_book_mkcol(display_name: str | None = None) -> str:
    """The MKCOL body (RFC 5689) that creates an address book."""
    name = f"<D:displayname>{display_name}</D:displayname>" if display_name else ""
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>'
            f"<D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>{name}"
            "</D:prop></D:set></D:mkcol>")
