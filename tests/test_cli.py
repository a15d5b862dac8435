"""The ``nnlib`` command line, end to end on tiny configs (in-process via ``cli.main``)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cli_support import DATA_DIR, TINY, isolated_cli, needs_mnist  # noqa: F401 (autouse fixture)

from nnlib import __version__
from nnlib.cli import main

METRICS_LINE = re.compile(
    r"^test_loss=(?P<test_loss>[\d.]+) test_accuracy=(?P<test_accuracy>[\d.]+) "
    r"training_time_s=(?P<training_time_s>[\d.]+) "
    r"best_valid_accuracy=(?P<best_valid_accuracy>[\d.]+) "
    r"epochs_run=(?P<epochs_run>\d+) -> (?P<run_dir>.+)$")


def write_config(path: Path, config=None) -> Path:
    path.write_text(json.dumps(TINY if config is None else config))
    return path


def metrics_line(out: str) -> dict:
    lines = [ln for ln in out.splitlines() if METRICS_LINE.match(ln)]
    assert len(lines) == 1, out
    return METRICS_LINE.match(lines[0]).groupdict()


@pytest.mark.parametrize("argv", [["--help"], ["fetch-data", "--help"], ["train", "--help"],
                                  ["test", "--help"], ["search", "--help"], ["report", "--help"]])
def test_help_for_every_command(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: nnlib")


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"nnlib {__version__}"


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "train" in capsys.readouterr().out


def test_usage_error_exit_2(capsys):
    assert main(["train", "x.json", "--epochs", "0"]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2


def test_python_dash_m(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nnlib", "--version"], check=False,
                          capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"nnlib {__version__}"


@needs_mnist
def test_fetch_data(capsys):
    assert main(["fetch-data", "--data-dir", str(DATA_DIR)]) == 0
    out = capsys.readouterr().out
    assert "MNIST ready" in out and str((DATA_DIR / "mnist.npz").resolve()) in out


@needs_mnist
def test_train_then_test(tmp_path, capsys):
    cfg = write_config(tmp_path / "tiny.json")
    run_dir = tmp_path / "run"
    code = main(["train", str(cfg), "--out", str(run_dir), "--seed", "3", "--epochs", "2",
                 "--data-dir", str(DATA_DIR), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("config.json", "history.json", "metrics.json", "model.npz", "curves.png"):
        assert (run_dir / name).is_file(), name
    parsed = metrics_line(out)
    assert parsed["run_dir"] == str(run_dir)
    assert int(parsed["epochs_run"]) == 2
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("test_loss", "test_accuracy", "training_time_s", "best_valid_accuracy",
                "epochs_run"):
        assert key in metrics
    assert float(parsed["test_accuracy"]) == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert metrics["test_accuracy"] > 0.3  # 2 epochs on 500 images: well above chance
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["train"]["epochs"] == 2 and saved["train"]["seed"] == 3
    assert not list(tmp_path.rglob("*.tmp"))

    assert main(["test", str(run_dir / "model.npz"), "--data-dir", str(DATA_DIR)]) == 0
    out = capsys.readouterr().out
    m = re.search(r"test_loss=([\d.]+) test_accuracy=([\d.]+)", out)
    assert m, out
    assert float(m.group(2)) == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert float(m.group(1)) == pytest.approx(metrics["test_loss"], abs=1e-4)


@needs_mnist
def test_train_default_run_dir(tmp_path, capsys):
    cfg = write_config(tmp_path / "tiny.json")
    assert main(["train", str(cfg), "--no-progress"]) == 0
    run_dir = Path(metrics_line(capsys.readouterr().out)["run_dir"])
    assert run_dir.parent == tmp_path / "runs"
    assert re.fullmatch(r"tiny-seed0-\d{8}-\d{6}", run_dir.name)
    assert (run_dir / "metrics.json").is_file()


@needs_mnist
def test_resume_extends_to_the_same_numbers(tmp_path, capsys):
    cfg = write_config(tmp_path / "tiny.json")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", str(cfg), "--out", str(straight), "--epochs", "3"]) == 0
    expected = metrics_line(capsys.readouterr().out)
    assert main(["train", str(cfg), "--out", str(resumed), "--epochs", "2"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(resumed), "--epochs", "3"]) == 0
    got = metrics_line(capsys.readouterr().out)
    for key in ("test_loss", "test_accuracy", "best_valid_accuracy", "epochs_run"):
        assert got[key] == expected[key], key
    assert json.loads((resumed / "config.json").read_text())["train"]["epochs"] == 3
    # the same --out with another config: refused, the finished run is left alone
    assert main(["train", str(cfg), "--out", str(resumed), "--epochs", "4"]) == 1
    assert "different config" in capsys.readouterr().err
    assert json.loads((resumed / "metrics.json").read_text())["epochs_run"] == 3


def _search_spec(tmp_path, lrs) -> Path:
    write_config(tmp_path / "tiny.json")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"base": "tiny.json", "axes": {"optimizer.lr": lrs},
                                "seeds": [0]}))
    return spec


@needs_mnist
def test_search_two_jobs_writes_csv(tmp_path, capsys):
    spec = _search_spec(tmp_path, [0.1, 0.05])
    assert main(["search", str(spec), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    csv = tmp_path / "runs" / "search-spec.csv"
    df = pd.read_csv(csv)
    assert len(df) == 2
    assert sorted(df["optimizer.lr"]) == [0.05, 0.1]
    assert df["error"].isna().all()
    assert (df["test_accuracy"] > 0.2).all()
    assert "test_accuracy" in out and str(csv) in out
    assert not list(tmp_path.rglob("*.tmp"))


@needs_mnist
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_search_failed_cell_exits_nonzero(tmp_path, capsys):
    spec = _search_spec(tmp_path, [0.1, 1e20])  # 1e20 overflows: TrainingDiverged
    out_csv = tmp_path / "out" / "grid.csv"
    code = main(["search", str(spec), "--jobs", "1", "--out", str(out_csv)])
    err = capsys.readouterr().err
    assert code == 1
    assert "1 of 2 search cells failed" in err and "TrainingDiverged" in err
    assert "Traceback" not in err
    df = pd.read_csv(out_csv).set_index("optimizer.lr")
    assert pd.isna(df.loc[0.1, "error"]) and df.loc[0.1, "test_accuracy"] > 0.2
    assert "diverged" in df.loc[1e20, "error"] and pd.isna(df.loc[1e20, "test_accuracy"])
    assert not list(tmp_path.rglob("*.tmp"))


def test_search_bad_axis_is_a_config_error(tmp_path, capsys):
    write_config(tmp_path / "tiny.json")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"base": "tiny.json", "axes": {"optimizer.learning_rate": [1]}}))
    assert main(["search", str(spec)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nnlib: error:") and "learning_rate" in err[0]
    spec.write_text(json.dumps({"base": "tiny.json", "axes": {"optimizer.lr": 0.1}}))
    assert main(["search", str(spec)]) == 2
    assert "axes.optimizer.lr" in capsys.readouterr().err


def test_search_scheduler_without_dask(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if the extra is missing
    spec = _search_spec(tmp_path, [0.1])
    assert main(["search", str(spec), "--scheduler", "tcp://127.0.0.1:8786"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nnlib[cluster]" in err[0] and "Traceback" not in err[0]


def test_report_command(monkeypatch, capsys):
    from nnlib.cli import report  # the command's module: it holds the build_report it calls
    calls = []

    def fake_build_report(**kwargs):
        calls.append(kwargs)
        return 3

    monkeypatch.setattr(report, "build_report", fake_build_report)
    assert main(["report", "--quick", "--only", "03", "06", "--force", "--jobs", "2"]) == 3
    assert calls == [{"quick": True, "only": ["03", "06"], "force": True, "jobs": 2,
                      "out_dir": None, "cell_timeout": None, "pdf": "auto"}]
    assert main(["report", "--out", "somewhere", "--cell-timeout", "60"]) == 3
    assert calls[-1] == {"quick": False, "only": None, "force": False,
                         "jobs": min(2, os.cpu_count() or 1),  # side by side by default
                         "out_dir": "somewhere", "cell_timeout": 60, "pdf": "auto"}
    assert main(["report", "--jobs", "-1"]) == 3
    assert calls[-1]["jobs"] == (os.cpu_count() or 1)


@needs_mnist
def test_resume_with_config_and_a_non_default_seed(tmp_path, capsys):
    """The README's sequence: train CONFIG --seed 1 --out DIR, later train CONFIG --resume DIR."""
    cfg = write_config(tmp_path / "tiny.json")
    run = tmp_path / "run-s1"
    assert main(["train", str(cfg), "--seed", "1", "--out", str(run)]) == 0
    first = metrics_line(capsys.readouterr().out)
    assert main(["train", str(cfg), "--resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert "already finished" in out
    last = metrics_line(out.strip().splitlines()[-1] + "\n")
    assert last["test_accuracy"] == first["test_accuracy"]
    assert main(["train", str(cfg), "--resume", str(run), "--seed", "2"]) == 2
    assert "differs from the seed 1" in capsys.readouterr().err
