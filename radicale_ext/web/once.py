"""A new share link's address, held from the form that made it to the page that shows it.

The server keeps only a hash of a link's secret (:mod:`radicale_ext.links.tokens`), so the address
can be shown once.  After the form's POST the browser is sent on (303) to the page that shows it
(docs/web.md, "Links"), which another server process may answer (``radicale-ext serve --processes``,
docs/scale-out.md), or another host.  In between, the address waits in the page's database, beside
the sessions, sealed (AES-GCM) with a key made from the session's id: the browser holds that id, the
database only its digest, so what is stored opens for that session's next page and for nobody who
reads the database.  The first page that shows it takes it (the row is deleted); it is dropped after
:attr:`ShownOnce.keep_for` seconds when no page asks for it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..base.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS shown_once (
    session_digest TEXT NOT NULL,
    link_id        TEXT NOT NULL,
    sealed         BLOB NOT NULL,
    kept_at        REAL NOT NULL,
    PRIMARY KEY (session_digest, link_id)
)
"""

_NONCE_BYTES = 12


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def _key(session_id: str) -> bytes:
    """The sealing key: another hash of the id than the digest the database keeps (web/sessions.py)."""
    return hashlib.sha256(b"radicale-ext shown once\0" + session_id.encode("utf-8", "replace")).digest()


class ShownOnce:
    def __init__(self, db: Database, keep_for: float = 600, clock: Callable[[], float] = time.time) -> None:
        self.keep_for = keep_for
        self._db = db
        self._clock = clock
        with db.write() as w:   # one process at a time makes the table
            w.executescript_safe(SCHEMA)

    def keep(self, session_id: str, link_id: str, token: str) -> None:
        """Hold ``token`` for the next page of the session ``session_id`` that asks for ``link_id``."""
        now = self._clock()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + AESGCM(_key(session_id)).encrypt(nonce, token.encode(), link_id.encode())
        with self._db.write(serial=False) as w:
            w.execute("DELETE FROM shown_once WHERE kept_at < ? OR (session_digest = ? AND link_id = ?)",
                      (now - self.keep_for, _digest(session_id), link_id))
            w.execute("INSERT INTO shown_once (session_digest, link_id, sealed, kept_at) VALUES (?, ?, ?, ?)",
                      (_digest(session_id), link_id, sealed, now))

    def take(self, session_id: str, link_id: str) -> str | None:
        """The token, once; ``None`` when it was taken already, is too old, or another session asks."""
        with self._db.write(serial=False) as w:
            row = w.execute("DELETE FROM shown_once WHERE session_digest = ? AND link_id = ? "
                            "RETURNING sealed, kept_at", (_digest(session_id), link_id)).fetchone()
        if row is None or self._clock() - row[1] > self.keep_for:
            return None
        sealed = bytes(row[0])
        try:
            token = AESGCM(_key(session_id)).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], link_id.encode())
        except InvalidTag:
            return None
        return token.decode()
