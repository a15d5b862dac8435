"""`make lab` in a real browser: JupyterLab started the way the Makefile starts it, driven in
Chromium through its menus like a user would.

The browser test copies ``00_overview.ipynb`` with ``QUICK = True`` into a temporary folder, serves
it with the environment's ``jupyter lab`` (free port, no token, run cache in a temporary folder,
fresh JupyterLab user settings and workspace so a developer's own choices cannot hide a problem),
clicks Run → Run All Cells and checks what a user would see: the project's kernel, every cell run,
no traceback, and no "Jupyter news" question (the settings override ``make`` installs, checked
without a browser by the first test).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "00_overview.ipynb"
KERNEL_DISPLAY_NAME = "Python 3 (nnlib)"  # the Makefile's `ipykernel install --display-name`
OVERRIDES = ROOT / "jupyter" / "overrides.json"
NEWS_PLUGIN, NEWS_KEY = "@jupyterlab/apputils-extension:notification", "fetchNews"
NEWS_QUESTION = "official Jupyter news"  # in "Would you like to get notified about official ..."
STARTUP_TIMEOUT = 60  # s until the server answers / the notebook's kernel is idle
RUN_TIMEOUT = 90  # s for Run All (QUICK: a few seconds unloaded; the machine may be busy)


def test_news_override_is_installed_in_this_environment():
    """The settings override in the repo is what this environment's JupyterLab reads, and it still
    names a setting the installed JupyterLab has (a renamed plugin or key would silently do
    nothing)."""
    ours = json.loads(OVERRIDES.read_text())
    assert ours[NEWS_PLUGIN][NEWS_KEY] == "false", f"{OVERRIDES} must set {NEWS_KEY} to 'false'"
    lab = Path(sys.prefix, "share", "jupyter", "lab")
    schema = lab / "schemas" / Path(*NEWS_PLUGIN.replace(":", "/").split("/")).with_suffix(".json")
    assert schema.is_file(), f"the installed JupyterLab has no plugin {NEWS_PLUGIN} ({schema})"
    properties = json.loads(schema.read_text())["properties"]
    for key, value in ours[NEWS_PLUGIN].items():
        assert key in properties, f"{NEWS_PLUGIN} has no setting {key!r} (installed: {schema})"
        allowed = [c["const"] for c in properties[key].get("oneOf", [])]
        assert not allowed or value in allowed, f"{NEWS_PLUGIN}.{key}: {value!r} not in {allowed}"
    installed = lab / "settings" / "overrides.json"
    hint = (f"run `make` (it copies {OVERRIDES.relative_to(ROOT)} there), or with conda: "
            f"cp jupyter/overrides.json \"$CONDA_PREFIX/share/jupyter/lab/settings/\"")
    assert installed.is_file(), f"{installed} is missing: {hint}"
    assert json.loads(installed.read_text()) == ours, f"{installed} is out of date: {hint}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, method: str = "GET", timeout: float = 5):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body else None


def _tail(path: Path, n: int = 30) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(lines[-n:])


@pytest.fixture
def lab_server(tmp_path, mnist_cache, request):
    """JupyterLab as `make lab` starts it, on a folder holding a QUICK copy of 00_overview:
    ``(base url, notebook name, number of code cells, server log)``; stopped (kernels first)
    afterwards."""
    nb = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "QUICK = False" in params[0].source
    params[0].source = params[0].source.replace("QUICK = False", "QUICK = True")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nb, folder / NOTEBOOK)
    n_code = sum(c.cell_type == "code" for c in nb.cells)

    # NNLIB_DATA: the project's data/ (what the notebook uses by default), which mnist_cache filled
    env = dict(os.environ, NNLIB_RUNS=str(tmp_path / "runs"), NNLIB_DATA=str(mnist_cache.parent),
               # a fresh user-settings folder and workspace: a developer who once answered the
               # news question, or left other tabs open, must not change what the test sees
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"))
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as in an interactive session
    port = _free_port()
    # `make lab` is `$(BIN)/jupyter lab --notebook-dir=notebooks`; jupyter_server 2 spells "no
    # token / no password" IdentityProvider.token and PasswordIdentityProvider.hashed_password
    # (ServerApp.token/password are deprecated aliases). port_retries=0: never a different port.
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", f"--notebook-dir={folder}",
           "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           "--IdentityProvider.token=", "--PasswordIdentityProvider.hashed_password="]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers/CI run as root; jupyter refuses it otherwise
    log = tmp_path / "jupyter-lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def stop():
        # kernels run in sessions of their own: shut them down through the server first
        try:
            for k in _get_json(f"{base}/api/kernels"):
                _get_json(f"{base}/api/kernels/{k['id']}", method="DELETE", timeout=15)
        except (OSError, ValueError):
            pass
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    request.addfinalizer(stop)

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{_tail(log)}")
        try:
            _get_json(f"{base}/api/status", timeout=2)
            break
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer on {base} in {STARTUP_TIMEOUT} s:\n"
                            f"{_tail(log)}")
            time.sleep(0.5)
    return base, NOTEBOOK, n_code, log


# What the notebook panel shows: the kernel indicator's status, the kernel name in the toolbar and
# the status bar, and the code cells' prompts: "[3]:", "[*]:" (running or queued), "[ ]:" (not run -
# Run All stops at the first error).
STATE_JS = """() => {
    const panel = document.querySelector('.jp-NotebookPanel');
    const text = sel => (document.querySelector(sel) || {innerText: ''}).innerText.trim();
    return {panels: document.querySelectorAll('.jp-NotebookPanel').length,
            status: panel?.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status,
            kernel: text('.jp-NotebookPanel .jp-KernelName'),
            statusbar: text('#jp-main-statusbar [title^="Change kernel"]'),
            prompts: Array.from(panel ? panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')
                                      : [], e => e.textContent.trim())};
}"""


def _wait_for(page, condition_js: str, timeout: float, what: str) -> dict:
    """Wait until ``condition_js`` (a JS expression over ``s``, the panel's state) holds; fail
    naming ``what`` and the state shown at the time otherwise."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_function(f"() => {{ const s = ({STATE_JS})(); return {condition_js}; }}",
                               timeout=timeout * 1000, polling=250)
    except PlaywrightTimeout:
        pytest.fail(f"{what} within {timeout} s; JupyterLab shows {page.evaluate(STATE_JS)}")
    return page.evaluate(STATE_JS)


