"""How each person wants to hear about changes: per collection or for all, per channel.

Channels: the DAV notification collection (always, unless muted: it is the
record), e-mail, WebDAV-Push and a webhook.  For each of the last three a
person chooses *off*, *immediately*, or a digest (*hourly*, *daily*; not for
push, which only tells a device to sync).  *Muting* a collection (or
everything) means nothing at all, not even the notification collection.

A choice for one collection beats the choice for all; with neither, the
defaults below apply (docs/notifications.md says why).  So a collection
can also be *heard* while everything else is muted: its own row says so.
Clients set the same choice through CalendarServer's ``CS:notify-changes``
property (caldav-notifications section 5.3.4): :meth:`Preferences.hears`
and :meth:`Preferences.set_hearing`.  Besides choices a
person has contact details: an e-mail address (default: their user name
when it is an address), a time zone (for the times in notices), a
webhook (URL and secret), and the language notices speak to them
(:mod:`.language`; English until they choose another, on the web page or
the command line).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..base import names
from ..base.database import Database, Writer
from ..base.errors import ExtError
from .language import DEFAULT, LANGUAGES
from .outbound import Outbound
from .zones import is_zone

SCHEMA = """
CREATE TABLE IF NOT EXISTS notice_choices (
    user       TEXT NOT NULL,
    collection TEXT NOT NULL,
    channel    TEXT NOT NULL,
    timing     TEXT NOT NULL,
    PRIMARY KEY (user, collection, channel)
);
CREATE TABLE IF NOT EXISTS notice_contacts (
    user           TEXT PRIMARY KEY,
    email          TEXT,
    timezone       TEXT,
    webhook_url    TEXT,
    webhook_secret TEXT,
    updated_at     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS notice_languages (
    user       TEXT PRIMARY KEY,
    language   TEXT NOT NULL,
    updated_at REAL NOT NULL
)
"""

ALL = ""          # the collection column for "every collection"
MUTE = "notices"  # the channel column of a mute ("nothing at all"): timing "off" mutes,
                  # "immediately" hears one collection when everything is muted


class Channel(enum.Enum):
    DAV = "dav"          # the notification collection: the record, always on unless muted
    EMAIL = "email"
    PUSH = "push"
    WEBHOOK = "webhook"


class Timing(enum.Enum):
    OFF = "off"
    IMMEDIATELY = "immediately"
    HOURLY = "hourly"
    DAILY = "daily"

    @property
    def digest(self) -> bool:
        return self in (Timing.HOURLY, Timing.DAILY)


CHOOSABLE = (Channel.EMAIL, Channel.PUSH, Channel.WEBHOOK)
DEFAULTS: Mapping[Channel, Timing] = {Channel.EMAIL: Timing.IMMEDIATELY, Channel.PUSH: Timing.IMMEDIATELY,
                                      Channel.WEBHOOK: Timing.IMMEDIATELY}
ALLOWED: Mapping[Channel, frozenset[Timing]] = {
    Channel.EMAIL: frozenset(Timing), Channel.WEBHOOK: frozenset(Timing),
    Channel.PUSH: frozenset({Timing.OFF, Timing.IMMEDIATELY}),
}

# an address a mail server can route: local part, "@", a domain with a dot (or localhost)
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


class InvalidAddress(ExtError):
    """An e-mail address or time zone that cannot be used (URLs: :mod:`.outbound`)."""


def check_email(address: str) -> str:
    if len(address) > 254 or not _ADDRESS.fullmatch(address) or ".." in address:
        raise InvalidAddress(f"{names.shown(address)} is not a valid e-mail address "
                             "(set another with 'radicale-ext notices email ADDRESS')")
    return address


def check_zone(zone: str) -> str:
    if not is_zone(zone):
        raise InvalidAddress(f"{names.shown(zone)} is not a time zone; use a name such as Europe/Berlin "
                             "(a region and a city)")
    return zone


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ExtError(f"notices do not speak {names.shown(language)}; choose one of {', '.join(LANGUAGES)}")
    return language


def check_choice(channel: Channel, timing: Timing) -> None:
    """Raise :class:`ExtError` unless ``timing`` may be chosen for ``channel``."""
    if channel not in CHOOSABLE:
        raise ExtError(f"the {channel.value} channel is always on; to hear nothing, mute the collection")
    if timing not in ALLOWED[channel]:
        allowed = ", ".join(t.value for t in Timing if t in ALLOWED[channel])
        raise ExtError(f"{channel.value}: {timing.value!r} is not offered ({allowed}): a push only tells "
                       "a device to sync, so it has no digest")


@dataclass(frozen=True)
class Contact:
    """A person's addresses for notices."""

    user: str
    email: str | None = None          # as stored; see :attr:`email_address`
    timezone: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    language: str = DEFAULT           # the language of their notices (:mod:`.language`)

    @property
    def email_address(self) -> str | None:
        """Where e-mail goes: the stored address, else the user name when it looks like one."""
        if self.email:
            return self.email
        return self.user if "@" in self.user else None


@dataclass(frozen=True)
class Choices:
    """What one person chose for one collection."""

    muted: bool
    timing: Mapping[Channel, Timing]

    def __getitem__(self, channel: Channel) -> Timing:
        return Timing.OFF if self.muted else self.timing[channel]


class Preferences:
    def __init__(self, db: Database, clock=time.time) -> None:
        self._db = db
        self._clock = clock

    # -- choices ---------------------------------------------------------------------

    def choose(self, user: str, channel: Channel, timing: Timing, collection: str = ALL) -> None:
        check_choice(channel, timing)
        with self._db.write() as w:
            w.execute("INSERT OR REPLACE INTO notice_choices(user, collection, channel, timing) VALUES (?, ?, ?, ?)",
                      (user, collection, channel.value, timing.value))

    def mute(self, user: str, collection: str = ALL) -> None:
        with self._db.write() as w:
            w.execute("INSERT OR REPLACE INTO notice_choices(user, collection, channel, timing) VALUES (?, ?, ?, ?)",
                      (user, collection, MUTE, Timing.OFF.value))

    def unmute(self, user: str, collection: str = ALL) -> bool:
        """Hear about ``collection`` (or everything) again; False when it was not muted.  With everything
        muted, one collection is heard by a choice of its own."""
        with self._db.write() as w:
            if collection != ALL and self._mute_of(w, user, ALL) == Timing.OFF.value:
                if self._mute_of(w, user, collection) == Timing.IMMEDIATELY.value:
                    return False
                w.execute("INSERT OR REPLACE INTO notice_choices(user, collection, channel, timing)"
                          " VALUES (?, ?, ?, ?)", (user, collection, MUTE, Timing.IMMEDIATELY.value))
                return True
            return w.execute("DELETE FROM notice_choices WHERE user = ? AND collection = ? AND channel = ?"
                             " AND timing = ?", (user, collection, MUTE, Timing.OFF.value)).rowcount > 0

    def hears(self, user: str, collections: Iterable[str]) -> dict[str, bool]:
        """Whether ``user`` hears about each collection at all: ``CS:notify-changes`` (one query)."""
        rows = self.rows(user)
        return {c: hears_in(rows, c) for c in collections}

    def set_hearing(self, user: str, collection: str, hear: bool | None) -> None:
        """``CS:notify-changes`` set to true or false by a client, or removed (``None``: the choice for
        all collections applies again)."""
        if hear is False:
            self.mute(user, collection)
        elif hear is True:
            self.unmute(user, collection)
        else:
            with self._db.write() as w:
                w.execute("DELETE FROM notice_choices WHERE user = ? AND collection = ? AND channel = ?",
                          (user, collection, MUTE))

    @staticmethod
    def _mute_of(w: Writer, user: str, collection: str) -> str | None:
        row = w.execute("SELECT timing FROM notice_choices WHERE user = ? AND collection = ? AND channel = ?",
                        (user, collection, MUTE)).fetchone()
        return row[0] if row else None

    def reset(self, user: str, channel: Channel, collection: str = ALL) -> bool:
        """Forget a choice: the one for all collections (or the default) applies again."""
        with self._db.write() as w:
            return w.execute("DELETE FROM notice_choices WHERE user = ? AND collection = ? AND channel = ?",
                             (user, collection, channel.value)).rowcount > 0

    def set_choices(self, user: str, collection: str, timings: Mapping[Channel, Timing | None], muted: bool) -> None:
        """Everything ``user`` chose for ``collection`` (or :data:`ALL`) at once, in one transaction (the web
        page's form): each channel's timing, ``None`` to forget it (:meth:`reset`), and whether it is muted."""
        for channel, timing in timings.items():
            check_choice(channel, timing or Timing.OFF)
        with self._db.write() as w:
            for channel, timing in timings.items():
                if timing is None:
                    w.execute("DELETE FROM notice_choices WHERE user = ? AND collection = ? AND channel = ?",
                              (user, collection, channel.value))
                else:
                    w.execute("INSERT OR REPLACE INTO notice_choices(user, collection, channel, timing)"
                              " VALUES (?, ?, ?, ?)", (user, collection, channel.value, timing.value))
            if muted:
                w.execute("INSERT OR REPLACE INTO notice_choices(user, collection, channel, timing)"
                          " VALUES (?, ?, ?, ?)", (user, collection, MUTE, Timing.OFF.value))
            else:
                w.execute("DELETE FROM notice_choices WHERE user = ? AND collection = ? AND channel = ?",
                          (user, collection, MUTE))

    def choices_for(self, users: Iterable[str], collection: str) -> dict[str, Choices]:
        """Each user's choices for ``collection`` (one query per 500 users)."""
        users = sorted(set(users))
        rows: dict[str, list[tuple[str, str, str]]] = {}
        for start in range(0, len(users), 500):
            chunk = users[start:start + 500]
            for user, coll, channel, timing in self._db.read(
                    "SELECT user, collection, channel, timing FROM notice_choices WHERE collection IN (?, ?)"
                    f" AND user IN ({','.join('?' * len(chunk))})", (ALL, collection, *chunk)):
                rows.setdefault(user, []).append((coll, channel, timing))
        return {user: _resolve(rows.get(user, []), collection) for user in users}

    def choices_of(self, user: str, collections: Iterable[str]) -> dict[str, Choices]:
        """``user``'s choices for each of ``collections`` (one query, however many)."""
        rows = [(c, ch, t) for c, ch, t in self.rows(user)]
        return {collection: _resolve(rows, collection) for collection in collections}

    def rows(self, user: str) -> list[tuple[str, str, str]]:
        """``(collection or "", channel, timing)`` of every choice a person made."""
        return [(c, ch, t) for c, ch, t in self._db.read(
            "SELECT collection, channel, timing FROM notice_choices WHERE user = ? ORDER BY collection, channel",
            (user,))]

    # -- contact details ----------------------------------------------------------------

    def contact(self, user: str) -> Contact:
        return self.contacts([user])[user]

    def contacts(self, users: Iterable[str]) -> dict[str, Contact]:
        users = sorted(set(users))
        found = {u: Contact(user=u) for u in users}
        for start in range(0, len(users), 500):
            chunk = users[start:start + 500]
            for row in self._db.read("SELECT user, email, timezone, webhook_url, webhook_secret FROM notice_contacts"
                                     f" WHERE user IN ({','.join('?' * len(chunk))})", chunk):
                found[row[0]] = Contact(*row)
            for user, language in self._db.read("SELECT user, language FROM notice_languages"
                                                 f" WHERE user IN ({','.join('?' * len(chunk))})", chunk):
                if language in LANGUAGES:
                    found[user] = dataclasses.replace(found[user], language=language)
        return found

    def language_of(self, user: str) -> str | None:
        """The language ``user`` chose for notices, ``None`` when they chose none (English is spoken)."""
        row = self._db.read_one("SELECT language FROM notice_languages WHERE user = ?", (user,))
        return row[0] if row else None

    @staticmethod
    def language_in(w: Writer, user: str) -> str:
        """Inside ``w``: the language of ``user``'s notices (English when they chose none)."""
        row = w.execute("SELECT language FROM notice_languages WHERE user = ?", (user,)).fetchone()
        return row[0] if row and row[0] in LANGUAGES else DEFAULT

    def set_language(self, user: str, language: str | None, *, unless_chosen: bool = False) -> bool:
        """Notices to ``user`` in ``language`` (``None``: forget the choice, English again); with
        ``unless_chosen`` only when they chose none yet.  Returns whether anything was stored."""
        names.user_name(user)
        with self._db.write() as w:
            if language is None:
                return w.execute("DELETE FROM notice_languages WHERE user = ?", (user,)).rowcount > 0
            check_language(language)
            verb = "INSERT OR IGNORE" if unless_chosen else "INSERT OR REPLACE"
            return w.execute(f"{verb} INTO notice_languages(user, language, updated_at) VALUES (?, ?, ?)",
                             (user, language, self._clock())).rowcount > 0

    def set_email(self, user: str, address: str | None) -> None:
        self._set(user, email=check_email(address.strip()) if address else None)

    def set_timezone(self, user: str, zone: str | None) -> None:
        self._set(user, timezone=check_zone(zone.strip()) if zone else None)

    def set_webhook(self, user: str, url: str | None, *, outbound: Outbound) -> str | None:
        """Set (or with ``None`` remove) the webhook; returns its new signing secret.

        Raises :class:`~radicale_ext.notices.outbound.BadDestination` for a URL the
        server will not send to (not http(s), not https where required, a host that
        does not resolve or leads to the server's own machine or networks).
        """
        if url is None:
            self._set(user, webhook_url=None, webhook_secret=None)
            return None
        url = outbound.check(url.strip(), what="webhook URL").url
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()  # Standard Webhooks' form
        self._set(user, webhook_url=url, webhook_secret=secret)
        return secret

    def _set(self, user: str, **values: str | None) -> None:
        names.user_name(user)
        with self._db.write() as w:
            w.execute("INSERT OR IGNORE INTO notice_contacts(user, updated_at) VALUES (?, ?)", (user, self._clock()))
            for column, value in values.items():
                w.execute(f"UPDATE notice_contacts SET {column} = ?, updated_at = ? WHERE user = ?",
                          (value, self._clock(), user))

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM notice_choices WHERE user = ?", (user,))
        w.execute("DELETE FROM notice_contacts WHERE user = ?", (user,))
        w.execute("DELETE FROM notice_languages WHERE user = ?", (user,))


def hears_in(rows: list[tuple[str, str, str]], collection: str) -> bool:
    """Whether a person whose choices are ``rows`` (:meth:`Preferences.rows`) hears about ``collection``."""
    return not _resolve(rows, collection).muted


def _resolve(rows: list[tuple[str, str, str]], collection: str) -> Choices:
    """The collection's own choice beats the one for all collections, which beats the default."""
    by_scope: dict[str, dict[str, str]] = {ALL: {}, collection: {}}
    for coll, channel, timing in rows:
        by_scope.setdefault(coll, {})[channel] = timing
    mine, everywhere = by_scope[collection], by_scope[ALL]
    muted = (mine.get(MUTE) or everywhere.get(MUTE)) == Timing.OFF.value
    timing = {}
    for channel in CHOOSABLE:
        value = mine.get(channel.value) or everywhere.get(channel.value)
        timing[channel] = Timing(value) if value else DEFAULTS[channel]
    return Choices(muted=muted, timing=timing)
