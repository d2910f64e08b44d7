"""A PostgreSQL that cannot be reached stops the server and the command line with one sentence, never a
traceback, and without the password of the DSN (docs/scale-out.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..server import free_port, make_server


def test_an_unreachable_database_is_named_in_one_line(tmp_path: Path) -> None:
    dsn = f"postgresql://radicale:s3cret@127.0.0.1:{free_port()}/radicale"
    srv = make_server(tmp_path / "server", storage={"postgresql_dsn": dsn})
    with pytest.raises(RuntimeError):
        srv.start()
    log = srv.log()
    assert "radicale-ext: error: PostgreSQL 'user=radicale dbname=radicale host=127.0.0.1" in log, log
    assert "cannot be reached" in log and "postgresql_dsn" in log, log
    assert "Connection refused" in log and "postgresql_dsn" in log and "Traceback" not in log and "s3cret" not in log
    done = srv.cli_process("collection", "list", "alice")
    assert done.returncode != 0 and "PostgreSQL" in done.stderr and "cannot be reached" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr
