"""radicale-ext serve: prepare the data folder and run the server."""

from __future__ import annotations

import argparse
import os
import sys

from ..base.serve_options import process_count, seconds_above_zero
from ..site import Settings, Site
from ._common import Commands


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
               "--threads", str(args.threads), "--processes", args.processes]
    if args.helpers_leave_after is not None:
        command += ["--helpers-leave-after", args.helpers_leave_after]
    if args.debug:
        command.append("--debug")
    os.execv(sys.executable, command)


def _processes(text: str) -> str:
    process_count(text)   # raises argparse's error, with the reason
    return text


def _seconds(text: str) -> str:
    seconds_above_zero(text)
    return text


def register(commands: Commands) -> None:
    s = commands.command("serve", "run the server (Radicale with our plugins)", None)
    s.set_defaults(serve=serve)
    s.add_argument("--debug", action="store_true", help="log every request")
    s.add_argument("--threads", type=int, default=8, help="worker threads per process (default: %(default)s)")
    s.add_argument("--processes", type=_processes, default="auto",
                   help="server processes sharing the listening address: N, always (each on a core of its own "
                        "where N is the number of cores); auto, one at rest and up to "
                        "one per core this process may use under load; auto:N, up to N under load (default: "
                        "%(default)s; docs/scale-out.md)")
    s.add_argument("--helpers-leave-after", type=_seconds, metavar="SECONDS",
                   help="with auto: a helper process that has held no connection this long leaves (default: 60)")
