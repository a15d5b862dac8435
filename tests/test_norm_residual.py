"""BatchNorm and Residual: float64 gradient checks, forward references, running statistics,
train/eval, composition with Sequential, the builders and save/load."""
import re

import numpy as np
import pytest
from gradcheck import assert_close_grad, numerical_grad
from test_layers_grad import TOL, TOL_KINK, check_layer, check_model

import nnlib
from nnlib.nn.layers import BatchNorm, Conv2D, Linear, ReLU, Residual, Tanh
from nnlib.nn.models import Sequential, from_architecture, init_weights, load, save


def _rng(seed):
    return np.random.default_rng(seed)


def _innermost(x):
    """x: (N, C, H, W) with Conv2D's batch-innermost memory (a view of (C, H, W, N))."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def _bn64(n, rng):
    bn = BatchNorm(n, dtype=np.float64)
    bn.params["gamma"][...] = rng.uniform(0.5, 2.0, n)
    bn.params["beta"][...] = rng.standard_normal(n)
    return bn


# ------------------------------------------------------------------------------- BatchNorm
@pytest.mark.parametrize("shape, layout", [((7, 5), "dense"), ((4, 3, 5, 6), "nchw"),
                                           ((4, 3, 5, 6), "innermost")])
def test_batchnorm_gradients(shape, layout):
    rng = _rng(1)
    x = rng.standard_normal(shape) * 3 + 1
    if layout == "innermost":
        x = _innermost(x)
    bn = _bn64(shape[1], rng)
    # the running statistics move on every forward; the gradient does not depend on them
    check_layer(bn, x, rng, TOL, f"BatchNorm/{layout}")


@pytest.mark.parametrize("layout", ["nchw", "innermost"])
def test_batchnorm_forward_matches_the_formula_and_keeps_the_layout(layout):
    rng = _rng(2)
    x = rng.standard_normal((6, 3, 4, 5)) * 2 - 1
    if layout == "innermost":
        x = _innermost(x)
    bn = _bn64(3, rng)
    out = bn.forward(x)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    g, b = bn.params["gamma"][None, :, None, None], bn.params["beta"][None, :, None, None]
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + bn.eps) * g + b, atol=1e-12)
    # the output is normalised per channel: mean beta, std gamma (up to eps)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), bn.params["beta"], atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), bn.params["gamma"], rtol=1e-4)
    assert (out.transpose(1, 2, 3, 0).flags.c_contiguous ==
            (layout == "innermost")), "BatchNorm changed the memory layout of its input"


def test_batchnorm_running_statistics_follow_pytorch_and_eval_uses_them():
    rng = _rng(3)
    bn = _bn64(4, rng)
    batches = [rng.standard_normal((8, 4)) * s + s for s in (1.0, 2.0, 3.0)]
    rm, rv = np.zeros(4), np.ones(4)
    for xb in batches:
        bn.forward(xb)
        rm = 0.9 * rm + 0.1 * xb.mean(axis=0)
        rv = 0.9 * rv + 0.1 * xb.var(axis=0, ddof=1)  # unbiased, as torch.nn.BatchNorm1d
    np.testing.assert_allclose(bn.buffers["running_mean"], rm, rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_var"], rv, rtol=1e-12)
    bn.training = False
    x = rng.standard_normal((5, 4))
    expected = ((x - rm) / np.sqrt(rv + bn.eps) * bn.params["gamma"] + bn.params["beta"])
    np.testing.assert_allclose(bn.forward(x), expected, rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_mean"], rm, rtol=1e-12)  # eval: unchanged
    # one image at a time gives the same answer in eval mode (no batch statistics)
    np.testing.assert_allclose(bn.forward(x[:1]), expected[:1], rtol=1e-12)


def test_batchnorm_errors():
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm(0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=0)
    bn = BatchNorm(3)
    with pytest.raises(ValueError, match="BatchNorm\\(3\\) got input with 5 features"):
        bn.forward(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="more than one value"):
        bn.forward(np.zeros((1, 3), np.float32))
    with pytest.raises(RuntimeError, match="training mode"):
        BatchNorm(3).backward(np.zeros((2, 3), np.float32))


def test_batchnorm_is_float32_in_float32_out():
    bn = BatchNorm(3)
    x = _innermost(_rng(4).standard_normal((4, 3, 5, 5)).astype(np.float32))
    out = bn.forward(x)
    assert out.dtype == np.float32 and bn.backward(out).dtype == np.float32
    assert all(a.dtype == np.float32 for a in (*bn.params.values(), *bn.buffers.values()))


# -------------------------------------------------------------------------------- Residual
def _randomize(layer, rng):
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape) * 0.5


def test_residual_identity_gradients_and_forward():
    rng = _rng(5)
    branch = [Linear(4, 6, dtype=np.float64), Tanh(), Linear(6, 4, dtype=np.float64)]
    res = Residual(branch)
    _randomize(res, rng)
    x = rng.standard_normal((3, 4))
    h = np.tanh(x @ branch[0].params["W"] + branch[0].params["b"])
    np.testing.assert_allclose(res.forward(x), x + h @ branch[2].params["W"]
                               + branch[2].params["b"], atol=1e-12)
    assert set(res.params) == {"branch.0.W", "branch.0.b", "branch.2.W", "branch.2.b"}
    assert res.params["branch.0.W"] is branch[0].params["W"]
    assert res.grads["branch.2.b"] is branch[2].grads["b"]
    check_layer(res, x, rng, TOL, "Residual(identity)")


def test_residual_projection_gradients():
    rng = _rng(6)
    res = Residual([Linear(4, 3, dtype=np.float64), Tanh()],
                   projection=Linear(4, 3, dtype=np.float64))
    _randomize(res, rng)
    check_layer(res, rng.standard_normal((5, 4)), rng, TOL, "Residual(projection)")


def test_residual_conv_batchnorm_block_gradients():
    rng = _rng(7)
    # (a conv bias right before a BatchNorm has a zero gradient: BatchNorm sits after Tanh here)
    res = Residual([Conv2D(2, 2, 3, padding=1, dtype=np.float64), Tanh(),
                    BatchNorm(2, dtype=np.float64), Conv2D(2, 3, 3, padding=1, dtype=np.float64)],
                   projection=[BatchNorm(2, dtype=np.float64), Conv2D(2, 3, 1, dtype=np.float64)])
    _randomize(res, rng)
    check_layer(res, rng.standard_normal((3, 2, 5, 4)), rng, TOL, "Residual(conv+BN)")


def test_residual_shape_mismatch_and_bad_branch():
    res = Residual([Linear(4, 3)])
    with pytest.raises(ValueError, match=r"branch gives .*3.*input.*4.*projection"):
        res.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="branch\\[1\\] is str"):
        Residual([Linear(4, 4), "relu"])
    with pytest.raises(ValueError, match="at least one layer"):
        Residual([])


def test_train_and_eval_reach_the_layers_inside_a_residual():
    bn = BatchNorm(4)
    model = Sequential(Linear(4, 4), Residual([bn, ReLU()]))
    model.eval()
    assert bn.training is False
    model.train()
    assert bn.training is True
    assert list(model.modules())[2] is bn


# ------------------------------------------------------------------ models built from them
def test_cnn_builder_with_batchnorm_and_residual_blocks():
    model = nnlib.cnn([1, 4, 6], [3, 3], [6 * 3 * 3, 10], padding=1, batchnorm=True,
                      residual_blocks=[1, 0], input_shape=(1, 12, 12), weight_decay=[1e-3, 2e-3])
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:6] == ["Conv2D", "BatchNorm", "ReLU", "MaxPool2D", "Residual", "ReLU"]
    block = model.layers[4]
    assert [type(layer).__name__ for layer in block.branch] == [
        "Conv2D", "BatchNorm", "ReLU", "Conv2D", "BatchNorm"]
    # the block's convs are decayed like their stage's conv; BatchNorm's gamma never is
    assert model.weight_decay == {"0.W": 1e-3, "4.branch.0.W": 1e-3, "4.branch.3.W": 1e-3,
                                     "6.W": 2e-3}
    # every conv inside the blocks is initialised (He), not left at zero
    assert np.std(block.branch[3].params["W"]) > 0
    x = _rng(8).standard_normal((2, 1, 12, 12)).astype(np.float32)
    assert model.forward(x).shape == (2, 10)


def test_mlp_builder_with_batchnorm():
    model = nnlib.mlp([12, 8, 3], batchnorm=True, dropout=0.1)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Linear", "BatchNorm", "ReLU", "Dropout", "Linear"]


def test_cnn_batchnorm_residual_end_to_end_gradients():
    rng = _rng(9)
    model = nnlib.cnn([1, 2, 3], [3, 3], [3 * 3 * 2, 4], activation="tanh", padding=1,
                      batchnorm=True, residual_blocks=1, input_shape=(1, 12, 10), rng=_rng(4),
                      dtype=np.float64)
    for _, p, _ in model.parameters():
        p += 0.1 * rng.standard_normal(p.shape)
    x = rng.standard_normal((4, 1, 12, 10))
    check_model(model, x, rng.integers(0, 4, size=4), TOL_KINK, "cnn/batchnorm/residual")


def test_mlp_batchnorm_end_to_end_gradients():
    rng = _rng(10)
    model = nnlib.mlp([6, 5, 4, 3], activation="tanh", batchnorm=True, rng=_rng(3),
                      dtype=np.float64)
    x = rng.standard_normal((6, 6))
    check_model(model, x, rng.integers(0, 3, size=6), TOL, "mlp/batchnorm")


def test_save_load_restores_running_statistics_and_nested_layers(tmp_path):
    model = nnlib.cnn([1, 3], [3], [3 * 4 * 4, 5], padding=1, batchnorm=True, residual_blocks=1,
                      input_shape=(1, 8, 8), weight_decay=1e-3, conv_decay="double")
    x = _rng(11).standard_normal((16, 1, 8, 8)).astype(np.float32)
    for _ in range(3):  # move the running statistics away from their initial 0 / 1
        model.forward(x * 2 + 1)
    save(model, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert loaded.architecture() == model.architecture()
    assert loaded.l2 == model.l2 != {}
    for (name, b), (name2, b2) in zip(model.buffers(), loaded.buffers()):
        assert name == name2
        np.testing.assert_array_equal(b, b2)
    assert not np.allclose(loaded.layers[1].buffers["running_mean"], 0)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_state_dict_holds_buffers_and_load_checks_them():
    model = Sequential(Linear(3, 4), BatchNorm(4))
    state = model.state_dict()
    assert set(state) == {"0.W", "0.b", "1.gamma", "1.beta", "1.running_mean", "1.running_var"}
    state["1.running_var"] += 1
    fresh = from_architecture(model.architecture())
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.layers[1].buffers["running_var"], 2)
    del state["1.running_mean"]
    with pytest.raises(ValueError, match=re.escape("missing ['1.running_mean']")):
        fresh.load_state_dict(state)


def test_optimizer_trains_parameters_inside_a_residual():
    rng = _rng(12)
    model = init_weights(Sequential(Linear(4, 4), Residual([Linear(4, 4), Tanh()]),
                                    Linear(4, 2)), rng=rng)
    inner = model.layers[1].branch[0].params["W"]
    before = inner.copy()
    opt = nnlib.SGD(model, lr=0.1)
    loss = nnlib.CrossEntropyLoss()
    loss(model.forward(rng.standard_normal((8, 4)).astype(np.float32)), rng.integers(0, 2, 8))
    model.backward(loss.backward())
    opt.step()
    assert not np.array_equal(inner, before)


def test_numerical_check_sees_a_wrong_batchnorm_gradient():
    """The checker must fail on the naive "normalise with constant statistics" gradient."""
    rng = _rng(13)
    bn = _bn64(3, rng)
    x = rng.standard_normal((5, 3))
    out = bn.forward(x)
    R = rng.standard_normal(out.shape)
    naive = R * bn.params["gamma"] * bn._inv_std  # ignores d(mean)/dx and d(var)/dx

    def f():
        return np.sum(bn.forward(x) * R)

    with pytest.raises(AssertionError):
        assert_close_grad(naive, numerical_grad(f, x), "naive BatchNorm dx", TOL)


# -------------------------------------------------------------------------- config schema
def _cnn_cfg(**model):
    return {"model": {"type": "cnn", "channels": [1, 8, 16], "kernels": [3, 3], "padding": 1,
                      "linear_sizes": [16 * 7 * 7, 10], **model},
            "optimizer": {"type": "sgd", "lr": 0.1}}


def test_config_builds_batchnorm_and_residual_blocks():
    from nnlib.lab.config import load_config
    cfg = load_config(_cnn_cfg(batchnorm=True, residual_blocks=[0, 2]))
    assert cfg.model.batchnorm is True and cfg.model.residual_blocks == [0, 2]
    model = nnlib.build_model(cfg.model)
    assert sum(isinstance(layer, Residual) for layer in model.layers) == 2
    assert sum(isinstance(layer, BatchNorm) for layer in model.modules()) == 2 + 2 * 2
    mlp_cfg = load_config({"model": {"sizes": [784, 32, 10], "batchnorm": True},
                           "optimizer": {"type": "sgd", "lr": 0.1}})
    assert any(isinstance(layer, BatchNorm) for layer in nnlib.build_model(mlp_cfg.model).layers)
    plain = load_config(_cnn_cfg())
    assert plain.model.batchnorm is False and plain.model.residual_blocks == 0


@pytest.mark.parametrize("model, message", [
    ({"batchnorm": "yes"}, "model.batchnorm: 'yes' must be true or false"),
    ({"residual_blocks": -1}, "model.residual_blocks: -1 must be >= 0"),
    ({"residual_blocks": [1]}, "model.residual_blocks: \\[1\\] must be one int or 2 entries"),
    ({"residual_blocks": [1, 1.5]}, "model.residual_blocks\\[1\\]"),
])
def test_config_rejects_bad_batchnorm_and_residual_fields(model, message):
    from nnlib.lab.config import ConfigError, load_config
    with pytest.raises(ConfigError, match=message):
        load_config(_cnn_cfg(**model))
