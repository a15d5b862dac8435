"""Optimizers vs. hand-written update formulas; weight-decay semantics; state round trip; args.

Every expected value is computed here from the textbook / PyTorch formula, written out, on
float64 copies of the starting arrays — never taken from the optimizer's own output.
"""
import math

import numpy as np
import pytest

import nnlib
from nnlib.nn.optim import SGD, Adam, Momentum, build_optimizer

W0 = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
B0 = np.array([0.1, -0.2, 0.3])
G1 = {"W": np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.5]]), "b": np.array([1.0, -0.5, 0.25])}
G2 = {"W": np.array([[-1.5, 0.5, 1.0], [2.0, -0.25, 0.5]]), "b": np.array([0.0, 2.0, -1.0])}


def tiny(dtype=np.float64, wd=0.0):
    """Sequential(Linear(2, 3)) with W0, B0; the model's weight decay ``{"0.W": wd}``."""
    lin = nnlib.Linear(2, 3, dtype=dtype)
    lin.params["W"][...] = W0
    lin.params["b"][...] = B0
    model = nnlib.Sequential(lin)
    model.weight_decay = {"0.W": wd}
    return model


def set_grads(model, grads):
    for key, g in grads.items():
        model[0].grads[key][...] = g


def params(model):
    return {k: p.copy() for k, p, _ in model.parameters()}


def run(opt, model, grads_seq):
    for g in grads_seq:
        set_grads(model, g)
        opt.step()
    return model[0].params


# --------------------------------------------------------------------------- plain updates
def test_sgd_one_and_two_steps():
    model = tiny()
    opt = SGD(model, lr=0.1)
    W_before = model[0].params["W"]
    run(opt, model, [G1])
    np.testing.assert_allclose(model[0].params["W"], W0 - 0.1 * G1["W"], rtol=1e-15)
    np.testing.assert_allclose(model[0].params["b"], B0 - 0.1 * G1["b"], rtol=1e-15)
    run(opt, model, [G2])
    np.testing.assert_allclose(model[0].params["W"], W0 - 0.1 * G1["W"] - 0.1 * G2["W"],
                               rtol=1e-14)
    assert model[0].params["W"] is W_before, "SGD must update the layer's arrays in place"
    assert opt.steps == 2


def test_sgd_scalar_by_hand():
    lin = nnlib.Linear(1, 1, dtype=np.float64)
    lin.params["W"][...] = 2.0
    lin.grads["W"][...] = 4.0
    lin.grads["b"][...] = -1.0
    SGD(nnlib.Sequential(lin), lr=0.25).step()
    assert lin.params["W"][0, 0] == 1.0  # 2 − 0.25·4
    assert lin.params["b"][0] == 0.25    # 0 − 0.25·(−1)


def test_momentum_two_steps():
    lr, mu = 0.1, 0.9
    model = tiny()
    opt = Momentum(model, lr=lr, momentum=mu)
    run(opt, model, [G1, G2])
    for k, p0 in (("W", W0), ("b", B0)):
        v1 = G1[k]                        # v = μ·0 + g1
        p1 = p0 - lr * v1
        v2 = mu * v1 + G2[k]              # v = μ·v1 + g2
        p2 = p1 - lr * v2
        np.testing.assert_allclose(model[0].params[k], p2, rtol=1e-14, atol=1e-15,
                                   err_msg=f"Momentum: {k} after two steps")
        np.testing.assert_allclose(opt.velocity[f"0.{k}"], v2, rtol=1e-14,
                                   err_msg=f"Momentum: velocity of {k}")


def test_momentum_scalar_by_hand():
    lin = nnlib.Linear(1, 1, dtype=np.float64)
    lin.params["W"][...] = 1.0
    opt = Momentum(nnlib.Sequential(lin), lr=0.5, momentum=0.5)
    lin.grads["W"][...] = 1.0
    opt.step()                    # v = 1, W = 1 − 0.5 = 0.5
    assert lin.params["W"][0, 0] == 0.5
    lin.grads["W"][...] = 2.0
    opt.step()                    # v = 0.5 + 2 = 2.5, W = 0.5 − 1.25 = −0.75
    assert lin.params["W"][0, 0] == -0.75


