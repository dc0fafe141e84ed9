"""The import graph of src/cowork: no cycles between modules, and the layer rules of the design
guide (/work/shared/ARCHITECTURE.md, "What must never import what") hold.

Every ``import`` and ``from … import`` counts, wherever it is: at module level, inside a function
(a deferred import is still a dependency) and under ``if TYPE_CHECKING:``. Relative imports are
resolved against the importing module's package; ``from pkg import name`` depends on
``pkg.name`` when that is a module, else on ``pkg``. Importing ``a.b.c`` is an edge to ``a.b.c``
only (not to the packages ``a`` and ``a.b`` Python also runs), as import linters count it.

Each test reports every violation at once. :data:`PENDING` lists the ones other work in progress
is removing; an entry that no longer occurs fails the test too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} (line {self.line})"


def modules(src: Path, top: str) -> dict[str, Path]:
    """Module name → file, for every .py under ``src/top``."""
    found: dict[str, Path] = {}
    for path in sorted((src / top).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports(src: Path, top: str) -> Iterator[Edge]:
    """Every import of a ``top`` module by a ``top`` module (see the module docstring)."""
    mods = modules(src, top)
    for module, path in mods.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in mods else base)
            for target in targets:
                if target == top or target.startswith(top + "."):
                    while target not in mods and "." in target:  # `import a.b.name` of a non-module name
                        target = target.rsplit(".", 1)[0]
                    if target != module:
                        yield Edge(module, target, node.lineno)


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.importer, set()).add(e.imported)
        graph.setdefault(e.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
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
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def layer(module: str) -> str:
    """``cowork.engine.turn`` → ``engine``; ``cowork.config`` → ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


IN_PROCESS = frozenset({"cowork.cli.inprocess"})
"""The one place a client reaches the engine and the server: ``cowork serve``, and ``cowork
run``/``chat``/… starting a server in their own process (:mod:`cowork.cli.inprocess`)."""

RULES: dict[str, tuple[frozenset[str], str]] = {
    "protocol": (frozenset({"*"}), "imports nothing of cowork"),
    "_util": (frozenset({"*"}), "imports nothing of cowork"),
    "sandbox": (frozenset({"*"}), "imports nothing of cowork outside itself (used by the shell tool)"),
    "policy": (frozenset({"tools", "engine", "store"}), "decides only: never imports tools, engine or store"),
    "tools": (frozenset({"engine", "store", "server"}), "never imports engine, store or server"),
    "engine": (frozenset({"server", "client", "cli", "jobs", "mcp", "skills", "hooks", "memory", "gateways"}),
               "never imports server, client, cli, jobs, mcp, skills, hooks or memory"),
    "server": (frozenset({"store"}), "reaches the store only through the runtime"),
    "client": (frozenset({"engine", "server", "cli"}), "never imports engine or server"),
    "cli": (frozenset({"engine", "server"}), "never imports engine or server (except the in-process place)"),
    "gateways": (frozenset({"engine", "server"}), "never imports engine or server"),
    "jobs": (frozenset({"server", "client", "cli", "gateways"}), "never imports server, client or cli (the server gives "
             "it the runtime)"),
    "hooks": (frozenset({"server", "store", "client", "cli", "jobs", "mcp", "skills", "memory", "gateways"}),
              "never imports server, store, client, cli, jobs or another extension"),
}
"""Layer → (layers it must not import, ``*``: any other; the rule in words)."""


def violations(edges: list[Edge]) -> list[tuple[str, Edge]]:
    out = []
    for e in edges:
        src, dst = layer(e.importer), layer(e.imported)
        rule = RULES.get(src)
        if rule is None or src == dst:
            continue
        forbidden, _ = rule
        if ("*" in forbidden or dst in forbidden) and not (e.importer in IN_PROCESS and dst in ("engine", "server")):
            out.append((src, e))
    return out


PENDING: frozenset[tuple[str, str]] = frozenset()
"""(importer, imported) edges that break a rule and are being removed by work in progress."""

PENDING_CYCLES: frozenset[frozenset[str]] = frozenset()
"""Cycles being removed by work in progress (their modules)."""


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return list(dict.fromkeys(imports(SRC, "cowork")))


def test_the_graph_is_read(edges: list[Edge]) -> None:
    pairs = {(e.importer, e.imported) for e in edges}
    assert ("cowork.cli.main", "cowork.cli.checkpoints") in pairs  # module level, relative
    assert ("cowork.cli.inprocess", "cowork.engine") in pairs  # inside a function
    assert len(modules(SRC, "cowork")) > 50


def test_no_import_cycles(edges: list[Edge]) -> None:
    found = {frozenset(c) for c in cycles(edges)}
    new = [sorted(c) for c in found - PENDING_CYCLES]
    stale = [sorted(c) for c in PENDING_CYCLES - found]
    detail = []
    for c in new:
        members = set(c)
        detail.append(" <-> ".join(c) + ":\n    " + "\n    ".join(
            str(e) for e in edges if e.importer in members and e.imported in members))
    assert not new and not stale, (
        "import cycles in src/cowork:\n  " + "\n  ".join(detail) +
        (f"\nno longer cycles (remove from PENDING_CYCLES): {stale}" if stale else ""))


def test_layer_rules(edges: list[Edge]) -> None:
    found = violations(edges)
    new = [(src, e) for src, e in found if (e.importer, e.imported) not in PENDING]
    stale = PENDING - {(e.importer, e.imported) for _, e in found}
    assert not new and not stale, (
        "layer rules of ARCHITECTURE.md broken:\n  " +
        "\n  ".join(f"{src} {RULES[src][1]}: {e}" for src, e in new) +
        (f"\nno longer broken (remove from PENDING): {sorted(stale)}" if stale else ""))


def test_the_checker_finds_what_it_should(tmp_path: Path) -> None:
    """The checks can fail: a cycle through a function-level relative import, a TYPE_CHECKING
    import, and a layer break are all found."""
    pkg = tmp_path / "cowork"
    for folder in ("cli", "engine", "protocol"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "cli" / "a.py").write_text("from . import b\n")
    (pkg / "cli" / "b.py").write_text("def f():\n    from .a import x\n")
    (pkg / "cli" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import y\n")
    (pkg / "cli" / "d.py").write_text("import cowork.engine.turn\n")
    (pkg / "engine" / "turn.py").write_text("from ..protocol import z\n")
    (pkg / "protocol" / "bad.py").write_text("from ..engine import turn\n")
    found = list(imports(tmp_path, "cowork"))
    pairs = {(e.importer, e.imported) for e in found}
    assert ("cowork.cli.c", "cowork.cli.a") in pairs
    assert ("cowork.engine.turn", "cowork.protocol") in pairs
    assert cycles(found) == [["cowork.cli.a", "cowork.cli.b"]]
    broken = {(e.importer, e.imported) for _, e in violations(found)}
    assert broken == {("cowork.cli.d", "cowork.engine.turn"), ("cowork.protocol.bad", "cowork.engine.turn")}
