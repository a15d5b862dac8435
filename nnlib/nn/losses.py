"""Softmax cross-entropy, fused and numerically stable; and the softmax itself."""
from __future__ import annotations

import numpy as np

#: Smallest softmax probability used in the gradient (its effect, <= 1e-30 per logit, is far below
#: float32 resolution; see ``CrossEntropyLoss.forward``).
PROB_FLOOR = 1e-30


def _shifted_exp(logits: np.ndarray):
    """logits (N, C) → ``(shifted, exp, sums)``: ``shifted`` = logits − row max (N, C),
    ``exp`` = e**shifted (N, C), ``sums`` (N, 1) its row sums; all in the logits' dtype.

    The one place softmax is computed (``softmax``, ``CrossEntropyLoss``): subtracting the row max
    keeps exp from overflowing for logits of any magnitude. ``exp`` is a new array the caller may
    overwrite (both divide it by ``sums`` in place)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return shifted, exp, exp.sum(axis=1, keepdims=True)


def softmax(logits: np.ndarray) -> np.ndarray:
    """logits (N, C) → probabilities (N, C) in the logits' dtype, rows summing to 1 (stable for
    large logits: the row max is subtracted first)."""
    _, exp, sums = _shifted_exp(logits)
    exp /= sums
    return exp


class CrossEntropyLoss:
    """Mean softmax cross-entropy over the batch.

    ``loss(logits, labels)``: logits (N, C) float, labels (N,) integer class indices in [0, C)
    → float (the mean over N). ``backward()`` → dlogits (N, C) = (softmax − onehot) / N.
    Stable for logits of any magnitude (the row max is subtracted before exponentiating).
    """

    def __init__(self):
        self._probs = None
        self._labels = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        logits = np.asarray(logits)
        labels = np.asarray(labels)
        if logits.ndim != 2:
            raise ValueError(f"logits must have shape (N, C), got {logits.shape}")
        n, c = logits.shape
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},) to match logits {logits.shape}, "
                             f"got {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
        if n and (labels.min() < 0 or labels.max() >= c):
            bad = labels[(labels < 0) | (labels >= c)]
            raise ValueError(f"labels must be in [0, {c}), got {bad[:5].tolist()}")
        shifted, exp, sums = _shifted_exp(logits)
        rows = np.arange(n)
        loss = np.mean(np.log(sums[:, 0]) - shifted[rows, labels])
        exp /= sums
        # Floor the probabilities far below float32 resolution: confident predictions would
        # otherwise feed denormal numbers (~100x slower on x86) into every backward matmul.
        np.maximum(exp, exp.dtype.type(PROB_FLOOR), out=exp)
        self._probs, self._labels = exp, labels
        return float(loss)

    __call__ = forward
    loss = forward

    def backward(self) -> np.ndarray:
        """Gradient of the mean loss w.r.t. the logits of the last call: (N, C)."""
        if self._probs is None:
            raise RuntimeError("CrossEntropyLoss.backward() called before forward()")
        d = self._probs.copy()
        n = d.shape[0]
        d[np.arange(n), self._labels] -= 1
        d /= n
        return d

    def __repr__(self):
        return "CrossEntropyLoss(reduction='mean')"
