"""The delivery queue: one row per (notice, recipient, channel[, device]), delivered at least once.

The row's key is unique, so handing a notice out twice (after a crash)
queues nothing twice; the same key, as the idempotency key, goes with each
attempt (e-mail ``Message-ID``, webhook ``webhook-id``), so a receiver can
drop a repeat.

A worker *claims* due rows with a lease (one ``UPDATE ... RETURNING``: rows
that are queued, due, and not leased or whose lease ran out), so several
workers never hold the same row; a worker that dies leaves its lease to
run out, and another worker takes the row over: at least once (at once, when
the dead worker was a process of the same machine:
:meth:`DeliveryQueue.release_leases`, run when a worker starts).  On
PostgreSQL the claim's sub-select locks the rows it picks ``FOR UPDATE SKIP
LOCKED``, so workers on several hosts claiming at the same moment pick
different rows, none waits for another, and the claim, like the updates of
rows a worker holds, does not wait for the one-writer lock of the other
writes (``Database.write(serial=False)``, docs/scale-out.md).  Each
attempt ends the row's lease with one of:

- delivered;
- failed: tried again after a back-off that doubles (``[hook]
  notices_retry_after``, at most ``notices_retry_max``), dead after
  ``notices_max_attempts`` failures, or at once when retrying cannot help
  (an invalid address, a payload too large);
- dropped: nobody to deliver to any more (the push subscription is gone).

Dead rows stay, with their last error, until an admin retries them
(``radicale-ext notices retry``).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..base.database import SKIP_LOCKED, Database, Writer

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id           INTEGER PRIMARY KEY,
    notice_id    INTEGER NOT NULL REFERENCES change_notices(id) ON DELETE CASCADE,
    recipient    TEXT NOT NULL,
    channel      TEXT NOT NULL,
    target       TEXT NOT NULL DEFAULT '',
    digest       TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'dead', 'dropped')),
    due_at       REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_holder TEXT,
    lease_until  REAL NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   REAL NOT NULL,
    finished_at  REAL,
    UNIQUE (notice_id, recipient, channel, target)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, due_at);
CREATE INDEX IF NOT EXISTS deliveries_by_recipient ON deliveries(recipient, channel)
"""


