"""Presentation: the lab report's numbers (``reference``), ours beside them (``compare``), figures
(``plots``), what notebooks call (``notebook``) and the HTML report (``build``, ``html``, ``env``).
Nothing here changes a result: editing it never retrains a cached run."""
from .build import build_report, list_notebooks
from .env import ReportError, kernel_check
from .notebook import HEADLINE_MIME, headline

__all__ = ["HEADLINE_MIME", "ReportError", "build_report", "headline", "kernel_check",
           "list_notebooks"]
