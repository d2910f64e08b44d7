"""Build the core's :class:`~radicale_ext.site.Site` from Radicale's configuration."""

from __future__ import annotations

from radicale import config

from radicale_ext.site import Settings, Site, pool_size


def settings_from(configuration: config.Configuration) -> Settings:
    collections = configuration.get("storage", "filesystem_folder")
    database = configuration.get("sharing", "database_path") or Settings.default_database_path(collections)
    return Settings(
        collections_folder=collections,
        database_path=database,
        groups_file=configuration.get("group", "htgroup_filename") or None,
        htpasswd_file=configuration.get("auth", "htpasswd_filename") or None,
        rights_file=configuration.get("rights", "file") or None,
        postgresql_dsn=_option(configuration, "storage", "postgresql_dsn").strip(),
        postgresql_pool_size=pool_size(_option(configuration, "storage", "postgresql_pool_size")),
    )


def _option(configuration: config.Configuration, section: str, name: str) -> str:
    """An option of ours as its text ("" when it is not set)."""
    try:
        value = configuration.get(section, name)
    except KeyError:
        return ""
    return "" if value is None else str(value)


def site_for(configuration: config.Configuration) -> Site:
    """The process-wide core objects for this configuration (created once)."""
    return Site.for_settings(settings_from(configuration))
