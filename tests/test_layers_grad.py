"""Gradient checks (float64 central differences) and forward references for nnlib's layers,
the fused loss and whole small models.

Objective for a single layer: f = sum(layer(x) * R) with a fixed random R, so df/dout = R and
``backward(R)`` must return df/dx and fill df/dparam. Failure messages name layer and tensor.
"""
import warnings
import zlib

import numpy as np
import pytest
from gradcheck import assert_close_grad, numerical_grad, rel_error

import nnlib
from nnlib.nn.layers import (
    Conv2D,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from nnlib.nn.losses import CrossEntropyLoss

TOL = 1e-6
TOL_KINK = 1e-5  # ReLU / LeakyReLU / max pooling are not differentiable everywhere


def _rng(seed):
    return np.random.default_rng(seed)


def _randomize_params(layer, rng):
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)


def check_layer(layer, x, rng, tol=TOL, name=None, before_forward=None):
    """Compare backward's dx and every params[k] gradient with central differences of
    f = sum(layer.forward(x) * R)."""
    name = name or repr(layer)
    before = before_forward or (lambda: None)
    before()
    out = layer.forward(x)
    R = rng.standard_normal(out.shape)
    grad_arrays = dict(layer.grads)
    dx = layer.backward(R)
    for k, g in layer.grads.items():
        assert g is grad_arrays[k], f"{name}: backward replaced grads[{k!r}] instead of filling it"
    analytic = {k: g.copy() for k, g in layer.grads.items()}

    def f():
        before()
        return np.sum(layer.forward(x) * R)

    assert_close_grad(dx, numerical_grad(f, x), f"{name}: dx", tol)
    assert set(analytic) == set(layer.params), f"{name}: grads keys differ from params keys"
    for k, p in layer.params.items():
        assert_close_grad(analytic[k], numerical_grad(f, p), f"{name}: d{k}", tol)


# ------------------------------------------------------------------------- the checker itself
def test_numerical_grad_matches_a_known_derivative():
    x = _rng(0).standard_normal((3, 4))
    num = numerical_grad(lambda: np.sum(x ** 3 + np.sin(x)), x)
    exact = 3 * x ** 2 + np.cos(x)
    assert rel_error(num, exact) < 1e-9


def test_checker_rejects_a_wrong_gradient():
    layer = Linear(4, 3, dtype=np.float64)
    rng = _rng(1)
    _randomize_params(layer, rng)
    x = rng.standard_normal((2, 4))

    class Broken(Linear):
        def backward(self, dout):
            dx = super().backward(dout)
            self.grads["b"] *= 1.001  # a 0.1 % mistake must be caught
            return dx

    broken = Broken(4, 3, dtype=np.float64)
    broken.params = layer.params
    with pytest.raises(AssertionError, match=r"Broken.*db"):
        check_layer(broken, x, _rng(2), name="Broken")


# ------------------------------------------------------------------------------------ Linear
@pytest.mark.parametrize("seed", range(4))
def test_linear_gradients(seed):
    rng = _rng(seed)
    n, fin, fout = rng.integers(1, 6), rng.integers(1, 8), rng.integers(1, 8)
    layer = Linear(int(fin), int(fout), dtype=np.float64)
    _randomize_params(layer, rng)
    check_layer(layer, rng.standard_normal((n, fin)), rng, name=f"Linear({fin}, {fout})")


def test_linear_forward_is_affine():
    layer = Linear(3, 2, dtype=np.float64)
    layer.params["W"][...] = [[1, 2], [3, 4], [5, 6]]
    layer.params["b"][...] = [0.5, -1]
    out = layer.forward(np.array([[1.0, 0, -1], [2, 1, 0]]))
    # row 0: [1-5, 2-6] + b; row 1: [2+3, 4+4] + b
    np.testing.assert_array_equal(out, [[-3.5, -5], [5.5, 7]])


def test_needs_input_grad_false_returns_none_but_fills_grads():
    rng = _rng(3)
    for layer, x in ((Linear(3, 2, dtype=np.float64), rng.standard_normal((4, 3))),
                     (Conv2D(2, 1, 2, dtype=np.float64), rng.standard_normal((2, 2, 4, 3)))):
        _randomize_params(layer, rng)
        layer.needs_input_grad = False
        out = layer.forward(x)
        assert layer.backward(np.ones_like(out)) is None, f"{layer!r}: backward returned dx"
        assert np.abs(layer.grads["W"]).sum() > 0, f"{layer!r}: grads['W'] not filled"
        np.testing.assert_allclose(layer.grads["b"], np.prod(out.shape) / out.shape[1],
                                   err_msg=f"{layer!r}: grads['b']")


