"""radicale-ext link ...: share links (URL and QR code) that read without an account."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from ..base import ini
from ..base.errors import ExtError, Forbidden
from ..links import qr
from ..links.share_links import ADMIN, Link, LinkState, LinkView, NewLink, parse_expiry
from ..site import Site
from ._common import Commands, out

DEFAULT_BASE_URL = "http://127.0.0.1:5232"


def base_url(args: argparse.Namespace) -> str:
    """``--base-url``, else ``[sharing] links_base_url`` of the config, else the server's first address."""
    if args.base_url:
        url = args.base_url
    else:
        parser = ini.read(args.config)
        url = parser.get("sharing", "links_base_url", fallback="").strip()
        if not url:
            hosts = parser.get("server", "hosts", fallback="").split(",")[0].strip()
            url = f"http://{hosts}" if hosts and not hosts.startswith(("0.0.0.0:", "[::]:")) else DEFAULT_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise ExtError(f"the base URL {url!r} must start with http:// or https://")
    return url.rstrip("/")


def _when(timestamp: float | None, never: str = "never") -> str:
    if timestamp is None:
        return never
    return dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat().replace("+00:00", "Z")


def _row(link: Link, now: float) -> dict:
    return {"id": link.id, "label": link.label, "target": str(link.target), "kind": link.target.kind.value,
            "view": link.view.value, "audience": link.audience, "created": _iso(link.created_at),
            "created_by": link.created_by,
            "expires": _iso(link.expires_at), "last_used": _iso(link.last_used_at), "uses": link.use_count,
            "state": link.state(now).value}


def _describe(link: Link) -> str:
    what = link.target.kind.value + (", free/busy only" if link.view is LinkView.FREE_BUSY else "")
    if link.audience:
        what += f", as {link.audience} sees it"
    return f"{link.target} ({what})"


def link_create(args: argparse.Namespace, site: Site) -> None:
    links = site.links
    links.require_may_create(args.collection, args.acting_as)   # before saying whether it exists
    target = links.target(args.collection, event=args.event, card=args.card)
    expires_at = parse_expiry(args.expires, links.clock()) if args.expires else None
    url = base_url(args)  # checked before anything is stored
    for destination in args.qr or ():
        qr.kind_of(destination)
    if args.audience and (target.item is None or args.card is None):
        raise ExtError("--audience is for a card link: add --card with your me card")
    # what the link may show of a me card is the cards feature's to say (docs/cards.md)
    audience = site.cards.link_audience(target.owner, target.collection, target.item if args.card else None,
                                        args.audience, actor=args.acting_as)
    new = links.create(target, view=LinkView.FREE_BUSY if args.free_busy else LinkView.FULL, label=args.label,
                       expires_at=expires_at, actor=args.acting_as, audience=audience)
    _print_new(args, new, url)
    note = site.cards.left_out_of_links(target.owner, target.collection) if target.item is None else None
    if note:
        print(f"note: {note}", file=sys.stderr)


def _print_new(args: argparse.Namespace, new: NewLink, base: str) -> None:
    link = new.link
    address = new.url(base)
    feed = new.webcal_url(base)
    qr_text = feed if (args.qr_webcal and feed) else address
    notes = [qr.write(qr_text, destination) for destination in args.qr or ()]
    if args.json:
        row = _row(link, link.created_at) | {"url": address, "webcal": feed, "qr": list(args.qr or ())}
        out(args, [row], str)
        return
    label = f" \"{link.label}\"" if link.label else ""
    print(f"link {link.id}{label}: {_describe(link)}, expires {_when(link.expires_at)}")
    print(address)
    if feed:
        print(feed)
    for note in notes:
        print(note)
    print("Keep this address: it is shown only now (the server stores only a hash of it).")


