"""Tests for nnlib.lab.experiments: the run cache and its keys, determinism, exact resume of a
killed run, augmentation modes, grid search (resume, parallel backends, failing cells, bad
axes), the cross-process run lock and the dask backend.

Every run is tiny (a 784-16-10 MLP, 500 training / 200 validation images of the real MNIST,
1–2 epochs) and lives in ``tmp_path``.
"""
import json
import logging
import math
import multiprocessing
import time

import numpy as np
import pandas as pd
import pytest

import nnlib.lab.training
from nnlib.lab import experiments, recipes
from nnlib.lab import grid as grid_module
from nnlib.lab.callbacks import Checkpoint
from nnlib.lab.config import ConfigError, with_overrides
from nnlib.lab.data import DataSpec, load_splits
from nnlib.lab.experiments import RunResult, run, run_key
from nnlib.lab.grid import grid, runs, summarize
from nnlib.lab.training import Trainer

N_TRAIN, N_VALID, BATCH = 500, 200, 32
# Metrics that are a pure function of (config, seed, code); training_time_s is wall-clock.
EXACT = ("test_loss", "test_accuracy", "best_valid_accuracy", "epochs_run", "seed",
         "stopped_early")


def tiny(epochs=1, **overrides):
    """The report's final MLP shrunk to a smoke run, plus ``overrides``."""
    cfg = recipes.quick(recipes.final_mlp(), epochs=epochs, n_train=N_TRAIN, n_valid=N_VALID)
    return with_overrides(cfg, {"model.sizes": [784, 16, 10], **overrides})


def exact(metrics):
    return {k: metrics[k] for k in EXACT}


def history_without_time(history):
    d = history.to_dict()
    d.pop("epoch_time")
    return d


