"""radicale-ext migrate: copy the embedded default (files and SQLite) into PostgreSQL and check the copy.

Runs ``python -m radicale_ext.plugins.migrate`` in this process's place (as ``serve`` runs the
server): reading the stored items takes Radicale's own parser (docs/scale-out.md, "Moving an
existing server").
"""

from __future__ import annotations

import argparse
import os
import sys

from ._common import Commands


def migrate(args: argparse.Namespace) -> None:
    os.execv(sys.executable, [sys.executable, "-m", "radicale_ext.plugins.migrate", "--config", args.config,
                              "--to", args.to])


def register(commands: Commands) -> None:
    m = commands.command("migrate", "copy the files and the sharing database into PostgreSQL, then check the copy",
                         None)
    m.set_defaults(serve=migrate)
    m.add_argument("--to", required=True, metavar="DSN",
                   help="the PostgreSQL database: a libpq connection string or URI (postgresql://user@host/db)")
