"""The report pipeline end to end on tiny fixture notebooks (papermill + nbconvert, ~10 s).

Fixtures (tests/fixtures/notebooks, committed without outputs; copied to tmp_path so nothing is
written into the repo): 01_ok plots a figure and publishes headline numbers, 02_fails
raises, 03_noparams has no ``parameters`` cell.
"""
import json
import re
import shutil
from pathlib import Path

import pytest

from nnlib import report
from nnlib.report import build, build_report, env, parameters, runtime
from nnlib.report import html as report_html

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "notebooks"
CDN = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    nb_dir = root / "notebooks"
    shutil.copytree(FIXTURES, nb_dir)
    out = root / "out"
    lines = []
    rc = build_report(quick=True, notebooks_dir=nb_dir, out_dir=out, fetch_data=False,
                      cell_timeout=120, log=lines.append)
    index = json.loads((out / "index.json").read_text())
    return {"rc": rc, "out": out, "nb_dir": nb_dir, "index": index, "log": lines,
            "rows": {r["number"]: r for r in index["notebooks"]}}


@pytest.mark.slow
def test_exit_code_and_statuses(built):
    assert built["rc"] == 1  # 02 and 03 fail, the build still completes
    rows = built["rows"]
    assert list(rows) == ["01", "02", "03"]
    assert rows["01"]["status"] == "ok" and rows["01"]["error"] is None
    assert rows["01"]["title"] == "Fixture: a working notebook"
    assert rows["02"]["status"] == "error"
    assert "RuntimeError: fixture failure 42" in rows["02"]["error"]
    assert "\n" not in rows["02"]["error"]
    assert rows["03"]["status"] == "error" and "parameters" in rows["03"]["error"]
    assert built["index"]["mode"] == "quick" and built["index"]["parameters"] == {"QUICK": True}
    assert built["index"]["failed"] == ["02_fails", "03_noparams"]
    assert all(r["duration_s"] > 0 for r in (rows["01"], rows["02"]))


@pytest.mark.slow
def test_ok_page(built):
    out = built["out"]
    page = (out / "01_ok.html").read_text()
    assert "data:image/png;base64," in page  # the matplotlib figure, embedded
    assert "QUICK is True" in page  # the parameter reached the kernel
    assert "# Parameters" not in page  # papermill's injected-parameters cell is removed
    assert "injected-parameters" not in page
    assert "Smoke run" in page and "nnlib-banner" in page and "QUICK=True" in page
    assert re.search(r"commit <code>[^<]+</code>", page)
    assert not CDN.search(page), CDN.search(page).group(0)
    assert 'src="http' not in page
    assert (out / "executed" / "01_ok.ipynb").is_file()
    # nothing was written next to the source notebooks
    assert sorted(p.name for p in built["nb_dir"].iterdir()) == sorted(
        p.name for p in FIXTURES.iterdir())


@pytest.mark.slow
def test_error_pages(built):
    out = built["out"]
    page = (out / "02_fails.html").read_text()
    assert "fixture failure 42" in page and "Error:" in page
    assert "papermill-error-cell" in page  # papermill's marker of the failing cell
    assert "before the failure" in page  # cells before the failure were executed and kept
    assert "never reached</pre>" not in page
    assert not CDN.search(page)
    page3 = (out / "03_noparams.html").read_text()
    assert "no cell tagged" in page3 and not CDN.search(page3)


@pytest.mark.slow
def test_headlines_in_index(built):
    heads = built["rows"]["01"]["headlines"]
    mlp, cnn = heads
    assert {k: mlp[k] for k in ("name", "ours", "ours_std", "n_seeds", "published",
                                "replayed")} == {
        "name": "MLP test accuracy", "ours": 0.981, "ours_std": 0.001, "n_seeds": 3,
        "published": 0.9806, "replayed": 0.97}
    # verdicts, carried by index.json: 2σ·√(1 + 1/3) = 2·0.001·1.155 = 0.0023
    assert mlp["vs_published"]["verdict"] == "consistent"
    assert mlp["vs_replayed"]["verdict"] == "below"
    assert mlp["vs_replayed"]["difference"] == pytest.approx(0.97 - 0.981)
    # the old key "report" still means "published"; no replay -> no verdict; one seed -> the
    # family's σ: 2·0.001·√2 = 0.0028 > |0.992 − 0.9912|
    assert cnn["ours_std"] is None and cnn["published"] == 0.992 and cnn["replayed"] is None
    assert cnn["family_std"] == 0.001
    assert cnn["vs_published"]["verdict"] == "consistent" and cnn["vs_replayed"] is None
    assert cnn["vs_published"]["tolerance"] == pytest.approx(2 * 0.001 * 2 ** 0.5)
    index = json.loads((built["out"] / "index.json").read_text())
    assert index["notebooks"][0]["headlines"][0]["vs_replayed"]["verdict"] == "below"
    index_html = (built["out"] / "index.html").read_text()
    assert "MLP test accuracy" in index_html and "0.9810 ± 0.0010 (3 seeds)" in index_html
    assert "<td class=\"num\">0.9806</td>" in index_html
    assert "replayed 0.0110 below ours" in index_html
    assert "consistent" in index_html
    table = (built["out"] / "results.md").read_text()
    assert ("| 01_ok | MLP test accuracy | 0.9806 | 0.9700 | 0.9810 ± 0.0010 (3 seeds) | "
            "consistent | replayed 0.0110 below ours |") in table
    assert "| 01_ok | CNN test accuracy | 0.9920 | – | 0.9912 | consistent | – |" \
        in table
    assert 'href="01_ok.html"' in index_html and 'href="02_fails.html"' in index_html
    assert "fixture failure 42" in index_html
    assert not CDN.search(index_html) and "<style>" in index_html


