"""Sequential, the MLP/CNN builders, initialisation, and npz save/load (round trip, corrupt files,
atomicity, no pickle)."""
import json
import os

import numpy as np
import pytest

from nnlib.nn.layers import Conv2D, Flatten, Linear, MaxPool2D, ReLU
from nnlib.nn.models import Sequential, build_model, cnn, init_weights, load, mlp, save


def small_cnn(**kw):
    # 12×10 → conv3 → 10×8 → pool → 5×4 → conv3 → 3×2 → pool → 1×1: flattens to 3
    return cnn([1, 2, 3], [3, 3], [3, 4, 2], input_shape=(1, 12, 10), **kw)


# ------------------------------------------------------------------------ naming and counting
def test_mlp_parameter_names_and_shapes():
    model = mlp([4, 3, 2])  # 0 Flatten, 1 Linear, 2 ReLU, 3 Linear
    shapes = {name: p.shape for name, p, _ in model.parameters()}
    assert shapes == {"1.W": (4, 3), "1.b": (3,), "3.W": (3, 2), "3.b": (2,)}
    names = [name for name, _, _ in mlp([4, 3, 2], dropout=0.5).parameters()]
    assert names == ["1.W", "1.b", "4.W", "4.b"]  # 3 is the Dropout


def test_cnn_parameter_names_and_shapes():
    model = small_cnn()
    # 0 conv, 1 act, 2 pool, 3 conv, 4 act, 5 pool, 6 flatten, 7 linear, 8 act, 9 linear
    shapes = {name: p.shape for name, p, _ in model.parameters()}
    assert shapes == {"0.W": (2, 1, 3, 3), "0.b": (2,), "3.W": (3, 2, 3, 3), "3.b": (3,),
                      "7.W": (3, 4), "7.b": (4,), "9.W": (4, 2), "9.b": (2,)}
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [Conv2D, ReLU, MaxPool2D, Conv2D, ReLU, MaxPool2D, Flatten, Linear, ReLU,
                     Linear]


def test_parameters_yield_the_layers_own_arrays():
    model = small_cnn()
    for name, p, g in model.parameters():
        i, key = name.split(".")
        layer = model[int(i)]
        assert p is layer.params[key] and g is layer.grads[key], name
        assert g.shape == p.shape and g.dtype == p.dtype, name


def test_num_parameters_of_the_report_mlp():
    assert mlp([784, 1000, 10]).num_parameters() == 784 * 1000 + 1000 + 1000 * 10 + 10 == 795_010


def test_num_parameters_of_the_report_cnns():
    # seed report: channels [1, 6, 16], kernels 5, 5: 28 → 24 → 12 → 8 → 4, flatten 16·4·4 = 256
    seed = cnn([1, 6, 16], [5, 5], [256, 128, 64, 10], activation="leakyrelu")
    expected = ((6 * 1 * 5 * 5 + 6) + (16 * 6 * 5 * 5 + 16)
                + (256 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10))
    assert expected == 44_374
    assert seed.num_parameters() == expected
    # improved: [1, 32, 64], 3×3, padding 1: 28 → 28 → 14 → 14 → 7, flatten 64·7·7 = 3136
    improved = cnn([1, 32, 64], [3, 3], [3136, 128, 10], padding=1)
    expected = (32 * 9 + 32) + (64 * 32 * 9 + 64) + (3136 * 128 + 128) + (128 * 10 + 10)
    assert improved.num_parameters() == expected == 421_642
    assert "421,642 parameters" in repr(improved)


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match="layer 1"):
        Sequential(Linear(2, 2), lambda x: x)


def test_only_layers_up_to_the_first_parametrised_one_skip_dx():
    model = mlp([4, 3, 2])
    assert [layer.needs_input_grad for layer in model.layers] == [False, False, True, True]


# -------------------------------------------------------------------------------- train/eval
def _manual_mlp_logits(model, x):
    """relu(x·W1 + b1)·W3 + b3 for an mlp([n, h, c]) (Dropout ignored: eval mode)."""
    lin = [layer for layer in model.layers if isinstance(layer, Linear)]
    h = np.maximum(x.reshape(len(x), -1) @ lin[0].params["W"] + lin[0].params["b"], 0)
    return h @ lin[1].params["W"] + lin[1].params["b"]