def test_nesterov_two_steps():
    lr, mu = 0.05, 0.8
    model = tiny()
    opt = Momentum(model, lr=lr, momentum=mu, nesterov=True)
    run(opt, model, [G1, G2])
    for k, p0 in (("W", W0), ("b", B0)):
        v1 = G1[k]
        p1 = p0 - lr * (G1[k] + mu * v1)  # PyTorch: p −= lr·(g + μ·v)
        v2 = mu * v1 + G2[k]
        p2 = p1 - lr * (G2[k] + mu * v2)
        np.testing.assert_allclose(model[0].params[k], p2, rtol=1e-14, atol=1e-15,
                                   err_msg=f"Nesterov: {k} after two steps")


def test_nesterov_scalar_by_hand():
    lin = nnlib.Linear(1, 1, dtype=np.float64)
    lin.params["W"][...] = 1.0
    opt = Momentum(nnlib.Sequential(lin), lr=0.5, momentum=0.5, nesterov=True)
    lin.grads["W"][...] = 1.0
    opt.step()                    # v = 1, W = 1 − 0.5·(1 + 0.5·1) = 0.25
    assert lin.params["W"][0, 0] == 0.25


def _adam_reference(p0, grads, lr, b1, b2, eps):
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1 ** t) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
    return p, m, v


@pytest.mark.parametrize("betas,eps", [((0.9, 0.999), 1e-8), ((0.5, 0.75), 0.1)])
def test_adam_three_steps(betas, eps):
    lr = 0.01
    model = tiny()
    opt = Adam(model, lr=lr, betas=betas, eps=eps)
    seq = [G1, G2, G1]
    run(opt, model, seq)
    for k, p0 in (("W", W0), ("b", B0)):
        p, m, v = _adam_reference(p0, [g[k] for g in seq], lr, *betas, eps)
        np.testing.assert_allclose(model[0].params[k], p, rtol=1e-13, atol=1e-15,
                                   err_msg=f"Adam: {k} after three steps")
        np.testing.assert_allclose(opt.exp_avg[f"0.{k}"], m, rtol=1e-14, err_msg="Adam: m")
        np.testing.assert_allclose(opt.exp_avg_sq[f"0.{k}"], v, rtol=1e-14, err_msg="Adam: v")


def test_adam_first_step_is_lr_times_sign():
    # bias correction makes step 1 equal lr·g/(|g| + eps) ≈ lr·sign(g) (g ≠ 0), 0 where g = 0
    model = tiny()
    set_grads(model, G1)
    Adam(model, lr=0.01).step()
    g = G1["W"]
    np.testing.assert_allclose(model[0].params["W"], W0 - 0.01 * g / (np.abs(g) + 1e-8),
                               rtol=1e-12)
    assert model[0].params["W"][1, 0] == W0[1, 0]


def test_lr_attribute_is_read_at_every_step():
    model = tiny()
    opt = SGD(model, lr=0.1)
    set_grads(model, G1)
    opt.lr = 0.5   # what a schedule does between epochs
    opt.step()
    np.testing.assert_allclose(model[0].params["W"], W0 - 0.5 * G1["W"], rtol=1e-15)


@pytest.mark.parametrize("make", [lambda m: SGD(m, 0.1), lambda m: Momentum(m, 0.1),
                                  lambda m: Momentum(m, 0.1, nesterov=True),
                                  lambda m: Adam(m, 0.1)], ids=["sgd", "momentum", "nesterov",
                                                                 "adam"])
def test_float32_stays_float32_and_in_place(make):
    model = tiny(np.float32, wd=0.1)
    arrays = {k: p for k, p, _ in model.parameters()}
    opt = make(model)
    run(opt, model, [G1, G2])
    for k, p, _ in model.parameters():
        assert p is arrays[k], f"{opt!r}: {k} was replaced, not updated in place"
        assert p.dtype == np.float32, f"{opt!r}: {k} became {p.dtype}"
        assert not np.array_equal(p, {"0.W": W0, "0.b": B0}[k].astype(np.float32))


def test_zero_grad():
    model = tiny()
    set_grads(model, G1)
    SGD(model, 0.1).zero_grad()
    assert all(not g.any() for _, _, g in model.parameters())


# ---------------------------------------------------------------------------- weight decay
def test_weight_decay_scales_weights_before_the_update_and_never_biases():
    lr, wd = 0.1, 0.5
    model = tiny(wd=wd)
    set_grads(model, G1)
    SGD(model, lr).step()
    # decay first, then the gradient step: W·(1 − lr·wd) − lr·g  (≠ (W − lr·g)·(1 − lr·wd))
    np.testing.assert_allclose(model[0].params["W"], W0 * (1 - lr * wd) - lr * G1["W"],
                               rtol=1e-15)
    np.testing.assert_allclose(model[0].params["b"], B0 - lr * G1["b"], rtol=1e-15)