@pytest.mark.slow
def test_run_all_in_jupyterlab(chromium, lab_server):
    from playwright.sync_api import sync_playwright

    base, name, n_code, log = lab_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.set_default_timeout(STARTUP_TIMEOUT * 1000)
            page.goto(f"{base}/lab/tree/{name}")
            # the kernel is up once the panel names one (not "No Kernel") and reports it idle
            state = _wait_for(page, f"s.prompts.length === {n_code} && s.kernel !== '' && "
                                    "s.kernel !== 'No Kernel' && s.status === 'idle' && "
                                    "s.statusbar.endsWith('| Idle')",
                              STARTUP_TIMEOUT, "the notebook's kernel did not start")
            assert state["panels"] == 1, "more than the one notebook open"
            assert state["kernel"] == KERNEL_DISPLAY_NAME, \
                f"the notebook shows kernel {state['kernel']!r}, not {KERNEL_DISPLAY_NAME!r}"
            assert state["statusbar"].startswith(f"{KERNEL_DISPLAY_NAME} |"), state["statusbar"]
            # ... and that name belongs to this environment's Python (not a stale kernelspec)
            sessions = _get_json(f"{base}/api/sessions")
            assert len(sessions) == 1, f"expected the notebook's session only: {sessions}"
            spec = _get_json(f"{base}/api/kernelspecs")["kernelspecs"][
                sessions[0]["kernel"]["name"]]["spec"]
            assert spec["display_name"] == KERNEL_DISPLAY_NAME
            assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve(), \
                f"kernel {KERNEL_DISPLAY_NAME!r} runs {spec['argv'][0]}, not {sys.executable}"

            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            started = time.monotonic()
            # done = no cell queued or running, some run (after an error the rest go back to
            # "[ ]"), the kernel idle again
            state = _wait_for(page, "!s.prompts.some(t => t.includes('*')) && "
                                    "s.prompts.some(t => /\\d/.test(t)) && s.status === 'idle'",
                              RUN_TIMEOUT, "Run All did not finish")
            run_time = time.monotonic() - started

            prompts = state["prompts"]
            tracebacks = page.locator(
                ".jp-NotebookPanel .jp-OutputArea-output"
                "[data-mime-type='application/vnd.jupyter.stderr']").filter(has_text="Traceback")
            errors = [(tracebacks.nth(i).text_content() or "")[-800:]  # textContent: also
                      for i in range(tracebacks.count())]  # off-screen (content-visibility)
            assert not errors, f"{len(errors)} cell(s) failed; the first:\n{errors[0]}"
            executed = [t for t in prompts if t.strip("[]: ").isdigit()]
            assert len(executed) == len(prompts) == n_code, \
                f"{len(executed)} of {n_code} code cells ran: {prompts}"

            # the news question is asked (after the page is restored, long before Run All is
            # done) exactly when the composite fetchNews setting the page loads is "none"
            # (the server applies overrides to the schema's defaults; user settings come on top)
            served = _get_json(f"{base}/lab/api/settings/{NEWS_PLUGIN}")
            fetch_news = served["settings"].get(
                NEWS_KEY, served["schema"]["properties"][NEWS_KEY]["default"])
            assert fetch_news == "false", f"JupyterLab's {NEWS_PLUGIN}.{NEWS_KEY} is " \
                                          f"{fetch_news!r}: the override is not applied"
            messages = page.locator(".jp-toast-message").all_inner_texts()
            news = [m for m in messages if NEWS_QUESTION in m]
            assert not news, f"JupyterLab asked about the news: {news} (is {OVERRIDES.name} " \
                             f"installed? see test_news_override_is_installed_in_this_environment)"
            print(f"Run All: {n_code} code cells in {run_time:.1f} s")
        except (Exception, pytest.fail.Exception):
            shot = log.with_name("jupyterlab.png")
            page.screenshot(path=str(shot))
            print(f"screenshot: {shot}\njupyter lab log:\n{_tail(log)}")
            raise
        finally:
            browser.close()