@pytest.fixture
def count_fits(monkeypatch):
    """Wrap Trainer.fit; the returned list grows by one entry per call."""
    calls = []
    original = Trainer.fit

    def fit(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", fit)
    return calls


def forbid_training(monkeypatch):
    def fit(self, *args, **kwargs):
        raise AssertionError("Trainer.fit called: the cached result was not used")

    monkeypatch.setattr(nnlib.lab.training.Trainer, "fit", fit)


# --- the run cache -------------------------------------------------------------------------------

def test_run_trains_once_then_returns_the_cached_result(tmp_path, monkeypatch, count_fits):
    cfg = tiny()
    first = run(cfg, 0, runs_dir=tmp_path, progress="off")
    assert len(count_fits) == 1
    assert first.history.epochs_run == 1
    assert 0.2 < first.test_accuracy <= 1.0, f"a 1-epoch MLP should beat chance: {first.metrics}"
    for name in ("config.json", "history.json", "model.npz", "metrics.json",
                 "checkpoint/state.npz"):
        assert (first.run_dir / name).exists(), f"{name} missing from {first.run_dir}"
    assert not (first.run_dir / "curves.png").exists()  # the cache draws none (nnlib train does)

    forbid_training(monkeypatch)
    t0 = time.perf_counter()
    second = run(cfg, 0, runs_dir=tmp_path, progress="off")
    assert time.perf_counter() - t0 < 2.0
    assert second.run_dir == first.run_dir
    assert second.metrics == first.metrics  # training_time_s too: it is read back, not re-measured
    assert second.history.to_dict() == first.history.to_dict()
    assert second.config.to_dict() == first.config.to_dict()
    assert second.seed == 0


def test_force_retrains(tmp_path, count_fits):
    cfg = tiny()
    first = run(cfg, 0, runs_dir=tmp_path, progress="off")
    again = run(cfg, 0, runs_dir=tmp_path, progress="off", force=True)
    assert len(count_fits) == 2, "force=True must train again"
    assert again.run_dir == first.run_dir
    assert exact(again.metrics) == exact(first.metrics)
    assert json.loads((again.run_dir / "metrics.json").read_text()) == again.metrics


@pytest.mark.parametrize("path, value", [
    ("optimizer.lr", 0.05),
    ("optimizer.momentum", 0.8),
    ("model.sizes", [784, 17, 10]),
    ("model.activation", "relu"),
    ("schedule.gamma", 0.5),
    ("train.batch_size", 64),
    ("train.epochs", 2),
    ("data.n_train", 501),
    ("data.split", "random"),
    ("train.empty_final_step", False),
    ("model.init", "he"),
])
def test_run_key_changes_with_any_config_value(path, value):
    cfg = tiny()
    assert run_key(cfg, 0) == run_key(tiny(), 0), "same config and seed must give the same key"
    changed = with_overrides(cfg, {path: value})
    assert changed.to_dict() != cfg.to_dict()
    assert run_key(changed, 0) != run_key(cfg, 0), f"{path}={value!r} kept the key"


def test_run_key_changes_with_seed_and_source(tmp_path, monkeypatch, count_fits):
    cfg = tiny()
    keys = {run_key(cfg, s) for s in range(5)}
    assert len(keys) == 5

    a = run(cfg, 0, runs_dir=tmp_path, progress="off")
    b = run(cfg, 1, runs_dir=tmp_path, progress="off")
    assert a.run_dir != b.run_dir and a.metrics["seed"] == 0 and b.metrics["seed"] == 1
    assert exact(a.metrics) != exact(b.metrics)
    assert len(count_fits) == 2

    monkeypatch.setattr(experiments, "source_hash", lambda: "0" * 64)  # "the code changed"
    c = run(cfg, 0, runs_dir=tmp_path, progress="off")
    assert c.run_dir != a.run_dir, "a code change must not serve the old run"
    assert len(count_fits) == 3
    assert exact(c.metrics) == exact(a.metrics)


# --- determinism, round trips --------------------------------------------------------------------

def test_same_seed_same_numbers_in_separate_runs_dirs(tmp_path):
    cfg = tiny(epochs=2)
    a = run(cfg, 3, runs_dir=tmp_path / "a", progress="off")
    b = run(cfg, 3, runs_dir=tmp_path / "b", progress="off")
    assert a.run_dir.name == b.run_dir.name
    assert exact(a.metrics) == exact(b.metrics)
    assert history_without_time(a.history) == history_without_time(b.history)
    ma, mb = a.model().state_dict(), b.model().state_dict()
    assert ma.keys() == mb.keys()
    for k in ma:
        np.testing.assert_array_equal(ma[k], mb[k], err_msg=k)


def test_from_dir_round_trip_and_saved_model_reproduces_test_accuracy(tmp_path):
    result = run(tiny(), 0, runs_dir=tmp_path, progress="off")
    back = RunResult.from_dir(result.run_dir)
    assert back.config.to_dict() == result.config.to_dict()
    assert back.seed == result.seed
    assert back.metrics == result.metrics
    assert back.history.to_dict() == result.history.to_dict()
    assert back.run_dir == result.run_dir
    assert back.row() == result.row()

    x, y = load_splits(DataSpec(n_train=N_TRAIN, n_valid=N_VALID),
                       experiments.default_data_dir())["test"]
    logits = back.model().predict(x, 2000)
    assert logits.shape == (10_000, 10)
    assert float(np.mean(logits.argmax(axis=1) == y)) == result.test_accuracy


# --- resume ---------------------------------------------------------------------------------------

def test_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path, monkeypatch, caplog):
    cfg = tiny(epochs=2)
    reference = run(cfg, 0, runs_dir=tmp_path / "ref", progress="off")
    assert reference.history.epochs_run == 2

    original = Checkpoint.on_epoch_end

    def killed_after_first_epoch(self, trainer, epoch):
        original(self, trainer, epoch)  # the state of epoch 1 is on disk ...
        if epoch == 0:
            raise KeyboardInterrupt  # ... then the process "dies"

    monkeypatch.setattr(Checkpoint, "on_epoch_end", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, 0, runs_dir=tmp_path / "killed", progress="off")
    run_dir = tmp_path / "killed" / reference.run_dir.name
    assert (run_dir / "checkpoint" / "state.npz").exists()
    assert not (run_dir / "metrics.json").exists()
    trained_epochs = []

    def recording(self, trainer, epoch):
        trained_epochs.append(epoch)
        original(self, trainer, epoch)

    monkeypatch.setattr(Checkpoint, "on_epoch_end", recording)
    with caplog.at_level(logging.INFO, logger="nnlib.lab.train"):
        resumed = run(cfg, 0, runs_dir=tmp_path / "killed", progress="off")
    logged = caplog.messages
    assert any("resuming" in m and "after epoch 1" in m for m in logged), logged
    assert trained_epochs == [1], "the resumed run must train only the missing second epoch"
    assert resumed.run_dir == run_dir
    assert exact(resumed.metrics) == exact(reference.metrics)
    assert history_without_time(resumed.history) == history_without_time(reference.history)
    assert len(resumed.history.epoch_time) == 2
    ref_w, res_w = reference.model().state_dict(), resumed.model().state_dict()
    for k in ref_w:
        np.testing.assert_array_equal(res_w[k], ref_w[k], err_msg=k)


