"""The notebooks teach: each opens with its question, what you will learn, its run time and the
glossary; code cells are calls and plots (no function definitions, none over 15 lines); each
conclusion is one call to nnlib.report.conclusions."""
import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return [(c["cell_type"], "".join(c["source"]), c["metadata"].get("tags", []))
            for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_first_cell_says_what_and_how_long(path):
    kind, text, _ = _cells(path)[0]
    assert kind == "markdown"
    assert "**Question.**" in text and "**What you will learn.**" in text
    learn = text.split("**What you will learn.**")[1].split("\n\n")[0]
    assert 2 <= sum(line.startswith("- ") for line in learn.splitlines()) <= 4
    assert "**Run time**: <!-- run-time -->" in text and "<!-- /run-time -->" in text
    assert "(../docs/glossary.md)" in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_kernel_it_names_is_the_projects(path):
    """papermill and JupyterLab start the kernel a notebook names: the one make installs."""
    from nnlib.report.env import KERNEL_NAME

    spec = json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]
    assert spec["name"] == KERNEL_NAME == "nnlib", spec
    assert f"--name {KERNEL_NAME} " in (path.parents[1] / "Makefile").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_seed_list_is_read_before_setup_reads_it(path):
    """``nb.setup()`` turns a seed list papermill passed as text (``-p SEEDS '[0]'``) into a
    list: code that reads one before it would slice a string."""
    from nnlib.report.notebook import LIST_PARAMETERS

    code = [text for kind, text, tags in _cells(path)
            if kind == "code" and not {"parameters", "injected-parameters"} & set(tags)]
    before = "\n".join(code).split("nb.setup()")[0]
    assert "nb.setup()" in "\n".join(code)
    names = {n.id for n in ast.walk(ast.parse(before)) if isinstance(n, ast.Name)}
    assert not names & set(LIST_PARAMETERS), f"{sorted(names & set(LIST_PARAMETERS))} before setup"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_calls_and_plots(path):
    for kind, text, tags in _cells(path):
        if kind != "code":
            continue
        tree = ast.parse(text)
        defined = [n.name for n in ast.walk(tree)
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert defined == [], f"{path.stem} defines {defined}"
        assert len(text.splitlines()) <= 15, f"{path.stem}: a {len(text.splitlines())}-line cell"
        if "conclusion" in tags:
            calls = text.count("conclusions.")
            assert calls == 1, f"{path.stem}: the conclusion cell calls conclusions.* {calls}×"
