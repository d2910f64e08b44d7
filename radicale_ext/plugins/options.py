"""Refuse unknown options in the config sections our plugins serve.

Radicale accepts any option in a section whose ``type`` is a plugin of its
own choosing (ours), so a misspelt option would be silently ignored.  Its
own remedy is a *plugin schema*: ``Configuration.copy(plugin_schema)``
declares a plugin's options and re-checks the whole file against them.  We
declare the options radicale-ext adds (``[sharing] links_base_url``, the
change-notice options of ``[hook]`` and ``[auth] admins``), plus none for the
other sections our plugins serve, and let Radicale do the check; its error is
reworded into one line that says what to do.

``admins`` is in ``[auth]`` rather than ``[web]``: ``[web]`` is Radicale's own
section (``type = internal``, its collection manager, which stays), and
Radicale refuses any option it does not know in a section whose plugin is its
own, before our check runs; ``[auth]`` is served by our plugin and is where
the accounts are (``htpasswd_filename``).
"""

from __future__ import annotations

import re
from typing import Any

from radicale import config

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

STORAGE_OPTIONS: dict[str, dict[str, Any]] = {   # read by radicale_ext/site.py (docs/scale-out.md)
    "postgresql_dsn": {"value": "", "type": str, "help": "PostgreSQL connection string; empty: files and SQLite"},
    "postgresql_pool_size": {"value": "8", "type": str, "help": "PostgreSQL connections per process"},
}

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