def link_list(args: argparse.Namespace, site: Site) -> None:
    """Links with their label, target, dates, use count and state."""
    links = site.links
    if args.collection:
        found = links.links_of(args.collection, actor=args.acting_as)
    elif args.acting_as:
        found = links.links_by(args.acting_as)
    else:
        found = links.every_link()
    now = links.clock()
    rows = [_row(link, now) for link in found]
    by_id = {link.id: link for link in found}

    def line(r: dict) -> str:
        link = by_id[r["id"]]
        label = f" \"{link.label}\"" if link.label else ""
        used = f"last used {_when(link.last_used_at)} ({link.use_count} uses)" if link.use_count else "never used"
        return (f"{link.id}{label}: {_describe(link)}; created {_when(link.created_at)} by {link.created_by}; "
                f"expires {_when(link.expires_at)}; {used}; {r['state']}")
    out(args, rows, line)


def link_revoke(args: argparse.Namespace, site: Site) -> None:
    for link_id in args.ids:  # every id exists and may be revoked, or nothing is revoked
        link = site.links.get(link_id)
        if not site.links.may_manage(link, args.acting_as):
            raise Forbidden(f"only {link.target.owner!r} (the owner) or the link's maker may revoke link {link.id}")
    for link_id in args.ids:
        link = site.links.revoke(link_id, actor=args.acting_as)
        print(f"link {link.id} to {link.target} is revoked; its address now answers 404")


def link_allow_collaborators(args: argparse.Namespace, site: Site) -> None:
    allowed = args.setting == "on"
    site.links.allow_collaborators(args.collection, allowed, actor=args.acting_as)
    if allowed:
        print(f"collaborators of {args.collection} may now create links to it")
        return
    print(f"collaborators of {args.collection} may no longer create links to it")
    now = site.links.clock()
    theirs = [link for link in site.links.links_of(args.collection)
              if link.created_by not in (link.target.owner, ADMIN) and link.state(now) is LinkState.ACTIVE]
    if theirs:
        print(f"{len(theirs)} link(s) they made still work: {' '.join(link.id for link in theirs)}; "
              "revoke them with 'radicale-ext link revoke ID'")


def register(commands: Commands) -> None:
    group = commands.group("link", "share links (URL and QR code) that read a calendar, event, "
                                   "address book or card without an account")
    create = group.command("create", "create a link and print its address", link_create)
    create.add_argument("collection", help="OWNER/COLLECTION, e.g. alice/family")
    which = create.add_mutually_exclusive_group()
    which.add_argument("--event", metavar="UID_OR_FILE", help="link one event of the calendar (its UID or file name)")
    which.add_argument("--card", metavar="UID_OR_FILE", help="link one card of the address book (its UID or file name)")
    create.add_argument("--audience", help="card links to your me card: show it as this audience sees it "
                                           "(a circle, or user:NAME; see 'radicale-ext card show')")
    create.add_argument("--free-busy", action="store_true",
                        help="calendars: show only when events are, not what, where or with whom")
    create.add_argument("--expires", metavar="WHEN",
                        help="30d, 12h, 2w, a date (2026-12-31: the end of that day) or a date and time")
    create.add_argument("--label", default="", help="a note for the owner's list, e.g. \"Grandma's tablet\"")
    create.add_argument("--base-url", help="the server's public address for the printed link "
                                           f"(default: [sharing] links_base_url, else {DEFAULT_BASE_URL})")
    create.add_argument("--qr", action="append", metavar="FILE",
                        help="write the QR code to FILE.svg or FILE.png, or - for the terminal (repeatable)")
    create.add_argument("--qr-webcal", action="store_true",
                        help="calendars: the QR code holds the webcal:// address (subscribe) instead of http(s)")
    listing = group.command("list", "links of a collection, or all the links you own or made", link_list)
    listing.add_argument("collection", nargs="?", help="OWNER/COLLECTION (default: every link you may see)")
    revoke = group.command("revoke", "revoke links: their addresses answer 404 from now on", link_revoke)
    revoke.add_argument("ids", nargs="+", metavar="ID", help="link ids, as 'link list' shows them")
    allow = group.command("allow-collaborators", "let collaborators create links to a collection (or not)",
                          link_allow_collaborators)
    allow.add_argument("collection", help="OWNER/COLLECTION")
    allow.add_argument("setting", choices=("on", "off"))