def test_train_eval_changes_dropout_only():
    x = np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32)
    model = mlp([6, 50, 3], dropout=0.5, dtype=np.float64)
    assert model.training and all(layer.training for layer in model.layers)
    a, b = model.forward(x), model.forward(x)
    assert not np.allclose(a, b), "Dropout in training mode should draw a new mask each call"
    assert model.eval() is model
    assert not model.training and not any(layer.training for layer in model.layers)
    np.testing.assert_allclose(model.forward(x), _manual_mlp_logits(model, x), rtol=1e-12)
    model.train()
    assert all(layer.training for layer in model.layers)

    plain = mlp([6, 50, 3], dtype=np.float64)  # no Dropout: the mode changes nothing
    np.testing.assert_array_equal(plain.train().forward(x), plain.eval().forward(x))


@pytest.mark.parametrize("batch_size", [1, 3, 10, 1000])
def test_predict_matches_eval_forward_and_batches(batch_size):
    x = np.random.default_rng(1).standard_normal((10, 2, 3)).astype(np.float32)
    model = mlp([6, 5, 3], dropout=0.3, dtype=np.float64)
    ref = _manual_mlp_logits(model, x)
    out = model.predict(x, batch_size=batch_size)
    assert out.shape == (10, 3)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    assert model.training, "predict must restore training mode"
    for layer in model.layers:
        for attr in ("_x", "_mask", "_xshape"):
            assert getattr(layer, attr, None) is None, f"{layer!r}: {attr} kept after predict"
    model.eval()
    model.predict(x, batch_size=batch_size)
    assert not model.training, "predict must leave an eval model in eval mode"


def test_predict_cnn_matches_forward():
    x = np.random.default_rng(2).standard_normal((7, 1, 12, 10)).astype(np.float32)
    model = small_cnn(dropout=0.5)
    ref = model.eval().forward(x).copy()
    model.train()
    np.testing.assert_allclose(model.predict(x, batch_size=2), ref, rtol=1e-6, atol=1e-7)


# -------------------------------------------------------------------------------------- init
@pytest.mark.parametrize("scheme", ["normal0.1", "he", "xavier"])
def test_init_scheme_std(scheme):
    lin = Linear(400, 300)
    conv = Conv2D(16, 32, 3)
    model = Sequential(lin, ReLU(), Flatten(), conv)
    for p in (lin.params["b"], conv.params["b"]):
        p.fill(5)
    init_weights(model, scheme, np.random.default_rng(0))
    # fan_in, fan_out: Linear 400, 300; Conv 16·3·3 = 144, 32·3·3 = 288
    expected = {"normal0.1": (0.1, 0.1),
                "he": (np.sqrt(2 / 400), np.sqrt(2 / 144)),
                "xavier": (np.sqrt(2 / 700), np.sqrt(2 / 432))}[scheme]
    for layer, std in zip((lin, conv), expected):
        W = layer.params["W"]
        assert abs(W.std() / std - 1) < 0.05, f"{scheme}/{layer!r}: std {W.std():.4g} vs {std:.4g}"
        assert abs(W.mean()) < 4 * std / np.sqrt(W.size), f"{scheme}/{layer!r}: mean {W.mean()}"
        assert not layer.params["b"].any(), f"{scheme}/{layer!r}: bias not zeroed"
        assert W.dtype == np.float32


def test_init_is_seeded_and_rejects_unknown_schemes():
    a = mlp([5, 4, 3], rng=np.random.default_rng(7)).state_dict()
    b = mlp([5, 4, 3], rng=np.random.default_rng(7)).state_dict()
    c = mlp([5, 4, 3], rng=np.random.default_rng(8)).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["1.W"], c["1.W"])
    with pytest.raises(ValueError, match="kaiming"):
        init_weights(mlp([2, 2]), "kaiming")


