"""A person's reminder choices, as they (or the admin) see and change them: muting a calendar's
reminders (or all of them), reminders of their own calendars too, and, for a calendar's owner, its
default reminder (docs/reminders.md).

The operations behind ``radicale-ext reminders mute|unmute|own|default`` and the web page's
"Notices and reminders"; each checks who acts first: the person themselves or the admin
(``actor`` None); a calendar's default reminder only its owner or the admin.  A calendar named
must be one the person reads (:meth:`radicale_ext.notices.my_notices.MyNotices.reading`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..base import names
from ..base.errors import Forbidden, NotFound
from ..notices.my_notices import MyNotices, Reading
from .scheduler import ALL, ReminderChoices


@dataclass(frozen=True)
class CalendarReminders:
    """One calendar a person reads, and its reminders for them."""

    reading: Reading
    muted: bool                  # they muted this calendar's reminders (or all: see :class:`ReminderOverview`)
    default_before: int | None   # the calendar's default reminder: seconds before each event (owner's choice)


@dataclass(frozen=True)
class ReminderOverview:
    muted_everywhere: bool       # no reminders at all
    own: bool                    # reminders of their own calendars too
    calendars: tuple[CalendarReminders, ...]


class MyReminders:
    def __init__(self, choices: ReminderChoices, readings: MyNotices) -> None:
        self.choices = choices
        self._readings = readings

    def _calendar(self, user: str, collection: str, actor: str | None) -> Reading:
        found = self._readings.reading(user, collection, actor=actor)
        if not found.calendar:
            raise NotFound(f"{names.shown(found.collection.strip('/'))} is an address book; reminders are "
                           "for calendars")
        return found

    def overview(self, user: str, *, actor: str | None, readings: Sequence[Reading] | None = None
                 ) -> ReminderOverview:
        """``user``'s reminder choices, for every calendar they read (``readings``: those the caller
        already got for them from :meth:`radicale_ext.notices.my_notices.MyNotices.readings`)."""
        self._readings.acting(user, actor)
        if readings is None:
            readings = self._readings.readings(user, actor=actor)
        readings = [r for r in readings if r.calendar]
        rows = set(self.choices.rows(user))
        return ReminderOverview(
            muted_everywhere=(ALL, "mute") in rows, own=(ALL, "own") in rows,
            calendars=tuple(CalendarReminders(r, (r.collection, "mute") in rows, self._default(r.collection))
                            for r in readings))

    def calendar(self, user: str, collection: str, *, actor: str | None) -> CalendarReminders:
        """One calendar ``user`` reads, and its reminders for them."""
        found = self._calendar(user, collection, actor)
        return CalendarReminders(found, (found.collection, "mute") in set(self.choices.rows(user)),
                                 self._default(found.collection))

    def _default(self, collection: str) -> int | None:
        offset = self.choices.default_for(collection)
        return None if offset is None else -offset

    def mute(self, user: str, collection: str = ALL, *, actor: str | None) -> None:
        """No reminders of ``collection`` (a calendar ``user`` reads), or with :data:`ALL` of any."""
        self.choices.mute(user, self._scope(user, collection, actor))

    def unmute(self, user: str, collection: str = ALL, *, actor: str | None) -> bool:
        return self.choices.unmute(user, self._scope(user, collection, actor))

    def _scope(self, user: str, collection: str, actor: str | None) -> str:
        if collection in (ALL, "all"):
            self._readings.readings(user, actor=actor)   # checks who acts
            return ALL
        return self._calendar(user, collection, actor).collection

    def own(self, user: str, wanted: bool, *, actor: str | None) -> None:
        """Reminders of ``user``'s own calendars too (off by default: their own alarms ring on their devices)."""
        self._readings.readings(user, actor=actor)
        self.choices.own(user, wanted)

    def set_default(self, collection: str, before: int | None, *, actor: str | None) -> Reading:
        """The calendar's default reminder, ``before`` seconds before each event (None: none).  Only its
        owner or the admin; :class:`NotFound` for a calendar that is not there or not the actor's to read."""
        owner, path = names.collection_path(collection)
        if actor is not None and actor != owner:
            self._calendar(actor, path, actor)   # someone who cannot read it learns nothing more than NotFound
            raise Forbidden(f"only {owner} (or the admin) sets the default reminder of {path.strip('/')}")
        found = self._calendar(owner, path, actor)
        self.choices.set_default(found.collection, before)
        return found
