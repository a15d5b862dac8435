"""Tests for nnlib.lab.augment: exact geometry on known cases, randomness, shapes, argument
checks; elastic distortion: known fields, field statistics against their analytic values, and
bit-identical old behaviour when it is off."""
import dataclasses
import math

import numpy as np
import pytest

from nnlib.lab.augment import (
    Augmentation,
    affine,
    append_augmented,
    displace,
    elastic,
    elastic_field,
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
    assert aug.to_dict() == {"mode": "online", "rotate": 10.0, "shift": 0.1, "p": 0.5,
                             "elastic_alpha": 0.0, "elastic_sigma": 4.0}
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
     ({"rotate": -5.0}, "rotate"), ({"shift": 0.6}, "shift"),
     ({"elastic_alpha": -1.0}, "elastic_alpha"), ({"elastic_alpha": math.nan}, "elastic_alpha"),
     ({"elastic_sigma": 0.0}, "elastic_sigma"), ({"elastic_sigma": math.inf}, "elastic_sigma")],
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


# ============================================================================= elastic distortion
def _kernel(sigma):
    """The documented 1-D kernel, built independently: Gaussian, radius int(4 sigma + 0.5),
    normalised to sum 1 over that radius."""
    radius = int(4 * sigma + 0.5)
    t = np.arange(-radius, radius + 1)
    k = np.exp(-t**2 / (2 * sigma**2))
    return k / k.sum()


def _smoothing_matrix(n, sigma):
    """(n, n) zero-padded smoothing with ``_kernel``: row i holds k centred on i, cut at the
    borders (not re-normalised)."""
    k = _kernel(sigma)
    radius = len(k) // 2
    g = np.zeros((n, n))
    for i in range(n):
        for j in range(max(0, i - radius), min(n, i + radius + 1)):
            g[i, j] = k[j - i + radius]
    return g


def _old_random_affine(x, rng, rotate=10.0, shift=0.1, p=0.5):
    """The augmentation as it was before elastic distortion existed: its draws, in its order,
    then the deterministic core on the images that changed."""
    n, h, w = x.shape
    do_rot = rng.random(n) < p
    angles = rng.uniform(-rotate, rotate, size=n)
    do_shift = rng.random(n) < p
    ky, kx = math.floor(shift * h), math.floor(shift * w)
    offs = np.stack([rng.integers(-ky, ky + 1, size=n), rng.integers(-kx, kx + 1, size=n)], axis=1)
    angles[~do_rot] = 0.0
    offs[~do_shift] = 0
    out = x.copy()
    sel = np.flatnonzero((angles != 0.0) | (offs != 0).any(axis=1))
    out[sel] = affine(x[sel], angles[sel], offs[sel])
    return out, angles, offs


# ----------------------------------------------------------------------------- identities
def test_elastic_alpha_zero_is_identity_and_draws_nothing():
    x = _rng().random((20, 28, 28), dtype=np.float32)
    rng = _rng(1)
    before = rng.bit_generator.state
    out = elastic(x, rng, alpha=0.0)
    np.testing.assert_array_equal(out, x)
    assert out is not x and out.dtype == x.dtype
    assert rng.bit_generator.state == before, "alpha=0 consumed random numbers"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("order", [0, 1])
def test_displace_zero_field_is_identity(dtype, order):
    x = (_rng().random((6, 13, 9)) * 255).astype(dtype)
    zero = np.zeros((6, 13, 9))
    np.testing.assert_array_equal(displace(x, zero, zero, order=order), x)


