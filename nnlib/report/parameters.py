"""A report's parameters, papermill's way: values read from ``-p NAME VALUE`` text, what each
notebook's ``parameters`` cell declares, and which notebook receives which value."""
from __future__ import annotations

import ast
import json
from pathlib import Path

from .env import KERNEL_NAME, ReportError

__all__ = ["ParameterError", "check_parameters", "declared_parameters", "notebook_parameters",
           "parameter_values", "parameters_summary", "parse_pairs", "parse_value",
           "quick_seeds"]


class ParameterError(ReportError):
    """A passed parameter that no selected notebook declares, or whose value does not fit a
    notebook's declaration (``nnlib report -p NAME VALUE`` exits with code 2)."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"parameter {name}: {reason}")
        self.name, self.reason = name, reason


def declared_parameters(path: Path) -> dict | None:
    """The notebook's ``parameters`` cell as papermill inspects it, ``{name: {"default": "[0, 1]",
    "inferred_type_name": "None", ...}}`` (defaults as source text), or None without a cell tagged
    ``parameters``."""
    import nbformat
    import papermill

    nb = nbformat.read(path, as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        return None
    try:
        return papermill.inspect_notebook(str(path))
    except ValueError:  # no kernelspec in the notebook metadata: tell papermill which one
        from papermill.inspection import _infer_parameters
        return {p.name: p._asdict()
                for p in _infer_parameters(nb, name=KERNEL_NAME, language="python")}


_NUMBERS = {"int", "float"}


def _type_problem(declared: dict, value) -> str | None:
    """Why ``value`` does not fit a declared parameter (its annotation, else the type of its
    literal default), or None. An int fits a float (``-p LR 1``), not the other way round."""
    import ast

    want = type(value).__name__

    def fits(have: str) -> bool:
        return have == want or (have == "float" and want == "int")

    annotated = str(declared.get("inferred_type_name") or "None")
    if annotated != "None" and not fits(annotated):
        return f"is annotated {annotated}, report passes {want}"
    try:
        default = ast.literal_eval(str(declared.get("default")))
    except (ValueError, SyntaxError):
        return None  # an expression: cannot tell its type statically
    if default is not None and not fits(type(default).__name__):
        return (f"defaults to {type(default).__name__} {default!r}, "
                f"report passes {want} {value!r}")
    return None


def check_parameters(path: Path, parameters: dict) -> str | None:
    """None if every parameter is declared in the notebook's ``parameters`` cell with a
    compatible type, else a one-line explanation."""
    declared = declared_parameters(path)
    if declared is None:
        return (f"{path.name} has no cell tagged 'parameters' (papermill needs one, declaring "
                f"{', '.join(parameters)})")
    for name, value in parameters.items():
        if name not in declared:
            return f"{path.name}: the 'parameters' cell does not declare {name}"
        problem = _type_problem(declared[name], value)
        if problem:
            return f"{path.name}: parameter {name} {problem}"
    return None


def notebook_parameters(paths, parameters: dict) -> dict:
    """``{path: the parameters its parameters cell declares}`` for each notebook in ``paths``: a
    notebook receives only the names it declares (a notebook without a parameters cell receives
    none). Raises ParameterError for a name that none of them declares (naming those they do),
    for a value whose type does not fit a declaration, and for QUICK (``quick=`` sets it)."""
    if "QUICK" in parameters:
        raise ParameterError("QUICK", "set it with quick=True (nnlib report --quick), which also "
                                      "picks the output folder")
    declared = {p: (declared_parameters(p) or {}) if parameters else {} for p in paths}
    for name, value in parameters.items():
        if not any(name in d for d in declared.values()):
            names = ", ".join(dict.fromkeys(n for d in declared.values() for n in d))
            raise ParameterError(name, "no selected notebook declares it; they declare "
                                       + (names or "no parameters"))
        for path, d in declared.items():
            problem = _type_problem(d[name], value) if name in d else None
            if problem:
                raise ParameterError(name, f"{path.name}: {problem}")
    return {p: {n: v for n, v in parameters.items() if n in d} for p, d in declared.items()}


# --- the values a notebook ran with -----------------------------------------------------------

def parameter_values(nb, passed: dict | None = None) -> dict:
    """The parameters a notebook ran with: its ``parameters`` cell's literal assignments,
    overridden by ``passed`` (papermill's injected values)."""
    values = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                        and isinstance(node.targets[0], ast.Name):
                    try:
                        values[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        values[node.targets[0].id] = ast.unparse(node.value)
    return {**values, **(passed or {})}


def quick_seeds(path: Path, given: dict | None = None) -> dict:
    """The seed lists a quick build passes a notebook besides ``QUICK``: every list parameter
    whose name ends in ``SEEDS`` (its default, or the value ``given``) cut to its first seed — what
    the notebooks' quick mode runs — so that the parameters a quick report shows are the ones
    that ran."""
    import nbformat

    values = parameter_values(nbformat.read(path, as_version=4), given)
    return {name: value[:1] for name, value in values.items()
            if name.endswith("SEEDS") and isinstance(value, list) and len(value) > 1}


def parameters_summary(values: dict) -> str:
    """``QUICK=False, SEEDS=[0, 1, 2]`` (``none`` for no parameters)."""
    return ", ".join(f"{k}={v!r}" for k, v in values.items()) or "none"


# --- values from the command line --------------------------------------------------------------

def parse_value(name: str, text: str):
    """A ``-p NAME VALUE`` value read the way papermill's ``-p`` reads it (True/False/None, an
    int, a float, else the string), and also as JSON or a Python literal, so lists, dicts, quoted
    strings and true/false/null work too: ``[0]``, ``{"a": 1}``, ``"x"``, ``true``."""
    import ast

    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text  # not a literal: the string itself, as papermill passes it
    try:
        if json.loads(json.dumps(value)) == value:
            return value
    except (TypeError, ValueError):
        pass
    raise ParameterError(name, f"{text} is a Python {type(value).__name__}; the report passes "
                               "JSON values (lists, not tuples or sets: [0, 1])")


def parse_pairs(pairs) -> dict:
    """``{NAME: value}`` from repeated ``-p NAME VALUE`` (the last one of a name wins)."""
    params = {}
    for name, text in pairs or []:
        if not name.isidentifier():
            raise ParameterError(name, "not a Python name (like SEEDS)")
        params[name] = parse_value(name, text)
    return params
