from __future__ import annotations

from collections.abc import Iterator

import pytest

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
