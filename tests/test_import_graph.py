"""nnlib's own import graph, read from the source with ast (``nnlib.codehash.imports``, the
resolver the run cache's closure uses): no cycles, imports only down the tiers, no private names
borrowed from another module.

Every ``import``/``from ... import`` counts, at module level or inside a function (a function-level
import runs when the function does), except under ``if TYPE_CHECKING:`` (never runs). A package's
``__init__`` counts only where something is imported *from* it (``from .. import x`` with ``x``
not a module): Python runs ``nnlib/__init__.py`` before any submodule, so counting parents would
make every module a trivial cycle with ``nnlib``. A private *module* (``lab/_sampling.py``,
``_version.py``) may be imported within its package; its names are public to it.
"""
from __future__ import annotations

import itertools
from functools import partial
from pathlib import Path

import pytest
from throwaway import package

from nnlib import codehash
from nnlib.codehash import imports, module_file, module_name

PKG_DIR = codehash.PACKAGE_DIR
fake_package = partial(package, name="fakepkg")  # not nnlib: its modules are named in the asserts


def import_graph(package_dir: Path = PKG_DIR) -> dict[str, dict[str, list[str]]]:
    """``{module: {imported module: ["file:line", ...]}}`` over every .py file of the package
    (imports of names that are not modules of the package are left out)."""
    package_dir = Path(package_dir)
    graph = {}
    for path in sorted(package_dir.rglob("*.py")):
        edges = graph.setdefault(module_name(path, package_dir), {})
        rel = path.relative_to(package_dir.parent).as_posix()
        for target, _, line in imports(path, package_dir):
            if module_file(target, package_dir):
                where = edges.setdefault(target, [])
                if f"{rel}:{line}" not in where:  # one per statement, not per imported name
                    where.append(f"{rel}:{line}")
    return graph


def _shortest_path(graph, start, goal) -> list[str] | None:
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        if path[-1] == goal:
            return path
        for w in sorted(graph.get(path[-1], ())):
            if w not in seen:
                seen.add(w)
                paths.append([*path, w])
    return None


def find_cycles(graph) -> list[str]:
    """Every import cycle, one line each: ``a -> b -> a`` and where each import is - for each
    import ``a -> b`` on a cycle, the shortest way back from ``b`` to ``a``."""
    found = {}
    for a in graph:
        for b in graph[a]:
            back = _shortest_path(graph, b, a)
            if back is None:
                continue
            ring = [a, *back[:-1]]
            first = ring.index(min(ring))
            ring = ring[first:] + ring[:first]  # one spelling per cycle, however entered
            found[tuple(ring)] = [*ring, ring[0]]
    lines = []
    for cycle in found.values():
        where = "; ".join(f"{a} -> {b} at {', '.join(graph[a][b])}"
                          for a, b in itertools.pairwise(cycle))
        lines.append(f"{' -> '.join(cycle)}  ({where})")
    return sorted(lines)


def private_imports(package_dir: Path = PKG_DIR) -> list[tuple[str, str, str, str]]:
    """``(importer, source module, name, "file:line")`` for every ``from x import _name``
    taking a private (single-underscore) name that is not a module from a *different* module
    of the package. Private modules themselves (``from . import _sampling``) are allowed."""
    package_dir = Path(package_dir)
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        importer = module_name(path, package_dir)
        rel = path.relative_to(package_dir.parent).as_posix()
        for target, name, line in imports(path, package_dir):
            if (name and name.startswith("_") and not name.startswith("__")
                    and not target.endswith(f".{name}") and target != importer):
                found.append((importer, target, name, f"{rel}:{line}"))
    return found


# ---------------------------------------------------------------------------------- the tests

def test_nnlib_has_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles in nnlib:\n" + "\n".join(cycles)


#: cli → report → lab → nn → the modules at the top (io, errors, argcheck, paths, logs, ...);
#: ``nnlib/__init__.py`` re-exports the network API, so it sits with nn.
TIERS = {"__main__": 4, "cli": 4, "report": 3, "lab": 2, "nn": 1}


def tier(module: str) -> int:
    parts = module.split(".")
    return 1 if len(parts) == 1 else TIERS.get(parts[1], 0)


def test_the_graph_is_read():
    graph = import_graph()
    assert "nnlib.nn.models" in graph["nnlib.lab.train"]  # a known edge: the walk found imports
    assert "nnlib.lab.config.parse" in graph["nnlib.lab.config.files"]
    assert sum(len(edges) for edges in graph.values()) > 150


