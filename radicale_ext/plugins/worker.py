"""The notice worker, built from Radicale's configuration; and its own process.

    python -m radicale_ext.plugins.worker --config config/radicale.ini [--once] [--name NAME]

(``radicale-ext worker`` runs this.)  The configuration is loaded and
checked by Radicale, as the server's is, so an unknown or bad ``[hook]``
option stops a worker as it stops the server.  The admin's rights file is
consulted (with Radicale's own code) so that nobody hears about a collection
the rights file forbids them to read.  SIGTERM and SIGINT stop the worker
after the delivery in hand.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from radicale import config, log
from radicale.log import logger

from radicale_ext.base.errors import ExtError
from radicale_ext.notices.service import Notices
from radicale_ext.notices.settings import NoticeSettings
from radicale_ext.notices.worker import Worker, default_name
from radicale_ext.reminders.scheduler import ReminderScheduler

from ._site import site_for
from .hook import notice_settings
from .options import check_options
from .rights import Rights
from .sync_tokens import SyncTokens


def notices_for(configuration: config.Configuration, settings: NoticeSettings) -> Notices:
    """The site's notices, with the rights file's say on who may read a collection, and the sync tokens of
    push messages read through the storage plugin (:mod:`.sync_tokens`)."""
    site = site_for(configuration)
    rights = Rights(configuration)

    def may_read(user: str, collection: str) -> bool:
        decision = rights.file_decision(user, set(site.circles.circles_of(user)), collection)
        return decision is None or "r" in decision

    return Notices(site, settings, may_read=may_read, sync_token=SyncTokens(configuration))


def reminders_for(notices: Notices) -> ReminderScheduler | None:
    """The reminder scheduler a worker runs, when reminders are on."""
    return ReminderScheduler(notices) if notices.settings.reminders else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="radicale-ext worker")
    parser.add_argument("--config", required=True, help="Radicale INI file")
    parser.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    parser.add_argument("--name", help="this worker's name in leases (default: host:pid)")
    args = parser.parse_args(argv)
    try:
        configuration = config.load([(args.config, False)])
        check_options(configuration)  # as the server does: a misspelt option stops it with one line
        settings = notice_settings(configuration)
        if not settings.enabled:
            raise ExtError("notices are off in this configuration: set [hook] type = radicale_ext.plugins.hook")
        notices = notices_for(configuration, settings)
        worker = Worker(notices, name=args.name or default_name(), reminders=reminders_for(notices))
    except (ExtError, RuntimeError, ValueError) as e:
        print(f"radicale-ext: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    log.setup()
    log.set_level(configuration.get("logging", "level"), configuration.get("logging", "backtrace_on_debug"),
                  configuration.get("logging", "trace_filter"))
    if args.once:
        progress = worker.run_until_idle()
        logger.info("notices: %d composed, %d delivered, %d failed, %d dropped",
                    progress.composed, progress.delivered, progress.failed, progress.dropped)
        return 0
    # the worker runs in a thread of its own: Python runs a signal's handler in the main thread, and a handler
    # setting ``stop`` while that thread waited on ``stop`` could wait for the lock the thread itself held
    # (a worker stopped on PostgreSQL in the suite hung so after SIGTERM, for good)
    stop = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(stop)
        except BaseException as e:   # said here, and by the process's exit status
            logger.exception("notices: worker %s ended by an error: %s", worker.name, e)
            failed.append(e)
    running = threading.Thread(target=run, name="radicale-ext-notices")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    running.start()
    running.join()   # a signal interrupts the wait, its handler runs, the wait goes on
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
