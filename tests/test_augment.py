"""Tests for nnlib.lab.augment: exact geometry on known cases, randomness, shapes, argument
checks."""
import dataclasses

import numpy as np
import pytest

from nnlib.lab.augment import (
    Augmentation,
    affine,
    append_augmented,
    overwrite_augmented,
    random_affine,
)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _shifted(x, dy, dx):
    """Reference: zero-filled translation of (N, H, W) by (dy, dx) pixels via np.roll."""
    out = np.roll(x, (dy, dx), axis=(1, 2))
    if dy > 0:
        out[:, :dy] = 0
    elif dy < 0:
        out[:, dy:] = 0
    if dx > 0:
        out[:, :, :dx] = 0
    elif dx < 0:
        out[:, :, dx:] = 0
    return out


def _blob(n=4, size=28, sigma=3.0):
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    g = np.exp(-(yy**2 + xx**2) / (2 * sigma**2)).astype(np.float32)
    return np.repeat(g[None], n, axis=0)


# ----------------------------------------------------------------------------- identities
@pytest.mark.parametrize("order", [0, 1])
def test_p_zero_is_identity(order):
    x = _rng().random((16, 28, 28), dtype=np.float32)
    out = random_affine(x, _rng(1), p=0.0, order=order)
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_zero_ranges_with_p_one_is_identity():
    x = _rng().random((16, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(random_affine(x, _rng(1), rotate=0.0, shift=0.0, p=1.0), x)


@pytest.mark.parametrize("order", [0, 1])
def test_affine_zero_transform_is_identity(order):
    x = _rng().random((5, 9, 11))
    np.testing.assert_array_equal(affine(x, np.zeros(5), np.zeros((5, 2)), order=order), x)


# ----------------------------------------------------------------------------- shifts
@pytest.mark.parametrize("dy,dx", [(1, 0), (0, -2), (3, 2), (-2, -3), (-1, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("order", [0, 1])
def test_integer_shift_equals_zero_filled_roll(dy, dx, dtype, order):
    x = _rng().random((3, 12, 10))
    x = (x * 255).astype(dtype) if dtype == np.uint8 else x.astype(dtype)
    out = affine(x, np.zeros(3), np.tile([dy, dx], (3, 1)), order=order)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, _shifted(x, dy, dx), err_msg=f"shift ({dy}, {dx})")


def test_shift_beyond_image_gives_zeros():
    x = _rng().random((2, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(affine(x, np.zeros(2), [[100, 0], [0, -9]]), 0)


def test_random_shifts_are_integer_and_in_range():
    # An impulse at the centre moves to exactly one pixel within +-floor(0.1 * 28) = 2.
    x = np.zeros((500, 28, 28), np.float32)
    x[:, 13, 13] = 1.0
    out = random_affine(x, _rng(3), rotate=0.0, shift=0.1, p=1.0)
    np.testing.assert_array_equal((out == 1.0).sum(axis=(1, 2)), 1)
    _, rows, cols = np.nonzero(out == 1.0)
    assert set(rows - 13) == set(range(-2, 3)) and set(cols - 13) == set(range(-2, 3))


# ----------------------------------------------------------------------------- rotations
@pytest.mark.parametrize("size", [7, 29])
@pytest.mark.parametrize("order", [0, 1])
def test_rot90_matches_numpy_counter_clockwise(size, order):
    x = _rng().random((4, size, size), dtype=np.float32)
    out = affine(x, np.full(4, 90.0), np.zeros((4, 2)), order=order)
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(1, 2)), atol=1e-5)
    out = affine(x, np.full(4, -90.0), np.zeros((4, 2)), order=order)
    np.testing.assert_allclose(out, np.rot90(x, -1, axes=(1, 2)), atol=1e-5)
    out = affine(x, np.full(4, 180.0), np.zeros((4, 2)), order=order)
    np.testing.assert_allclose(out, np.rot90(x, 2, axes=(1, 2)), atol=1e-5)


def test_rot90_even_size_and_channel_axis():
    x = _rng().random((2, 1, 28, 28), dtype=np.float32)
    out = affine(x, [90.0, 90.0], np.zeros((2, 2)))
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(2, 3)), atol=1e-5)


def test_rotation_360_is_identity():
    x = _rng().random((3, 15, 15))
    np.testing.assert_allclose(affine(x, np.full(3, 360.0), np.zeros((3, 2))), x, atol=1e-6)


def test_rotation_then_shift_order():
    x = _rng().random((2, 11, 11))
    both = affine(x, [90.0, 90.0], [[2, -1], [2, -1]])
    expected = _shifted(np.rot90(x, 1, axes=(1, 2)), 2, -1)
    np.testing.assert_allclose(both, expected, atol=1e-9)


@pytest.mark.parametrize("angle", [-10.0, -3.7, 5.0, 10.0, 33.0])
def test_rotation_keeps_centre_pixel_and_mass(angle):
    x = _rng().random((2, 29, 29), dtype=np.float32)
    out = affine(x, np.full(2, angle), np.zeros((2, 2)))
    np.testing.assert_allclose(out[:, 14, 14], x[:, 14, 14], rtol=1e-6)
    blob = _blob(2, 28)
    rotated = affine(blob, np.full(2, angle), np.zeros((2, 2)))
    ratio = rotated.sum(axis=(1, 2)) / blob.sum(axis=(1, 2))
    np.testing.assert_allclose(ratio, 1.0, atol=0.03, err_msg=f"mass after {angle} deg")


def test_positive_angle_turns_counter_clockwise_as_displayed():
    # A bar pointing right from the centre should end up pointing up (smaller row) after +90.
    x = np.zeros((1, 9, 9))
    x[0, 4, 5:] = 1.0
    out = affine(x, [90.0], [[0, 0]])
    assert out[0, :4, 4].sum() == pytest.approx(4.0) and out[0, 4, 5:].sum() == pytest.approx(0)


def test_uint8_rounds_and_stays_in_range():
    x = _rng().integers(0, 256, (8, 28, 28), dtype=np.uint8)
    out = affine(x, np.linspace(-10, 10, 8), np.full((8, 2), 0.5))
    assert out.dtype == np.uint8
    ref = affine(x.astype(np.float32), np.linspace(-10, 10, 8), np.full((8, 2), 0.5))
    assert np.abs(out.astype(np.float32) - ref).max() <= 0.5 + 1e-3


def test_float32_stays_float32_and_float64_stays_float64():
    for dtype in (np.float32, np.float64):
        x = _rng().random((4, 28, 28)).astype(dtype)
        assert random_affine(x, _rng(), p=1.0).dtype == dtype


# ----------------------------------------------------------------------------- randomness
def test_same_seed_same_output_different_seed_differs():
    x = _rng().random((64, 28, 28), dtype=np.float32)
    a = random_affine(x, _rng(7))
    b = random_affine(x, _rng(7))
    c = random_affine(x, _rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fraction_rotated_is_about_p():
    # With shift=0 an image changes iff it was rotated (a nonzero angle changes a random image).
    n = 4000
    x = _rng().random((n, 8, 8), dtype=np.float32)
    out = random_affine(x, _rng(5), rotate=10.0, shift=0.0, p=0.5)
    changed = ~np.all(out == x, axis=(1, 2))
    assert 0.45 < changed.mean() < 0.55
    out = random_affine(x, _rng(5), rotate=10.0, shift=0.0, p=0.2)
    assert 0.16 < (~np.all(out == x, axis=(1, 2))).mean() < 0.24


def test_flat_square_images_supported():
    x = _rng().random((6, 784), dtype=np.float32)
    out = random_affine(x, _rng(2), p=1.0)
    assert out.shape == (6, 784)
    ref = random_affine(x.reshape(6, 28, 28), _rng(2), p=1.0)
    np.testing.assert_array_equal(out, ref.reshape(6, 784))


def test_nchw_and_nhw_agree():
    x = _rng().random((5, 28, 28), dtype=np.float32)
    a = random_affine(x, _rng(4), p=1.0)
    b = random_affine(x[:, None], _rng(4), p=1.0)
    assert b.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(a, b[:, 0])


def test_empty_batch():
    x = np.zeros((0, 28, 28), np.float32)
    assert random_affine(x, _rng()).shape == (0, 28, 28)
    assert affine(x, np.zeros(0), np.zeros((0, 2))).shape == (0, 28, 28)


def test_nearest_keeps_original_values():
    x = _rng().integers(0, 5, (10, 28, 28)).astype(np.float32)
    out = random_affine(x, _rng(1), p=1.0, order=0)
    assert set(np.unique(out)) <= set(np.unique(x)) | {0.0}


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    "kw,name",
    [({"p": 1.5}, "p"), ({"p": -0.1}, "p"), ({"p": float("nan")}, "p"),
     ({"rotate": -1.0}, "rotate"), ({"rotate": float("inf")}, "rotate"),
     ({"shift": 0.5}, "shift"), ({"shift": -0.1}, "shift"), ({"order": 3}, "order")],
)
def test_random_affine_bad_args(kw, name):
    with pytest.raises(ValueError, match=name):
        random_affine(np.zeros((2, 28, 28), np.float32), _rng(), **kw)


def test_rng_must_be_generator():
    x = np.zeros((2, 28, 28), np.float32)
    for bad in (0, np.random.RandomState(0), None):
        with pytest.raises(TypeError, match="rng"):
            random_affine(x, bad)


def test_affine_bad_args():
    x = np.zeros((3, 28, 28), np.float32)
    with pytest.raises(ValueError, match="angles_deg"):
        affine(x, np.zeros(2), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shifts"):
        affine(x, np.zeros(3), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="images"):
        affine(np.zeros((3, 2, 28, 28), np.float32), np.zeros(3), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="images"):
        affine(np.zeros((3, 28, 28), np.int64), np.zeros(3), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="finite"):
        affine(x, [0, np.nan, 0], np.zeros((3, 2)))


# ----------------------------------------------------------------------------- append mode
def test_append_augmented():
    x = _rng().random((20, 28, 28), dtype=np.float32)
    y = np.arange(20) % 10
    x2, y2 = append_augmented(x, y, _rng(1), p=1.0)
    assert x2.shape == (40, 28, 28) and x2.dtype == np.float32
    np.testing.assert_array_equal(x2[:20], x)
    np.testing.assert_array_equal(y2, np.concatenate([y, y]))
    assert not np.array_equal(x2[20:], x)
    with pytest.raises(ValueError, match="same length"):
        append_augmented(x, y[:5], _rng())


def test_overwrite_augmented_is_the_augmented_set_twice():
    # the report's runner as it ran: with A = augment(x, rng) the set is exactly [A, A]
    x = _rng().random((400, 28, 28), dtype=np.float32)
    y = np.arange(400) % 10
    a = random_affine(x, _rng(5))
    x2, y2 = overwrite_augmented(x, y, _rng(5))
    assert x2.shape == (800, 28, 28) and x2.dtype == np.float32
    np.testing.assert_array_equal(x2, np.concatenate([a, a]))
    np.testing.assert_array_equal(y2, np.concatenate([y, y]))
    # no clean originals beyond the ones the draw left alone (p = 0.5 twice: about a quarter)
    same = np.array([np.array_equal(a[i], x[i]) for i in range(len(x))])
    assert 0.15 < same.mean() < 0.35, same.mean()
    changed = np.flatnonzero(~same)
    assert not any(np.array_equal(x2[i], x[i]) for i in changed)  # first copy
    assert not any(np.array_equal(x2[400 + i], x[i]) for i in changed)  # second copy
    with pytest.raises(ValueError, match="same length"):
        overwrite_augmented(x, y[:5], _rng())


def test_append_with_p_zero_is_every_original_twice():
    x = _rng().random((30, 28, 28), dtype=np.float32)
    x2, y2 = append_augmented(x, np.arange(30), _rng(2), p=0.0)
    np.testing.assert_array_equal(x2, np.concatenate([x, x]))
    np.testing.assert_array_equal(y2, np.concatenate([np.arange(30)] * 2))


@pytest.mark.parametrize("mode", ["online", "append", "overwrite"])
def test_augmentation_expand_builds_the_set_each_mode_trains_on(mode):
    x = _rng().random((12, 28, 28), dtype=np.float32)
    y = np.arange(12)
    x2, y2 = Augmentation(mode=mode).expand(x, y, _rng(7))
    expected = {"online": lambda: (x, y),
                "append": lambda: append_augmented(x, y, _rng(7)),
                "overwrite": lambda: overwrite_augmented(x, y, _rng(7))}[mode]()
    np.testing.assert_array_equal(x2, expected[0])
    np.testing.assert_array_equal(y2, expected[1])


# ----------------------------------------------------------------------------- dataclass
def test_augmentation_dataclass():
    aug = Augmentation()
    assert aug.to_dict() == {"mode": "online", "rotate": 10.0, "shift": 0.1, "p": 0.5}
    assert Augmentation.from_dict(aug.to_dict()) == aug
    x = _rng().random((8, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(aug(x, _rng(3)), random_affine(x, _rng(3)))
    x2, y2 = Augmentation(mode="append").append(x, np.arange(8), _rng(3))
    assert x2.shape == (16, 28, 28) and y2.shape == (16,)
    with pytest.raises(dataclasses.FrozenInstanceError):
        aug.p = 0.3  # frozen


@pytest.mark.parametrize(
    "kw,name",
    [({"mode": "Online"}, "mode"), ({"mode": "offline"}, "mode"), ({"p": 2.0}, "p"),
     ({"rotate": -5.0}, "rotate"), ({"shift": 0.6}, "shift")],
)
def test_augmentation_validation(kw, name):
    with pytest.raises(ValueError, match=name):
        Augmentation(**kw)
    with pytest.raises(TypeError, match="p must be a number"):
        Augmentation(p="0.5")


def test_augmentation_mode_message_lists_allowed_values():
    with pytest.raises(ValueError, match="'online', 'append'"):
        Augmentation(mode="x")
    with pytest.raises(ValueError, match="unknown"):
        Augmentation.from_dict({"mode": "online", "angle": 3})
