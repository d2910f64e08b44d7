"""radicale-ext notices ...: how a person hears about changes; the delivery queue for the admin."""

from __future__ import annotations

import argparse
import datetime
import time

from ..base import names
from ..base.errors import ExtError, Forbidden
from ..notices.delivery import Delivery, DeliveryQueue, State
from ..notices.language import DEFAULT, LANGUAGES
from ..notices.my_notices import MyNotices
from ..notices.preferences import ALL, CHOOSABLE, MUTE, Channel, Timing
from ..notices.service import Notices, set_aside_book
from ..notices.set_aside import SetAside, SetAsideWork, parse_name
from ..notices.settings import NoticeSettings, from_ini
from ..reminders.scheduler import put_back_set_aside
from ..site import Site
from ._common import Commands, out
from .invitations import acting_person

OWN_ZONE = "each event's own zone"


def _settings(args: argparse.Namespace, site: Site) -> NoticeSettings:
    return from_ini(args.config, database_path=site.settings.database_path)


def _collection(args: argparse.Namespace) -> str:
    return names.collection_path(args.collection)[1] if args.collection else ALL


def _mine(args: argparse.Namespace, site: Site) -> MyNotices:
    """A person's notice settings: the core checks who acts (``--as``: only themselves; the admin: anyone)."""
    return MyNotices(site, _settings(args, site))


def _channel(text: str) -> Channel:
    try:
        channel = Channel(text.strip().lower())
    except ValueError:
        channel = None
    if channel not in CHOOSABLE:
        raise ExtError(f"unknown channel {text!r}: use {', '.join(c.value for c in CHOOSABLE)} "
                       "(the notification collection is always on; 'notices mute' turns everything off)")
    return channel


def _timing(text: str) -> Timing:
    try:
        return Timing(text.strip().lower())
    except ValueError:
        raise ExtError(f"unknown timing {text!r}: use {', '.join(t.value for t in Timing)}") from None


def _admin(args: argparse.Namespace, what: str) -> None:
    if args.acting_as is not None:
        raise Forbidden(f"only the admin may {what}; run it without --as")


