"""Publishing mechanics on a tiny project (fixture notebooks, ~1 min): provenance in every
record, ``--render`` from executed notebooks alone, ``--check`` and each reason it gives, the
reproduction table after a build, ``--reproduce``, and which builds may be skipped.

The same checks on the real published report are in ``test_published_report.py``."""
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from nnlib import codehash
from nnlib.cli import main
from nnlib.lab.mnist import MNIST_SHA256
from nnlib.report import build, build_report, provenance, reproduction
from nnlib.report.check import check_report, check_text
from nnlib.report.html import summary_markdown
from nnlib.report.readme import built_line, readme_problems, update_readme
from nnlib.report.render import render_report
from nnlib.report.runtime import run_time_text

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "notebooks"
README = """# A project

<!-- report-built -->
old
<!-- /report-built -->

## Results
<!-- results-summary -->
old
<!-- /results-summary -->
"""


def _make_project(root: Path) -> Path:
    nbs = root / "notebooks"
    nbs.mkdir(parents=True)
    shutil.copy(FIXTURES / "fixture_marker.txt", nbs)
    shutil.copy(FIXTURES / "01_ok.ipynb", nbs)
    text = (FIXTURES / "01_ok.ipynb").read_text()
    (nbs / "02_ok.ipynb").write_text(text.replace("Fixture: a working notebook",
                                                  "Fixture: a second notebook"))
    (root / "configs").mkdir()
    (root / "configs" / "a.json").write_text('{"model": {"sizes": [784, 10]}}\n')
    (root / "README.md").write_text(README)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The tiny project, its report published (full build into reports/, the README's blocks
    written), with NNLIB_HOME and NNLIB_RUNS pointing at it for the module."""
    root = _make_project(tmp_path_factory.mktemp("project"))
    mp = pytest.MonkeyPatch()
    mp.setenv("NNLIB_HOME", str(root))
    mp.setenv("NNLIB_RUNS", str(root / "runs"))
    lines = []
    try:
        rc = build_report(fetch_data=False, cell_timeout=120, log=lines.append, jobs=2)
        yield {"root": root, "out": root / "reports", "rc": rc, "log": lines, "mp": mp}
    finally:
        mp.undo()


def _copy(project, tmp_path) -> Path:
    """A copy of the project (its nnlib source included) to edit."""
    root = tmp_path / "copy"
    shutil.copytree(project["root"], root, ignore=shutil.ignore_patterns("runs"))
    shutil.copytree(codehash.PACKAGE_DIR, root / "nnlib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _check(root: Path):
    index, findings = check_report(root / "reports", notebooks_dir=root / "notebooks",
                                   root=root, package_dir=root / "nnlib", pdf=False)
    return {f.item: f.reasons for f in findings}, check_text(index, findings, root)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# --- the build ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_each_notebook_records_what_it_was_computed_from(project):
    out, root = project["out"], project["root"]
    assert project["rc"] == 0
    index = json.loads((out / "index.json").read_text())
    row = index["notebooks"][0]
    p = row["provenance"]
    source = nbformat.read(root / "notebooks" / "01_ok.ipynb", as_version=4)
    executed = nbformat.read(out / "executed" / "01_ok.ipynb", as_version=4)
    assert p["source_sha256"] == provenance.source_sha256(source)
    assert p["outputs_sha256"] == provenance.outputs_sha256(executed)
    assert p["parameters"] == {"QUICK": False}
    assert p["numeric_sha256"] == provenance.numeric_sha256(root=root)
    assert p["reference_sha256"] == provenance.reference_sha256()
    assert p["mnist_sha256"] == MNIST_SHA256
    assert p["references"][0] == {"name": "MLP test accuracy", "published": 0.9806,
                                   "replayed": 0.97}
    assert p["machine"]["cores"] and p["machine"]["blas"] and p["machine"]["numpy"]
    assert p["duration_s"] == row["duration_s"] > 0
    assert p["runs"] == {"requested": 0, "runs": 0, "trained": 0, "cached": 0, "cpu_s": 0,
                         "run_cpu_s": 0, "by_key": {}}
    assert executed.metadata["nnlib"] == p  # the executed copy carries it too
    assert json.loads((out / "executed" / "01_ok.json").read_text())["provenance"] == p
    # the document says how it was built
    doc = (out / "report.html").read_text()
    assert 'id="built"' in doc and "How this report was built" in doc
    assert p["numeric_sha256"][:12] in doc and p["source_sha256"][:12] in doc
    assert f"{p['machine']['cores']} cores" in doc
    # the README's blocks were written from the published report
    readme = (root / "README.md").read_text()
    assert "Built on " in readme and summary_markdown(index) in readme
    # each notebook's first cell says how long the published build took: the source and the
    # executed copy, rewritten by the render without changing the source hash
    assert row["name"] == "01_ok"
    line = run_time_text(None, None, p["machine"]["cores"])  # the fixture has no measurements
    assert line == "not measured yet"
    for nb_file in (root / "notebooks" / "01_ok.ipynb", out / "executed" / "01_ok.ipynb"):
        assert f"<!-- run-time -->{line}<!-- /run-time -->" in nb_file.read_text(), nb_file
    assert line in (out / "01_ok.html").read_text()
    assert "| 01_ok | MLP test accuracy |" in readme and "[`reports/results.md`]" in readme
    assert not list((out / "executed").glob(".*"))  # no temporary file left


@pytest.mark.slow
def test_a_copied_report_is_executed_again_one_built_here_is_skipped(project, tmp_path,
                                                                     monkeypatch):
    """Skipping is for builds made here: a published report arriving with a clone (no note in
    this machine's run cache) is never served instead of running."""
    root = _copy(project, tmp_path)
    monkeypatch.setenv("NNLIB_HOME", str(root))
    monkeypatch.setenv("NNLIB_RUNS", str(root / "runs"))  # empty: another machine
    lines = []
    assert build_report(fetch_data=False, only=["01"], log=lines.append) == 0
    assert not any("01_ok: unchanged" in line for line in lines) and any(
        "01_ok: ok in" in line for line in lines)
    # the build compared itself with the report it replaced: same notebook, same numbers
    line = "reproduced 2 headlines: 2 identical, 0 consistent (verdict rule), 0 differ"
    assert any(line in text for text in lines), lines
    assert line in (root / "reports" / "reproduction.md").read_text()
    assert "no earlier report" in " ".join(project["log"])  # the very first build had none
    lines.clear()
    assert build_report(fetch_data=False, only=["01"], log=lines.append) == 0
    assert any("01_ok: unchanged" in line for line in lines), lines


def test_runs_are_counted_once_per_notebook_and_once_per_report():
    """A notebook asking twice for a run, and two notebooks sharing one, count it once."""
    a = provenance.run_summary([
        {"key": "k1", "trained": True, "cpu_s": 10.0, "run_cpu_s": 9.0},
        {"key": "k1", "trained": False, "cpu_s": 0.1, "run_cpu_s": 9.0},  # asked again
        {"key": "k2", "trained": False, "cpu_s": 0.2, "run_cpu_s": 4.0}])
    assert {k: a[k] for k in ("requested", "runs", "trained", "cached", "cpu_s",
                              "run_cpu_s")} == {"requested": 3, "runs": 2, "trained": 1,
                                                "cached": 1, "cpu_s": 10.0, "run_cpu_s": 13.0}
    b = provenance.run_summary([{"key": "k1", "trained": False, "cpu_s": 0.1, "run_cpu_s": 9.0},
                                {"key": "k3", "trained": False, "cpu_s": 0.1,
                                 "run_cpu_s": None}])  # a run of unknown cost
    assert b["trained"] == 0 and b["cached"] == 2 and b["run_cpu_s"] is None
    rows = [{"provenance": {"runs": a}}, {"provenance": {"runs": b}}]
    assert provenance.runs_behind(rows) == {"trained": 1, "cached": 2, "cpu_s": 10.0,
                                            "run_cpu_s": None}
    assert provenance.runs_behind(rows[:1])["run_cpu_s"] == 13.0


# --- --check -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_check_a_fresh_copy_is_current(project, tmp_path):
    reasons, (text, code) = _check(_copy(project, tmp_path))
    assert code == 0, text
    assert reasons == {"01_ok": [], "02_ok": [], "pages": [], "README.md": [], "run-time lines": []}
    assert text.splitlines()[-1].startswith("current: all 2 notebooks")


EDITS = {
    # what is edited: (file, old, new), the items expected stale, and a word of the reason
    "markdown of one notebook": ("notebooks/02_ok.ipynb", "a second notebook",
                                 "a second notebook, edited", {"02_ok"}, "source changed"),
    # the README's summary is written from index.json: a summary number edited there shows too
    "a number in index.json": ("reports/index.json", '"ours": 0.981', '"ours": 0.991',
                               {"01_ok", "pages", "README.md"}, "headline numbers differ"),
    "an output of an executed notebook": ("reports/executed/02_ok.ipynb", "QUICK is False",
                                          "QUICK is True", {"02_ok", "pages"},
                                          "outputs edited by hand"),
    "a log message of the run cache": ("nnlib/lab/runcache.py", "which is gone",
                                       "which has gone away", set(), ""),
    "the grid's scheduling": ("nnlib/lab/grid.py", "def relative_cost(",
                              "def relative_cost_of(", set(), ""),
    "a layer": ("nnlib/nn/layers.py", '"""', '"""Edited. ', {"01_ok", "02_ok"},
                "numeric code changed"),
    "a recipe": ("nnlib/lab/recipes.py", "def ", "def _edited():\n    pass\n\n\ndef ",
                 {"01_ok", "02_ok"}, "numeric code changed"),
    "the verdict rule": ("nnlib/report/compare.py", "return 2 * self.sigma",
                         "return 3 * self.sigma", {"01_ok", "02_ok"}, "numeric code changed"),
    "a config file": ("configs/a.json", "784", "785", {"01_ok", "02_ok"},
                      "numeric code changed"),
    "a published reference number": ("nnlib/report/reference.py", "_r(0.9124, 0.2945)",
                                     "_r(0.9125, 0.2945)", {"01_ok", "02_ok"},
                                     "reference numbers changed"),
    "a comment beside the reference numbers": ("nnlib/report/reference.py", "# Experiment 2",
                                               "# Experiment two", set(), ""),
    "the page text": ("reports/report.html", "What we found", "What we find", {"pages"},
                      "report.html edited by hand"),
    "a notebook's run-time line": ("notebooks/01_ok.ipynb", "not measured yet",
                                   "not measured at all", {"run-time lines"},
                                   "run-time line differs"),
    "the README's results summary": ("README.md", "| 01_ok | MLP test accuracy",
                                     "| 01_ok | MLP accuracy", {"README.md"}, "results summary"),
}


@pytest.mark.slow
@pytest.mark.parametrize("what", list(EDITS))
def test_check_names_what_an_edit_made_stale(project, tmp_path, what):
    rel, old, new, stale, reason = EDITS[what]
    root = _copy(project, tmp_path)
    _edit(root / rel, old, new)
    reasons, (text, code) = _check(root)
    assert {item for item, why in reasons.items() if why} == stale, text
    assert code == (1 if stale else 0)
    for item in stale:
        also = item == "pages" or (item == "README.md" and rel.endswith("index.json"))
        assert any(reason in why for why in reasons[item]) or also, (item, text)


@pytest.mark.slow
def test_check_a_quick_or_custom_build_is_not_the_report(project, tmp_path, monkeypatch):
    root = _copy(project, tmp_path)
    monkeypatch.setenv("NNLIB_HOME", str(root))
    monkeypatch.setenv("NNLIB_RUNS", str(root / "runs"))
    # as if a quick build of 01 had been copied over the published one
    assert build_report(quick=True, only=["01"], fetch_data=False, log=lambda *a: None,
                        out_dir=root / "elsewhere") == 0
    shutil.copytree(root / "elsewhere", root / "reports", dirs_exist_ok=True)
    reasons, (_, code) = _check(root)
    assert code == 1
    assert "a quick build, not the report" in reasons["report"][0]
    assert any("parameters differ (published with QUICK=True" in r for r in reasons["01_ok"])


@pytest.mark.slow
def test_an_interrupted_republish_is_stale_until_a_build_finishes(project, tmp_path, monkeypatch):
    import papermill
    root = _copy(project, tmp_path)
    monkeypatch.setenv("NNLIB_HOME", str(root))
    monkeypatch.setenv("NNLIB_RUNS", str(root / "runs"))
    real = papermill.execute_notebook

    def interrupt_02(path, *a, **k):
        if Path(path).name == "02_ok.ipynb":
            raise KeyboardInterrupt
        return real(path, *a, **k)

    monkeypatch.setattr(papermill, "execute_notebook", interrupt_02)
    with pytest.raises(KeyboardInterrupt):
        build_report(fetch_data=False, force=True, log=lambda *a: None)
    before = (project["out"] / "executed" / "02_ok.ipynb").read_bytes()
    assert (root / "reports" / "executed" / "02_ok.ipynb").read_bytes() == before  # kept
    reasons, (_, code) = _check(root)
    assert code == 1 and reasons["02_ok"] == []
    assert "a build that did not finish" in reasons["01_ok"][0]
    monkeypatch.setattr(papermill, "execute_notebook", real)
    assert build_report(fetch_data=False, log=lambda *a: None) == 0
    reasons, (text, code) = _check(root)
    assert code == 0, text


def test_check_without_a_report(tmp_path, capsys):
    reasons = check_report(tmp_path / "none", notebooks_dir=FIXTURES, root=tmp_path)[1]
    assert [(f.item, f.reasons) for f in reasons] == [
        ("report", [f"{tmp_path / 'none' / 'index.json'} does not exist: no report was built "
                    f"in {tmp_path / 'none'}"])]
    assert main(["report", "--check", "--out", str(tmp_path / "none")]) == 1
    assert "stale" in capsys.readouterr().out


def test_check_and_render_take_no_build_options(capsys):
    for argv in (["--check", "--quick"], ["--render", "--only", "03"],
                 ["--check", "-p", "SEEDS", "[0]"]):
        assert main(["report", *argv]) == 2
        err = capsys.readouterr().err
        assert "executes nothing" in err and err.count("\n") == 1
    assert main(["report", "--check", "--render"]) == 2  # argparse: not allowed together


# --- --render ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_render_rebuilds_the_pages_from_the_executed_notebooks_alone(project, tmp_path,
                                                                     monkeypatch):
    import papermill
    root = _copy(project, tmp_path)
    out = root / "reports"
    for page in ("01_ok.html", "report.html", "index.html", "results.md"):
        (out / page).unlink()
    monkeypatch.setattr(papermill, "execute_notebook", pytest.fail)  # no kernel
    monkeypatch.setenv("NNLIB_RUNS", str(tmp_path / "empty-runs"))
    index = render_report(out, pdf=False)
    assert not (tmp_path / "empty-runs").exists()  # nothing trained, nothing cached
    assert (out / "report.html").is_file() and (out / "01_ok.html").is_file()
    assert set(index["rendered"]["files"]) == {
        "01_ok.html", "02_ok.html", "executed/01_ok.log", "executed/02_ok.log", "index.html",
        "results.md", "report.html"}
    for name in ("01_ok.html", "report.html", "results.md"):  # the same inputs, the same pages
        assert (out / name).read_bytes() == (project["out"] / name).read_bytes(), name
    reasons, _ = _check(root)
    assert reasons["01_ok"] == [] and reasons["pages"] == []