@pytest.mark.slow
def test_rerun_skips_unchanged_and_force_reexecutes(built, tmp_path):
    # a copy, so the module fixture's output stays as the other tests expect it
    out = tmp_path / "out"
    shutil.copytree(built["out"], out)
    lines = []
    rc = build_report(quick=True, notebooks_dir=built["nb_dir"], out_dir=out,
                      fetch_data=False, only=["1"], log=lines.append)
    assert rc == 0
    assert any("01_ok: unchanged" in line for line in lines)
    index = json.loads((out / "index.json").read_text())
    assert [r["status"] for r in index["notebooks"]] == ["ok", "error", "error"]  # others kept
    assert index["notebooks"][0]["skipped"] is True
    lines.clear()
    rc = build_report(quick=True, notebooks_dir=built["nb_dir"], out_dir=out,
                      fetch_data=False, only=["01"], force=True, log=lines.append)
    assert rc == 0 and any("01_ok: ok in" in line for line in lines)


@pytest.mark.slow
def test_only_selection_and_jobs(tmp_path):
    nb_dir = tmp_path / "notebooks"
    shutil.copytree(FIXTURES, nb_dir)
    out = tmp_path / "out"
    (nb_dir / runtime.EXPECTED_DURATIONS).write_text('{"01_ok": 120, "02_fails": 60}')
    lines = []
    # two kernels at once: each must still run in the notebooks' folder (01 checks its cwd)
    rc = build_report(quick=False, only=["01", "02"], jobs=2, notebooks_dir=nb_dir,
                      out_dir=out, fetch_data=False, log=lines.append)
    assert rc == 1  # 02 raises
    # a first full build estimates the time left from the committed durations
    started = [line for line in lines if ": executing" in line]
    assert len(started) == 2 and all(line.endswith("~2 min left (2 from the dev machine's times)")
                                     for line in started), started
    index = json.loads((out / "index.json").read_text())
    assert [(r["number"], r["status"]) for r in index["notebooks"]] == [("01", "ok"),
                                                                        ("02", "error")]
    assert index["mode"] == "full" and index["parameters"] == {"QUICK": False}
    assert not (out / "03_noparams.html").exists()
    page = (out / "01_ok.html").read_text()
    assert "Full run" in page and "Smoke run" not in page and "QUICK is False" in page


# --- fast unit tests (no kernel) --------------------------------------------------------------

def test_unknown_only_raises(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "nb")
    with pytest.raises(ValueError, match=r"07.*available.*01, 02, 03"):
        build_report(only=["07"], notebooks_dir=tmp_path / "nb", out_dir=tmp_path / "o",
                     fetch_data=False)
    assert not (tmp_path / "o").exists()


def test_list_notebooks_selection():
    names = [p.name for p in report.list_notebooks(FIXTURES, ["3", "01"])]
    assert names == ["01_ok.ipynb", "03_noparams.ipynb"]


