"""Content lines of iCalendar and vCard texts (RFC 5545 section 3.1, RFC 6350 section 3.2), read as written.

Unfolding, parameters, TEXT escapes and folding, without parsing an item
into objects, so that what is passed on stays byte-for-byte what a client
stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LINE_BREAK = re.compile(r"\r\n|\n|\r")
_FOLD = re.compile(r"\r?\n[ \t]")   # a line break followed by a space or tab: the line goes on


def unfolded(text: str) -> str:
    """The text with its folded content lines joined again (RFC 5545 section 3.1, RFC 6350 section 3.2)."""
    return _FOLD.sub("", text)


@dataclass(frozen=True)
class ContentLine:
    """One unfolded content line: ``NAME;PARAM=VALUE:value``."""

    name: str                                  # upper case
    params: tuple[tuple[str, str], ...]        # (upper-case name, raw value as written, quotes included)
    value: str
    raw: str                                   # the physical lines as stored, CRLF-terminated

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value.strip('"')
        return None


def _split_params(head: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    parts: list[str] = []
    current, quoted = [], False
    for ch in head:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    params = []
    for part in parts[1:]:
        key, _sep, value = part.partition("=")
        params.append((key.strip().upper(), value))
    return parts[0].strip().upper(), tuple(params)


def _content_line(physical: Sequence[str]) -> ContentLine:
    logical = "".join(line[1:] if i else line for i, line in enumerate(physical))
    quoted = False
    for i, ch in enumerate(logical):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            head, value = logical[:i], logical[i + 1:]
            break
    else:
        head, value = logical, ""
    name, params = _split_params(head)
    return ContentLine(name, params, value, "".join(line + "\r\n" for line in physical))


def content_lines(text: str) -> Iterable[ContentLine]:
    """The content lines of an iCalendar or vCard text, unfolded (RFC 5545 section 3.1)."""
    physical: list[str] = []
    for line in LINE_BREAK.split(text):
        if line[:1] in (" ", "\t") and physical:
            physical.append(line)
            continue
        if physical:
            yield _content_line(physical)
        physical = [line] if line else []
    if physical:
        yield _content_line(physical)


def fold(line: str) -> str:
    """One content line, folded at 75 octets (RFC 5545 section 3.1), CRLF-terminated."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line + "\r\n"
    out, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # never split a UTF-8 sequence
            end -= 1
        out.append(data[start:end].decode("utf-8"))
        start, limit = end, 74
    return "\r\n ".join(out) + "\r\n"


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 section 3.3.11)."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def unescape_text(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def first_text(text: str, name: str) -> str | None:
    """The first ``name`` property's TEXT value, e.g. an event's SUMMARY or a card's FN."""
    for line in content_lines(text):
        if line.name == name:
            return unescape_text(line.value)
    return None