def test_render_records_a_pdf_it_could_not_print(tmp_path, monkeypatch):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "index.json").write_text(json.dumps({"mode": "full", "generated": "now",
                                                "commit": "abc", "parameters": {},
                                                "failed": [], "notebooks": []}))
    (out / "report.pdf").write_bytes(b"%PDF- an old one")
    monkeypatch.setenv("NNLIB_CHROMIUM", str(tmp_path / "no-browser"))
    lines = []
    index = render_report(out, pdf="auto", log=lines.append)
    assert index["rendered"]["pdf"] == "stale" and "report.pdf" not in index["rendered"]["files"]
    assert any("report.pdf not printed again" in line for line in lines)
    reasons = {f.item: f.reasons for f in check_report(out, notebooks_dir=tmp_path,
                                                       root=tmp_path, readme=False)[1]}
    assert any("older than report.html" in r for r in reasons["pages"])


# --- the reproduction table --------------------------------------------------------------------

def _index(**headlines):
    rows = []
    for name, value in headlines.items():
        ours, std, n = value if isinstance(value, tuple) else (value, None, 1)
        rows.append({"name": name, "ours": ours, "ours_std": std, "n_seeds": n,
                     "vs_published": {"verdict": "consistent"}, "vs_replayed": None})
        if n == 1 and not name.startswith("lone"):  # one seed: σ from its family
            rows[-1]["family_std"] = 0.001
    return {"notebooks": [{"name": "01_a", "headlines": rows}]}


