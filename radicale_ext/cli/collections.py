"""radicale-ext collection ...: make, list and delete a person's calendars and address books.

Clients make their own (MKCALENDAR, RFC 4791 section 5.3.1; an extended
MKCOL, RFC 5689, for an address book, RFC 6352 section 6.3.1); these are for the admin
preparing a calendar before it is shared, and for owners (``--as``) in their
own home.  They write Radicale's folders the way Radicale does, under its
storage lock (:mod:`radicale_ext.base.collection_folders`), and record each
change in the outbox as the storage plugin does: a pending record before the
folder changes, ready after, so a server that starts after a crash settles it
like its own (docs/admin.md).
"""

from __future__ import annotations

import argparse
import re
import shlex
import unicodedata

from ..base import collection_folders as folders
from ..base import names
from ..base.errors import ExtError, Forbidden, InvalidName, NotFound
from ..base.names import shown
from ..notices.fanout import Audience
from ..notices.outbox import Change, ChangeKind
from ..site import Site
from ._common import Commands, out

KINDS = {"VCALENDAR": "calendar", "VADDRESSBOOK": "address book"}
ITEMS = {"VCALENDAR": "events", "VADDRESSBOOK": "cards"}
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?")
MAX_DISPLAY_NAME = 256
# control characters, line and paragraph separators, lone surrogates (format characters such as
# the joiner of an emoji family are fine)
_NOT_ON_ONE_LINE = {"Cc", "Zl", "Zp", "Cs"}


def _owner_acting(args: argparse.Namespace, site: Site, owner: str) -> str:
    """Who acts: the owner themselves (``--as OWNER``) or the admin for them (recorded as the owner)."""
    if args.acting_as and args.acting_as != owner:
        raise Forbidden(f"{args.acting_as!r} may not change {owner!r}'s calendars and address books")
    if not site.user_exists(owner):
        raise NotFound(f"no user named {owner!r}; add them first: radicale-ext user add {owner}")
    return args.acting_as or owner


def display_name(value: str) -> str:
    """What clients show (``DAV:displayname``, RFC 4918 section 15.2): any text on one line."""
    if not value.strip():
        raise InvalidName("the display name (--name) is empty")
    if len(value) > MAX_DISPLAY_NAME:
        raise InvalidName(f"the display name (--name) is longer than {MAX_DISPLAY_NAME} characters")
    if any(unicodedata.category(ch) in _NOT_ON_ONE_LINE for ch in value):
        raise InvalidName(f"the display name (--name) {shown(value)} contains control characters or line breaks")
    return value


def colour(value: str) -> str:
    """``#rrggbb`` (or Apple's ``#rrggbbaa``), as CalDAV clients exchange it."""
    if not _COLOUR.fullmatch(value):
        raise InvalidName(f"the colour (--colour) {shown(value)} is not of the form #rrggbb (e.g. #3a86ff)")
    return value


def collection_create(args: argparse.Namespace, site: Site) -> None:
    owner, path = names.new_collection_path(args.collection)
    tag = "VCALENDAR" if args.calendar else "VADDRESSBOOK"
    props = {"tag": tag, "D:displayname": display_name(args.name) if args.name is not None else path.split("/")[2]}
    if args.colour is not None:
        props[folders.COLOUR_PROPS[tag]] = colour(args.colour)
    actor = _owner_acting(args, site, owner)
    folder = site.settings.collections_folder
    with folders.storage_lock(folder):
        record = site.outbox.begin(Change(kind=ChangeKind.COLLECTION_CREATED, actor=actor, collection=path))
        try:
            folders.create_collection(folder, path, props)
        except BaseException:
            site.outbox.discard(record)
            raise
        site.outbox.complete(record)
    print(f"{KINDS[tag]} {path.strip('/')} created, shown as {props['D:displayname']!r}; "
          f"share it with: radicale-ext share add {shlex.quote(path.strip('/'))} ...")


def _row(site: Site, found: folders.CollectionFolder) -> dict:
    return {"collection": found.path.strip("/"), "kind": KINDS[found.tag], "name": found.display_name,
            "colour": found.colour, "items": found.items, "shared_with": len(site.shares.shares_of(found.path))}


def _line(row: dict) -> str:
    shown_as = f" {row['name']!r}" if row["name"] else ""
    colour_part = f" {row['colour']}" if row["colour"] else ""
    shared = f", shared with {row['shared_with']}" if row["shared_with"] else ""
    return f"{row['collection']}: {row['kind']}{shown_as}{colour_part}, {row['items']} items{shared}"


def collection_list(args: argparse.Namespace, site: Site) -> None:
    owner = names.user_name(args.owner)
    _owner_acting(args, site, owner)
    rows = [_row(site, found) for found in folders.collections_of(site.settings.collections_folder, owner)]
    out(args, rows, _line)
    if not rows and not args.json:
        print(f"{owner} has no calendars or address books yet")


def collection_delete(args: argparse.Namespace, site: Site) -> None:
    owner, path = names.collection_path(args.collection)
    actor = _owner_acting(args, site, owner)
    folder = site.settings.collections_folder
    found = next((f for f in folders.collections_of(folder, owner) if f.path == path), None)
    if found is None:
        raise NotFound(f"no calendar or address book at {shown(path.strip('/'))}")
    if not args.yes:
        shares = len(site.shares.shares_of(path))
        raise ExtError(f"{path.strip('/')} holds {found.items} {ITEMS[found.tag]} and {shares} shares; nothing "
                       "changed. Deleting removes them and its links for good: add --yes")
    with folders.storage_lock(folder):
        record = site.outbox.begin(Change(kind=ChangeKind.COLLECTION_DELETED, actor=actor, collection=path))
        try:
            if site.shares.is_shared(path):  # who had it, for their notice (as the storage plugin keeps it)
                site.outbox.annotate(record, {"audience": Audience(site.shares, site.invitations).with_access(path)})
            folders.delete_collection(folder, path)
        except BaseException:
            site.outbox.discard(record)
            raise
        site.outbox.complete(record)
        shares = site.shares.forget_collection(path)
        links = site.links.revoke_all_of(path)
    print(f"{KINDS[found.tag]} {path.strip('/')} deleted with its {found.items} {ITEMS[found.tag]}, "
          f"{shares} shares and {links} links")


def register(commands: Commands) -> None:
    group = commands.group("collection", "make, list and delete calendars and address books")
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
    delete = group.command("delete", "delete a calendar or address book with everything in it, its shares and links",
                           collection_delete)
    delete.add_argument("collection", metavar="OWNER/NAME")
    delete.add_argument("--yes", action="store_true", help="yes, delete it for good")