# ------------------------------------------------------------------------------------ Conv2D
# (in_ch, out_ch, H, W, kernel, stride, padding)
CONV_CASES = [
    (1, 1, 5, 5, 3, 1, 0),
    (2, 3, 7, 6, 3, 1, 1),
    (3, 2, 8, 9, (2, 3), (2, 1), (1, 0)),
    (2, 2, 6, 7, (3, 1), (1, 2), (0, 2)),
    (1, 4, 5, 8, 1, 1, 0),
    (2, 3, 9, 7, 4, 3, 2),          # stride 3 does not tile the padded input exactly
    (3, 2, 4, 5, (4, 5), 1, 0),     # kernel covers the whole input: 1×1 output
    (1, 2, 6, 5, 2, 2, (2, 1)),
]


def _random_conv_case(seed):
    rng = _rng(100 + seed)
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
    ph, pw = (int(v) for v in rng.integers(0, 3, size=2))
    h = int(rng.integers(max(1, kh - 2 * ph), 10))
    w = int(rng.integers(max(1, kw - 2 * pw), 10))
    return (int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w, (kh, kw), (sh, sw), (ph, pw))


ALL_CONV_CASES = CONV_CASES + [_random_conv_case(s) for s in range(6)]


def naive_conv2d(x, W, b, stride, padding):
    """Direct-loop cross-correlation (float64 reference)."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    f, _, kh, kw = W.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + w] = x
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (w + 2 * pw - kw) // sw + 1
    out = np.zeros((n, f, ho, wo))
    for i in range(n):
        for o in range(f):
            for r in range(ho):
                for s in range(wo):
                    patch = xp[i, :, r * sh:r * sh + kh, s * sw:s * sw + kw]
                    out[i, o, r, s] = np.sum(patch * W[o]) + b[o]
    return out


def as_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("case", ALL_CONV_CASES, ids=str)
def test_conv2d_forward_matches_naive_loops(case):
    cin, cout, h, w, k, s, p = case
    rng = _rng(zlib.crc32(repr(case).encode()))
    layer = Conv2D(cin, cout, k, stride=s, padding=p, dtype=np.float64)
    _randomize_params(layer, rng)
    x = rng.standard_normal((2, cin, h, w))
    ref = naive_conv2d(x, layer.params["W"], layer.params["b"], as_pair(s), as_pair(p))
    out = layer.forward(x)
    assert out.shape == ref.shape, f"{layer!r}: output shape {out.shape}, expected {ref.shape}"
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12, err_msg=f"{layer!r}: forward")


@pytest.mark.parametrize("case", ALL_CONV_CASES, ids=str)
def test_conv2d_gradients(case):
    cin, cout, h, w, k, s, p = case
    rng = _rng(zlib.crc32(repr(case).encode()))
    layer = Conv2D(cin, cout, k, stride=s, padding=p, dtype=np.float64)
    _randomize_params(layer, rng)
    check_layer(layer, rng.standard_normal((2, cin, h, w)), rng, name=repr(layer))


def test_conv2d_hand_case():
    # 1×1×3×3 input, 2×2 kernel of ones, stride 1, no padding: sums of each 2×2 block, plus b
    layer = Conv2D(1, 1, 2, dtype=np.float64)
    layer.params["W"].fill(1)
    layer.params["b"].fill(10)
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(layer.forward(x)[0, 0], [[18, 22], [30, 34]])


# --------------------------------------------------------------------------------- MaxPool2D
# (H, W, kernel, stride)
POOL_CASES = [
    (4, 4, 2, None),
    (5, 7, 2, None),          # not divisible by the window: last row/column dropped
    (7, 8, 3, None),
    (6, 7, (2, 3), None),
    (7, 7, 3, 2),             # overlapping windows
    (8, 6, 3, 2),
    (5, 4, 2, 1),
    (6, 7, (3, 2), (1, 2)),
    (5, 6, 2, 3),             # stride larger than the window: gaps
]


def naive_maxpool(x, k, s):
    (kh, kw), (sh, sw) = k, s
    n, c, h, w = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((n, c, ho, wo))
    for r in range(ho):
        for q in range(wo):
            out[:, :, r, q] = x[:, :, r * sh:r * sh + kh, q * sw:q * sw + kw].max(axis=(2, 3))
    return out


def _distinct(rng, shape):
    """Values with gaps >= 0.05 (no near-ties for the central difference to straddle)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.05, size=n)).reshape(shape) - n * 0.05


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_maxpool_forward_matches_naive(case):
    h, w, k, s = case
    layer = MaxPool2D(k, s)
    x = _rng(7).standard_normal((2, 3, h, w))
    ref = naive_maxpool(x, as_pair(k), as_pair(s if s is not None else k))
    out = layer.forward(x)
    assert out.shape == ref.shape, f"{layer!r}: output shape {out.shape}, expected {ref.shape}"
    np.testing.assert_array_equal(out, ref, err_msg=f"{layer!r}: forward")


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_maxpool_gradients(case):
    h, w, k, s = case
    rng = _rng(11)
    layer = MaxPool2D(k, s)
    check_layer(layer, _distinct(rng, (2, 2, h, w)), rng, tol=TOL_KINK, name=repr(layer))


