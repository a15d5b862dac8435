"""``ruff check`` on the package, the tests, the benchmarks and the notebooks (the rules are
listed in pyproject.toml, so a newer ruff cannot change what passes)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "nnlib", "tests",
                           "benchmarks", "notebooks"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
