from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .postgres_cluster import Cluster, start_cluster
from .server import Server, make_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A running server with users alice..grace, shared by one test module."""
    srv = make_server(tmp_path_factory.mktemp("server")).start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path) -> Iterator[Server]:
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
