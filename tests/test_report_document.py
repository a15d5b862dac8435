"""What a reader sees: clean outputs (log lines out, warnings in), readable tables, captions,
parameters in one line, and report.html assembled from the pages (fixture notebooks, ~30 s)."""
import json
import re
import shutil
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from nnlib.report import build_report, outputs
from nnlib.report.document import _reanchor, conclusions
from nnlib.report.notebook import format_table
from nnlib.report.parameters import parameter_values

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "notebooks"


# --- log lines: the library's real log is classified as log ------------------------------------

def test_the_librarys_log_in_a_report_kernel_is_log_and_its_warnings_stay_visible(capsys):
    """The report's kernels log to stderr (``NNLIB_LOG=stderr``): epoch lines are log, a warning
    record and a Python warning are shown, and stdout keeps only what the notebook prints."""
    import logging

    from nnlib.lab.training import Trainer
    from nnlib.logs import logging_to
    from nnlib.nn.models import mlp
    from nnlib.nn.optim import SGD

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.integers(0, 3, 64)
    model = mlp([4, 5, 3], rng=rng)
    trainer = Trainer(model, SGD(model, lr=0.1), seed=0, progress="epoch")
    capsys.readouterr()
    with logging_to("stderr"):
        trainer.fit((x, y), (x, y), epochs=2, batch_size=16)
        logging.getLogger("nnlib.lab.mnist").warning("mnist: could not write cache /x (full)")
    captured = capsys.readouterr()
    assert captured.out == ""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warning = warnings.formatwarning("a worker stopped", UserWarning, "/x/loky.py", 12,
                                         "  warnings.warn(")
    log, warn = outputs.split_stderr(captured.err + warning)
    assert log.count("\n") == 2 and log.startswith("epoch 1/2: ") and "epoch 2/2: " in log
    assert warn == "nnlib: warning: mnist: could not write cache /x (full)\n" + warning


def _cell(source="", outputs_=(), tags=()):
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})
    cell.outputs = [nbformat.from_dict(o) for o in outputs_]
    return cell


def test_prepare_moves_logs_keeps_results_and_summarises_parameters():
    stream = {"output_type": "stream", "name": "stdout", "text": "result 1\nepoch 1: 0.5\n"}
    err = {"output_type": "stream", "name": "stderr",
           "text": ("mnist: wrote cache /d\nepoch 1/2: train loss 0.1\ngrid: run 1/2 done\n"
                    "/a.py:3: UserWarning: careful\n  warn()\n")}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# T"),
        _cell("QUICK = False\nSEEDS = [0, 1, 2]\nJOBS = 2", tags=["parameters"]),
        _cell("# Parameters\nQUICK = True\nSEEDS = [0]\n", tags=["injected-parameters"]),
        _cell("work()", [stream, err]),
        _cell("secret()", tags=["remove-cell"]),
    ])
    shown, log = outputs.prepare(nb, {"QUICK": True, "SEEDS": [0]})
    assert [c.cell_type for c in shown.cells] == ["markdown", "code", "code"]
    params = shown.cells[1]
    assert params.metadata["tags"] == [outputs.PARAMS_TAG]
    html = params.outputs[0]["data"]["text/html"]
    assert "QUICK=True, SEEDS=[0], JOBS=2" in html and "# Parameters" not in html
    work = shown.cells[2].outputs
    assert work[0]["text"] == "result 1\nepoch 1: 0.5\n"  # stdout is the notebook's: it stays
    assert "UserWarning: careful" in work[1]["data"]["text/html"]
    assert outputs.WARNING_CLASS in work[1]["data"]["text/html"]
    assert "log (3 lines)" in work[2]["data"]["text/html"]
    assert "mnist: wrote" in log and "grid: run 1/2" in log and "careful" not in log
    assert "--- cell 3 ---" in log
    assert nb.cells[3].outputs[1]["text"].startswith("mnist")  # the input is not modified


def test_parameter_values_literal_and_expression():
    nb = nbformat.v4.new_notebook(cells=[_cell("A = 1\nB = [1, 2]\nC = list(range(3))",
                                               tags=["parameters"])])
    assert parameter_values(nb, {"A": 5}) == {"A": 5, "B": [1, 2], "C": "list(range(3))"}


# --- tables -----------------------------------------------------------------------------------

def test_tables_are_formatted_for_reading():
    df = pd.DataFrame({"test_accuracy": [0.510520, 0.98061], "test_loss": [0.0629123, 1.23456],
                       "training_time_s": [23.456, 7.1], "seed": [0, 1], "x": [12.3456, np.nan],
                       "name": ["a", "b"]})
    cells = re.findall(r"<td>(.*?)</td>", format_table(df))
    assert cells == ["0.5105", "0.06291", "23.5", "0", "12.35", "a",
                     "0.9806", "1.235", "7.1", "1", "–", "b"]
    assert "0.510520" not in format_table(df)
    losses = re.findall(r"<td>(.*?)</td>", format_table(pd.DataFrame({"loss": [0.825, 1.0]})))
    assert losses == ["0.8250", "1.000"]  # 4 significant digits, trailing zeros kept


