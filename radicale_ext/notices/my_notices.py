"""A person's own notice settings, as they (or the admin) see and change them.

The operations behind ``radicale-ext notices show|set|reset|mute|unmute|email|timezone|language|webhook``
and the web page's "Notices and reminders" (docs/web.md): the e-mail address, the time zone, the
language (also set by the page's language switch), the webhook, the choices for all collections or
for one the person reads, their WebDAV-Push devices and their last notices.  Each takes the
person (``user``) and who acts (``actor``: the person themselves, or ``None`` for the admin) and
refuses anyone else (:class:`Forbidden`) before it reads or writes anything.  A choice is about a
collection the person reads now (their own, or one shared with them that counts) or about all of
them: for any other the answer is the same :class:`NotFound`, whether or not the collection exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from ..base import names
from ..base.collection_store import CollectionStore
from ..base.database import Database
from ..base.errors import Forbidden, NotFound
from ..base.model import Grant
from ..sharing.circles import CircleBook
from ..sharing.inbox import Inbox
from ..sharing.notifications import Notice, NoticeKind
from ..sharing.shares import ShareBook
from .preferences import ALL, MUTE, Channel, Choices, Contact, Preferences, Timing
from .push.subscriptions import PushSubscriptions
from .settings import NoticeSettings
from .wording import Wording

RECENT = 50   # notices the page lists
TAGS = ("VCALENDAR", "VADDRESSBOOK")


class PersonSite(Protocol):
    """What a person's settings need of the server's objects (:class:`radicale_ext.site.Site` has it)."""

    @property
    def collections(self) -> CollectionStore: ...
    @property
    def db(self) -> Database: ...
    @property
    def shares(self) -> ShareBook: ...
    @property
    def circles(self) -> CircleBook: ...
    @property
    def inbox(self) -> Inbox: ...

    def user_exists(self, user: str) -> bool: ...


@dataclass(frozen=True)
class Reading:
    """A calendar or address book a person reads: their own, or one shared with them that counts."""

    collection: str   # the owner's path: "/alice/家庭/"
    path: str         # where it is in the person's home: "/bob/家庭~alice/" (their own: the same)
    shown_as: str     # as they see it: "家庭" (their own), "家庭 (alice)" or the name they gave it
    tag: str          # "VCALENDAR" or "VADDRESSBOOK"

    @property
    def owner(self) -> str:
        return self.collection.strip("/").split("/")[0]

    @property
    def own(self) -> bool:
        return self.path == self.collection

    @property
    def calendar(self) -> bool:
        return self.tag == "VCALENDAR"


@dataclass(frozen=True)
class Followed:
    """A collection a person reads, and what they hear about it."""

    reading: Reading
    choices: Choices                   # in effect: this collection's own choice, else the one for all, else the default
    chosen: Mapping[Channel, Timing]   # what they chose for this collection itself (the rest comes from all)
    muted: bool                        # they muted this collection itself


@dataclass(frozen=True)
class Everywhere:
    """What a person chose for all their collections (a collection's own choice beats it)."""

    choices: Choices
    chosen: Mapping[Channel, Timing]
    muted: bool


@dataclass(frozen=True)
class Device:
    """A device registered for WebDAV-Push: what it is told about, and until when."""

    id: str
    collection: str          # the owner's path
    shown_as: str            # as the person names it
    content_update: bool     # told when items change
    property_update: bool    # told when the name or colour changes
    service: str             # the push service's host ("fcm.googleapis.com")
    endpoint: str            # the push resource (a capability: not shown on the page)
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class Told:
    """One notice of a person's notification collection, for reading on a page.

    ``kind``: ``change`` (someone changed a collection: ``text`` and, for several changes, ``lines``),
    ``card`` (a me card shared with them changed: ``text``), ``invited``, ``access-changed`` and
    ``withdrawn`` (an invitation of ``who``'s to ``collection`` as ``role``), ``answered`` (``who``
    answered their invitation: ``answer`` is accepted, declined or removed).  Sentences of change
    and card notices are the notices feature's own (English); the others are put in words by
    whoever shows them, in the reader's language.
    """

    at: float
    kind: str
    text: str = ""
    lines: tuple[str, ...] = ()
    who: str = ""
    collection: str = ""     # as the reader names it: "家庭 (alice)", or theirs: "家庭"
    role: str = ""
    answer: str = ""
    summary: str = ""


def _display_name(props: Mapping[str, object]) -> str | None:
    name = props.get("D:displayname")
    return name if isinstance(name, str) and name else None


_INVITATION_KINDS = {"noresponse": "invited", "accepted": "access-changed", "deleted": "withdrawn"}


class MyNotices:
    def __init__(self, site: PersonSite, settings: NoticeSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._site = site
        self._collections = site.collections
        self.preferences = Preferences(site.db)
        self.settings = settings
        self._devices = PushSubscriptions(site.db, outbound=settings.outbound(), max_days=settings.push_max_days)
        self._wording = Wording(self._name)
        self._clock = clock

    # -- who may ------------------------------------------------------------------------------

    def acting(self, user: str, actor: str | None) -> str:
        """The person themselves, or the admin for them; :class:`Forbidden` for anyone else."""
        names.user_name(user)
        if actor is not None and actor != user:
            raise Forbidden(f"{actor!r} may see and change only their own notices, not {user!r}'s")
        if not self._site.user_exists(user):
            raise NotFound(f"no user named {user!r}")
        return user

    # -- what a person reads ----------------------------------------------------------------------

    def _name(self, collection: str) -> str:
        return self._collections.display_name(collection) or collection.strip("/").split("/")[-1]

    def readings(self, user: str, *, actor: str | None) -> list[Reading]:
        """Every calendar and address book ``user`` reads: their own by name, then the shared ones."""
        self.acting(user, actor)
        return self._readings(user)

    def _readings(self, user: str) -> list[Reading]:
        own = [Reading(c.path, c.path, c.display_name or c.name, c.tag)
               for c in self._collections.collections_of(user) if c.tag in TAGS]
        shared = [found for grant in self._site.shares.grants_for(user, self._site.circles.circles_of(user))
                  if (found := self._shared(user, grant)) is not None]
        return own + sorted(shared, key=lambda r: (r.shown_as.casefold(), r.collection))

    def _shared(self, user: str, grant: Grant) -> Reading | None:
        props = self._collections.props(grant.collection)
        if props.get("tag") not in TAGS:
            return None
        name = _display_name(props) or grant.collection.strip("/").split("/")[-1]
        shown = grant.properties.get("D:displayname") or f"{name} ({grant.owner})"
        return Reading(grant.collection, grant.mount_path(user), shown, props["tag"])

    def reading(self, user: str, collection: str, *, actor: str | None) -> Reading:
        """One collection ``user`` reads (``/alice/家庭/`` or ``alice/家庭``, the owner's path);
        :class:`NotFound` for any other, whether or not it exists."""
        self.acting(user, actor)
        owner, path = names.collection_path(collection)
        found: Reading | None = None
        if owner == user:
            props = self._collections.props(path)
            if props.get("tag") in TAGS:
                found = Reading(path, path, _display_name(props) or path.strip("/").split("/")[-1], props["tag"])
        else:
            grant = self._site.shares.grant_on(user, self._site.circles.circles_of(user), path)
            found = self._shared(user, grant) if grant is not None else None
        if found is None:
            raise NotFound(f"{user} reads no calendar or address book {names.shown(path.strip('/'))} "
                           "(their own, or one shared with them)")
        return found

    def _scope(self, user: str, collection: str, actor: str | None) -> str:
        """The choices' collection column: :data:`ALL` for "" or "all", else a collection ``user`` reads."""
        self.acting(user, actor)
        if collection in (ALL, "all"):
            return ALL
        return self.reading(user, collection, actor=actor).collection

    # -- choices ------------------------------------------------------------------------------

    def everywhere(self, user: str, *, actor: str | None) -> Everywhere:
        self.acting(user, actor)
        chosen, muted = self._chosen(user).get(ALL, ({}, False))
        return Everywhere(self.preferences.choices_for([user], ALL)[user], chosen, muted)

    def followed(self, user: str, *, actor: str | None) -> list[Followed]:
        """Each collection ``user`` reads, with what they hear about it."""
        self.acting(user, actor)
        rows = self._chosen(user)
        readings = self._readings(user)
        choices = self.preferences.choices_of(user, [r.collection for r in readings])
        return [Followed(r, choices[r.collection], *rows.get(r.collection, ({}, False))) for r in readings]

    def follow(self, user: str, collection: str, *, actor: str | None) -> Followed:
        """One collection ``user`` reads, with what they hear about it; :class:`NotFound` as :meth:`reading`."""
        reading = self.reading(user, collection, actor=actor)
        chosen, muted = self._chosen(user).get(reading.collection, ({}, False))
        return Followed(reading, self.preferences.choices_of(user, [reading.collection])[reading.collection],
                        chosen, muted)

    def _chosen(self, user: str) -> dict[str, tuple[dict[Channel, Timing], bool]]:
        found: dict[str, tuple[dict[Channel, Timing], bool]] = {}
        for collection, channel, timing in self.preferences.rows(user):
            chosen, muted = found.get(collection, ({}, False))
            if channel == MUTE:
                muted = True
            else:
                chosen[Channel(channel)] = Timing(timing)
            found[collection] = (chosen, muted)
        return found

    def rows(self, user: str, *, actor: str | None) -> list[tuple[str, str, str]]:
        """``(collection or "", channel, timing)`` of every choice ``user`` made (``notices show``)."""
        self.acting(user, actor)
        return self.preferences.rows(user)

    def set_choices(self, user: str, collection: str, timings: Mapping[Channel, Timing | None], muted: bool, *,
                    actor: str | None) -> None:
        """Everything ``user`` hears about ``collection`` (or all, :data:`ALL`) at once: each channel's
        timing (``None``: as for all, or the default) and whether it is muted."""
        self.preferences.set_choices(user, self._scope(user, collection, actor), timings, muted)

    def choose(self, user: str, channel: Channel, timing: Timing, collection: str = ALL, *,
               actor: str | None) -> None:
        self.preferences.choose(user, channel, timing, self._scope(user, collection, actor))

    def reset(self, user: str, channel: Channel, collection: str = ALL, *, actor: str | None) -> bool:
        return self.preferences.reset(user, channel, self._scope(user, collection, actor))

    def mute(self, user: str, collection: str = ALL, *, actor: str | None) -> None:
        self.preferences.mute(user, self._scope(user, collection, actor))

    def unmute(self, user: str, collection: str = ALL, *, actor: str | None) -> bool:
        return self.preferences.unmute(user, self._scope(user, collection, actor))

    # -- addresses ----------------------------------------------------------------------------

    def contact(self, user: str, *, actor: str | None) -> Contact:
        return self.preferences.contact(self.acting(user, actor))

    def set_email(self, user: str, address: str | None, *, actor: str | None) -> None:
        """Where e-mail goes (``None``: the user name, when it is an address); the core's address check."""
        self.preferences.set_email(self.acting(user, actor), address)

    def set_timezone(self, user: str, zone: str | None, *, actor: str | None) -> None:
        self.preferences.set_timezone(self.acting(user, actor), zone)

    def set_language(self, user: str, language: str | None, *, actor: str | None,
                     unless_chosen: bool = False) -> bool:
        """The language of ``user``'s notices (``None``: English, forgetting the choice); with
        ``unless_chosen`` only when they chose none yet (the web page's first login in Chinese).
        Returns whether anything was stored."""
        return self.preferences.set_language(self.acting(user, actor), language, unless_chosen=unless_chosen)

    def language(self, user: str, *, actor: str | None) -> str | None:
        """The language ``user`` chose for notices, ``None`` when they chose none."""
        return self.preferences.language_of(self.acting(user, actor))

    def set_webhook(self, user: str, url: str | None, *, actor: str | None) -> str | None:
        """Set (or with ``None`` remove) the webhook; returns its new signing secret, to be shown once.
        The URL must pass the server's outbound rule (:mod:`.outbound`)."""
        return self.preferences.set_webhook(self.acting(user, actor), url, outbound=self.settings.outbound())

    # -- devices ------------------------------------------------------------------------------

    def devices(self, user: str, *, actor: str | None) -> list[Device]:
        """``user``'s devices registered for WebDAV-Push, each with what it is subscribed to."""
        self.acting(user, actor)
        now = self._clock()
        found = [s for s in self._devices.of_user(user) if s.expires_at > now]
        shown = {r.collection: r.shown_as for r in self._readings(user)} if found else {}
        return [Device(id=s.id, collection=s.collection,
                       shown_as=shown.get(s.collection) or self._wording.collection(s.collection, user),
                       content_update=s.content_update, property_update=s.property_update,
                       service=urlsplit(s.endpoint).hostname or "", endpoint=s.endpoint, created_at=s.created_at,
                       expires_at=s.expires_at)
                for s in found]

    def revoke_device(self, user: str, device: str, *, actor: str | None) -> None:
        """Stop pushing to one of ``user``'s devices; :class:`NotFound` for any other id (someone else's too)."""
        self._devices.unsubscribe(self.acting(user, actor), device)

    # -- what they were told --------------------------------------------------------------------

    def recent(self, user: str, *, actor: str | None, limit: int = RECENT) -> list[Told]:
        """The last ``limit`` notices of ``user``'s notification collection, newest first."""
        self.acting(user, actor)
        notices = self._site.inbox.notices(user)
        notices.sort(key=lambda n: n.created_at)
        names: dict[str, str] = {}
        wording = Wording(lambda c: names.get(c) or names.setdefault(c, self._name(c)))
        return [self._told(n, wording) for n in reversed(notices[-limit:])] if limit > 0 else []

    @staticmethod
    def _told(notice: Notice, wording: Wording) -> Told:
        data = notice.data
        if notice.kind is NoticeKind.RESOURCE_CHANGE:
            return Told(notice.created_at, "change", text=str(data.get("text") or ""),
                        lines=tuple(str(line) for line in data.get("lines") or ()))
        if notice.kind is NoticeKind.CARD_CHANGED:
            return Told(notice.created_at, "card", text=str(data.get("summary") or ""), who=str(data.get("owner", "")))
        collection = wording.collection(str(data.get("collection", "")), notice.user) \
            if data.get("collection") else ""
        if notice.kind is NoticeKind.INVITATION_REPLY:
            return Told(notice.created_at, "answered", who=str(data.get("sharee", "")), collection=collection,
                        answer=str(data.get("state", "")), summary=str(data.get("summary") or ""))
        return Told(notice.created_at, _INVITATION_KINDS.get(str(data.get("status")), "invited"),
                    who=str(data.get("owner", "")), collection=collection, role=str(data.get("role", "")),
                    summary=str(data.get("summary") or ""))
