"""The shape the architecture promises (docs/architecture.md).

- The core never imports Radicale nor our plugins, and the plugins are
  importable only as ``radicale_ext.plugins``.
- One package per feature on a small base: each feature package says what it
  is for (its docstring) and which packages it stands on (``MAY_IMPORT``);
  every import of every module keeps to that, and the declared directions
  have no circle.
- Only ``site``, ``plugins``, ``cli`` and ``web`` see the features side by
  side; no feature imports them; ``web`` (the page) never imports the plugins
  or the command line, and only the plugins import ``web`` (to mount it).
- No module imports itself back through others (imports under
  ``TYPE_CHECKING`` and inside functions count too).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
PACKAGE = PROJECT / "radicale_ext"
CORE = sorted(p for p in PACKAGE.rglob("*.py") if "plugins" not in p.relative_to(PROJECT).parts)
FEATURES = ("index", "sharing", "links", "notices", "reminders", "cards", "homes")
EDGE = ("site", "plugins", "cli", "web")   # see several features; imported by no feature


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _targets(name: str, path: Path) -> set[str]:
    """The radicale_ext modules ``name`` imports, wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in MODULES else module)
    return {t for t in found if t in MODULES and t != name}


def _graph() -> dict[str, set[str]]:
    graph = {name: _targets(name, path) for name, path in MODULES.items()}
    # the Application imports its handler modules by name (their order is the order they are asked)
    app = importlib.import_module("radicale_ext.plugins.app")
    graph["radicale_ext.plugins.app"] |= {f"radicale_ext.plugins.handlers.{f}" for f in app.FEATURES}
    return graph


def _top(module: str) -> str:
    """The package a module belongs to: ``radicale_ext.notices.push.webpush`` -> ``notices``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _declared(feature: str) -> tuple[str, ...]:
    tree = ast.parse((PACKAGE / feature / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "MAY_IMPORT" for t in targets):
                return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"radicale_ext/{feature}/__init__.py declares no MAY_IMPORT")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports, or ``None``."""
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PROJECT)))
def test_the_core_never_imports_radicale_or_the_plugins(path: Path) -> None:
    bad = [m for m in _imports(path)
           if m == "radicale" or m.startswith("radicale.") or "plugins" in m.split(".")]
    assert bad == [], f"{path.relative_to(PROJECT)} imports {bad}"


def test_there_is_no_bare_plugins_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [str(PROJECT), *sys.path])
    assert importlib.util.find_spec("plugins") is None
    assert importlib.util.find_spec("radicale_ext.plugins") is not None


def test_the_top_of_the_package_is_the_base_the_features_and_the_edge() -> None:
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if p.name not in ("__init__.py", "__pycache__") and (p.is_dir() or p.suffix == ".py")}
    assert tops == {"base", *FEATURES, *EDGE}


@pytest.mark.parametrize("package", ("base", *FEATURES))
def test_each_package_says_what_it_is_for_and_what_it_stands_on(package: str) -> None:
    init = PACKAGE / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert doc and len(doc.split()) >= 8, f"radicale_ext/{package}/__init__.py needs a docstring saying what it is for"
    declared = _declared(package)
    assert set(declared) <= {"base", *FEATURES} - {package}, f"{package} may import only the base and features"
    if package == "base":
        assert declared == ()
    else:
        assert "base" in declared


def test_the_declared_directions_have_no_circle() -> None:
    declared = {f: set(_declared(f)) for f in ("base", *FEATURES)}
    assert _cycle(declared) is None


def _crossings() -> Iterator[tuple[str, str, str, str]]:
    for source, targets in _graph().items():
        for target in targets:
            a, b = _top(source), _top(target)
            if a != b:
                yield source, target, a, b


def test_every_import_keeps_to_the_declared_directions() -> None:
    allowed = {f: set(_declared(f)) for f in ("base", *FEATURES)}
    allowed["site"] = {"base", *FEATURES}
    allowed["cli"] = {"base", *FEATURES, "site"}
    allowed["plugins"] = {"base", *FEATURES, "site", "web"}   # the page's handler mounts web/
    allowed["web"] = {"base", *FEATURES, "site"}
    bad = [f"{s} imports {t}" for s, t, a, b in _crossings() if a and b and b not in allowed[a]]
    assert bad == []


def test_no_feature_imports_the_site_the_plugins_or_the_command_line() -> None:
    bad = [f"{s} imports {t}" for s, t, a, b in _crossings() if a in ("base", *FEATURES) and b in EDGE]
    assert bad == []


def test_no_module_imports_itself_back_through_others() -> None:
    assert _cycle(_graph()) is None


def test_the_circle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
