"""accuracy and confusion_matrix on small hand-worked cases, plus their argument errors."""
import math

import numpy as np
import pytest

from nnlib.nn.metrics import accuracy, confusion_matrix


def test_accuracy_from_class_indices():
    assert accuracy(np.array([0, 1, 2, 1]), np.array([0, 2, 2, 1])) == 0.75
    assert accuracy([3, 3], [3, 3]) == 1.0
    assert accuracy([1, 0], [0, 1]) == 0.0


def test_accuracy_from_scores_uses_the_argmax():
    scores = np.array([[0.1, 2.0, -1.0],    # → 1
                       [5.0, 4.0, 4.5],     # → 0
                       [0.0, 0.0, 0.0],     # tie → first index, 0
                       [-3.0, -2.0, -1.0]])  # → 2
    assert accuracy(scores, np.array([1, 1, 0, 2])) == 0.75


def test_accuracy_errors_and_empty():
    with pytest.raises(ValueError, match="shape"):
        accuracy(np.array([0, 1, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        accuracy(np.zeros((4, 3)), np.zeros(3, dtype=int))
    assert math.isnan(accuracy(np.array([], dtype=int), np.array([], dtype=int)))


def test_confusion_matrix_hand_case():
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    cm = confusion_matrix(y_true, y_pred, num_classes=3)
    # rows = true class, columns = predicted class
    expected = [[1, 1, 0],
                [0, 1, 0],
                [1, 0, 2]]
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64


def test_confusion_matrix_from_scores_and_default_size():
    scores = np.zeros((3, 10))
    scores[[0, 1, 2], [7, 3, 9]] = 1.0
    cm = confusion_matrix(np.array([7, 3, 1]), scores)
    assert cm.shape == (10, 10)
    expected = np.zeros((10, 10), dtype=np.int64)
    expected[7, 7] = expected[3, 3] = expected[1, 9] = 1
    np.testing.assert_array_equal(cm, expected)


def test_confusion_matrix_agrees_with_accuracy():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    cm = confusion_matrix(y, p, num_classes=4)
    assert cm.sum() == 50
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y, minlength=4))
    assert np.trace(cm) / 50 == accuracy(p, y)


def test_confusion_matrix_empty():
    cm = confusion_matrix(np.array([], dtype=int), np.array([], dtype=int), num_classes=2)
    np.testing.assert_array_equal(cm, np.zeros((2, 2)))


@pytest.mark.parametrize("y_true,y_pred,name", [
    ([0, 3], [0, 1], "y_true"),
    ([0, 1], [0, 3], "y_pred"),
    ([-1, 1], [0, 1], "y_true"),
    ([0, 1], [0, -2], "y_pred"),
])
def test_confusion_matrix_out_of_range_labels(y_true, y_pred, name):
    with pytest.raises(ValueError, match=name):
        confusion_matrix(y_true, y_pred, num_classes=3)


def test_confusion_matrix_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix([0, 1, 2], [0, 1], num_classes=3)
