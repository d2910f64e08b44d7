"""What a change notice says, in words: "Bob moved Football practice to Tue 6 Jan 18:00".

"Moved" is an update that changed the item's start (DTSTART).  Times are
given in the reader's time zone when they chose one, else in the event's
own (its DTSTART's TZID, or as written for floating times; UTC times get
"UTC" after them).  Collections are named as the reader sees them: their
own by their name, someone else's as "family (alice)".  A me card that changed
for its reader is told in the cards feature's words, which name only the
fields the reader sees ("Alice's mobile number changed").

Every sentence is a message of the notices' catalog, said in the reader's
language (:mod:`.language`: English, Simplified Chinese), with days and
times as that language writes them ("Tue 6 Jan 18:00", "1月6日周二 18:00").
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .changes import ChangeNotice, ItemChange, unescape
from .language import DEFAULT, N_, speech
from .outbox import ChangeKind
from .zones import zone as _zone

# the item as a noun phrase, by component: (named, unnamed)
_NOUNS = {"VTODO": (N_("the task {title}"), N_("a task")), "VJOURNAL": (N_("the note {title}"), N_("a note")),
          "VCARD": (N_("the contact {title}"), N_("a contact")), "VEVENT": (N_("{title}"), N_("an event"))}
_ITEM = (N_("{title}"), N_("an item"))


def person(user: str) -> str:
    """A user as named in a sentence: "bob" -> "Bob" (an address stays as it is)."""
    return user[:1].upper() + user[1:] if user.isalpha() and user.islower() else user


def event_time(value: str | None, tzid: str | None, reader_zone: str | None, *, year: int | None = None,
               language: str = DEFAULT) -> str:
    """An iCalendar DATE or DATE-TIME as people read it: "Tue 6 Jan 18:00", "1月6日周二 18:00" ("" when absent).

    The year is said when it is not ``year``.  Said as written when it cannot be said in the reader's
    zone: a TZID that names no zone, a moment that falls outside the years 1 to 9999 in the reader's zone."""
    if not value:
        return ""
    words = speech(language)
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            d = datetime.datetime.strptime(text, "%Y%m%d").date()
            return words.day(d, year is not None and d.year != year)
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
    day = words.day(moment.date(), year is not None and moment.year != year)
    return f"{day} {words.clock(moment)}{suffix}"


class Wording:
    """Sentences about change notices for one reader, in their language (:mod:`.language`)."""

    def __init__(self, collection_name: Callable[[str], str]) -> None:
        self._collection_name = collection_name

    def collection(self, collection: str, reader: str) -> str:
        owner = collection.strip("/").split("/")[0]
        name = self._collection_name(collection)
        return name if owner == reader else f"{name} ({owner})"

    def headline(self, notice: ChangeNotice, reader: str, zone: str | None, language: str = DEFAULT) -> str:
        """One line: the change, or "Bob made 50 changes to family (alice)"."""
        words = speech(language)
        if all(c.kind is ChangeKind.CARD_CHANGED for c in notice.changes):
            return card_headline(notice.changes, language)
        if len(notice.changes) == 1:
            change = notice.changes[0]
            sentence = self.sentence(change, notice, reader, zone, language)
            if change.collection_level:
                return sentence
            return words._("{sentence} in {collection}").format(
                sentence=sentence, collection=self.collection(notice.collection, reader))
        count = len(notice.changes)
        return words.ngettext("{actor} made {count} change to {collection}",
                              "{actor} made {count} changes to {collection}", count).format(
            actor=person(notice.actor), count=count, collection=self.collection(notice.collection, reader))

    def lines(self, notice: ChangeNotice, reader: str, zone: str | None, language: str = DEFAULT) -> list[str]:
        return [self.sentence(c, notice, reader, zone, language) for c in notice.changes]

    def sentence(self, change: ItemChange, notice: ChangeNotice, reader: str, zone: str | None,
                 language: str = DEFAULT) -> str:
        words = speech(language)
        _ = words._
        year = datetime.datetime.fromtimestamp(change.at, datetime.UTC).year
        start_new = event_time(change.new.get("DTSTART"), change.new.get("DTSTART_TZID"), zone, year=year,
                               language=language)
        start_old = event_time(change.old.get("DTSTART"), change.old.get("DTSTART_TZID"), zone, year=year,
                               language=language)
        said = {"actor": person(notice.actor), "what": _what(change, language), "start": start_new,
                "old": start_old}
        kind = change.kind
        if kind is ChangeKind.ITEM_CREATED:
            return (_("{actor} added {what} on {start}") if start_new else _("{actor} added {what}")).format(**said)
        if kind is ChangeKind.ITEM_UPDATED:
            if change.rescheduled:
                if start_old != start_new:
                    return _("{actor} moved {what} to {start} (was {old})").format(**said)
                return _("{actor} moved {what} to {start}").format(**said)
            renamed = {"SUMMARY", "FN"} & set(change.changed_fields)
            old_title = unescape(change.old.get("SUMMARY") or change.old.get("FN") or "").strip()
            if renamed and old_title:
                return _("{actor} renamed {what} to {title}").format(
                    actor=said["actor"], what=_what(change, language, title=old_title), title=change.title)
            return (_("{actor} changed {what} on {start}") if start_new else _("{actor} changed {what}")).format(**said)
        if kind is ChangeKind.ITEM_CHANGED:     # settled after a crash: created or updated, we cannot tell
            return (_("{actor} added or changed {what} on {start}") if start_new
                    else _("{actor} added or changed {what}")).format(**said)
        if kind is ChangeKind.REMINDER:
            return (_("Reminder: {what} on {start}") if start_new else _("Reminder: {what}")).format(**said)
        if kind is ChangeKind.CARD_CHANGED:
            return card_headline([change], language)
        if kind is ChangeKind.VAPID_KEY_ROTATED:
            return _("The server's push key changed; subscribed devices subscribe again")
        if kind is ChangeKind.ITEM_DELETED:
            return (_("{actor} deleted {what} on {start}") if start_old
                    else _("{actor} deleted {what}")).format(**{**said, "start": start_old})
        if kind is ChangeKind.ITEM_MOVED:
            if change.to_collection and change.to_collection != notice.collection:
                return _("{actor} moved {what} to {collection}").format(
                    **said, collection=self.collection(change.to_collection, reader))
            return _("{actor} moved {what}").format(**said)
        said["collection"] = self.collection(notice.collection, reader)
        if kind is ChangeKind.COLLECTION_REPLACED:
            if change.items:
                return words.ngettext("{actor} replaced everything in {collection} ({items} item)",
                                      "{actor} replaced everything in {collection} ({items} items)",
                                      change.items).format(**said, items=change.items)
            return _("{actor} replaced everything in {collection}").format(**said)
        if kind is ChangeKind.COLLECTION_DELETED:
            return _("{actor} deleted {collection}").format(**said)
        if kind is ChangeKind.PROPERTIES_CHANGED:
            return _("{actor} changed the name or colour of {collection}").format(**said)
        return _("{actor} changed {what}").format(**said)


