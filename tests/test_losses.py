"""nnlib.nn.losses: softmax and CrossEntropyLoss share one computation, and it gives the very
numbers the two separate copies gave (bit for bit: published results are reproduced exactly).
Gradient checks of the loss are in test_layers_grad.py."""
import numpy as np
import pytest

from nnlib.nn import ensemble, losses
from nnlib.nn.losses import PROB_FLOOR, CrossEntropyLoss, softmax


def _previous_loss(logits, labels):
    """CrossEntropyLoss.forward/backward as written before softmax moved here: (loss, dlogits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = np.mean(np.log(sums[:, 0]) - shifted[rows, labels])
    exp /= sums
    np.maximum(exp, exp.dtype.type(PROB_FLOOR), out=exp)
    d = exp.copy()
    d[rows, labels] -= 1
    d /= len(labels)
    return float(loss), d


def _previous_softmax(logits):
    """nnlib.nn.ensemble.softmax as written before (exp in place)."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _logits(seed, dtype, scale):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 300)), int(rng.integers(2, 40))
    return (scale * rng.standard_normal((n, c))).astype(dtype), rng.integers(0, c, n)


CASES = [(seed, dtype, scale) for seed in range(3) for dtype in (np.float32, np.float64)
         for scale in (1.0, 30.0, 1e4, 1e30)]


@pytest.mark.parametrize("seed, dtype, scale", CASES)
def test_loss_is_bit_identical_to_the_previous_formula(seed, dtype, scale):
    logits, labels = _logits(seed, dtype, scale)
    want_loss, want_d = _previous_loss(logits, labels)
    loss = CrossEntropyLoss()
    got = loss(logits, labels)
    d = loss.backward()
    assert got == want_loss or (np.isnan(got) and np.isnan(want_loss)), \
        f"CrossEntropyLoss {np.dtype(dtype)} x{scale}: {got!r} vs previous {want_loss!r}"
    assert d.dtype == dtype, f"CrossEntropyLoss: dlogits {d.dtype}, logits {np.dtype(dtype)}"
    assert np.array_equal(d, want_d), \
        f"CrossEntropyLoss {np.dtype(dtype)} x{scale}: dlogits differ from the previous formula"


@pytest.mark.parametrize("seed, dtype, scale", CASES)
def test_softmax_is_bit_identical_to_the_previous_ensemble_softmax(seed, dtype, scale):
    logits, _ = _logits(seed, dtype, scale)
    before = logits.copy()
    p = softmax(logits)
    assert p.dtype == dtype, f"softmax: {p.dtype} from {np.dtype(dtype)} logits"
    assert np.array_equal(p, _previous_softmax(logits)), \
        f"softmax {np.dtype(dtype)} x{scale}: differs from the previous ensemble softmax"
    assert np.array_equal(logits, before), "softmax changed its input"


def test_ensemble_uses_the_one_softmax():
    assert ensemble.softmax is losses.softmax
