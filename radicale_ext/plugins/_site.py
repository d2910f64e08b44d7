"""Build the core's :class:`~radicale_ext.site.Site` from Radicale's configuration."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import TypeVar

from radicale import config

from radicale_ext.base.users import admins_from
from radicale_ext.site import Settings, Site

from . import _request
from .options import storage_options

T = TypeVar("T")


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


#: per configuration: how many layers it had (Radicale's ``update`` adds one) and its settings then
_settings: weakref.WeakKeyDictionary[config.Configuration, tuple[int, Settings]] = weakref.WeakKeyDictionary()


def _settings_of(configuration: config.Configuration) -> Settings:
    """:func:`settings_from`, read again only after the configuration was updated (``site_for`` is asked
    several times by every request: reading the options each time was 1.5% of a PUT's time)."""
    layers = getattr(configuration, "_configs", None)
    if layers is None:   # not Radicale's Configuration as this module knows it
        return settings_from(configuration)
    kept = _settings.get(configuration)
    if kept is None or kept[0] != len(layers):
        kept = (len(layers), settings_from(configuration))
        _settings[configuration] = kept
    return kept[1]


def site_for(configuration: config.Configuration) -> Site:
    """The process-wide core objects for this configuration (created once)."""
    return Site.for_settings(_settings_of(configuration))


def file_stamp(path: str | None) -> tuple[int, int] | None:
    """A file's modification time and size (``None`` when it is not there): it changed when this did."""
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def sharing_state(site: Site) -> tuple[Hashable, ...]:
    """What every sharing answer depends on: the sharing database's commit counter (any host's committed
    change moves it) and the groups file's stamp, read once per request, and this thread's own writes
    (a request that changes a share and then reads it sees its change)."""
    return (_request.once_per_request(("sharing state", id(site)),
                                      lambda: (site.db.version(), file_stamp(site.settings.groups_file))),
            site.db.thread_writes)


_answers = threading.local()
_MOST_ANSWERS = 4096


def remembered(site: Site, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``'s answer, kept by this thread until the sharing state changes (:func:`sharing_state`):
    a person's circles and a mount's grant are asked on every request, and on PostgreSQL each is a round
    trip.  Per thread, as the rights' cache: SQLite's commit counter is per connection."""
    state = sharing_state(site)
    kept = getattr(_answers, "by_site", None)
    if kept is None:
        kept = _answers.by_site = {}
    entry = kept.get(id(site))
    if entry is None or entry[0] != state:
        entry = kept[id(site)] = (state, {})
    answers = entry[1]
    if key not in answers:
        if len(answers) >= _MOST_ANSWERS:
            answers.clear()
        answers[key] = compute()
    return answers[key]


def circles_now(site: Site, user: str) -> frozenset[str]:
    """The circles ``user`` is in (the login, the sharing lookups, the rights and the handlers of each
    request ask it), read again once anything is committed."""
    return remembered(site, ("circles", user), lambda: site.circles.circles_of(user))
