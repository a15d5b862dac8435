"""A notebook run with plain papermill, the way README.md shows it: the output notebook holds
results and Python warnings, never the library's log, joblib's chatter or a progress widget; a
seed list works given as YAML (``-y``) and as papermill's ``-p`` string."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nnlib.report.env import kernel_check
from nnlib.report.outputs import split_stderr

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_scheduler_gamma.ipynb"  # a grid, single runs, MNIST loading
OVERVIEW = ROOT / "notebooks" / "00_overview.ipynb"  # the data: loads and verifies MNIST
PAPERMILL = Path(sys.executable).parent / "papermill"
#: What the library, joblib and tqdm would leave in a notebook's outputs if they leaked.
LEAKS = re.compile(r"^(mnist: |epoch \d+/\d+: |grid: run |resuming |\[Parallel\(|runs: )", re.M)
WIDGET = "application/vnd.jupyter.widget-view+json"


def _run_papermill(out: Path, runs: Path, data: Path, *args, notebook: Path = NOTEBOOK):
    """``papermill NOTEBOOK OUT -p QUICK True ARGS`` with none of the variables the report or a
    Jupyter front end would set (nor the test session's MPLBACKEND=Agg, which would keep
    figures out of the outputs)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NNLIB_", "JPY_", "VSCODE_", "MPLBACKEND"))}
    env.update(NNLIB_RUNS=str(runs), NNLIB_DATA=str(data))
    return subprocess.run([str(PAPERMILL), str(notebook), str(out), "-p", "QUICK", "True", *args,
                           "--cwd", str(notebook.parent)], env=env, capture_output=True,
                          text=True, timeout=600)


def _papermill(out: Path, runs: Path, data: Path, *args, notebook: Path = NOTEBOOK) -> dict:
    proc = _run_papermill(out, runs, data, *args, notebook=notebook)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def _outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


@pytest.mark.slow
def test_plain_papermill_output_holds_results_and_warnings_only(tmp_path, mnist_cache):
    kernel = json.loads(NOTEBOOK.read_text())["metadata"]["kernelspec"]["name"]
    assert kernel_check(kernel).startswith(sys.prefix)  # the kernel it names runs this venv
    runs = tmp_path / "runs"
    for args in (["-y", "SEEDS: [0]"], ["-p", "SEEDS", "[0]"]):  # trains; then from the cache
        nb = _papermill(tmp_path / "out.ipynb", runs, mnist_cache.parent, *args)
        outputs = _outputs(nb)
        stdout = "".join("".join(o["text"]) for o in outputs
                         if o["output_type"] == "stream" and o["name"] == "stdout")
        stderr = "".join("".join(o["text"]) for o in outputs
                         if o["output_type"] == "stream" and o["name"] == "stderr")
        assert not LEAKS.search(stdout), stdout
        log, _warnings = split_stderr(stderr)
        assert log == "", f"{args}: non-warning text on stderr: {log!r}"
        assert not any(WIDGET in o.get("data", {}) for o in outputs), f"{args}: a widget"
        # the results are there, computed with the seed list as a list
        assert "final MLP: seeds [0], 1 epoch(s)" in stdout, stdout
        assert any("image/png" in o.get("data", {}) for o in outputs)
        headline = [o["data"]["application/vnd.nnlib.headline+json"] for o in outputs
                    if "application/vnd.nnlib.headline+json" in o.get("data", {})]
        assert headline and headline[0], "no headline numbers"
    assert len(list(runs.iterdir())) >= 5  # it really trained (and then read the cache)


@pytest.mark.slow
def test_the_data_notebook_takes_a_seed_list_as_text_too(tmp_path, mnist_cache):
    nb = _papermill(tmp_path / "out.ipynb", tmp_path / "runs", mnist_cache.parent, "-p", "SEEDS",
                    "[0]", notebook=OVERVIEW)
    outputs = _outputs(nb)
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert not LEAKS.search(text), text
    assert all(o["name"] == "stdout" for o in outputs if o["output_type"] == "stream"), text
    tables = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "matches nnlib" in tables and "False" not in tables.split("matches nnlib")[1][:2000]


@pytest.mark.slow
def test_a_seed_list_that_is_not_one_names_the_parameter(tmp_path, mnist_cache):
    proc = _run_papermill(tmp_path / "out.ipynb", tmp_path / "runs", mnist_cache.parent,
                          "-p", "SEEDS", "zero")
    assert proc.returncode != 0
    assert "parameter SEEDS: expected a non-empty list of distinct seeds" in proc.stderr, \
        proc.stderr[-2000:]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