def test_default_output_dirs_quick_never_over_full(tmp_path, monkeypatch):
    """Quick builds go to reports/quick/, builds with -p parameters to reports/custom/, and
    neither may be pointed at the published report."""
    monkeypatch.setenv("NNLIB_HOME", str(tmp_path))
    monkeypatch.setenv("NNLIB_RUNS", str(tmp_path / "runs"))
    shutil.copytree(FIXTURES, tmp_path / "notebooks")
    nb_file = tmp_path / "notebooks" / "01_ok.ipynb"
    nb_file.write_text(nb_file.read_text().replace('"QUICK = False  # smoke-run mode"',
                                                   '"QUICK = False\\nSEEDS = [0, 1]"'))
    outs, passed = [], []

    def fake_execute(path, *, build, parameters, **kw):
        outs.append(build.out)
        passed.append(parameters)
        return {"number": path.stem[:2], "name": path.stem, "title": path.stem,
                "status": "ok", "error": None, "duration_s": 0.1, "page": f"{path.stem}.html",
                "headlines": [], "mode": build.mode, "parameters": parameters,
                "commit": build.commit, "date": "today"}
    monkeypatch.setattr(build, "_execute", fake_execute)
    quiet = {"fetch_data": False, "log": lambda s: None, "only": ["01"]}
    assert build_report(quick=True, **quiet) == 0
    assert build_report(quick=False, **quiet) == 0
    assert build_report(parameters={"SEEDS": [0]}, **quiet) == 0
    reports = tmp_path / "reports"
    assert outs == [reports / "quick", reports, reports / "custom"]
    # a quick build runs one seed, and says so: the parameters shown are the ones that ran
    assert passed == [{"QUICK": True, "SEEDS": [0]}, {"QUICK": False},
                      {"QUICK": False, "SEEDS": [0]}]
    for folder in outs:
        assert (folder / "index.json").is_file()
    for kw in ({"quick": True}, {"parameters": {"SEEDS": [0]}}):
        with pytest.raises(report.ReportError, match="holds the published report"):
            build_report(out_dir=reports, **kw, **quiet)
    assert len(outs) == 3  # refused before anything ran
    (tmp_path / "empty").mkdir()
    with pytest.raises(report.ReportError, match="no NN_"):
        build_report(notebooks_dir=tmp_path / "empty", fetch_data=False)


def test_kernel_check_accepts_this_environment():
    import sys
    exe = report.kernel_check()
    assert exe == sys.executable or exe.startswith(sys.prefix)


def test_headline_helper(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    import numpy as np
    rows = report.headline([{"name": "acc", "ours": np.float32(0.5), "ours_std": 0.01,
                             "n_seeds": 2, "report": 0.49, "replayed": np.float64(0.6)}])
    (row,) = rows
    assert {k: row[k] for k in ("name", "ours", "ours_std", "n_seeds", "published",
                                "replayed")} == {
        "name": "acc", "ours": 0.5, "ours_std": 0.01, "n_seeds": 2, "published": 0.49,
        "replayed": 0.6}
    # 2σ·√(1 + 1/2) = 2·0.01·1.22 = 0.0245: 0.49 is consistent, 0.6 is above
    assert row["vs_published"]["verdict"] == "consistent"
    assert row["vs_replayed"]["verdict"] == "above"
    assert row["vs_replayed"]["tolerance"] == pytest.approx(2 * 0.01 * 1.5 ** 0.5)
    (obj, raw), = shown
    assert raw is True and obj[report.HEADLINE_MIME] == rows
    json.dumps(obj[report.HEADLINE_MIME])
    assert "acc" in obj["text/plain"] and "0.5000 ± 0.0100" in obj["text/plain"]
    assert "replayed 0.1000 above ours" in obj["text/plain"]
    # one seed and no family σ: shown, not judged
    (lone,) = report.headline([{"name": "one", "ours": 0.5, "n_seeds": 1, "published": 0.4}])
    assert lone["vs_published"]["verdict"] == "unjudged"
    # "ours" that is not an accuracy gets no verdict
    assert report.headline([{"name": "s", "ours": 12.0, "published": 10.0}])[0][
        "vs_published"] is None
    with pytest.raises(ValueError):
        report.headline([{"name": "no value"}])


def test_strip_cdn():
    html = ('<script src="https://cdn.x/require.js"></script><script>var a=1;</script>'
            '<link rel="stylesheet" href="//cdn.x/a.css"><a href="https://ok.example">x</a>')
    out = report_html.strip_cdn(html)
    assert "cdn.x" not in out and "var a=1" in out and "https://ok.example" in out


def test_kernel_check_rejects_a_foreign_python(monkeypatch):
    from jupyter_client import kernelspec

    class Spec:
        argv = ("/opt/elsewhere/bin/python3", "-m", "ipykernel_launcher", "-f", "{c}")
        resource_dir = "/opt/elsewhere/share/jupyter/kernels/python3"

    monkeypatch.setattr(kernelspec.KernelSpecManager, "get_kernel_spec", lambda self, name: Spec)
    with pytest.raises(report.ReportError, match="ipykernel install --sys-prefix --name nnlib"):
        report.kernel_check()


def test_parameter_check(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}

    def nb(src, tags=("parameters",)):
        path = tmp_path / "09_x.ipynb"
        nbformat.write(new_notebook(cells=[new_code_cell(src, metadata={"tags": list(tags)})],
                                    metadata=meta), path)
        return path

    assert parameters.check_parameters(nb("QUICK = False"), {"QUICK": True}) is None
    assert parameters.check_parameters(nb("QUICK: bool = False"), {"QUICK": True}) is None
    assert "does not declare QUICK" in parameters.check_parameters(nb("FAST = 1"), {"QUICK": True})
    assert "defaults to str" in parameters.check_parameters(nb("QUICK = 'no'"), {"QUICK": True})
    assert "no cell tagged" in parameters.check_parameters(nb("QUICK = False", ()), {"QUICK": True})


@pytest.mark.slow
def test_cell_timeout_stops_a_hanging_notebook(tmp_path):
    import time

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=[
        new_code_cell("QUICK = False", metadata={"tags": ["parameters"]}),
        new_code_cell("import time\ntime.sleep(600)")], metadata=meta), nb_dir / "01_hangs.ipynb")
    t0 = time.monotonic()
    rc = build_report(quick=True, notebooks_dir=nb_dir, out_dir=tmp_path / "out",
                      fetch_data=False, cell_timeout=3, log=lambda *a: None)
    assert time.monotonic() - t0 < 120
    row = json.loads((tmp_path / "out" / "index.json").read_text())["notebooks"][0]
    assert rc == 1 and row["status"] == "error"
    error = (row.get("error") or "").lower()
    assert "timed out" in error or "timeout" in error
    assert (tmp_path / "out" / "01_hangs.html").exists()