@pytest.mark.parametrize("k,s", [(2, None), (2, 1), (3, 2)])
def test_maxpool_ties_send_the_gradient_to_the_first_maximum(k, s):
    layer = MaxPool2D(k, s)
    x = np.zeros((1, 1, 3, 3))
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    ss = as_pair(s if s is not None else k)
    expected = np.zeros((3, 3))
    for r in range(out.shape[2]):
        for q in range(out.shape[3]):
            expected[r * ss[0], q * ss[1]] += 1  # top-left of each window is its first maximum
    np.testing.assert_array_equal(dx[0, 0], expected, err_msg=f"{layer!r}: dx with ties")


# ------------------------------------------------------------------------------- activations
def _away_from_zero(rng, shape, margin=0.05):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(margin, 3, size=shape)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("make,kinked", [(ReLU, True), (lambda: LeakyReLU(0.1), True),
                                         (lambda: LeakyReLU(0.0), True),
                                         (Sigmoid, False), (Tanh, False)],
                         ids=["ReLU", "LeakyReLU0.1", "LeakyReLU0", "Sigmoid", "Tanh"])
def test_activation_gradients(make, kinked, seed):
    rng = _rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 5, size=rng.integers(1, 5)))
    x = _away_from_zero(rng, shape) if kinked else 3 * rng.standard_normal(shape)
    layer = make()
    check_layer(layer, x, rng, tol=TOL_KINK if kinked else TOL, name=repr(layer))


def test_activation_forward_values():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(ReLU().forward(x), [0, 0, 0, 0.5, 2])
    np.testing.assert_allclose(LeakyReLU(0.1).forward(x), [-0.2, -0.05, 0, 0.5, 2], rtol=1e-15)
    np.testing.assert_allclose(Sigmoid().forward(x), [1 / (1 + np.e ** 2), 1 / (1 + np.e ** 0.5),
                                                      0.5, 1 / (1 + np.e ** -0.5),
                                                      1 / (1 + np.e ** -2)], rtol=1e-14)
    np.testing.assert_allclose(Tanh().forward(x), [np.tanh(v) for v in x], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_huge_inputs(dtype):
    x = np.array([-1e4, -800.0, 800.0, 1e4], dtype=dtype)
    layer = Sigmoid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layer.forward(x)
        dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(out, [0, 0, 1, 1], err_msg="Sigmoid: forward at ±1e4")
    np.testing.assert_array_equal(dx, 0, err_msg="Sigmoid: dx at ±1e4")
    assert out.dtype == dtype


# ----------------------------------------------------------------------- Dropout and Flatten
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_gradients_with_fixed_mask(p):
    rng = _rng(5)
    layer = Dropout(p)
    x = rng.standard_normal((6, 7))

    def reseed():
        layer.rng = np.random.default_rng(1234)

    reseed()
    out = layer.forward(x)
    kept = out != 0
    assert 0 < kept.sum() < x.size, "Dropout: mask is trivial; the test would prove nothing"
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15,
                               err_msg="Dropout: kept units are not scaled by 1/(1-p)")
    check_layer(layer, x, rng, name=f"Dropout(p={p})", before_forward=reseed)


