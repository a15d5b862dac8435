"""nnlib's own import graph, read from the source with ast: no cycles, no private names
borrowed from another module.

Every ``import``/``from ... import`` counts, at module level or inside a function (a function-level
import runs when the function does), except under ``if TYPE_CHECKING:`` (never runs). As in
:mod:`nnlib.codehash`, a package's ``__init__`` counts only where something is imported *from* it
(``from .. import x`` with ``x`` not a module): Python runs ``nnlib/__init__.py`` before any
submodule, so counting parents would make every module a trivial cycle with ``nnlib``.
``codehash`` has no public resolver and keeps no line numbers, hence the small one here.
"""
from __future__ import annotations

import ast
import itertools
import textwrap
from pathlib import Path

import pytest

from nnlib import codehash

PKG_DIR = codehash.PACKAGE_DIR


def module_file(name: str, package_dir: Path) -> Path | None:
    """``pkg.lab.train`` → ``<package_dir>/lab/train.py`` (or ``.../train/__init__.py``); None
    if ``name`` is not a module of the package."""
    parts = name.split(".")
    if parts[0] != package_dir.name:
        return None
    base = package_dir.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def module_name(path: Path, package_dir: Path) -> str:
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(nodes):
    """Every Import/ImportFrom in or below ``nodes``, skipping the body of
    ``if TYPE_CHECKING:`` (its ``else`` runs)."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.orelse)
        else:
            yield from _import_nodes(ast.iter_child_nodes(node))


def imports(path: Path, package_dir: Path):
    """The package-internal imports of one file: ``(target module, imported name or None,
    line)``, one per imported name. ``target`` is the module whose code the import runs
    (``from .x import y`` → ``pkg.x``; ``from . import sub`` → ``pkg.sub`` if a module,
    else the package)."""
    name = module_name(path, package_dir)
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    top = package_dir.name
    for node in _import_nodes([ast.parse(path.read_bytes(), filename=str(path))]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == top:
                    yield alias.name, None, node.lineno
            continue
        if node.level:
            if node.level - 1 >= len(here):
                continue  # above the top package: not ours
            base = here[:len(here) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        if source.split(".")[0] != top:
            continue
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            yield (sub if module_file(sub, package_dir) else source), alias.name, node.lineno


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


def _package(tmp_path, modules: dict, name="fakepkg") -> Path:
    pkg = tmp_path / name
    for rel, source in {"__init__.py": "", **modules}.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return pkg


def test_the_checker_finds_a_function_level_cycle(tmp_path):
    pkg = _package(tmp_path, {
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
    pkg = _package(tmp_path, {
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
    pkg = _package(tmp_path, {
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
    pkg = _package(tmp_path, {"m.py": source})
    assert import_graph(pkg)["fakepkg.m"] == {}
