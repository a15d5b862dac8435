"""nnlib.report.runtime: the run-time line of a notebook's first cell."""
import json

from nnlib.report import provenance
from nnlib.report.runtime import (
    duration_text,
    measured_durations,
    run_time_problems,
    run_time_text,
    strip_run_time,
    update_run_times,
)


def _notebook(path, line=""):
    nb = {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {},
                     "source": ["# 01\n", "\n",
                                f"**Run time**: <!-- run-time -->{line}<!-- /run-time -->."]},
                    {"cell_type": "code", "execution_count": None, "id": "b", "metadata": {},
                     "outputs": [], "source": ["x = 1"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return path


def test_texts():
    assert [duration_text(s) for s in (18.2, 89, 412, 2251)] == ["18 s", "89 s", "6.9 min",
                                                                "38 min"]
    assert run_time_text(412, 17.6, 2) == ("6.9 min in a full build from an empty run cache, "
                                           "18 s with `QUICK=True` (2 cores)")
    assert run_time_text(None, 5, None) == "5 s with `QUICK=True`"
    assert run_time_text(None, 5, 1) == "5 s with `QUICK=True` (1 core)"
    assert run_time_text(None, None, None) == "not measured yet"
    assert strip_run_time("a <!-- run-time -->6 s<!-- /run-time --> b") == \
        "a <!-- run-time --><!-- /run-time --> b"


def test_update_and_check(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    path = _notebook(nbs / "01_a.ipynb", "old")
    (nbs / "expected_durations.json").write_text(json.dumps({"_about": "x", "01_a": 412,
                                                             "quick": {"01_a": 12}}))
    assert measured_durations(nbs) == ({"01_a": 412.0}, {"01_a": 12.0})
    # a warm republish (runs from the cache) does not set what a first run costs
    index = {"notebooks": [{"name": "01_a", "duration_s": 9.0,
                            "provenance": {"machine": {"cores": 2}}}]}
    before = provenance.source_sha256(json.loads(path.read_text()))
    assert run_time_problems(nbs, index) == [
        "01_a: its run-time line differs from expected_durations.json (nnlib report --render "
        "rewrites it)"]
    assert update_run_times([path], index, nbs) == [path]
    text = path.read_text()
    assert ("<!-- run-time -->6.9 min in a full build from an empty run cache, 12 s with "
            "`QUICK=True` (2 cores)<!-- /run-time -->") in text
    assert run_time_problems(nbs, index) == []
    assert update_run_times([path], index, nbs) == []  # nothing to change
    # the line is not part of the notebook's source: rewriting it keeps the hash
    assert provenance.source_sha256(json.loads(text)) == before
    # a notebook without the markers is left alone
    plain = nbs / "02_b.ipynb"
    plain.write_text(text.replace("<!-- run-time -->", "").replace("<!-- /run-time -->", ""))
    index["notebooks"].append({"name": "02_b", "duration_s": 5.0})
    assert update_run_times([plain], index, nbs) == [] and run_time_problems(nbs, index) == []


def test_machine_text():
    from nnlib.report.notebook import machine_text
    facts = {"cores": 2, "cpu": "AMD EPYC", "blas": [
        {"internal_api": "openblas", "version": "0.3.31.188.0", "architecture": "Haswell"}]}
    assert machine_text(facts) == "2 cores (AMD EPYC), OpenBLAS 0.3.31 (Haswell)"
    assert machine_text({"cores": 1, "blas": []}) == "1 core"
    import os
    assert machine_text().startswith(f"{os.cpu_count()} core")  # this machine, computed
