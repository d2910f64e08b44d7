"""The shape the architecture promises: the core never imports Radicale nor
our plugins, and the plugins are importable only as ``radicale_ext.plugins``."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
CORE = sorted(p for p in (PROJECT / "radicale_ext").rglob("*.py") if "plugins" not in p.relative_to(PROJECT).parts)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PROJECT)))
def test_the_core_never_imports_radicale_or_the_plugins(path: Path) -> None:
    bad = [m for m in _imports(path)
           if m == "radicale" or m.startswith("radicale.") or "plugins" in m.split(".")]
    assert bad == [], f"{path.relative_to(PROJECT)} imports {bad}"


def test_there_is_no_bare_plugins_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [str(PROJECT), *sys.path])
    assert importlib.util.find_spec("plugins") is None
    assert importlib.util.find_spec("radicale_ext.plugins") is not None
