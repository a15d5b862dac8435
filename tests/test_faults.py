"""Fault injection: what survives what.

Every artefact of a finished run truncated / byte-flipped / deleted (detected, moved aside,
recovered to the same numbers); a run without a manifest (upgraded, not retrained); two writers of
one run (exactly one trains; a second `nnlib train` is refused naming the first); kill -9 at 20
points of a small run (each resumed run bit-identical to the uninterrupted one); a failed write at
each atomic write of a run (the message names the file, the previous file is intact); SIGINT and
SIGTERM during `nnlib train` (what is saved and how to continue; exit 130 / 143).
"""
import errno
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from nnlib.cli import main
from nnlib.lab import experiments as ex
from nnlib.lab import runcache
from nnlib.lab.config import load_config, with_overrides
from nnlib.lab.training import Trainer

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
CFG = {"model": {"type": "mlp", "sizes": [784, 16, 10]},
       "optimizer": {"type": "sgd", "lr": 0.1},
       "train": {"epochs": 3, "batch_size": 32},
       "data": {"n_train": 1000, "n_valid": 200}}
SAME = ("test_loss", "test_accuracy", "best_valid_accuracy", "epochs_run", "stopped_early")

pytestmark = pytest.mark.usefixtures("mnist_cache")


def _run(runs, cfg=CFG):
    return ex.run(load_config(cfg), 0, runs_dir=runs, data_dir=DATA_DIR, progress="off")