@pytest.mark.parametrize("mode", ["online", "append", "overwrite"])
def test_elastic_off_gives_exactly_the_old_numbers_and_draws(mode):
    # The pre-elastic algorithm, re-implemented above; the same seed must give the same bits and
    # leave the generator in the same state (nothing extra drawn), default and explicit alpha 0.
    x = _rng().random((300, 28, 28), dtype=np.float32)
    y = np.arange(300) % 10
    for aug in (Augmentation(mode=mode), Augmentation(mode=mode, elastic_alpha=0.0,
                                                      elastic_sigma=9.0)):
        ref_rng, rng = _rng(11), _rng(11)
        ref, _, _ = _old_random_affine(x, ref_rng)
        if mode == "online":
            np.testing.assert_array_equal(aug(x, rng), ref)
        else:
            x2, y2 = aug.expand(x, y, rng)
            first = x if mode == "append" else ref
            np.testing.assert_array_equal(x2, np.concatenate([first, ref]))
            np.testing.assert_array_equal(y2, np.concatenate([y, y]))
        assert rng.bit_generator.state == ref_rng.bit_generator.state, f"{aug}: draws changed"


# ----------------------------------------------------------------------------- known fields
@pytest.mark.parametrize("fy,fx", [(0, 1), (0, -2), (1, 0), (-3, 0), (2, -1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("order", [0, 1])
def test_constant_integer_field_is_a_zero_filled_shift(fy, fx, dtype, order):
    # sampling at (r + fy, c + fx) moves the content by (-fy, -fx)
    x = _rng().random((3, 12, 10))
    x = (x * 255).astype(dtype) if dtype == np.uint8 else x.astype(dtype)
    out = displace(x, np.full((3, 12, 10), fy), np.full((3, 12, 10), fx), order=order)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, _shifted(x, -fy, -fx), err_msg=f"field ({fy}, {fx})")


def test_half_pixel_field_interpolates_between_neighbours():
    x = _rng().random((2, 9, 9))
    out = displace(x, np.zeros((2, 9, 9)), np.full((2, 9, 9), 0.5))
    np.testing.assert_allclose(out[:, :, :-1], 0.5 * (x[:, :, :-1] + x[:, :, 1:]), atol=1e-12)
    np.testing.assert_allclose(out[:, :, -1], 0.5 * x[:, :, -1], atol=1e-12)  # half outside: 0


def test_per_pixel_field_moves_each_pixel_on_its_own():
    # a field that is nonzero at one output pixel only changes that pixel
    x = _rng().random((1, 8, 8))
    dy, dx = np.zeros((1, 8, 8)), np.zeros((1, 8, 8))
    dy[0, 3, 4], dx[0, 3, 4] = 2, -3
    out = displace(x, dy, dx)
    expected = x.copy()
    expected[0, 3, 4] = x[0, 5, 1]
    np.testing.assert_array_equal(out, expected)


def test_affine_with_field_composes_in_one_pass():
    # out[p] = in(A^-1(p) + d(p)): the field is in the input's axes. With a 90-degree turn, a
    # step right in the input (dx = 1) is a step up in the turned image, which therefore moves
    # one pixel down.
    x = _rng().random((2, 11, 11))
    ones, zeros = np.ones((2, 11, 11)), np.zeros((2, 11, 11))
    out = affine(x, [90.0, 90.0], np.zeros((2, 2)), dy=zeros, dx=ones)
    np.testing.assert_allclose(out, _shifted(np.rot90(x, 1, axes=(1, 2)), 1, 0), atol=1e-9)
    np.testing.assert_array_equal(affine(x, [7.0, -3.0], [[1, 0], [0, 2]], dy=zeros, dx=zeros),
                                  affine(x, [7.0, -3.0], [[1, 0], [0, 2]]))


@pytest.mark.parametrize("shape", [(5, 28, 28), (5, 1, 28, 28), (5, 784), (5, 12, 17)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_elastic_is_displace_of_its_field_bit_for_bit(shape, dtype):
    x = (_rng().random(shape) * 255).astype(dtype)
    n, h, w = (5, 28, 28) if len(shape) == 2 else (5, *shape[-2:])
    out = elastic(x, _rng(3), alpha=8.0, sigma=3.0)
    assert out.shape == shape and out.dtype == dtype
    dy, dx = elastic_field(n, h, w, _rng(3), alpha=8.0, sigma=3.0)
    np.testing.assert_array_equal(out, displace(x, dy, dx))
    assert not np.array_equal(out, x)


def test_random_affine_with_elastic_is_the_old_draws_then_the_field():
    # rotation/shift drawn exactly as without elastic, then the fields, all in one resampling
    x = _rng().random((40, 28, 28), dtype=np.float32)
    out = random_affine(x, _rng(9), p=0.7, elastic_alpha=20.0, elastic_sigma=5.0)
    ref_rng = _rng(9)
    _, angles, offs = _old_random_affine(x, ref_rng, p=0.7)
    dy, dx = elastic_field(40, 28, 28, ref_rng, alpha=20.0, sigma=5.0)
    np.testing.assert_array_equal(out, affine(x, angles, offs, dy=dy, dx=dx))


# ----------------------------------------------------------------------------- field statistics
def test_field_std_matches_the_analytic_value_everywhere():
    # per pixel: std = alpha / sqrt(3) * |row r of G_h| * |row c of G_w| (uniform(-1, 1) has std
    # 1/sqrt(3)); in the interior that is alpha * sum(k^2) / sqrt(3), at the borders less (zero
    # padding). 4000 fields: ~1.1 % sampling error per pixel.
    n, h, w, alpha, sigma = 4000, 20, 24, 5.0, 2.0
    dy, dx = elastic_field(n, h, w, _rng(21), alpha=alpha, sigma=sigma)
    gh, gw = _smoothing_matrix(h, sigma), _smoothing_matrix(w, sigma)
    expected = alpha / math.sqrt(3) * np.outer(np.linalg.norm(gh, axis=1),
                                               np.linalg.norm(gw, axis=1))
    k = _kernel(sigma)
    r = len(k) // 2
    np.testing.assert_allclose(expected[r:h - r, r:w - r], alpha * (k**2).sum() / math.sqrt(3))
    assert expected[0, 0] < 0.7 * expected[h // 2, w // 2]  # the field fades at the corners
    for name, f in (("dy", dy), ("dx", dx)):
        f = f.astype(np.float64)
        np.testing.assert_allclose(f.std(axis=0), expected, rtol=0.06, err_msg=f"{name} std")
        assert np.abs(f.mean(axis=0)).max() < 0.1 * expected.min(), f"{name} mean is not 0"
    assert abs(np.corrcoef(dy[:, 10, 12], dx[:, 10, 12])[0, 1]) < 0.06, "dy and dx correlated"


def _lag1_corr(f, axis):
    a = np.moveaxis(f, axis, -1)
    return np.corrcoef(a[..., :-1].ravel(), a[..., 1:].ravel())[0, 1]


def test_smoothed_field_is_smooth_and_the_raw_one_is_not():
    # interior of 48x48 fields, sigma 3: neighbour correlation sum(k_i k_{i+1}) / sum(k_i^2)
    n, size, alpha, sigma = 600, 48, 5.0, 3.0
    k = _kernel(sigma)
    r = len(k) // 2
    dy, dx = elastic_field(n, size, size, _rng(5), alpha=alpha, sigma=sigma)
    inner = (slice(None), slice(r, size - r), slice(r, size - r))
    rho = (k[:-1] * k[1:]).sum() / (k**2).sum()
    assert rho > 0.9
    for f in (dy[inner], dx[inner]):
        assert f.std() == pytest.approx(alpha * (k**2).sum() / math.sqrt(3), rel=0.05)
        assert abs(f.mean()) < 0.05 * f.std()
        for axis in (1, 2):
            assert _lag1_corr(f, axis) == pytest.approx(rho, abs=0.02)
    # sigma < 1/8: radius 0, kernel [1], the raw field: alpha * uniform(-1, 1), independent
    dy, dx = elastic_field(200, 28, 28, _rng(5), alpha=alpha, sigma=0.1)
    for f in (dy, dx):
        assert f.min() >= -alpha and f.max() < alpha
        assert f.std() == pytest.approx(alpha / math.sqrt(3), rel=0.01)
        for axis in (1, 2):
            assert abs(_lag1_corr(f, axis)) < 0.02


def test_kernel_keeps_a_constant_inside_and_fades_at_the_borders():
    from nnlib.lab.augment import gaussian_matrix
    for n, sigma in ((28, 4.0), (40, 2.5), (9, 0.7)):
        g = gaussian_matrix(n, sigma)
        np.testing.assert_allclose(g, _smoothing_matrix(n, sigma), atol=1e-15)
        r = int(4 * sigma + 0.5)
        sums = g.sum(axis=1)
        np.testing.assert_allclose(sums[r:n - r], 1.0, atol=1e-12)
        # the border row keeps only its half of the kernel: not re-normalised
        assert sums[0] == pytest.approx(_kernel(sigma)[r:].sum()) and sums[0] < 0.8


def test_field_depends_on_the_image_index_only():
    # chunks and batch size do not matter: the first images' fields are the same for any n
    a = elastic_field(300, 28, 28, _rng(4))
    b = elastic_field(7, 28, 28, _rng(4))
    for big, small in zip(a, b):
        np.testing.assert_array_equal(big[:7], small)


def test_field_does_not_depend_on_blas_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    fields = []
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            fields.append(elastic_field(300, 28, 28, _rng(8)))
    for a, b in zip(*fields):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- randomness
def test_elastic_same_seed_same_output_different_seed_differs():
    x = _rng().random((64, 28, 28), dtype=np.float32)
    a, b, c = (elastic(x, _rng(s)) for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    aug = Augmentation(elastic_alpha=34.0, elastic_sigma=4.0)
    a, b, c = (aug(x, _rng(s)) for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_elastic_distorts_every_image_whatever_p():
    # p gates rotation and shift only: with p = 0 every image is still distorted (and only that)
    x = _blob(50, 28, sigma=4.0)
    out = Augmentation(p=0.0, elastic_alpha=34.0, elastic_sigma=4.0)(x, _rng(2))
    changed = ~np.all(out == x, axis=(1, 2))
    assert changed.all(), f"{(~changed).sum()} images not distorted"
    rng = _rng(2)
    _old_random_affine(x, rng, p=0.0)  # the (unused) rotation/shift draws come first
    np.testing.assert_array_equal(out, elastic(x, rng, alpha=34.0, sigma=4.0))


# ----------------------------------------------------------------------------- shapes, dtypes
@pytest.mark.parametrize("shape", [(6, 28, 28), (6, 1, 28, 28), (6, 784), (6, 10, 14)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_elastic_preserves_shape_and_dtype(shape, dtype):
    x = (_rng().random(shape) * 255).astype(dtype)
    for out in (elastic(x, _rng(1)), elastic(x, _rng(1), order=0),
                random_affine(x, _rng(1), p=1.0, elastic_alpha=10.0),
                Augmentation(elastic_alpha=34.0)(x, _rng(1))):
        assert out.shape == shape and out.dtype == dtype
    assert elastic(x[:0], _rng(1)).shape == (0, *shape[1:])


def test_elastic_uint8_rounds_and_stays_in_range():
    x = _rng().integers(0, 256, (8, 28, 28), dtype=np.uint8)
    out = elastic(x, _rng(3))
    ref = elastic(x.astype(np.float32), _rng(3))
    assert out.dtype == np.uint8
    assert np.abs(out.astype(np.float32) - ref).max() <= 0.5 + 1e-3


def test_elastic_float32_hot_path_matches_float64():
    x = _rng().random((16, 28, 28))
    a = elastic(x.astype(np.float32), _rng(2))
    b = elastic(x, _rng(2))
    assert a.dtype == np.float32 and b.dtype == np.float64
    np.testing.assert_allclose(a, b, atol=1e-4)


# ----------------------------------------------------------------------------- append / overwrite
@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_labels_kept_with_elastic(mode):
    x = _rng().random((30, 28, 28), dtype=np.float32)
    y = np.eye(10)[np.arange(30) % 10]  # one-hot rows
    aug = Augmentation(mode=mode, rotate=10.0, shift=0.1, p=0.5, elastic_alpha=34.0)
    x2, y2 = aug.expand(x, y, _rng(7))
    assert x2.shape == (60, 28, 28) and x2.dtype == np.float32
    np.testing.assert_array_equal(y2, np.concatenate([y, y]))
    a = random_affine(x, _rng(7), elastic_alpha=34.0)
    np.testing.assert_array_equal(x2[30:], a)
    np.testing.assert_array_equal(x2[:30], x if mode == "append" else a)
    assert not any(np.array_equal(a[i], x[i]) for i in range(30)), "an image was not distorted"


# ----------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kw,name,error",
    [({"alpha": -1.0}, "alpha", ValueError), ({"alpha": math.inf}, "alpha", ValueError),
     ({"alpha": math.nan}, "alpha", ValueError), ({"sigma": 0.0}, "sigma", ValueError),
     ({"sigma": -2.0}, "sigma", ValueError), ({"sigma": math.nan}, "sigma", ValueError),
     ({"alpha": "34"}, "alpha", TypeError), ({"sigma": None}, "sigma", TypeError),
     ({"alpha": True}, "alpha", TypeError), ({"order": 2}, "order", ValueError)],
)
def test_elastic_bad_args(kw, name, error):
    with pytest.raises(error, match=name):
        elastic(np.zeros((2, 28, 28), np.float32), _rng(), **kw)
    if name != "order":
        with pytest.raises(error, match=name):
            elastic_field(2, 28, 28, _rng(), **kw)
        with pytest.raises(error, match=f"elastic_{name}"):
            random_affine(np.zeros((2, 28, 28), np.float32), _rng(), **{f"elastic_{name}":
                                                                        kw[name]})


def test_elastic_rng_and_size_checks():
    x = np.zeros((2, 28, 28), np.float32)
    for bad in (0, np.random.RandomState(0), None):
        with pytest.raises(TypeError, match="rng"):
            elastic(x, bad)
        with pytest.raises(TypeError, match="rng"):
            elastic_field(2, 28, 28, bad)
    for kw in ({"n": -1}, {"h": 2.5}, {"w": "28"}):
        args = {"n": 2, "h": 28, "w": 28, **kw}
        with pytest.raises(ValueError, match=next(iter(kw))):
            elastic_field(args["n"], args["h"], args["w"], _rng())


def test_displace_bad_fields():
    x = np.zeros((3, 8, 8), np.float32)
    ok = np.zeros((3, 8, 8))
    with pytest.raises(ValueError, match="dy"):
        displace(x, np.zeros((3, 8, 7)), ok)
    with pytest.raises(ValueError, match="dx"):
        displace(x, ok, np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="dx"):
        displace(x, ok, np.full((3, 8, 8), np.inf))
    with pytest.raises(TypeError, match="dy"):
        displace(x, ok.astype(complex), ok)
    with pytest.raises(ValueError, match="together"):
        affine(x, np.zeros(3), np.zeros((3, 2)), dy=ok)
    # the images' own shape is accepted for the fields too
    flat = np.zeros((3, 64), np.float32)
    assert displace(flat, np.zeros((3, 64)), np.zeros((3, 64))).shape == (3, 64)


def test_kernel_normaliser_for_huge_sigma(monkeypatch):
    # beyond _DIRECT_SUM_MAX the normalising sum is its integral (midpoint rule, relative error
    # ~4.5e-5 / sigma^2: ~1e-11 here, below double precision where it is used)
    from nnlib.lab import elastic as elastic_module  # where gaussian_matrix reads it
    direct = elastic_module.gaussian_matrix.__wrapped__(9, 2000.0)
    monkeypatch.setattr(elastic_module, "_DIRECT_SUM_MAX", 10)
    integral = elastic_module.gaussian_matrix.__wrapped__(9, 2000.0)
    np.testing.assert_allclose(integral, direct, rtol=1e-10)
    assert np.isfinite(elastic_module.gaussian_matrix.__wrapped__(4, 1e12)).all()