def test_dropout_eval_is_identity():
    layer = Dropout(0.5)
    layer.training = False
    x = _rng(0).standard_normal((3, 4))
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)


def test_flatten_gradients():
    rng = _rng(6)
    layer = Flatten()
    x = rng.standard_normal((3, 2, 4, 5))
    assert layer.forward(x).shape == (3, 40)
    check_layer(layer, x, rng, name="Flatten")


# ------------------------------------------------------------------------- CrossEntropyLoss
def _reference_ce(logits, labels):
    """Mean of logsumexp(row) − row[label], via np.logaddexp.reduce in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    lse = np.logaddexp.reduce(logits, axis=1)
    return float(np.mean(lse - logits[np.arange(len(labels)), labels]))


@pytest.mark.parametrize("seed", range(4))
def test_cross_entropy_gradient_and_value(seed):
    rng = _rng(seed)
    n, c = int(rng.integers(1, 7)), int(rng.integers(2, 8))
    logits = 3 * rng.standard_normal((n, c))
    labels = rng.integers(0, c, size=n)
    loss = CrossEntropyLoss()
    value = loss.forward(logits, labels)
    assert abs(value - _reference_ce(logits, labels)) < 1e-12 * max(1, abs(value)), \
        "CrossEntropyLoss: value differs from the log-sum-exp reference"
    d = loss.backward()
    assert_close_grad(d, numerical_grad(lambda: loss.forward(logits, labels), logits),
                      "CrossEntropyLoss: dlogits")


def test_cross_entropy_hand_value():
    # two equal logits → loss log 2 whichever the label; gradient (0.5 − onehot)/N
    loss = CrossEntropyLoss()
    assert abs(loss.forward(np.zeros((2, 2)), np.array([0, 1])) - np.log(2)) < 1e-15
    np.testing.assert_allclose(loss.backward(), [[-0.25, 0.25], [0.25, -0.25]], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_for_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [5e3, 5e3 + 1, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    labels = np.array([1, 0, 2])
    loss = CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.forward(logits, labels)
        d = loss.backward()
    assert np.isfinite(value) and np.all(np.isfinite(d))
    ref = _reference_ce(logits, labels)  # = (2e4 + (1 + log(1 + e^-1)) + log 3) / 3
    hand = (2e4 + 1 + np.log1p(np.exp(-1.0)) + np.log(3)) / 3
    assert abs(ref - hand) < 1e-9
    assert abs(value - ref) <= 1e-6 * ref, f"CrossEntropyLoss: {value} vs reference {ref}"


def test_cross_entropy_rejects_bad_labels():
    loss = CrossEntropyLoss()
    with pytest.raises(ValueError, match="labels"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels"):
        loss.forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        loss.forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(RuntimeError):
        CrossEntropyLoss().backward()


# --------------------------------------------------------------------- whole models, end to end
def check_model(model, x, labels, tol, name):
    loss = CrossEntropyLoss()
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]

    def reseed():
        for i, layer in enumerate(dropouts):
            layer.rng = np.random.default_rng(1000 + i)

    def f():
        reseed()
        return loss.forward(model.forward(x), labels)

    f()
    assert model.backward(loss.backward()) is None, f"{name}: first layer computed a dx"
    analytic = {k: g.copy() for k, _, g in model.parameters()}
    assert analytic, f"{name}: no parameters"
    for k, p, _ in model.parameters():
        assert_close_grad(analytic[k], numerical_grad(f, p), f"{name}: d[{k}]", tol)


ACTS = ["relu", "leakyrelu", "sigmoid", "tanh"]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_mlp_end_to_end_gradients(act, dropout):
    rng = _rng(21)
    model = nnlib.mlp([12, 7, 5, 3], activation=act, dropout=dropout, rng=_rng(3),
                      dtype=np.float64)
    for _, p, _ in model.parameters():  # nonzero biases so no pre-activation sits at exactly 0
        p += 0.1 * rng.standard_normal(p.shape)
    x = rng.standard_normal((5, 3, 4))  # the leading Flatten turns (3, 4) into 12 features
    labels = rng.integers(0, 3, size=5)
    tol = TOL_KINK if act in ("relu", "leakyrelu") else TOL
    check_model(model, x, labels, tol, f"mlp[12,7,5,3]/{act}/dropout={dropout}")


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("padding", [0, 1])
def test_cnn_end_to_end_gradients(act, padding):
    rng = _rng(22)
    # by hand: each stage is conv 3×3 (stride 1, padding p) then 2×2 pool:
    # p=0: 12×10 → 10×8 → 5×4 → 3×2 → 1×1;  p=1: 12×10 → 12×10 → 6×5 → 6×5 → 3×2
    h, w = 12, 10
    for _ in range(2):
        h, w = (h + 2 * padding - 3 + 1) // 2, (w + 2 * padding - 3 + 1) // 2
    flat = 3 * h * w
    assert flat == {0: 3 * 1 * 1, 1: 3 * 3 * 2}[padding]
    model = nnlib.cnn([1, 2, 3], [3, 3], [flat, 5, 4], activation=act, padding=padding,
                      input_shape=(1, 12, 10), rng=_rng(4), dtype=np.float64)
    for _, p, _ in model.parameters():
        p += 0.1 * rng.standard_normal(p.shape)
    x = rng.standard_normal((3, 1, 12, 10))
    labels = rng.integers(0, 4, size=3)
    check_model(model, x, labels, TOL_KINK, f"cnn[1,2,3]/{act}/padding={padding}")


# ------------------------------------------------------------------------------------ dtypes
def _float32_layers():
    rng = _rng(9)
    lin = Linear(6, 4)
    conv = Conv2D(2, 3, (3, 2), stride=(1, 2), padding=1)
    for layer in (lin, conv):
        for p in layer.params.values():
            p[...] = rng.standard_normal(p.shape)
    img = rng.standard_normal((2, 2, 6, 5)).astype(np.float32)
    return [(lin, rng.standard_normal((3, 6)).astype(np.float32)), (conv, img),
            (MaxPool2D(2), img), (MaxPool2D(3, 2), img), (Flatten(), img), (ReLU(), img),
            (LeakyReLU(0.1), img), (Sigmoid(), img), (Tanh(), img), (Dropout(0.5), img)]


@pytest.mark.parametrize("layer,x", _float32_layers(), ids=lambda v: type(v).__name__)
def test_float32_in_float32_out(layer, x):
    out = layer.forward(x)
    assert out.dtype == np.float32, f"{layer!r}: forward gave {out.dtype}"
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == np.float32, f"{layer!r}: dx is {dx.dtype}"
    for k, g in layer.grads.items():
        assert g.dtype == np.float32, f"{layer!r}: grads[{k!r}] is {g.dtype}"
        assert layer.params[k].dtype == np.float32, f"{layer!r}: params[{k!r}] changed dtype"


def test_float32_models_stay_float32():
    loss = CrossEntropyLoss()
    for model, x in ((nnlib.mlp([12, 7, 3], dropout=0.2), np.ones((4, 12), np.float32)),
                     (nnlib.cnn([1, 2, 3], [3, 3], [3, 4], input_shape=(1, 12, 10)),
                      np.ones((2, 1, 12, 10), np.float32))):
        out = model.forward(x)
        assert out.dtype == np.float32, f"{model!r}: logits {out.dtype}"
        loss.forward(out, np.zeros(len(x), dtype=np.int64))
        d = loss.backward()
        assert d.dtype == np.float32, "CrossEntropyLoss: dlogits not float32"
        model.backward(d)
        for k, p, g in model.parameters():
            assert p.dtype == np.float32 and g.dtype == np.float32, f"{k}: {p.dtype}/{g.dtype}"


def test_cross_entropy_gradient_has_no_denormals_for_confident_predictions():
    """A confident, correct prediction has softmax probabilities like exp(-100); those must not
    reach backward as float32 denormals (they slow every matmul ~100x on x86)."""
    logits = np.zeros((4, 10), dtype=np.float32)
    labels = np.array([0, 1, 2, 3])
    logits[np.arange(4), labels] = 100.0
    loss = CrossEntropyLoss()
    value = loss(logits, labels)
    d = loss.backward()
    tiny = np.finfo(np.float32).tiny
    assert np.count_nonzero((d != 0) & (np.abs(d) < tiny)) == 0
    assert 0 <= value < 1e-6  # the loss itself is still (essentially) exact
    assert np.all(np.abs(d) < 1e-6)


@pytest.mark.parametrize("layer", [Linear(3, 2), ReLU(), LeakyReLU(), Sigmoid(), Tanh(), Flatten()])
def test_layers_are_callable_like_forward(layer):
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), layer.forward(x))
