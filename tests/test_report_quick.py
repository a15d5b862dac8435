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
            "04_scheduler_gamma", "05_regularization", "06_cnn", "07_augmentation", "08_weights",
            "09_beyond"]


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


def _tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def _setup_cell(nb):
    """The set-up cell: the first code cell after the one tagged ``parameters``."""
    start = next(i for i, c in enumerate(nb.cells) if "parameters" in _tags(c))
    return next(c for c in nb.cells[start + 1:] if c.cell_type == "code")


def _is_caption(output) -> bool:
    return (output.get("output_type") == "display_data"
            and 'class="nnlib-caption"' in output.get("data", {}).get("text/html", ""))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_sets_up_the_report_presentation(name):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    cell = _setup_cell(nb)
    assert re.search(r"^nb\.setup\(\)\s*(#.*)?$", cell.source, re.M), \
        f"{name}: the set-up cell (after 'parameters') must call nb.setup()"
    assert re.search(r"^from nnlib\.report import notebook as nb$", cell.source, re.M), \
        f"{name}: the set-up cell must import nnlib.report.notebook as nb"
    assert "hide-input" in _tags(cell), f"{name}: tag the set-up cell 'hide-input'"
    dumps = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and "json_normalize(" in c.source and "hide-output" not in _tags(c)]
    assert not dumps, f"{name}: configuration dumps in cells {dumps} need the tag 'hide-output'"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_has_a_conclusion_cell(name):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    cells = [c for c in nb.cells if "conclusion" in _tags(c)]
    assert cells, f"{name}: no cell tagged 'conclusion'"
    for c in cells:
        assert c.cell_type == "code", f"{name}: a 'conclusion' cell must be computed (code)"
        assert "hide-input" in _tags(c), f"{name}: tag the conclusion cell 'hide-input' too"
        assert "Markdown(" in c.source, f"{name}: a conclusion displays Markdown"


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_quick_report_every_figure_has_its_caption(quick_report, name):
    """Each figure (image/png output) is followed, in its cell, by a caption before the next figure
    or the end of the cell; and no caption is left without a figure."""
    _, out = quick_report
    nb = nbformat.read(out / "executed" / f"{name}.ipynb", as_version=4)
    uncaptioned, orphans = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        waiting = False  # a figure shown and not yet captioned
        for o in cell.outputs:
            if "image/png" in o.get("data", {}):
                if waiting:
                    uncaptioned.append(i)
                waiting = True
            elif _is_caption(o):
                if not waiting:
                    orphans.append(i)
                waiting = False
        if waiting:
            uncaptioned.append(i)
    assert not uncaptioned, f"{name}: figures without a caption in cells {uncaptioned}"
    assert not orphans, f"{name}: captions without a figure before them in cells {orphans}"


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_quick_report_conclusions_are_computed_bullets(quick_report, name):
    _, out = quick_report
    nb = nbformat.read(out / "executed" / f"{name}.ipynb", as_version=4)
    cells = [c for c in nb.cells if "conclusion" in _tags(c)]
    assert cells, f"{name}: the executed notebook has no cell tagged 'conclusion'"
    for c in cells:
        assert not [o for o in c.outputs if o.output_type == "error"], f"{name}: conclusion failed"
        texts = [o["data"]["text/markdown"] for o in c.outputs
                 if "text/markdown" in o.get("data", {})]
        assert texts and all(t.strip() for t in texts), f"{name}: conclusion shows no Markdown"
        bullets = [line for t in texts for line in t.splitlines() if line.startswith("- ")]
        assert 2 <= len(bullets) <= 5, f"{name}: {len(bullets)} conclusion bullets (want 2-5)"


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


NOT_A_NUMBER = re.compile(r"\bnan\b|\bNaN\b")
NOT_SHOWN_TAGS = {"remove-cell", "remove-output", "hide-output"}


def _shown_texts(cell):
    """The text outputs of ``cell`` a reader sees without unfolding anything: Markdown, HTML
    (else plain text) and standard output."""
    if cell.cell_type != "code" or set(_tags(cell)) & NOT_SHOWN_TAGS:
        return
    for o in cell.outputs:
        data = o.get("data", {})
        if o.output_type == "stream" and o.get("name") == "stdout":
            yield o.text
        elif "text/markdown" in data or "text/html" in data:
            yield data.get("text/markdown", "") + data.get("text/html", "")
        elif "text/plain" in data:
            yield data["text/plain"]


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_quick_report_shows_no_nan(quick_report, name):
    """The quick report runs one seed: a std, a missing reference or an empty cell must read
    as "–" or "n/a (one seed)", never as "nan"."""
    _, out = quick_report
    nb = nbformat.read(out / "executed" / f"{name}.ipynb", as_version=4)
    shown = [(i, m.string[max(m.start() - 60, 0):m.end() + 20])
             for i, c in enumerate(nb.cells) for text in _shown_texts(c)
             for m in NOT_A_NUMBER.finditer(text)]
    assert not shown, f"{name}: 'nan' shown in cell {shown[0][0]}: {shown[0][1]!r}"


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
