"""The project's own set-up files agree with each other."""
import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the dev extra installs tomli, the same parser
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_deps() -> set[str]:
    deps = set()
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"^  - ([A-Za-z0-9_.\-\[\]]+)", line)
        if in_deps and m:
            deps.add(_name(m.group(1)))
    return deps - {"python", "pip"}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = _pyproject()["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    conda = _environment_deps()
    assert runtime | dev == conda, (
        f"missing from environment.yml: {sorted((runtime | dev) - conda)}; "
        f"only in environment.yml: {sorted(conda - (runtime | dev))}")


def test_environment_yml_installs_the_package_itself():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- -e \.\s*$", text, re.M), "environment.yml must pip-install -e ."


def test_no_deep_learning_framework_in_dependencies():
    project = _pyproject()["project"]
    reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values()
                                            for r in extra]
    banned = {"torch", "jax", "jaxlib", "tensorflow", "autograd", "keras"}
    assert not banned & {_name(r) for r in reqs}


def test_nnlib_source_imports_no_deep_learning_framework():
    pattern = re.compile(r"^\s*(import|from)\s+(torch|jax|tensorflow|autograd|keras)\b", re.M)
    offenders = [p.name for p in (ROOT / "nnlib").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make report" in readme
    assert re.search(r"^make test\b", ci, re.M)


def test_console_script_version_and_help():
    out = subprocess.run([sys.executable, "-m", "nnlib", "--version"], capture_output=True,
                         text=True, check=True)
    import nnlib
    assert nnlib.__version__ in out.stdout
    out = subprocess.run([sys.executable, "-m", "nnlib", "--help"], capture_output=True,
                         text=True, check=True)
    assert "train" in out.stdout


def test_ci_makes_the_browser_tests_mandatory():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export NNLIB_REQUIRE_BROWSER=1$", ci, re.M)
    assert re.search(r"apt-get install -y -q chromium", ci)
    assert ci.index("export NNLIB_REQUIRE_BROWSER=1") < ci.index("make test 2>&1")
