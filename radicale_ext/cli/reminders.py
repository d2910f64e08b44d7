"""radicale-ext reminders ...: upcoming reminders, muting them, a calendar's default reminder."""

from __future__ import annotations

import argparse
import datetime
import time

from ..base import names
from ..base.errors import ExtError
from ..notices.my_notices import MyNotices
from ..notices.preferences import Preferences
from ..notices.service import Notices
from ..notices.settings import from_ini
from ..notices.wording import event_time
from ..reminders.my_reminders import MyReminders
from ..reminders.scheduler import ALL, ReminderScheduler, Upcoming, parse_before
from ..site import Site
from ._common import Commands, out
from .invitations import acting_person


def _scheduler(args: argparse.Namespace, site: Site) -> ReminderScheduler:
    settings = from_ini(args.config, database_path=site.settings.database_path)
    if not settings.enabled or not settings.reminders:
        raise ExtError("reminders are off: set [hook] type = radicale_ext.plugins.hook (and notices_reminders = "
                       "true) in the config")
    return ReminderScheduler(Notices(site, settings))


def _mine(args: argparse.Namespace, site: Site, scheduler: ReminderScheduler) -> MyReminders:
    """A person's reminder choices: the core checks who acts (``--as``: themselves; a default: the owner)."""
    settings = from_ini(args.config, database_path=site.settings.database_path)
    return MyReminders(scheduler.choices, MyNotices(site, settings))


def _utc(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


MOST_LISTED = 10_000
LAST_MOMENT = datetime.datetime(9999, 1, 1, tzinfo=datetime.UTC).timestamp()


def reminders_upcoming(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    if not 1 <= args.limit <= MOST_LISTED:
        raise ExtError(f"--limit is a number from 1 to {MOST_LISTED}, not {names.shown(args.limit)}")
    if args.now is not None and not 0 <= args.now < LAST_MOMENT:   # also refuses nan
        raise ExtError(f"--now is a time in Unix seconds between 1970 and 9999, not {names.shown(args.now)}")
    scheduler = _scheduler(args, site)
    zone = Preferences(site.db).contact(user).timezone

    def row(u: Upcoming) -> dict:
        return {"calendar": u.view, "item": u.item, "uid": u.uid, "summary": u.summary, "occurrence": u.occurrence,
                "alarm": u.alarm, "fire_at": _utc(u.fire_at), "fire_at_unix": u.fire_at,
                "starts": event_time(u.start_text, u.start_tzid, zone)}

    rows = [row(u) for u in scheduler.upcoming(user, time.time() if args.now is None else args.now, args.limit)]
    out(args, rows, lambda r: f"{r['fire_at']}  {r['summary'] or '(untitled)'} on {r['starts']}  ({r['calendar']})")


def reminders_mute(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    mine = _mine(args, site, _scheduler(args, site))
    collection = args.collection or ALL
    if args.action == "mute":
        mine.mute(user, collection, actor=args.acting_as)
    elif not mine.unmute(user, collection, actor=args.acting_as):
        raise ExtError(f"{user} had not muted reminders for {args.collection or 'all calendars'}")
    print(f"{user}: reminders {'muted' if args.action == 'mute' else 'on again'} for "
          f"{args.collection or 'all calendars'}")


def reminders_own(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    _mine(args, site, _scheduler(args, site)).own(user, args.setting == "on", actor=args.acting_as)
    print(f"{user}: reminders of their own calendars {args.setting}")


def reminders_default(args: argparse.Namespace, site: Site) -> None:
    mine = _mine(args, site, _scheduler(args, site))
    if args.clear == (args.before is not None):
        raise ExtError("say how long before each event (e.g. 1h), or --clear")
    before = None if args.clear else parse_before(args.before)
    mine.set_default(args.collection, before, actor=args.acting_as)
    print(f"{args.collection}: " + ("no default reminder" if before is None else
                                     f"a reminder {args.before.strip()} before every event"))


def register(commands: Commands) -> None:
    group = commands.group("reminders", "reminders of events in shared calendars (docs/reminders.md)")

    def person(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--user", help="for whom (the admin); people use --as themselves")
        return parser

    p = person(group.command("upcoming", "the next reminders a person will get", reminders_upcoming))
    p.add_argument("--limit", type=int, default=10, help="how many (default: %(default)s)")
    p.add_argument("--now", type=float, default=None, help=argparse.SUPPRESS)   # tests: Unix seconds
    for action, text in (("mute", "no reminders of a calendar (or of all)"),
                         ("unmute", "reminders of a calendar (or of all) again")):
        p = person(group.command(action, text, reminders_mute))
        p.add_argument("collection", nargs="?", help="OWNER/CALENDAR (default: all calendars)")
    p = person(group.command("own", "reminders of one's own calendars too (on), or not (off, the default)",
                             reminders_own))
    p.add_argument("setting", choices=("on", "off"))
    p = group.command("default", "a calendar's default reminder for every event (its owner)", reminders_default)
    p.add_argument("collection", help="OWNER/CALENDAR")
    p.add_argument("before", nargs="?", help="how long before each event: 30m, 1h, 2d")
    p.add_argument("--clear", action="store_true", help="no default reminder")
