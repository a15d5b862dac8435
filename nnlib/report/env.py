"""The environment a report runs in: the Jupyter kernel it starts (must be this venv's Python),
the parameters a notebook declares, environment variables for the kernels, the git commit."""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

KERNEL_NAME = "python3"


class ReportError(RuntimeError):
    """The report cannot be built at all (bad environment, bad arguments)."""


def kernel_check(kernel_name: str = KERNEL_NAME) -> str:
    """Return the interpreter the ``kernel_name`` kernelspec starts; raise ReportError unless it
    is this environment's Python (else notebooks would import some other nnlib, or none)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    hint = (f"run `{sys.executable} -m ipykernel install --sys-prefix --name {kernel_name}` "
            "(`make report` does this)")
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise ReportError(f"no Jupyter kernel named {kernel_name!r}: {hint}") from None
    argv0 = spec.argv[0] if spec.argv else ""
    vi = sys.version_info
    # jupyter_client replaces a bare "python"/"python3"/"python3.X" by sys.executable
    if argv0 in ("python", f"python{vi[0]}", f"python{vi[0]}.{vi[1]}"):
        return sys.executable
    exe = argv0 if os.path.isabs(argv0) else (shutil.which(argv0) or argv0)
    exe_abs = Path(os.path.abspath(exe))  # not resolve(): a venv python is a symlink
    prefix = Path(os.path.abspath(sys.prefix))
    if exe_abs == Path(os.path.abspath(sys.executable)) or prefix in exe_abs.parents:
        return str(exe_abs)
    raise ReportError(f"the {kernel_name!r} kernel ({spec.resource_dir}) runs {argv0!r}, not this "
                      f"environment's Python {sys.executable}: {hint}")


@contextlib.contextmanager
def environment(values: dict):
    """Set environment variables (inherited by kernel subprocesses) for the duration."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def now() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


class ParameterError(ReportError):
    """A passed parameter that no selected notebook declares, or whose value does not fit a
    notebook's declaration (``nnlib report -p NAME VALUE`` exits with code 2)."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"parameter {name}: {reason}")
        self.name, self.reason = name, reason


def declared_parameters(path: Path) -> dict | None:
    """The notebook's ``parameters`` cell as papermill inspects it, ``{name: {"default": "[0, 1]",
    "inferred_type_name": "None", ...}}`` (defaults as source text), or None without a cell tagged
    ``parameters``."""
    import nbformat
    import papermill

    nb = nbformat.read(path, as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        return None
    try:
        return papermill.inspect_notebook(str(path))
    except ValueError:  # no kernelspec in the notebook metadata: tell papermill which one
        from papermill.inspection import _infer_parameters
        return {p.name: p._asdict()
                for p in _infer_parameters(nb, name=KERNEL_NAME, language="python")}


_NUMBERS = {"int", "float"}


def _type_problem(declared: dict, value) -> str | None:
    """Why ``value`` does not fit a declared parameter (its annotation, else the type of its
    literal default), or None. An int fits a float (``-p LR 1``), not the other way round."""
    import ast

    want = type(value).__name__

    def fits(have: str) -> bool:
        return have == want or (have == "float" and want == "int")

    annotated = str(declared.get("inferred_type_name") or "None")
    if annotated != "None" and not fits(annotated):
        return f"is annotated {annotated}, report passes {want}"
    try:
        default = ast.literal_eval(str(declared.get("default")))
    except (ValueError, SyntaxError):
        return None  # an expression: cannot tell its type statically
    if default is not None and not fits(type(default).__name__):
        return (f"defaults to {type(default).__name__} {default!r}, "
                f"report passes {want} {value!r}")
    return None


def check_parameters(path: Path, parameters: dict) -> str | None:
    """None if every parameter is declared in the notebook's ``parameters`` cell with a
    compatible type, else a one-line explanation."""
    declared = declared_parameters(path)
    if declared is None:
        return (f"{path.name} has no cell tagged 'parameters' (papermill needs one, declaring "
                f"{', '.join(parameters)})")
    for name, value in parameters.items():
        if name not in declared:
            return f"{path.name}: the 'parameters' cell does not declare {name}"
        problem = _type_problem(declared[name], value)
        if problem:
            return f"{path.name}: parameter {name} {problem}"
    return None


def notebook_parameters(paths, parameters: dict) -> dict:
    """``{path: the parameters its parameters cell declares}`` for each notebook in ``paths``: a
    notebook receives only the names it declares (a notebook without a parameters cell receives
    none). Raises ParameterError for a name that none of them declares (naming those they do),
    for a value whose type does not fit a declaration, and for QUICK (``quick=`` sets it)."""
    if "QUICK" in parameters:
        raise ParameterError("QUICK", "set it with quick=True (nnlib report --quick), which also "
                                      "picks the output folder")
    declared = {p: (declared_parameters(p) or {}) if parameters else {} for p in paths}
    for name, value in parameters.items():
        if not any(name in d for d in declared.values()):
            names = ", ".join(dict.fromkeys(n for d in declared.values() for n in d))
            raise ParameterError(name, "no selected notebook declares it; they declare "
                                       + (names or "no parameters"))
        for path, d in declared.items():
            problem = _type_problem(d[name], value) if name in d else None
            if problem:
                raise ParameterError(name, f"{path.name}: {problem}")
    return {p: {n: v for n, v in parameters.items() if n in d} for p, d in declared.items()}


@functools.lru_cache(maxsize=1)
def kernel_manager_class():
    """The kernel manager papermill starts kernels with: jupyter_client's, asking for CurveZMQ
    transport encryption where pyzmq has Curve and the kernelspec supports it (``"auto"``).

    ipykernel >= 7.3 otherwise warns on every start that the kernel talks over unencrypted TCP;
    older jupyter_client versions have no such setting and get their default manager.
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    if not zmq.has("curve") or "transport_encryption" not in AsyncKernelManager.class_traits():
        return AsyncKernelManager

    class EncryptedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport_encryption", "auto")
            super().__init__(**kwargs)

    return EncryptedKernelManager