# --- headings, conclusions ----------------------------------------------------------------------

def test_reanchor_makes_heading_ids_unique_and_rewrites_their_links():
    page = ('<h2 id="Runs">Runs<a class="anchor-link" href="#Runs">¶</a></h2>'
            '<a href="#Runs">see</a><a href="#elsewhere">x</a><div id="T_1">table</div>')
    content, heads = _reanchor(page, "nb-03")
    assert heads == [(2, "nb-03-Runs", "Runs")]
    assert content.count('href="#nb-03-Runs"') == 2 and 'href="#elsewhere"' in content
    assert 'id="T_1"' in content  # only heading ids change


def test_conclusions_collects_markdown_of_tagged_cells():
    cell = _cell("show()", [{"output_type": "display_data", "metadata": {},
                             "data": {"text/markdown": "- **x** is better", "text/plain": "x"}}],
                 tags=["conclusion"])
    md = nbformat.v4.new_markdown_cell("Plain *finding*.", metadata={"tags": ["conclusion"]})
    other = _cell("no()", [{"output_type": "stream", "name": "stdout", "text": "nope"}])
    nb = nbformat.v4.new_notebook(cells=[cell, md, other])
    assert conclusions(nb) == ["- **x** is better", "Plain *finding*."]


# --- the document, built from the fixture notebooks --------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("doc")
    shutil.copytree(FIXTURES, root / "notebooks")
    out = root / "out"
    build_report(quick=True, notebooks_dir=root / "notebooks", out_dir=out, fetch_data=False,
                 cell_timeout=120, log=lambda *a: None)
    return out


@pytest.mark.slow
def test_page_hides_code_logs_and_removed_cells(built):
    page = (built / "01_ok.html").read_text()
    assert '<body class="jp-Notebook nnlib-code-hidden"' in page
    assert 'id="nnlib-toggle-code"' in page and "nnlib-code-toggle" in page  # CSS + JS inline
    assert "this cell is removed from the page" not in page
    assert "fixture result line 7" in page
    assert re.search(r'class="nnlib-log"><summary>log \(1 line\)', page)
    assert "fixture warning 11" in page and outputs.WARNING_CLASS in page
    assert "<td>0.5105</td>" in page and "<td>0.510520</td>" not in page
    assert page.count('class="nnlib-caption"') == 1
    assert 'alt="A falling line, fixture figure two."' in page
    assert "celltag_hide-input" in page and "celltag_conclusion" in page
    assert "Parameters: <code>QUICK=True</code>" in page
    log = (built / "executed" / "01_ok.log").read_text()
    assert "mnist: wrote cache" in log and "fixture result line 7" not in log
    assert 'href="02_fails.html" rel="next"' in page and 'href="index.html"' in page
    assert 'href="report.html"' in page
    fails = (built / "02_fails.html").read_text()
    assert 'href="01_ok.html" rel="prev"' in fails and 'href="03_noparams.html" rel="next"' in fails


@pytest.mark.slow
def test_document_has_every_notebook_the_summary_and_the_findings(built):
    doc = (built / "report.html").read_text()
    index = json.loads((built / "index.json").read_text())
    assert [r["name"] for r in index["notebooks"]] == ["01_ok", "02_fails", "03_noparams"]
    positions = [doc.index(f'id="nb-{n}"') for n in ("01", "02", "03")]
    assert positions == sorted(positions)
    assert doc.index('id="summary"') < positions[0] < positions[-1] < doc.index('id="findings"')
    assert "MLP test accuracy" in doc and "0.9806" in doc  # a headline, with its published
    assert "the fixture computed 4 as its conclusion" in doc[doc.index('id="findings"'):]
    assert "fixture failure 42" in doc  # the failed notebook's error, in its section
    ids = set(re.findall(r'\bid="([^"]+)"', doc))
    toc = doc[doc.index('<nav class="nnlib-toc"'):doc.index("</nav>")]
    targets = re.findall(r'href="#([^"]+)"', toc)
    assert "nb-01-Tables,-logs-and-warnings" in targets
    assert set(targets) <= ids, set(targets) - ids
    inner = re.findall(r'href="#([^"]+)"', doc)
    assert set(inner) <= ids, set(inner) - ids  # every in-document link lands
    assert len(re.findall(r'\bid="([^"]+)"', doc)) == len(ids)  # ids unique
    assert not re.search(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"https?://", doc)
    assert doc.count("data:image/png;base64,") >= 2
    assert index["notebooks"][0]["conclusions"] == ["- the fixture computed 4 as its conclusion"]
    assert (built / "index.html").read_text().count('href="report.html"') >= 1
