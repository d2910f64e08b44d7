"""radicale-ext: the command line for admins, owners and circle managers.

Every subcommand has ``--help``.  Errors print one line to stderr and exit
with status 1 (2 for a command line that does not parse); nothing is changed
when a command fails.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence

from ..base import names
from ..base.database import database_errors
from ..base.errors import ExtError, NotFound
from ..site import Settings, Site
from . import (
    cards,
    circles,
    collections,
    invitations,
    links,
    migrate,
    notices,
    outbox,
    reminders,
    scopes,
    serve,
    shares,
    users,
    worker,
)
from ._common import Commands, Handler

DEFAULT_CONFIG = os.environ.get("RADICALE_EXT_CONFIG", "config/radicale.ini")

# One module per feature; each adds its commands.
COMMAND_MODULES = (serve, users, collections, circles, shares, outbox, links, invitations, scopes, cards, notices,
                   reminders, worker, migrate)


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """``--config``, ``--json`` and ``--as``: accepted before the command and after it."""
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--config", default=default(DEFAULT_CONFIG),
                        help=f"Radicale INI file (default: {DEFAULT_CONFIG})")
    parser.add_argument("--json", action="store_true", default=default(False), help="print lists as JSON")
    parser.add_argument("--as", dest="acting_as", metavar="USER", default=default(None),
                        help="act as this user (owner or circle manager) instead of as the admin")


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The command line's parser, built once per process: some 80 commands, each with its own parser and
    every help text looked up by gettext, take 30-40 ms to build, which a caller of :func:`main` in a
    long-lived process (the web page's tests, a script) would pay on every call.  Parsing leaves the
    parser as it was (each call gets a new namespace)."""
    p = argparse.ArgumentParser(prog="radicale-ext", description=__doc__.split("\n")[0])
    _global_options(p, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, defaults=False)
    commands = Commands(p.add_subparsers(dest="command", required=True, metavar="COMMAND"), common)
    for module in COMMAND_MODULES:
        module.register(commands)
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
        if args.command in ("serve", "worker", "migrate"):  # they run in this process's place
            args.serve(args)
            return 0
        site = Site(Settings.from_ini(args.config))
        try:
            _check_actor(args, site)
            handler: Handler = args.run
            handler(args, site)
        finally:
            site.db.close()
    except ExtError as e:
        return _fail(e)
    except (*database_errors(), OSError) as e:  # unexpected, yet still one line and no traceback
        return _fail(f"{type(e).__name__}: {e}")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
