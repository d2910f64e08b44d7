"""radicale-ext share ... and shared-with: who may read or write a collection."""

from __future__ import annotations

import argparse
import sys

from ..base import names
from ..base.errors import ExtError, NotFound
from ..base.model import Grantee, GranteeKind, Role, ShareBasis
from ..site import Site
from ._common import Commands, out


def _grantee(args: argparse.Namespace) -> Grantee:
    if args.user:
        return Grantee(GranteeKind.USER, names.user_name(args.user))
    return Grantee(GranteeKind.CIRCLE, names.circle_name(args.circle))


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as e:
        raise ExtError(str(e)) from None


def _basis(args: argparse.Namespace) -> ShareBasis | None:
    """--invite / --at-once; neither: at once for the admin, an invitation for an owner."""
    if getattr(args, "invite", False):
        return ShareBasis.INVITATION
    if getattr(args, "at_once", False):
        return ShareBasis.AT_ONCE
    return None


def people_of(site: Site, grantee: Grantee) -> list[str]:
    return sorted(site.invitations.reached_by(grantee))


def share_add(args: argparse.Namespace, site: Site) -> None:
    share = site.shares.add(args.collection, _grantee(args), _role(args.role), actor=args.acting_as,
                            basis=_basis(args), summary=args.summary or "")
    warning = site.cards.share_warning(share.collection, people_of(site, share.grantee), site.circles.circles_of)
    if warning:
        print(warning, file=sys.stderr)
    person = share.grantee.name if share.grantee.kind is GranteeKind.USER else None
    where = f"/{person}/{share.mount}/" if person else f"/{{user}}/{share.mount}/"
    if share.basis is ShareBasis.INVITATION:
        home = f"{person}'s home once they accept" if person else "the homes of those who accept"
        print(f"{share.collection} shared with {share.grantee} as {share.role.value}, by invitation; "
              f"it appears as {where} in {home} ('radicale-ext invitation status {share.collection.strip('/')}')")
        return
    home = f"{person}'s home" if person else "the homes of the circle's members"
    print(f"{share.collection} shared with {share.grantee} as {share.role.value}; it appears as {where} in {home}")


def share_role(args: argparse.Namespace, site: Site) -> None:
    share = site.invitations.change_role(args.collection, _grantee(args), _role(args.role), actor=args.acting_as)
    print(f"{share.grantee} is now {share.role.value} of {share.collection}")


def share_remove(args: argparse.Namespace, site: Site) -> None:
    site.invitations.withdraw(args.collection, _grantee(args), actor=args.acting_as)
    print(f"{args.collection} is no longer shared with {_grantee(args)}")


def share_list(args: argparse.Namespace, site: Site) -> None:
    """Subscribers and collaborators of a collection, direct and through circles."""
    shares = site.shares.listed(args.collection, actor=args.acting_as)
    _owner, collection = names.collection_path(args.collection)
    if site.collection_tag(collection) is None and not shares:
        raise NotFound(f"no calendar or address book at {collection!r}")
    people: dict[str, dict] = {}
    for share in shares:
        if share.grantee.kind is GranteeKind.USER:
            members = [share.grantee.name]
            via = "direct"
        else:
            members = sorted(site.circles.get(share.grantee.name).members) \
                if site.circles.exists(share.grantee.name) else []
            via = f"circle:{share.grantee.name}"
        for member in members:
            if member == share.owner:
                continue
            entry = people.setdefault(member, {"user": member, "role": share.role.value, "via": []})
            if Role(entry["role"]).rank < share.role.rank:
                entry["role"] = share.role.value
            entry["via"].append(f"{via} ({share.role.value})")
    rows = [people[u] for u in sorted(people)]
    out(args, rows, lambda r: f"{r['user']}: {r['role']} via {', '.join(r['via'])}")


def shared_with(args: argparse.Namespace, site: Site) -> None:
    """Everything shared with a user."""
    user = names.user_name(args.user)
    if not site.user_exists(user):
        raise NotFound(f"no user named {user!r}")
    grants = site.invitations.shared_with(user, actor=args.acting_as)
    rows = [{"collection": g.collection, "owner": g.owner, "role": g.role.value, "via": list(g.via),
             "path": g.mount_path(user)} for g in grants]
    out(args, rows, lambda r: f"{r['collection']} ({r['role']}, via {', '.join(r['via'])}) at {r['path']}")


def add_terms(parser: argparse.ArgumentParser) -> None:
    """How a new share takes effect (docs/sharing.md)."""
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--invite", action="store_true",
                     help="each person accepts or declines (the default when an owner shares, with --as)")
    how.add_argument("--at-once", action="store_true",
                     help="in their homes at once (the default for the admin; an owner only with a circle "
                          "of the admin's groups file)")
    parser.add_argument("--summary", help="a few words for the invitation (shown by Apple clients)")


def register(commands: Commands) -> None:
    shares = commands.group("share", "share calendars and address books")
    for name, fn, text in (("add", share_add, "share a collection"),
                           ("role", share_role, "change the role of a share"),
                           ("remove", share_remove, "stop sharing with a user or circle")):
        sh = shares.command(name, text, fn)
        sh.add_argument("collection", help="OWNER/COLLECTION, e.g. alice/family")
        who = sh.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", help="share with this user")
        who.add_argument("--circle", help="share with every member of this circle")
        if name != "remove":
            sh.add_argument("--role", required=True, help="subscriber (read-only) or collaborator (read-write)")
        if name == "add":
            add_terms(sh)
    shares.command("list", "subscribers and collaborators of a collection", share_list).add_argument(
        "collection", help="OWNER/COLLECTION")
    commands.command("shared-with", "everything shared with a user", shared_with).add_argument("user")
