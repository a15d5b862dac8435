"""What a reader sees of an executed notebook: its results, not its log.

:func:`prepare` turns an executed notebook into the one the HTML shows:

- standard-error text other than warnings - the library's log, which the report's kernels send
  there (``NNLIB_LOG=stderr``: MNIST loading, per-epoch lines, a grid's finished runs) - leaves the
  outputs; each cell's share becomes one collapsed "log" element, and the whole notebook's goes to
  its record (``executed/NN_name.log``); standard output is the notebook's own and stays;
- Python warnings and error text on standard error stay visible, styled as warnings;
- cells tagged ``remove-cell`` go (``remove-input`` / ``remove-output``: the renderer's
  ``TagRemovePreprocessor`` drops their code / outputs);
- the ``parameters`` and papermill's ``injected-parameters`` cells become one collapsed line,
  "Parameters: QUICK=False, SEEDS=[0, 1, 2]".

Tags ``hide-input`` (code behind its own toggle even when all code is shown), ``hide-output``
(output collapsed) and ``conclusion`` (collected into the document's "What we found") are left on
the cells for the page's CSS/JS and for :mod:`nnlib.report.document`.
"""
from __future__ import annotations

import copy
import html
import json
import re

from .notebook import CAPTION_CLASS, HEADLINE_MIME
from .parameters import parameter_values, parameters_summary

#: A Python warning as ``warnings`` prints it ("path:line: SomethingWarning: message"), or a
#: record of the library's log above INFO ("nnlib: warning: message": ``nnlib.logs``).
WARNING_LINE = re.compile(r"^\S.*:\d+: \w*(Warning|Error)\b|^\w*(Warning|Error): |^Traceback |"
                          r"^nnlib: (warning|error|critical): ")
LOG_CLASS, WARNING_CLASS, PARAMS_CLASS = "nnlib-log", "nnlib-warning", "nnlib-params"
#: Tag of the cell :func:`prepare` makes of the parameters cells (rendered without input).
PARAMS_TAG = "nnlib-parameters"


def _tags(cell) -> set:
    return set(cell.get("metadata", {}).get("tags", []))


def split_stderr(text: str) -> tuple[str, str]:
    """``(log, warnings)`` of a standard-error text: warning lines and the indented lines that
    follow them (the source line ``warnings`` shows) are warnings, everything else is log."""
    log, warn, in_warning = [], [], False
    for line in text.splitlines(keepends=True):
        if WARNING_LINE.match(line):
            in_warning = True
        elif not line.startswith((" ", "\t")):
            in_warning = False
        (warn if in_warning else log).append(line)
    return "".join(log), "".join(warn)


def _html_output(markup: str, plain: str) -> dict:
    import nbformat
    return nbformat.v4.new_output("display_data", data={"text/html": markup, "text/plain": plain})


def log_element(text: str) -> str:
    n = text.count("\n") + (not text.endswith("\n"))
    return (f'<details class="{LOG_CLASS}"><summary>log ({n} line{"s" if n != 1 else ""})'
            f"</summary><pre>{html.escape(text)}</pre></details>")


def warning_element(text: str) -> str:
    return f'<div class="{WARNING_CLASS}"><pre>{html.escape(text.rstrip())}</pre></div>'


def _clean_outputs(cell) -> str:
    """Move the cell's log text out of its outputs (in place); return that log text."""
    outputs, log = [], []
    for out in cell.get("outputs", []):
        if out.get("output_type") != "stream" or out.get("name") != "stderr":
            outputs.append(out)
            continue
        text_log, text_keep = split_stderr(out.get("text", ""))
        log.append(text_log)
        outputs += [_html_output(warning_element(text_keep), text_keep)] if text_keep else []
    text = "".join(log)
    if text.strip():
        outputs.append(_html_output(log_element(text), ""))
    cell["outputs"] = outputs
    return text


def _describe_images(cell) -> None:
    """Give each figure its caption (the caption output that follows it) as alt text."""
    pending = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if "image/png" in data:
            pending.append(out)
        elif CAPTION_CLASS in str(data.get("text/html", "")) and pending:
            for image in pending:
                image.setdefault("metadata", {})["nnlib_alt"] = str(data.get("text/plain", ""))
            pending = []


def _parameters_cell(nb, cells, passed):
    """One code cell without input whose output is the collapsed parameters line."""
    import nbformat
    # the notebook's own defaults; the summary line shows the values it ran with
    code = "\n\n".join(c.source for c in cells
                        if "injected-parameters" not in c.get("metadata", {}).get("tags", []))
    summary = html.escape(parameters_summary(parameter_values(nb, passed)))
    markup = (f'<details class="{PARAMS_CLASS}"><summary>Parameters: <code>{summary}</code>'
              f"</summary><pre>{html.escape(code)}</pre>"
              f"<p>(the notebook's defaults; the report passed {html.escape(repr(passed or {}))})"
              "</p></details>")
    cell = nbformat.v4.new_code_cell("", metadata={"tags": [PARAMS_TAG]})
    # derived, not random: the same notebook renders to the same page (ids stay unique across
    # the notebooks of report.html, as the cells' own are)
    cell["id"] = f"{cells[0].get('id', 'cell')}-parameters"
    cell.outputs = [_html_output(markup, f"Parameters: {summary}")]
    return cell


def prepare(nb, parameters: dict | None = None):
    """``(notebook to render, log text)`` for an executed notebook (a copy; see the module
    docstring). ``parameters``: the values passed to it (shown in the parameters line)."""
    nb = copy.deepcopy(nb)
    params = [c for c in nb.cells if _tags(c) & {"parameters", "injected-parameters"}]
    cells, logs = [], []
    for i, cell in enumerate(nb.cells):
        tags = _tags(cell)
        if cell.cell_type == "code":
            text = _clean_outputs(cell)
            _describe_images(cell)
            if text.strip():
                logs.append(f"--- cell {i} ---\n{text}" + ("" if text.endswith("\n") else "\n"))
        if "remove-cell" in tags or any(cell is p for p in params[1:]):
            continue
        if params and cell is params[0]:
            cells.append(_parameters_cell(nb, params, parameters))
            continue
        cells.append(cell)
    nb.cells = cells
    return nb, "".join(logs)


def headline_rows(nb) -> list[dict]:
    """The headline rows an executed notebook published (``notebook.headline``), in order."""
    rows = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            if HEADLINE_MIME in data:
                value = data[HEADLINE_MIME]
                if isinstance(value, str):
                    value = json.loads(value)
                rows += value if isinstance(value, list) else [value]
    return rows
