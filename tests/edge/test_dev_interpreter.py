"""Which interpreter ``./dev`` makes ``.venv`` with (README, docs/performance.md "The interpreter"):
``$PYTHON`` where set, else the distribution's ``/usr/bin/python3`` (3.11 or newer, able to make a
virtual environment), else ``python3`` from the ``PATH``.

``./dev``'s own ``make_venv`` runs in bash (cut out of the script, so that nothing else of it runs),
with stand-in interpreters that make the environment's ``bin/python`` and say which one they are:
a real one takes seconds and would not say which it was asked to be.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from ..server import PROJECT


def make_venv_function() -> str:
    """The lines of ./dev from the distribution's interpreter's path to the end of ``make_venv``."""
    text = (PROJECT / "dev").read_text()
    found = re.search(r"^DISTRIBUTION_PYTHON=.*?^make_venv\(\) \{.*?^\}$", text, re.S | re.M)
    assert found, "./dev has no make_venv"
    return found.group(0)


def stand_in(path: Path, name: str, version_ok: bool = True, venv_ok: bool = True) -> Path:
    """An interpreter that answers the version check, and makes DIR/bin/python on ``-m venv DIR`` (or
    fails halfway, leaving DIR behind), writing ``name`` into DIR/made-by."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""#!/bin/sh
if [ "$1" = -c ]; then exit {0 if version_ok else 1}; fi
if [ "$1" = -m ] && [ "$2" = venv ]; then
    mkdir -p "$3/bin"
    {'' if venv_ok else 'echo "Error: ensurepip is not available" >&2; exit 1'}
    echo {shlex.quote(name)} > "$3/made-by"; touch "$3/bin/python"; exit 0
fi
exit 2
""")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def made_by(tmp_path: Path, distribution: Path, python: Path | None = None) -> str:
    """Run make_venv in ``tmp_path``; which stand-in made .venv (``python3`` on the PATH says "path")."""
    stand_in(tmp_path / "path" / "python3", "path")
    env = {"PATH": f"{tmp_path / 'path'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    if python is not None:
        env["PYTHON"] = str(python)
    script = (f"set -euo pipefail\ncd {tmp_path}\nVENV=.venv\n{make_venv_function()}\n"
              f"DISTRIBUTION_PYTHON={distribution}\nmake_venv\n")
    subprocess.run(["bash", "-c", script], env=env, check=True, capture_output=True, timeout=30)
    return (tmp_path / ".venv" / "made-by").read_text().strip()


def test_the_distributions_interpreter_first(tmp_path: Path) -> None:
    assert made_by(tmp_path, stand_in(tmp_path / "usr" / "python3", "debian")) == "debian"


def test_python_names_the_interpreter_before_the_distributions(tmp_path: Path) -> None:
    own = stand_in(tmp_path / "own" / "python3.11 Müller", "Müller's 家庭 🎉")
    assert made_by(tmp_path, stand_in(tmp_path / "usr" / "python3", "debian"), own) == "Müller's 家庭 🎉"


@pytest.mark.parametrize("why", ["none there", "older than 3.11", "no venv module"])
def test_else_python3_from_the_path(tmp_path: Path, why: str) -> None:
    distribution = tmp_path / "usr" / "python3"
    if why == "older than 3.11":
        stand_in(distribution, "debian", version_ok=False)
    elif why == "no venv module":
        stand_in(distribution, "debian", venv_ok=False)   # leaves a half-made .venv, which goes
    assert made_by(tmp_path, distribution) == "path"
    assert sorted(os.listdir(tmp_path / ".venv")) == ["bin", "made-by"]


def test_the_script_itself_uses_make_venv_where_there_is_no_venv() -> None:
    text = (PROJECT / "dev").read_text()
    assert re.search(r'if \[ ! -x "\$VENV/bin/python" \]; then\s+make_venv\s+fi', text), text[:2000]
    assert re.search(r"^DISTRIBUTION_PYTHON=/usr/bin/python3$", text, re.M)
