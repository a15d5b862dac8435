"""The speed work kept the numbers: the batch-innermost Conv2D, MaxPool2D and Flatten match the
implementation they replaced (tests/previous_layers.py, frozen at commit c3f09d2) within float32
tolerance, on the report's own shapes and on odd ones, whatever memory order the input has; and
the blocked optimizer update is bit for bit the whole-array one."""
from __future__ import annotations

import numpy as np
import pytest
from previous_layers import PreviousConv2D, PreviousMaxPool2D

from nnlib.nn import optim
from nnlib.nn.layers import Conv2D, Flatten, LeakyReLU, MaxPool2D, batch_innermost
from nnlib.nn.models import cnn, mlp

# float32 products of ≤ 150 terms: a few ulps of the largest partial sums
RTOL, ATOL = 2e-5, 2e-5

# (in_ch, out_ch, H, W, kernel, stride, padding, batch): the report's two convs first
CASES = [
    (1, 6, 28, 28, 5, 1, 0, 32),
    (6, 16, 12, 12, 5, 1, 0, 32),
    (1, 16, 28, 28, 5, 1, 2, 64),     # cnn_improved-like, padded
    (3, 4, 9, 7, (3, 2), (2, 1), (1, 0), 5),
    (2, 3, 8, 8, 3, 2, 1, 7),
    (6, 16, 12, 12, 5, 1, 0, 2000),   # an evaluation batch: MATMUL_BLOCK splits the products
]


def _pair_layers(case, rng):
    cin, cout, h, w, k, s, p, n = case
    new = Conv2D(cin, cout, k, stride=s, padding=p)
    old = PreviousConv2D(cin, cout, k, stride=s, padding=p)
    for name in ("W", "b"):
        new.params[name][...] = rng.standard_normal(new.params[name].shape) * 0.3
        old.params[name][...] = new.params[name]
    x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    return new, old, x


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("layout", ["nchw", "batch-innermost"])
def test_conv2d_matches_previous_implementation(case, layout):
    rng = np.random.default_rng(abs(hash((str(case), layout))) % 2**32)
    new, old, x = _pair_layers(case, rng)
    x_new = x if layout == "nchw" else np.ascontiguousarray(x.transpose(1, 2, 3, 0)) \
        .transpose(3, 0, 1, 2)
    assert np.array_equal(x_new, x)
    out_new, out_old = new.forward(x_new), old.forward(x)
    assert out_new.shape == out_old.shape and out_new.dtype == np.float32
    np.testing.assert_allclose(out_new, out_old, rtol=RTOL, atol=ATOL, err_msg="forward")
    dout = rng.standard_normal(out_old.shape).astype(np.float32)
    dx_new, dx_old = new.backward(dout), old.backward(dout)
    np.testing.assert_allclose(dx_new, dx_old, rtol=RTOL, atol=ATOL, err_msg="dx")
    for name in ("W", "b"):
        scale = np.abs(old.grads[name]).max()
        np.testing.assert_allclose(new.grads[name], old.grads[name], rtol=RTOL,
                                   atol=ATOL * max(1.0, scale), err_msg=f"d{name}")


def test_conv2d_returns_a_batch_innermost_view_the_next_conv_reads_without_a_copy():
    rng = np.random.default_rng(0)
    conv = Conv2D(1, 6, 5)
    conv.params["W"][...] = rng.standard_normal(conv.params["W"].shape)
    out = conv.forward(rng.standard_normal((8, 1, 28, 28)).astype(np.float32))
    assert out.shape == (8, 6, 24, 24)
    assert np.shares_memory(batch_innermost(out), out)  # a view: no copy
    pooled = MaxPool2D(2).forward(LeakyReLU().forward(out))
    assert np.shares_memory(batch_innermost(pooled), pooled), "MaxPool2D changed the layout"


@pytest.mark.parametrize("shape,k", [((32, 6, 24, 24), 2), ((32, 16, 8, 8), 2), ((3, 2, 7, 9), 2),
                                     ((4, 3, 9, 9), 3), ((2, 2, 6, 7), (2, 3))])
