"""Rights plugin: the admin's rights file first, then what shares grant.

The rights file keeps exactly the meaning of Radicale's ``from_file``: the
first section whose ``user`` and ``collection`` patterns match decides, and
that decision is final, so a rule that forbids something forbids it even
when a share would allow it.  Only where no rule matches do the sharing
lists speak, on the owner's path (``/alice/family/``), and only the shares
that count for the user (at once, accepted, or a subscription in scope: the
same rule as the sharing plugin's, from the same query): a subscriber reads,
a collaborator reads and writes items, and the collection itself stays the
owner's: no DELETE of it, no PUT replacing it whole, no PROPPATCH of its
properties.  (The mount path in the sharee's home is the sharing plugin's.)

Radicale calls :meth:`Rights.authorization` once per item of a PROPFIND;
answers are cached per (user, groups, path) until the rights file, the
groups file or the sharing database changes (checked once per request).
"""

from __future__ import annotations

import threading

from radicale import config, pathutils
from radicale.rights import from_file

from radicale_ext.base.model import Role

from . import _request
from ._site import circles_now, file_stamp, sharing_state, site_for

NO_RULE = "\x00"  # what from_file answers through our catch-all rule when nothing else matched

# Radicale's letters: "d" refuses DELETE of the collection, "o" refuses a PUT
# that overwrites it whole, "l" refuses PROPPATCH (and hides write-properties).
ROLE_PERMISSIONS = {Role.SUBSCRIBER: "r", Role.COLLABORATOR: "rwdol"}


class Rights(from_file.Rights):
    def __init__(self, configuration: config.Configuration) -> None:
        self._configuration = configuration
        self._site = site_for(configuration)
        self._load_lock = threading.Lock()
        self._load()
        self._cache = threading.local()

    def _load(self) -> None:
        super().__init__(self._configuration)
        self._rights_config["radicale-ext: no rule matched"] = {
            "user_pattern": ".*", "collection_pattern": ".*", "allowed_groups": [""], "permission": NO_RULE}
        self._file_stamp = file_stamp(self._filename)

    def _cache_for_this_request(self) -> dict:
        """Answers cached while nothing they depend on has changed.

        Whether anything changed is checked once per request (two ``stat``
        calls and one ``PRAGMA data_version``), not once per item.
        """
        serial = _request.serial()
        cache = getattr(self._cache, "entries", None)
        if cache is not None and serial and self._cache.serial == serial:
            return cache
        version = (file_stamp(self._filename), sharing_state(self._site))
        if cache is None or self._cache.version != version:
            cache = {}
            self._cache.entries, self._cache.version = cache, version
        self._cache.serial = serial
        return cache

    def file_decision(self, user: str, user_groups: set, path: str) -> str | None:
        """The rights file's answer, or ``None`` when no section matches."""
        stamp = file_stamp(self._filename)
        if stamp != self._file_stamp:
            with self._load_lock:
                if stamp != self._file_stamp:
                    self._load()
        answer = super().authorization(user, user_groups, path)
        return None if answer == NO_RULE else answer

    def authorization(self, user: str, user_groups: set, path: str) -> str:
        cache = self._cache_for_this_request()
        key = (user, frozenset(user_groups or ()), path)
        answer = cache.get(key)
        if answer is None:
            answer = self._decide(user, user_groups, path)
            cache[key] = answer
        return answer

    def _decide(self, user: str, user_groups: set, path: str) -> str:
        decision = self.file_decision(user, user_groups, path)
        if decision is not None:
            return decision
        parts = pathutils.strip_path(path).split("/")
        if not user or len(parts) != 2 or parts[0] == user:
            return ""
        circles = circles_now(self._site, user)
        grant = self._site.shares.grant_on(user, circles, f"/{parts[0]}/{parts[1]}/")
        return ROLE_PERMISSIONS[grant.role] if grant else ""
