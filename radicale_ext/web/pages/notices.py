"""Notices and reminders: where a person's notices go (e-mail, time zone, webhook, devices registered
for WebDAV-Push), what they hear about each calendar and address book they read (per channel: off,
at once, hourly or daily digest; muted), their reminders (muted; a calendar's default reminder for its
owner), and the last notices they were told (issue 14, item 7).

Every read and change is the core's (:class:`radicale_ext.notices.my_notices.MyNotices`,
:class:`radicale_ext.reminders.my_reminders.MyReminders`) with the person as the actor: the core
refuses someone else's settings, devices or notices, and any collection the person does not read,
whatever a form says.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from urllib.parse import quote

from markupsafe import Markup

from ...base.errors import ExtError
from ...notices.my_notices import Followed, Reading
from ...notices.preferences import ALL, ALLOWED, CHOOSABLE, DEFAULTS, Channel, Timing
from ...reminders.my_reminders import ReminderOverview
from ...reminders.scheduler import parse_before
from ..context import PageContext
from ..http import Response
from ..i18n import N_
from ..routes import action, page

NAV_ENTRY = ("/notices", N_("Notices and reminders"))

CHANNELS = {Channel.EMAIL: N_("E-mail"), Channel.PUSH: N_("Push to my devices"), Channel.WEBHOOK: N_("Webhook")}
TIMINGS = {Timing.OFF: N_("off"), Timing.IMMEDIATELY: N_("at once"), Timing.HOURLY: N_("hourly digest"),
           Timing.DAILY: N_("daily digest")}
ROLES = {"subscriber": N_("subscriber (reads)"), "collaborator": N_("collaborator (reads and writes)")}
# default reminders offered (the core's own syntax, radicale_ext.reminders.scheduler.parse_before)
REMINDER_CHOICES = ("5m", "10m", "15m", "30m", "1h", "2h", "1d", "2d", "1w")


def before_text(seconds: int) -> str:
    """Seconds before an event in the syntax the core reads back: 3600 -> "1h"."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def _zones() -> Markup:
    """The options of the time zone field's list: IANA names from the system's tzdata, the same for
    every person, so made once (each name escaped by ``Markup.format``)."""
    names = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return Markup("").join(Markup('<option value="{}">').format(name) for name in names)


ZONES = _zones()


def _reminding(ctx: PageContext) -> bool:
    settings = ctx.web.notice_settings
    return settings.enabled and settings.reminders


def _common(ctx: PageContext) -> dict:
    return {"settings": ctx.web.notice_settings, "channels": CHANNELS, "timings": TIMINGS, "choosable": CHOOSABLE,
            "allowed": ALLOWED, "defaults": DEFAULTS, "roles": ROLES, "reminder_choices": REMINDER_CHOICES,
            "before_text": before_text}


@dataclass(frozen=True)
class Row:
    """One line of the list of collections: its name, where its choices are changed, and what they are."""

    reading: Reading
    href: str
    kind: str          # "calendar · shared by alice", in the person's words
    summary: str       # "E-mail: at once · Push to my devices: off · Webhook: daily digest · no reminders"


def _rows(ctx: PageContext, followed: list[Followed], reminders: ReminderOverview | None) -> list[Row]:
    """The list's words, put together once per page rather than in the template (a person may read hundreds)."""
    _ = ctx._
    words = {channel: _(CHANNELS[channel]) for channel in CHOOSABLE}
    timing_words = {timing: _(words_) for timing, words_ in TIMINGS.items()}
    by_calendar = {c.reading.collection: c for c in reminders.calendars} if reminders else {}
    kinds = {True: _("calendar"), False: _("address book")}
    shared_by = _("shared by %(owner)s")
    page = ctx.request.url("/notices/collection")
    rows = []
    for f in followed:
        r = f.reading
        parts = [_("muted")] if f.choices.muted else [
            f"{words[channel]}: {timing_words[f.choices.timing[channel]]}" for channel in CHOOSABLE]
        rem = by_calendar.get(r.collection)
        if rem is not None and reminders is not None:
            if rem.muted or reminders.muted_everywhere:
                parts.append(_("no reminders"))
            elif rem.default_before:
                parts.append(_("default reminder %(time)s before") % {"time": before_text(rem.default_before)})
            else:
                parts.append(_("reminders of its events"))
        kind = kinds[r.calendar] + ("" if r.own else " · " + shared_by % {"owner": r.owner})
        rows.append(Row(r, f"{page}?collection={quote(r.collection, safe='/')}", kind, " · ".join(parts)))
    return rows


def _render(ctx: PageContext, status: int = 200, *, problem: ExtError | None = None,
            entered: dict[str, str] | None = None, secret: str = "") -> Response:
    user, web = ctx.user, ctx.web
    mine = web.my_notices
    followed = mine.followed(user, actor=user)
    reminders = web.my_reminders.overview(user, actor=user, readings=[f.reading for f in followed]) \
        if _reminding(ctx) else None
    return ctx.render(
        "notices.html", status, contact=mine.contact(user, actor=user), everywhere=mine.everywhere(user, actor=user),
        rows=_rows(ctx, followed, reminders), devices=mine.devices(user, actor=user),
        recent=mine.recent(user, actor=user), reminders=reminders,
        zones=ZONES, problem=problem, entered=entered or {}, secret=secret, done=ctx.request.arg("done"),
        done_name=ctx.request.arg("name"), **_common(ctx))