def test_reproduction_identical_consistent_differs_new_and_gone():
    before = _index(same=(0.98, 0.001, 3), moved=0.9800, far=0.9800, gone=0.5, lone=0.98)
    now = _index(same=(0.98, 0.001, 3), moved=0.9810, far=0.9900, new=0.5, lone=0.9801)
    rows = reproduction.compare_headlines(before, now, ["01_a"])
    status = {r["headline"]: r["status"] for r in rows}
    assert status == {"same": "identical", "moved": "consistent", "far": "differs",
                      "new": "differs", "gone": "differs", "lone": "differs"}
    far = next(r for r in rows if r["headline"] == "far")
    assert far["before"] == "0.9800 (1 seed)" and far["now"] == "0.9900 (1 seed)"
    # two single runs: 2σ·√(1/1 + 1/1) with the family's σ 0.001
    assert "+0.0100" in far["detail"] and "2σ·√(2/1) = 0.0028" in far["detail"]
    lone = next(r for r in rows if r["headline"] == "lone")  # one seed, no σ: cannot judge
    assert "no seed spread" in lone["detail"]
    assert reproduction.reproduction_line(rows) == (
        "reproduced 6 headlines: 1 identical, 1 consistent (verdict rule), 4 differ")
    # the same mean with another std is not identical
    rows = reproduction.compare_headlines(_index(a=(0.98, 0.001, 3)), _index(a=(0.98, 0.002, 3)),
                                          ["01_a"])
    assert rows[0]["status"] == "consistent"
    md = reproduction.reproduction_markdown(rows, "the published report")
    assert md.startswith("# Reproduction: reproduced 1 headline: 0 identical, 1 consistent")
    assert "| 01_a | a | 0.9800 ± 0.0010 (3 seeds) | 0.9800 ± 0.0020 (3 seeds) | consistent |" \
        in md


