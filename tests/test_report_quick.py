"""The whole report in quick mode, through the same `nnlib report --quick` path users run.

Executes every notebook in notebooks/ on the real MNIST (fetched by the report itself; the registry
source works on CI), with the run cache in a temporary folder, and checks what a reader would:
no errors, every figure there, the index complete, the headline numbers sane.
"""
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = ["00_overview", "01_activations", "02_optimizers", "03_grid_search",
            "04_scheduler_gamma", "05_regularization", "06_cnn", "07_augmentation", "08_weights"]


def test_every_expected_notebook_exists_and_is_committed_without_outputs():
    assert [n[:-len(".ipynb")] for n in NOTEBOOKS] == EXPECTED
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters'"
        assert "QUICK = False" in tagged[0].source, \
            f"{name}: parameters cell must set QUICK = False"
        dirty = [i for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{name}: cells {dirty} carry outputs (commit notebooks stripped)"


@pytest.mark.slow
def test_quick_report_runs_every_notebook_without_error(quick_report):
    rc, out = quick_report
    index = json.loads((out / "index.json").read_text())
    rows = {r["name"]: r for r in index["notebooks"]}
    assert sorted(rows) == EXPECTED, f"index lists {sorted(rows)}"
    failed = {n: r.get("error") for n, r in rows.items() if r["status"] != "ok"}
    assert not failed, f"notebooks failed: {failed}"
    assert rc == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_quick_report_page_has_its_figures(quick_report, name):
    _, out = quick_report
    nb = nbformat.read(out / "executed" / f"{name}.ipynb", as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    pngs = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if "image/png" in o.get("data", {}))
    assert pngs >= 2, f"{name}: only {pngs} figures"
    html = (out / f"{name}.html").read_text()
    assert html.count("data:image/png;base64") >= pngs
    assert "smoke run" in html.lower()
    assert not re.search(r'<script[^>]+src="https?://', html), f"{name}: page loads a CDN script"
    assert (out / f"{name}.html").stat().st_size < 3_000_000


@pytest.mark.slow
def test_quick_report_headlines_are_sane(quick_report):
    _, out = quick_report
    index = json.loads((out / "index.json").read_text())
    rows = [h for r in index["notebooks"] for h in r.get("headlines", [])]
    assert rows, "no notebook published headline numbers"
    for h in rows:
        assert 0.1 < h["ours"] <= 1, f"headline {h['name']!r} = {h['ours']} is not an accuracy"
        if h.get("report") is not None:
            assert 0.1 < h["report"] <= 1
    index_html = (out / "index.html").read_text()
    for name in EXPECTED:
        assert f'href="{name}.html"' in index_html
