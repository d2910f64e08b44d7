"""WebDAV-Push subscriptions: which device wants a push when which collection changes.

A subscription belongs to a person and one collection (the owner's path;
the person may have subscribed through their mount of it).  Its identity
is the push resource: registering the same push resource for the same
collection again updates it (new keys, new expiry) instead of adding one.
Each lives until its expiry (the client's wish, at most
``[hook] notices_push_max_days``), until its device unsubscribes (DELETE of
its registration URL), or until the push service answers 404 or 410 for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from ...base.database import Database, Writer
from ...base.errors import NotFound
from ..outbound import BadDestination, Outbound
from .webdav_push import InvalidSubscription, Registration

SCHEMA = """
CREATE TABLE IF NOT EXISTS push_subscriptions (
    id              TEXT PRIMARY KEY,
    user            TEXT NOT NULL,
    collection      TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    public_key      TEXT NOT NULL,
    auth_secret     TEXT NOT NULL,
    content_update  INTEGER NOT NULL,
    property_update INTEGER NOT NULL,
    expires_at      REAL NOT NULL,
    created_at      REAL NOT NULL,
    UNIQUE (collection, endpoint)
);
CREATE INDEX IF NOT EXISTS push_subscriptions_by_collection ON push_subscriptions(collection, user);
CREATE INDEX IF NOT EXISTS push_subscriptions_by_user ON push_subscriptions(user)
"""

DAY = 86400.0
MIN_LIFE = 3 * DAY   # the draft: a server MUST allow subscriptions to be valid at least three days


@dataclass(frozen=True)
class PushSubscription:
    id: str
    user: str
    collection: str
    endpoint: str
    public_key: str
    auth_secret: str
    content_update: bool
    property_update: bool
    expires_at: float
    created_at: float


_COLUMNS = ("id, user, collection, endpoint, public_key, auth_secret, content_update, property_update, "
            "expires_at, created_at")


def _subscription(row: tuple) -> PushSubscription:
    return PushSubscription(id=row[0], user=row[1], collection=row[2], endpoint=row[3], public_key=row[4],
                            auth_secret=row[5], content_update=bool(row[6]), property_update=bool(row[7]),
                            expires_at=row[8], created_at=row[9])


class PushSubscriptions:
    def __init__(self, db: Database, *, outbound: Outbound, max_days: float) -> None:
        self._db = db
        self._outbound = outbound
        self._max_life = max(MIN_LIFE, max_days * DAY)

    def register(self, user: str, collection: str, registration: Registration, now: float
                 ) -> tuple[PushSubscription, bool]:
        """Add or update the subscription; returns it and whether it is new.

        Raises :class:`InvalidSubscription` for a push resource that is not
        an (https) URL, whose host does not resolve, or that leads to the
        server's own machine or networks (:mod:`radicale_ext.notices.outbound`).
        """
        try:
            self._outbound.check(registration.endpoint, what="push resource")
        except BadDestination as e:
            raise InvalidSubscription(str(e)) from None
        wished = registration.expires
        expires = now + self._max_life if wished is None or wished <= now else min(wished, now + self._max_life)
        with self._db.write() as w:
            row = w.execute("SELECT id FROM push_subscriptions WHERE collection = ? AND endpoint = ?",
                            (collection, registration.endpoint)).fetchone()
            new = row is None
            sub_id = secrets.token_urlsafe(16) if new else row[0]
            w.execute(f"INSERT OR REPLACE INTO push_subscriptions({_COLUMNS}) VALUES ({', '.join('?' * 10)})",
                      (sub_id, user, collection, registration.endpoint, registration.public_key,
                       registration.auth_secret, int(registration.content_update),
                       int(registration.property_update), expires, now))
        found = self.get(sub_id)
        assert found is not None
        return found, new

    def get(self, sub_id: str) -> PushSubscription | None:
        row = self._db.read_one(f"SELECT {_COLUMNS} FROM push_subscriptions WHERE id = ?", (sub_id,))
        return _subscription(row) if row else None

    def unsubscribe(self, user: str, sub_id: str) -> None:
        """The device's DELETE of its registration URL.  Raises :class:`NotFound`."""
        with self._db.write() as w:
            if not w.execute("DELETE FROM push_subscriptions WHERE id = ? AND user = ?", (sub_id, user)).rowcount:
                raise NotFound("no such push subscription (it expired, or was removed)")

    def remove(self, sub_id: str) -> bool:
        """The push service said the subscription is gone (404/410)."""
        with self._db.write() as w:
            return w.execute("DELETE FROM push_subscriptions WHERE id = ?", (sub_id,)).rowcount > 0

    def active_for(self, users: Iterable[str], collections: Iterable[str], now: float
                   ) -> dict[str, list[PushSubscription]]:
        """Each user's live subscriptions on any of ``collections``."""
        wanted = set(users)
        found: dict[str, list[PushSubscription]] = {}
        collections = list(collections)
        marks = ",".join("?" * len(collections))
        for row in self._db.read(f"SELECT {_COLUMNS} FROM push_subscriptions WHERE collection IN ({marks})"
                                 " AND expires_at > ? ORDER BY user, created_at", (*collections, now)):
            sub = _subscription(row)
            if sub.user in wanted:
                found.setdefault(sub.user, []).append(sub)
        return found

    def of_user(self, user: str) -> list[PushSubscription]:
        rows = self._db.read(f"SELECT {_COLUMNS} FROM push_subscriptions WHERE user = ? ORDER BY created_at", (user,))
        return [_subscription(r) for r in rows]

    @staticmethod
    def forget_expired(w: Writer, now: float) -> int:
        return w.execute("DELETE FROM push_subscriptions WHERE expires_at <= ?", (now,)).rowcount

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM push_subscriptions WHERE user = ?", (user,))
