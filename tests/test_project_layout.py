"""The layout a newcomer relies on: no import circle, no module over 500 lines, route modules that
share only `api.deps` (never import one another), and every Temporal client encrypted."""

from __future__ import annotations

import ast
from pathlib import Path

from infra.settings import Settings
from infra.temporal_client import build_data_converter
from tests.support import make_settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "workflows", "activities", "api", "infra", "readmodel", "bench", "tests", "scripts")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    paths = [*ROOT.glob("*.py"), *(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))]
    return {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in paths}


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules a module imports, wherever in it (TYPE_CHECKING blocks and functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n in known)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle() -> None:
    modules = _modules()
    graph = {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}
    assert _cycles(graph) == []


def test_no_module_over_500_lines() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_route_modules_do_not_import_one_another() -> None:
    modules = _modules()
    routes = {name for name in modules if name.startswith("api.") and name.endswith("_routes")}
    crossing = {name: sorted(_imports(modules[name], routes)) for name in routes}
    assert {name: deps for name, deps in crossing.items() if deps} == {}
    assert _imports(modules["tests.conftest"], set(modules)).isdisjoint(routes)


def test_bench_does_not_import_tests() -> None:
    modules = _modules()
    tests = {name for name in modules if name.split(".")[0] == "tests"}
    crossing = {
        name: sorted(_imports(path, tests)) for name, path in modules.items() if name.startswith("bench.")
    }
    assert {name: deps for name, deps in crossing.items() if deps} == {}


def test_package_init_files_are_empty() -> None:
    # The workflow sandbox imports every parent package of a workflow's module.
    inits = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")]
    assert [str(p.relative_to(ROOT)) for p in inits if p.read_text(encoding="utf-8").strip()] == []


def test_every_temporal_client_encrypts_payloads(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path)
    converter = build_data_converter(settings)
    assert converter.payload_codec is not None
    assert type(converter.payload_codec).__name__ == "EncryptionCodec"