@pytest.mark.slow
def test_reproduce_compares_a_cold_build_with_the_published_report(project, tmp_path,
                                                                   monkeypatch, capsys):
    root = _copy(project, tmp_path)
    monkeypatch.setenv("NNLIB_HOME", str(root))
    monkeypatch.setenv("NNLIB_RUNS", str(root / "runs"))
    published = {p.name: p.read_bytes() for p in (root / "reports").glob("*.*")}
    assert main(["report", "--reproduce", "--only", "01"]) == 0
    scratch = root / "reports" / "reproduce"
    assert (scratch / "runs").is_dir() and not (root / "runs").exists()  # its own run cache
    summary = json.loads((scratch / "reproduction.json").read_text())
    assert summary["summary"] == ("reproduced 2 headlines: 2 identical, 0 consistent (verdict "
                                  "rule), 0 differ")
    assert "reports/index.json" in summary["against"]
    assert {p.name: p.read_bytes() for p in (root / "reports").glob("*.*")} == published
    # a published number that the code does not give: exit 1, naming it
    _edit(root / "reports" / "index.json", '"ours": 0.9912', '"ours": 0.9712')
    capsys.readouterr()
    assert main(["report", "--reproduce", "--only", "01"]) == 1
    out = capsys.readouterr().out
    assert "differs: 01_ok CNN test accuracy: published 0.9712, now 0.9912 (Δ +0.0200" in out
    # a folder it did not make is not emptied
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["report", "--reproduce", "--out", str(tmp_path / "mine")]) == 1
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