# --- augmentation ---------------------------------------------------------------------------------

def test_append_augmentation_doubles_the_training_set(tmp_path):
    plain = run(tiny(), 0, runs_dir=tmp_path, progress="off")
    aug = run(tiny(**{"train.augmentation": {"mode": "append", "rotate": 10, "shift": 0.1,
                                             "p": 0.5}}),
              0, runs_dir=tmp_path, progress="off")
    assert plain.history.iterations_per_epoch == math.ceil(N_TRAIN / BATCH)  # 16
    assert aug.history.iterations_per_epoch == math.ceil(2 * N_TRAIN / BATCH)  # 32
    assert aug.run_dir != plain.run_dir
    assert 0.2 < aug.test_accuracy <= 1.0


@pytest.fixture
def fit_inputs(monkeypatch):
    """Records the (x, y) training set every ``Trainer.fit`` receives, then trains as usual."""
    seen = []
    original = Trainer.fit

    def recording_fit(self, train, valid, *a, **k):
        seen.append((np.array(train[0]), np.array(train[1]), self.empty_final_step))
        return original(self, train, valid, *a, **k)

    monkeypatch.setattr(Trainer, "fit", recording_fit)
    return seen


@pytest.mark.parametrize("mode", [None, "append", "overwrite", "append p=0"])
def test_train_run_trains_on_the_report_split_and_each_modes_set(tmp_path, fit_inputs, mode):
    from nnlib.lab.augment import append_augmented, overwrite_augmented
    from nnlib.lab.data import report_split_indices
    aug = {None: None, "append": {"mode": "append"}, "overwrite": {"mode": "overwrite"},
           "append p=0": {"mode": "append", "p": 0.0}}[mode]
    cfg = tiny(**{"train.augmentation": aug})
    assert cfg.data.split == "report" and cfg.train.empty_final_step
    run(cfg, 3, runs_dir=tmp_path, progress="off")
    (x, y, empty_step), = fit_inputs
    assert empty_step is True
    # the report split: training images are positions 10,000.. of the lab's permutation
    x_all, y_all = load_splits(DataSpec(split="report"), experiments.default_data_dir())["train"]
    _, train_idx = report_split_indices(N_VALID, N_TRAIN)
    x0, y0 = x_all[:N_TRAIN], y_all[:N_TRAIN]  # the full split's first N_TRAIN = same positions
    np.testing.assert_array_equal(y0, np.load(experiments.default_data_dir() / "mnist.npz")[
        "y_train"][train_idx])
    rng = np.random.default_rng([3, 2])  # what train_run seeds the set-building with
    if mode is None:
        expected = (x0, y0)
    elif mode == "overwrite":
        expected = overwrite_augmented(x0, y0, rng)
        a = expected[0][:N_TRAIN]
        np.testing.assert_array_equal(expected[0], np.concatenate([a, a]))
    else:
        expected = append_augmented(x0, y0, rng, p=aug.get("p", 0.5))
    np.testing.assert_array_equal(x, expected[0])
    np.testing.assert_array_equal(y, expected[1])
    if mode == "append p=0":
        np.testing.assert_array_equal(x, np.concatenate([x0, x0]))


def test_online_augmentation_runs_and_changes_the_numbers(tmp_path):
    plain = run(tiny(), 0, runs_dir=tmp_path, progress="off")
    online = run(tiny(**{"train.augmentation": {"mode": "online", "rotate": 10, "shift": 0.1,
                                                "p": 1.0}}),
                 0, runs_dir=tmp_path, progress="off")
    assert online.history.iterations_per_epoch == plain.history.iterations_per_epoch
    assert online.history.epochs_run == 1
    assert math.isfinite(online.test_loss)
    assert online.history.train_loss != plain.history.train_loss, "augmentation had no effect"


# --- grid -----------------------------------------------------------------------------------------

