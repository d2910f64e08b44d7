"""vCard field projection: the part of a card one audience may see.

A card (vCard 3.0, RFC 2426, or 4.0, RFC 6350) is read line by line
(:func:`radicale_ext.links.feeds.content_lines`: folding undone for reading, the
stored physical lines kept for writing), never parsed into objects and
written back, so every value a projection passes on is byte for byte what
the owner's client stored: folded lines, non-ASCII names, inline PHOTO data
and PHOTO URIs alike.

What an audience sees is a set of :class:`Selector` (``FN``, ``TEL work``,
``*``).  A line is selected when its property is the selector's field and,
when the selector names a type, the line has that type: a ``TYPE``
parameter (``TYPE=work,voice``, ``TYPE=work;TYPE=voice``, ``TYPE="work,voice"``),
a bare 3.0-style parameter (``TEL;WORK:``), ``PREF``, or Apple's label of
the line's group (``item1.X-ABLabel:_$!<Mobile>!$_``).  A grouped line
(``item1.TEL``) brings its group's label lines along.

The projection has its own identity lines (``VERSION`` as stored, a
``UID`` given by the caller, an empty ``N`` for 3.0 when N is not shown, as
RFC 2426 requires one); ``REV``, ``PRODID`` and the owner's ``UID`` are never
passed on, so an edit that changes only them changes no projection.  A
projection without ``FN`` (the name: RFC 6350 section 6.2.1 requires it) is
empty: it is not served as a card.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..base.content_lines import content_lines, unescape_text
from ..base.errors import ExtError
from ..notices.language import N_

# Lines a projection never copies: it writes its own identity lines.
IDENTITY = frozenset({"BEGIN", "END", "VERSION", "UID", "REV", "PRODID"})
# Apple's companions of a grouped line: its label and address format.
GROUP_COMPANIONS = frozenset({"X-ABLABEL", "X-ABADR"})
VERSIONS = ("3.0", "4.0")

# The fields of vCard 3.0 and 4.0 (RFC 2426 section 3, RFC 6350 section 6), and which take a type.
FIELDS = frozenset({
    "FN", "N", "NICKNAME", "PHOTO", "BDAY", "ANNIVERSARY", "GENDER", "ADR", "LABEL", "TEL", "EMAIL",
    "MAILER", "IMPP", "LANG", "TZ", "GEO", "TITLE", "ROLE", "LOGO", "AGENT", "ORG", "MEMBER", "RELATED",
    "CATEGORIES", "NOTE", "SORT-STRING", "SOUND", "URL", "KEY", "FBURL", "CALADRURI", "CALURI", "CLASS",
    "SOURCE", "NAME", "KIND", "XML", "CLIENTPIDMAP",
})
TYPED_FIELDS = frozenset({"ADR", "LABEL", "TEL", "EMAIL", "IMPP", "URL", "RELATED", "KEY", "PHOTO", "LOGO",
                          "SOUND", "FBURL", "CALADRURI", "CALURI", "ORG", "TITLE", "ROLE", "NOTE", "GEO",
                          "TZ", "LANG", "CATEGORIES", "NICKNAME"})
# The types people use (RFC 6350 sections 5.6 and 6.4.1, RFC 2426 sections 3.2-3.3), and the words for some.
TYPES = frozenset({"home", "work", "cell", "voice", "fax", "pager", "text", "textphone", "video", "msg",
                   "bbs", "modem", "car", "isdn", "pcs", "pref", "internet", "x400", "dom", "intl", "postal",
                   "parcel", "main", "other", "iphone", "school"})
TYPE_ALIASES = {"mobile": "cell"}
_APPLE_LABELS = {"mobile": "cell", "iphone": "cell", "home": "home", "work": "work", "other": "other",
                 "main": "main", "homefax": "fax", "workfax": "fax", "pager": "pager", "school": "school"}
_APPLE_LABEL = re.compile(r"_\$!<(.*)>!\$_")

# what people call each field and kind (the notices' catalog says them in other languages:
# radicale_ext/notices/wording.py, field_words)
_FIELD_WORDS = {
    "FN": N_("name"), "N": N_("name"), "NICKNAME": N_("nickname"), "PHOTO": N_("photo"), "BDAY": N_("birthday"),
    "ANNIVERSARY": N_("anniversary"), "GENDER": N_("gender"), "ADR": N_("address"), "LABEL": N_("address label"),
    "TEL": N_("phone number"), "EMAIL": N_("e-mail address"), "IMPP": N_("chat address"), "LANG": N_("language"),
    "TZ": N_("time zone"), "GEO": N_("location"), "TITLE": N_("job title"), "ROLE": N_("role"), "LOGO": N_("logo"),
    "ORG": N_("organisation"), "RELATED": N_("related people"), "CATEGORIES": N_("categories"), "NOTE": N_("note"),
    "URL": N_("web address"), "KEY": N_("public key"), "SOUND": N_("name pronunciation"),
}
_TYPE_WORDS = {"cell": N_("mobile"), "work": N_("work"), "home": N_("home"), "fax": N_("fax"), "pager": N_("pager"),
               "other": N_("other"), "school": N_("school"), "main": N_("main")}
# The fields whose lines people tell apart by a type ("work phone number"), and those types, in the
# order :attr:`CardLine.words` reads them.
WORDED_FIELDS = frozenset({"TEL", "EMAIL", "ADR", "URL", "IMPP", "LABEL"})
WORDED_TYPES = ("work", "home", "fax", "pager", "school", "other")
# Fields whose value is a picture, a sound or a key, shown by no text; and fields made of parts.
PICTURES = frozenset({"PHOTO", "LOGO", "SOUND", "KEY"})
_PARTS = {"N": ";", "ADR": ";", "ORG": ";", "GENDER": ";", "NICKNAME": ",", "CATEGORIES": ","}


class BadCard(ExtError):
    """A text that cannot be a me card (400, CARDDAV:valid-address-data, RFC 6352 section 6.3.2.1)."""

    precondition = "CR:valid-address-data"


class BadPolicy(ExtError):
    """A field list that names an unknown field or type."""


@dataclass(frozen=True)
class Selector:
    """One entry of an audience's field list: a field, optionally of one type; ``*`` is every field."""

    field: str                 # upper case, or "*"
    type: str | None = None    # lower case

    def __str__(self) -> str:
        return self.field if self.type is None else f"{self.field} {self.type}"

    def selects(self, prop: str, types: frozenset[str]) -> bool:
        if self.field == "*":
            return True
        return prop == self.field and (self.type is None or self.type in types)

    @property
    def words(self) -> str:
        """What people call the lines it selects: "mobile number", "home address", "everything"."""
        if self.field == "*":
            return "everything"
        return CardLine("", self.field, frozenset({self.type} if self.type else ()), "").words


