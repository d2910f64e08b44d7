"""radicale-ext collection ...: make, list, change and delete a person's calendars and address books.

Clients make their own (MKCALENDAR, RFC 4791 section 5.3.1; an extended
MKCOL, RFC 5689, for an address book, RFC 6352 section 6.3.1); these are for the admin
preparing a calendar before it is shared, and for owners (``--as``) in their
own home.  The rules (who may, which names, colours) are the core's
(:mod:`radicale_ext.homes`), the same the web page calls; the command line
writes Radicale's folders under its storage lock and records each change in the
outbox (:mod:`radicale_ext.homes.folder_writer`).
"""

from __future__ import annotations

import argparse
import shlex

from ..base import names
from ..base.errors import ExtError
from ..homes.folder_writer import FolderWriter
from ..homes.home import Homes, OwnCollection
from ..homes.properties import Kind
from ..index.pg_collections import collection_writes
from ..site import Site
from ._common import Commands, out


def homes_of(site: Site) -> Homes:
    """The core's homes, writing as the command line does."""
    settings = site.settings
    writes = collection_writes(settings.collections_folder, settings.postgresql_dsn, settings.postgresql_pool_size)
    writer = FolderWriter(writes, site.collections, outbox=site.outbox, shares=site.shares,
                          invitations=site.invitations, links=site.links)
    return Homes(collections=site.collections, user_exists=site.user_exists,
                 shares=site.shares, invitations=site.invitations, links=site.links, writer=writer)


def _as_options(error: ExtError) -> ExtError:
    """The core's "the display name ..." as the option a person typed: "the display name (--name) ..."."""
    text = str(error).replace("the display name", "the display name (--name)", 1).replace(
        "the colour", "the colour (--colour)", 1)
    return type(error)(text)


def collection_create(args: argparse.Namespace, site: Site) -> None:
    owner, path = names.new_collection_path(args.collection)
    kind = Kind.CALENDAR if args.calendar else Kind.ADDRESS_BOOK
    try:
        made = homes_of(site).create(owner, kind=kind, name=path.strip("/").split("/")[1],
                                     display_name=args.name, colour=args.colour, actor=args.acting_as)
    except ExtError as e:
        raise _as_options(e) from None
    print(f"{kind.words} {made.path.strip('/')} created, shown as {made.shown_as!r}; "
          f"share it with: radicale-ext share add {shlex.quote(made.path.strip('/'))} ...")


def _row(found: OwnCollection) -> dict:
    return {"collection": found.path.strip("/"), "kind": found.kind.words, "name": found.display_name,
            "colour": found.colour, "items": found.items, "shared_with": found.shares}


def _line(row: dict) -> str:
    shown_as = f" {row['name']!r}" if row["name"] else ""
    colour_part = f" {row['colour']}" if row["colour"] else ""
    shared = f", shared with {row['shared_with']}" if row["shared_with"] else ""
    return f"{row['collection']}: {row['kind']}{shown_as}{colour_part}, {row['items']} items{shared}"


def collection_list(args: argparse.Namespace, site: Site) -> None:
    rows = [_row(found) for found in homes_of(site).collections(args.owner, actor=args.acting_as)]
    out(args, rows, _line)
    if not rows and not args.json:
        print(f"{args.owner} has no calendars or address books yet")


def collection_change(args: argparse.Namespace, site: Site) -> None:
    if args.name is None and args.colour is None:
        raise ExtError("nothing to change: give --name and/or --colour")
    try:
        changed = homes_of(site).change(args.collection, display_name=args.name, colour=args.colour,
                                        actor=args.acting_as)
    except ExtError as e:
        raise _as_options(e) from None
    colour = f", colour {changed.colour}" if changed.colour else ""
    print(f"{changed.kind.words} {changed.path.strip('/')} is shown as {changed.shown_as!r}{colour}")


def collection_delete(args: argparse.Namespace, site: Site) -> None:
    homes = homes_of(site)
    found = homes.collection(args.collection, actor=args.acting_as)
    if not args.yes:
        raise ExtError(f"{found.path.strip('/')} holds {found.items} {found.kind.items} and {found.shares} shares; "
                       "nothing changed. Deleting removes them and its links for good: add --yes")
    done = homes.delete(found.path, actor=args.acting_as)
    print(f"{found.kind.words} {found.path.strip('/')} deleted with its {found.items} {found.kind.items}, "
          f"{done.shares} shares and {done.links} links")


def register(commands: Commands) -> None:
    group = commands.group("collection", "make, list, change and delete calendars and address books")
    create = group.command("create", "make a calendar or an address book in a user's home", collection_create)
    create.add_argument("collection", metavar="OWNER/NAME",
                        help="e.g. alice/family; any language, spaces and emoji (quote them): 'alice/Fußball 🎉'")
    kind = create.add_mutually_exclusive_group(required=True)
    kind.add_argument("--calendar", action="store_true", help="a calendar (events, tasks, journal)")
    kind.add_argument("--address-book", action="store_true", help="an address book (cards)")
    create.add_argument("--name", help="the name clients show (default: NAME)")
    create.add_argument("--colour", "--color", metavar="#RRGGBB", help="the colour clients show, e.g. #3a86ff")
    listing = group.command("list", "a user's calendars and address books", collection_list)
    listing.add_argument("owner", metavar="OWNER")
    change = group.command("change", "rename (the name clients show) or recolour a calendar or address book",
                           collection_change)
    change.add_argument("collection", metavar="OWNER/NAME")
    change.add_argument("--name", help="the new name clients show")
    change.add_argument("--colour", "--color", metavar="#RRGGBB", help="the new colour, e.g. #3a86ff")
    delete = group.command("delete", "delete a calendar or address book with everything in it, its shares and links",
                           collection_delete)
    delete.add_argument("collection", metavar="OWNER/NAME")
    delete.add_argument("--yes", action="store_true", help="yes, delete it for good")
