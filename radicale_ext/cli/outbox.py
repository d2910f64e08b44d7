"""radicale-ext outbox ...: the record of changes."""

from __future__ import annotations

import argparse

from ..base import names
from ..base.errors import ExtError, Forbidden
from ..site import Site
from ._common import Commands, out

LAST_ID = 2**63 - 1     # SQLite's largest integer


def outbox_list(args: argparse.Namespace, site: Site) -> None:
    if args.acting_as is not None:   # it names everyone's items: the admin's alone
        raise Forbidden("only the admin may list the outbox; run it without --as")
    if not 0 <= args.after <= LAST_ID:
        raise ExtError(f"--after is a record id (0 or more), not {names.shown(args.after)}")
    rows = [{"id": r.id, "kind": r.change.kind.value, "actor": r.change.actor,
             "collection": r.change.collection, "item": r.change.item,
             "to_collection": r.change.to_collection, "to_item": r.change.to_item,
             "uid": r.uid, "component": r.component, "detail": r.detail, "recovered": r.recovered,
             "created_at": r.created_at}
            for r in site.outbox.records(after=args.after, state=args.state)]
    out(args, rows, lambda r: f"#{r['id']} {r['kind']} by {r['actor']} in {r['collection']}"
                               f"{r['item'] or ''}")


def register(commands: Commands) -> None:
    outbox = commands.group("outbox", "the record of changes")
    ol = outbox.command("list", "list recorded changes", outbox_list)
    ol.add_argument("--after", type=int, default=0, help="only records after this id")
    ol.add_argument("--state", choices=["ready", "pending"], default="ready")