AXES = {"optimizer.lr": [0.05, 0.1], "model.sizes": [[784, 16, 10]]}


def test_grid_rows_columns_and_resume(tmp_path, monkeypatch):
    df = grid(tiny(), AXES, seeds=(0, 1), runs_dir=tmp_path, progress=False)
    assert len(df) == 4
    for col in ("optimizer.lr", "model.sizes", "seed", *experiments.METRICS, "run_dir", "error",
                "cell_time_s"):
        assert col in df.columns, col
    assert df["error"].isna().all() and (df["error"].map(lambda e: e is None)).all(), \
        df["error"].tolist()
    assert sorted(zip(df["optimizer.lr"], df["seed"])) == [(0.05, 0), (0.05, 1), (0.1, 0),
                                                           (0.1, 1)]
    assert set(df["model.sizes"]) == {(784, 16, 10)}
    assert df["run_dir"].nunique() == 4
    assert df["test_accuracy"].between(0.2, 1.0).all()
    # each row is the cached run of that cell
    for _, r in df.iterrows():
        res = RunResult.from_dir(r["run_dir"])
        assert res.config.optimizer.lr == r["optimizer.lr"] and res.seed == r["seed"]
        assert res.test_accuracy == r["test_accuracy"]

    forbid_training(monkeypatch)  # a second grid must not train anything
    again = grid(tiny(), AXES, seeds=(0, 1), runs_dir=tmp_path, progress=False)
    assert (again["error"].map(lambda e: e is None)).all(), again["error"].tolist()
    pd.testing.assert_frame_equal(again.drop(columns="cell_time_s"),
                                  df.drop(columns="cell_time_s"))
    assert (again["cell_time_s"] < 1.0).all(), again["cell_time_s"].tolist()


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_progress_logs_one_line_per_finished_run_in_order(tmp_path, caplog, capfd, n_jobs):
    with caplog.at_level(logging.INFO, logger="nnlib"):
        df = grid(tiny(), AXES, seeds=(0,), n_jobs=n_jobs, runs_dir=tmp_path, progress="epoch")
    grid_lines = [r.getMessage() for r in caplog.records if r.name == "nnlib.lab.grid"]
    assert len(grid_lines) == 2, caplog.messages
    # in the order the runs were submitted (the longest first; these two cost the same)
    for i, (line, lr, acc) in enumerate(zip(grid_lines, df["optimizer.lr"], df["test_accuracy"]),
                                        1):
        assert line == (f"grid: run {i}/2 done (optimizer.lr={lr}, model.sizes=[784, 16, 10], "
                        f"seed 0): test accuracy {acc:.4f}, ") + line.split(", ")[-1], line
    # no joblib chatter and, with no handler attached, nothing printed at all
    out, err = capfd.readouterr()
    assert out == "" and "[Parallel" not in err and "grid:" not in err, (out, err)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="nnlib"):
        grid(tiny(), AXES, seeds=(0,), runs_dir=tmp_path, progress="off")
        runs({"a": tiny()}, seeds=(0,), runs_dir=tmp_path, progress="epoch")
    assert [m.split(":")[1] for m in caplog.messages] == [" run 1/1 done (a, seed 0)"]


def test_grid_progress_bar_counts_runs_and_failures(tmp_path, capsys):
    grid(tiny(), AXES, seeds=(0,), runs_dir=tmp_path, progress="bar")
    err = capsys.readouterr().err
    assert "runs: 100%" in err and "2/2" in err and "failed" not in err, err
    with np.errstate(all="ignore"):
        grid(tiny(), {"optimizer.lr": [1e20]}, seeds=(0,), runs_dir=tmp_path, progress="bar")
    assert "failed=1" in capsys.readouterr().err


def test_grid_on_joblibs_multiprocessing_backend_reports_its_runs(tmp_path, caplog):
    """That backend cannot return results as they come: the rows arrive at the end, still
    reported one line each."""
    with caplog.at_level(logging.INFO, logger="nnlib.lab.grid"):
        df = grid(tiny(), AXES, seeds=(0,), n_jobs=2, runs_dir=tmp_path,
                  backend="multiprocessing", progress="epoch")
    assert (df["error"].map(lambda e: e is None)).all(), df.get("traceback")
    assert sum(r.name == "nnlib.lab.grid" for r in caplog.records) == 2