def test_kernel_manager_asks_for_encryption_where_available():
    import zmq
    km = env.kernel_manager_class()()
    if zmq.has("curve") and hasattr(km, "transport_encryption"):
        assert km.transport_encryption == "auto"


@pytest.mark.slow
def test_kernels_start_without_the_unencrypted_tcp_warning(tmp_path, capfd):
    """Kernel stderr goes straight to ours: no per-notebook security warning in the report log."""
    import zmq
    if not zmq.has("curve"):
        pytest.skip("pyzmq without CurveZMQ: kernels fall back to plain TCP")
    nb_dir = tmp_path / "notebooks"
    shutil.copytree(FIXTURES, nb_dir)
    rc = build_report(quick=True, notebooks_dir=nb_dir, out_dir=tmp_path / "out", only=["01"],
                      fetch_data=False, cell_timeout=120, log=lambda *a: None)
    assert rc == 0
    err = capfd.readouterr().err
    assert "without encryption" not in err, err


def test_skip_key_covers_every_tier_of_the_package(tmp_path):
    """An edit anywhere in nnlib (network math, lab or presentation) re-executes the notebooks."""
    pkg = tmp_path / "nnlib"
    for sub in ("nn", "lab", "report"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "m.py").write_text("x = 1\n")
    nb_file = tmp_path / "01_a.ipynb"
    nb_file.write_text("{}")
    key = build._skip_key(nb_file, {"QUICK": True}, tmp_path, pkg=pkg)
    assert build._skip_key(nb_file, {"QUICK": True}, tmp_path, pkg=pkg) == key
    for sub in ("nn", "lab", "report"):
        (pkg / sub / "m.py").write_text("x = 2\n")
        changed = build._skip_key(nb_file, {"QUICK": True}, tmp_path, pkg=pkg)
        assert changed != key, f"an edit in {sub}/ kept the skip key"
        key = changed
    assert build._skip_key(nb_file, {"QUICK": False}, tmp_path, pkg=pkg) != key
    # the real package folder is nnlib itself, not nnlib/report
    assert (build.PACKAGE_DIR / "lab" / "training.py").is_file()


def test_side_by_side_notebooks_start_longest_first_new_ones_before():
    from nnlib.report.build import _longest_first
    todo = [(Path(f"{name}.ipynb"), "key") for name in ("01_a", "02_b", "03_c", "04_d")]
    previous = {"01_a": 30.0, "02_b": 400.0, "04_d": 90.0}  # 03_c never ran
    assert [p.stem for p, _ in _longest_first(todo, previous)] == ["03_c", "02_b", "04_d",
                                                                   "01_a"]
    assert [p.stem for p, _ in _longest_first(todo, {})] == ["01_a", "02_b", "03_c", "04_d"]


def test_a_first_run_orders_by_the_committed_expected_durations(tmp_path):
    from nnlib.report.build import _expected_durations
    from nnlib.report.runtime import EXPECTED_DURATIONS
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    expected = _expected_durations(notebooks)
    names = {p.stem for p in notebooks.glob("[0-9][0-9]_*.ipynb")}
    assert set(expected) == names and all(v > 0 for v in expected.values())
    (tmp_path / EXPECTED_DURATIONS).write_text("not json")
    assert _expected_durations(tmp_path) == {}
    assert _expected_durations(tmp_path / "missing") == {}
