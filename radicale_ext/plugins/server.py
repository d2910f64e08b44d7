"""Run radicale-ext: Radicale's application, with our extension, under waitress.

    python -m radicale_ext.plugins.server --config config/radicale.ini

waitress is a production WSGI server (keep-alive, a pool of threads); it
replaces Radicale's development server.  :mod:`.http_edge` sets it up with
the limits a small server can hold (connections, deadlines, bodies, UTF-8
paths).  Unless ``[hook] notices_worker =
none``, a thread of this process delivers change notices (see
:mod:`radicale_ext.notices.worker`).  Start-up problems (bad config,
unusable sharing database) end the process with one clear line and exit 1.
"""

from __future__ import annotations

import argparse
import sys

from radicale import config, log
from radicale.log import logger

from radicale_ext.base.errors import ExtError
from radicale_ext.notices.worker import start_thread

from . import http_edge
from .app import Application
from .hook import notice_settings
from .worker import notices_for, reminders_for


def _free_trace_calls(level: str) -> None:
    """Radicale calls ``logger.trace`` in inner loops (a home PROPFIND makes two
    calls per share per response, so N**2 of them); even with tracing off each
    costs ~1.5 us through ``functools.partialmethod``.  Below the trace level
    we make the call free.  Measured in bench/RESULTS.md."""
    if level != "trace":
        logger.trace = lambda *args, **kwargs: None  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="radicale-ext serve")
    parser.add_argument("--config", required=True, help="Radicale INI file")
    parser.add_argument("--debug", action="store_true", help="log every request")
    parser.add_argument("--threads", type=int, default=8, help="worker threads (default: %(default)s)")
    args = parser.parse_args(argv)
    log.setup()
    try:
        configuration = config.load([(args.config, False)])
    except Exception as e:
        print(f"radicale-ext: error: invalid configuration {args.config!r}: {e}", file=sys.stderr)
        return 1
    level = "debug" if args.debug else configuration.get("logging", "level")
    log.set_level(level, configuration.get("logging", "backtrace_on_debug"),
                  configuration.get("logging", "trace_filter"))
    _free_trace_calls(level)
    try:
        application = Application(configuration)
    except ExtError as e:
        print(f"radicale-ext: error: {e}", file=sys.stderr)
        return 1
    except RuntimeError as e:
        print(f"radicale-ext: error: {e}", file=sys.stderr)
        return 1
    try:
        notices = notice_settings(configuration)
        if notices.enabled and notices.worker == "thread":
            for_site = notices_for(configuration, notices)
            start_thread(for_site, reminders=reminders_for(for_site))
    except (ExtError, RuntimeError) as e:
        print(f"radicale-ext: error: {e}", file=sys.stderr)
        return 1
    http_edge.serve(application, configuration, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
