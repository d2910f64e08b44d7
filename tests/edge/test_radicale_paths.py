"""Radicale's path sanitizing behind a cache (radicale_ext/plugins/radicale_paths.py) answers as Radicale does,
for every path a hostile or unusual client sends, the first time and every time after."""

from __future__ import annotations

import pytest
from radicale import pathutils

import radicale_ext.plugins.recorded_storage  # noqa: F401 - installs it, as the server and the CLI do
from radicale_ext.plugins import radicale_paths

PATHS = [
    "", "/", "//", "///alice//家庭///", "/alice/family/e5.ics", "alice/family/", "/alice/../bob/", "/../../etc/passwd",
    "/alice/./family/./", "/alice/family/..", "/alice/family/../../", "/.//..//./", "/Müller Familie/Schul weg 🚸.ics",
    "/alice/%2e%2e/bob/", "/alice/fam%20ily/", "/alice/family/\u00a0", "/alice/ family /", "/alice\\..\\bob/",
    "/" + "a/" * 300, "/alice/家庭/" + "事" * 500 + ".ics", "..", ".", "/alice/family/.Radicale.props",
]


@pytest.mark.parametrize("path", PATHS)
def test_the_cached_answer_is_radicales_every_time(path: str) -> None:
    expected = radicale_paths.radicales_sanitize_path(path)
    for _ in range(3):
        assert pathutils.sanitize_path(path) == expected
        assert pathutils.strip_path(pathutils.sanitize_path(path)) == pathutils.strip_path(expected)


def test_every_radicale_caller_reaches_the_cache() -> None:
    assert pathutils.sanitize_path is radicale_paths.sanitize_path

    def calls() -> int:
        info = radicale_paths.sanitize_path.cache_info()
        return info.hits + info.misses

    before = calls()
    pathutils.unstrip_path("alice/家庭", True)   # Radicale's own helper asserts through its module's global name
    assert calls() == before + 2   # its own assertion and strip_path's