def _when(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- a person's choices ----------------------------------------------------------------------

def notices_show(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    mine = _mine(args, site)
    contact = mine.contact(user, actor=args.acting_as)
    row = {"user": user, "email": contact.email_address, "timezone": contact.timezone,
           "language": contact.language, "webhook": contact.webhook_url,
           "choices": [{"collection": c or "all", "channel": ch, "timing": t}
                       for c, ch, t in mine.rows(user, actor=args.acting_as)],
           "push_devices": [{"collection": d.collection, "id": d.id, "service": d.service, "endpoint": d.endpoint,
                             "expires": _when(d.expires_at)} for d in mine.devices(user, actor=args.acting_as)]}

    def text(r: dict) -> str:
        lines = [f"{r['user']}: e-mail {r['email'] or '(none)'}, time zone {r['timezone'] or OWN_ZONE}, "
                 f"language {r['language']}, webhook {r['webhook'] or '(none)'}"]
        lines += [f"  {c['collection']}: {_choice_text(c)}" for c in r["choices"]]
        lines += [f"  push: {d['collection']} via {d['service']} until {d['expires']} (device {d['id']})"
                  for d in r["push_devices"]]
        if not r["choices"]:
            lines.append("  defaults: notification collection, e-mail immediately, push and webhook immediately")
        return "\n".join(lines)
    out(args, [row], text)


def _choice_text(choice: dict) -> str:
    if choice["channel"] != MUTE:
        return f"{choice['channel']} {choice['timing']}"
    if choice["timing"] == Timing.OFF.value:
        return "muted"
    return "heard (though everything else is muted)"  # 'unmute', or CS:notify-changes true, with all muted


def notices_set(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    channel, timing, collection = _channel(args.channel), _timing(args.timing), _collection(args)
    _mine(args, site).choose(user, channel, timing, collection, actor=args.acting_as)
    print(f"{user}: {channel.value} {timing.value} for {collection or 'every collection'}")


def notices_reset(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    collection = _collection(args)
    if not _mine(args, site).reset(user, _channel(args.channel), collection, actor=args.acting_as):
        raise ExtError(f"{user} made no {args.channel} choice for {collection or 'every collection'}")
    print(f"{user}: {args.channel} for {collection or 'every collection'} is back to the default")


def notices_mute(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    collection = _collection(args)
    _mine(args, site).mute(user, collection, actor=args.acting_as)
    print(f"{user} hears nothing about {collection or 'any collection'} (not even in the notification collection)")


def notices_unmute(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    collection = _collection(args)
    if not _mine(args, site).unmute(user, collection, actor=args.acting_as):
        raise ExtError(f"{user} had not muted {collection or 'every collection'}")
    print(f"{user} hears about {collection or 'their collections'} again")


def notices_email(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    if not args.clear and not args.address:
        raise ExtError("give an ADDRESS, or --clear")
    _mine(args, site).set_email(user, None if args.clear else args.address, actor=args.acting_as)
    print(f"{user}: e-mail {'cleared' if args.clear else 'to ' + args.address}")


def notices_timezone(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    if not args.clear and not args.zone:
        raise ExtError("give a ZONE (e.g. Europe/Berlin), or --clear")
    _mine(args, site).set_timezone(user, None if args.clear else args.zone, actor=args.acting_as)
    print(f"{user}: times in {OWN_ZONE if args.clear else args.zone}")


def notices_language(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    if not args.clear and not args.language:
        raise ExtError(f"give a LANGUAGE ({', '.join(LANGUAGES)}), or --clear")
    _mine(args, site).set_language(user, None if args.clear else args.language, actor=args.acting_as)
    print(f"{user}: notices in {DEFAULT + ' (the default)' if args.clear else args.language}")


def notices_webhook(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    if not args.remove and not args.url:
        raise ExtError("give a URL, or --remove")
    secret = _mine(args, site).set_webhook(user, None if args.remove else args.url, actor=args.acting_as)
    if secret is None:
        print(f"{user}: webhook removed")
    else:
        print(f"{user}: webhook {args.url}\nsigning secret (shown once; keep it with the receiver): {secret}")


def notices_device_remove(args: argparse.Namespace, site: Site) -> None:
    user = acting_person(args, site)
    _mine(args, site).revoke_device(user, args.device, actor=args.acting_as)
    print(f"{user}: no more pushes to device {args.device}")


# -- the admin's view of the queue ----------------------------------------------------------------

def _delivery_row(d: Delivery) -> dict:
    return {"id": d.id, "notice": d.notice_id, "recipient": d.recipient, "channel": d.channel,
            "state": d.state.value, "attempts": d.attempts, "error": d.last_error, "queued": _when(d.created_at)}


def _set_aside(site: Site) -> SetAside:
    """Set-aside work, with how notices and reminders put theirs back."""
    book = set_aside_book(site.db)
    put_back_set_aside(book)
    return book


def _set_aside_row(work: SetAsideWork) -> dict:
    return {"id": work.name, "stage": work.stage, "about": work.about, "error": work.error,
            "set_aside": _when(work.at)}


def notices_dead(args: argparse.Namespace, site: Site) -> None:
    _admin(args, "see dead deliveries")
    rows = [{**_delivery_row(d), "stage": "delivery"}
            for d in DeliveryQueue(site.db).in_state(State.DEAD, recipient=args.user)]
    if args.user is None:
        rows += [_set_aside_row(w) for w in _set_aside(site).all()]
    if not rows and not args.json:
        print("no dead deliveries, no work set aside")

    def text(r: dict) -> str:
        if r["stage"] == "delivery":
            return (f"#{r['id']} {r['channel']} to {r['recipient']} (notice {r['notice']}, {r['attempts']} attempts): "
                    f"{r['error']}")
        return (f"{r['id']} {r['stage']} of {r['about']}, set aside {r['set_aside']}: {r['error']} "
                f"(retry: radicale-ext notices retry {r['id']})")
    out(args, rows, text)


def _retry_ids(texts: list[str]) -> tuple[list[int], list[int]]:
    """Delivery ids ("12") and set-aside ids ("S3"), as 'notices dead' shows them."""
    deliveries, set_aside = [], []
    for text in texts:
        work = parse_name(text)
        if work is not None:
            set_aside.append(work)
        elif text.strip().isdigit() and len(text.strip()) <= 18:
            deliveries.append(int(text))
        else:
            raise ExtError(f"{names.shown(text)} is not an id from 'radicale-ext notices dead' "
                           "(a delivery's number, or S and a number for work set aside)")
    return deliveries, set_aside


def notices_retry(args: argparse.Namespace, site: Site) -> None:
    _admin(args, "retry deliveries")
    if not args.all and not args.ids:
        raise ExtError("name the deliveries to retry (IDs from 'radicale-ext notices dead'), or --all")
    deliveries, set_aside = _retry_ids(args.ids)
    done = 0
    if args.all or deliveries:
        done = DeliveryQueue(site.db).retry(None if args.all else deliveries, time.time())
    put_back, left = (0, [])
    if args.all or set_aside:
        put_back, left = _set_aside(site).retry(None if args.all else set_aside)
    if not done and not put_back:
        raise ExtError("no dead delivery or set-aside work with " + ("any id" if args.all else "those ids")
                       + "; nothing to retry")
    if done:
        print(f"{done} deliver{'y' if done == 1 else 'ies'} queued again")
    if put_back:
        print(f"{put_back} set-aside task{'' if put_back == 1 else 's'} queued again")
    for work in left:
        print(f"{work.name} stays set aside: nothing here retries {work.stage} work")


def notices_queue(args: argparse.Namespace, site: Site) -> None:
    _admin(args, "see the delivery queue")
    rows = [{"channel": c, "state": s, "count": n} for (c, s), n in DeliveryQueue(site.db).counts().items()]
    if not rows and not args.json:
        print("no deliveries")
    out(args, rows, lambda r: f"{r['channel']:8} {r['state']:10} {r['count']}")


def notices_vapid_key(args: argparse.Namespace, site: Site) -> None:
    _admin(args, "rotate the VAPID key" if args.rotate else "read the VAPID key")
    settings = _settings(args, site)
    if not settings.enabled:
        raise ExtError("notices are off in this configuration: set [hook] type = radicale_ext.plugins.hook")
    notices = Notices(site, settings)
    if not args.rotate:
        print(f"{notices.vapid().public_key}\n(kept in the sharing database, for every server and worker; "
              "back it up with it: devices subscribe for this key)")
        return
    key, devices = notices.rotate_vapid_key(time.time())
    print(f"{key.public_key}\n(the new key; told {devices} device{'' if devices == 1 else 's'} with the old one, "
          "which keeps signing their pushes until they subscribe again)")


def register(commands: Commands) -> None:
    group = commands.group("notices", "how people hear about changes; the delivery queue")

    def person(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--user", help="for whom (the admin); people use --as themselves")
        return parser

    person(group.command("show", "a person's choices, addresses and push devices", notices_show))
    s = person(group.command("set", "choose how to hear through a channel", notices_set))
    s.add_argument("channel", metavar="CHANNEL", help="email, push or webhook")
    s.add_argument("timing", metavar="WHEN", help="off, immediately, hourly or daily (push: off or immediately)")
    s.add_argument("--collection", metavar="OWNER/COLLECTION", help="only for this collection (default: all)")
    r = person(group.command("reset", "forget a choice (back to the one for all, or the default)", notices_reset))
    r.add_argument("channel", metavar="CHANNEL")
    r.add_argument("--collection", metavar="OWNER/COLLECTION")
    for name, text, run in (("mute", "hear nothing (not even the notification collection)", notices_mute),
                            ("unmute", "hear again", notices_unmute)):
        m = person(group.command(name, text, run))
        m.add_argument("collection", nargs="?", metavar="OWNER/COLLECTION", help="default: every collection")
    e = person(group.command("email", "where e-mail goes (default: the user name, if it is an address)",
                             notices_email))
    e.add_argument("address", nargs="?", metavar="ADDRESS")
    e.add_argument("--clear", action="store_true")
    z = person(group.command("timezone", "the time zone for times in notices", notices_timezone))
    z.add_argument("zone", nargs="?", metavar="ZONE")
    z.add_argument("--clear", action="store_true")
    la = person(group.command("language", "the language of notices: en or zh_Hans (the web page's switch "
                                          "sets it too)", notices_language))
    la.add_argument("language", nargs="?", metavar="LANGUAGE", help=", ".join(LANGUAGES))
    la.add_argument("--clear", action="store_true", help="back to the default, English")
    w = person(group.command("webhook", "a URL that gets each notice as signed JSON", notices_webhook))
    w.add_argument("url", nargs="?", metavar="URL")
    w.add_argument("--remove", action="store_true")
    dr = person(group.command("device-remove", "stop pushing to one of a person's WebDAV-Push devices",
                              notices_device_remove))
    dr.add_argument("device", metavar="DEVICE", help="its id, as 'notices show' lists it")
    d = group.command("dead", "deliveries that failed for good, and work set aside (the admin)", notices_dead)
    d.add_argument("--user", help="only this recipient's")
    rt = group.command("retry", "queue dead deliveries and set-aside work again (the admin)", notices_retry)
    rt.add_argument("ids", nargs="*", metavar="ID", help="as 'notices dead' shows them: 12, S3")
    rt.add_argument("--all", action="store_true", help="every dead delivery and all work set aside")
    group.command("queue", "deliveries per channel and state (the admin)", notices_queue)
    v = group.command("vapid-key", "the server's VAPID public key (the admin; made on first use)", notices_vapid_key)
    v.add_argument("--rotate", action="store_true",
                   help="make a new key, and tell every subscribed device to subscribe again (WebDAV-Push)")
