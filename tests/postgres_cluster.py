"""A private PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a fresh cluster in a
temporary folder (``initdb``), started with ``pg_ctl`` on a free port of 127.0.0.1, stopped and removed
afterwards.  PostgreSQL refuses to run as root, so when the tests run as root (CI) the cluster belongs
to Debian's ``postgres`` account and runs as that user.

A missing PostgreSQL fails with one line saying how to install it (``apt-get install postgresql``):
the PostgreSQL tests are part of the suite, never skipped.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .server import free_port

INSTALL = "the PostgreSQL tests need Debian's postgresql package: apt-get install postgresql"
SUPERUSER = "radicale_ext"


def _bin_dir() -> Path | None:
    """The folder of Debian's newest PostgreSQL server binaries, or one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


def _as_owner() -> tuple[list[str], int | None, int | None]:
    """The command prefix and ids to run PostgreSQL with: as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    account = pwd.getpwnam("postgres")
    return ["runuser", "-u", "postgres", "--"], account.pw_uid, account.pw_gid


@dataclass
class Cluster:
    folder: Path
    port: int
    prefix: list[str]
    bin_dir: Path

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def dsn_of(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its DSN."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn_of(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        subprocess.run([*self.prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster() -> Cluster:
    """initdb + pg_ctl start; raises RuntimeError (with INSTALL) when PostgreSQL is not installed."""
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise RuntimeError(INSTALL)
    prefix, uid, gid = _as_owner()
    folder = Path(tempfile.mkdtemp(prefix="radicale-ext-pg-"))
    if uid is not None:
        os.chown(folder, uid, gid)
    data = folder / "data"
    run = {"capture_output": True, "text": True, "timeout": 120}
    done = subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust",
                           "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], **run)
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
    port = free_port()
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    done = subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                           "-l", str(folder / "log"), "-w", "-t", "60", "start"], **run)
    if done.returncode != 0:
        log = (folder / "log").read_text(errors="replace") if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()} {log[-500:]}")
    cluster = Cluster(folder, port, prefix, bin_dir)
    _wait_ready(cluster)
    return cluster


def _wait_ready(cluster: Cluster, seconds: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + seconds
    while True:
        try:
            with psycopg.connect(cluster.dsn, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
