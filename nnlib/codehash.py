"""Which of nnlib's source files a piece of code runs, and one hash over them.

:func:`closure` follows nnlib's own imports from some root modules, read from the source with
:mod:`ast` (nothing is imported): ``import nnlib.x``, ``from nnlib.x import y`` and relative
``from ..x import y``, at module level and inside functions alike (a function-level import runs
when the function does). A package's ``__init__.py`` counts where a name is imported from it
(``from ..config import load_config``), not merely because a module below it is imported
(``from ..nn import parallel`` reaches ``nnlib/nn/parallel.py`` only): nnlib's package files name
things, they compute nothing (and ``nnlib/report/__init__.py`` imports the whole report
builder). :func:`source_hash` is SHA-256 over the files reached (their paths and bytes).

The run cache keys runs by ``source_hash(["nnlib.lab.train"])`` (``experiments.run_key``): what
training one run executes, whatever the file is called - and nothing else, so editing a message of
the run cache or the grid's scheduling keeps every key. The published report records a wider hash
(``nnlib.report.provenance``) that also covers the code computing the numbers it shows.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

__all__ = ["PACKAGE", "PACKAGE_DIR", "closure", "imports", "module_file", "module_name",
           "source_hash"]

PACKAGE = "nnlib"
#: This package's folder (a test passes a copy of it instead).
PACKAGE_DIR = Path(__file__).resolve().parent


def module_file(name: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """``nnlib.lab.train`` → ``<package_dir>/lab/train.py`` (or ``.../train/__init__.py``); None
    if ``name`` is not a module of the package (the folder's name is the package's)."""
    parts = name.split(".")
    if parts[0] != Path(package_dir).name:
        return None
    base = Path(package_dir).joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    """The dotted name of the module in ``path`` (a package's ``__init__.py`` → the package)."""
    parts = Path(path).relative_to(Path(package_dir).parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(nodes):
    """Every Import/ImportFrom in or below ``nodes``, skipping the body of
    ``if TYPE_CHECKING:`` (it never runs; its ``else`` does)."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.orelse)
        else:
            yield from _import_nodes(ast.iter_child_nodes(node))


def imports(path: Path, package_dir: Path = PACKAGE_DIR):
    """The package's own imports in one file, anywhere in it: ``(target, name, line)`` per
    imported name, ``target`` being the module whose code the import runs (``from .x import y``
    → ``pkg.x``; ``from . import sub`` → ``pkg.sub`` when that is a module, else the package;
    ``import pkg.x`` → ``pkg.x``, name None). ``target`` may name no module (``from pkg.m import
    attr`` where ``pkg.m`` is a module is fine; a misspelt one is left to Python)."""
    package_dir = Path(package_dir)
    path = Path(path)
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


def closure(roots, package_dir=PACKAGE_DIR) -> list[Path]:
    """The source files of ``roots`` (module names, ``"nnlib.lab.train"``) and of every nnlib
    module they import, directly or not, sorted. A root that is not a module of the package
    raises ``ValueError``."""
    package_dir = Path(package_dir)
    todo, seen, files = list(roots), set(), {}
    for root in roots:
        if module_file(root, package_dir) is None:
            raise ValueError(f"{root!r} is not a module of {package_dir}")
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name, package_dir)
        if path is None:  # an attribute imported from a module, not a module: nothing to follow
            continue
        files[name] = path
        todo += [target for target, _, _ in imports(path, package_dir)]
    return sorted(set(files.values()))


def source_hash(roots, package_dir=PACKAGE_DIR) -> str:
    """SHA-256 over the paths (relative to the package) and bytes of ``closure(roots)``."""
    package_dir = Path(package_dir)
    h = hashlib.sha256()
    for path in closure(roots, package_dir):
        h.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()