def test_weight_decay_with_momentum_is_not_added_to_the_velocity():
    lr, mu, wd = 0.1, 0.9, 0.2
    model = tiny(wd=wd)
    opt = Momentum(model, lr, momentum=mu)
    run(opt, model, [G1, G2])
    v1 = G1["W"]
    p1 = W0 * (1 - lr * wd) - lr * v1
    v2 = mu * v1 + G2["W"]
    p2 = p1 * (1 - lr * wd) - lr * v2
    np.testing.assert_allclose(model[0].params["W"], p2, rtol=1e-14)
    np.testing.assert_allclose(opt.velocity["0.W"], v2, rtol=1e-14)  # decoupled: v ignores wd


def test_weight_decay_with_adam_is_decoupled():
    lr, wd = 0.01, 0.3
    model = tiny(wd=wd)
    set_grads(model, G1)
    Adam(model, lr).step()
    g = G1["W"]
    m, v = 0.1 * g, 0.001 * g * g
    expected = W0 * (1 - lr * wd) - lr / 0.1 * m / (np.sqrt(v) / math.sqrt(0.001) + 1e-8)
    np.testing.assert_allclose(model[0].params["W"], expected, rtol=1e-13)


def test_zero_gradient_only_decays():
    model = tiny(wd=0.25)
    SGD(model, 0.4).step()  # grads are zero: W → W·(1 − 0.1), b unchanged
    np.testing.assert_allclose(model[0].params["W"], W0 * 0.9, rtol=1e-15)
    np.testing.assert_array_equal(model[0].params["b"], B0)


def test_coupled_l2_feeds_momentum_on_top_of_the_decoupled_decay():
    # the report's Conv2D as it ran: backward adds wd·W (W before this step's decay) to the
    # gradient, then its optimizer decays W by (1 − lr·wd) and applies momentum to the sum
    lr, mu, wd = 0.1, 0.9, 0.2
    model = tiny(wd=wd)
    model.l2 = {"0.W": wd}
    opt = Momentum(model, lr, momentum=mu)
    assert opt.l2 == {"0.W": wd}
    run(opt, model, [G1, G2])
    g1 = G1["W"] + wd * W0
    v1 = g1
    p1 = W0 * (1 - lr * wd) - lr * v1
    g2 = G2["W"] + wd * p1
    v2 = mu * v1 + g2
    p2 = p1 * (1 - lr * wd) - lr * v2
    np.testing.assert_allclose(model[0].params["W"], p2, rtol=1e-14)
    np.testing.assert_allclose(opt.velocity["0.W"], v2, rtol=1e-14)
    # biases get neither
    np.testing.assert_allclose(model[0].params["b"], B0 - lr * (mu * G1["b"] + G2["b"])
                               - lr * G1["b"], rtol=1e-14)


def test_coupled_l2_on_a_zero_gradient_still_moves_the_weights():
    # an empty batch in the report's runner: zero data gradient, the L2 term remains
    lr, wd = 0.1, 0.5
    model = tiny(wd=wd)
    model.l2 = {"0.W": wd}
    SGD(model, lr).step()
    np.testing.assert_allclose(model[0].params["W"], W0 * (1 - lr * wd) - lr * wd * W0,
                               rtol=1e-15)


def test_cnn_builder_double_conv_decay_sets_l2_on_conv_layers_only():
    kw = {"weight_decay": [0.1, 0.2], "linear_weight_decay": [0.3, 0.4], "input_shape": (1, 12, 10)}
    model = nnlib.cnn([1, 2, 3], [3, 3], [3, 4, 2], conv_decay="double", **kw)
    opt = Momentum(model, 0.1)
    assert opt.l2 == {"0.W": 0.1, "3.W": 0.2}
    assert opt.weight_decay == {"0.W": 0.1, "3.W": 0.2, "7.W": 0.3, "9.W": 0.4}
    assert Momentum(nnlib.cnn([1, 2, 3], [3, 3], [3, 4, 2], **kw), 0.1).l2 == {}
    with pytest.raises(ValueError, match="conv_decay"):
        nnlib.cnn([1, 2, 3], [3, 3], [3, 4, 2], conv_decay="coupled", **kw)


