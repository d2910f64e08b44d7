"""Handing a change notice to everyone concerned: who they are, and through which channels.

**Who.** Everyone whose access to the collection is effective when the
notice is handed out: its owner, and each person for whom a share counts
(at once, an accepted invitation, a subscription in scope; through a
circle too), by :meth:`InvitationBook.people_of_shares`, the same rule as
the request path's.  Not the actor, not anyone the admin's rights file
refuses to let read it (``may_read``), and not anyone who muted the
collection or everything.  An item some readers of its collection may not
see whole (a me card in its address book, :class:`PrivateItems`) is told
in a notice of its own (:mod:`.compose`), only to those who may.  For a deleted collection, the people who had
access when it was deleted (kept in its outbox record, since its shares go
with it).

**How.** Each recipient gets the notice in their notification collection
(written here, in the same transaction as the progress mark: exactly once;
a me card's notice to its reader has its own, written by the cards
feature), and a queued delivery for each other channel they chose
(:mod:`.delivery`): e-mail when they have an address, a push to each of
their devices that subscribed to the collection, their webhook.  The
actor's other devices are pushed too; a device named by the request's
``Push-Dont-Notify`` in every change of the notice is not, and ``*`` in
every change means no push at all (bitfireAT/webdav-push, "Suppressing
Notifications").  A digest delivery is due at
the next full hour, or at ``notices_daily_at`` in the recipient's zone.

Recipients are handled in chunks of :data:`CHUNK`, in name order, each
chunk one short transaction that also records the last name done, so a
notice for a thousand people never holds the database for long, and a
worker that dies mid-way resumes after the last chunk.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..base.database import Database
from ..sharing.invitations import InvitationBook
from ..sharing.notifications import Notice, NoticeBox, NoticeKind
from ..sharing.shares import ShareBook
from .changes import ChangeNotice, ChangeNotices
from .delivery import DeliveryQueue, Planned, idempotency_key
from .outbox import ChangeKind
from .preferences import Channel, Choices, Contact, Preferences, Timing
from .push.subscriptions import PushSubscription, PushSubscriptions
from .set_aside import HAND_OUT, SetAside, transient
from .wording import Wording
from .zones import zone as zone_named

CHUNK = 50
MAX_LISTED = 50     # changes listed one by one in a stored notice's words; the rest are counted


class _HandedOutMeanwhile(Exception):
    """Another worker handed this notice further out (its lease ran out under us)."""


@dataclass(frozen=True)
class Recipient:
    user: str
    view: str           # the collection as they reach it: the owner's path, or their mount path
    choices: Choices
    contact: Contact


class PrivateItems(Protocol):
    """Items that not everyone who reads their collection sees as stored (the cards feature's me
    cards, :class:`radicale_ext.cards.through_shares.MeCardNotices`): a change to one is told only to
    those who do."""

    def is_private(self, collection: str, item: str) -> bool: ...

    def may_hear(self, user: str, collection: str, item: str) -> bool: ...


class NothingPrivate:
    def is_private(self, collection: str, item: str) -> bool:
        return False

    def may_hear(self, user: str, collection: str, item: str) -> bool:
        return True


class Audience:
    """Who has effective access to a collection."""

    def __init__(self, shares: ShareBook, invitations: InvitationBook,
                 may_read: Callable[[str, str], bool] | None = None,
                 private: PrivateItems | None = None) -> None:
        self._shares = shares
        self._invitations = invitations
        self._may_read = may_read or (lambda _user, _collection: True)
        self._private = private or NothingPrivate()

    def may_read(self, user: str, collection: str) -> bool:
        """What the admin's rights file says about ``user`` reading ``collection``."""
        return self._may_read(user, collection)

    def with_access(self, collection: str) -> dict[str, str]:
        """``user -> the path they reach the collection by``, owner included."""
        owner = collection.strip("/").split("/")[0]
        found = {owner: collection}
        shares = self._shares.shares_of(collection)
        for person in self._invitations.people_of_shares(shares):
            if person.standing.has_access:
                found[person.user] = f"/{person.user}/{self._shares.placed_mount(person.user, shares[0].mount)}/"
        return found

    def of(self, notice: ChangeNotice) -> dict[str, str]:
        """Everyone concerned by ``notice`` but its actor, with their path of its collection."""
        found = self.everyone(notice)
        found.pop(notice.actor, None)
        return found

    def everyone(self, notice: ChangeNotice) -> dict[str, str]:
        """Everyone concerned by ``notice``, its actor too when they still have it (their other devices sync)."""
        found: dict[str, str] = {}
        for change in notice.changes:
            if change.kind is ChangeKind.COLLECTION_DELETED:
                for user, view in change.audience.items():
                    found.setdefault(user, view)
        for collection in notice.collections:
            for user, view in self.with_access(collection).items():
                found.setdefault(user, view)
        private = {c.item for c in notice.item_changes
                   if c.item and self._private.is_private(notice.collection, c.item)}
        return {u: v for u, v in found.items() if self._may_read(u, notice.collection)
                and all(self._private.may_hear(u, notice.collection, item) for item in private)}