EVERYTHING = (Selector("*"),)


def parse_fields(text: str) -> tuple[Selector, ...]:
    """``"FN, ORG, TEL work, EMAIL work"`` (or ``*`` / ``all`` for everything) as selectors.

    Raises :class:`BadPolicy` naming the first unknown field or type.
    """
    selectors: list[Selector] = []
    for entry in text.split(","):
        words = entry.split()
        if not words:
            continue
        if len(words) == 1 and words[0].lower() in ("*", "all", "everything"):
            selectors.append(Selector("*"))
            continue
        if len(words) > 2:
            raise BadPolicy(f"cannot read {entry.strip()!r}: write a field and at most one type, e.g. 'TEL work'; "
                            "separate entries with commas")
        field = words[0].upper()
        if field in IDENTITY:
            raise BadPolicy(f"{field} is not a field an audience chooses: every projection has its own")
        if field not in FIELDS and not field.startswith("X-"):
            raise BadPolicy(f"unknown vCard field {words[0]!r}: use fields such as FN, N, ORG, TEL, EMAIL, ADR, "
                            "PHOTO, BDAY, NICKNAME, NOTE, URL (or X-... names), or * for everything")
        kind = None
        if len(words) == 2:
            kind = TYPE_ALIASES.get(words[1].lower(), words[1].lower())
            if field not in TYPED_FIELDS and not field.startswith("X-"):
                raise BadPolicy(f"{field} has no types; write just {field}")
            if kind not in TYPES and not kind.startswith("x-"):
                raise BadPolicy(f"unknown type {words[1]!r} for {field}: use one of "
                                f"{', '.join(sorted(TYPES | set(TYPE_ALIASES)))}")
        selectors.append(Selector(field, kind))
    if not selectors:
        raise BadPolicy("the field list is empty: name fields such as 'FN, TEL work', or * for everything")
    return tuple(dict.fromkeys(selectors))


