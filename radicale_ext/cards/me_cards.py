"""Me cards and their audiences: which fields of a person's own card each user or circle sees.

A person's *me card* is one card of one of their own address books, which
they designate (``radicale-ext card set-me alice/contacts/alice.vcf``) and
edit with any CardDAV client.  The card stays where it is, in Radicale's
storage; the database keeps only where it is and, for change detection, an
*outline* of it (what each line is and a digest of it, no values).

The owner shares it with *audiences* (a user or a circle), each with a field
list (:func:`radicale_ext.cards.projection.parse_fields`).  A person in several
audiences sees the union.  Nothing is shared until the owner shares it.

When the stored card differs from its outline (:meth:`CardBook.settle`,
called after every PUT of a me card, and by every reader that finds the
card changed), every person whose projection changed gets a notice that says
what changed in words ("Alice's mobile number changed"); a person who
cannot see the changed field gets nothing.  The notice is stored in their
notification collection, and an outbox record hands it to the notices
feature, which delivers it through their channels (e-mail, push, webhook)
by their choices, bursts coalesced, like any notice; both name only the
fields they see.  Someone who muted everything gets neither.  The outline is
replaced in the same transaction, so each change is told once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import vobject

from ..base import names
from ..base.collection_store import CollectionStore, CollectionWrites
from ..base.database import Database, Writer
from ..base.errors import Conflict, Forbidden, InvalidName, NotFound
from ..base.layout import check_item_name
from ..base.model import Grantee, GranteeKind
from ..notices.outbox import Change, ChangeKind, Outbox
from ..notices.preferences import ALL, Preferences
from ..notices.wording import card_summary
from ..sharing.circles import CircleBook
from ..sharing.notifications import NoticeBox, NoticeKind
from . import card_files
from .consent import ConsentBook
from .name_index import NameIndex
from .projection import (
    EVERYTHING,
    BadCard,
    Card,
    FieldChoice,
    ProjectedCard,
    Selector,
    card_name,
    changed_fields,
    fields_text,
    fingerprint,
    offered,
    parse_fields,
    project,
    read_card,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS me_cards (
    owner      TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    href       TEXT NOT NULL,
    source     TEXT,
    version    TEXT NOT NULL DEFAULT '',
    outline    TEXT NOT NULL DEFAULT '[]',
    settled_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS me_cards_by_place ON me_cards(collection, href);
CREATE TABLE IF NOT EXISTS card_audiences (
    owner      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'circle')),
    name       TEXT NOT NULL,
    fields     TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (owner, kind, name)
);
CREATE INDEX IF NOT EXISTS card_audiences_by_grantee ON card_audiences(kind, name)
"""

SHARED_CONTACTS = ".shared-contacts"   # each person's book of the cards shared with them (plugins/card_books.py)
_FEW = 500  # owners named in one query at most (SQLite allows many more variables; the plan needs no more)
_UID_NAMESPACE = uuid.UUID("6f1d3f2e-8c57-4a8e-9d1c-2b7e0c9a4d15")


def card_uid(owner: str) -> str:
    """The UID of ``owner``'s card in every projection: stable, whatever card they designate."""
    return f"urn:uuid:{uuid.uuid5(_UID_NAMESPACE, owner)}"


@dataclass(frozen=True)
class MeCard:
    owner: str
    collection: str            # "/alice/contacts/"
    href: str                  # "alice.vcf"

    def __str__(self) -> str:
        return (self.collection + self.href).strip("/")


@dataclass(frozen=True)
class StoredCard:
    """The me card as it is on disk now."""

    text: str
    source: str                # SHA-256 of the file
    modified: float            # its modification time


@dataclass(frozen=True)
class CardReach:
    """A me card shared with one person: where it is, the fields they see, and what was last settled."""

    me: MeCard
    selectors: tuple[Selector, ...]
    settled: str | None        # the digest of the card as last settled (see :meth:`CardBook.settle`)


