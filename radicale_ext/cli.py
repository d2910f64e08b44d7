"""radicale-ext: the command line for admins, owners and circle managers.

Every subcommand has ``--help``.  Errors print one line to stderr and exit
with status 1 (2 for a command line that does not parse); nothing is changed
when a command fails.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence

from . import names
from .errors import Conflict, ExtError, NotFound
from .model import Circle, Grantee, GranteeKind, Role
from .site import Settings, Site
from .users import UserFile

DEFAULT_CONFIG = os.environ.get("RADICALE_EXT_CONFIG", "config/radicale.ini")

Handler = Callable[[argparse.Namespace, Site], None]


def _site(args: argparse.Namespace) -> Site:
    return Site(Settings.from_ini(args.config))


def _out(args: argparse.Namespace, rows: list[dict], text: Callable[[dict], str]) -> None:
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
    else:
        for row in rows:
            print(text(row))


# -- users --------------------------------------------------------------------

def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.password is not None:
        return args.password
    if not sys.stdin.isatty():
        raise ExtError("no password given and no terminal to ask on; use --password-stdin")
    try:
        first = getpass.getpass("password: ")
        again = getpass.getpass("again: ")
    except EOFError:
        raise ExtError("no password was typed; nothing changed") from None
    if again != first:
        raise ExtError("the two passwords differ; nothing changed")
    return first


def _users(site: Site) -> UserFile:
    if site.users is None:
        raise ExtError("[auth] htpasswd_filename is not set in the config; users are managed elsewhere")
    return site.users


def user_add(args: argparse.Namespace, site: Site) -> None:
    users = _users(site)
    names.user_name(args.name)  # before asking for a password
    if users.exists(args.name):
        raise Conflict(f"user {args.name!r} already exists; remove it first or use 'user password'")
    users.add(args.name, _password(args))
    print(f"user {args.name} added")


def user_password(args: argparse.Namespace, site: Site) -> None:
    users = _users(site)
    users.require(args.name)
    users.set_password(args.name, _password(args))
    print(f"password of {args.name} changed")


def user_remove(args: argparse.Namespace, site: Site) -> None:
    still_listed = site.remove_user(args.name)
    print(f"user {args.name} removed, with the shares made to them and their circle memberships "
          "(their own collections stay on disk)")
    if still_listed:
        print(f"note: the groups file still lists {args.name} in {', '.join(sorted(still_listed))}; "
              "remove them there")


def user_list(args: argparse.Namespace, site: Site) -> None:
    _out(args, [{"user": u} for u in sorted(_users(site).users())], lambda r: r["user"])


# -- circles ------------------------------------------------------------------

def circle_create(args: argparse.Namespace, site: Site) -> None:
    circle = site.circles.create(args.name, args.manager or [], actor=args.acting_as)
    print(f"circle {circle.name} created; managers: {', '.join(sorted(circle.managers)) or '(admin only)'}")


def circle_delete(args: argparse.Namespace, site: Site) -> None:
    site.circles.delete(args.name, actor=args.acting_as)
    print(f"circle {args.name} deleted, with its shares")


def circle_add(args: argparse.Namespace, site: Site) -> None:
    for user in site.circles.add_members(args.name, args.users, actor=args.acting_as):
        print(f"{user} added to circle {args.name}")


def circle_remove(args: argparse.Namespace, site: Site) -> None:
    for user in site.circles.remove_members(args.name, args.users, actor=args.acting_as):
        print(f"{user} removed from circle {args.name}")


def circle_manager(args: argparse.Namespace, site: Site) -> None:
    if args.change == "add":
        site.circles.add_manager(args.name, args.user, actor=args.acting_as)
        print(f"{args.user} now manages circle {args.name}")
    else:
        site.circles.remove_manager(args.name, args.user, actor=args.acting_as)
        print(f"{args.user} no longer manages circle {args.name}")


def _circle_row(c: Circle) -> dict:
    return {"circle": c.name, "origin": c.origin.value, "members": sorted(c.members),
            "managers": sorted(c.managers)}


def circle_list(args: argparse.Namespace, site: Site) -> None:
    _out(args, [_circle_row(c) for c in site.circles.list()],
         lambda r: f"{r['circle']} ({r['origin']}): members {' '.join(r['members']) or '-'}; "
                   f"managers {' '.join(r['managers']) or '-'}")


def circle_show(args: argparse.Namespace, site: Site) -> None:
    circle_list_one = [_circle_row(site.circles.get(args.name))]
    _out(args, circle_list_one,
         lambda r: f"{r['circle']} ({r['origin']})\n  members:  {' '.join(r['members']) or '-'}\n"
                   f"  managers: {' '.join(r['managers']) or '-'}")


# -- shares -------------------------------------------------------------------

def _grantee(args: argparse.Namespace) -> Grantee:
    if args.user:
        return Grantee(GranteeKind.USER, names.user_name(args.user))
    return Grantee(GranteeKind.CIRCLE, names.circle_name(args.circle))


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as e:
        raise ExtError(str(e)) from None


def share_add(args: argparse.Namespace, site: Site) -> None:
    share = site.shares.add(args.collection, _grantee(args), _role(args.role), actor=args.acting_as)
    print(f"{share.collection} shared with {share.grantee} as {share.role.value}; "
          f"it appears as /{{user}}/{share.mount}/ in their homes")


def share_role(args: argparse.Namespace, site: Site) -> None:
    share = site.shares.change_role(args.collection, _grantee(args), _role(args.role), actor=args.acting_as)
    print(f"{share.grantee} is now {share.role.value} of {share.collection}")


def share_remove(args: argparse.Namespace, site: Site) -> None:
    site.shares.remove(args.collection, _grantee(args), actor=args.acting_as)
    print(f"{args.collection} is no longer shared with {_grantee(args)}")


def share_list(args: argparse.Namespace, site: Site) -> None:
    """Subscribers and collaborators of a collection, direct and through circles."""
    _owner, collection = names.collection_path(args.collection)
    if site.collection_tag(collection) is None and not site.shares.shares_of(collection):
        raise NotFound(f"no calendar or address book at {collection!r}")
    people: dict[str, dict] = {}
    for share in site.shares.shares_of(collection):
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
    _out(args, rows, lambda r: f"{r['user']}: {r['role']} via {', '.join(r['via'])}")


def shared_with(args: argparse.Namespace, site: Site) -> None:
    """Everything shared with a user."""
    user = names.user_name(args.user)
    if not site.user_exists(user):
        raise NotFound(f"no user named {user!r}")
    grants = site.shares.grants_for(user, site.circles.circles_of(user))
    rows = [{"collection": g.collection, "owner": g.owner, "role": g.role.value, "via": list(g.via),
             "path": g.mount_path(user)} for g in grants]
    _out(args, rows, lambda r: f"{r['collection']} ({r['role']}, via {', '.join(r['via'])}) at {r['path']}")


# -- outbox -------------------------------------------------------------------

def outbox_list(args: argparse.Namespace, site: Site) -> None:
    rows = [{"id": r.id, "kind": r.change.kind.value, "actor": r.change.actor,
             "collection": r.change.collection, "item": r.change.item,
             "to_collection": r.change.to_collection, "to_item": r.change.to_item,
             "uid": r.uid, "component": r.component, "detail": r.detail, "recovered": r.recovered,
             "created_at": r.created_at}
            for r in site.outbox.records(after=args.after, state=args.state)]
    _out(args, rows, lambda r: f"#{r['id']} {r['kind']} by {r['actor']} in {r['collection']}"
                               f"{r['item'] or ''}")


# -- serve --------------------------------------------------------------------

def serve(args: argparse.Namespace) -> None:
    """Prepare the data folder on first use, then run the server in this process's place."""
    settings = Settings.from_ini(args.config)
    for path in (settings.htpasswd_file, settings.groups_file):
        if path and not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "a", encoding="utf-8"):
                pass
    os.makedirs(settings.collections_folder, exist_ok=True)
    Site(settings).db.close()  # fail here, with one clear line, if the database is unusable
    command = [sys.executable, "-m", "radicale_ext.plugins.server", "--config", args.config,
               "--threads", str(args.threads)]
    if args.debug:
        command.append("--debug")
    os.execv(sys.executable, command)