def notice_named(notice: ChangeNotice, most: int = 5) -> str:
    """"notice 12 (/alice/family/a.ics, ...)", for the admin."""
    paths = list(dict.fromkeys(f"{notice.collection}{c.item or ''}" for c in notice.changes))
    more = f" and {len(paths) - most} more" if len(paths) > most else ""
    return f"notice {notice.id} ({', '.join(paths[:most])}{more})"


def next_digest(timing: Timing, now: float, zone: str | None, daily_at: tuple[int, int]) -> float:
    """When a digest that collects a notice made at ``now`` is sent."""
    if timing is Timing.HOURLY:
        return (int(now) // 3600 + 1) * 3600.0
    tz = zone_named(zone) or datetime.UTC
    local = datetime.datetime.fromtimestamp(now, tz)
    send = local.replace(hour=daily_at[0], minute=daily_at[1], second=0, microsecond=0)
    if send <= local:
        send = (local + datetime.timedelta(days=1)).replace(hour=daily_at[0], minute=daily_at[1], second=0,
                                                             microsecond=0)
    return send.timestamp()


class Fanout:
    def __init__(self, db: Database, notices: ChangeNotices, queue: DeliveryQueue, box: NoticeBox,
                 audience: Audience, preferences: Preferences, subscriptions: PushSubscriptions,
                 wording: Wording, *, daily_at: tuple[int, int], email: bool) -> None:
        self._db = db
        self._notices = notices
        self._queue = queue
        self._box = box
        self._audience = audience
        self._preferences = preferences
        self._subscriptions = subscriptions
        self._wording = wording
        self._daily_at = daily_at
        self._email = email   # an SMTP server is configured

    def recipients(self, notice: ChangeNotice, pause: Callable[[], None] = lambda: None) -> list[Recipient]:
        """Everyone who hears about ``notice`` (not muted), in name order."""
        return [r for r in self._concerned(notice, pause) if r.user != notice.actor]

    def _concerned(self, notice: ChangeNotice, pause: Callable[[], None]) -> list[Recipient]:
        """Everyone concerned (the actor too, when they still have the collection) who did not mute it."""
        views = self._audience.everyone(notice)
        pause()
        choices = self._preferences.choices_for(views, notice.collection)
        pause()
        contacts = self._preferences.contacts(views)
        return [Recipient(user=u, view=views[u], choices=choices[u], contact=contacts[u])
                for u in sorted(views) if not choices[u].muted]

    def fan_out(self, now: float, *, limit_chunks: int = 40, pause: Callable[[], None] = lambda: None) -> int:
        """Hand waiting notices to their recipients, at most ``limit_chunks`` chunks; returns chunks done.

        ``pause`` is called between chunks (a worker thread lets requests run there).  A notice
        that cannot be handed out (an error that is not the database's) is set aside
        (:mod:`.set_aside`): the notices after it go out as usual."""
        chunks = 0
        for notice, cursor in self._notices.waiting_for_fanout():
            try:
                done, finished = self._hand_out(notice, cursor, now, limit_chunks - chunks, pause)
            except Exception as e:
                if transient(e):
                    raise
                self._set_aside(notice, e, now)
                continue
            chunks += done
            if not finished:
                break
        return chunks

    def _hand_out(self, notice: ChangeNotice, cursor: str, now: float, budget: int,
                  pause: Callable[[], None]) -> tuple[int, bool]:
        """Hand ``notice`` out after ``cursor``, at most ``budget`` chunks; returns (chunks done, whether
        the caller may go on with the next notice)."""
        concerned = self._concerned(notice, pause)
        actor = next((r for r in concerned if r.user == notice.actor), None)   # pushes to their other devices
        recipients = [r for r in concerned if r.user != notice.actor and r.user > cursor]
        pause()
        pushes = self._subscriptions.active_for([r.user for r in recipients] + ([actor.user] if actor else []),
                                                notice.synced_collections, now)
        words: dict[tuple[str, str | None, str], tuple[str, list[str]]] = {}
        chunks = 0
        # a me card that changed for its reader: their record is the card's own notice (CS:card-changed),
        # written when the card settled (radicale_ext/cards/me_cards.py)
        recorded = all(c.kind is ChangeKind.CARD_CHANGED for c in notice.changes)
        for start in range(0, max(1, len(recipients)), CHUNK):
            chunk = recipients[start:start + CHUNK]
            done = start + CHUNK >= len(recipients)
            stored = [] if recorded else NoticeBox.rows([self._stored(notice, r, words) for r in chunk])
            planned = self._planned(notice, chunk, pushes, now)
            if done and actor is not None:
                planned += self._pushes(notice, actor, pushes, now)
            last = chunk[-1].user if chunk else cursor
            try:  # only the writing holds the database: requests wait for it
                with self._db.write() as w:
                    self._box.add_named(w, stored)
                    self._queue.enqueue(w, planned, now)
                    if not self._notices.advance(w, notice.id, cursor, last, done=done):
                        raise _HandedOutMeanwhile   # another worker got further: undo this chunk
            except _HandedOutMeanwhile:
                return chunks, True
            cursor = last
            chunks += 1
            pause()
            if chunks >= budget and not done:
                return chunks, False
        return chunks, True

    def _set_aside(self, notice: ChangeNotice, error: Exception, now: float) -> None:
        with self._db.write() as w:
            if ChangeNotices.set_aside(w, notice.id):
                SetAside.add(w, HAND_OUT, {"notice": notice.id}, notice_named(notice), error, now)

    def _stored(self, notice: ChangeNotice, r: Recipient,
                words: dict[tuple[str, str | None, str], tuple[str, list[str]]]) -> Notice:
        """``r``'s notice in their notification collection; ``words`` caches the sentences, which
        depend on the reader only through their zone, their language and whether a collection named is theirs."""
        zone, language = r.contact.timezone, r.contact.language
        key = (r.user if any(c.startswith(f"/{r.user}/") for c in notice.collections) else "", zone, language)
        if key not in words:
            words[key] = (self._wording.headline(notice, r.user, zone, language),
                          self._wording.lines(notice, r.user, zone, language)[:MAX_LISTED]
                          if len(notice.changes) > 1 else [])
        text, lines = words[key]
        # the list of changes stays in the change notice, once for all (NoticeBox.get adds it)
        data = {"notice": notice.id, "collection": notice.collection, "view": r.view, "actor": notice.actor,
                "text": text}
        if lines:
            data["lines"] = lines
        return Notice(user=r.user, name=idempotency_key(notice.id, r.user, Channel.DAV.value),
                      kind=NoticeKind.RESOURCE_CHANGE, created_at=notice.changes[-1].at, data=data)

    def _planned(self, notice: ChangeNotice, chunk: Iterable[Recipient],
                 pushes: Mapping[str, list[PushSubscription]], now: float) -> list[Planned]:
        planned = []
        for r in chunk:
            for channel, wanted in ((Channel.EMAIL, self._email and r.contact.email_address is not None),
                                    (Channel.WEBHOOK, bool(r.contact.webhook_url))):
                timing = r.choices[channel]
                if wanted and timing is not Timing.OFF:
                    due = next_digest(timing, now, r.contact.timezone, self._daily_at) if timing.digest else now
                    planned.append(Planned(notice.id, r.user, channel.value, due,
                                           digest=timing.value if timing.digest else ""))
            planned += self._pushes(notice, r, pushes, now)
        return planned

    @staticmethod
    def _pushes(notice: ChangeNotice, r: Recipient, pushes: Mapping[str, list[PushSubscription]],
                now: float) -> list[Planned]:
        """A push to each of ``r``'s devices subscribed for what the notice changed, but those the request's
        Push-Dont-Notify named (bitfireAT/webdav-push, section "Suppressing Notifications")."""
        quiet = notice.quiet_devices
        if quiet is None or r.choices[Channel.PUSH] is Timing.OFF:
            return []
        kinds = {c.kind for c in notice.changes}
        properties = ChangeKind.PROPERTIES_CHANGED in kinds
        content = bool(kinds - {ChangeKind.PROPERTIES_CHANGED})
        return [Planned(notice.id, r.user, Channel.PUSH.value, now, target=sub.id)
                for sub in pushes.get(r.user, ())
                if sub.id not in quiet and ((sub.content_update and content) or (sub.property_update and properties))]