@dataclass(frozen=True)
class Audience:
    grantee: Grantee
    selectors: tuple[Selector, ...]


@dataclass(frozen=True)
class CardExposure:
    """A shared address book that keeps its owner's me card: what each person reading it sees of the
    card (:data:`EVERYTHING`: all of it; ``()``: nothing of it)."""

    me: MeCard
    seen: tuple[tuple[str, tuple[Selector, ...]], ...]   # (person, fields), by person


@dataclass(frozen=True)
class Preview:
    """The me card as an audience with ``selectors`` sees it (:meth:`CardBook.preview`)."""

    selectors: tuple[Selector, ...]
    card: ProjectedCard | None     # None: they see nothing (the fields leave out the name, FN)

    @property
    def shown(self) -> tuple[FieldChoice, ...]:
        """What they see, field by field, in words and values."""
        return offered(read_card(self.card.text)) if self.card is not None else ()


@dataclass(frozen=True)
class CardOverview:
    """A person's me card and who sees what of it (:meth:`CardBook.overview`)."""

    me: MeCard | None
    card: Card | None              # None: no me card, or it is missing or no longer a valid one
    choices: tuple[FieldChoice, ...]   # the fields the card has, to choose from
    audiences: tuple[tuple[Audience, Preview], ...]


@dataclass(frozen=True)
class Candidate:
    """A card of one of a person's own address books, which they may choose as their me card."""

    collection: str                # "/alice/Kontakte/"
    book: str                      # the address book's name as shown ("Kontakte der Müllers")
    href: str                      # "alice.vcf"
    name: str                      # its FN, or its file name when it has none

    @property
    def place(self) -> str:
        return (self.collection + self.href).strip("/")

    def named_like(self, text: str) -> bool:
        """Whether ``text`` is part of the card's name, as a person types it: case and Unicode forms
        aside ("müller" finds "MÜLLER", "weiss" finds "Weiß", a composed "ë" a decomposed one)."""
        return folded(text) in folded(self.name)


