"""What a change notice says, in words: "Bob moved Football practice to Tue 6 Jan 18:00".

"Moved" is an update that changed the item's start (DTSTART).  Times are
given in the reader's time zone when they chose one, else in the event's
own (its DTSTART's TZID, or as written for floating times; UTC times get
"UTC" after them).  Collections are named as the reader sees them: their
own by their name, someone else's as "family (alice)".  A me card that changed
for its reader is told in the cards feature's words, which name only the
fields the reader sees ("Alice's mobile number changed").
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence

from .changes import ChangeNotice, ItemChange, unescape
from .outbox import ChangeKind
from .zones import zone as _zone

_NOUNS = {"VTODO": ("the task", "a task"), "VJOURNAL": ("the note", "a note"), "VCARD": ("the contact", "a contact")}


def person(user: str) -> str:
    """A user as named in a sentence: "bob" -> "Bob" (an address stays as it is)."""
    return user[:1].upper() + user[1:] if user.isalpha() and user.islower() else user


def _day(d: datetime.date, year: int | None) -> str:
    text = f"{d:%a} {d.day} {d:%b}"
    return text if year is None or d.year == year else f"{text} {d.year}"


def event_time(value: str | None, tzid: str | None, reader_zone: str | None, *, year: int | None = None) -> str:
    """An iCalendar DATE or DATE-TIME as people read it: "Tue 6 Jan 18:00" ("" when absent).

    Said as written when it cannot be said in the reader's zone: a TZID that names no zone, a
    moment that falls outside the years 1 to 9999 in the reader's zone."""
    if not value:
        return ""
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return _day(datetime.datetime.strptime(text, "%Y%m%d").date(), year)
        moment = datetime.datetime.strptime(text.rstrip("Zz"), "%Y%m%dT%H%M%S")
    except ValueError:
        return text
    target = _zone(reader_zone)
    suffix = ""
    if text.endswith(("Z", "z")):
        moment = moment.replace(tzinfo=datetime.UTC)
        if target is None:
            suffix = " UTC"
    elif _zone(tzid) is not None:
        moment = moment.replace(tzinfo=_zone(tzid))
    else:
        target = None  # floating, or a zone we do not know: as written
    if target is not None and moment.tzinfo is not None:
        try:
            moment = moment.astimezone(target)
        except OverflowError:
            suffix = " UTC" if text.endswith(("Z", "z")) else ""   # as written
    return f"{_day(moment.date(), year)} {moment:%H:%M}{suffix}"


class Wording:
    """Sentences about change notices for one reader."""

    def __init__(self, collection_name: Callable[[str], str]) -> None:
        self._collection_name = collection_name

    def collection(self, collection: str, reader: str) -> str:
        owner = collection.strip("/").split("/")[0]
        name = self._collection_name(collection)
        return name if owner == reader else f"{name} ({owner})"

    def headline(self, notice: ChangeNotice, reader: str, zone: str | None) -> str:
        """One line: the change, or "Bob made 50 changes to family (alice)"."""
        if all(c.kind is ChangeKind.CARD_CHANGED for c in notice.changes):
            return card_headline(notice.changes)
        if len(notice.changes) == 1:
            change = notice.changes[0]
            sentence = self.sentence(change, notice, reader, zone)
            if change.collection_level:
                return sentence
            return f"{sentence} in {self.collection(notice.collection, reader)}"
        return (f"{person(notice.actor)} made {len(notice.changes)} changes to "
                f"{self.collection(notice.collection, reader)}")

    def lines(self, notice: ChangeNotice, reader: str, zone: str | None) -> list[str]:
        return [self.sentence(c, notice, reader, zone) for c in notice.changes]

    def sentence(self, change: ItemChange, notice: ChangeNotice, reader: str, zone: str | None) -> str:
        actor = person(notice.actor)
        year = datetime.datetime.fromtimestamp(change.at, datetime.UTC).year
        start_new = event_time(change.new.get("DTSTART"), change.new.get("DTSTART_TZID"), zone, year=year)
        start_old = event_time(change.old.get("DTSTART"), change.old.get("DTSTART_TZID"), zone, year=year)
        what = _what(change)
        kind = change.kind
        if kind is ChangeKind.ITEM_CREATED:
            return f"{actor} added {what}" + (f" on {start_new}" if start_new else "")
        if kind is ChangeKind.ITEM_UPDATED:
            if change.rescheduled:
                was = f" (was {start_old})" if start_old != start_new else ""
                return f"{actor} moved {what} to {start_new}{was}"
            renamed = {"SUMMARY", "FN"} & set(change.changed_fields)
            old_title = unescape(change.old.get("SUMMARY") or change.old.get("FN") or "").strip()
            if renamed and old_title:
                return f"{actor} renamed {_what(change, title=old_title)} to {change.title}"
            return f"{actor} changed {what}" + (f" on {start_new}" if start_new else "")
        if kind is ChangeKind.ITEM_CHANGED:     # settled after a crash: created or updated, we cannot tell
            return f"{actor} added or changed {what}" + (f" on {start_new}" if start_new else "")
        if kind is ChangeKind.REMINDER:
            return f"Reminder: {what}" + (f" on {start_new}" if start_new else "")
        if kind is ChangeKind.CARD_CHANGED:
            return str(change.card.get("summary") or card_headline([change]))
        if kind is ChangeKind.VAPID_KEY_ROTATED:
            return "The server's push key changed; subscribed devices subscribe again"
        if kind is ChangeKind.ITEM_DELETED:
            return f"{actor} deleted {what}" + (f" on {start_old}" if start_old else "")
        if kind is ChangeKind.ITEM_MOVED:
            if change.to_collection and change.to_collection != notice.collection:
                return f"{actor} moved {what} to {self.collection(change.to_collection, reader)}"
            return f"{actor} moved {what}"
        label = self.collection(notice.collection, reader)
        if kind is ChangeKind.COLLECTION_REPLACED:
            return f"{actor} replaced everything in {label}" + (f" ({change.items} items)" if change.items else "")
        if kind is ChangeKind.COLLECTION_DELETED:
            return f"{actor} deleted {label}"
        if kind is ChangeKind.PROPERTIES_CHANGED:
            return f"{actor} changed the name or colour of {label}"
        return f"{actor} changed {what}"


def card_headline(changes: Sequence[ItemChange]) -> str:
    """A me card that changed for its reader, once or in a burst: "Alice's mobile number and birthday changed".

    The cards feature names only the fields the reader sees (radicale_ext/cards/me_cards.py); a burst names
    each of them once, in the order they first changed."""
    last = changes[-1].card
    if len(changes) == 1 and last.get("summary"):
        return str(last["summary"])
    name = str(last.get("name") or "Someone")
    if last.get("gone"):
        return f"{name}'s card is no longer shared with you"
    fields = list(dict.fromkeys(str(f) for c in changes for f in c.card.get("fields") or ()))
    sentence = f"{name}'s {listed(fields)} changed" if fields else f"{name}'s card changed"
    if last.get("ask_first"):
        sentence += f"; your copy stays as it is until you accept (radicale-ext card accept {last.get('owner')})"
    return sentence


def listed(words: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _what(change: ItemChange, title: str | None = None) -> str:
    """The item as a noun phrase: "Football practice", "the task Buy milk", "a contact"."""
    title = (title if title is not None else change.title).strip()
    named, unnamed = _NOUNS.get(change.component or "", ("", "an event" if change.component == "VEVENT"
                                                          else "an item"))
    if not title:
        return unnamed
    return f"{named} {title}" if named else title
