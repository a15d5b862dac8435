"""The environment a report runs in: the Jupyter kernel it starts (must be this venv's Python),
environment variables for the kernels, the git commit."""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: The project's kernel: every notebook names it, ``make`` installs it into the venv
#: (``ipykernel install --sys-prefix``), so papermill and JupyterLab start this venv's Python.
KERNEL_NAME = "nnlib"


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


def git_dirty(root: Path, ignore: str = "reports") -> bool | None:
    """Whether tracked files outside ``ignore/`` differ from the commit (the report being rebuilt
    is not a change to what it was built from); None where git cannot tell."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                              f":(exclude){ignore}"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def now() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


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


def kernel_manager_with_env(extra: dict):
    """``kernel_manager_class()`` whose kernels also get the variables ``extra`` in their
    environment (and so every process they start: the grid's workers). Per notebook: several
    notebooks run side by side in one process, so ``os.environ`` cannot say which is which."""
    base = kernel_manager_class()

    class KernelManagerWithEnv(base):
        async def start_kernel(self, **kwargs):
            env = dict(kwargs.pop("env", None) or os.environ)
            env.update(extra)
            return await super().start_kernel(env=env, **kwargs)

    return KernelManagerWithEnv
