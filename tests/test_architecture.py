"""The shape of ``monitor/``: no import cycles among its modules or its folders, and only
``monitor/cli`` imports ``statuspage`` (which imports ``monitor``).

Every import statement counts, read with :mod:`ast`: those inside functions and under
``if TYPE_CHECKING:`` too, relative ones resolved. ``import a.b`` depends on ``a.b``;
``from a import b`` on ``a.b`` when that is a module, else on ``a``. Importing a submodule also
runs its packages' ``__init__``, but that is not counted: a package that re-exports its
submodules would otherwise be in a cycle with each of them.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the module it depends on (a module outside the tree is named as written)
    where: str  # path:line of the import statement


def modules_of(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every module of ``package`` (a directory in ``root``)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(root: Path, package: str) -> Iterator[Import]:
    modules = modules_of(root, package)
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):  # every statement, however deeply nested
            if isinstance(node, ast.Import):
                where = f"{path.relative_to(root)}:{node.lineno}"
                for alias in node.names:
                    yield Import(name, alias.name, where)
            elif isinstance(node, ast.ImportFrom):
                where = f"{path.relative_to(root)}:{node.lineno}"
                if node.level:  # from . import x, from ..a import x
                    parts = here.split(".")
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join(parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    yield Import(name, submodule if submodule in modules else base, where)


def dependency_graph(root: Path, package: str) -> dict[tuple[str, str], str]:
    """(importer, imported) → where, for imports between two modules of ``package``."""
    modules = modules_of(root, package)
    graph: dict[tuple[str, str], str] = {}
    for imp in imports_of(root, package):
        if imp.target in modules and imp.target != imp.source:
            graph.setdefault((imp.source, imp.target), imp.where)
    return graph


def strongly_connected(nodes: list[str], succ: Mapping[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            found.append(component)

    for v in nodes:
        if v not in index:
            visit(v)
    return found


def import_cycles(root: Path, package: str) -> list[str]:
    """One shortest cycle per tangle of ``package``'s modules: ``a -> b -> a`` and its imports."""
    graph = dependency_graph(root, package)
    succ: dict[str, list[str]] = {}
    for a, b in sorted(graph):
        succ.setdefault(a, []).append(b)
    cycles = []
    for component in strongly_connected(sorted(succ), succ):
        if len(component) < 2:
            continue
        start = min(component)
        came_from: dict[str, str] = {}
        queue, last = deque([start]), None
        while queue and last is None:  # breadth first: the shortest way back to start
            v = queue.popleft()
            for w in succ[v]:
                if w == start:
                    last = v
                    break
                if w in component and w not in came_from:
                    came_from[w] = v
                    queue.append(w)
        assert last is not None
        path = [last]
        while path[-1] != start:
            path.append(came_from[path[-1]])
        path = [*reversed(path), start]
        steps = "".join(f"\n    {graph[a, b]} imports {b}" for a, b in pairwise(path))
        cycles.append(" -> ".join(path) + steps)
    return cycles


def folder_cycles(root: Path, package: str) -> list[str]:
    """Tangles between ``package``'s folders (``monitor.core``, ``monitor.store`` …; a
    top-level module is a folder of its own), each with the imports that tie it."""
    def folder(module: str) -> str:
        return ".".join(module.split(".")[:2])

    ties: dict[tuple[str, str], list[str]] = {}
    for (a, b), where in dependency_graph(root, package).items():
        fa, fb = folder(a), folder(b)
        if fa != fb and fb != package:  # ``from monitor import __version__`` ties nothing
            ties.setdefault((fa, fb), []).append(f"{where} {a} imports {b}")
    succ: dict[str, list[str]] = {}
    for fa, fb in sorted(ties):
        succ.setdefault(fa, []).append(fb)
    return [
        " <-> ".join(sorted(c)) + "".join(
            f"\n    {line}" for (fa, fb), lines in sorted(ties.items())
            if fa in c and fb in c for line in lines)
        for c in strongly_connected(sorted(succ), succ) if len(c) > 1
    ]