def test_conv_decay_from_a_config_reaches_the_optimizer():
    from nnlib.lab.config import load_config
    from nnlib.nn.models import build_model
    raw = {"model": {"type": "CNN", "channel_list": [1, 6, 16], "kernel_list": [[5, 5], [5, 5]],
                     "linear_size_list": [256, 128, 64, 10], "act_func": "LeakyReLU",
                     "weight_decay_list": [1e-3, 2e-3], "conv_decay": "double",
                     "linear_weight_decay_list": [1e-3, 1e-3, 1e-3]},
           "optimizer": {"type": "Momentum", "init_lr": 0.01}}
    cfg = load_config(raw)
    opt = build_optimizer(cfg.optimizer, build_model(cfg.model))
    assert opt.l2 == {"0.W": 1e-3, "3.W": 2e-3}
    raw["model"]["conv_decay"] = "decoupled"
    cfg = load_config(raw)
    assert build_optimizer(cfg.optimizer, build_model(cfg.model)).l2 == {}


def test_mlp_builder_weight_decay_list_reaches_the_optimizer():
    # layers: 0 Flatten, 1 Linear, 2 act, 3 Dropout, 4 Linear, 5 act, 6 Dropout, 7 Linear
    model = nnlib.mlp([4, 3, 3, 2], weight_decay=[0.1, 0.0, 0.3], dropout=0.5)
    assert SGD(model, 0.1).weight_decay == {"1.W": 0.1, "7.W": 0.3}


def test_cnn_builder_weight_decay_lists_reach_the_optimizer():
    # layers: 0 conv, 1 act, 2 pool, 3 conv, 4 act, 5 pool, 6 flatten, 7 linear, 8 act, 9 linear
    model = nnlib.cnn([1, 2, 3], [3, 3], [3, 4, 2], weight_decay=[0.1, 0.2],
                      linear_weight_decay=[0.3, 0.4], input_shape=(1, 12, 10))
    assert Momentum(model, 0.1).weight_decay == {"0.W": 0.1, "3.W": 0.2, "7.W": 0.3, "9.W": 0.4}


def test_weight_decay_per_layer_values_apply_per_layer():
    model = nnlib.mlp([3, 4, 2], weight_decay=[0.5, 0.25], init="xavier", dtype=np.float64)
    before = params(model)
    SGD(model, 0.2).step()  # zero grads: pure decay
    np.testing.assert_allclose(model[1].params["W"], before["1.W"] * (1 - 0.2 * 0.5), rtol=1e-15)
    np.testing.assert_allclose(model[3].params["W"], before["3.W"] * (1 - 0.2 * 0.25), rtol=1e-15)


def test_weight_decay_float_override_decays_every_weight_and_replaces_layer_values():
    model = nnlib.mlp([3, 4, 2], weight_decay=[0.5, 0.0], dtype=np.float64)
    before = params(model)
    opt = SGD(model, 0.2, weight_decay=0.1)
    assert opt.weight_decay == {"1.W": 0.1, "3.W": 0.1}
    opt.step()
    for k in ("1.W", "3.W"):
        np.testing.assert_allclose(dict(params(model))[k], before[k] * (1 - 0.02), rtol=1e-15)
    for k in ("1.b", "3.b"):
        np.testing.assert_array_equal(params(model)[k], before[k])


def test_weight_decay_float_zero_disables_layer_values():
    model = nnlib.mlp([3, 4, 2], weight_decay=[0.5, 0.5])
    assert SGD(model, 0.1, weight_decay=0.0).weight_decay == {}


def test_weight_decay_dict_override():
    model = nnlib.mlp([3, 4, 2], weight_decay=[0.5, 0.5], dtype=np.float64)
    before = params(model)
    opt = SGD(model, 0.2, weight_decay={"3.W": 0.25})
    assert opt.weight_decay == {"3.W": 0.25}
    opt.step()
    np.testing.assert_array_equal(model[1].params["W"], before["1.W"])
    np.testing.assert_allclose(model[3].params["W"], before["3.W"] * 0.95, rtol=1e-15)


def test_weight_decay_dict_unknown_name_raises():
    model = nnlib.mlp([3, 4, 2])
    with pytest.raises(ValueError, match=r"2\.W"):
        SGD(model, 0.1, weight_decay={"2.W": 0.1})


def test_weight_decay_dict_naming_a_bias_raises():
    model = nnlib.mlp([3, 4, 2])
    with pytest.raises(ValueError, match=r"1\.b"):
        SGD(model, 0.1, weight_decay={"1.b": 0.1})


