"""``nnlib report -p NAME VALUE`` (parameters per notebook, papermill's way) and the progress
display, on tiny synthetic notebooks in a tmp folder (kernel tests take a few seconds)."""
import json
import threading

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nnlib.cli import main
from nnlib.cli import report as cli_report
from nnlib.report import build, build_report
from nnlib.report import parameters as report_parameters
from nnlib.report.parameters import parse_value
from nnlib.report.progress import Progress, clock_text, left_text, time_left

META = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def write_nb(folder, name, params, body="print('ran')"):
    """A notebook ``folder/name.ipynb`` whose parameters cell is ``params`` (None: no such
    cell), then ``body``."""
    folder.mkdir(parents=True, exist_ok=True)
    cells = [new_markdown_cell(f"# {name}")]
    if params is not None:
        cells.append(new_code_cell(params, metadata={"tags": ["parameters"]}))
    cells.append(new_code_cell(body))
    path = folder / f"{name}.ipynb"
    nbformat.write(new_notebook(cells=cells, metadata=META), path)
    return path


def refusal(paths, parameters) -> str:
    with pytest.raises(report_parameters.ParameterError) as info:
        report_parameters.notebook_parameters(paths, parameters)
    return str(info.value)


@pytest.fixture
def nbs(tmp_path):
    """01 declares SEEDS and JOBS, 02 only QUICK, 03 SEEDS and LR (a float)."""
    d = tmp_path / "notebooks"
    return {"dir": d,
            "01": write_nb(d, "01_a", "QUICK = False\nSEEDS = [0, 1, 2]\nJOBS = 2",
                           "print('SEEDS', SEEDS, 'JOBS', JOBS)"),
            "02": write_nb(d, "02_b", "QUICK = False", "print('QUICK', QUICK)"),
            "03": write_nb(d, "03_c", "QUICK = False\nSEEDS = [0]\nLR: float = 0.1")}


# --- -p values, papermill's way ------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("[0]", [0]), ("[0, 1]", [0, 1]), ("1", 1), ("-3", -3), ("0.5", 0.5), ("1e-3", 0.001),
    ("True", True), ("true", True), ("False", False), ("false", False), ("None", None),
    ("null", None), ('"x"', "x"), ("'x'", "x"), ("x", "x"), ("hello world", "hello world"),
    ("", ""), ('{"a": [1, true]}', {"a": [1, True]}), ("{'a': 1}", {"a": 1}),
])
def test_parameter_values(text, value):
    got = parse_value("X", text)
    assert got == value and type(got) is type(value)


def test_parameter_values_papermill_reads_the_same():
    """Where papermill's ``-p`` gives a non-string, we give the same value."""
    from papermill.cli import _resolve_type
    for text in ("1", "-3", "0.5", "1e-3", "True", "False", "None", "1_000", " 7 ", "inf"):
        assert parse_value("X", text) == _resolve_type(text), text