def statuspage_imports(root: Path) -> list[str]:
    """Imports of ``statuspage`` anywhere in ``monitor/`` but ``monitor/cli``."""
    return [
        f"{imp.where}: {imp.source} imports {imp.target}"
        for imp in imports_of(root, "monitor")
        if (imp.target == "statuspage" or imp.target.startswith("statuspage."))
        and not (imp.source == "monitor.cli" or imp.source.startswith("monitor.cli."))
    ]


# ---- the rules ----------------------------------------------------------------------------


def test_no_import_cycle_among_monitors_modules() -> None:
    graph = dependency_graph(ROOT, "monitor")
    assert ("monitor.run.runner", "monitor.run.scheduler") in graph  # the reading works
    cycles = import_cycles(ROOT, "monitor")
    assert not cycles, "import cycles in monitor/:\n  " + "\n  ".join(cycles)


def test_no_import_cycle_among_monitors_folders() -> None:
    """The folders stack up in one order (docs/architecture.md): none reaches back up."""
    tangles = folder_cycles(ROOT, "monitor")
    assert not tangles, "folders of monitor/ that import each other:\n  " + "\n  ".join(tangles)


def test_only_the_cli_imports_statuspage() -> None:
    found = statuspage_imports(ROOT)
    assert not found, (
        "statuspage imports monitor, so only monitor/cli may import statuspage (the runner runs "
        "upwatch build-page as a child process):\n  " + "\n  ".join(found))


# ---- the checks catch what they should ----------------------------------------------------


def write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_is_found_through_every_kind_of_import(tmp_path: Path) -> None:
    write(tmp_path, {
        "monitor/__init__.py": "",
        "monitor/a.py": "from monitor import b\n",  # a submodule by from-import
        "monitor/b.py": ("from typing import TYPE_CHECKING\n"
                         "if TYPE_CHECKING:\n"
                         "    from .sub.c import C\n"),  # relative, for type checking only
        "monitor/sub/__init__.py": "",
        "monitor/sub/c.py": "def f():\n    import monitor.a\n",  # inside a function
        "monitor/sub/d.py": "from ..a import x\nfrom . import c\n",  # into the cycle only
    })
    assert import_cycles(tmp_path, "monitor") == [
        "monitor.a -> monitor.b -> monitor.sub.c -> monitor.a"
        "\n    monitor/a.py:1 imports monitor.b"
        "\n    monitor/b.py:3 imports monitor.sub.c"
        "\n    monitor/sub/c.py:2 imports monitor.a"
    ]


def test_statuspage_is_found_outside_the_cli_only(tmp_path: Path) -> None:
    write(tmp_path, {
        "monitor/__init__.py": "",
        "monitor/cli/__init__.py": "from statuspage import build_site\n",
        "monitor/run/runner.py": "def build():\n    import statuspage.render\n",
    })
    assert statuspage_imports(tmp_path) == [
        "monitor/run/runner.py:2: monitor.run.runner imports statuspage.render"]


def test_folders_that_import_each_other_are_found(tmp_path: Path) -> None:
    write(tmp_path, {
        "monitor/__init__.py": "",
        "monitor/times.py": "from monitor.core.clock import now\n",
        "monitor/core/__init__.py": "",
        "monitor/core/clock.py": "",
        "monitor/core/sla.py": "from monitor.times import iso\n",
        "monitor/store/__init__.py": "from monitor import __version__\n",
    })
    assert import_cycles(tmp_path, "monitor") == []  # no cycle between modules …
    assert folder_cycles(tmp_path, "monitor") == [  # … but the folders tangle
        "monitor.core <-> monitor.times"
        "\n    monitor/core/sla.py:1 monitor.core.sla imports monitor.times"
        "\n    monitor/times.py:1 monitor.times imports monitor.core.clock"
    ]