# ---------------------------------------------------------------------------------- builders
@pytest.mark.parametrize("call,match", [
    (lambda: mlp([784]), "sizes"),
    (lambda: mlp([784, 0, 10]), "sizes"),
    (lambda: mlp([784, -5, 10]), "sizes"),
    (lambda: mlp([4, 3, 2], weight_decay=[0.1]), "weight_decay"),
    (lambda: mlp([4, 3, 2], weight_decay=[0.1, -0.1]), "weight_decay"),
    (lambda: mlp([4, 3, 2], weight_decay=-0.1), "weight_decay"),
    (lambda: mlp([4, 3, 2], activation="sigmod"), "did you mean 'sigmoid'"),
    (lambda: mlp([4, 3, 2], dropout=1.0), r"dropout: 1\.0 must be in \[0, 1\)"),
    (lambda: mlp([4, 3, 2], init="uniform"), "uniform"),
    (lambda: cnn([1, 2, 3], [3, 3], [4, 4, 2], input_shape=(1, 12, 10)), r"linear_sizes\[0\]"),
    (lambda: cnn([1, 6, 16], [5, 5], [255, 10]), r"linear_sizes\[0\]: 255 must be 256"),
    (lambda: cnn([1, 2, 3], [3], [3, 2], input_shape=(1, 12, 10)), "kernels"),
    (lambda: cnn([3, 2], [3], [2, 2], input_shape=(1, 12, 10)), "channel"),
    (lambda: cnn([1, 2, 3], [5, 5], [3, 2], input_shape=(1, 8, 8)), r"kernels\[1\].*too big"),
    (lambda: cnn([1, 2, 3], [3, 3], [3, 4, 2], input_shape=(1, 12, 10),
                 weight_decay=[0.1]), "weight_decay"),
    (lambda: cnn([1, 2, 3], [3, 3], [3, 4, 2], input_shape=(1, 12, 10),
                 linear_weight_decay=[0.1, 0.1, 0.1]), "linear_weight_decay"),
])
def test_builder_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_conv_output_shape_takes_numpy_integers():
    from nnlib.nn.models import conv_output_shape
    k = np.int64(5)
    assert conv_output_shape([1, 6, 16], [k, [k, k]]) == (16, 4, 4)


def test_build_model_from_dicts():
    m = build_model({"type": "mlp", "sizes": [6, 4, 3], "activation": "tanh",
                     "weight_decay": [0.1, 0.2], "dropout": 0.5})
    assert [type(layer).__name__ for layer in m.layers] == [
        "Flatten", "Linear", "Tanh", "Dropout", "Linear"]
    assert m.weight_decay == {"1.W": 0.1, "4.W": 0.2}
    c = build_model({"type": "cnn", "channels": [1, 32, 64], "kernels": [[3, 3], [3, 3]],
                     "padding": 1, "linear_sizes": [3136, 128, 10]})
    assert c[0].padding == (1, 1) and c.num_parameters() == 421_642
    assert c.l2 == {}
    d = build_model({"type": "cnn", "channels": [1, 6, 16], "kernels": [[5, 5], [5, 5]],
                     "linear_sizes": [256, 10], "weight_decay": [1e-3, 2e-3],
                     "linear_weight_decay": [3e-3], "conv_decay": "double"})
    assert d.l2 == {"0.W": 1e-3, "3.W": 2e-3}
    assert d.weight_decay == {"0.W": 1e-3, "3.W": 2e-3, "7.W": 3e-3}
    with pytest.raises(ValueError, match="rnn"):
        build_model({"type": "rnn"})


def test_state_dict_copies_and_load_state_dict_checks():
    model = mlp([4, 3, 2])
    state = model.state_dict()
    state["1.W"] += 1
    assert not np.array_equal(model[1].params["W"], state["1.W"])
    model.load_state_dict(state)
    np.testing.assert_array_equal(model[1].params["W"], state["1.W"])
    with pytest.raises(ValueError, match=r"missing \['3.b'\]"):
        model.load_state_dict({k: v for k, v in state.items() if k != "3.b"})
    with pytest.raises(ValueError, match=r"1\.W: shape"):
        model.load_state_dict(dict(state, **{"1.W": np.zeros((3, 4))}))


# --------------------------------------------------------------------------------- save/load
MODELS = {
    "mlp": lambda: mlp([6, 5, 3], activation="leakyrelu", weight_decay=[0.01, 0.02]),
    "mlp_dropout_f64": lambda: mlp([6, 5, 4, 3], dropout=0.3, init="xavier", dtype=np.float64),
    "cnn": lambda: small_cnn(weight_decay=[0.1, 0.0], linear_weight_decay=[0.0, 0.3]),
    "cnn_double_decay": lambda: small_cnn(weight_decay=[0.1, 0.2], conv_decay="double"),
    "cnn_dropout_pad": lambda: cnn([1, 2, 3], [[3, 2], 3], [18, 4, 2], padding=1, dropout=0.25,
                                   activation="tanh", input_shape=(1, 12, 10)),
}


def _input_for(model, n=5):
    rng = np.random.default_rng(3)
    if isinstance(model[0], Conv2D):
        return rng.standard_normal((n, 1, 12, 10)).astype(np.float32)
    return rng.standard_normal((n, 6)).astype(np.float32)


