"""The two error shapes nnlib shares: a bad argument that names its field, and any error as one
line for a user (CLI messages, log lines, the report's index)."""
from __future__ import annotations


class FieldError(ValueError):
    """A bad value for a named field: ``"<field>: <value> <rule>"``.

    ``field`` may carry an index (``"kernels[1]"``); config validation re-anchors it at the key
    path the user wrote (``model.kernel_list[1]``), so the rule is stated once, where it is
    checked.
    """

    def __init__(self, field: str, value, rule: str):
        self.field, self.value, self.rule = field, value, rule
        text = repr(value)
        text = text if len(text) <= 80 else text[:77] + "..."  # a huge value: its start
        super().__init__(f"{field}: {text} {rule}")


def one_line(error, limit: int | None = 300) -> str:
    """An exception (or text) as one line: its message's lines joined, the exception's type
    when it has no message, cut to ``limit`` characters (None: no limit)."""
    if isinstance(error, BaseException):
        text = str(error).strip() or type(error).__name__
    else:
        text = str(error)
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if limit is not None and len(text) > limit:
        text = text[:limit - 3] + "..."
    return text
