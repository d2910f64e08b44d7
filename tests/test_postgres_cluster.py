"""The private PostgreSQL server the PostgreSQL tests use really runs, on loopback, and keeps data
in UTF-8 (names such as 家庭 and Müller)."""

from __future__ import annotations

import psycopg


def test_a_private_postgresql_answers_on_loopback_in_utf8(postgres, postgres_database):
    assert postgres.dsn.startswith("postgresql://") and "@127.0.0.1:" in postgres.dsn
    with psycopg.connect(postgres_database) as conn:
        conn.execute("CREATE TABLE t (name TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (%s), (%s)", ("家庭", "Müller 🎉"))
        names = sorted(row[0] for row in conn.execute("SELECT name FROM t"))
        encoding = conn.execute("SHOW server_encoding").fetchone()[0]
    assert names == ["Müller 🎉", "家庭"] and encoding == "UTF8"