@pytest.mark.parametrize("kind", MODELS)
def test_save_load_round_trip(kind, tmp_path):
    model = MODELS[kind]()
    model.meta = {"config": kind, "valid_acc": 0.5}
    path = tmp_path / "sub" / "model.npz"
    save(model, path)
    loaded = load(path)
    assert loaded.architecture() == model.architecture()
    assert loaded.dtype == model.dtype
    assert loaded.meta == model.meta
    assert loaded.weight_decay == model.weight_decay
    assert loaded.l2 == model.l2
    a, b = model.state_dict(), loaded.state_dict()
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{kind}: {k}")
        assert a[k].dtype == b[k].dtype
    x = _input_for(model)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert os.listdir(path.parent) == ["model.npz"], "temporary files left behind"


def test_save_keeps_a_suffixless_path_as_given(tmp_path):
    model = MODELS["mlp"]()
    model.save(tmp_path / "best.model")
    assert os.listdir(tmp_path) == ["best.model"]
    x = _input_for(model)
    np.testing.assert_array_equal(load(tmp_path / "best.model").predict(x), model.predict(x))


def test_saved_file_never_needs_pickle(tmp_path):
    path = tmp_path / "m.npz"
    save(MODELS["cnn_dropout_pad"](), path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}  # would raise if any entry needed pickle
    assert all(a.dtype != object for a in arrays.values())
    header = json.loads(str(arrays["__header__"]))
    assert header["format"] == "nnlib-model/1"


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        load(tmp_path / "nope.npz")


def _assert_load_fails(path):
    with pytest.raises(ValueError) as info:
        load(path)
    assert str(path) in str(info.value), f"message does not name the file: {info.value}"


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_load_truncated_file(tmp_path, fraction):
    path = tmp_path / "m.npz"
    save(MODELS["mlp"](), path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    _assert_load_fails(path)


def test_load_random_bytes(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _assert_load_fails(path)


def test_load_valid_npz_that_is_not_a_model(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros((3, 4)), y=np.arange(3))
    _assert_load_fails(path)


def _rewrite_header(src, dst, edit):
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays["__header__"]))
    arrays["__header__"] = np.array(json.dumps(edit(header)))
    np.savez(dst, **arrays)


@pytest.mark.parametrize("edit", [
    # another architecture's header on these weights: 5 hidden units become 7
    lambda h: dict(h, architecture=mlp([6, 7, 3]).architecture()),
    lambda h: dict(h, architecture=small_cnn().architecture()),
    lambda h: dict(h, architecture=h["architecture"][:-1]),      # last Linear dropped
    lambda h: dict(h, architecture=[dict(h["architecture"][1], type="Conv3D")]),
    lambda h: dict(h, architecture=[dict(h["architecture"][1], in_features=-1)]),
    lambda h: dict(h, architecture=7),
    lambda h: dict(h, format="nnlib-model/999"),
    lambda h: dict(h, dtype="float99"),
    lambda h: {k: v for k, v in h.items() if k != "architecture"},
    lambda h: [h],                                                  # not a JSON object
    lambda h: "nnlib-model/1",
], ids=["other-mlp", "cnn-header", "dropped-layer", "unknown-type", "bad-size", "arch-int",
        "format", "dtype", "no-arch", "list", "string"])
def test_load_tampered_header(tmp_path, edit):
    src, dst = tmp_path / "m.npz", tmp_path / "tampered.npz"
    save(MODELS["mlp"](), src)
    _rewrite_header(src, dst, edit)
    _assert_load_fails(dst)


def test_load_non_json_header(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, __header__=np.array("{not json"), **{"param/1.W": np.zeros((6, 5))})
    _assert_load_fails(path)


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    first = MODELS["mlp"]()
    save(first, path)
    before = path.read_bytes()

    def broken_savez(file, *args, **kwds):
        file.write(b"PK\x03\x04 half a zip")
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="disk full"):
        save(MODELS["mlp_dropout_f64"](), path)
    monkeypatch.undo()
    assert path.read_bytes() == before, "a failed save damaged the previous file"
    assert os.listdir(tmp_path) == ["model.npz"], "a failed save left a temporary file"
    x = _input_for(first)
    np.testing.assert_array_equal(load(path).predict(x), first.predict(x))


def test_save_refuses_object_arrays(tmp_path):
    model = MODELS["mlp"]()
    model.meta = {"note": "json-able meta is fine"}
    save(model, tmp_path / "ok.npz")
    model[1].params["W"] = np.array([[None]], dtype=object)
    with pytest.raises(ValueError, match="object"):
        save(model, tmp_path / "bad.npz")
    assert sorted(os.listdir(tmp_path)) == ["ok.npz"]