def folded(text: str) -> str:
    """``text`` for comparing names: NFKC-normalized and case-folded (Unicode default caseless matching)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


@lru_cache(maxsize=4096)
def _selectors(fields: str) -> tuple[Selector, ...]:
    return parse_fields(fields)


def union(selectors: Iterable[Selector]) -> tuple[Selector, ...]:
    """The fields of several audiences together, in one canonical order."""
    merged = set(selectors)
    if Selector("*") in merged:
        return EVERYTHING
    return tuple(sorted(merged, key=str))


def grantee_of(text: str) -> Grantee:
    """``circle:friends`` or ``dave`` (a user), as :class:`Grantee` writes them."""
    if text.startswith("circle:"):
        return Grantee(GranteeKind.CIRCLE, text.removeprefix("circle:"))
    return Grantee(GranteeKind.USER, text.removeprefix("user:"))


class CardBook:
    def __init__(self, db: Database, circles: CircleBook, notices: NoticeBox, consent: ConsentBook,
                 name_index: NameIndex, outbox: Outbox, *, collections: CollectionStore, writes: CollectionWrites,
                 user_exists: Callable[[str], bool], cache_size: int = 50_000) -> None:
        self._db = db
        self._outbox = outbox
        self._circles = circles
        self._notices = notices
        self._consent = consent
        self._names = name_index
        self._collections = collections
        self._writes = writes   # how the command line writes a card (card_files)
        self._user_exists = user_exists
        self._cards: OrderedDict[str, Card | None] = OrderedDict()
        self._projections: OrderedDict[tuple, ProjectedCard | None] = OrderedDict()
        self._file_names: OrderedDict[str, tuple[tuple, str | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_size = cache_size

    # -- the me card ----------------------------------------------------------------------

    def set_me(self, place: str, *, card: str | None = None, actor: str | None = None) -> MeCard:
        """Designate ``OWNER/BOOK/CARD.vcf`` (or ``OWNER/BOOK`` and ``card``, a file name or UID).

        Raises :class:`NotFound`, :class:`Forbidden` (someone else's), :class:`BadCard`.
        """
        parts = [p for p in place.strip().split("/") if p]
        if card is None and len(parts) == 3:
            card = parts.pop()
        owner, collection = names.collection_path("/".join(parts))
        if actor is not None and actor != owner:
            raise Forbidden(f"only {owner!r} chooses their me card")
        if self._collections.tag(collection) != "VADDRESSBOOK":
            raise NotFound(f"no address book at {collection}")
        if card is None:
            raise InvalidName(f"name the card: {place.strip('/')}/CARD.vcf, or --card UID")
        href = check_item_name(self._collections.find_item(collection, card, ".vcf"))
        me = MeCard(owner, collection, href)
        stored = self.stored(me)
        if stored is None:
            raise NotFound(f"no card {href} in {collection}")
        try:
            read_card(stored.text)
        except BadCard as e:
            raise BadCard(f"{me} cannot be a me card: {e}") from None
        with self._db.write() as w:
            taken = w.execute("SELECT owner FROM me_cards WHERE collection = ? AND href = ? AND owner != ?",
                              (collection, href, owner)).fetchone()
            if taken:
                raise Conflict(f"{me} is already {taken[0]!r}'s me card")
            w.execute("INSERT INTO me_cards(owner, collection, href) VALUES (?, ?, ?) ON CONFLICT(owner) DO "
                      "UPDATE SET collection = excluded.collection, href = excluded.href", (owner, collection, href))
        self.settle(owner)
        return me

    def replace_me(self, owner: str, text: str, *, actor: str | None = None) -> MeCard:
        """Store ``text`` as ``owner``'s me card (the command line's edit), and tell whom it concerns.

        The text must be one valid vCard 3.0 or 4.0 with FN and a UID that no
        other card of the address book has.  Raises :class:`BadCard`,
        :class:`Conflict`, :class:`Forbidden`.
        """
        self._require_owner(owner, actor)
        me = self.me_card(owner)
        if me is None:
            raise Conflict(f"{owner!r} has no me card yet; choose one first: "
                           f"radicale-ext card set-me {owner}/BOOK/CARD.vcf")
        text = text if text.endswith("\n") else text + "\r\n"
        try:
            read_card(text)
            parsed = vobject.readOne(text)
        except BadCard as e:
            raise BadCard(f"the new card cannot be a me card: {e}") from None
        except Exception as e:  # vobject raises many kinds of errors on odd input
            raise BadCard(f"the new card is not valid vCard: {e}") from None
        uid = parsed.uid.value.strip() if hasattr(parsed, "uid") else ""
        if not uid:
            raise BadCard("the new card needs a UID; keep the one the card has ('radicale-ext card show --stored')")
        try:
            holder = self._collections.find_item(me.collection, uid, ".vcf")
        except NotFound:
            holder = me.href
        if holder != me.href:
            raise Conflict(f"another card of {me.collection} ({holder}) has the UID {uid!r}; keep the me card's own")
        # stored as Radicale stores a PUT (vobject's serialization), so that a card edited here and then
        # by a client differs only where it was changed
        card_files.replace_card(self._writes, self._collections, self._outbox, me.collection, me.href,
                                parsed.serialize(),
                                actor=actor or owner, uid=uid)
        self.settle(owner)
        return me

    def unset_me(self, owner: str, *, actor: str | None = None) -> MeCard:
        """Stop having a me card: nobody sees it any more, and its audiences go with it (choosing a
        card again starts with none).  Everyone who saw it is told it is no longer shared with them,
        and the copies kept for those who are asked first are forgotten.

        Raises :class:`Forbidden` (someone else's), :class:`NotFound` (none).
        """
        self._require_owner(owner, actor, "chooses their me card")
        row = self._db.read_one("SELECT collection, href, source, version, outline FROM me_cards WHERE owner = ?",
                                (owner,))
        if row is None:
            raise NotFound(f"{owner!r} has no me card")
        me = MeCard(owner, row[0], row[1])
        before = Card.from_outline(row[3], json.loads(row[4])) if row[2] else None
        recipients = self.recipients(owner)
        told = [p for p in recipients if p != actor]
        muted = {p for p, choices in Preferences(self._db).choices_for(told, ALL).items() if choices.muted}
        with self._db.write() as w:
            for person in told:
                if person not in muted:
                    self._tell(w, me, person, recipients[person], before, None)
            w.execute("DELETE FROM card_audiences WHERE owner = ?", (owner,))
            w.execute("DELETE FROM me_cards WHERE owner = ?", (owner,))
            self._names.index(w, owner, None)
            self._consent.forget_owner(w, owner)
        return me

    def me_card(self, owner: str) -> MeCard | None:
        row = self._db.read_one("SELECT collection, href FROM me_cards WHERE owner = ?", (owner,))
        return MeCard(owner, row[0], row[1]) if row else None

    def me_card_in(self, collection: str) -> MeCard | None:
        """The me card kept in ``/alice/contacts/``, if any (at most one: a me card lives in its owner's book)."""
        row = self._db.read_one("SELECT owner, href FROM me_cards WHERE collection = ?", (collection,))
        return MeCard(row[0], collection, row[1]) if row else None

    def owner_at(self, collection: str, href: str) -> str | None:
        """Whose me card is at ``/alice/contacts/`` + ``alice.vcf``, if anyone's."""
        row = self._db.read_one("SELECT owner FROM me_cards WHERE collection = ? AND href = ?", (collection, href))
        return row[0] if row else None

    def stored(self, me: MeCard) -> StoredCard | None:
        found = self._collections.item_data(me.collection, me.href)
        if found is None:
            return None
        data, modified = found
        return StoredCard(data.decode("utf-8", errors="replace"), hashlib.sha256(data).hexdigest(), modified)

    def card(self, stored: StoredCard | None) -> Card | None:
        """The stored card read (cached by its digest); ``None`` when it is missing or not a valid me card."""
        if stored is None:
            return None
        with self._lock:
            if stored.source in self._cards:
                return self._cards[stored.source]
        try:
            card: Card | None = read_card(stored.text)
        except BadCard:
            card = None
        self._remember(self._cards, stored.source, card)
        return card

    def projection(self, owner: str, stored: StoredCard | None, selectors: tuple[Selector, ...],
                   uid: str | None = None) -> ProjectedCard | None:
        """``owner``'s stored card as someone with ``selectors`` sees it (cached), with the UID of
        every projection of their card, or ``uid``."""
        if stored is None or not selectors:
            return None
        uid = uid or card_uid(owner)
        key = (stored.source, selectors, uid)
        with self._lock:
            if key in self._projections:
                return self._projections[key]
        card = self.card(stored)
        projected = project(card, selectors, uid) if card else None
        self._remember(self._projections, key, projected)
        return projected

    def _remember(self, cache: OrderedDict, key, value) -> None:
        with self._lock:
            cache[key] = value
            while len(cache) > self._cache_size:
                cache.popitem(last=False)

    # -- audiences -------------------------------------------------------------------------

    def share(self, owner: str, grantee: Grantee, fields: str, *, actor: str | None = None) -> Audience:
        """Let a user or a circle see the fields ``fields`` of ``owner``'s me card (replacing its list)."""
        self._require_owner(owner, actor)
        selectors = parse_fields(fields)
        self._require_grantee(grantee, owner)
        if self.me_card(owner) is None:
            raise Conflict(f"{owner!r} has no me card yet; choose one first: "
                           f"radicale-ext card set-me {owner}/BOOK/CARD.vcf")
        text = ", ".join(str(s) for s in selectors)
        with self._db.write() as w:
            w.execute("INSERT INTO card_audiences(owner, kind, name, fields, created_at) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT(owner, kind, name) DO UPDATE SET fields = excluded.fields",
                      (owner, grantee.kind.value, grantee.name, text, time.time()))
        return Audience(grantee, selectors)

    def unshare(self, owner: str, grantee: Grantee, *, actor: str | None = None) -> None:
        self._require_owner(owner, actor)
        with self._db.write() as w:
            if not w.execute("DELETE FROM card_audiences WHERE owner = ? AND kind = ? AND name = ?",
                             (owner, grantee.kind.value, grantee.name)).rowcount:
                raise NotFound(f"{owner!r}'s card is not shared with {grantee}")

    def overview(self, owner: str, *, actor: str | None = None) -> CardOverview:
        """``owner``'s me card, the fields it has and what each audience sees of it: what the owner
        manages on the web page.  Raises :class:`Forbidden` (someone else's)."""
        self._require_owner(owner, actor, "sees who sees their card")
        me = self.me_card(owner)
        card = self.card(self.stored(me)) if me is not None else None
        audiences = self.audiences(owner)
        return CardOverview(me, card, offered(card) if card is not None else (),
                            tuple((a, self._preview(owner, me, a.selectors)) for a in audiences))

    def preview(self, owner: str, fields: Iterable[str], *, actor: str | None = None) -> Preview:
        """What an audience with ``fields`` (entries of a field list: ``FN``, ``TEL cell``, ``*``) would
        see of ``owner``'s me card, nothing stored.  No fields: nothing.

        Raises :class:`Forbidden`, :class:`Conflict` (no me card), :class:`BadPolicy`.
        """
        self._require_owner(owner, actor, "sees who sees their card")
        entries = [f for f in fields if f.strip()]
        selectors = parse_fields(", ".join(entries)) if entries else ()
        me = self.me_card(owner)
        if me is None:
            raise Conflict(f"{owner!r} has no me card yet; choose one first")
        return self._preview(owner, me, selectors)

    def _preview(self, owner: str, me: MeCard | None, selectors: tuple[Selector, ...]) -> Preview:
        stored = self.stored(me) if me is not None else None
        return Preview(selectors, self.projection(owner, stored, selectors) if selectors else None)

    def candidates(self, owner: str, *, actor: str | None = None) -> list[Candidate]:
        """Every card of ``owner``'s own address books (not those shared with them), by address book
        and name: the cards they may choose as their me card.  Raises :class:`Forbidden`.

        A card's name is read once per version of it (the store's stamp of the item: on files its
        inode, size and times, as Radicale replaces a file to change it).
        """
        self._require_owner(owner, actor, "chooses their me card")
        found: list[Candidate] = []
        for book in self._collections.collections_of(owner):
            if book.tag != "VADDRESSBOOK":
                continue
            shown = book.display_name or book.name
            for href in self._collections.item_names(book.path):
                name = self._card_name_of(book.path, href)
                if name is not False:
                    found.append(Candidate(book.path, shown, href, name or href))
        return sorted(found, key=lambda c: (c.book.casefold(), c.collection, c.name.casefold(), c.href))

    def _card_name_of(self, collection: str, href: str) -> str | None | Literal[False]:
        """The FN of a stored card (``None``: it has none; ``False``: it cannot be read)."""
        stamp = self._collections.stamp(collection, href)
        if stamp is None:
            return False
        key = collection + href
        with self._lock:
            known = self._file_names.get(key)
        if known is not None and known[0] == stamp:
            return known[1]
        data = self._collections.item_data(collection, href)
        if data is None:
            return False
        name = card_name(data[0])
        self._remember(self._file_names, key, (stamp, name))
        return name

    def audiences(self, owner: str) -> list[Audience]:
        rows = self._db.read("SELECT kind, name, fields FROM card_audiences WHERE owner = ? ORDER BY kind, name",
                             (owner,))
        return [Audience(Grantee(GranteeKind(r[0]), r[1]), _selectors(r[2])) for r in rows]

    def audience(self, owner: str, text: str) -> Audience:
        """One of ``owner``'s audiences: ``friends`` (a circle, else a user), ``circle:friends``, ``user:dave``."""
        found = {str(a.grantee): a for a in self.audiences(owner)}
        if text.startswith(("circle:", "user:")):
            keys = [text.removeprefix("user:")]
        else:
            keys = [f"circle:{text}", text]
        for key in keys:
            if key in found:
                return found[key]
        shown = ", ".join(sorted(found)) or "none yet"
        raise NotFound(f"{owner!r}'s card has no audience {text!r} (audiences: {shown}); "
                       "add one with 'radicale-ext card share'")

    def reaching(self, recipient: str, circles: frozenset[str],
                 owners: Collection[str] | None = None) -> dict[str, CardReach]:
        """Every me card shared with ``recipient`` (directly or through a circle), with the fields they see;
        only those of ``owners`` when given.

        One indexed query, whatever the number of cards in the database.
        """
        sql, params = self._reaching_query("a.owner, a.fields, m.collection, m.href, m.source", recipient, circles)
        if owners is not None and len(owners) <= _FEW:
            sql += f" AND a.owner IN ({','.join('?' * len(owners))})"
            params = (*params, *sorted(owners))
        rows = self._db.read(sql, params)
        if owners is not None:
            rows = [r for r in rows if r[0] in owners]
        found: dict[str, tuple[MeCard, str | None, set[Selector]]] = {}
        for owner, fields, collection, href, settled in rows:
            entry = found.setdefault(owner, (MeCard(owner, collection, href), settled, set()))
            entry[2].update(_selectors(fields))
        return {owner: CardReach(me, union(selectors), settled) for owner, (me, settled, selectors) in found.items()}

    def fields_seen_by(self, person: str, circles: frozenset[str], owner: str) -> tuple[Selector, ...]:
        """The fields of ``owner``'s me card ``person`` (in ``circles``) sees; ``()``: none."""
        reach = self.reaching(person, circles, {owner}).get(owner)
        return reach.selectors if reach is not None else ()

    @staticmethod
    def _reaching_query(columns: str, recipient: str, circles: frozenset[str]) -> tuple[str, tuple]:
        marks = ",".join("?" * len(circles))
        circle_test = f" OR (a.kind = 'circle' AND a.name IN ({marks}))" if circles else ""
        return (f"SELECT {columns} FROM card_audiences a JOIN me_cards m ON m.owner = a.owner "
                f"WHERE ((a.kind = 'user' AND a.name = ?){circle_test}) AND a.owner != ?",
                (recipient, *sorted(circles), recipient))

    def recipients(self, owner: str) -> dict[str, tuple[Selector, ...]]:
        """Everyone ``owner``'s card is shared with now, with the fields each sees."""
        found: dict[str, set[Selector]] = {}
        for audience in self.audiences(owner):
            for person in self.people_of(audience.grantee) - {owner}:
                found.setdefault(person, set()).update(audience.selectors)
        return {person: union(selectors) for person, selectors in found.items()}

    def people_of(self, grantee: Grantee) -> frozenset[str]:
        """The people a user or circle stands for now (a circle that no longer exists: nobody)."""
        if grantee.kind is GranteeKind.USER:
            return frozenset({grantee.name})
        if self._circles.exists(grantee.name):
            return self._circles.get(grantee.name).members
        return frozenset()

    def share_warning(self, collection: str, people: Iterable[str], circles_of: Callable[[str], frozenset[str]],
                      *, through: str = "this share") -> str | None:
        """What the owner is told when ``people`` can read ``collection`` (a share of it): what each of
        them sees of the me card it keeps, if it keeps one (docs/cards.md, "Through a share")."""
        exposure = self.share_exposure(collection, people, circles_of)
        if exposure is None:
            return None
        me = exposure.me
        lines = [f"warning: {collection.strip('/')} keeps {me.href}, {me.owner}'s me card: the people of {through} "
                 "see it only as its audiences allow (and only those who see all of it may change it):"]
        for person, fields in exposure.seen:
            seen = "all of it" if fields == EVERYTHING else fields_text(fields) if fields else "nothing of it"
            lines.append(f"  {person} sees {seen}")
        return "\n".join(lines)

    def share_exposure(self, collection: str, people: Iterable[str],
                       circles_of: Callable[[str], frozenset[str]]) -> CardExposure | None:
        """What each of ``people`` sees of the me card ``collection`` keeps (:meth:`share_warning`, the web
        page's share page); ``None`` when it keeps none or nobody but its owner reads it."""
        me = self.me_card_in(collection)
        if me is None:
            return None
        seen = tuple((person, self.fields_seen_by(person, circles_of(person), me.owner))
                     for person in sorted(set(people) - {me.owner}))
        return CardExposure(me, seen) if seen else None

    # -- changes ---------------------------------------------------------------------------

    def settle(self, owner: str, actor: str | None = None) -> int:
        """Tell everyone whose projection of ``owner``'s card changed since it was last settled,
        but ``actor``, who made the change.

        Returns the number of notices written.  Cheap when nothing changed
        (one query and one file read).
        """
        row = self._db.read_one("SELECT collection, href, source, version, outline FROM me_cards WHERE owner = ?",
                                (owner,))
        if row is None:
            return 0
        stored = self.stored(MeCard(owner, row[0], row[1]))
        after = self.card(stored)
        source = stored.source if stored is not None and after is not None else None
        if source == row[2]:
            return 0
        before = Card.from_outline(row[3], json.loads(row[4])) if row[2] else None
        recipients = self.recipients(owner) if before is not None else {}
        told = [p for p in recipients if p != actor]
        muted = {p for p, choices in Preferences(self._db).choices_for(told, ALL).items() if choices.muted}
        with self._db.write() as w:
            current = w.execute("SELECT source FROM me_cards WHERE owner = ?", (owner,)).fetchone()
            if current is None or current[0] != row[2]:
                return 0  # another request settled it meanwhile
            w.execute("UPDATE me_cards SET source = ?, version = ?, outline = ?, settled_at = ? WHERE owner = ?",
                      (source, after.version if after else "", json.dumps(after.outline() if after else []),
                       time.time(), owner))
            self._names.index(w, owner, after)
            return sum(self._tell(w, MeCard(owner, row[0], row[1]), person, recipients[person], before, after)
                       for person in told if person not in muted)

    def _tell(self, w: Writer, me: MeCard, person: str, selectors: tuple[Selector, ...], before: Card | None,
              after: Card | None) -> int:
        """Inside ``w``: ``person``'s notice, if what they see of the card changed: in their notification
        collection at once, and through their other channels by the notices feature, like any notice
        (coalesced within ``[hook] notices_window``, by their choices), from an outbox record that names
        only the fields they see (docs/cards.md, "Notices")."""
        owner = me.owner
        if fingerprint(before, selectors) == fingerprint(after, selectors):
            return 0
        ask_first = self._consent.asks_first(person, owner)
        name = (after.name if after else None) or owner
        gone = after is None or fingerprint(after, selectors) is None
        if gone:
            fields = []
        else:
            base = self._consent.accepted_card(person, owner) if ask_first else None
            fields = changed_fields(base or before, after, selectors)
        told_card = {"owner": owner, "name": name, "fields": fields, "gone": gone, "ask_first": ask_first}
        summary = card_summary(told_card)     # the outbox record's, in English; the person's own in their language
        self._notices.add(w, person, NoticeKind.CARD_CHANGED,
                          {"owner": owner, "name": name, "fields": fields, "ask_first": ask_first,
                           "summary": card_summary(told_card, Preferences.language_in(w, person))})
        told = Change(kind=ChangeKind.CARD_CHANGED, actor=owner, collection=f"/{person}/{SHARED_CONTACTS}/",
                      item=f"{owner}.vcf")
        self._outbox.record(w, told, {"new": {"FN": name}, "card": {
            "owner": owner, "name": name, "fields": fields, "summary": summary, "gone": gone,
            "ask_first": ask_first, "book": me.collection}}, component="VCARD", uid=card_uid(owner))
        return 1

    # -- links -----------------------------------------------------------------------------

    def link_audience(self, owner: str, collection: str, href: str | None, audience: str | None, *,
                      actor: str | None = None) -> str | None:
        """Check what a new link to ``collection`` (or its card ``href``) shows of ``owner``'s me card.

        A link has no login, so it has no audience of its own: a card link to
        the me card must name one of the card's audiences, which only the owner
        picks; an address book link leaves the me card out.  Returns the
        audience as stored with the link (``circle:friends`` or ``dave``), or
        ``None``.  Raises :class:`InvalidName`, :class:`Forbidden`, :class:`NotFound`.
        """
        me = self.me_card(owner)
        is_me = me is not None and href is not None and (me.collection, me.href) == (collection, href)
        place = (collection + (href or "")).strip("/")
        if audience is None:
            if is_me:
                shown = ", ".join(str(a.grantee) for a in self.audiences(owner)) or "none yet"
                raise InvalidName(f"{place} is {owner}'s me card: a link shows it as one of its audiences sees it; "
                                  f"add --audience (audiences: {shown})")
            return None
        if not is_me:
            raise InvalidName(f"--audience is for {owner!r}'s me card; {place} is not it")
        if actor is not None and actor != owner:
            raise Forbidden(f"only {owner!r} chooses who sees their me card through a link")
        return str(self.audience(owner, audience).grantee)

    def left_out_of_links(self, owner: str, collection: str) -> str | None:
        """The sentence telling the maker of an address book link that the me card in it is left out."""
        me = self.me_card(owner)
        if me is None or me.collection != collection:
            return None
        return (f"{me.href}, {owner}'s me card, is left out of this link; a link to the card with --audience "
                "shows it as that audience sees it")

    def project_for_audience(self, owner: str, audience: str | None, text: str) -> str | None:
        """What a link with ``audience`` serves of the me card ``text``: the card as that audience sees
        it (``None``: nothing; always for a link without an audience)."""
        found = next((a for a in self.audiences(owner) if str(a.grantee) == audience), None) if audience else None
        if found is None:
            return None
        try:
            projected = project(read_card(text), found.selectors, card_uid(owner))
        except BadCard:
            return None
        return projected.text if projected else None

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM me_cards WHERE owner = ?", (user,))
        w.execute("DELETE FROM card_audiences WHERE owner = ? OR (kind = 'user' AND name = ?)", (user, user))

    @staticmethod
    def _require_owner(owner: str, actor: str | None, doing: str = "shares their own card") -> None:
        names.user_name(owner)
        if actor is not None and actor != owner:
            raise Forbidden(f"only {owner!r} {doing}")

    def _require_grantee(self, grantee: Grantee, owner: str) -> None:
        if grantee.kind is GranteeKind.USER:
            names.user_name(grantee.name)
            if not self._user_exists(grantee.name):
                raise NotFound(f"no user named {grantee.name!r}")
            if grantee.name == owner:
                raise InvalidName("a card is not shared with its own owner")
        else:
            names.circle_name(grantee.name)
            if not self._circles.exists(grantee.name):
                raise NotFound(f"no circle named {grantee.name!r}; 'radicale-ext circle list' shows them")
