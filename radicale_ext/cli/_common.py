"""What every command module shares: the command builder and output helpers."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from ..site import Site

Handler = Callable[[argparse.Namespace, Site], None]


def out(args: argparse.Namespace, rows: list[dict], text: Callable[[dict], str]) -> None:
    """Print rows as JSON (``--json``) or one line each."""
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
    else:
        for row in rows:
            print(text(row))


class Commands:
    """Adds commands to the parser; every command accepts the global options."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self._sub = subparsers
        self._common = common

    def group(self, name: str, text: str) -> Commands:
        parser = self._sub.add_parser(name, help=text, description=text)
        return Commands(parser.add_subparsers(dest="action", required=True, metavar="ACTION"), self._common)

    def command(self, name: str, text: str, run: Handler | None) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, help=text, description=text, parents=[self._common])
        parser.set_defaults(run=run)
        return parser
