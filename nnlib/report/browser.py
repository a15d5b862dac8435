"""A locally installed Chromium/Chrome: found, never downloaded. ``nnlib report --pdf`` prints
report.html with it; the browser tests drive it through playwright."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..io import atomic_path
from .env import ReportError

#: Executable names tried in order (Debian's package is ``chromium``).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
#: Environment variable naming the browser executable explicitly.
CHROMIUM_ENV = "NNLIB_CHROMIUM"
INSTALL_HINT = "install one: `apt-get install chromium` on Debian/Ubuntu (or set NNLIB_CHROMIUM)"


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable (``$NNLIB_CHROMIUM`` first), or None."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        path = shutil.which(explicit) or explicit
        return path if Path(path).is_file() and os.access(path, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """:func:`find_chromium`, or ReportError (one line: what to install)."""
    exe = find_chromium()
    if exe is None:
        raise ReportError(f"--pdf needs Chromium or Chrome and none was found: {INSTALL_HINT}")
    return exe


def print_to_pdf(html_path, pdf_path, timeout: float = 180) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (its print-media CSS applies);
    written to a temporary name and renamed. Raises ReportError (one line) without a browser or
    when printing fails."""
    exe = require_chromium()
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path)
    if not html_path.is_file():
        raise ReportError(f"{html_path} does not exist: build the report first")
    with atomic_path(pdf_path, suffix=".pdf") as tmp:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
               f"--print-to-pdf={tmp}", html_path.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(f"{exe} did not print {html_path.name} within {timeout:.0f} s") \
                from None
        if proc.returncode != 0 or not Path(tmp).is_file() or Path(tmp).stat().st_size == 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ReportError(f"{exe} could not print {html_path.name} to PDF "
                              f"(exit {proc.returncode}): {last}")
    return pdf_path
