"""Refuse unknown options in the config sections of our plugins.

Radicale accepts any option in a section whose ``type`` is a plugin of its
own choosing (ours), so a misspelt option would be silently ignored.  At
start-up we compare every option of those sections with Radicale's schema
plus the options radicale-ext adds, and stop with one clear line otherwise.
"""

from __future__ import annotations

from radicale import config

from radicale_ext.notice_settings import OPTION_NAMES as NOTICE_OPTIONS

# Options radicale-ext adds to Radicale's sections (documented in docs/admin.md).
OUR_OPTIONS: dict[str, frozenset[str]] = {
    "sharing": frozenset({"links_base_url"}),
    "hook": NOTICE_OPTIONS,  # change notices (docs/notifications.md)
}


def check_options(configuration: config.Configuration) -> None:
    """Raise RuntimeError naming the first unknown option of a section served by radicale-ext."""
    for section in configuration.sections():
        if section not in config.DEFAULT_CONFIG_SCHEMA:
            continue
        plugin_type = str(configuration.get_raw(section, "type")) if "type" in configuration.options(section) else ""
        if not plugin_type.startswith("radicale_ext."):
            continue
        known = set(config.DEFAULT_CONFIG_SCHEMA[section]) | OUR_OPTIONS.get(section, frozenset())
        unknown = sorted(set(configuration.options(section)) - known)
        if unknown:
            raise RuntimeError(
                f"unknown option {unknown[0]!r} in section [{section}] of the config; "
                f"check its spelling (see docs/admin.md for the options radicale-ext adds)")
