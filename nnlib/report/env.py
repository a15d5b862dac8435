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


def check_parameters(path: Path, parameters: dict) -> str | None:
    """None if every parameter is declared in the notebook's ``parameters`` cell with a
    compatible type, else a one-line explanation."""
    import ast

    import nbformat
    import papermill

    nb = nbformat.read(path, as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        return (f"{path.name} has no cell tagged 'parameters' (papermill needs one, declaring "
                f"{', '.join(parameters)})")
    try:
        declared = papermill.inspect_notebook(str(path))
    except ValueError:  # no kernelspec in the notebook metadata: tell papermill which one
        from papermill.inspection import _infer_parameters
        declared = {p.name: p._asdict()
                    for p in _infer_parameters(nb, name=KERNEL_NAME, language="python")}
    for name, value in parameters.items():
        if name not in declared:
            return f"{path.name}: the 'parameters' cell does not declare {name}"
        want = type(value).__name__
        annotated = str(declared[name].get("inferred_type_name") or "None")
        if annotated not in ("None", want):
            return f"{path.name}: parameter {name} is annotated {annotated}, report passes {want}"
        try:
            default = ast.literal_eval(str(declared[name].get("default")))
        except (ValueError, SyntaxError):
            continue  # an expression: cannot tell its type statically
        if default is not None and type(default) is not type(value) and not (
                isinstance(value, float) and type(default) is int):
            return (f"{path.name}: parameter {name} defaults to {type(default).__name__} "
                    f"{default!r}, report passes {want} {value!r}")
    return None


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
