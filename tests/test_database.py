"""The sharing database: a missing, emptied, locked or corrupt file is a clear
error at start-up (server and CLI), never a silently empty share list."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from radicale_ext.base.database import MARKER_NAME, SCHEMA_VERSION, Database
from radicale_ext.base.errors import DatabaseUnavailable

from .server import Server, make_server

# -- the Database class on its own ------------------------------------------------


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(database path, collections folder) of a data folder used once."""
    db_path, collections = tmp_path / "sharing.sqlite", tmp_path / "collections"
    db = Database.open(str(db_path), marker_folder=str(collections))
    with db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES ('family', 0)")
    db.close()
    return db_path, collections


def reopen(folders: tuple[Path, Path], **kwargs) -> Database:
    return Database.open(str(folders[0]), marker_folder=str(folders[1]), **kwargs)


def test_first_open_creates_database_and_marker(folders: tuple[Path, Path]) -> None:
    db_path, collections = folders
    db = reopen(folders)
    stored = db.read_one("SELECT value FROM meta WHERE key = 'database_id'")
    assert stored is not None
    assert (collections / MARKER_NAME).read_text().strip() == stored[0]
    assert db.read("SELECT name FROM circles") == [("family",)]
    db.close()


def test_missing_database_is_not_recreated(folders: tuple[Path, Path]) -> None:
    db_path, _ = folders
    db_path.unlink()
    with pytest.raises(DatabaseUnavailable, match=r"is missing, but the data folder was used with one .*"
                                                  r"restore the database from backup, or delete the marker"):
        reopen(folders)
    assert not db_path.exists()


def test_missing_database_with_its_journal_left_behind_is_reported(folders: tuple[Path, Path]) -> None:
    db_path, _ = folders
    Path(f"{db_path}-wal").write_bytes(b"")
    db_path.unlink()
    with pytest.raises(DatabaseUnavailable, match="is missing"):
        reopen(folders)


def test_missing_database_and_marker_start_afresh(folders: tuple[Path, Path]) -> None:
    db_path, collections = folders
    db_path.unlink()
    (collections / MARKER_NAME).unlink()
    db = reopen(folders)
    assert db.read("SELECT name FROM circles") == []
    db.close()


def test_emptied_database_is_reported_and_left_as_it_is(folders: tuple[Path, Path]) -> None:
    db_path, _ = folders
    db_path.write_bytes(b"")
    with pytest.raises(DatabaseUnavailable, match=r"is empty, but the data folder was used with one"):
        reopen(folders)
    assert db_path.stat().st_size == 0


def test_database_of_another_data_folder_is_refused(folders: tuple[Path, Path], tmp_path: Path) -> None:
    db_path, _ = folders
    other = tmp_path / "other.sqlite"
    Database.open(str(other), marker_folder=str(tmp_path / "other-collections")).close()
    shutil.copy(other, db_path)
    with pytest.raises(DatabaseUnavailable, match=r"does not belong to this data folder"):
        reopen(folders)


