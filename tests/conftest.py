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
