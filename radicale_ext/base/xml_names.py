"""Clark names of the WebDAV and CalendarServer XML elements our core modules write."""

from __future__ import annotations

DAV = "DAV:"
CS = "http://calendarserver.org/ns/"


def dav(tag: str) -> str:
    return f"{{{DAV}}}{tag}"


def cs(tag: str) -> str:
    return f"{{{CS}}}{tag}"