def _render_one(ctx: PageContext, collection: str, status: int = 200, *, problem: ExtError | None = None
                ) -> Response:
    """One calendar's or address book's choices (the form of :func:`choose`)."""
    user, web = ctx.user, ctx.web
    followed = web.my_notices.follow(user, collection, actor=user)   # NotFound unless the person reads it
    reminders = web.my_reminders.calendar(user, collection, actor=user) \
        if _reminding(ctx) and followed.reading.calendar else None
    return ctx.render("notices_collection.html", status, followed=followed, reminders=reminders,
                      everywhere=web.my_notices.everywhere(user, actor=user), problem=problem, **_common(ctx))


@page("/notices")
def notices(ctx: PageContext) -> Response:
    return _render(ctx)


@page("/notices/collection")
def collection_choices(ctx: PageContext) -> Response:
    return _render_one(ctx, ctx.request.arg("collection"))


def _saved(ctx: PageContext, done: str, name: str = "") -> Response:
    return ctx.redirect("/notices", done=done, **({"name": name} if name else {}))


def _again(ctx: PageContext, e: ExtError, form: dict[str, str]) -> Response:
    """The page again with the core's sentence; a refusal (403) or a collection not there (404) is the
    problem page's."""
    if e.status in (403, 404):
        raise e
    return _render(ctx, e.status, problem=e, entered=form)


# -- where notices go -----------------------------------------------------------------------------

@action("/notices/email")
def email(ctx: PageContext) -> Response:
    form = ctx.request.form()
    try:
        ctx.web.my_notices.set_email(ctx.user, form.get("email", "").strip() or None, actor=ctx.user)
    except ExtError as e:
        return _again(ctx, e, form)
    return _saved(ctx, "email")


@action("/notices/timezone")
def timezone(ctx: PageContext) -> Response:
    form = ctx.request.form()
    try:
        ctx.web.my_notices.set_timezone(ctx.user, form.get("timezone", "").strip() or None, actor=ctx.user)
    except ExtError as e:
        return _again(ctx, e, form)
    return _saved(ctx, "timezone")


@action("/notices/webhook")
def webhook(ctx: PageContext) -> Response:
    """The signing secret is shown once, in the answer to this form (never in an address, so never in
    the browser's history or a log); the page says to keep it with the receiver."""
    form = ctx.request.form()
    try:
        secret = ctx.web.my_notices.set_webhook(ctx.user, form.get("url", "").strip() or None, actor=ctx.user)
    except ExtError as e:
        return _again(ctx, e, form)
    if secret is None:
        return _saved(ctx, "webhook-removed")
    return _render(ctx, secret=secret)


@action("/notices/webhook/remove")
def webhook_remove(ctx: PageContext) -> Response:
    ctx.web.my_notices.set_webhook(ctx.user, None, actor=ctx.user)
    return _saved(ctx, "webhook-removed")


@action("/notices/devices/revoke")
def revoke_device(ctx: PageContext) -> Response:
    form = ctx.request.form()
    mine = ctx.web.my_notices
    device = form.get("device", "")
    shown = next((d.shown_as for d in mine.devices(ctx.user, actor=ctx.user) if d.id == device), "")
    mine.revoke_device(ctx.user, device, actor=ctx.user)   # NotFound for anyone else's
    return _saved(ctx, "device-revoked", shown)


# -- what a person hears ----------------------------------------------------------------------------

def _timing(channel: Channel, text: str) -> Timing | None:
    """A channel's field: "" is "as for all" (for all: the default), else a timing."""
    if not text:
        return None
    try:
        return Timing(text)
    except ValueError:
        raise ExtError(f"{channel.value}: {text!r} is not a timing (off, immediately, hourly, daily)") from None


@action("/notices/choose")
def choose(ctx: PageContext) -> Response:
    """One collection's choices (or, without ``collection``, those for all): every channel, muted, and
    the reminders; everything is checked before anything is written."""
    form = ctx.request.form()
    user, web = ctx.user, ctx.web
    collection = form.get("collection", "")
    try:
        timings = {channel: _timing(channel, form.get(channel.value, "")) for channel in CHOOSABLE}
        reading = web.my_notices.reading(user, collection, actor=user) if collection else None
        reminding = _reminding(ctx) and (reading is None or reading.calendar)
        default = reminding and reading is not None and "default_reminder" in form   # the owner's field
        before = parse_before(form["default_reminder"]) if default and form["default_reminder"] else None
        if default and reading is not None:   # first: the one change the core may refuse (owner only)
            web.my_reminders.set_default(reading.collection, before, actor=user)
        web.my_notices.set_choices(user, collection or ALL, timings, form.get("muted") == "on", actor=user)
        if reminding:
            if form.get("reminders_muted") == "on":
                web.my_reminders.mute(user, collection or ALL, actor=user)
            else:
                web.my_reminders.unmute(user, collection or ALL, actor=user)
            if reading is None:
                web.my_reminders.own(user, form.get("reminders_own") == "on", actor=user)
    except ExtError as e:
        if e.status in (403, 404) or not collection:
            return _again(ctx, e, form)
        return _render_one(ctx, collection, e.status, problem=e)
    return _saved(ctx, "chosen", reading.shown_as if reading else "")