def test_grid_parallel_loky_matches_sequential(tmp_path):
    seq = grid(tiny(), AXES, seeds=(0, 1), runs_dir=tmp_path / "seq", progress=False)
    par = grid(tiny(), AXES, seeds=(0, 1), n_jobs=2, runs_dir=tmp_path / "par", progress=False)
    assert (par["error"].map(lambda e: e is None)).all(), par["error"].tolist()
    cols = ["optimizer.lr", "model.sizes", "seed", "test_loss", "test_accuracy",
            "best_valid_accuracy", "epochs_run"]
    pd.testing.assert_frame_equal(par[cols], seq[cols])


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")
def test_grid_records_a_failing_cell_and_finishes_the_others(tmp_path):
    df = grid(tiny(), {"optimizer.lr": [0.1, 1e20]}, seeds=(0,), runs_dir=tmp_path,
              progress=False)
    ok, bad = df.iloc[0], df.iloc[1]
    assert ok["error"] is None and 0.2 < ok["test_accuracy"] <= 1.0
    assert bad["optimizer.lr"] == 1e20
    assert bad["error"].startswith("TrainingDiverged: training diverged"), bad["error"]
    assert "\n" not in bad["error"]
    assert "TrainingDiverged" in bad["traceback"]
    assert pd.isna(bad["run_dir"])
    for m in experiments.METRICS:
        assert math.isnan(bad[m]), (m, bad[m])


@pytest.mark.parametrize("axes", [
    {"optimizer.lrr": [0.1]},
    {"optimizer.lr": [0.1, 0.05], "model.size": [[784, 16, 10]]},
    {"optimizer.lr": [0.1], "bogus.lr": [1]},
    {"optimizer.lr": [0.1, -1.0]},
])
def test_grid_bad_axis_fails_fast_before_training(tmp_path, monkeypatch, axes):
    cells = []
    monkeypatch.setattr(grid_module, "_cell", lambda *a, **k: cells.append(a))
    with pytest.raises(ConfigError):
        grid(tiny(), axes, seeds=(0, 1), runs_dir=tmp_path / "runs", progress=False)
    assert cells == []
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_grid_empty_axis_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"optimizer\.lr"):
        grid(tiny(), {"optimizer.lr": []}, runs_dir=tmp_path, progress=False)


def test_summarize_mean_std_count():
    df = pd.DataFrame({"lr": [0.1, 0.1, 0.1, 0.2, 0.2], "seed": [0, 1, 2, 0, 1],
                       "test_accuracy": [0.9, 0.8, 0.7, 0.5, np.nan],
                       "test_loss": [1.0, 2.0, 3.0, 4.0, 6.0]})
    s = summarize(df, ["lr"]).set_index("lr")
    assert list(s.columns) == ["test_accuracy_mean", "test_accuracy_std", "test_accuracy_count",
                               "test_loss_mean", "test_loss_std", "test_loss_count"]
    assert s.loc[0.1, "test_accuracy_mean"] == pytest.approx(0.8)
    assert s.loc[0.1, "test_accuracy_std"] == pytest.approx(0.1)  # sample std (ddof=1)
    assert s.loc[0.1, "test_accuracy_count"] == 3
    assert s.loc[0.2, "test_accuracy_count"] == 1  # a failed (NaN) cell is not counted
    assert s.loc[0.2, "test_accuracy_mean"] == pytest.approx(0.5)
    assert s.loc[0.2, "test_loss_mean"] == pytest.approx(5.0)
    assert s.loc[0.2, "test_loss_std"] == pytest.approx(math.sqrt(2))


def test_summarize_real_grid(tmp_path):
    df = grid(tiny(), {"optimizer.lr": [0.1]}, seeds=(0, 1), runs_dir=tmp_path, progress=False)
    s = summarize(df, ["optimizer.lr"])
    assert len(s) == 1
    assert s["test_accuracy_count"].iloc[0] == 2
    assert s["test_accuracy_mean"].iloc[0] == pytest.approx(df["test_accuracy"].mean())
    assert s["test_accuracy_std"].iloc[0] == pytest.approx(df["test_accuracy"].std())


# --- the run lock ---------------------------------------------------------------------------------

