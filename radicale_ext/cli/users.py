"""radicale-ext user ...: accounts in the htpasswd file.

The admin's commands (:class:`radicale_ext.base.users.Accounts`, which the web page's admin pages
call too): with ``--as USER`` only a user named in ``[auth] admins`` may run them."""

from __future__ import annotations

import argparse
import getpass
import sys

from ..base import names
from ..base.errors import Conflict, ExtError, NotFound
from ..site import Site
from ._common import Commands, out


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


def user_add(args: argparse.Namespace, site: Site) -> None:
    accounts = site.accounts
    names.user_name(args.name)  # before asking for a password
    if args.name in accounts.users(actor=args.acting_as):
        raise Conflict(f"user {args.name!r} already exists; remove it first or use 'user password'")
    accounts.add(args.name, _password(args), actor=args.acting_as)
    print(f"user {args.name} added")


def user_password(args: argparse.Namespace, site: Site) -> None:
    names.user_name(args.name)
    if args.name not in site.accounts.users(actor=args.acting_as):
        raise NotFound(f"no user named {args.name!r}")
    site.accounts.set_password(args.name, _password(args), actor=args.acting_as)
    print(f"password of {args.name} changed")


def user_remove(args: argparse.Namespace, site: Site) -> None:
    still_listed = site.accounts.remove(args.name, actor=args.acting_as)
    print(f"user {args.name} removed, with the shares made to them and their circle memberships "
          "(their own collections stay on disk)")
    if still_listed:
        print(f"note: the groups file still lists {args.name} in {', '.join(sorted(still_listed))}; "
              "remove them there")


def user_list(args: argparse.Namespace, site: Site) -> None:
    out(args, [{"user": u} for u in site.accounts.users(actor=args.acting_as)], lambda r: r["user"])


def register(commands: Commands) -> None:
    users = commands.group("user", "add, remove and list users")
    for name, fn, text in (("add", user_add, "add a user (bcrypt password)"),
                           ("password", user_password, "change a user's password")):
        u = users.command(name, text, fn)
        u.add_argument("name")
        u.add_argument("--password", help="the password (visible in the process list; prefer stdin)")
        u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    users.command("remove", "remove a user, their shares and circle memberships", user_remove).add_argument("name")
    users.command("list", "list users", user_list)