def fields_text(selectors: Iterable[Selector]) -> str:
    return ", ".join(str(s) for s in selectors)


# -- reading a card ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardLine:
    """One property of a card; ``raw`` (the stored physical lines) is empty in a stored :class:`Outline`."""

    group: str                 # "item1", or ""
    prop: str                  # upper case, without the group
    types: frozenset[str]
    digest: str                # of the whole logical line: any change of it changes the digest
    raw: str = ""
    value: str = ""

    @property
    def words(self) -> str:
        """What people call this field: "mobile phone number", "home address"."""
        base = _FIELD_WORDS.get(self.prop, self.prop.lower())
        if self.prop == "TEL" and "cell" in self.types:
            return N_("mobile number")
        for kind in ("work", "home", "fax", "pager", "school", "other"):
            if kind in self.types and self.prop in WORDED_FIELDS:
                return f"{_TYPE_WORDS[kind]} {base}"
        return base

    @property
    def selector(self) -> Selector:
        """The entry of a field list that names this line as :attr:`words` does: ``TEL cell`` for a
        mobile number, ``EMAIL work`` for a work e-mail address, ``BDAY`` for the birthday."""
        if self.prop == "TEL" and "cell" in self.types:
            return Selector("TEL", "cell")
        if self.prop in WORDED_FIELDS:
            kind = next((k for k in WORDED_TYPES if k in self.types), None)
            if kind is not None:
                return Selector(self.prop, kind)
        return Selector(self.prop)

    @property
    def shown(self) -> str:
        """The value as people read it: escapes undone, parts joined ("1 Rose Street, Oxford"), a
        phone number without ``tel:``; a picture, sound or key only by its web address, else ""."""
        value = self.value.strip()
        if self.prop in PICTURES:
            return value if value.lower().startswith(("http://", "https://")) else ""
        if self.prop == "TEL" and value.lower().startswith("tel:"):
            value = value[4:]
        if self.prop in _PARTS:
            parts = re.split(rf"(?<!\\){re.escape(_PARTS[self.prop])}", value)
            return ", ".join(p for p in (unescape_text(part).strip() for part in parts) if p)
        return unescape_text(value)


@dataclass(frozen=True)
class Card:
    version: str
    lines: tuple[CardLine, ...]

    @property
    def name(self) -> str | None:
        return next((unescape_text(line.value) for line in self.lines if line.prop == "FN"), None)

    def outline(self) -> list[list]:
        """What change detection keeps of a card: no values, only what each line is and a digest."""
        return [[line.group, line.prop, sorted(line.types), line.digest] for line in self.lines]

    @staticmethod
    def from_outline(version: str, outline: Sequence[Sequence]) -> Card:
        return Card(version, tuple(CardLine(g, p, frozenset(t), d) for g, p, t, d in outline))


def _types(params: Sequence[tuple[str, str]]) -> set[str]:
    found: set[str] = set()
    for key, value in params:
        if key == "TYPE":
            found.update(t.strip().strip('"').lower() for t in value.strip('"').split(",") if t.strip())
        elif key == "PREF":
            found.add("pref")
        elif value == "" and key not in ("ENCODING", "CHARSET", "VALUE"):
            found.add(key.lower())  # vCard 2.1 / 3.0 style: TEL;WORK;VOICE:
    return {TYPE_ALIASES.get(t, t) for t in found}


def _apple_label(value: str) -> str | None:
    match = _APPLE_LABEL.fullmatch(value.strip())
    label = (match[1] if match else value).strip().lower()
    return _APPLE_LABELS.get(label)


