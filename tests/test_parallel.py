"""nnlib.nn.parallel: fixed two-way splits of products and updates over a worker thread.

The contract: the split depends on shapes only, so 1 and 2 threads give the same numbers bit for
bit; the split products equal the plain ones; the two halves really run (and finish) before
``run_pair`` returns; errors propagate; nested and post-fork use does not hang.
"""
import os
import threading
import time
import warnings

import numpy as np
import pytest
from test_layers_grad import _randomize_params, check_layer

import nnlib
from nnlib.nn import parallel
from nnlib.nn.layers import Linear


@pytest.fixture(autouse=True)
def _restore_threads():
    old = parallel.get_threads()
    yield
    parallel.set_threads(old)


@pytest.fixture
def split_everything(monkeypatch):
    """Split every product and update, however small (so small float64 checks cover it)."""
    monkeypatch.setattr(parallel, "MIN_MATMUL_WORK", 1)
    monkeypatch.setattr(parallel, "MIN_SIZE", 2)


# ------------------------------------------------------------------------------- run_pair
@pytest.mark.parametrize("threads", [1, 2])
def test_run_pair_runs_both_and_waits_for_both(threads):
    parallel.set_threads(threads)
    done = []

    def slow_first():
        time.sleep(0.05)
        done.append("first")

    parallel.run_pair(slow_first, lambda: done.append("second"))
    assert sorted(done) == ["first", "second"]


def test_run_pair_uses_the_worker_thread_only_with_two_threads():
    seen = {}
    for threads in (1, 2):
        parallel.set_threads(threads)
        parallel.run_pair(lambda t=threads: seen.__setitem__(t, threading.current_thread()),
                          lambda: None)
    assert seen[1] is threading.main_thread()
    assert seen[2] is not threading.main_thread()
    assert seen[2].name.startswith("nnlib-parallel")


@pytest.mark.parametrize("threads", [1, 2])
def test_run_pair_raises_from_either_half_after_both_finished(threads):
    parallel.set_threads(threads)
    finished = []

    def slow_ok():
        time.sleep(0.05)
        finished.append(True)

    def fails():
        raise KeyError("second half")

    with pytest.raises(KeyError, match="second half"):
        parallel.run_pair(slow_ok, fails)
    assert finished == [True], "run_pair returned before the first half had finished"
    with pytest.raises(ZeroDivisionError):
        parallel.run_pair(lambda: 1 / 0, lambda: None)


def test_run_pair_nested_on_the_worker_does_not_deadlock():
    parallel.set_threads(2)
    order = []
    parallel.run_pair(lambda: parallel.run_pair(lambda: order.append("a"),
                                                lambda: order.append("b")),
                      lambda: order.append("c"))
    assert sorted(order) == ["a", "b", "c"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_run_pair_works_in_a_forked_child():
    """A forked child inherits the executor but not its thread; it must make its own."""
    parallel.set_threads(2)
    parallel.run_pair(lambda: None, lambda: None)  # the parent's worker exists
    with warnings.catch_warnings():
        # Python >= 3.12 warns that forking a multi-threaded process may deadlock: the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # child
        try:
            out = []
            parallel.run_pair(lambda: out.append(1), lambda: out.append(2))
            os._exit(0 if sorted(out) == [1, 2] else 3)
        except BaseException:
            os._exit(4)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("run_pair hung in a forked child")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0


def test_threads_setting_is_checked_and_restored():
    with pytest.raises(ValueError, match="nnlib threads must be 1 or 2"):
        parallel.set_threads(3)
    with pytest.raises(ValueError):
        parallel.set_threads(True)
    parallel.set_threads(2)
    with parallel.threads(1):
        assert parallel.get_threads() == 1
    assert parallel.get_threads() == 2


def test_halves():
    assert parallel.halves(7) == (slice(0, 3), slice(3, 7))
    assert parallel.halves(1) == (slice(0, 0), slice(0, 1))


# --------------------------------------------------------------------------------- matmul
@pytest.mark.parametrize("split", [0, 1])
@pytest.mark.parametrize("shape", [(32, 784, 1000), (33, 257, 131), (1, 5000, 900), (900, 5000, 1)])
def test_split_matmul_equals_numpy_and_is_thread_independent(shape, split, monkeypatch):
    m, k, n = shape
    monkeypatch.setattr(parallel, "MIN_MATMUL_WORK", 1)
    rng = np.random.default_rng(m * n)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    results = []
    for threads in (1, 2):
        parallel.set_threads(threads)
        results.append(parallel.matmul(a, b, split=split))
    np.testing.assert_array_equal(results[0], results[1])
    assert results[0].dtype == np.float32 and results[0].shape == (m, n)
    np.testing.assert_allclose(results[0], a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)


def test_split_matmul_into_out_with_transposed_operands():
    """The Linear layer's products: x.T @ dout into the gradient, dout @ W.T."""
    parallel.set_threads(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 784), dtype=np.float32)
    dout = rng.standard_normal((32, 1000), dtype=np.float32)
    W = rng.standard_normal((784, 1000), dtype=np.float32)
    g = np.full((784, 1000), np.nan, dtype=np.float32)
    assert parallel.matmul(x.T, dout, out=g, split=0) is g
    np.testing.assert_allclose(g, x.T.astype(np.float64) @ dout, rtol=1e-4, atol=1e-4)
    dx = parallel.matmul(dout, W.T, split=1)
    np.testing.assert_allclose(dx, dout.astype(np.float64) @ W.T, rtol=1e-4, atol=1e-3)


