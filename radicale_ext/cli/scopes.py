"""radicale-ext scope ..., subscribable, subscribe, unsubscribe: subscription scopes."""

from __future__ import annotations

import argparse

from ..base import names
from ..base.model import Grantee, GranteeKind
from ..site import Site
from ._common import Commands, out
from .invitations import person_named


def _member(args: argparse.Namespace) -> Grantee:
    if args.user:
        return Grantee(GranteeKind.USER, names.user_name(args.user))
    return Grantee(GranteeKind.CIRCLE, names.circle_name(args.circle))


def scope_add(args: argparse.Namespace, site: Site) -> None:
    member = _member(args)
    site.scopes.add(args.collection, member, actor=args.acting_as)
    print(f"{member} may now subscribe to {args.collection.strip('/')}")


def scope_remove(args: argparse.Namespace, site: Site) -> None:
    member = _member(args)
    site.scopes.remove(args.collection, member, actor=args.acting_as)
    print(f"{member} may no longer subscribe to {args.collection.strip('/')}; "
          "their subscriptions stop on their next request")


def scope_list(args: argparse.Namespace, site: Site) -> None:
    out(args, [{"member": str(m), "kind": m.kind.value, "name": m.name}
               for m in site.scopes.members(args.collection, actor=args.acting_as)], lambda r: r["member"])


def subscribable(args: argparse.Namespace, site: Site) -> None:
    user = person_named(args, site)
    rows = [{"collection": s.collection, "owner": s.owner, "name": s.name, "subscribed": s.path is not None,
             "path": s.path} for s in site.scopes.subscribable(user, actor=args.acting_as)]
    out(args, rows, lambda r: f"{r['collection']} \"{r['name']}\" from {r['owner']}"
                              + (f": in your home at {r['path']}" if r["path"] else ""))


def subscribe(args: argparse.Namespace, site: Site) -> None:
    user = person_named(args, site)
    grant = site.scopes.subscribe(user, args.collection, actor=args.acting_as)
    print(f"{user} subscribed to {grant.collection}; it is in their home as {grant.mount_path(user)} (read-only)")


def unsubscribe(args: argparse.Namespace, site: Site) -> None:
    user = person_named(args, site)
    site.scopes.unsubscribe(user, args.collection, actor=args.acting_as)
    print(f"{user} no longer subscribes to {args.collection.strip('/')}")


def register(commands: Commands) -> None:
    scopes = commands.group("scope", "who may subscribe to a collection without asking its owner")
    for name, fn, text in (("add", scope_add, "let a user or a circle subscribe"),
                           ("remove", scope_remove, "no longer let them subscribe (their subscriptions stop)")):
        c = scopes.command(name, text, fn)
        c.add_argument("collection", help="OWNER/COLLECTION, e.g. school/calendar")
        who = c.add_mutually_exclusive_group(required=True)
        who.add_argument("--user")
        who.add_argument("--circle")
    scopes.command("list", "the users and circles who may subscribe", scope_list).add_argument(
        "collection", help="OWNER/COLLECTION")
    c = commands.command("subscribable", "the collections a person may subscribe to", subscribable)
    c.add_argument("--user", help="whose (the admin; a user uses --as)")
    for name, fn, text in (("subscribe", subscribe, "subscribe (read-only) to a collection open to you"),
                           ("unsubscribe", unsubscribe, "end your subscription")):
        c = commands.command(name, text, fn)
        c.add_argument("collection", help="OWNER/COLLECTION")
        c.add_argument("--user", help="for whom (the admin; a user uses --as)")
