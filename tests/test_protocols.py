"""nnlib.lab.protocols lists the runs each notebook asks for without running it; held here to the
run keys the notebooks' kernels did ask for - in the published report (full protocol, three seeds)
and in a quick build - and nnlib.lab.prefetch orders a build's runs longest first by them."""
import json
from pathlib import Path

import nbformat
import pytest

from nnlib.lab import prefetch, protocols, recipes
from nnlib.lab.grid import relative_cost
from nnlib.paths import project_root
from nnlib.report.parameters import parameter_values

NOTEBOOKS = project_root() / "notebooks"


def _listed(record: dict) -> set:
    """The run keys the listing gives for a notebook's record (its parameters as run)."""
    nb = nbformat.read(NOTEBOOKS / f"{record['name']}.ipynb", as_version=4)
    listed = protocols.requests(record["name"], parameter_values(nb, record["parameters"]))
    return {r.key for r in listed}


def _records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "executed").glob("[0-9]*.json"))]


def test_every_notebook_has_a_listing():
    names = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert names == set(protocols.PROTOCOLS)


def test_the_listings_are_the_runs_the_published_report_asked_for():
    """The published report is current (``nnlib report --check`` in CI), so its records' run
    keys are what the notebooks ask for with this source: the full protocol, every seed."""
    records = _records(project_root() / "reports")
    assert len(records) == len(protocols.PROTOCOLS)
    for record in records:
        assert _listed(record) == set(record["run_keys"]), \
            f"{record['name']}: its listing in nnlib/lab/protocols.py drifted from the notebook"
    assert sum(len(r["run_keys"]) for r in records) > 100


@pytest.mark.slow
def test_the_listings_are_the_runs_a_quick_build_asked_for(quick_report):
    rc, out = quick_report
    assert rc == 0
    records = _records(out)
    assert len(records) == len(protocols.PROTOCOLS)
    for record in records:
        assert record["parameters"]["QUICK"] is True
        assert _listed(record) == set(record["run_keys"]), record["name"]


def test_a_listing_follows_the_parameters_and_lists_a_run_once():
    values = {"QUICK": False, "SEEDS": [5, 6], "GAMMA_SEEDS": [7]}
    listed = protocols.requests("04_scheduler_gamma", values)
    # 4 gammas at seed 7; gamma 1 at 5, 6; the final MLP at 5, 6; mlp_improved at 5
    assert sorted(r.seed for r in listed) == [5, 5, 5, 6, 6, 7, 7, 7, 7]
    assert len({r.key for r in listed}) == len(listed)
    # 02 asks for 01's LeakyReLU run again (same config): listed once per notebook
    quick = protocols.requests("02_optimizers", {"QUICK": True, "SEEDS": [0, 1, 2]})
    assert {r.seed for r in quick} == {0}
    assert all(r.config.train.epochs == 1 for r in quick)
    assert protocols.requests("99_not_a_notebook", {}) is None


def test_the_order_estimate_uses_measured_seconds_and_scales_the_rest_by_model_type():
    mlp = protocols.Request(recipes.final_mlp(), 0)
    mlp_twice = protocols.Request(recipes.quick(recipes.final_mlp(), epochs=2, n_train=4000), 0)
    cnn = protocols.Request(recipes.seed_cnn(), 0)
    seconds = prefetch.estimated_seconds([mlp, mlp_twice, cnn], {mlp.key: 100.0})
    assert seconds[mlp.key] == 100.0  # measured
    ratio = 100.0 / relative_cost(mlp.config)  # seconds per cost unit of the measured MLP
    assert seconds[mlp_twice.key] == pytest.approx(relative_cost(mlp_twice.config) * ratio)
    assert seconds[cnn.key] == pytest.approx(relative_cost(cnn.config) * ratio)  # no CNN known
    unknown = prefetch.estimated_seconds([mlp, cnn], {})
    assert unknown == {r.key: relative_cost(r.config) for r in (mlp, cnn)}


def test_measured_run_seconds_reads_earlier_run_logs_first_log_first(tmp_path):
    from nnlib.report.cluster import measured_run_seconds

    newer, older = tmp_path / "new.jsonl", tmp_path / "old.jsonl"
    newer.write_text("\n".join([json.dumps({"key": "a", "run_cpu_s": 10.0}),
                                json.dumps({"key": "b", "run_cpu_s": None}),  # cost unknown
                                '{"key": "c", "run_cp']) + "\n")  # a line cut by a kill
    older.write_text("\n".join(json.dumps({"key": k, "run_cpu_s": s})
                               for k, s in (("a", 99.0), ("b", 20.0), ("d", 0))) + "\n")
    assert measured_run_seconds(newer, older, tmp_path / "missing.jsonl") == {"a": 10.0,
                                                                               "b": 20.0}


def test_a_run_trained_ahead_counts_as_trained_for_the_first_notebook_that_asked(tmp_path):
    from nnlib.report.execute import _run_lines

    log = tmp_path / "runs.jsonl"
    log.write_text("\n".join(json.dumps(line) for line in [
        {"key": "k1", "notebook": None, "trained": True, "cluster": "tcp://a:1"},  # the build's
        {"key": "k1", "notebook": "01", "trained": False},
        {"key": "k2", "notebook": "01", "trained": True},  # trained by the kernel itself
        {"key": "k1", "notebook": "02", "trained": False},  # asked again by another notebook
    ]) + "\n")
    assert [(x["key"], x["trained"]) for x in _run_lines(log, "01")] == [("k1", True),
                                                                         ("k2", True)]
    assert [(x["key"], x["trained"]) for x in _run_lines(log, "02")] == [("k1", False)]


def test_a_notebook_whose_runs_cannot_be_listed_asks_for_them_as_it_goes(monkeypatch):
    from nnlib.report import cluster

    def broken(name, values):
        raise KeyError("GRID_SEEDS")

    monkeypatch.setattr(cluster, "requests", broken)
    said = []
    prefetch = cluster.prefetch_for({NOTEBOOKS / "03_grid_search.ipynb": {}},
                                    "tcp://nowhere:1", Path("runs"), log=said.append)
    assert prefetch.groups == {"03_grid_search": None}  # (nothing submitted: not started)
    assert said == ["[report] 03_grid_search: its runs cannot be listed ahead (KeyError: "
                    "'GRID_SEEDS'); it asks for them as it goes"]