@pytest.mark.parametrize("wd", [-0.1, {"1.W": -1.0}, float("nan")])
def test_negative_weight_decay_raises(wd):
    with pytest.raises(ValueError, match="weight_decay"):
        SGD(nnlib.mlp([3, 4, 2]), 0.1, weight_decay=wd)


# ------------------------------------------------------------------------------ state dicts
OPTS = {"sgd": lambda m: SGD(m, 0.1, weight_decay=0.01),
        "momentum": lambda m: Momentum(m, 0.1, momentum=0.9, weight_decay=0.01),
        "nesterov": lambda m: Momentum(m, 0.1, momentum=0.9, nesterov=True),
        "adam": lambda m: Adam(m, 0.01, weight_decay=0.01)}


@pytest.mark.parametrize("kind", OPTS)
def test_state_dict_round_trip_continues_identically(kind, tmp_path):
    model_a = tiny()
    opt_a = OPTS[kind](model_a)
    run(opt_a, model_a, [G1, G2])
    state = opt_a.state_dict()
    # the buffers survive an npz round trip without pickle
    np.savez(tmp_path / "opt.npz", **{k.replace("/", "|"): v for k, v in state["buffers"].items()})
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        state["buffers"] = {k.replace("|", "/"): f[k] for k in f.files}

    model_b = tiny()
    model_b.load_state_dict(model_a.state_dict())
    opt_b = OPTS[kind](model_b)
    opt_b.load_state_dict(state)
    assert opt_b.steps == 2 and opt_b.lr == opt_a.lr
    run(opt_a, model_a, [G1, G2])
    run(opt_b, model_b, [G1, G2])
    for k in ("W", "b"):
        np.testing.assert_array_equal(model_b[0].params[k], model_a[0].params[k],
                                      err_msg=f"{kind}: {k} diverged after load_state_dict")


def test_state_dict_holds_copies():
    model = tiny()
    opt = Momentum(model, 0.1)
    run(opt, model, [G1])
    state = opt.state_dict()
    assert set(state["buffers"]) == {"0.W/velocity", "0.b/velocity"}
    run(opt, model, [G2])
    np.testing.assert_array_equal(state["buffers"]["0.W/velocity"], G1["W"])


def test_adam_state_keys_and_steps():
    model = tiny()
    opt = Adam(model)
    run(opt, model, [G1])
    state = opt.state_dict()
    assert state["type"] == "Adam" and state["steps"] == 1
    assert set(state["buffers"]) == {"0.W/exp_avg", "0.W/exp_avg_sq", "0.b/exp_avg",
                                     "0.b/exp_avg_sq"}


def test_load_state_dict_mismatches_raise():
    opt = Momentum(tiny(), 0.1)
    good = opt.state_dict()
    with pytest.raises(ValueError, match="Adam"):
        opt.load_state_dict(Adam(tiny()).state_dict())
    missing = dict(good, buffers={"0.W/velocity": good["buffers"]["0.W/velocity"]})
    with pytest.raises(ValueError, match=r"0\.b/velocity"):
        opt.load_state_dict(missing)
    bad_shape = dict(good, buffers=dict(good["buffers"], **{"0.b/velocity": np.zeros(4)}))
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad_shape)


# ------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("lr", [-0.1, 0, float("nan"), float("inf"), "0.1", True, None])
@pytest.mark.parametrize("cls", [SGD, Momentum, Adam])
def test_bad_lr_raises(cls, lr):
    with pytest.raises(ValueError, match="lr"):
        cls(tiny(), lr)


@pytest.mark.parametrize("momentum", [1, 1.5, -0.1, float("nan")])
def test_bad_momentum_raises(momentum):
    with pytest.raises(ValueError, match="momentum"):
        Momentum(tiny(), 0.1, momentum=momentum)


@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, 1.0), (-0.1, 0.999), (0.9,),
                                   (0.9, 0.99, 0.9), (float("nan"), 0.9), 0.9])
def test_bad_betas_raise(betas):
    with pytest.raises(ValueError, match="betas"):
        Adam(tiny(), 0.1, betas=betas)


@pytest.mark.parametrize("eps", [0, -1e-8, float("nan")])
def test_bad_eps_raises(eps):
    with pytest.raises(ValueError, match="eps"):
        Adam(tiny(), 0.1, eps=eps)