def test_imports_only_go_down_the_tiers():
    up = [f"{a} -> {b} at {', '.join(where)}" for a, edges in import_graph().items()
          for b, where in edges.items() if tier(b) > tier(a)]
    assert not up, "imports that go up a tier (cli > report > lab > nn > top):\n" + "\n".join(up)


def test_the_tier_check_sees_an_upward_import(tmp_path):
    pkg = package(tmp_path, {"lab/__init__.py": "", "report/__init__.py": "",
                              "report/plots.py": "", "lab/run.py": """
                                  def f():
                                      from ..report import plots
                              """}, name="nnlib")
    graph = import_graph(pkg)
    assert [(a, b) for a, edges in graph.items() for b in edges if tier(b) > tier(a)] == [
        ("nnlib.lab.run", "nnlib.report.plots")]


def test_the_checker_finds_a_function_level_cycle(tmp_path):
    pkg = fake_package(tmp_path, {
        "sub/__init__.py": "",
        "sub/a.py": """
            def f():
                from . import b
                return b.g
        """,
        "sub/b.py": """
            import fakepkg.lone
            def g():
                from fakepkg.sub.a import f
                return f
        """,
        "lone.py": "from .sub import b\n",
    })
    graph = import_graph(pkg)
    assert graph["fakepkg.lone"] == {"fakepkg.sub.b": ["fakepkg/lone.py:1"]}
    assert find_cycles(graph) == [
        "fakepkg.lone -> fakepkg.sub.b -> fakepkg.lone  (fakepkg.lone -> fakepkg.sub.b at "
        "fakepkg/lone.py:1; fakepkg.sub.b -> fakepkg.lone at fakepkg/sub/b.py:2)",
        "fakepkg.sub.a -> fakepkg.sub.b -> fakepkg.sub.a  (fakepkg.sub.a -> fakepkg.sub.b at "
        "fakepkg/sub/a.py:3; fakepkg.sub.b -> fakepkg.sub.a at fakepkg/sub/b.py:4)",
    ]


def test_the_checker_counts_a_package_init_only_where_imported_from(tmp_path):
    """``nnlib.nn.models`` importing ``__version__`` from ``nnlib`` was a real cycle with
    ``nnlib/__init__.py``; merely importing a submodule is not; TYPE_CHECKING imports never run."""
    pkg = fake_package(tmp_path, {
        "__init__.py": "from .nn.models import M\n",
        "nn/__init__.py": "",
        "nn/models.py": """
            from typing import TYPE_CHECKING
            from .layers import L
            if TYPE_CHECKING:
                from .. import anything
            else:
                from .layers import K
            M = 1
        """,
        "nn/layers.py": "L = K = 1\n",
    })
    assert find_cycles(import_graph(pkg)) == []
    (pkg / "nn/layers.py").write_text("from .. import __version__\n")
    assert find_cycles(import_graph(pkg)) == [
        "fakepkg -> fakepkg.nn.models -> fakepkg.nn.layers -> fakepkg  (fakepkg -> "
        "fakepkg.nn.models at fakepkg/__init__.py:1; fakepkg.nn.models -> fakepkg.nn.layers "
        "at fakepkg/nn/models.py:3, fakepkg/nn/models.py:7; fakepkg.nn.layers -> fakepkg at "
        "fakepkg/nn/layers.py:1)"]


def test_no_module_takes_a_private_name_from_another():
    found = [f"{where}: {importer} takes {name} from {source}"
             for importer, source, name, where in private_imports()]
    assert not found, ("private names imported from another nnlib module (make them public "
                       "or keep them in one module):\n" + "\n".join(found))


def test_the_private_name_check_finds_one(tmp_path):
    pkg = fake_package(tmp_path, {
        "a.py": "_hidden = 1\n__dunder__ = 2\n",
        "_helpers.py": "",
        "b.py": """
            from .a import _hidden, __dunder__
            from . import _helpers
            _own = 3
        """,
    })
    assert private_imports(pkg) == [("fakepkg.b", "fakepkg.a", "_hidden", "fakepkg/b.py:2")]


@pytest.mark.parametrize("source", ["from .. import x\n", "import os\nfrom numpy import _x\n"])
def test_imports_outside_the_package_are_not_edges(tmp_path, source):
    pkg = fake_package(tmp_path, {"m.py": source})
    assert import_graph(pkg)["fakepkg.m"] == {}