def _garbage_header(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(os.urandom(100))


def _garbage_page(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(os.urandom(4096))


def _truncated(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


@pytest.mark.parametrize("damage", [_garbage_header, _garbage_page, _truncated])
def test_corrupt_database_is_reported_and_left_as_it_is(folders: tuple[Path, Path],
                                                        damage: Callable[[Path], None]) -> None:
    db_path, _ = folders
    damage(db_path)
    before = db_path.read_bytes()
    with pytest.raises(DatabaseUnavailable, match=r"is corrupt \(.+\); restore it from backup$"):
        reopen(folders)
    assert db_path.read_bytes() == before


def test_locked_database_is_reported(folders: tuple[Path, Path]) -> None:
    holder = sqlite3.connect(folders[0], isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseUnavailable, match=r"is locked by another program \(waited 0.2 s\); "
                                                      r"stop that program and try again$"):
            reopen(folders, busy_timeout_ms=200)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    reopen(folders).close()


def test_newer_schema_is_refused(folders: tuple[Path, Path]) -> None:
    conn = sqlite3.connect(folders[0])
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseUnavailable, match=r"newer than this radicale-ext understands"):
        reopen(folders)


# -- transactions -------------------------------------------------------------------


def test_a_failed_write_stores_nothing_and_the_next_write_works(folders: tuple[Path, Path]) -> None:
    db = reopen(folders)
    with pytest.raises(RuntimeError), db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES ('team', 0)")
        raise RuntimeError("stop")
    assert db.read("SELECT name FROM circles ORDER BY name") == [("family",)]
    with db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES ('team', 0)")
    assert db.read("SELECT name FROM circles ORDER BY name") == [("family",), ("team",)]
    db.close()


def test_constraint_errors_are_not_mistaken_for_a_broken_file(folders: tuple[Path, Path]) -> None:
    db = reopen(folders)
    with pytest.raises(sqlite3.IntegrityError), db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES ('family', 0)")
    db.close()


def test_a_write_while_another_program_holds_the_lock_fails_cleanly(folders: tuple[Path, Path]) -> None:
    db = reopen(folders, busy_timeout_ms=100)
    holder = sqlite3.connect(folders[0], isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseUnavailable, match="is locked by another program"), db.write() as w:
            w.execute("INSERT INTO circles(name, created_at) VALUES ('team', 0)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with db.write() as w:  # no transaction was left open
        w.execute("INSERT INTO circles(name, created_at) VALUES ('team', 0)")
    assert db.read_one("SELECT count(*) FROM circles") == (2,)
    db.close()


def test_version_changes_on_every_commit_of_anyone(folders: tuple[Path, Path]) -> None:
    db = reopen(folders)
    first = db.version()
    with db.write() as w:
        w.execute("INSERT INTO circles(name, created_at) VALUES ('team', 0)")
    second = db.version()
    assert second != first
    other = sqlite3.connect(folders[0])
    other.execute("DELETE FROM circles WHERE name = 'team'")
    other.commit()
    other.close()
    assert db.version() != second
    db.close()


# -- the real server process and the real console script ------------------------------

SHARE_LIST = ("share", "list", "alice/family")


@pytest.fixture
def used_server(tmp_path: Path) -> Iterator[Server]:
    """A server that was started, used (one share) and stopped."""
    srv = make_server(tmp_path / "server").start()
    try:
        assert srv.request("MKCALENDAR", "/alice/family/", "alice").status_code == 201
        assert srv.cli_process("share", "add", "alice/family", "--user", "bob", "--role",
                               "subscriber").returncode == 0
    finally:
        srv.stop()
    yield srv
    srv.stop()


def _database(srv: Server) -> Path:
    return srv.root / "data" / "sharing.sqlite"


def _checkpoint(srv: Server) -> None:
    """Move everything from the write-ahead log into the file, as a clean shutdown does."""
    conn = sqlite3.connect(_database(srv))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert not Path(f"{_database(srv)}-wal").exists()


def _delete(srv: Server) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{_database(srv)}{suffix}").unlink(missing_ok=True)


def _empty(srv: Server) -> None:
    _checkpoint(srv)
    _database(srv).write_bytes(b"")


def _garbage(srv: Server) -> None:
    _checkpoint(srv)
    path = _database(srv)
    path.write_bytes(os.urandom(path.stat().st_size))


BREAKS = {
    "missing": (_delete, "is missing, but the data folder was used with one"),
    "emptied": (_empty, "is empty, but the data folder was used with one"),
    "corrupt": (_garbage, "is corrupt (file is not a database); restore it from backup"),
}


def _assert_one_clear_line(stderr: str, sentence: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("radicale-ext: error: sharing database ")
    assert sentence in lines[0]


def _assert_server_refuses_to_start(srv: Server, sentence: str) -> None:
    with pytest.raises(RuntimeError, match="server exited with 1"):
        srv.start()
    assert srv.proc is not None and srv.proc.returncode == 1
    log = srv.log()
    assert "Traceback" not in log
    told = [line for line in log.splitlines() if "sharing database" in line]
    assert len(told) == 1, log
    assert sentence in told[0]


@pytest.mark.parametrize("name", BREAKS)
def test_server_and_cli_refuse_a_broken_database(used_server: Server, name: str) -> None:
    damage, sentence = BREAKS[name]
    damage(used_server)
    before = _database(used_server).read_bytes() if _database(used_server).exists() else None

    _assert_server_refuses_to_start(used_server, sentence)
    for argv in (SHARE_LIST, ("serve",)):
        result = used_server.cli_process(*argv)
        assert result.returncode == 1 and result.stdout == ""
        _assert_one_clear_line(result.stderr, sentence)

    after = _database(used_server).read_bytes() if _database(used_server).exists() else None
    assert after == before, "a failed start must leave the database as it found it"


def test_server_and_cli_refuse_a_locked_database(used_server: Server) -> None:
    sentence = "is locked by another program (waited 5 s); stop that program and try again"
    holder = sqlite3.connect(_database(used_server), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    cli: dict[str, object] = {}
    # both wait out the 5 s busy timeout: run them side by side
    worker = threading.Thread(target=lambda: cli.update(result=used_server.cli_process(*SHARE_LIST)))
    worker.start()
    try:
        _assert_server_refuses_to_start(used_server, sentence)
        worker.join(60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    result = cli["result"]
    assert result.returncode == 1 and result.stdout == ""  # type: ignore[attr-defined]
    _assert_one_clear_line(result.stderr, sentence)  # type: ignore[attr-defined]

    # once the other program lets go, everything is back, shares included
    assert used_server.cli_process(*SHARE_LIST).stdout == "bob: subscriber via direct (subscriber)\n"
    used_server.start()
    assert used_server.request("PROPFIND", "/bob/family~alice/", "bob",
                               headers={"Depth": "0"}).status_code == 207


def test_a_lost_write_ahead_log_is_not_mistaken_for_corruption(used_server: Server) -> None:
    """Garbage over the file while the server's log still holds every page: nothing is lost."""
    path = _database(used_server)
    assert Path(f"{path}-wal").exists()
    path.write_bytes(os.urandom(path.stat().st_size))
    result = used_server.cli_process(*SHARE_LIST)
    assert (result.returncode, result.stdout) == (0, "bob: subscriber via direct (subscriber)\n")


@pytest.mark.parametrize(("section", "option"), [("sharing", "links_base_ulr"), ("storage", "filesystem_foldr"),
                                               ("hook", "notices_windw")])
def test_a_misspelt_option_stops_the_server_with_one_clear_line(tmp_path, section: str, option: str) -> None:
    server = make_server(tmp_path / "typo", **{section: {option: "x"}})
    with pytest.raises(RuntimeError):
        server.start()
    assert f"unknown option {option!r} in section [{section}]" in server.log()
    assert "Traceback" not in server.log()
