"""The server's VAPID keys (RFC 8292), in the database: one for every process, kept across restarts, rotated.

Every server and worker process that shares the database signs with the same
key, wherever it runs, and the key is what the calendars' ``P:transports``
offer (bitfireAT/webdav-push, section "VAPID").  The first process that needs
a key makes it (inside one write transaction, so processes starting
together make one); a key file from before keys lived in the database
(``[hook] notices_vapid_key``, by default ``vapid-private.pem`` beside the
database) is taken over instead, so devices subscribed for it keep working.

A push service binds a subscription to the key it was made for.  So
:meth:`VapidKeys.rotate` makes a new key that new subscriptions are made for,
and *binds* every push resource known then to the key it was made for
(table ``push_endpoint_keys``): pushes to it are signed with that key until
its device subscribes again with the new one (the draft's key-rotation
message, sent by :meth:`radicale_ext.notices.service.Notices.rotate_vapid_key`,
asks it to), and at the latest until its subscription ends
(``notices_push_max_days``).  A key that no push resource is bound to any more
is deleted by :meth:`VapidKeys.forget_unused`.
"""

from __future__ import annotations

import threading
import time

from ...base.database import Database, Writer
from ...base.errors import ExtError
from .webpush import VapidKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS vapid_keys (
    id          INTEGER PRIMARY KEY,
    private_key TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS push_endpoint_keys (
    endpoint  TEXT PRIMARY KEY,
    vapid_key INTEGER NOT NULL
)
"""


class VapidKeys:
    def __init__(self, db: Database, subject: str, *, key_file: str | None = None) -> None:
        self._db = db
        self._subject = subject
        self._key_file = key_file
        self._keys: dict[int, VapidKey] = {}   # parsed once per process, so each keeps its cache of JWTs
        self._lock = threading.Lock()

    def current(self) -> VapidKey:
        """The key new subscriptions are made for (the one ``P:transports`` offers); made on first use."""
        row = self._db.read_one("SELECT id, private_key FROM vapid_keys ORDER BY id DESC LIMIT 1")
        if row is None:
            with self._db.write() as w:
                row = self._first(w, time.time())
        return self._parsed(row[0], row[1])

    def for_endpoint(self, endpoint: str) -> VapidKey:
        """The key a push to ``endpoint`` is signed with: the one it was subscribed for."""
        row = self._db.read_one("SELECT k.id, k.private_key FROM push_endpoint_keys b JOIN vapid_keys k"
                                " ON k.id = b.vapid_key WHERE b.endpoint = ?", (endpoint,))
        return self._parsed(row[0], row[1]) if row else self.current()

    def rotate(self, w: Writer, now: float) -> tuple[VapidKey, VapidKey]:
        """Inside ``w``: make a new current key; every push resource known now stays bound to the key it was
        subscribed for.  Returns ``(old, new)``."""
        new = VapidKey.generate(self._subject)
        old_id, old_pem = self._first(w, now)
        w.execute("INSERT OR IGNORE INTO push_endpoint_keys(endpoint, vapid_key)"
                  " SELECT DISTINCT endpoint, ? FROM push_subscriptions", (old_id,))
        self._insert(w, new, now)
        return self._parsed(old_id, old_pem), new

    def _first(self, w: Writer, now: float) -> tuple[int, str]:
        """Inside ``w``: the current key's row, made (or taken over from the old key file) when there is none."""
        row = w.execute("SELECT id, private_key FROM vapid_keys ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None:
            return row[0], row[1]
        key = self._from_file() or VapidKey.generate(self._subject)
        return self._insert(w, key, now), key.pem().decode("ascii")

    def _from_file(self) -> VapidKey | None:
        if not self._key_file:
            return None
        try:
            with open(self._key_file, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ExtError(f"VAPID key file {self._key_file!r} cannot be read: {e.strerror}") from None
        return VapidKey.from_pem(data, self._subject, origin=f"the file {self._key_file!r}")

    @staticmethod
    def _insert(w: Writer, key: VapidKey, now: float) -> int:
        return w.execute("INSERT INTO vapid_keys(private_key, public_key, created_at) VALUES (?, ?, ?) RETURNING id",
                         (key.pem().decode("ascii"), key.public_key, now)).fetchone()[0]

    def _parsed(self, key_id: int, pem: str) -> VapidKey:
        with self._lock:
            key = self._keys.get(key_id)
            if key is None:
                key = self._keys[key_id] = VapidKey.from_pem(pem.encode("ascii"), self._subject)
            return key

    @staticmethod
    def forget_unused(w: Writer) -> int:
        """Inside ``w``: bindings of push resources no subscription has any more, and old keys none is bound to."""
        w.execute("DELETE FROM push_endpoint_keys WHERE endpoint NOT IN (SELECT endpoint FROM push_subscriptions)")
        return w.execute("DELETE FROM vapid_keys WHERE id < (SELECT MAX(id) FROM vapid_keys)"
                         " AND id NOT IN (SELECT vapid_key FROM push_endpoint_keys)").rowcount
