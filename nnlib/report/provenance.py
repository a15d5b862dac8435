"""What a published notebook was computed from, as hashes and facts a later check can compare.

Per notebook the report records (``provenance(...)``, kept in its record, in ``index.json`` and in
the executed notebook's metadata under ``nnlib``):

- ``source_sha256``: the notebook as committed, stripped (each cell's type, source and tags: no
  outputs, counts or ids), so re-saving it in JupyterLab changes nothing;
- ``parameters``: what papermill passed (the published report: ``{"QUICK": false}``);
- ``numeric_sha256``: the code that computes the numbers it shows (:func:`numeric_sha256`);
- ``reference_sha256``: the lab report's numbers it is compared with (:func:`reference_sha256`),
  and ``references``: the published / replayed values its headlines quote;
- ``mnist_sha256``: the checksums the MNIST arrays were verified against;
- ``outputs_sha256``: its executed cells, sources and outputs (a hand edit shows);
- the commit, the machine (cores, CPU, BLAS), its duration and its training runs: how many were
  trained and how many came from the run cache, and their CPU seconds.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
from pathlib import Path

from ..codehash import PACKAGE_DIR, closure
from ..lab.mnist import MNIST_SHA256
from .runtime import strip_run_time

__all__ = ["NUMERIC_ROOTS", "machine", "numeric_sha256", "outputs_sha256", "provenance",
           "reference_sha256", "run_summary", "runs_behind", "runs_of", "source_sha256"]

#: The modules whose code computes what the report shows, with everything they import: a run
#: (``nnlib.lab.train``, what the run cache keys on), the protocols that configure the runs
#: (``recipes``), the verdicts and seed statistics (``compare``) and notebook 08's weight analysis
#: (``weights``). Caching, scheduling, plotting and page layout are outside it: editing them
#: leaves the published report current.
NUMERIC_ROOTS = ("nnlib.lab.train", "nnlib.lab.recipes", "nnlib.report.compare",
                 "nnlib.report.weights")
#: Data files the recipes read (the lab report's configs), hashed with the numeric code.
CONFIG_DIR = "configs"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _cell_text(cell) -> str:
    """A cell's source, a Markdown cell's run-time line emptied (publishing rewrites it)."""
    text = _text(cell.get("source", ""))
    return strip_run_time(text) if cell.get("cell_type") == "markdown" else text


def source_sha256(nb) -> str:
    """SHA-256 of a notebook's cells as committed: type, source and tags of each, nothing else
    (the run-time line of ``nnlib.report.runtime`` aside)."""
    cells = [{"type": c.get("cell_type"), "source": _cell_text(c),
              "tags": sorted(c.get("metadata", {}).get("tags", []))} for c in nb["cells"]]
    return _sha256(_canonical(cells))


def outputs_sha256(nb) -> str:
    """SHA-256 of an executed notebook's cells: type, source and outputs (execution counts and
    metadata aside), so editing a shown number or a line of code changes it (the run-time
    line aside)."""
    def output(out):
        return {k: v for k, v in out.items() if k not in ("execution_count", "metadata")}
    cells = [{"type": c.get("cell_type"), "source": _cell_text(c),
              "outputs": [output(o) for o in c.get("outputs", [])]} for c in nb["cells"]]
    return _sha256(_canonical(cells))


def numeric_sha256(package_dir=PACKAGE_DIR, root=None) -> str:
    """SHA-256 over the source files of :data:`NUMERIC_ROOTS` and what they import
    (``nnlib.codehash.closure``), and over the files under ``<root>/configs/``."""
    package_dir = Path(package_dir)
    h = hashlib.sha256()
    for path in closure(NUMERIC_ROOTS, package_dir):
        h.update(path.relative_to(package_dir).as_posix().encode() + b"\0" + path.read_bytes())
    configs = Path(root) / CONFIG_DIR if root is not None else None
    if configs is not None and configs.is_dir():
        for path in sorted(p for p in configs.rglob("*") if p.is_file()):
            h.update(f"{CONFIG_DIR}/{path.relative_to(configs).as_posix()}".encode() + b"\0"
                     + path.read_bytes())
    return h.hexdigest()


def reference_sha256(package_dir=PACKAGE_DIR) -> str:
    """SHA-256 of the lab report's numbers (``nnlib/report/reference.py``'s public data: every
    upper-case module value), not of its text: a comment or docstring edit keeps it."""
    path = Path(package_dir) / "report" / "reference.py"
    spec = importlib.util.spec_from_file_location("_nnlib_reference_under_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = {name: _plain(value) for name, value in vars(module).items()
            if name.isupper() and not name.startswith("_")}
    return _sha256(_canonical(data))


def _plain(value):
    """``value`` with every dict key a string (the grid's cells are keyed by tuples: their repr)
    and tuples as lists, so that JSON can carry it."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _blas() -> list[dict]:
    """The BLAS/OpenMP libraries NumPy loaded: API, version, architecture, threads."""
    import numpy  # noqa: F401  (loads its BLAS, which threadpoolctl then sees)
    from threadpoolctl import threadpool_info
    keys = ("internal_api", "version", "architecture", "threading_layer", "num_threads")
    return [{k: lib.get(k) for k in keys if lib.get(k) is not None} for lib in threadpool_info()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_text(facts: dict | None, detail: bool = False) -> str:
    """A recorded machine (:func:`machine`'s facts) in words: "2 cores (AMD EPYC), OpenBLAS
    0.3.31 (Haswell)" for text that quotes times; with ``detail`` also the architecture, the OS,
    Python and NumPy (the report's appendix). "not recorded" without facts."""
    if not facts:
        return "not recorded"
    cores = facts.get("cores")
    text = f"{cores} core{'s' if cores != 1 else ''}" if cores else "unknown cores"
    cpu = [str(facts[k]) for k in ("cpu", "arch") if facts.get(k) and (detail or k == "cpu")]
    if cpu:
        text += f" ({', '.join(cpu)})"
    if detail:
        if facts.get("os"):
            text += f", {facts['os']}"
        versions = [f"{name} {facts[key]}"
                    for key, name in (("python", "Python"), ("numpy", "NumPy")) if facts.get(key)]
        if versions:
            text += "; " + ", ".join(versions)
    blas = []
    for lib in facts.get("blas") or []:
        name = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(
            str(lib.get("internal_api")), str(lib.get("internal_api")))
        version = ".".join(str(lib.get("version", "")).split(".")[:3])
        arch = f" ({lib['architecture']})" if lib.get("architecture") else ""
        blas.append(f"{name} {version}{arch}")
    if detail and not blas:
        blas = ["BLAS unknown"]
    return ", ".join([text, *blas])


def machine() -> dict:
    """This machine as a report records it: cores, CPU, OS, Python, NumPy and the BLAS."""
    import numpy
    return {"cores": os.cpu_count(), "cpu": _cpu_model(), "arch": platform.machine(),
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "numpy": numpy.__version__, "blas": _blas()}


def run_summary(lines: list[dict]) -> dict:
    """The training runs a notebook asked for (its lines of the run log; a notebook may ask for
    the same run twice): ``requested`` calls, ``runs`` distinct runs, how many of them it
    ``trained`` and how many came from the cache (``cached``), the CPU seconds it spent training
    (``cpu_s``), and what all its runs took when they were trained (``run_cpu_s``; None where a
    run's cost is unknown). ``by_key``: per run, whether this execution trained it and its CPU
    seconds, so that a report sums runs that several notebooks share once."""
    by_key = {}
    for line in lines:
        run = by_key.setdefault(line.get("key"), {"trained": False, "cpu_s": None, "spent": 0.0})
        if line.get("trained"):
            run["trained"] = True
            run["spent"] += line.get("cpu_s") or 0.0
        if run["cpu_s"] is None and line.get("run_cpu_s") is not None:
            run["cpu_s"] = line["run_cpu_s"]
    costs = [run["cpu_s"] for run in by_key.values()]
    trained = sum(run["trained"] for run in by_key.values())
    return {"requested": len(lines), "runs": len(by_key), "trained": trained,
            "cached": len(by_key) - trained,
            "cpu_s": round(sum(run["spent"] for run in by_key.values()), 1),
            "run_cpu_s": round(sum(costs), 1) if all(c is not None for c in costs) else None,
            "by_key": {str(k): {"trained": run["trained"], "cpu_s": run["cpu_s"]}
                       for k, run in sorted(by_key.items(), key=lambda kv: str(kv[0]))}}


def runs_of(row: dict) -> dict:
    """The ``run_summary`` a notebook's index row records ({} for a row without provenance)."""
    return (row.get("provenance") or {}).get("runs") or {}


def runs_behind(rows: list[dict]) -> dict:
    """The training runs behind a report's notebooks (its index rows), each counted once however
    many notebooks use it: ``trained`` (in that execution), ``cached``, ``cpu_s`` (training in
    that execution) and ``run_cpu_s`` (what they all took when trained; None if unknown)."""
    runs = {}
    for r in rows:
        for key, run in (runs_of(r).get("by_key") or {}).items():
            seen = runs.setdefault(key, {"trained": False, "cpu_s": run.get("cpu_s")})
            seen["trained"] |= bool(run.get("trained"))
    costs = [run["cpu_s"] for run in runs.values()]
    trained = sum(run["trained"] for run in runs.values())
    cpu = sum(runs_of(r).get("cpu_s", 0) for r in rows)
    if not runs:  # records without the per-run detail: notebook by notebook, shared runs twice
        per = [runs_of(r) for r in rows]
        costs = [p.get("run_cpu_s") for p in per]
        return {"trained": sum(p.get("trained", 0) for p in per),
                "cached": sum(p.get("cached", 0) for p in per), "cpu_s": cpu,
                "run_cpu_s": sum(costs) if costs and None not in costs else None}
    return {"trained": trained, "cached": len(runs) - trained, "cpu_s": cpu,
            "run_cpu_s": sum(costs) if all(c is not None for c in costs) else None}


def provenance(source_nb, executed_nb, *, parameters: dict, numeric: str, reference: str,
               headlines: list[dict], commit: str, dirty: bool | None, host: dict, duration_s,
               runs: dict) -> dict:
    """The provenance record of one executed notebook (see the module docstring). ``dirty``:
    whether the working tree differed from ``commit`` (outside ``reports/``)."""
    quoted = [{"name": h.get("name"), "published": h.get("published"),
               "replayed": h.get("replayed")} for h in headlines
              if h.get("published") is not None or h.get("replayed") is not None]
    return {"source_sha256": source_sha256(source_nb), "parameters": parameters,
            "numeric_sha256": numeric, "reference_sha256": reference, "references": quoted,
            "mnist_sha256": dict(MNIST_SHA256), "outputs_sha256": outputs_sha256(executed_nb),
            "commit": commit, "dirty": dirty, "machine": host, "duration_s": duration_s,
            "runs": runs}
