"""radicale-ext invite and invitation ...: invitations, as the owner and as the person invited."""

from __future__ import annotations

import argparse

from ..base import names
from ..base.errors import ExtError, Forbidden, NotFound
from ..base.model import ShareBasis
from ..site import Site
from ._common import Commands, out
from .shares import _grantee, _role


def acting_person(args: argparse.Namespace, site: Site) -> str:
    """Who the command is for: the user of ``--as``, or (for the admin) ``--user``."""
    user = args.user
    if args.acting_as is not None:
        if user is not None and user != args.acting_as:
            raise Forbidden(f"{args.acting_as!r} may act only for themselves, not for {user!r}")
        return args.acting_as
    return person_named(args, site)


def person_named(args: argparse.Namespace, site: Site) -> str:
    """Whom the command is about: ``--user``, else the user of ``--as``.  Whether the one acting may act
    for them is the core operation's rule (:mod:`radicale_ext.sharing.acting`), checked there."""
    user = args.user or args.acting_as
    if user is None:
        raise ExtError("say for whom: --as USER (or, as the admin, --user USER)")
    names.user_name(user)
    if not site.user_exists(user):
        raise NotFound(f"no user named {user!r}")
    return user


def invite(args: argparse.Namespace, site: Site) -> None:
    share = site.shares.add(args.collection, _grantee(args), _role(args.role), actor=args.acting_as,
                            basis=ShareBasis.INVITATION, summary=args.summary or "")
    print(f"{share.grantee} invited to {share.collection} as {share.role.value}; "
          f"see who answered with 'radicale-ext invitation status {share.collection.strip('/')}'")


def invitation_list(args: argparse.Namespace, site: Site) -> None:
    """The invitations a person has, and their answers."""
    user = person_named(args, site)
    rows = [{"collection": i.share.collection, "owner": i.share.owner, "role": i.share.role.value,
             "state": i.state.value, "via": "direct" if i.share.grantee.name == user else str(i.share.grantee),
             "summary": i.share.summary, "id": i.id,
             "path": f"/{user}/{site.shares.placed_mount(user, i.share.mount)}/"}
            for i in site.invitations.incoming(user, actor=args.acting_as)]
    out(args, rows, lambda r: f"{r['collection']} from {r['owner']}: {r['state']} ({r['role']}, via {r['via']})"
                              + (f": {r['summary']}" if r["summary"] else ""))


def invitation_status(args: argparse.Namespace, site: Site) -> None:
    """Each person a collection is shared with, and where they stand."""
    _owner, collection = names.collection_path(args.collection)
    if site.collection_tag(collection) is None and not site.shares.shares_of(collection):
        raise NotFound(f"no calendar or address book at {collection!r}")
    rows = [{"user": p.user, "role": p.role.value, "state": p.standing.value, "via": list(p.via)}
            for p in site.invitations.people(collection, actor=args.acting_as)]
    out(args, rows, lambda r: f"{r['user']}: {r['state']} ({r['role']}) via {', '.join(r['via'])}")


def invitation_accept(args: argparse.Namespace, site: Site) -> None:
    user = person_named(args, site)
    grant = site.invitations.accept(user, names.collection_path(args.collection)[1], actor=args.acting_as)
    print(f"{grant.collection} accepted; it is in {user}'s home as {grant.mount_path(user)} ({grant.role.value})")


def invitation_decline(args: argparse.Namespace, site: Site) -> None:
    user = person_named(args, site)
    collection = names.collection_path(args.collection)[1]
    site.invitations.decline(user, collection, actor=args.acting_as)
    print(f"{collection} declined; its owner sees 'declined'")


def invitation_remove(args: argparse.Namespace, site: Site) -> None:
    user = person_named(args, site)
    collection = names.collection_path(args.collection)[1]
    site.invitations.remove_from_home(user, collection, actor=args.acting_as)
    print(f"{collection} removed from {user}'s home (the owner's data is unchanged); "
          f"'radicale-ext invitation accept {collection.strip('/')}' brings it back")


def register(commands: Commands) -> None:
    inv = commands.command("invite", "invite a user or a circle to a collection (each person accepts or declines)",
                           invite)
    inv.add_argument("collection", help="OWNER/COLLECTION, e.g. alice/family")
    who = inv.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="invite this user")
    who.add_argument("--circle", help="invite every member of this circle (new members too)")
    inv.add_argument("--role", required=True, help="subscriber (read-only) or collaborator (read-write)")
    inv.add_argument("--summary", help="a few words for the invitation")

    invitations = commands.group("invitation", "answer invitations, and see who answered")
    listing = invitations.command("list", "a person's invitations and their answers", invitation_list)
    listing.add_argument("--user", help="whose (the admin; a user uses --as)")
    invitations.command("status", "each person a collection is shared with and their answer (owner or admin)",
                        invitation_status).add_argument("collection", help="OWNER/COLLECTION")
    for name, fn, text in (("accept", invitation_accept, "accept: the collection appears in your home"),
                           ("decline", invitation_decline, "decline: it does not; the owner sees 'declined'"),
                           ("remove", invitation_remove, "remove an accepted collection from your home")):
        c = invitations.command(name, text, fn)
        c.add_argument("collection", help="OWNER/COLLECTION")
        c.add_argument("--user", help="for whom (the admin; a user uses --as)")
