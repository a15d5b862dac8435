"""nnlib.codehash: the files a root module's imports reach, and the run-cache key's source hash."""
import shutil

import pytest
from throwaway import package

from nnlib import codehash
from nnlib.lab import experiments

PKG = codehash.PACKAGE_DIR


def _names(files, pkg=PKG):
    return {p.relative_to(pkg).as_posix() for p in files}


def test_a_run_reaches_the_numeric_code_and_nothing_of_the_cache_grid_or_report():
    files = _names(codehash.closure([experiments.TRAINING_ROOT]))
    for needed in ("lab/train.py", "lab/training.py", "lab/callbacks.py", "lab/data.py",
                   "lab/mnist.py", "lab/augment.py", "lab/elastic.py", "lab/_sampling.py",
                   "lab/config/parse.py", "lab/config/schema.py", "nn/layers.py", "nn/conv.py",
                   "nn/losses.py", "nn/optim.py", "nn/schedules.py", "nn/models.py",
                   "lab/config/__init__.py", "argcheck.py", "_version.py"):
        assert needed in files, f"{needed} computes a run's numbers but is not in its closure"
    for outside in ("lab/runcache.py", "lab/experiments.py", "lab/grid.py", "lab/recipes.py",
                    "cli/__init__.py", "cli/train.py", "cli/common.py", "codehash.py"):
        assert outside not in files, f"{outside} is in a run's closure: editing it would retrain"
    assert not any(f.startswith("report/") for f in files), sorted(files)


def test_closure_follows_relative_absolute_and_function_level_imports(tmp_path):
    pkg = package(tmp_path, {
        "a/__init__.py": "",
        "a/root.py": """
            from . import sibling
            from ..b import helper
            from ..e import NAME
            def later():
                from nnlib.c.deep import thing  # runs when later() does
                import nnlib.d
        """,
        "a/sibling.py": "X = 1\n",
        "a/unused.py": "Y = 2\n",
        "b/__init__.py": "from .helper import f\n",
        "b/helper.py": "def f(): return 1\n",
        "c/__init__.py": "",
        "c/deep.py": "from ...nnlib_elsewhere import nothing\nimport numpy\nthing = 1\n",
        "d.py": "",
        "e/__init__.py": "NAME = 1\n",
    })
    got = _names(codehash.closure(["nnlib.a.root"], pkg), pkg)
    # a package's __init__.py where a name is imported from it (e), not where a module below it
    # is (a: `from . import sibling`, b: `from ..b import helper`, c, nnlib)
    assert got == {"a/root.py", "a/sibling.py", "b/helper.py", "c/deep.py", "d.py",
                   "e/__init__.py"}


def test_an_unknown_root_is_an_error_naming_it(tmp_path):
    pkg = package(tmp_path, {})
    with pytest.raises(ValueError, match=r"nnlib\.nope"):
        codehash.closure(["nnlib.nope"], pkg)


@pytest.fixture
def package_copy(tmp_path):
    dest = tmp_path / "nnlib"
    shutil.copytree(PKG, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_editing_the_run_cache_or_the_grid_keeps_the_hash(package_copy):
    before = codehash.source_hash([experiments.TRAINING_ROOT], package_copy)
    _edit(package_copy / "lab" / "runcache.py", "which is gone", "which has gone away")
    _edit(package_copy / "lab" / "grid.py", "def relative_cost(", "def relative_cost_of(")
    assert codehash.source_hash([experiments.TRAINING_ROOT], package_copy) == before


@pytest.mark.parametrize("rel", ["nn/layers.py", "lab/training.py", "lab/config/parse.py",
                                 "lab/mnist.py", "lab/train.py"])
def test_editing_numeric_code_changes_the_hash(package_copy, rel):
    before = codehash.source_hash([experiments.TRAINING_ROOT], package_copy)
    path = package_copy / rel
    path.write_text(path.read_text() + "\n# edited\n")
    assert codehash.source_hash([experiments.TRAINING_ROOT], package_copy) != before, rel


def test_run_keys_hash_the_training_closure():
    experiments.source_hash.cache_clear()
    assert experiments.source_hash() == codehash.source_hash([experiments.TRAINING_ROOT])
