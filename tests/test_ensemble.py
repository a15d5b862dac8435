"""Seed ensembles: nnlib.Ensemble (soft voting) and experiments.ensemble over finished runs."""
import numpy as np
import pytest
from test_experiments import tiny

import nnlib
from nnlib.lab import experiments
from nnlib.nn.ensemble import Ensemble, softmax
from nnlib.nn.layers import Linear
from nnlib.nn.models import Sequential


def _linear_model(W, b):
    layer = Linear(*W.shape, dtype=np.float64)
    layer.params["W"][...] = W
    layer.params["b"][...] = b
    return Sequential(layer)


def test_softmax_rows_sum_to_one_and_survive_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    p = softmax(z.copy())
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(np.isfinite(p)) and p[0, 0] == pytest.approx(1.0)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(p[1], e / e.sum())


def test_ensemble_averages_the_members_probabilities():
    rng = np.random.default_rng(0)
    models = [_linear_model(rng.standard_normal((4, 3)), rng.standard_normal(3))
              for _ in range(3)]
    x = rng.standard_normal((7, 4))
    by_hand = np.mean([softmax(m.predict(x)) for m in models], axis=0)
    ens = Ensemble(models)
    np.testing.assert_allclose(ens.predict_proba(x), by_hand, rtol=1e-12)
    np.testing.assert_array_equal(ens.predict(x), by_hand.argmax(axis=1))
    y = rng.integers(0, 3, 7)
    scores = ens.evaluate(x, y)
    assert scores["accuracy"] == pytest.approx(np.mean(by_hand.argmax(axis=1) == y))
    assert scores["loss"] == pytest.approx(-np.mean(np.log(by_hand[np.arange(7), y])))


def test_soft_voting_can_overrule_the_majority():
    """Two members barely prefer class 0, one is sure of class 1: the mean of probabilities
    picks 1 (a majority vote would pick 0) - so this is soft voting, not hard voting."""
    x = np.ones((1, 1))
    weak0 = _linear_model(np.array([[0.1, 0.0]]), np.zeros(2))
    sure1 = _linear_model(np.array([[0.0, 10.0]]), np.zeros(2))
    assert Ensemble([weak0, weak0, sure1]).predict(x).tolist() == [1]


def test_one_member_ensemble_is_the_model():
    rng = np.random.default_rng(1)
    m = _linear_model(rng.standard_normal((4, 5)), rng.standard_normal(5))
    x = rng.standard_normal((9, 4))
    np.testing.assert_array_equal(Ensemble([m]).predict(x), m.predict(x).argmax(axis=1))


def test_ensemble_errors():
    with pytest.raises(ValueError, match="at least one model"):
        Ensemble([])
    a = _linear_model(np.zeros((2, 3)), np.zeros(3))
    b = _linear_model(np.zeros((2, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="member 1 gives"):
        Ensemble([a, b]).predict(np.zeros((1, 2)))


def test_experiments_ensemble_of_cached_runs(tmp_path, mnist_cache):
    cfg = tiny(epochs=1)
    results = [experiments.run(cfg, seed, runs_dir=tmp_path, progress="off")
               for seed in (0, 1)]
    ens = experiments.ensemble(results)
    assert ens["members"] == 2 and ens["seeds"] == [0, 1]
    x, y = experiments.load_data(cfg)["test"]
    by_hand = Ensemble([r.model() for r in results]).evaluate(x, y)
    assert ens["test_accuracy"] == by_hand["accuracy"]
    # a one-run "ensemble" is that run's own test accuracy (same model, same test set)
    assert experiments.ensemble(results[:1])["test_accuracy"] == pytest.approx(
        results[0].test_accuracy)
    with pytest.raises(ValueError, match="at least one finished run"):
        experiments.ensemble([])
    assert isinstance(nnlib.Ensemble([results[0].model()]), Ensemble)