def _locked_worker(cfg_dict, runs_dir, marker, barrier, out):
    """Child process: wait for the sibling, then ask for the same run; fit is slowed down and
    logged to ``marker`` so the parent can count how many processes really trained."""
    import time as _time

    from nnlib.lab import experiments as ex
    from nnlib.lab import training

    original = training.Trainer.fit

    def fit(self, *args, **kwargs):
        with open(marker, "a") as fh:
            fh.write("fit\n")
        _time.sleep(1.5)  # keep the lock held while the sibling arrives
        return original(self, *args, **kwargs)

    training.Trainer.fit = fit
    barrier.wait(timeout=60)
    t0 = _time.time()
    result = ex.run(cfg_dict, 0, runs_dir=runs_dir, progress="off")
    t1 = _time.time()
    with open(out, "w") as fh:
        json.dump({"metrics": result.metrics, "run_dir": str(result.run_dir),
                   "start": t0, "end": t1}, fh)


def test_run_lock_two_processes_train_a_run_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    marker = tmp_path / "fits.txt"
    cfg = tiny().to_dict()
    procs = [ctx.Process(target=_locked_worker,
                         args=(cfg, str(tmp_path / "runs"), str(marker), barrier,
                               str(tmp_path / f"out{i}.json")))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    a, b = (json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(2))
    assert max(a["start"], b["start"]) < min(a["end"], b["end"]), "the calls did not overlap"
    assert marker.read_text() == "fit\n", "both processes trained the run"
    assert a["run_dir"] == b["run_dir"]
    assert a["metrics"] == b["metrics"]  # incl. training_time_s: the second read the first's


# --- dask -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("processes", [False, True])
def test_grid_dask_backend_matches_loky(tmp_path, processes, caplog):
    distributed = pytest.importorskip("dask.distributed")
    axes = {"optimizer.lr": [0.05, 0.1]}
    # protocol="tcp": without it processes=False picks "inproc://", which rejects host=
    # ("Scheduler failed to start: not enough values to unpack"), and a real cluster is tcp.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=processes,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            caplog.at_level(logging.INFO, logger="nnlib.lab.grid"):
        df = grid(tiny(), axes, seeds=(0,), runs_dir=tmp_path / "dask", backend="dask",
                  scheduler=cluster.scheduler_address, progress="epoch")
    assert (df["error"].map(lambda e: e is None)).all(), df.get("traceback")
    lines = [r.getMessage().split(" (")[0] for r in caplog.records if r.name == "nnlib.lab.grid"]
    assert lines == ["grid: run 1/2 done", "grid: run 2/2 done"]
    ref = grid(tiny(), axes, seeds=(0,), runs_dir=tmp_path / "loky", progress=False)
    cols = ["optimizer.lr", "seed", "test_loss", "test_accuracy", "best_valid_accuracy",
            "epochs_run"]
    pd.testing.assert_frame_equal(df[cols], ref[cols])


def test_grid_submits_longest_runs_first_and_keeps_the_row_order(tmp_path, monkeypatch):
    axes = {"model.sizes": [[784, 8, 10], [784, 32, 10], [784, 16, 10]]}
    base = tiny().to_dict()
    jobs = [(base, {"model.sizes": s}, seed) for s in axes["model.sizes"] for seed in (0, 1)]
    order, pending = grid_module._schedule(jobs, tmp_path)
    assert pending == 6
    assert [jobs[i][1]["model.sizes"][1] for i in order] == [32, 32, 16, 16, 8, 8]
    submitted = []
    original = grid_module._cell

    def cell(base, overrides, seed, runs_dir, data_dir, threads):
        submitted.append((overrides["model.sizes"][1], seed, threads))
        return original(base, overrides, seed, runs_dir, data_dir, threads)
    monkeypatch.setattr(grid_module, "_cell", cell)
    df = grid(tiny(), axes, seeds=(0, 1), runs_dir=tmp_path, progress=False)
    assert [s for s, _, _ in submitted] == [32, 32, 16, 16, 8, 8]
    assert [s[1] for s in df["model.sizes"]] == [8, 8, 32, 32, 16, 16]  # the axes' order
    assert list(df["seed"]) == [0, 1] * 3
    # the keys _schedule checks are the run directories grid wrote: nothing is left to train
    assert grid_module._schedule(jobs, tmp_path)[1] == 0


def test_grid_gives_a_lone_run_every_core(tmp_path, monkeypatch):
    """Two workers for one run to train would leave a core idle: it runs alone, on all threads
    (the finished cells are read from the cache in the same pass)."""
    import os
    grid(tiny(), {"optimizer.lr": [0.05]}, seeds=(0,), runs_dir=tmp_path, progress=False)
    threads = []
    original = grid_module._cell

    def cell(base, overrides, seed, runs_dir, data_dir, n_threads):
        threads.append(n_threads)
        return original(base, overrides, seed, runs_dir, data_dir, n_threads)
    monkeypatch.setattr(grid_module, "_cell", cell)
    df = grid(tiny(), {"optimizer.lr": [0.05, 0.1]}, seeds=(0,), n_jobs=2, runs_dir=tmp_path,
              progress=False)
    assert threads == [os.cpu_count() or 1] * 2
    assert df["error"].map(lambda e: e is None).all()


def test_run_log_records_each_call_trained_or_cached(tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv("NNLIB_RUN_LOG", str(log))
    monkeypatch.delenv("NNLIB_NOTEBOOK", raising=False)
    first = run(tiny(), 0, runs_dir=tmp_path / "runs", progress="off")
    run(tiny(), 0, runs_dir=tmp_path / "runs", progress="off")
    grid(tiny(), {"optimizer.lr": [0.05, 0.1]}, seeds=(0,), n_jobs=2, runs_dir=tmp_path / "runs",
         progress=False)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["trained"] for line in lines[:2]] == [True, False]
    assert lines[0]["key"] == first.run_dir.name and lines[0]["model"] == "mlp"
    assert lines[0]["training_time_s"] == first.metrics["training_time_s"]
    assert 0 < lines[0]["evaluation_time_s"] < lines[0]["wall_s"]
    assert lines[0]["cpu_s"] > 0 and lines[0]["notebook"] is None  # not run by the report
    assert lines[1]["training_time_s"] is None and lines[1]["wall_s"] < lines[0]["wall_s"]
    # what the run cost when it was trained, served from the cache or not (its cost.json)
    cost = experiments.run_cost(first.run_dir)
    assert cost is not None and cost["cpu_s"] > 0 and 0 < cost["wall_s"] < lines[0]["wall_s"]
    assert lines[0]["run_cpu_s"] == lines[1]["run_cpu_s"] == cost["cpu_s"]
    assert cost["cpu_s"] <= lines[0]["cpu_s"]
    # the grid's runs log from their workers too: the cached lr 0.1 cell and the new lr 0.05 one
    assert len(lines) == 4 and sorted(line["trained"] for line in lines[2:]) == [False, True]


def test_run_without_the_log_variable_writes_no_log(tmp_path, monkeypatch):
    monkeypatch.delenv("NNLIB_RUN_LOG", raising=False)
    monkeypatch.chdir(tmp_path)
    run(tiny(), 0, runs_dir=tmp_path / "runs", progress="off")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_runs_trains_several_whole_configs_like_run(tmp_path):
    configs = {"wide": tiny(), "narrow": tiny(**{"model.sizes": [784, 8, 10],
                                                  "optimizer.lr": 0.05})}
    df = runs(configs, seeds=(0, 1), n_jobs=2, runs_dir=tmp_path, progress=False)
    assert list(df["label"]) == ["wide", "wide", "narrow", "narrow"]
    assert list(df["seed"]) == [0, 1, 0, 1]
    assert df["error"].map(lambda e: e is None).all(), df.get("traceback")
    for row in df.itertuples():  # each row is the cached run of (its config, its seed)
        alone = run(configs[row.label], row.seed, runs_dir=tmp_path, progress="off")
        assert str(alone.run_dir) == row.run_dir
        assert alone.test_accuracy == row.test_accuracy
    with pytest.raises(ValueError, match="at least one config"):
        runs({}, runs_dir=tmp_path)
    # seeds per config: the finished runs come back from the cache, in the configs' order
    again = runs(configs, seeds={"wide": [1], "narrow": [0, 1]}, runs_dir=tmp_path,
                             progress=False)
    assert list(zip(again["label"], again["seed"])) == [("wide", 1), ("narrow", 0),
                                                        ("narrow", 1)]
    assert list(again["run_dir"]) == list(df["run_dir"][1:])
    with pytest.raises(ValueError, match="no seeds given for 'narrow'"):
        runs(configs, seeds={"wide": [0]}, runs_dir=tmp_path)
