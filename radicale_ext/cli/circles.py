"""radicale-ext circle ...: circles (family, team), members and managers."""

from __future__ import annotations

import argparse

from ..base.model import Circle
from ..site import Site
from ._common import Commands, out


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
    """Every circle; with --as, those the person manages or is in."""
    out(args, [_circle_row(c) for c in site.circles.visible_to(args.acting_as)],
         lambda r: f"{r['circle']} ({r['origin']}): members {' '.join(r['members']) or '-'}; "
                   f"managers {' '.join(r['managers']) or '-'}")


def circle_show(args: argparse.Namespace, site: Site) -> None:
    circle_list_one = [_circle_row(site.circles.show(args.name, actor=args.acting_as))]
    out(args, circle_list_one,
         lambda r: f"{r['circle']} ({r['origin']})\n  members:  {' '.join(r['members']) or '-'}\n"
                   f"  managers: {' '.join(r['managers']) or '-'}")


def register(commands: Commands) -> None:
    circles = commands.group("circle", "circles (family, team) and their managers")
    c = circles.command("create", "create a circle", circle_create)
    c.add_argument("name")
    c.add_argument("--manager", action="append", metavar="USER", help="a manager (repeat for more)")
    circles.command("delete", "delete a circle and its shares", circle_delete).add_argument("name")
    for name, fn, text in (("add", circle_add, "add members"), ("remove", circle_remove, "remove members")):
        c = circles.command(name, text, fn)
        c.add_argument("name")
        c.add_argument("users", nargs="+", metavar="USER")
    c = circles.command("manager", "name or drop a manager", circle_manager)
    c.add_argument("change", choices=["add", "remove"])
    c.add_argument("name")
    c.add_argument("user")
    circles.command("list", "list circles (with --as: those you manage or are in)", circle_list)
    circles.command("show", "members and managers of a circle (with --as: one you manage or are in)",
                    circle_show).add_argument("name")
