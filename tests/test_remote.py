"""nnlib.lab.remote and grid's dask backend: runs trained in a worker's scratch come back as
files, are verified against their manifest and stored in the client's run cache, with the numbers
of a local run; a run killed on a worker resumes there, a worker lost mid-run costs nothing.

Every run is tiny (a 784-16-10 MLP on 500/200 real MNIST images, 1–2 epochs).
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from nnlib.lab import prefetch, recipes, remote, runcache
from nnlib.lab.callbacks import Checkpoint
from nnlib.lab.config import with_overrides
from nnlib.lab.experiments import run, run_key, train_remote
from nnlib.lab.grid import grid
from nnlib.lab.protocols import Request

EXACT = ("test_loss", "test_accuracy", "best_valid_accuracy", "epochs_run", "seed")


@pytest.fixture(autouse=True)
def _data(mnist_cache):
    """Real MNIST (the workers read the project's data/ folder, their default)."""


def tiny(epochs=1, **overrides):
    cfg = recipes.quick(recipes.final_mlp(), epochs=epochs, n_train=500, n_valid=200)
    return with_overrides(cfg, {"model.sizes": [784, 16, 10], **overrides})


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    path = tmp_path / "scratch"
    monkeypatch.setenv(remote.SCRATCH_ENV, str(path))
    return path


def _weights(result):
    return result.model().state_dict()


def test_a_run_trained_in_scratch_is_stored_with_the_local_numbers(tmp_path, scratch):
    cfg = tiny()
    local = run(cfg, 3, runs_dir=tmp_path / "local", progress="off")
    sent = train_remote(cfg.to_dict(), 3)
    assert sent["key"] == run_key(with_overrides(cfg, {"train.seed": 3}), 3)
    assert {"manifest.json", "model.npz", "history.json", "metrics.json", "config.json",
            "cost.json"} <= set(sent["files"]) and any(
        name.startswith("checkpoint/") for name in sent["files"])
    assert not any(p.is_file() for p in scratch.rglob("*") if ".locks" not in p.parts), \
        "the worker kept the run"
    seeded = with_overrides(cfg, {"train.seed": 3})
    assert remote.store(sent, sent["key"], seeded, tmp_path / "cache") is True
    run_dir = tmp_path / "cache" / local.run_dir.name
    assert runcache.verify(run_dir) is None
    again = run(cfg, 3, runs_dir=tmp_path / "cache", progress="off")  # read, not trained
    assert {k: again.metrics[k] for k in EXACT} == {k: local.metrics[k] for k in EXACT}
    a, b = _weights(again), _weights(local)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "cache").glob(".incoming-*"))
    # storing the same run again keeps the stored one
    assert remote.store(sent, sent["key"], seeded, tmp_path / "cache") is False


def _flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def _sent(tmp_path, scratch, cfg=None):
    return train_remote((cfg or tiny()).to_dict(), 0)


@pytest.mark.parametrize("spoil, message", [
    (lambda s: s["files"].__setitem__("model.npz", _flipped(s["files"]["model.npz"])),
     r"model\.npz does not match its checksum"),
    (lambda s: s["files"].__setitem__("metrics.json", s["files"]["metrics.json"] + b" "),
     r"metrics\.json has"),
    (lambda s: s["files"].pop("history.json"), r"history\.json is missing"),
    (lambda s: s["files"].pop("manifest.json"), r"sent no manifest\.json"),
    (lambda s: s["files"].__setitem__("../escape.txt", b"x"), r"outside its run folder"),
    (lambda s: s.__setitem__("key", "0123456789abcdef"), r"other nnlib source"),
])
def test_a_spoilt_transfer_stores_nothing(tmp_path, scratch, spoil, message):
    cfg = with_overrides(tiny(), {"train.seed": 0})
    sent = _sent(tmp_path, scratch, cfg)
    key = sent["key"]
    spoil(sent)
    cache = tmp_path / "cache"
    with pytest.raises(remote.TransferError, match=message):
        remote.store(sent, key, cfg, cache)
    assert not (cache / key).exists()
    assert not list(cache.glob(".incoming-*")) and not (tmp_path / "escape.txt").exists()


