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

__all__ = ["PACKAGE", "PACKAGE_DIR", "closure", "source_hash"]

PACKAGE = "nnlib"
#: This package's folder (a test passes a copy of it instead).
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(name: str, package_dir: Path) -> Path | None:
    """``nnlib.lab.train`` → ``<package_dir>/lab/train.py`` (or ``.../train/__init__.py``)."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imported(tree: ast.AST, name: str, is_package: bool, package_dir: Path) -> set[str]:
    """Names of nnlib modules ``tree`` (module ``name``) imports, anywhere in its body."""
    here = name.split(".") if is_package else name.split(".")[:-1]  # the module's own package
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 >= len(here):
                    continue  # above the top package: not ours
                base = here[:len(here) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import sub` imports the module pkg.sub when there is one; `source`
            # itself counts when a name is taken from it (a name its __init__ defines)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if _module_file(sub, package_dir) else source)
    return {m for m in found if m.split(".")[0] == PACKAGE}


def closure(roots, package_dir=PACKAGE_DIR) -> list[Path]:
    """The source files of ``roots`` (module names, ``"nnlib.lab.train"``) and of every nnlib
    module they import, directly or not, sorted. A root that is not a module of the package
    raises ``ValueError``."""
    package_dir = Path(package_dir)
    todo, seen, files = list(roots), set(), {}
    for root in roots:
        if _module_file(root, package_dir) is None:
            raise ValueError(f"{root!r} is not a module of {package_dir}")
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name, package_dir)
        if path is None:  # an attribute imported from a module, not a module: nothing to follow
            continue
        files[name] = path
        tree = ast.parse(path.read_bytes(), filename=str(path))
        todo += _imported(tree, name, _is_package(path), package_dir)
    return sorted(set(files.values()))


def source_hash(roots, package_dir=PACKAGE_DIR) -> str:
    """SHA-256 over the paths (relative to the package) and bytes of ``closure(roots)``."""
    package_dir = Path(package_dir)
    h = hashlib.sha256()
    for path in closure(roots, package_dir):
        h.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()