def test_model_without_parameters_raises():
    with pytest.raises(ValueError, match="no parameters"):
        SGD(nnlib.Sequential(nnlib.ReLU()), 0.1)


def test_build_optimizer():
    model = tiny()
    opt = build_optimizer({"type": "momentum", "lr": 0.05, "momentum": 0.8, "nesterov": True},
                          model)
    assert (type(opt), opt.lr, opt.momentum, opt.nesterov) == (Momentum, 0.05, 0.8, True)
    opt = build_optimizer({"type": "adam", "lr": 0.002, "betas": [0.8, 0.9], "eps": 1e-6}, model)
    assert (type(opt), opt.lr, opt.betas, opt.eps) == (Adam, 0.002, (0.8, 0.9), 1e-6)
    assert type(build_optimizer({"type": "sgd", "lr": 0.1}, model)) is SGD
    with pytest.raises(ValueError, match="rmsprop"):
        build_optimizer({"type": "rmsprop", "lr": 0.1}, model)


def test_momentum_flushes_denormal_velocity_to_zero_but_keeps_real_values():
    """Velocities of weights that stop receiving gradient decay into denormals (slow on x86);
    every FLUSH_EVERY steps they are set to 0, while ordinary values stay exactly as they were."""
    from nnlib.nn import optim as optim_mod
    model = nnlib.Sequential(nnlib.Linear(3, 2))
    opt = optim_mod.Momentum(model, lr=0.1, momentum=0.9)
    tiny = np.finfo(np.float32).tiny
    v = opt.velocity["0.W"]
    v[...] = np.array([[tiny / 8, -tiny / 3], [1e-3, -2.5e-2], [1e-30, 0.75]], dtype=np.float32)
    start = v.copy()
    for _, _, g in model.parameters():
        g[...] = 0
    for _ in range(optim_mod.FLUSH_EVERY):
        opt.step()
    decay = np.float32(0.9) ** optim_mod.FLUSH_EVERY
    assert v[0, 0] == 0 and v[0, 1] == 0 and v[2, 0] == 0, "denormal / negligible entries kept"
    np.testing.assert_allclose(v[1], start[1] * decay, rtol=1e-5)
    np.testing.assert_allclose(v[2, 1], start[2, 1] * decay, rtol=1e-5)
    assert np.count_nonzero((v != 0) & (np.abs(v) < tiny)) == 0


def test_adam_state_has_no_denormals_after_gradients_stop():
    model = nnlib.Sequential(nnlib.Linear(4, 3))
    opt = nnlib.Adam(model, lr=1e-3)
    for _, _, g in model.parameters():
        g[...] = 1.0
    opt.step()
    for _, _, g in model.parameters():
        g[...] = 0.0
    for _ in range(1500):  # 0.9**1500 ≈ 1e-69: far below float32's smallest normal
        opt.step()
    tiny = np.finfo(np.float32).tiny
    for key in ("exp_avg", "exp_avg_sq"):
        for name, arr in getattr(opt, key).items():
            assert np.count_nonzero((arr != 0) & (np.abs(arr) < tiny)) == 0, f"{key}[{name}]"


@pytest.mark.parametrize("make", [
    lambda m: nnlib.SGD(m, 0.1, weight_decay=1e-3),
    lambda m: nnlib.Momentum(m, 0.1, weight_decay=1e-3),
    lambda m: nnlib.Momentum(m, 0.1, nesterov=True),
    lambda m: nnlib.Adam(m, 1e-3, weight_decay=1e-2),
], ids=["sgd", "momentum", "nesterov", "adam"])
def test_two_thread_update_of_large_parameters_is_bit_identical(make):
    """Large parameters are updated in two halves on two threads; the result must be exactly
    the one-thread result (the update is elementwise)."""
    from nnlib.nn import parallel
    results = []
    for threads in (1, 2):
        with parallel.threads(threads):
            rng = np.random.default_rng(0)
            model = nnlib.Sequential(nnlib.Linear(600, 500))  # 300,000 weights: split path
            model[0].params["W"][...] = rng.standard_normal((600, 500))
            opt = make(model)
            for _ in range(5):
                for _, _, g in model.parameters():
                    g[...] = rng.standard_normal(g.shape)
                opt.step()
            results.append(model.state_dict())
    assert model[0].params["W"].size >= parallel.MIN_SIZE
    for name in results[0]:
        np.testing.assert_array_equal(results[0][name], results[1][name], err_msg=name)

