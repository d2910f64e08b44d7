from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import server as server_module
from .postgres_cluster import Cluster, start_cluster
from .server import Server, make_server

# The contract suite: every test of these folders (and files) runs on both engines of the sharing database,
# SQLite and PostgreSQL (docs/scale-out.md); the servers they make get a new PostgreSQL database each.
# A module-scoped fixture that makes a server must request ``sharing_database`` (as ``server`` does), so
# that it is made once per engine.
# (tests/test_database.py is about the SQLite file itself; tests/test_sharing_database.py runs the seam's tests,
# those with an ``opener``, on both.)
CONTRACT = ("tests/sharing/", "tests/notices/", "tests/cards/", "tests/links/", "tests/reminders/")
BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = metafunc.definition.path.relative_to(Path(__file__).parent.parent).as_posix()
    if "sharing_database" in metafunc.fixturenames and (path.startswith(CONTRACT) or "opener" in metafunc.fixturenames):
        metafunc.parametrize("sharing_database", BACKENDS, indirect=True, scope="module")


_DATABASE_NUMBERS = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    # the suite's servers are forked from a process that imported the server's modules once
    server_module.FORKED_STARTS = True


@pytest.fixture(scope="module", autouse=True)
def sharing_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """Which engine the sharing database of the servers this module makes runs on: "sqlite" (the embedded
    default), or "postgresql" in the contract folders' second run (a new database of the private cluster per
    server, see tests/server.py ``new_sharing_database``)."""
    backend = getattr(request, "param", "sqlite")
    if backend != "postgresql":
        yield backend
        return
    cluster: Cluster = request.getfixturevalue("postgres")

    def new_database() -> str:
        # numbered per process, not per module: a worker that steals tests may set a module up twice
        return cluster.create_database(f"s{os.getpid()}_{next(_DATABASE_NUMBERS)}")

    server_module.new_sharing_database = new_database
    try:
        yield backend
    finally:
        server_module.new_sharing_database = None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sharing_database: str) -> Iterator[Server]:
    """A running server with users alice..grace, shared by one test module."""
    srv = make_server(tmp_path_factory.mktemp("server")).start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path, sharing_database: str) -> Iterator[Server]:
    """A running server of this test's own."""
    srv = make_server(tmp_path / "server").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A private PostgreSQL server (tests/postgres_cluster.py), one per test process; a missing
    PostgreSQL fails the test with one line saying how to install it."""
    try:
        cluster = start_cluster()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_database(postgres: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """The DSN of a new, empty database of this test's own, dropped afterwards."""
    name = f"t{abs(hash(request.node.nodeid)) % 10**12}_{os.getpid()}"
    dsn = postgres.create_database(name)
    yield dsn
    postgres.drop_database(name)


@pytest.fixture(scope="module")
def module_postgres_database(postgres: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """The DSN of a new, empty database shared by one test module (cheaper than one per test)."""
    name = f"m{abs(hash(request.module.__name__)) % 10**12}_{os.getpid()}"
    dsn = postgres.create_database(name)
    yield dsn
    postgres.drop_database(name)


@pytest.fixture(scope="module", params=["files", "postgresql"])
def storage_backend(request: pytest.FixtureRequest) -> dict[str, dict[str, str]]:
    """``make_server`` overrides for each storage: files (the embedded default) and PostgreSQL (a database of
    this module's own); a test module using it runs once on each."""
    if request.param == "files":
        return {}
    dsn = request.getfixturevalue("module_postgres_database")
    return {"storage": {"postgresql_dsn": dsn, "postgresql_pool_size": "4"}}
