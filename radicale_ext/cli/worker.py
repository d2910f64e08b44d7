"""radicale-ext worker: deliver change notices in a process of its own.

Runs ``python -m radicale_ext.plugins.worker`` in this process's place (as
``serve`` runs the server), so that the configuration is checked by
Radicale exactly as the server checks it.  Several may run at once, on one
machine or several sharing the database; set ``[hook] notices_worker = none``
so the server's own thread stays out.
"""

from __future__ import annotations

import argparse
import os
import sys

from ._common import Commands


def worker(args: argparse.Namespace) -> None:
    command = [sys.executable, "-m", "radicale_ext.plugins.worker", "--config", args.config]
    if args.once:
        command.append("--once")
    if args.name:
        command += ["--name", args.name]
    os.execv(sys.executable, command)


def register(commands: Commands) -> None:
    w = commands.command("worker", "deliver change notices (a process of its own; several may run)", None)
    w.set_defaults(serve=worker)
    w.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    w.add_argument("--name", help="this worker's name in the queue's leases (default: host:pid)")
