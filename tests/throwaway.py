"""A throwaway Python package written into a test's temporary folder (for the import-graph and
source-hash tests, which read packages with ast and never import them)."""
import textwrap
from pathlib import Path


def package(tmp_path: Path, modules: dict, name: str = "nnlib") -> Path:
    """``<tmp_path>/<name>/`` with an empty ``__init__.py`` and ``modules`` (``{"lab/x.py":
    source}``, dedented); returns the package folder."""
    pkg = tmp_path / name
    for rel, source in {"__init__.py": "", **modules}.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return pkg
