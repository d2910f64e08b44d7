"""What a person may set on a calendar or address book: its kind, display name and colour,
and the folder name a new one gets from its display name.

The display name is ``DAV:displayname`` (RFC 4918 section 15.2); the colour is
Apple's ``calendar-color`` for calendars and InfCloud's ``addressbook-color``
for address books, the properties CalDAV and CardDAV clients exchange.
"""

from __future__ import annotations

import enum
import re
import unicodedata

from ..base import names
from ..base.collection_store import COLOUR_PROPS
from ..base.errors import InvalidName
from ..base.names import shown

MAX_DISPLAY_NAME = 256
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?")
# control characters, line and paragraph separators, lone surrogates (format characters such as
# the joiner of an emoji family are fine)
_NOT_ON_ONE_LINE = {"Cc", "Zl", "Zp", "Cs"}
# what a folder name may not hold (names.new_collection_name), replaced when a name is made from a display name
_NOT_IN_FOLDER_NAME = set("/\\:'\"*?,~")


class Kind(enum.Enum):
    """A calendar (events, tasks, journal) or an address book (cards)."""

    CALENDAR = "VCALENDAR"
    ADDRESS_BOOK = "VADDRESSBOOK"

    @property
    def words(self) -> str:
        return "calendar" if self is Kind.CALENDAR else "address book"

    @property
    def items(self) -> str:
        return "events" if self is Kind.CALENDAR else "cards"

    @property
    def colour_property(self) -> str:
        return COLOUR_PROPS[self.value]


def display_name(value: str) -> str:
    """What clients show: any text on one line, at most :data:`MAX_DISPLAY_NAME` characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidName("the display name is empty")
    if len(value) > MAX_DISPLAY_NAME:
        raise InvalidName(f"the display name is longer than {MAX_DISPLAY_NAME} characters")
    if any(unicodedata.category(ch) in _NOT_ON_ONE_LINE for ch in value):
        raise InvalidName(f"the display name {shown(value)} contains control characters or line breaks")
    return value


def colour(value: str) -> str:
    """``#rrggbb`` (or Apple's ``#rrggbbaa``), as CalDAV clients exchange it."""
    if not isinstance(value, str) or not _COLOUR.fullmatch(value):
        raise InvalidName(f"the colour {shown(value)} is not of the form #rrggbb (e.g. #3a86ff)")
    return value


def folder_name_for(shown_as: str, kind: Kind) -> str:
    """A folder name for a collection made from its display name alone (the web page): the display
    name itself where it can be one (家庭, Fußball 🎉), else with the characters a path may not hold
    replaced by ``-``; the kind's word when nothing is left."""
    text = unicodedata.normalize("NFC", shown_as)
    text = "".join("-" if ch in _NOT_IN_FOLDER_NAME or unicodedata.category(ch)[0] == "C" or
                   (ch.isspace() and ch != " ") else ch for ch in text)
    text = text.replace("..", "-").strip(" ").lstrip(".- ")
    while len(text) > names.MAX_NAME_LENGTH or len(text.encode("utf-8", "surrogatepass")) > names.MAX_NAME_BYTES - 4:
        text = text[:-1]
    text = text.rstrip(" ")
    try:
        return names.new_collection_name(text)
    except InvalidName:
        return kind.words


def numbered(name: str, number: int) -> str:
    """``家庭 2``: the name a second collection made from the same display name gets."""
    return name if number < 2 else f"{name} {number}"
