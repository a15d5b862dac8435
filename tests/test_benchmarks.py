"""The benchmark scripts run and print the one JSON line they promise (a smoke run on few images;
the speed figures themselves are measured by hand, never asserted)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
TRAIN_KEYS = {"model", "epochs", "seconds", "seconds_per_epoch", "samples_per_s", "dtype",
              "threads", "nnlib_threads", "batch_size", "repeats", "all_seconds", "data",
              "valid_accuracy", "machine"}


def _run(script: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if not line.startswith("#")]
    assert len(lines) == 1, f"expected one JSON line, got {proc.stdout!r}"
    return json.loads(lines[0])


@pytest.mark.parametrize("model, samples, nnlib_threads", [("mlp", "3000", "2"),
                                                           ("cnn", "640", "1")])
def test_train_speed_prints_one_json_line(model, samples, nnlib_threads):
    out = _run("train_speed.py", "--model", model, "--synthetic", "--samples", samples,
               "--repeats", "2", "--nnlib-threads", nnlib_threads)
    assert set(out) >= TRAIN_KEYS
    assert out["model"] == model and out["dtype"] == "float32" and out["data"] == "synthetic"
    assert out["threads"] == 1 and out["nnlib_threads"] == int(nnlib_threads)
    assert len(out["all_seconds"]) == 2 and out["seconds"] > 0
    assert out["samples_per_s"] == pytest.approx(int(samples) / out["seconds"], rel=0.01)
    if model == "mlp":  # the synthetic classes are learnable: far above chance after one epoch
        assert out["valid_accuracy"] > 0.5


def test_train_speed_rejects_bad_arguments():
    proc = subprocess.run([sys.executable, str(BENCH / "train_speed.py"), "--model", "mlp",
                           "--synthetic", "--samples", "0"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "--samples must be >= 1" in proc.stderr


def test_augment_speed_prints_one_json_line():
    out = _run("augment_speed.py", "--n", "256", "--repeats", "1")
    assert out["benchmark"] == "augment" and out["n"] == 256
    assert out["images_per_s"] > 0 and out["batch32_images_per_s"] > 0


def test_worker_allocator_prints_one_json_line(mnist_cache):
    out = _run("worker_allocator.py", "--repeats", "1", "--n-train", "200")
    assert set(out) >= {"plain", "dask_env", "dask_env_fixed", "n_train", "repeats"}
    assert all(out[k]["epoch_s"] > 0 and out[k]["minor_faults"] > 0
               for k in ("plain", "dask_env", "dask_env_fixed"))


def test_side_by_side_names_the_failing_side(tmp_path):
    """Without torch in the given environment the comparison stops with one clear line."""
    proc = subprocess.run([sys.executable, str(BENCH / "side_by_side.py"), "--torch-python",
                           sys.executable, "--model", "mlp", "--rounds", "1", "--repeats", "1",
                           "--samples", "200"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.startswith("side_by_side: torch_reference.py failed")
    assert "torch" in proc.stderr


def test_side_by_side_pairs_the_rounds(tmp_path):
    """With a stand-in for PyTorch (train_speed itself) the output pairs every round."""
    fake = tmp_path / "torchpython"
    # called as `torchpython .../torch_reference.py --model ...`: drop the script, run ours
    fake.write_text(f"#!/bin/sh\nshift\nexec {sys.executable} {BENCH / 'train_speed.py'} "
                    f"--synthetic \"$@\"\n")
    fake.chmod(0o755)
    out = _run("side_by_side.py", "--torch-python", str(fake), "--model", "mlp", "--rounds", "2",
               "--repeats", "1", "--samples", "300")
    assert out["rounds"] == 2 and len(out["nnlib_all"]) == len(out["torch_all"]) == 2
    ratios = sorted(a / b for a, b in zip(out["nnlib_all"], out["torch_all"]))
    assert out["ratio_nnlib_over_torch"] == pytest.approx(sum(ratios) / 2, abs=1e-3)


@pytest.mark.slow
def test_report_time_reads_where_the_quick_reports_time_went(quick_report):
    """The quick report (run by the shared fixture, two notebooks at a time) logged every run
    with its notebook; report_time attributes them and prints the one JSON line."""
    rc, out = quick_report
    assert rc == 0
    lines = [json.loads(line) for line in (out / "executed" / "runs.jsonl").read_text()
             .splitlines()]
    names = {p.stem for p in (out / "executed").glob("[0-9][0-9]_*.ipynb")}
    assert lines and {line["notebook"] for line in lines} <= names
    assert any(line["trained"] for line in lines) and not all(line["trained"] for line in lines)
    summary = _run("report_time.py", str(out))
    assert set(summary["notebooks"]) == names
    assert summary["runs_trained"] == sum(line["trained"] for line in lines)
    assert summary["runs_trained"] + summary["runs_cached"] == len(lines)
    assert summary["training_cpu_s"] > 0 and summary["training_core_s"] > 0
    assert 0 < summary["wall_s"] <= summary["notebooks_s"]
    for name, nb in summary["notebooks"].items():
        assert 0 < nb["cells_s"] <= nb["wall_s"], name
        assert nb["kernel_s"] >= 0 and nb["other_s"] >= -1, name
    trained = [nb for nb in summary["notebooks"].values() if nb["runs_trained"]]
    assert trained and all(nb["training_core_s"] > 0 for nb in trained)
    assert summary["runs"][0]["wall_s"] >= summary["runs"][-1]["wall_s"]


def test_report_time_without_a_report_says_so(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "report_time.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "no " in proc.stderr and "index.json" in proc.stderr


def test_cluster_time_schedules_the_trained_runs_longest_first(tmp_path):
    """Trained runs of 5, 4, 3, 3 and 3 CPU seconds (a cached run and a cut line are skipped)
    on 2 workers, longest first, each to the worker free first: 5 | 4, then 3 after the 4 (7),
    3 after the 5 (8), 3 after the 7 (10): 10 s, above the bound 18 / 2 = 9 s."""
    executed = tmp_path / "executed"
    executed.mkdir()
    lines = [json.dumps({"trained": True, "cpu_s": s}) for s in (3, 5, 3)]
    # trained on a cluster: the worker's seconds, not those of the process that waited for it
    lines += [json.dumps({"trained": True, "cpu_s": 0.2, "run_cpu_s": s, "cluster": "tcp://a:1"})
              for s in (4, 3)]
    lines += [json.dumps({"trained": False, "cpu_s": 0.1}), '{"trained": tr']
    (executed / "runs.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "index.json").write_text(json.dumps({"duration_s": 12.34}))
    out = _run("cluster_time.py", str(executed / "runs.jsonl"), "--workers", "1", "2", "8")
    assert (out["runs"], out["cpu_s"], out["longest_run_s"]) == (5, 18.0, 5.0)
    assert out["measured_wall_s"] == 12.3
    assert out["workers"]["1"] == {"makespan_s": 18.0, "lower_bound_s": 18.0, "speedup": 1.0}
    assert out["workers"]["2"] == {"makespan_s": 10.0, "lower_bound_s": 9.0, "speedup": 1.8}
    assert out["workers"]["8"] == {"makespan_s": 5.0, "lower_bound_s": 5.0, "speedup": 3.6}


def test_cluster_time_on_the_quick_report_and_on_a_build_that_trained_nothing(quick_report,
                                                                               tmp_path):
    rc, out = quick_report
    assert rc == 0
    sim = _run("cluster_time.py", str(out / "executed" / "runs.jsonl"))
    spans = [sim["workers"][w]["makespan_s"] for w in ("1", "2", "4", "16", "64")]
    assert spans == sorted(spans, reverse=True) and spans[0] == pytest.approx(sim["cpu_s"], abs=0.2)
    assert all(sim["workers"][w]["lower_bound_s"] <= sim["workers"][w]["makespan_s"] + 0.1
               for w in sim["workers"])
    assert sim["measured_wall_s"] > 0
    warm = tmp_path / "runs.jsonl"
    warm.write_text(json.dumps({"trained": False, "cpu_s": 0.1}) + "\n")
    proc = subprocess.run([sys.executable, str(BENCH / "cluster_time.py"), str(warm)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "no trained run" in proc.stderr