def read_card(text: str) -> Card:
    """The properties of one vCard.  Raises :class:`BadCard` when the text is not one vCard 3.0 or 4.0."""
    depth, cards, version = 0, 0, None
    found: list[tuple[str, str, set[str], str, str, str]] = []
    labels: dict[str, str] = {}
    for line in content_lines(text):
        group, _dot, prop = line.name.rpartition(".")
        if line.name == "BEGIN":
            if line.value.strip().upper() != "VCARD" or depth:
                raise BadCard(f"a me card is one BEGIN:VCARD ... END:VCARD; found BEGIN:{line.value.strip()}")
            depth, cards = 1, cards + 1
            continue
        if line.name == "END":
            depth = 0
            continue
        if not depth:
            if line.name:
                raise BadCard(f"the line {line.name!r} is outside BEGIN:VCARD ... END:VCARD")
            continue
        if prop == "VERSION":
            version = line.value.strip()
        if prop in IDENTITY:
            continue
        logical = line.raw.replace("\r\n ", "").replace("\r\n\t", "").rstrip("\r\n")
        digest = hashlib.sha256(logical.encode("utf-8")).hexdigest()[:24]
        found.append((group.lower(), prop, _types(line.params), digest, line.raw, line.value))
        if group and prop == "X-ABLABEL":
            label = _apple_label(unescape_text(line.value))
            if label:
                labels[group.lower()] = label
    if cards != 1 or depth:
        raise BadCard("a me card is exactly one vCard (one BEGIN:VCARD ... END:VCARD)")
    if version not in VERSIONS:
        raise BadCard(f"a me card must be vCard 3.0 or 4.0 (VERSION:3.0 or VERSION:4.0); found {version or 'none'}")
    lines = tuple(CardLine(g, p, frozenset(t | ({labels[g]} if g in labels else set())), d, raw, value)
                  for g, p, t, d, raw, value in found)
    if not any(line.prop == "FN" and unescape_text(line.value).strip() for line in lines):
        raise BadCard("a me card needs FN, the name people see (RFC 6350 section 6.2.1)")
    return Card(version, lines)


# -- projecting ----------------------------------------------------------------------------------


_FN_LINE = re.compile(rb'^(?:[A-Za-z0-9-]+\.)?FN(?:;(?:"[^"\r\n]*"|[^:;"\r\n])*)*:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)',
                      re.M | re.I)


def card_name(data: bytes) -> str | None:
    """The name (``FN``) of a stored card, read fast: only its FN line is unfolded and unescaped
    (for listing many cards; :func:`read_card` reads a card whole)."""
    match = _FN_LINE.search(data)
    if match is None:
        return None
    value = re.sub(rb"\r?\n[ \t]", b"", match[1]).decode("utf-8", errors="replace")
    return unescape_text(value).strip() or None


def selected(card: Card, selectors: Iterable[Selector]) -> list[CardLine]:
    """The lines of ``card`` the selectors let through, in the card's order, with their groups' labels."""
    selectors = tuple(selectors)
    if not selectors:
        return []
    kept = [line for line in card.lines if any(s.selects(line.prop, line.types) for s in selectors)]
    groups = {line.group for line in kept if line.group and line.prop not in GROUP_COMPANIONS}
    if not groups:
        return [line for line in kept if not (line.group and line.prop in GROUP_COMPANIONS)]
    keep = {id(line) for line in kept}
    return [line for line in card.lines
            if (id(line) in keep and not (line.prop in GROUP_COMPANIONS and line.group not in groups))
            or (line.group in groups and line.prop in GROUP_COMPANIONS)]


def fingerprint(card: Card | None, selectors: Iterable[Selector]) -> tuple[str, ...] | None:
    """What changes exactly when the projection does (``None``: nothing is served)."""
    if card is None:
        return None
    lines = selected(card, selectors)
    if not any(line.prop == "FN" for line in lines):
        return None
    return (card.version, *(line.digest for line in lines))


