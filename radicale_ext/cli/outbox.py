"""radicale-ext outbox ...: the record of changes."""

from __future__ import annotations

import argparse

from ..site import Site
from ._common import Commands, out


def outbox_list(args: argparse.Namespace, site: Site) -> None:
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