def _weights(run_dir) -> dict:
    with np.load(Path(run_dir) / "model.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k.startswith("param/")}


def _same_run(a_dir, b_dir) -> None:
    """Same metrics, history (but wall times) and weights, bit for bit."""
    a, b = (json.loads((Path(d) / "metrics.json").read_text()) for d in (a_dir, b_dir))
    assert {k: a[k] for k in SAME} == {k: b[k] for k in SAME}
    ha, hb = (json.loads((Path(d) / "history.json").read_text()) for d in (a_dir, b_dir))
    for h in (ha, hb):
        h.pop("epoch_time", None)
    assert ha == hb
    wa, wb = _weights(a_dir), _weights(b_dir)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One finished run (copied into each test's own run cache)."""
    runs = tmp_path_factory.mktemp("reference") / "runs"
    return _run(runs).run_dir


@pytest.fixture
def cached(reference, tmp_path):
    """``(runs, run_dir)``: a private run cache holding a copy of the reference run."""
    runs = tmp_path / "runs"
    shutil.copytree(reference, runs / reference.name)
    return runs, runs / reference.name


def _truncate(p: Path):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(p: Path):
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x55
    p.write_bytes(bytes(data))


DAMAGE = {"truncated": _truncate, "byte-flipped": _flip, "deleted": Path.unlink}
ARTEFACTS = ["config.json", "history.json", "model.npz", "metrics.json", "checkpoint/state.npz",
             "checkpoint/best.npz"]


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("name", ARTEFACTS)
def test_a_damaged_artefact_is_moved_aside_and_the_run_recovered(cached, reference, name, how):
    runs, run_dir = cached
    DAMAGE[how](run_dir / name)
    with pytest.warns(runcache.RunCacheWarning) as caught:
        again = _run(runs)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and messages[0].startswith(f"run {run_dir.name}: {name} ")
    resumed = name not in ("checkpoint/state.npz", "checkpoint/best.npz")
    assert messages[0].endswith("resuming from its checkpoint" if resumed else "retraining it")
    assert again.run_dir == run_dir and runcache.verify(run_dir) is None
    _same_run(reference, run_dir)
    moved = list((runs / runcache.DAMAGED).iterdir())
    assert len(moved) == 1 and moved[0].name.startswith(run_dir.name + "-")
    assert (moved[0] / name).exists() == (how != "deleted")  # kept as found, for inspection


@pytest.mark.parametrize("how", ["truncated", "byte-flipped"])
def test_a_damaged_manifest_is_detected_too(cached, reference, how):
    runs, run_dir = cached
    DAMAGE[how](run_dir / runcache.MANIFEST)
    with pytest.warns(runcache.RunCacheWarning, match=rf"^run {run_dir.name}: "):
        _run(runs)
    assert runcache.verify(run_dir) is None
    _same_run(reference, run_dir)


def test_a_run_without_manifest_is_verified_by_loading_and_upgraded_not_retrained(
        cached, monkeypatch):
    runs, run_dir = cached
    (run_dir / runcache.MANIFEST).unlink()
    before = (run_dir / "model.npz").stat().st_mtime_ns
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("retrained a healthy run"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", runcache.RunCacheWarning)
        _run(runs)
    assert (run_dir / runcache.MANIFEST).is_file()
    assert (run_dir / "model.npz").stat().st_mtime_ns == before
    assert runcache.verify(run_dir) is None


def test_a_run_without_manifest_and_a_broken_file_is_retrained(cached, reference):
    runs, run_dir = cached
    (run_dir / runcache.MANIFEST).unlink()
    _truncate(run_dir / "model.npz")
    with pytest.warns(runcache.RunCacheWarning, match="model.npz is unreadable"):
        _run(runs)
    _same_run(reference, run_dir)


def test_the_cache_draws_no_curves_and_serves_a_run_without_them_silently(cached):
    """curves.png is optional (not in the manifest): `nnlib train` draws one, the run cache
    does not (1-2 s of matplotlib per run); a run without one is served without a warning."""
    runs, run_dir = cached
    assert not (run_dir / "curves.png").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error", runcache.RunCacheWarning)
        result = _run(runs)
    assert result.run_dir == run_dir and not (run_dir / "curves.png").exists()


def test_hashes_are_computed_once_per_process_unless_a_file_changes(cached, monkeypatch):
    _, run_dir = cached
    calls = []
    real = runcache.file_sha256
    monkeypatch.setattr(runcache, "file_sha256", lambda p: calls.append(Path(p).name) or real(p))
    runcache._hashes.clear()
    assert runcache.verify(run_dir) is None
    n_files = len(json.loads((run_dir / runcache.MANIFEST).read_text())["files"])
    assert len(calls) == n_files
    assert runcache.verify(run_dir) is None and len(calls) == n_files  # sizes only
    st = (run_dir / "history.json").stat()
    os.utime(run_dir / "history.json", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert runcache.verify(run_dir) is None and calls[n_files:] == ["history.json"]


# --- one writer per run directory --------------------------------------------------------------

def _train_and_report(runs, out):
    """Child process: ask for the run; write "trained" to ``out`` if this process trained it."""
    real_fit = Trainer.fit

    def fit(self, *a, **k):
        Path(out).write_text("trained")
        return real_fit(self, *a, **k)

    Trainer.fit = fit
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        _run(runs)


def test_two_processes_asking_for_one_run_train_it_once(tmp_path):
    runs = tmp_path / "runs"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_train_and_report, args=(runs, tmp_path / f"p{i}"))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("p")) in (["p0"],
                                                                                   ["p1"])
    (run_dir,) = [d for d in runs.iterdir() if not d.name.startswith(".")]
    assert runcache.verify(run_dir) is None
    assert not list(runs.glob("*.lock")), "locks belong in runs/.locks/, not beside the runs"


def test_a_second_nnlib_train_into_a_busy_directory_is_refused_naming_the_first(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NNLIB_RUNS", str(tmp_path / "runs"))
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(CFG))
    out = tmp_path / "run"
    with runcache.writer_lock(out, tmp_path / "runs", wait=False):
        code = main(["train", str(cfg), "--out", str(out), "--data-dir", str(DATA_DIR)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert re.match(rf"nnlib: error: {re.escape(str(out))} is being written by another process "
                    rf"\(pid {os.getpid()} on .+ since .+\)", err[0]), err[0]
    assert not out.exists()  # nothing written by the refused writer


def test_a_dead_writers_lock_is_taken_over_with_a_warning(tmp_path):
    runs = tmp_path / "runs"
    run_dir = runs / ex.run_key(with_overrides(load_config(CFG), {"train.seed": 0}), 0)
    (runs / runcache.LOCKS).mkdir(parents=True)
    (runs / runcache.LOCKS / f"{run_dir.name}.holder.json").write_text(json.dumps(
        {"pid": 999999, "host": "elsewhere", "since": "yesterday"}))
    with pytest.warns(runcache.RunCacheWarning, match="taking over the writer lock of pid 999999"):
        _run(runs)


# --- kill -9 anywhere, then resume ------------------------------------------------------------

def _child_run(runs):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        _run(runs)


@pytest.mark.slow
def test_kill_9_at_20_points_then_resume_gives_the_same_run(reference, tmp_path):
    ctx = multiprocessing.get_context("fork")
    t0 = time.monotonic()
    p = ctx.Process(target=_child_run, args=(tmp_path / "timing",))
    p.start()
    p.join(120)
    span = time.monotonic() - t0  # one whole run, start to finish
    schedule = random.Random(20261128)
    for trial in range(20):
        runs = tmp_path / f"trial{trial}"
        p = ctx.Process(target=_child_run, args=(runs,))
        p.start()
        p.join(schedule.uniform(0.05, span))
        if p.is_alive():
            os.kill(p.pid, signal.SIGKILL)
            p.join()
        with warnings.catch_warnings():  # a lock taken over is expected here
            warnings.simplefilter("ignore", runcache.RunCacheWarning)
            again = _run(runs)
        _same_run(reference, again.run_dir)
        assert not list(runs.rglob("*.tmp")), f"trial {trial}: a half-written file is visible"


# --- a write that fails -----------------------------------------------------------------------

def test_a_failed_write_names_the_file_and_leaves_the_previous_one(tmp_path, monkeypatch,
                                                                  capsys):
    import nnlib.io
    monkeypatch.setenv("NNLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("NNLIB_PROGRESS", "off")
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({**CFG, "train": {**CFG["train"], "epochs": 2}}))
    real_replace = os.replace
    targets = []
    monkeypatch.setattr(nnlib.io.os, "replace",
                        lambda src, dst: targets.append(Path(dst)) or real_replace(src, dst))
    assert main(["train", str(cfg), "--out", str(tmp_path / "ok"), "--data-dir",
                 str(DATA_DIR)]) == 0
    writes = [t.relative_to(tmp_path / "ok") for t in targets if (tmp_path / "ok") in t.parents]
    assert len(writes) >= 8
    capsys.readouterr()
    for k, target in enumerate(writes):
        out = tmp_path / f"fail{k}"
        calls = []

        def failing(src, dst, k=k, out=out, calls=calls):
            if out in Path(dst).parents:
                calls.append(dst)
                if len(calls) == k + 1:
                    before = Path(dst).read_bytes() if Path(dst).exists() else None
                    failing.before = (Path(dst), before)
                    raise OSError(errno.ENOSPC, "No space left on device")
            return real_replace(src, dst)

        monkeypatch.setattr(nnlib.io.os, "replace", failing)
        code = main(["train", str(cfg), "--out", str(out), "--data-dir", str(DATA_DIR)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1, (target, err)
        path, before = failing.before
        assert path == out / target
        assert f"could not write {path}: No space left on device" in err[0], err[0]
        assert re.search(r"the last checkpoint, epoch \d, is intact|no checkpoint was written yet",
                         err[0]), err[0]
        assert (path.read_bytes() if path.exists() else None) == before  # the old file, intact
        assert not list(out.rglob("*.tmp"))


# --- SIGINT / SIGTERM during `nnlib train` ------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_training_says_what_is_saved_and_how_to_continue(tmp_path, sig, code):
    cfg = tmp_path / "long.json"
    cfg.write_text(json.dumps({**CFG, "train": {**CFG["train"], "epochs": 200}}))
    out = tmp_path / "run"
    env = {**os.environ, "NNLIB_RUNS": str(tmp_path / "runs"), "NNLIB_PROGRESS": "off"}
    # A suite started in the background by a non-interactive shell (`make test &`) ignores
    # SIGINT, and a child inherits that (Python then installs no KeyboardInterrupt handler):
    # the child gets the default disposition back, as a terminal's Ctrl-C would find it.
    proc = subprocess.Popen([sys.executable, "-m", "nnlib", "train", str(cfg), "--out", str(out),
                             "--data-dir", str(DATA_DIR)], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not (out / "checkpoint" / "state.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    line = err.strip().splitlines()[-1]
    m = re.fullmatch(rf"nnlib: error: interrupted in epoch (\d+); epoch (\d+) is saved; continue "
                     rf"with: nnlib train --resume {re.escape(str(out))}", line)
    assert m and int(m.group(1)) == int(m.group(2)) + 1 >= 2, line
    from nnlib.cli.train import saved_epochs
    assert saved_epochs(out) == int(m.group(2))


# --- Ctrl-C during `nnlib report` ---------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "notebooks"


@pytest.mark.slow
def test_an_interrupted_report_records_the_notebook_and_the_next_build_reruns_only_it(
        tmp_path, monkeypatch):
    import papermill

    from nnlib.report import build_report
    nb_dir = tmp_path / "notebooks"
    shutil.copytree(FIXTURES, nb_dir)
    for bad in ("02_fails.ipynb", "03_noparams.ipynb"):
        (nb_dir / bad).unlink()
    shutil.copy(nb_dir / "01_ok.ipynb", nb_dir / "02_ok.ipynb")
    out = tmp_path / "out"
    real = papermill.execute_notebook

    def interrupt_02(path, *a, **k):
        if Path(path).name == "02_ok.ipynb":
            raise KeyboardInterrupt
        return real(path, *a, **k)

    build = {"quick": True, "notebooks_dir": nb_dir, "out_dir": out, "fetch_data": False,
             "cell_timeout": 120, "log": lambda *a: None}
    monkeypatch.setattr(papermill, "execute_notebook", interrupt_02)
    with pytest.raises(KeyboardInterrupt):
        build_report(**build)
    records = {n: json.loads((out / "executed" / f"{n}.json").read_text())
               for n in ("01_ok", "02_ok")}
    assert records["01_ok"]["status"] == "ok"
    assert records["02_ok"]["status"] == "interrupted"
    monkeypatch.setattr(papermill, "execute_notebook", real)
    lines = []
    assert build_report(**{**build, "log": lines.append}) == 0
    assert any("01_ok: unchanged" in line for line in lines), lines
    assert json.loads((out / "executed" / "02_ok.json").read_text())["status"] == "ok"


def test_ctrl_c_in_nnlib_report_says_how_to_continue(monkeypatch, capsys):
    from nnlib.cli import report  # the command's module: it holds the build_report it calls

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "build_report", interrupted)
    assert main(["report", "--quick"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nnlib: error: interrupted; the notebooks that finished are kept and the one "
                   "that was running is recorded as interrupted; continue with: nnlib report (it "
                   "re-runs only what is not done)"]


def test_a_writer_killed_while_writing_its_holder_note_leaves_no_temporary_file(tmp_path):
    """kill -9 between the holder note's temporary write and its rename leaves
    ``.locks/.<name>.holder.json.<random>.tmp``; the next writer of that run removes it (and
    leaves other runs' files alone)."""
    runs = tmp_path / "runs"
    run_dir = runs / ex.run_key(with_overrides(load_config(CFG), {"train.seed": 0}), 0)
    locks = runs / runcache.LOCKS
    locks.mkdir(parents=True)
    leftover = locks / f".{run_dir.name}.holder.json.k1ll3d.tmp"
    leftover.write_text("{\"pid\": 1")
    other = locks / ".someotherrun.holder.json.abc.tmp"
    other.write_text("")
    _run(runs)
    assert not leftover.exists()
    assert other.exists()