@pytest.mark.parametrize("layout", ["nchw", "batch-innermost"])
def test_maxpool_matches_previous_implementation_bit_for_bit(shape, k, layout):
    rng = np.random.default_rng(1)
    # rounded values: many tied maxima, which must go to the first maximum, as before
    x = np.round(rng.standard_normal(shape) * 2).astype(np.float32)
    x_new = x if layout == "nchw" else np.ascontiguousarray(x.transpose(1, 2, 3, 0)) \
        .transpose(3, 0, 1, 2)
    new, old = MaxPool2D(k), PreviousMaxPool2D(k)
    out_new, out_old = new.forward(x_new), old.forward(x)
    np.testing.assert_array_equal(out_new, out_old)
    dout = rng.standard_normal(out_old.shape).astype(np.float32)
    np.testing.assert_array_equal(new.backward(dout), old.backward(dout))


def test_flatten_backward_keeps_the_input_layout():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5, 2).transpose(3, 0, 1, 2)
    layer = Flatten()
    out = layer.forward(x)
    np.testing.assert_array_equal(out, x.reshape(2, -1))
    dx = layer.backward(out * 2)
    np.testing.assert_array_equal(dx, 2 * x)
    assert dx.strides == x.strides


def test_report_cnn_matches_previous_layers_end_to_end():
    """The whole report CNN (float32): logits and every gradient, new layers vs previous."""
    rng = np.random.default_rng(3)
    new = cnn([1, 6, 16], [5, 5], [256, 128, 64, 10], activation="leakyrelu", rng=rng)
    old = cnn([1, 6, 16], [5, 5], [256, 128, 64, 10], activation="leakyrelu", rng=rng)
    for i, layer in enumerate(old.layers):
        if isinstance(layer, Conv2D):
            prev = PreviousConv2D(layer.in_channels, layer.out_channels, layer.kernel_size)
            prev.needs_input_grad = layer.needs_input_grad
            old.layers[i] = prev
        elif isinstance(layer, MaxPool2D):
            old.layers[i] = PreviousMaxPool2D(layer.kernel_size)
    for (_, p_new, _), (_, p_old, _) in zip(new.parameters(), old.parameters()):
        p_old[...] = p_new
    x = rng.random((32, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(new.forward(x), old.forward(x), rtol=RTOL, atol=ATOL)
    dout = rng.standard_normal((32, 10)).astype(np.float32)
    new.backward(dout)
    old.backward(dout)
    for (name, _, g_new), (_, _, g_old) in zip(new.parameters(), old.parameters()):
        scale = max(1.0, float(np.abs(g_old).max()))
        np.testing.assert_allclose(g_new, g_old, rtol=RTOL, atol=ATOL * scale, err_msg=name)


@pytest.mark.parametrize("kind", ["sgd", "momentum", "nesterov", "adam"])
def test_blocked_update_is_the_whole_array_update_bit_for_bit(kind, monkeypatch):
    """CHUNK only changes which entries one NumPy call touches, never an entry's arithmetic."""
    def train(chunk):
        monkeypatch.setattr(optim, "CHUNK", chunk)
        rng = np.random.default_rng(0)
        model = mlp([784, 300, 10], weight_decay=[1e-3, 0], rng=rng)
        model.l2 = {"1.W": 5e-4}  # a coupled L2 term on the first weights too
        opt = {"sgd": lambda: optim.SGD(model, 0.1),
               "momentum": lambda: optim.Momentum(model, 0.1, 0.9),
               "nesterov": lambda: optim.Momentum(model, 0.1, 0.9, nesterov=True),
               "adam": lambda: optim.Adam(model, 1e-3)}[kind]()
        for _ in range(5):
            for _, _, g in model.parameters():
                g[...] = rng.standard_normal(g.shape)
            opt.step()
            opt.lr *= 0.9
        return [p.copy() for _, p, _ in model.parameters()]
    blocked, whole = train(1000), train(1 << 30)
    for a, b in zip(blocked, whole):
        np.testing.assert_array_equal(a, b)