# -- parser -------------------------------------------------------------------

def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """``--config``, ``--json`` and ``--as``: accepted before the command and after it."""
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--config", default=default(DEFAULT_CONFIG),
                        help=f"Radicale INI file (default: {DEFAULT_CONFIG})")
    parser.add_argument("--json", action="store_true", default=default(False), help="print lists as JSON")
    parser.add_argument("--as", dest="acting_as", metavar="USER", default=default(None),
                        help="act as this user (owner or circle manager) instead of as the admin")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="radicale-ext", description=__doc__.split("\n")[0])
    _global_options(p, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, defaults=False)

    def group(parent, name: str, text: str):
        return parent.add_parser(name, help=text, description=text).add_subparsers(
            dest="action", required=True, metavar="ACTION")

    def command(parent, name: str, text: str, run: Handler | None) -> argparse.ArgumentParser:
        parser = parent.add_parser(name, help=text, description=text, parents=[common])
        parser.set_defaults(run=run)
        return parser

    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = command(sub, "serve", "run the server (Radicale with our plugins)", None)
    s.add_argument("--debug", action="store_true", help="log every request")
    s.add_argument("--threads", type=int, default=8, help="worker threads (default: %(default)s)")

    users = group(sub, "user", "add, remove and list users")
    for name, fn, text in (("add", user_add, "add a user (bcrypt password)"),
                           ("password", user_password, "change a user's password")):
        u = command(users, name, text, fn)
        u.add_argument("name")
        u.add_argument("--password", help="the password (visible in the process list; prefer stdin)")
        u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    command(users, "remove", "remove a user, their shares and circle memberships", user_remove).add_argument("name")
    command(users, "list", "list users", user_list)

    circles = group(sub, "circle", "circles (family, team) and their managers")
    c = command(circles, "create", "create a circle", circle_create)
    c.add_argument("name")
    c.add_argument("--manager", action="append", metavar="USER", help="a manager (repeat for more)")
    command(circles, "delete", "delete a circle and its shares", circle_delete).add_argument("name")
    for name, fn, text in (("add", circle_add, "add members"), ("remove", circle_remove, "remove members")):
        c = command(circles, name, text, fn)
        c.add_argument("name")
        c.add_argument("users", nargs="+", metavar="USER")
    c = command(circles, "manager", "name or drop a manager", circle_manager)
    c.add_argument("change", choices=["add", "remove"])
    c.add_argument("name")
    c.add_argument("user")
    command(circles, "list", "list circles", circle_list)
    command(circles, "show", "members and managers of a circle", circle_show).add_argument("name")

    shares = group(sub, "share", "share calendars and address books")
    for name, fn, text in (("add", share_add, "share a collection"),
                           ("role", share_role, "change the role of a share"),
                           ("remove", share_remove, "stop sharing with a user or circle")):
        sh = command(shares, name, text, fn)
        sh.add_argument("collection", help="OWNER/COLLECTION, e.g. alice/family")
        who = sh.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", help="share with this user")
        who.add_argument("--circle", help="share with every member of this circle")
        if name != "remove":
            sh.add_argument("--role", required=True, help="subscriber (read-only) or collaborator (read-write)")
    sh = command(shares, "list", "subscribers and collaborators of a collection", share_list)
    sh.add_argument("collection", help="OWNER/COLLECTION")

    command(sub, "shared-with", "everything shared with a user", shared_with).add_argument("user")

    outbox = group(sub, "outbox", "the record of changes")
    ol = command(outbox, "list", "list recorded changes", outbox_list)
    ol.add_argument("--after", type=int, default=0, help="only records after this id")
    ol.add_argument("--state", choices=["ready", "pending"], default="ready")
    return p


def _check_actor(args: argparse.Namespace, site: Site) -> None:
    if args.acting_as is not None:
        names.user_name(args.acting_as)
        if not site.user_exists(args.acting_as):
            raise NotFound(f"--as: no user named {args.acting_as!r}")


def _fail(message: object) -> int:
    line = " ".join(str(message).split("\n")).strip() or "unexpected error"
    print(f"radicale-ext: error: {line}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            serve(args)
            return 0
        site = _site(args)
        try:
            _check_actor(args, site)
            handler: Handler = args.run
            handler(args, site)
        finally:
            site.db.close()
    except ExtError as e:
        return _fail(e)
    except (sqlite3.Error, OSError) as e:  # unexpected, yet still one line and no traceback
        return _fail(f"{type(e).__name__}: {e}")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
