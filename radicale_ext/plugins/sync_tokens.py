"""The sync token a person would get from a sync-collection REPORT now (RFC 6578 section 3.2), for the notice
worker's push messages (bitfireAT/webdav-push, section "Push Message": ``content-update`` carries the
collection's new ``DAV:sync-token``, so a client that already has it need not sync).

The token is read the way a request reads it: through the storage plugin, under Radicale's storage lock
(a shared lock on its lock file, which excludes every writer, in this process or another), as the person
(a me card in an address book gives each reader their own token, radicale_ext/plugins/me_card_views.py;
Shared contacts is each person's own).  The worker has a storage plugin of its own, which reads only:
settling the outbox after a crash is the server's, at its start.
"""

from __future__ import annotations

import threading

from radicale import config
from radicale.log import logger

from . import _request
from .storage import Storage


class _ReadingStorage(Storage):
    settles_outbox = False


class SyncTokens:
    def __init__(self, configuration: config.Configuration) -> None:
        self._configuration = configuration
        self._storage: Storage | None = None
        self._lock = threading.Lock()

    def _reader(self) -> Storage:
        with self._lock:
            if self._storage is None:
                self._storage = _ReadingStorage(self._configuration)
            return self._storage

    def __call__(self, collection: str, reader: str) -> str | None:
        """``reader``'s sync token of ``collection`` ("/alice/family/"); ``None`` when it is gone or not a
        calendar or address book (the push then carries no token, which the draft allows)."""
        try:
            storage = self._reader()
            _request.begin_request()
            with _request.reading_as(reader), storage.acquire_lock("r", reader):
                found = next(iter(storage.discover(collection)), None)
                if found is None or not found.tag:
                    return None
                token, _changes = found.sync()
                return token
        except Exception:   # the push goes out without a token rather than not at all
            logger.warning("notices: no sync token for %s as %s", collection, reader, exc_info=True)
            return None
