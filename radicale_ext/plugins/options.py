"""Refuse unknown options in the config sections our plugins serve.

Radicale accepts any option in a section whose ``type`` is a plugin of its
own choosing (ours), so a misspelt option would be silently ignored.  Its
own remedy is a *plugin schema*: ``Configuration.copy(plugin_schema)``
declares a plugin's options and re-checks the whole file against them.  We
declare the options radicale-ext adds (``[sharing] links_base_url``, the
change-notice options of ``[hook]``, ``[auth] admins`` and ``[storage] postgresql_dsn``,
``postgresql_pool_size`` and ``item_responses_from_index``), plus none for the other
sections our plugins serve, and let Radicale do the check; its error is
reworded into one line that says what to do.

``admins`` is in ``[auth]`` rather than ``[web]``: ``[web]`` is Radicale's own
section (``type = internal``, its collection manager, which stays), and
Radicale refuses any option it does not know in a section whose plugin is its
own, before our check runs; ``[auth]`` is served by our plugin and is where
the accounts are (``htpasswd_filename``).
"""

from __future__ import annotations

import re
from configparser import RawConfigParser
from dataclasses import dataclass
from typing import Any

from radicale import config

from radicale_ext.base.errors import ExtError
from radicale_ext.base.postgres import pool_size
from radicale_ext.index.kept_views import IDLE_SECONDS
from radicale_ext.notices.settings import radicale_schema

SHARING_OPTIONS: dict[str, dict[str, Any]] = {
    "links_base_url": {"value": "", "type": str,
                       "help": "address printed in share links and QR codes (docs/links.md)"},
}

AUTH_OPTIONS: dict[str, dict[str, Any]] = {
    "admins": {"value": "", "type": str,
               "help": "users who manage accounts on the web page's admin pages, separated by commas "
                       "(docs/admin.md)"},
}

#: PostgreSQL for everything (docs/scale-out.md); empty: the embedded default, files and SQLite
STORAGE_OPTIONS: dict[str, dict[str, Any]] = {
    "postgresql_dsn": {"value": "", "type": str,
                       "help": "libpq connection string or URI of the PostgreSQL database (docs/scale-out.md)"},
    "postgresql_pool_size": {"value": "8", "type": int,
                             "help": "connections to PostgreSQL per server or worker process"},
    "item_responses_from_index": {"value": "True", "type": bool,
                                  "help": "write the items' part of a depth-1 PROPFIND, of a sync-collection "
                                          "REPORT and of a query asking only for ETags from the item index "
                                          "(docs/performance.md); false: Radicale reads and writes every item "
                                          "itself"},
    "index_idle_seconds": {"value": str(IDLE_SECONDS), "type": int,
                           "help": "seconds a server process keeps in memory the index of a collection nobody "
                                   "asked for (docs/performance.md, \"Memory\"); 0: for good"},
}


@dataclass(frozen=True)
class StorageOptions:
    postgresql_dsn: str = ""
    postgresql_pool_size: int = 8
    item_responses_from_index: bool = True
    index_idle_seconds: int = IDLE_SECONDS


def storage_options(configuration: config.Configuration) -> StorageOptions:
    """``[storage] postgresql_dsn``, ``postgresql_pool_size``, ``item_responses_from_index`` and
    ``index_idle_seconds`` (Radicale keeps options of a plugin's section only where the file sets them, as
    text).  Raises ExtError for a pool size that is no whole number from 1 or idle seconds that are no whole
    number from 0; a word that is no boolean was refused at start (:func:`check_options`)."""
    values: dict[str, Any] = {}
    for name in ("postgresql_dsn", "postgresql_pool_size", "item_responses_from_index", "index_idle_seconds"):
        try:
            values[name] = configuration.get("storage", name)
        except KeyError:
            continue
    size = values.get("postgresql_pool_size")
    from_index = str(values.get("item_responses_from_index", "True")).strip().lower()
    return StorageOptions(str(values.get("postgresql_dsn") or "").strip(), pool_size("" if size is None else str(size)),
                          RawConfigParser.BOOLEAN_STATES.get(from_index, True),
                          idle_seconds(str(values.get("index_idle_seconds", IDLE_SECONDS))))


def idle_seconds(text: str) -> int:
    """``[storage] index_idle_seconds``: a whole number from 0 (0: views kept for good)."""
    try:
        seconds = int(text.strip())
    except ValueError:
        seconds = -1
    if seconds < 0:
        raise ExtError(f"[storage] index_idle_seconds must be a whole number of seconds from 0, not {text!r}")
    return seconds


_RADICALE_ERROR = re.compile(r"Invalid option '(?P<option>[^']+)' in section '(?P<section>[^']+)'")


def plugin_schema() -> dict[str, dict[str, dict[str, Any]]]:
    """Radicale's plugin schema for every section served by one of our plugins."""
    return {"sharing": SHARING_OPTIONS, **radicale_schema(), "storage": STORAGE_OPTIONS, "rights": {},
            "auth": AUTH_OPTIONS}


def check_options(configuration: config.Configuration) -> None:
    """Raise RuntimeError naming the first unknown option of a section served by radicale-ext."""
    try:
        configuration.copy(plugin_schema())
    except RuntimeError as e:
        found = _RADICALE_ERROR.search(str(e))
        if found is None:
            raise
        raise RuntimeError(
            f"unknown option {found['option']!r} in section [{found['section']}] of the config; "
            "check its spelling (see docs/admin.md for the options radicale-ext adds)") from None
