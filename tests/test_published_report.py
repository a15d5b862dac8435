"""The published report in ``reports/``, committed with the code.

``test_the_published_report_is_current`` is the guard of ``make test``: a change to a notebook or
to the code that computes numbers cannot land without republishing (``make report``). The others
edit a copy of the checkout the way a person might and check that ``nnlib report --check`` names
what became stale, that ``--render`` rebuilds the pages from the executed notebooks alone, that
the report stays small enough to commit, and that it reads cleanly in a real browser.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from nnlib.cli import main
from nnlib.report.check import check_report, check_text

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "reports"
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCRATCH = ("quick", "custom", "reproduce")


def test_the_published_report_is_current(capsys):
    assert main(["report", "--check"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert all(f"{name}" in out for name in NOTEBOOKS)
    assert out.splitlines()[-1].startswith(f"current: all {len(NOTEBOOKS)} notebooks")


@pytest.fixture
def checkout(tmp_path):
    """A copy of what the check reads: nnlib's source, notebooks, configs, README and the
    published report (without scratch builds)."""
    root = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", *SCRATCH)
    for name in ("nnlib", "notebooks", "configs", "reports"):
        shutil.copytree(ROOT / name, root / name, ignore=ignore)
    shutil.copy(ROOT / "README.md", root / "README.md")
    return root


def _stale(root: Path) -> dict:
    index, findings = check_report(root / "reports", notebooks_dir=root / "notebooks",
                                   root=root, package_dir=root / "nnlib")
    text, code = check_text(index, findings, root)
    stale = {f.item: f.reasons for f in findings if f.reasons}
    assert code == (1 if stale else 0), text
    return stale


def test_a_copy_of_the_checkout_is_current(checkout):
    assert _stale(checkout) == {}


def test_a_hand_edited_number_in_index_json_names_its_notebook(checkout):
    path = checkout / "reports" / "index.json"
    index = json.loads(path.read_text())
    row = next(r for r in index["notebooks"] if r["name"].startswith("06"))
    row["headlines"][0]["ours"] += 0.01
    path.write_text(json.dumps(index, indent=2))
    stale = _stale(checkout)
    assert set(stale) == {row["name"], "pages"}
    assert stale[row["name"]] == ["index.json's headline numbers differ from the executed "
                                  "notebook's"]


def test_a_hand_edited_output_of_an_executed_notebook_names_its_notebook(checkout):
    name = next(n for n in NOTEBOOKS if n.startswith("05"))
    path = checkout / "reports" / "executed" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    number = re.compile(r"0\.9\d{3}")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/markdown") or ""
            if number.search(text):
                out["data"]["text/markdown"] = number.sub("0.9999", text, count=1)
                break
        else:
            continue
        break
    else:
        pytest.fail(f"no accuracy in a Markdown output of {name}")
    nbformat.write(nb, path)
    stale = _stale(checkout)
    assert set(stale) == {name, "pages"}
    assert stale[name][0].startswith("outputs edited by hand")


def test_a_markdown_edit_makes_that_notebook_stale_and_no_other(checkout):
    name = next(n for n in NOTEBOOKS if n.startswith("03"))
    path = checkout / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown")
    cell.source += "\n\nOne more sentence."
    nbformat.write(nb, path)
    assert _stale(checkout) == {name: ["source changed"]}


def test_a_log_message_of_the_run_cache_keeps_everything_current(checkout):
    path = checkout / "nnlib" / "lab" / "runcache.py"
    text = path.read_text()
    assert "which is gone" in text
    path.write_text(text.replace("which is gone", "which has gone away"))
    assert _stale(checkout) == {}


def test_an_edit_in_the_layers_makes_every_notebook_stale(checkout):
    path = checkout / "nnlib" / "nn" / "layers.py"
    path.write_text(path.read_text() + "\n# an edit\n")
    stale = _stale(checkout)
    assert set(stale) == set(NOTEBOOKS)
    assert all(reasons == ["numeric code changed"] for reasons in stale.values())


def _tracked(path: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", path], cwd=ROOT, capture_output=True,
                         check=True).stdout.decode()
    return [ROOT / p for p in out.split("\0") if p]


def test_the_published_report_is_small_enough_to_commit():
    files = _tracked("reports")
    names = {p.relative_to(PUBLISHED).as_posix() for p in files}
    for needed in ("report.html", "report.pdf", "index.html", "index.json", "results.md",
                   "executed/runs.jsonl", *(f"executed/{n}.ipynb" for n in NOTEBOOKS),
                   *(f"{n}.html" for n in NOTEBOOKS)):
        assert needed in names, f"reports/{needed} is not committed"
    total = sum(p.stat().st_size for p in files)
    assert total <= 20 * 2**20, f"reports/ is {total / 2**20:.1f} MB (limit 20 MB)"
    assert (PUBLISHED / "report.html").stat().st_size <= 5 * 2**20


def test_scratch_builds_are_ignored_and_the_report_is_not():
    probes = ["reports/quick/index.html", "reports/custom/report.html",
              "reports/reproduce/runs/x/model.npz", "reports/executed/.01_a.running.ipynb",
              "reports/.report.html.abc.tmp", "reports/report.html",
              "reports/executed/01_activations.ipynb"]
    out = subprocess.run(["git", "check-ignore", "--no-index", *probes], cwd=ROOT,
                         capture_output=True, text=True).stdout.split()
    assert out == probes[:5]


@pytest.mark.slow
def test_render_rebuilds_the_published_pages_without_a_kernel(checkout, tmp_path, monkeypatch,
                                                              chromium):
    """``--render`` on a machine with an empty run cache: no kernel, nothing trained, and the
    report is current afterwards (the PDF printed again by the local Chromium)."""
    import papermill

    from nnlib.report.render import render_report
    monkeypatch.setattr(papermill, "execute_notebook", pytest.fail)
    monkeypatch.setenv("NNLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("NNLIB_HOME", str(checkout))
    for page in (checkout / "reports").glob("*.html"):
        page.unlink()
    index = render_report(checkout / "reports", pdf=True, log=lambda *a: None)
    assert not (tmp_path / "runs").exists()
    assert index["rendered"]["pdf"] == "current"
    assert _stale(checkout) == {}
    # the same executed notebooks render to the same document
    assert (checkout / "reports" / "index.html").read_bytes() == \
        (PUBLISHED / "index.html").read_bytes()


@pytest.mark.slow
def test_the_published_report_reads_cleanly_in_a_browser(browser):
    index = json.loads((PUBLISHED / "index.json").read_text())
    figures = 0
    for row in index["notebooks"]:
        nb = nbformat.read(PUBLISHED / row["executed"], as_version=4)
        figures += sum("image/png" in o.get("data", {}) for c in nb.cells
                       if "remove-cell" not in c.metadata.get("tags", [])
                       for o in c.get("outputs", []))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto((PUBLISHED / "report.html").as_uri())
        page.wait_for_load_state("load")
        sections = page.evaluate("() => [...document.querySelectorAll('section.nnlib-section')]"
                                 ".map(s => s.id)")
        images = page.evaluate("() => [...document.querySelectorAll('main img')].map("
                               "i => i.complete && i.naturalWidth > 0)")
        title = page.inner_text("header.nnlib-titleblock")
        built = page.inner_text("#built")
    finally:
        page.close()
    assert problems == []
    assert sections == [f"nb-{r['number']}" for r in index["notebooks"]] + ["findings", "built"]
    assert len(images) == figures and all(images)
    assert index["commit"] in title and "Machine" in title and "cores" in title
    for row in index["notebooks"]:
        assert row["name"] in built