class State(enum.Enum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    DEAD = "dead"
    DROPPED = "dropped"


def idempotency_key(notice_id: int, recipient: str, channel: str, target: str = "") -> str:
    """The same for every attempt of one delivery, different for every other delivery."""
    digest = hashlib.sha256(f"{notice_id}\x00{recipient}\x00{channel}\x00{target}".encode()).hexdigest()
    return f"n{notice_id}-{digest[:20]}"


@dataclass(frozen=True)
class Delivery:
    id: int
    notice_id: int
    recipient: str
    channel: str
    target: str
    digest: str                 # "" (immediately), "hourly" or "daily"
    state: State
    due_at: float
    attempts: int
    last_error: str
    created_at: float

    @property
    def key(self) -> str:
        return idempotency_key(self.notice_id, self.recipient, self.channel, self.target)


@dataclass(frozen=True)
class Planned:
    """A delivery to queue."""

    notice_id: int
    recipient: str
    channel: str
    due_at: float
    target: str = ""
    digest: str = ""


_COLUMNS = "id, notice_id, recipient, channel, target, digest, state, due_at, attempts, last_error, created_at"


def _delivery(row: Sequence) -> Delivery:
    return Delivery(id=row[0], notice_id=row[1], recipient=row[2], channel=row[3], target=row[4], digest=row[5],
                    state=State(row[6]), due_at=row[7], attempts=row[8], last_error=row[9], created_at=row[10])


class DeliveryQueue:
    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def enqueue(w: Writer, planned: Iterable[Planned], now: float) -> int:
        """Inside ``w``: queue deliveries; one already queued (same key) is left as it is."""
        cur = w.executemany(
            "INSERT OR IGNORE INTO deliveries(notice_id, recipient, channel, target, digest, state, due_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
            [(p.notice_id, p.recipient, p.channel, p.target, p.digest, p.due_at, now) for p in planned])
        return max(0, cur.rowcount)

    def claim(self, holder: str, now: float, lease: float, limit: int = 100) -> list[Delivery]:
        """Take up to ``limit`` due deliveries for ``lease`` seconds."""
        with self._db.write(serial=False) as w:
            rows = w.execute(
                "UPDATE deliveries SET lease_holder = ?, lease_until = ? WHERE id IN ("
                " SELECT id FROM deliveries WHERE state = 'queued' AND due_at <= ? AND lease_until < ?"
                f" ORDER BY due_at, id LIMIT ?{SKIP_LOCKED})"
                f" RETURNING {_COLUMNS}", (holder, now + lease, now, now, limit)).fetchall()
        return sorted((_delivery(r) for r in rows), key=lambda d: (d.due_at, d.id))

    def release_leases(self, gone: Callable[[str], bool], now: float) -> int:
        """Free the claims of holders that ``gone`` says no longer run (a worker killed, a server
        restarted), so their deliveries go out now rather than when the claims run out."""
        holders = [h for (h,) in self._db.read("SELECT DISTINCT lease_holder FROM deliveries WHERE state = 'queued'"
                                               " AND lease_until >= ? AND lease_holder IS NOT NULL", (now,))]
        freed = 0
        for holder in filter(gone, holders):
            with self._db.write(serial=False) as w:
                freed += w.execute("UPDATE deliveries SET lease_holder = NULL, lease_until = 0"
                                   " WHERE state = 'queued' AND lease_holder = ?", (holder,)).rowcount
        return freed

    def renew(self, holder: str, ids: Sequence[int], until: float) -> None:
        with self._db.write(serial=False) as w:
            for chunk in _chunks(ids):
                w.execute(f"UPDATE deliveries SET lease_until = ? WHERE lease_holder = ? AND state = 'queued'"
                          f" AND id IN ({','.join('?' * len(chunk))})", (until, holder, *chunk))

    def delivered(self, holder: str, ids: Sequence[int], now: float) -> int:
        return self._finish(holder, ids, State.DELIVERED, now, "")

    def dropped(self, holder: str, ids: Sequence[int], now: float, reason: str) -> int:
        return self._finish(holder, ids, State.DROPPED, now, reason)

    def failed(self, holder: str, ids: Sequence[int], now: float, error: str, *, permanent: bool,
               max_attempts: int, delay_after: Callable[[int], float]) -> list[Delivery]:
        """Count a failed attempt; dead at ``max_attempts`` failures or when ``permanent``.

        ``delay_after(attempts)`` is the back-off.  Returns the rows as they now are.
        """
        changed = []
        with self._db.write(serial=False) as w:
            for chunk in _chunks(ids):
                rows = w.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE lease_holder = ? AND state = 'queued'"
                                 f" AND id IN ({','.join('?' * len(chunk))})", (holder, *chunk)).fetchall()
                for row in rows:
                    d = _delivery(row)
                    attempts = d.attempts + 1
                    dead = permanent or attempts >= max_attempts
                    w.execute("UPDATE deliveries SET attempts = ?, last_error = ?, state = ?, due_at = ?,"
                              " lease_holder = NULL, lease_until = 0, finished_at = ? WHERE id = ?",
                              (attempts, error[:2000], State.DEAD.value if dead else State.QUEUED.value,
                               d.due_at if dead else now + delay_after(attempts), now if dead else None, d.id))
                    changed.append(d.id)
        return self.get(changed)

    def _finish(self, holder: str, ids: Sequence[int], state: State, now: float, note: str) -> int:
        done = 0
        with self._db.write(serial=False) as w:
            for chunk in _chunks(ids):
                done += w.execute(
                    "UPDATE deliveries SET state = ?, finished_at = ?, last_error = ?, lease_holder = NULL,"
                    " lease_until = 0, attempts = attempts + 1"
                    f" WHERE lease_holder = ? AND state = 'queued' AND id IN ({','.join('?' * len(chunk))})",
                    (state.value, now, note, holder, *chunk)).rowcount
        return done

    # -- for admins -------------------------------------------------------------------

    def get(self, ids: Iterable[int]) -> list[Delivery]:
        found = []
        for chunk in _chunks(list(ids)):
            found += [_delivery(r) for r in self._db.read(
                f"SELECT {_COLUMNS} FROM deliveries WHERE id IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk)]
        return found

    def in_state(self, state: State, limit: int = 1000, recipient: str | None = None) -> list[Delivery]:
        sql, params = f"SELECT {_COLUMNS} FROM deliveries WHERE state = ?", [state.value]
        if recipient is not None:
            sql, params = sql + " AND recipient = ?", [*params, recipient]
        return [_delivery(r) for r in self._db.read(sql + " ORDER BY id LIMIT ?", (*params, limit))]

    def retry(self, ids: Sequence[int] | None, now: float) -> int:
        """Queue dead deliveries again, as new (``ids`` None: every dead one)."""
        with self._db.write() as w:
            if ids is None:
                return w.execute("UPDATE deliveries SET state = 'queued', attempts = 0, due_at = ?,"
                                 " finished_at = NULL WHERE state = 'dead'", (now,)).rowcount
            done = 0
            for chunk in _chunks(ids):
                done += w.execute("UPDATE deliveries SET state = 'queued', attempts = 0, due_at = ?, finished_at = NULL"
                                  f" WHERE state = 'dead' AND id IN ({','.join('?' * len(chunk))})",
                                  (now, *chunk)).rowcount
            return done

    def counts(self) -> dict[tuple[str, str], int]:
        """``(channel, state) -> number of deliveries``."""
        return {(c, s): n for c, s, n in self._db.read(
            "SELECT channel, state, COUNT(*) FROM deliveries GROUP BY channel, state ORDER BY channel, state")}

    def next_due(self) -> float | None:
        row = self._db.read_one("SELECT MIN(due_at) FROM deliveries WHERE state = 'queued'")
        return row[0] if row else None

    @staticmethod
    def forget_user(w: Writer, user: str) -> None:
        w.execute("DELETE FROM deliveries WHERE recipient = ? AND state IN ('queued', 'dead')", (user,))


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