def card_headline(changes: Sequence[ItemChange], language: str = DEFAULT) -> str:
    """A me card that changed for its reader, once or in a burst: "Alice's mobile number and birthday changed".

    The cards feature names only the fields the reader sees (radicale_ext/cards/me_cards.py), in the
    catalog's words (:func:`field_words`); a burst names each of them once, in the order they first changed."""
    words = speech(language)
    last = changes[-1].card
    if "name" not in last and last.get("summary"):
        return str(last["summary"])     # a record from before cards said their fields (English)
    name = str(last.get("name") or words._("Someone"))
    if last.get("gone"):
        return words._("{name}'s card is no longer shared with you").format(name=name)
    fields = list(dict.fromkeys(str(f) for c in changes for f in c.card.get("fields") or ()))
    if fields:
        sentence = words._("{name}'s {fields} changed").format(
            name=name, fields=words.listed([field_words(f, language) for f in fields]))
    else:
        sentence = words._("{name}'s card changed").format(name=name)
    if last.get("ask_first"):
        sentence = words._("{sentence}; your copy stays as it is until you accept "
                           "(radicale-ext card accept {owner})").format(sentence=sentence, owner=last.get("owner"))
    return sentence


def card_summary(card: Mapping[str, Any], language: str = DEFAULT) -> str:
    """One person's sentence about a me card that changed for them (the ``card`` of a CARD_CHANGED change),
    in ``language``: what the cards feature stores in their notification collection."""
    return card_headline([ItemChange(ChangeKind.CARD_CHANGED, at=0.0, card=card)], language)


def field_words(field: str, language: str = DEFAULT) -> str:
    """What people call a field of a card, in ``language``: "mobile number" -> "手机号码".

    The cards feature's words (radicale_ext/cards/projection.py, marked for this catalog) are a
    field ("phone number") or a kind and a field ("work phone number"): the second is said as the
    catalog says each part.  A field the catalog does not know (``x-custom``) stays as it is."""
    words = speech(language)
    said = words._(field)
    if said != field or words.language == DEFAULT:
        return said
    kind, _space, rest = field.partition(" ")
    if rest and words._(kind) != kind:
        return words._("{kind} {field}").format(kind=words._(kind), field=field_words(rest, language))
    return field


def listed(words: Sequence[str], language: str = DEFAULT) -> str:
    """"a", "a and b", "a, b and c" (as the language lists them)."""
    return speech(language).listed(list(words))


def _what(change: ItemChange, language: str, title: str | None = None) -> str:
    """The item as a noun phrase: "Football practice", "the task Buy milk", "a contact"."""
    words = speech(language)
    title = (title if title is not None else change.title).strip()
    named, unnamed = _NOUNS.get(change.component or "", _ITEM)
    return words._(named).format(title=title) if title else words._(unnamed)
