"""The history of a person's notification collection, for sync-collection (RFC 6578).

What the collection holds is partly stored (notices) and partly derived on
every listing (the invitations still awaiting the person's answer, see
:mod:`.inbox`), and the derived part changes without any write of ours that
could be hooked: a circle in the admin's groups file gains a member, a share
is withdrawn, an invitation is answered from the CLI.  So the history is kept
the way Radicale keeps a collection's (``multifilesystem/sync.py``): by what
was *seen*.  Whenever the collection is listed with a sync-token (PROPFIND
of the collection, sync-collection REPORT), its listing (each resource name
with its ETag) is compared with the last one recorded; a difference becomes
a new *version*: one row per resource that appeared, changed (its ETag) or
disappeared (no ETag).  A sync-token names a version, so the state behind
every token handed out is exactly the listing answered with it, and the
answer to a later sync is the difference between that state and the current
one: what was added, what changed, what was removed (RFC 6578 section 3.5),
nothing a listing of each would not show.

Versions are numbered across all persons (a token never names a point in an
earlier account's history of the same name).  Versions older than
:data:`KEEP_DAYS` are folded into the oldest one kept; a token naming one of
them (or any other value) is refused with ``DAV:valid-sync-token`` (section
3.2), and the client syncs again from scratch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..base.database import Database, Writer
from ..base.errors import Forbidden

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    user    TEXT NOT NULL,
    at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_versions_by_user ON inbox_versions(user, version);
CREATE TABLE IF NOT EXISTS inbox_history (
    user    TEXT NOT NULL,
    name    TEXT NOT NULL,
    version INTEGER NOT NULL,
    etag    TEXT,
    PRIMARY KEY (user, name, version)
);
CREATE INDEX IF NOT EXISTS inbox_history_by_version ON inbox_history(user, version)
"""

KEEP_DAYS = 60  # a device that has not synced for longer syncs everything again

# resource name -> ETag: one listing of the collection
Listing = Mapping[str, str]

# the latest recorded state of each resource of one person (gone ones have no ETag), and their latest version
_RECORDED = """
SELECT (SELECT max(version) FROM inbox_versions WHERE user = :user), h.name, h.etag
FROM (SELECT 1) AS one LEFT JOIN (
    SELECT name, etag FROM (
        SELECT name, etag, row_number() OVER (PARTITION BY name ORDER BY version DESC) AS latest
        FROM inbox_history WHERE user = :user) AS ranked
    WHERE latest = 1 AND etag IS NOT NULL) h ON true
"""


class UnknownVersion(Forbidden):
    """A sync-token that names no point of this collection's history we still know (RFC 6578 section 3.2)."""

    precondition = "D:valid-sync-token"


@dataclass(frozen=True)
class Changes:
    """What differs between a version and the current listing."""

    version: int                  # the current listing's version: the new sync-token
    changed: frozenset[str]       # added or with another ETag
    removed: frozenset[str]


class InboxHistory:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def record(self, user: str, listing: Listing) -> int:
        """The version whose state is ``listing``: the latest one, or a new one when it differs."""
        version, recorded = self._recorded(self._db.read(_RECORDED, {"user": user}))
        if version is not None and recorded == listing:
            return version
        with self._db.write() as w:
            version, recorded = self._recorded(w.execute(_RECORDED, {"user": user}).fetchall())
            if version is not None and recorded == listing:
                return version
            now = self._clock()
            version = w.execute("INSERT INTO inbox_versions(user, at) VALUES (?, ?) RETURNING version",
                                (user, now)).fetchone()[0]
            rows = [(user, name, version, etag) for name, etag in listing.items() if recorded.get(name) != etag]
            rows += [(user, name, version, None) for name in recorded if name not in listing]
            w.executemany("INSERT INTO inbox_history(user, name, version, etag) VALUES (?, ?, ?, ?)", rows)
            self._fold(w, user, now - KEEP_DAYS * 86400)
            return int(version)

    def changes(self, user: str, since: int, listing: Listing) -> Changes:
        """What ``listing`` (now recorded) adds, changes and removes since version ``since`` of ``user``.

        Raises :class:`UnknownVersion` when ``since`` is not (or no longer) a version of theirs.
        """
        version = self.record(user, listing)  # first: recording may forget old versions
        if self._db.read_one("SELECT 1 FROM inbox_versions WHERE user = ? AND version = ?", (user, since)) is None:
            raise UnknownVersion("the sync-token is unknown or too old (a device that has not synced for "
                                 f"{KEEP_DAYS} days); sync again without a token")
        touched = [r[0] for r in self._db.read(
            "SELECT DISTINCT name FROM inbox_history WHERE user = ? AND version > ?", (user, since))]
        then: dict[str, str] = {}
        for start in range(0, len(touched), 500):
            chunk = touched[start:start + 500]
            for name, etag in self._db.read(
                    "SELECT name, etag FROM (SELECT name, etag, row_number() OVER (PARTITION BY name ORDER BY version"
                    " DESC) AS latest FROM inbox_history WHERE user = ? AND version <= ?"
                    f" AND name IN ({','.join('?' * len(chunk))})) AS ranked WHERE latest = 1 AND etag IS NOT NULL",
                    (user, since, *chunk)):
                then[name] = etag
        changed = frozenset(n for n in touched if n in listing and then.get(n) != listing[n])
        removed = frozenset(n for n in touched if n in then and n not in listing)
        return Changes(version=version, changed=changed, removed=removed)

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM inbox_history WHERE user = ?", (user,))
        w.execute("DELETE FROM inbox_versions WHERE user = ?", (user,))

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _recorded(rows: list[tuple]) -> tuple[int | None, dict[str, str]]:
        version = rows[0][0] if rows else None
        return version, {name: etag for _v, name, etag in rows if name is not None}

    @staticmethod
    def _fold(w: Writer, user: str, before: float) -> None:
        """Forget the versions made before ``before`` but the latest: their changes become part of the
        oldest version kept, and tokens naming them are refused from now on."""
        row = w.execute("SELECT min(version) FROM inbox_versions WHERE user = ? AND (at >= ? OR version ="
                        " (SELECT max(version) FROM inbox_versions WHERE user = ?))", (user, before, user)).fetchone()
        oldest = row[0]
        if oldest is None:
            return
        w.execute("DELETE FROM inbox_versions WHERE user = ? AND version < ?", (user, oldest))
        w.execute("DELETE FROM inbox_history WHERE user = :user AND version < :oldest AND (etag IS NULL OR EXISTS ("
                  "SELECT 1 FROM inbox_history later WHERE later.user = :user AND later.name = inbox_history.name"
                  " AND later.version > inbox_history.version AND later.version <= :oldest))",
                  {"user": user, "oldest": oldest})
        w.execute("UPDATE inbox_history SET version = ? WHERE user = ? AND version < ?", (oldest, user, oldest))
