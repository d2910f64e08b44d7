"""Build the core's :class:`~radicale_ext.site.Site` from Radicale's configuration."""

from __future__ import annotations

from radicale import config

from radicale_ext.base.users import admins_from
from radicale_ext.site import Settings, Site

from . import _request
from .options import storage_options


def _ours(configuration: config.Configuration, section: str, option: str) -> str:
    """An option radicale-ext adds to a section of one of its plugins ("" when not given): Radicale keeps
    it as given (``plugins/options.py`` declares it and refuses misspellings)."""
    try:
        value = configuration.get(section, option)
    except KeyError:
        return ""
    return "" if value is None else str(value)


def settings_from(configuration: config.Configuration) -> Settings:
    collections = configuration.get("storage", "filesystem_folder")
    storage = storage_options(configuration)
    database = configuration.get("sharing", "database_path") or Settings.default_database_path(collections)
    return Settings(
        collections_folder=collections,
        database_path=database,
        groups_file=configuration.get("group", "htgroup_filename") or None,
        htpasswd_file=configuration.get("auth", "htpasswd_filename") or None,
        rights_file=configuration.get("rights", "file") or None,
        admins=admins_from(_ours(configuration, "auth", "admins")),
        postgresql_dsn=storage.postgresql_dsn,
        postgresql_pool_size=storage.postgresql_pool_size,
    )


def site_for(configuration: config.Configuration) -> Site:
    """The process-wide core objects for this configuration (created once)."""
    return Site.for_settings(settings_from(configuration))


def circles_now(site: Site, user: str) -> frozenset[str]:
    """The circles ``user`` is in, read once per request (the login, the sharing lookups, the rights and
    the handlers of one request all ask it)."""
    return _request.once_per_request(("circles", user), lambda: site.circles.circles_of(user))
