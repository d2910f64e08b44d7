"""Setting up and starting the server says nothing false or alarming (issue 13, README section).

``./dev serve`` installs the project (``pip install -e .``), then starts the
server; a newcomer read setuptools' deprecation warnings from the first and
``auth.cache_logins: False`` from the second, although good logins are
remembered (radicale_ext/plugins/auth.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..server import PROJECT, make_server


def test_the_start_up_log_says_how_logins_are_remembered(tmp_path: Path) -> None:
    srv = make_server(tmp_path / "server", logging={"level": "info"}).start()
    try:
        assert srv.request("PROPFIND", "/alice/", "alice", headers={"Depth": "0"}).status_code == 207
    finally:
        srv.stop()
    log = srv.log()
    assert "auth.cache_logins: False" not in log, log
    assert "a good login is remembered for 300 s while the users file is unchanged" in log, log


@pytest.mark.parametrize("editable", [True, False], ids=["editable", "wheel"])
def test_installing_the_project_prints_no_setuptools_warnings(tmp_path: Path, editable: bool) -> None:
    """What ``./dev`` runs, ``pip install --quiet -e .``, on a copy of the project renamed so that pip
    leaves this virtual environment's own installation alone, with its setuptools (no download)."""
    copy = tmp_path / "project"
    copy.mkdir()
    (copy / "pyproject.toml").write_text((PROJECT / "pyproject.toml").read_text().replace(
        'name = "radicale-ext"', 'name = "radicale-ext-copy"', 1))
    shutil.copy(PROJECT / "README.md", copy / "README.md")
    shutil.copytree(PROJECT / "radicale_ext", copy / "radicale_ext", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--prefix", str(tmp_path / "installed"), *(["-e"] if editable else []), str(copy)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "deprecated" not in done.stderr, done.stderr