def test_parameter_value_that_json_cannot_carry(capsys):
    assert main(["report", "-p", "SEEDS", "(0, 1)"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nnlib: error: -p SEEDS: (0, 1) is a Python tuple; the report passes JSON "
                   "values (lists, not tuples or sets: [0, 1])"]


def test_cli_passes_parameters(monkeypatch):
    calls = []
    monkeypatch.setattr(cli_report, "build_report", lambda **kw: calls.append(kw) or 0)
    assert main(["report", "-p", "SEEDS", "[0]", "-p", "JOBS", "1", "-p", "NAME", "x",
                 "-p", "JOBS", "3", "--quick"]) == 0
    assert calls[-1]["parameters"] == {"SEEDS": [0], "JOBS": 3, "NAME": "x"}  # last one wins
    assert calls[-1]["quick"] is True
    assert main(["report", "-p", "2X", "1"]) == 2


def test_help_tells_p_jobs_from_jobs(capsys):
    assert main(["report", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "-p NAME VALUE" in text and "--pdf" in text
    assert "JOBS is the grid workers inside each notebook, --jobs the notebooks run at once" \
        in text


# --- which notebook receives what ----------------------------------------------------------

def test_each_notebook_receives_what_it_declares(nbs):
    paths = [nbs["01"], nbs["02"], nbs["03"]]
    got = report_parameters.notebook_parameters(paths, {"SEEDS": [0], "JOBS": 1})
    assert got == {nbs["01"]: {"SEEDS": [0], "JOBS": 1}, nbs["02"]: {},
                   nbs["03"]: {"SEEDS": [0]}}
    assert report_parameters.notebook_parameters(paths, {}) == {p: {} for p in paths}
    # an int stands for a float (papermill reads "-p LR 1" as 1)
    assert report_parameters.notebook_parameters(paths, {"LR": 1})[nbs["03"]] == {"LR": 1}


def test_undeclared_everywhere_is_an_error_naming_what_is_declared(nbs):
    assert refusal([nbs["01"], nbs["02"], nbs["03"]], {"SEEDS": [0], "FOO": 1}) == (
        "parameter FOO: no selected notebook declares it; they declare QUICK, SEEDS, JOBS, LR")
    # declared only by a notebook that is not selected: still an error
    assert refusal([nbs["02"]], {"JOBS": 1}) == (
        "parameter JOBS: no selected notebook declares it; they declare QUICK")
    nothing = write_nb(nbs["dir"], "04_none", None)
    assert refusal([nothing], {"JOBS": 1}).endswith("they declare no parameters")


def test_type_mismatch_keeps_the_check_s_one_line_error(nbs):
    assert refusal([nbs["02"], nbs["01"]], {"SEEDS": 0}) == (
        "parameter SEEDS: 01_a.ipynb: defaults to list [0, 1, 2], report passes int 0")
    assert refusal([nbs["03"]], {"LR": "fast"}) == (
        "parameter LR: 03_c.ipynb: is annotated float, report passes str")
    assert refusal([nbs["01"]], {"JOBS": 1.5}) == (
        "parameter JOBS: 01_a.ipynb: defaults to int 2, report passes float 1.5")
    assert refusal([nbs["01"]], {"QUICK": True}).startswith(
        "parameter QUICK: set it with quick=True")
    # the per-notebook check (QUICK, no parameters cell) says the same thing in its own words
    assert report_parameters.check_parameters(nbs["01"], {"SEEDS": 0}) == (
        "01_a.ipynb: parameter SEEDS defaults to list [0, 1, 2], report passes int 0")


def test_cli_errors_are_one_line_exit_2(nbs, monkeypatch, capsys):
    monkeypatch.setenv("NNLIB_HOME", str(nbs["dir"].parent))
    monkeypatch.delenv("NNLIB_DEBUG", raising=False)
    assert main(["report", "-p", "FOO", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nnlib: error: -p FOO: no selected notebook declares it; they declare "
                   "QUICK, SEEDS, JOBS, LR"]
    assert main(["report", "--only", "02", "-p", "SEEDS", "[1]"]) == 2
    assert capsys.readouterr().err.strip() == ("nnlib: error: -p SEEDS: no selected notebook "
                                               "declares it; they declare QUICK")
    assert main(["report", "-p", "SEEDS", "7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nnlib: error: -p SEEDS: 01_a.ipynb: defaults to list [0, 1, 2], report "
                   "passes int 7"]
    assert not (nbs["dir"].parent / "reports").exists()  # refused before anything was written


@pytest.mark.slow
def test_parameters_reach_only_the_notebooks_that_declare_them(nbs, tmp_path):
    out = tmp_path / "out"
    lines = []
    rc = build_report(quick=True, only=["01", "02"], notebooks_dir=nbs["dir"], out_dir=out,
                      fetch_data=False, cell_timeout=120, log=lines.append,
                      parameters={"SEEDS": [0], "JOBS": 1})
    assert rc == 0, lines
    index = json.loads((out / "index.json").read_text())
    assert index["parameters"] == {"QUICK": True, "SEEDS": [0], "JOBS": 1}
    a, b = index["notebooks"]
    assert a["parameters"] == {"QUICK": True, "SEEDS": [0], "JOBS": 1}
    assert b["parameters"] == {"QUICK": True}
    executed = nbformat.read(out / "executed" / "01_a.ipynb", as_version=4)
    assert any("SEEDS [0] JOBS 1" in o.get("text", "") for c in executed.cells
               if c.cell_type == "code" for o in c.outputs)
    # 02 does not receive SEEDS, so its skip key ignores it: unchanged with other SEEDS
    lines.clear()
    assert build_report(quick=True, only=["01", "02"], notebooks_dir=nbs["dir"], out_dir=out,
                        fetch_data=False, cell_timeout=120, log=lines.append,
                        parameters={"SEEDS": [1], "JOBS": 1}) == 0
    assert any("02_b: unchanged" in line for line in lines), lines
    assert any(line.startswith("[report] 01_a: ok in") for line in lines), lines


# --- progress ------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_time_left_replays_the_scheduling():
    assert time_left([60, 60, 60], [], jobs=1) == 180
    assert time_left([60, 60, 60], [], jobs=2) == 120
    assert time_left([100], [30, 50], jobs=2) == 130  # the next one starts when the 30 s ends
    assert time_left([], [-20], jobs=1) == 0  # overdue: any moment now
    assert time_left([10, 10], [], jobs=4) == 10


def test_text_formats():
    assert clock_text(0) == "0:00" and clock_text(751) == "12:31"
    assert clock_text(3 * 3600 + 62) == "3:01:02"
    assert left_text(18 * 60 + 10) == "~18 min left"
    assert left_text(30) == "<1 min left"
    assert left_text(95 * 60) == "~1 h 35 min left"
    assert left_text(None) == "time left unknown (no previous durations)"
    assert left_text(600, guessed=2) == "~10 min left (2 guessed from the mean)"
    assert left_text(600, referenced=9) == "~10 min left (9 from the dev machine's times)"
    assert left_text(600, guessed=1, referenced=2) == \
        "~10 min left (2 from the dev machine's times; 1 guessed from the mean)"


def test_progress_lines_and_estimate_from_previous_durations():
    clock, lines = Clock(), []
    p = Progress(["00_a", "01_b", "02_c"], {"00_a": 120.0, "01_b": 600.0, "02_c": 300.0},
                 log=lines.append, bar=False, clock=clock)
    p.start("00_a")
    assert lines[-1] == "[report] 00_a: executing · 0/3 done · 0:00 elapsed · ~17 min left"
    clock.t += 130
    p.done("00_a", 130.0, "ok")
    assert lines[-1] == "[report] 00_a: ok in 130.0 s · 1/3 done · 2:10 elapsed · ~15 min left"
    p.start("01_b")
    clock.t += 240  # 6 of its 10 minutes to go, then 5 for 02_c
    assert p.facts() == "1/3 done · 6:10 elapsed · ~11 min left"
    clock.t += 400
    p.done("01_b", 640.0, "error", "RuntimeError: boom (cell In [3])")
    assert lines[-1] == ("[report] 01_b: error in 640.0 s · 2/3 done · 12:50 elapsed · "
                         "~5 min left: RuntimeError: boom (cell In [3])")
    p.start("02_c")
    clock.t += 290
    p.done("02_c", 290.0, "ok")
    assert lines[-1] == "[report] 02_c: ok in 290.0 s · 3/3 done · 17:40 elapsed"
    assert len(lines) == 6
    p.close()


def test_progress_without_previous_durations():
    clock, lines = Clock(), []
    p = Progress(["00_a", "01_b", "02_c"], {"00_a": 600.0}, log=lines.append, bar=False,
                 clock=clock)
    p.start("00_a")  # 01 and 02 count as the mean of the known ones: 600 s each
    assert lines[-1].endswith("~30 min left (2 guessed from the mean)")
    clock.t += 600
    p.done("00_a", 600.0, "ok")
    assert lines[-1].endswith("~20 min left (2 guessed from the mean)")
    q = Progress(["00_a", "01_b"], {}, log=lines.append, bar=False, clock=clock)
    q.start("00_a")
    assert lines[-1].endswith("· time left unknown (no previous durations)")
    assert q.estimate() == (None, 0, 0)


def test_a_first_run_estimates_from_the_reference_durations():
    clock, lines = Clock(), []
    # 00 ran here before (its own time wins), 01 and 02 did not: the dev machine's times count
    p = Progress(["00_a", "01_b", "02_c"], {"00_a": 60.0},
                 reference={"00_a": 6000.0, "01_b": 600.0, "02_c": 1200.0},
                 log=lines.append, bar=False, clock=clock)
    p.start("00_a")
    assert lines[-1].endswith("~31 min left (2 from the dev machine's times)")
    clock.t += 60
    p.done("00_a", 60.0, "ok")
    p.start("01_b")
    clock.t += 300
    p.done("01_b", 300.0, "ok")  # done: only 02_c's reference is left
    assert lines[-1].endswith("~20 min left (1 from the dev machine's times)")
    # a name the reference does not know counts as the mean of the known durations
    q = Progress(["00_a", "09_new"], {}, reference={"00_a": 600.0}, log=lines.append,
                 bar=False, clock=clock)
    assert q.estimate() == (1200.0, 1, 1)


def test_progress_with_notebooks_side_by_side_is_thread_safe():
    lines = []
    names = [f"{i:02d}_n" for i in range(40)]
    p = Progress(names, dict.fromkeys(names, 10.0), jobs=4, log=lines.append, bar=False)
    barrier = threading.Barrier(8)

    def work(chunk):
        barrier.wait()
        for name in chunk:
            p.start(name)
            p.done(name, 0.01, "ok")

    threads = [threading.Thread(target=work, args=(names[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lines) == 80 and all(line.startswith("[report] ") for line in lines)
    finished = [line for line in lines if " ok in " in line]
    assert sorted(int(line.split(" · ")[1].split("/")[0]) for line in finished) == list(
        range(1, 41))  # every count from 1 to 40 once: no lost update
    assert lines[-1].split(" · ")[1] == "40/40 done"


def test_progress_bar_shows_the_same_facts(capsys):
    clock, lines = Clock(), []
    p = Progress(["03_grid", "04_gamma"], {"03_grid": 300.0, "04_gamma": 900.0},
                 log=lines.append, bar=True, clock=clock, tick=0.05)
    p.start("03_grid")
    clock.t += 60
    p._refresh()
    err = capsys.readouterr().err
    assert "report: 0/2 done |" in err
    assert "| 1:00 elapsed · ~19 min left · 03_grid running" in err
    p.done("03_grid", 300.0, "ok")
    assert lines == ["[report] 03_grid: ok in 300.0 s · 1/2 done · 1:00 elapsed · ~15 min left"]
    p.log("a line from the build")
    assert lines[-1] == "a line from the build"
    p.close()
    p.close()


def test_build_report_feeds_the_progress(tmp_path, monkeypatch):
    """Through build_report's log callback, with previous durations from executed/*.json."""
    d = tmp_path / "notebooks"
    for name in ("01_a", "02_b"):
        write_nb(d, name, "QUICK = False")
    out = tmp_path / "out"
    (out / "executed").mkdir(parents=True)
    for name, took in (("01_a", 240.0), ("02_b", 360.0)):
        (out / "executed" / f"{name}.json").write_text(json.dumps(
            {"name": name, "status": "ok", "duration_s": took, "key": "old"}))

    def fake_process(path, *, parameters, log, **kw):
        log(f"[report] {path.stem}: a message from the notebook")
        return {"number": path.stem[:2], "name": path.stem, "title": path.stem, "status": "ok",
                "error": None, "duration_s": 1.0, "page": f"{path.stem}.html", "headlines": [],
                "parameters": parameters, "mode": "full", "commit": "abc", "date": "today"}
    monkeypatch.setattr(build, "_execute", fake_process)
    lines = []
    assert build_report(notebooks_dir=d, out_dir=out, fetch_data=False, log=lines.append,
                        pdf=False) == 0
    progress = [line for line in lines if line.startswith(("[report] 01_a", "[report] 02_b"))]
    assert progress[0] == "[report] 01_a: executing · 0/2 done · 0:00 elapsed · ~10 min left"
    assert progress[1] == "[report] 01_a: a message from the notebook"
    assert progress[2].startswith("[report] 01_a: ok in 1.0 s · 1/2 done · 0:00 elapsed · ")
    assert progress[2].endswith("~6 min left")
    assert progress[-1].startswith("[report] 02_b: ok in 1.0 s · 2/2 done · ")
    assert lines[0] == "[report] executing 2 notebook(s) (full), 1 at a time"
    with pytest.raises(ValueError, match="progress must be"):
        build_report(notebooks_dir=d, out_dir=out, fetch_data=False, progress="tqdm")