@dataclass(frozen=True)
class ProjectedCard:
    text: str
    etag: str                  # quoted, as HTTP and WebDAV want it

    @staticmethod
    def of(text: str) -> ProjectedCard:
        return ProjectedCard(text, f'"{hashlib.sha256(text.encode("utf-8")).hexdigest()}"')


def project(card: Card, selectors: Iterable[Selector], uid: str) -> ProjectedCard | None:
    """The card as an audience with ``selectors`` sees it, or ``None`` when that shows no name."""
    lines = selected(card, selectors)
    if not any(line.prop == "FN" for line in lines):
        return None
    head = [f"BEGIN:VCARD\r\nVERSION:{card.version}\r\nUID:{uid}\r\n"]
    if card.version == "3.0" and not any(line.prop == "N" for line in lines):
        head.append("N:;;;;\r\n")
    return ProjectedCard.of("".join(head) + "".join(line.raw for line in lines) + "END:VCARD\r\n")


def changed_fields(before: Card | None, after: Card | None, selectors: Iterable[Selector]) -> list[str]:
    """What changed between two versions of a card for an audience, in words, e.g. ``["mobile number"]``."""
    selectors = tuple(selectors)
    old = selected(before, selectors) if before else []
    new = selected(after, selectors) if after else []
    old_digests, new_digests = {line.digest for line in old}, {line.digest for line in new}
    differing = [line for line in new if line.digest not in old_digests]
    differing += [line for line in old if line.digest not in new_digests]
    return list(dict.fromkeys(line.words for line in differing if line.prop not in GROUP_COMPANIONS))


@dataclass(frozen=True)
class FieldChoice:
    """One field of a card as an owner chooses it for an audience: the entry of the field list
    (:func:`parse_fields`), what people call it, and the card's values of it."""

    selector: Selector
    words: str                 # "mobile number"
    values: tuple[str, ...]    # as people read them (:attr:`CardLine.shown`); "" for a picture
    picture: bool = False      # PHOTO, LOGO, SOUND, KEY: a value not shown as text


# The order fields are offered in, as address books show them (clients store them in any order; Radicale
# keeps vobject's, which is alphabetical); other fields follow in the card's order.
_ORDER = {field: rank for rank, field in enumerate((
    "FN", "N", "NICKNAME", "PHOTO", "TEL", "EMAIL", "IMPP", "ADR", "LABEL", "URL", "ORG", "TITLE", "ROLE",
    "BDAY", "ANNIVERSARY", "GENDER", "RELATED", "NOTE"))}


def choosable(prop: str) -> bool:
    """Whether a field list may name ``prop`` (:func:`parse_fields`)."""
    return prop not in IDENTITY and (prop in FIELDS or prop.startswith("X-"))


def offered(card: Card) -> tuple[FieldChoice, ...]:
    """The fields ``card`` has, each once, in the card's order, with their values: what an owner
    picks from for an audience, and what an audience sees of a projection.

    Apple's group labels come along with their lines (they are not a field of their own); a line
    with nothing in it (the empty ``N`` of a 3.0 projection) offers nothing."""
    found: dict[Selector, list[CardLine]] = {}
    for line in card.lines:
        if line.prop in GROUP_COMPANIONS or not choosable(line.prop):
            continue
        if not line.shown and line.prop not in PICTURES:
            continue
        found.setdefault(line.selector, []).append(line)
    ordered = sorted(found.items(), key=lambda item: _ORDER.get(item[0].field, len(_ORDER)))  # stable: card order
    return tuple(FieldChoice(selector, choice_words(selector), tuple(line.shown for line in lines),
                             selector.field in PICTURES) for selector, lines in ordered)


def choice_words(selector: Selector) -> str:
    """The words of a field to choose: as :attr:`Selector.words`, but the name in parts (``N``) told
    apart from the name as shown (``FN``)."""
    return "name in parts" if selector == Selector("N") else selector.words


def in_words(owner_name: str, fields: Sequence[str]) -> str:
    """``"Alice's mobile number and home address changed"``."""
    if not fields:
        return f"{owner_name}'s card changed"
    listed = fields[0] if len(fields) == 1 else ", ".join(fields[:-1]) + " and " + fields[-1]
    return f"{owner_name}'s {listed} changed"
