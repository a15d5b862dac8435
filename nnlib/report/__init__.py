"""Presentation: the lab report's numbers (``reference``), ours beside them (``compare``), figures
(``plots``) and the HTML report (``build``). Nothing here changes a result: editing it never
retrains a cached run."""
from .build import HEADLINE_MIME, ReportError, build_report, headline, kernel_check, list_notebooks

__all__ = ["HEADLINE_MIME", "ReportError", "build_report", "headline", "kernel_check",
           "list_notebooks"]