# --- README blocks ------------------------------------------------------------------------------

def test_readme_blocks_are_written_and_checked(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    heads = [{"name": "final", "ours": 0.98, "ours_std": 0.001, "n_seeds": 3, "published": 0.97,
              "replayed": 0.9805, "summary": True,
              "vs_published": {"verdict": "below", "difference": -0.01},
              "vs_replayed": {"verdict": "consistent", "difference": 0.0005}},
             {"name": "other", "ours": 0.95, "ours_std": None, "n_seeds": 1, "published": 0.96,
              "replayed": None, "vs_published": {"verdict": "unjudged", "difference": 0.01},
              "vs_replayed": None}]
    index = {"generated": "2026-12-04 10:00:00 UTC", "commit": "abc1234",
             "notebooks": [{"name": "01_a", "duration_s": 120.0, "headlines": heads,
                            "provenance": {"machine": {"cores": 2}}, "skipped": True}]}
    assert len(readme_problems(readme, index)) == 2
    assert update_readme(readme, index) is True
    assert readme_problems(readme, index) == []
    text = readme.read_text()
    assert ("Built on 2026-12-04 at commit `abc1234`: 1 notebook, 2 min of notebook execution "
            "(their last runs, added up) on 2 cores, 0 training runs trained and 0 taken from the "
            "run cache") in text
    # the summary: the rows marked "summary" only, then the counts over every headline
    summary = text.split("<!-- results-summary -->\n")[1].split("<!-- /results-summary -->")[0]
    assert ("| 01_a | final | 0.9700 | 0.9805 | 0.9800 ± 0.0010 (3 seeds) | published 0.0100 "
            "below ours | consistent |") in summary
    assert "| other |" not in summary
    assert ("All 2 headline numbers: [`reports/results.md`](reports/results.md). Against the "
            "report's code replayed, 1 of 1 consistent (0 with the replayed number above ours, 0 "
            "below); against its published numbers, 0 of 1 consistent (0 with the published "
            "number above ours, 1 below).") in summary
    assert update_readme(readme, index) is False  # nothing to change
    built = {**index, "duration_s": 2590.0, "notebooks": [{**index["notebooks"][0],
                                                          "skipped": False}]}
    assert "1 notebook, built in 43 min on 2 cores" in built_line(built)
    readme.write_text("# no blocks\n")
    assert update_readme(readme, index) is False
    assert readme_problems(readme, index) == ["no <!-- report-built --> block",
                                              "no <!-- results-summary --> block"]


# --- figures ------------------------------------------------------------------------------------

def test_figures_are_palette_pngs_a_fraction_of_the_size():
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from nnlib.report.notebook import figure_png
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    a.plot(np.sin(np.linspace(0, 9, 200)))
    b.imshow(np.random.default_rng(0).normal(size=(28, 28)), cmap="RdBu")
    png = figure_png(fig)
    full = io.BytesIO()
    fig.savefig(full, format="png", bbox_inches="tight")
    plt.close(fig)
    small, rgba = Image.open(io.BytesIO(png)), Image.open(io.BytesIO(full.getvalue()))
    assert small.mode == "P" and small.size == rgba.size
    assert len(png) < 0.6 * len(full.getvalue())
    # the same picture: every pixel within a few levels of the original
    diff = np.abs(np.asarray(small.convert("RGB"), dtype=int)
                  - np.asarray(rgba.convert("RGB"), dtype=int))
    assert np.percentile(diff, 99) <= 8 and diff.mean() < 1.0


def test_build_module_names_what_it_publishes():
    assert build.output_dir(quick=True).name == "quick"
    assert build.output_dir(custom=True).name == "custom"
    assert build.output_dir() == build.published_dir()