def test_a_run_for_another_config_is_refused(tmp_path, scratch):
    sent = _sent(tmp_path, scratch, tiny())
    other = tiny(**{"optimizer.lr": 0.05, "train.seed": 0})
    with pytest.raises(remote.TransferError, match="trained run"):
        remote.store(sent, run_key(other, 0), other, tmp_path / "cache")
    # the right key with another config's files: the config check catches it
    with pytest.raises(remote.TransferError, match="another config"):
        remote.store(sent, sent["key"], other, tmp_path / "cache")


def test_a_run_killed_on_a_worker_resumes_from_its_scratch(tmp_path, scratch, monkeypatch):
    cfg = tiny(epochs=2)
    reference = run(cfg, 0, runs_dir=tmp_path / "ref", progress="off")
    original = Checkpoint.on_epoch_end

    def killed_after_first_epoch(self, trainer, epoch):
        original(self, trainer, epoch)
        if epoch == 0:
            raise KeyboardInterrupt  # the worker process dies after epoch 1's checkpoint

    monkeypatch.setattr(Checkpoint, "on_epoch_end", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_remote(cfg.to_dict(), 0)
    assert (scratch / reference.run_dir.name / "checkpoint" / "state.npz").exists()
    epochs = []

    def recording(self, trainer, epoch):
        epochs.append(epoch)
        original(self, trainer, epoch)

    monkeypatch.setattr(Checkpoint, "on_epoch_end", recording)
    sent = train_remote(cfg.to_dict(), 0)  # dask retries it on the same machine
    assert epochs == [1], "the retry must train only the missing epoch"
    seeded = with_overrides(cfg, {"train.seed": 0})
    remote.store(sent, sent["key"], seeded, tmp_path / "cache")
    stored = run(cfg, 0, runs_dir=tmp_path / "cache", progress="off")
    assert {k: stored.metrics[k] for k in EXACT} == {k: reference.metrics[k] for k in EXACT}
    a, b = _weights(stored), _weights(reference)
    assert all(np.array_equal(a[k], b[k]) for k in a)


# --- on a cluster ----------------------------------------------------------------------------

@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """Two single-threaded worker processes with their own scratch and a run log (they, and a
    worker restarted by its nanny, inherit the env)."""
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.setenv(remote.SCRATCH_ENV, str(tmp_path / "worker-scratch"))
    monkeypatch.setenv("NNLIB_RUN_LOG", str(tmp_path / "runs.jsonl"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as c:
        try:
            yield c
        finally:
            remote.close_clients()


def test_a_grid_on_two_workers_equals_the_local_grid(tmp_path, cluster):
    axes = {"optimizer.lr": [0.05, 0.1, 0.2]}
    df = grid(tiny(), axes, seeds=(0,), runs_dir=tmp_path / "client", backend="dask",
              scheduler=cluster.scheduler_address, progress=False)
    assert df["error"].map(lambda e: e is None).all(), df.get("traceback")
    ref = grid(tiny(), axes, seeds=(0,), runs_dir=tmp_path / "local", progress=False)
    for col in EXACT:
        assert list(df[col]) == list(ref[col]), col
    for run_dir in df["run_dir"]:
        assert runcache.verify(run_dir) is None and str(tmp_path / "client") in run_dir
    scratch = tmp_path / "worker-scratch"
    assert not any(p.is_file() for p in scratch.rglob("*") if ".locks" not in p.parts)


def test_a_worker_killed_mid_run_loses_nothing(tmp_path, cluster):
    from dask.distributed import Client

    # long enough (a few 0.1 s epochs) to be killed between its first checkpoint and its end
    cfg = tiny(epochs=4, **{"data.n_train": 20_000, "model.sizes": [784, 256, 10]})
    key = run_key(with_overrides(cfg, {"train.seed": 0}), 0)
    checkpoint = tmp_path / "worker-scratch" / key / "checkpoint" / "state.npz"
    out = {}

    def search():
        out["df"] = grid(cfg, {"optimizer.lr": [0.1]}, seeds=(0,),
                         runs_dir=tmp_path / "client", backend="dask",
                         scheduler=cluster.scheduler_address, progress=False)

    with Client(cluster.scheduler_address) as watcher:
        pids = watcher.run(os.getpid)
        searching = threading.Thread(target=search)
        searching.start()
        deadline, killed = time.monotonic() + 120, None
        while killed is None and time.monotonic() < deadline:
            if checkpoint.exists():  # epoch 1 is done, the run is not
                for address, tasks in watcher.processing().items():
                    if f"nnlib-run-{key}" in map(str, tasks):
                        os.kill(pids[address], signal.SIGKILL)
                        killed = pids[address]
            time.sleep(0.01)
        searching.join(timeout=180)
    assert killed is not None, "the run was never seen mid-run on a worker"
    df = out["df"]
    assert df["error"].iloc[0] is None, df.get("traceback")
    lines = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    trained_by = [line["pid"] for line in lines if line["trained"] and line["pid"] != os.getpid()]
    assert len(trained_by) == 1 and trained_by[0] != killed  # another worker trained it
    ours = [line for line in lines if line["pid"] == os.getpid()]
    assert [(x["trained"], x["cluster"]) for x in ours] == [(True, cluster.scheduler_address)]
    local = run(with_overrides(cfg, {"optimizer.lr": 0.1}), 0, runs_dir=tmp_path / "local",
                progress="off")
    assert {k: df[k].iloc[0] for k in EXACT} == {k: local.metrics[k] for k in EXACT}
    assert runcache.verify(df["run_dir"].iloc[0]) is None


def test_a_run_asked_for_under_NNLIB_SCHEDULER_trains_on_a_worker(tmp_path, cluster,
                                                                 monkeypatch):
    monkeypatch.setenv("NNLIB_SCHEDULER", cluster.scheduler_address)
    cfg = tiny()
    result = run(cfg, 2, runs_dir=tmp_path / "client", progress="off")
    lines = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    ours = [line for line in lines if line["pid"] == os.getpid()]
    workers = [line for line in lines if line["pid"] != os.getpid()]
    assert [(x["trained"], x["cluster"]) for x in ours] == [(True, cluster.scheduler_address)]
    assert [(x["trained"], x["cluster"]) for x in workers] == [(True, None)]  # trained there
    local = run(cfg, 2, runs_dir=tmp_path / "local", progress="off", scheduler="")
    assert {k: result.metrics[k] for k in EXACT} == {k: local.metrics[k] for k in EXACT}
    assert (result.run_dir / "cost.json").exists()  # what it cost, sent with the run
    # a grid names no backend: the scheduler in the environment picks dask
    df = grid(cfg, {"optimizer.lr": [0.05]}, seeds=(2,), runs_dir=tmp_path / "client",
              progress=False)
    assert df["error"].iloc[0] is None and len((tmp_path / "runs.jsonl").read_text()
                                               .splitlines()) == 5  # 2 more: client + worker


def test_a_prefetch_trains_each_listed_run_once_and_releases_a_notebook_once_its_are_in(
        tmp_path, cluster, monkeypatch):
    address, runs_dir = cluster.scheduler_address, tmp_path / "client"
    # b's seed is not its config's train.seed (0): the task is keyed as run() keys the run
    a, b = (Request(tiny(**{"optimizer.lr": lr}), seed) for lr, seed in ((0.05, 0), (0.1, 1)))
    longest = Request(tiny(epochs=2), 0)
    failing = Request(tiny(**{"optimizer.lr": 0.3}), 0)
    cached = Request(tiny(), 3)
    run(cached.config, 3, runs_dir=runs_dir, progress="off", scheduler="")
    real = prefetch.run

    def storing(config, seed, **kw):  # a run that fails when it comes back (as a worker's error)
        if config.optimizer.lr == 0.3:
            raise RuntimeError("spoilt on the way")
        return real(config, seed, **kw)

    monkeypatch.setattr(prefetch, "run", storing)
    groups = {"01_first": [a, b], "02_second": [b, longest], "03_cached": [cached],
              "04_unlisted": None, "05_failing": [failing]}
    arrived = []
    with prefetch.Prefetch(groups, address, runs_dir,
                           on_arrival=lambda *args: arrived.append(args)) as p:
        assert p.submitted[0] == (longest, "02_second")  # longest first; b once
        assert {r.key for r, _ in p.submitted} == {a.key, b.key, longest.key, failing.key}
        assert {f.key for f in p._futures.values()} == {
            remote.task_key(r.key) for r in (a, b, longest, failing)}
        order = []
        for name in p.in_order(groups):  # released only once every run it lists is stored
            order.append(name)
            assert all(runcache.has_result(runs_dir / r.key) for r in groups[name] or []
                       if r is not failing)
    assert order[:2] == ["03_cached", "04_unlisted"]  # nothing to wait for
    assert sorted(order[2:]) == ["01_first", "02_second", "05_failing"]
    assert p.stored == 3 and list(p.failed) == [failing.key]
    assert "RuntimeError: spoilt on the way" in p.failed[failing.key]
    assert sorted(arrived) == sorted([(a.key, "01_first", None), (b.key, "01_first", None),
                                      (longest.key, "02_second", None),
                                      (failing.key, "05_failing", p.failed[failing.key])])
    lines = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    ours = sorted((x["key"], x["notebook"], x["trained"], x["cluster"]) for x in lines
                  if x["pid"] == os.getpid() and x["key"] != cached.key)
    assert ours == sorted([(a.key, None, True, address), (b.key, None, True, address),
                           (longest.key, None, True, address)])  # no notebook asked yet
    monkeypatch.setenv("NNLIB_SCHEDULER", address)
    got = [run(r.config, r.seed, runs_dir=runs_dir, progress="off") for r in (a, b, longest)]
    asked = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [(x["key"], x["trained"]) for x in asked[len(lines):]] == [
        (r.key, False) for r in (a, b, longest)]  # what a notebook then asks for is cached...
    for r, result in zip((a, b, longest), got):  # ... with the numbers of a local run
        local = run(r.config, r.seed, runs_dir=tmp_path / "local", progress="off", scheduler="")
        assert {k: result.metrics[k] for k in EXACT} == {k: local.metrics[k] for k in EXACT}


def test_a_prefetch_left_early_cancels_what_is_left(tmp_path, cluster):
    from dask.distributed import Client

    slow = Request(tiny(epochs=4, **{"data.n_train": 20_000, "model.sizes": [784, 256, 10]}), 0)
    with prefetch.Prefetch({"01": [slow]}, cluster.scheduler_address, tmp_path / "client") as p:
        assert len(p.submitted) == 1
    with Client(cluster.scheduler_address) as watcher:
        deadline = time.monotonic() + 30
        while watcher.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watcher.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0
    assert not runcache.has_result(tmp_path / "client" / slow.key)


def test_a_prefetch_whose_scheduler_goes_away_releases_every_notebook(tmp_path, monkeypatch,
                                                                       caplog):
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.setenv(remote.SCRATCH_ENV, str(tmp_path / "worker-scratch"))
    slow = [Request(tiny(epochs=4, **{"data.n_train": 20_000, "model.sizes": [784, 256, 10]}), s)
            for s in (0, 1)]
    groups = {"01": slow[:1], "02": slow[1:]}
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       protocol="tcp", host="127.0.0.1", dashboard_address=None)
    try:
        with prefetch.Prefetch(groups, cluster.scheduler_address, tmp_path / "client") as p:
            cluster.close()  # mid-run: the client loses its scheduler
            t0 = time.monotonic()
            assert sorted(p.in_order(groups)) == ["01", "02"]  # nobody waits forever
            assert time.monotonic() - t0 < 120
    finally:
        remote.close_clients()
        cluster.close()
    assert p.stored == 0 and "the notebooks ask for their runs not stored yet" in caplog.text


@pytest.mark.slow
def test_the_quick_report_on_two_workers_equals_the_local_quick_build(tmp_path, cluster,
                                                                      quick_report,
                                                                      monkeypatch, capsys):
    from nnlib.cli import main

    rc_local, local_out = quick_report
    monkeypatch.setenv("NNLIB_RUNS", str(tmp_path / "runs"))  # an empty cache: all trained there
    out = tmp_path / "reports"
    rc = main(["report", "--quick", "--force", "--jobs", "2", "--out", str(out),
               "--scheduler", cluster.scheduler_address])
    assert (rc, rc_local) == (0, 0)
    ours, theirs = (json.loads((d / "index.json").read_text())["notebooks"]
                    for d in (out, local_out))
    heads = {n["name"]: [(h["name"], h["ours"], h.get("ours_std")) for h in n["headlines"]]
             for n in ours}
    assert heads == {n["name"]: [(h["name"], h["ours"], h.get("ours_std"))
                                 for h in n["headlines"]] for n in theirs}
    assert sum(len(h) for h in heads.values()) >= 10
    logged = [json.loads(line) for line in
              (out / "executed" / "runs.jsonl").read_text().splitlines()]
    # every run went to the cluster before the kernels started (the build's prefetch, in this
    # process) and the kernels found each one stored
    ahead = [line for line in logged if line["pid"] == os.getpid()]
    kernels = [line for line in logged if line["pid"] != os.getpid()]
    assert ahead and all(x["trained"] and x["cluster"] == cluster.scheduler_address
                         for x in ahead)
    assert kernels and not any(x["trained"] for x in kernels), "a kernel waited for a run"
    assert {x["key"] for x in ahead} == {x["key"] for x in kernels}
    assert all(x["notebook"] is None for x in ahead)
    # the records count each run as trained once, for the first notebook that asked for it
    trained = sum(n["provenance"]["runs"]["trained"] for n in ours)
    assert trained == len(ahead) == len({x["key"] for x in ahead})
    workers = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len([line for line in workers if line["trained"]]) == len(ahead)
    printed = capsys.readouterr().out  # what the build says while the cluster trains
    assert f"{len(ahead)} run(s) sent to {cluster.scheduler_address} at once" in printed
    assert printed.count("[report] run ") == len(ahead)
    assert f"[report] run {len(ahead)}/{len(ahead)} for " in printed


def test_report_scheduler_that_does_not_answer_stops_before_building(tmp_path, monkeypatch,
                                                                    capsys):
    from nnlib.cli import main
    from nnlib.cli import report as report_cli

    def unreachable(address):
        raise OSError(f"Timed out trying to connect to {address} after 30 s")

    built = []
    monkeypatch.setattr(report_cli.remote, "client", unreachable)
    monkeypatch.setattr(report_cli, "build_report", lambda **kw: built.append(kw) or 0)
    rc = main(["report", "--quick", "--out", str(tmp_path), "--scheduler", "tcp://nowhere:1"])
    err = capsys.readouterr().err
    assert rc == 1 and not built
    assert err.strip() == "nnlib: error: Timed out trying to connect to tcp://nowhere:1 after 30 s"
    assert "NNLIB_SCHEDULER" not in os.environ
    rc = main(["report", "--check", "--scheduler", "tcp://nowhere:1"])
    assert rc == 2 and "takes no --scheduler" in capsys.readouterr().err


def test_report_scheduler_reaches_the_kernels_for_the_build_only(tmp_path, monkeypatch):
    from nnlib.cli import main
    from nnlib.cli import report as report_cli

    seen = []
    monkeypatch.setattr(report_cli.remote, "client", lambda address: None)
    monkeypatch.setattr(report_cli, "build_report",
                        lambda **kw: seen.append(os.environ.get("NNLIB_SCHEDULER")) or 0)
    monkeypatch.delenv("NNLIB_SCHEDULER", raising=False)
    assert main(["report", "--quick", "--out", str(tmp_path), "--scheduler", "tcp://a:8786"]) == 0
    assert seen == ["tcp://a:8786"] and "NNLIB_SCHEDULER" not in os.environ


ALLOCATE = """
import resource, sys
import numpy as np
from nnlib.lab import remote
fixed = remote.fast_allocator() if sys.argv[1] == "fix" else None
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(300):
    np.ones(1 << 18)  # 2 MiB, touched, freed: what a training step's temporaries do
print(fixed, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_fast_allocator_undoes_the_dask_workers_malloc_setting():
    def faults(mode, env):
        base = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
        out = subprocess.run([sys.executable, "-c", ALLOCATE, mode], env={**base, **env},
                             capture_output=True, text=True, check=True).stdout.split()
        return out[0], int(out[1])

    dask = {"MALLOC_TRIM_THRESHOLD_": "65536"}  # what a dask nanny gives its workers
    slow, fast, plain = faults("none", dask), faults("fix", dask), faults("fix", {})
    assert slow[1] > 300 * 512 // 2  # each array faulted in page by page
    assert fast == ("True", fast[1]) and fast[1] < slow[1] // 20
    assert plain[0] == "False"  # nothing to undo without the variable