def test_split_matmul_mixed_dtypes_follow_numpy():
    a = np.ones((64, 300), dtype=np.float32)
    b = np.ones((300, 300), dtype=np.float64)
    out = parallel.matmul(a, b)
    assert out.dtype == np.float64 and np.all(out == 300)


def test_small_products_are_not_split(monkeypatch):
    calls = []
    monkeypatch.setattr(parallel, "run_pair", lambda f, s: calls.append(1) or (f(), s()))
    parallel.matmul(np.ones((32, 100)), np.ones((100, 10)))
    assert calls == []
    parallel.matmul(np.ones((32, 784)), np.ones((784, 1000)))
    assert calls == [1]


def test_matmul_rejects_bad_shapes_and_split():
    with pytest.raises(ValueError, match=r"\(m, k\) @ \(k, n\)"):
        parallel.matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="split"):
        parallel.matmul(np.ones((2, 3)), np.ones((3, 5)), split=2)


# ------------------------------------------------------------------- Linear through the split
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("seed", range(3))
def test_linear_gradients_through_the_split_path(seed, threads, split_everything):
    parallel.set_threads(threads)
    rng = np.random.default_rng(100 + seed)
    n, fin, fout = (int(v) for v in rng.integers(2, 9, size=3))
    layer = Linear(fin, fout, dtype=np.float64)
    _randomize_params(layer, rng)
    check_layer(layer, rng.standard_normal((n, fin)), rng, name=f"split Linear({fin}, {fout})")


def test_mlp_training_is_bit_identical_with_one_or_two_threads():
    """Products, updates and all: the thread count must not change a single bit."""
    rng = np.random.default_rng(0)
    x = rng.random((96, 784), dtype=np.float32)
    y = rng.integers(0, 10, 96)
    states = []
    for threads in (1, 2):
        parallel.set_threads(threads)
        model = nnlib.mlp([784, 1000, 10], "leakyrelu", init="normal0.1",
                          weight_decay=[1e-3, 1e-3], rng=np.random.default_rng(1))
        assert model[1].params["W"].size >= parallel.MIN_SIZE
        opt = nnlib.Momentum(model, 0.1)
        loss = nnlib.CrossEntropyLoss()
        for i in range(3):
            loss(model.forward(x[i * 32:(i + 1) * 32]), y[i * 32:(i + 1) * 32])
            model.backward(loss.backward())
            opt.step()
        states.append(model.state_dict())
    for name in states[0]:
        np.testing.assert_array_equal(states[0][name], states[1][name], err_msg=name)
