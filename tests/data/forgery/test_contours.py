"""Contour patches on hand-made images: a known square pasted into a flat image gives a
contour on its border, 15 points along it, and 64 x 64 patches centred there, kept
inside the image."""

import numpy as np
import pytest

from hyperkit.data.forgery import contours


def pasted(h=200, w=240, top=60, left=80, side=50, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    a = np.full((h, w, 3), 0.4) + rng.normal(0, noise, (h, w, 3)) if noise else \
        np.full((h, w, 3), 0.4)
    a = np.clip(a, 0, 1)
    t = a.copy()
    t[top:top + side, left:left + side] = 0.9
    return a, t


def test_points_lie_on_the_pasted_square_and_patches_are_centred():
    a, t = pasted()
    r = contours.contour_patches(a, t)
    square = np.zeros((200, 240), bool)
    square[60:110, 80:130] = True
    assert not (r.mask & ~square).any()
    assert r.mask.sum() >= 2500 - 16  # the opening rounds each corner by a few pixels
    assert r.area == pytest.approx(r.mask.sum() / (200 * 240))
    assert r.centres.shape == (15, 2) and r.tops.shape == (15, 2)
    y, x = r.centres[:, 0], r.centres[:, 1]
    # the outline runs half a pixel outside the square: rows 59.5 and 109.5, columns
    # 79.5 and 129.5
    top, bottom = np.abs(y - 59.5) <= 1, np.abs(y - 109.5) <= 1
    left, right = np.abs(x - 79.5) <= 1, np.abs(x - 129.5) <= 1
    inside_y, inside_x = (y >= 59) & (y <= 110), (x >= 79) & (x <= 130)
    assert ((top | bottom) & inside_x | (left | right) & inside_y).all()
    # equal arc-length steps: the 15 points spread over all four sides, 3 or 4 each
    for side in (top, bottom, left, right):
        assert 3 <= side.sum() <= 5
    np.testing.assert_array_equal(r.tops, r.centres - 32)  # inside: exactly centred


def test_patches_near_the_border_are_moved_inside():
    a, t = pasted(h=100, w=120, top=0, left=0, side=30)
    r = contours.contour_patches(a, t)
    assert (r.tops >= 0).all()
    assert (r.tops[:, 0] <= 100 - 64).all() and (r.tops[:, 1] <= 120 - 64).all()
    assert (r.tops == 0).any()


def test_jpeg_like_noise_is_cleaned_away():
    a, t = pasted(noise=0.03, seed=1)
    t = np.clip(t + np.random.default_rng(2).normal(0, 0.03, t.shape), 0, 1)
    r = contours.contour_patches(a, t)
    square = np.zeros((200, 240), bool)
    square[60:110, 80:130] = True
    iou = (r.mask & square).sum() / (r.mask | square).sum()
    assert iou > 0.9


def test_a_mask_replaces_subtraction():
    a, t = pasted()
    m = np.zeros((200, 240), np.uint8)
    m[10:40, 10:40] = 255  # disagrees with the difference on purpose
    r = contours.contour_patches(a, a, m)
    assert r.mask[12:38, 12:38].all() and not r.mask[60:110, 80:130].any()
    with pytest.raises(ValueError, match="mask is 10x10"):
        contours.contour_patches(a, t, np.ones((10, 10)))


def test_no_usable_difference_and_bad_pairs_raise():
    a, _ = pasted()
    with pytest.raises(contours.NoUsableDifference, match="no tampered region"):
        contours.contour_patches(a, a)
    speck = a.copy()
    speck[5:7, 5:7] = 1.0  # a 2x2 speck: removed by the opening
    with pytest.raises(contours.NoUsableDifference):
        contours.contour_patches(a, speck)
    with pytest.raises(contours.NoUsableDifference, match="whole image"):
        contours.contour_patches(a, np.clip(a + 0.5, 0, 1))
    with pytest.raises(ValueError, match="differ in size"):
        contours.contour_patches(a, a[:100])
    small_a, small_t = pasted(h=50, w=60, top=10, left=10, side=20)
    with pytest.raises(ValueError, match="smaller than the 64x64 patch"):
        contours.contour_patches(small_a, small_t)
    with pytest.raises(ValueError, match="threshold"):
        contours.contour_patches(a, a, threshold=2)


def test_uint8_images_and_two_regions():
    a, t = pasted()
    t[150:180, 20:60] = 0.1
    a8, t8 = (np.rint(a * 255).astype(np.uint8), np.rint(t * 255).astype(np.uint8))
    r = contours.contour_patches(a8, t8, n_points=20)
    assert len(r.tops) == 20
    in_second = (r.centres[:, 0] >= 149) & (r.centres[:, 1] <= 60)
    assert 0 < in_second.sum() < 20  # points on both regions, by arc length


def test_closest_candidate_picks_the_source():
    a, t = pasted()
    other = np.clip(a + 0.3, 0, 1)
    assert contours.closest_candidate(t, [other, a]) == 1
    assert contours.closest_candidate(t, [a[:50], a]) == 1


def test_pasted_pixels_that_match_the_background_leave_no_inner_contour():
    a, t = pasted()
    t[75:95, 95:115] = a[75:95, 95:115]  # the pasted square's centre equals the background
    r = contours.contour_patches(a, t)
    assert r.mask[60:110, 80:130].sum() >= 2500 - 16  # the hole is filled
    y, x = r.centres[:, 0], r.centres[:, 1]
    assert not ((y > 65) & (y < 105) & (x > 85) & (x < 125)).any()  # no point inside


def test_edge_tops_find_the_strongest_edges_half_a_patch_apart():
    im = np.full((128, 192, 3), 0.5, np.float32)
    im[:, 120:] = 1.0  # one vertical edge at column 120, elsewhere flat
    tops = contours.edge_tops(im, 3, patch=32, stride=8)
    assert tops.dtype == np.int64 and tops.shape == (3, 2)
    # every window holds the edge (a window with left column x covers x..x+31)
    assert ((tops[:, 1] <= 120) & (tops[:, 1] + 31 >= 119)).all()
    for i in range(3):
        for j in range(i):
            assert np.abs(tops[i] - tops[j]).max() >= 16
    assert (tops[:, 0] >= 0).all() and (tops[:, 0] <= 128 - 32).all()
    # the first is the window of the largest mean gradient, by brute force over the grid
    from skimage.filters import sobel

    g = sobel(im.mean(axis=2))
    ys, xs = [*range(0, 97, 8)], [*range(0, 161, 8)]
    best = max(((y, x) for y in ys for x in xs),
               key=lambda t: (g[t[0]:t[0] + 32, t[1]:t[1] + 32].mean(), -t[0], -t[1]))
    np.testing.assert_allclose(g[tops[0][0]:tops[0][0] + 32, tops[0][1]:tops[0][1] + 32].mean(),
                               g[best[0]:best[0] + 32, best[1]:best[1] + 32].mean(), rtol=1e-5)
    # fewer windows half a patch apart than asked for: the list starts again from the
    # strongest (a 32 x 72 image holds three such windows: columns 0, 16 and 32)
    ramp = np.zeros((32, 72, 3), np.float32)
    ramp[:, 20:] = 1.0
    ramp[:, 52:] = 0.3
    wrap = contours.edge_tops(ramp, 5, patch=32, stride=8)
    assert {tuple(t) for t in wrap[:3]} == {(0, 0), (0, 16), (0, 32)}
    for k in range(3, 5):
        np.testing.assert_array_equal(wrap[k], wrap[k % 3])
    with pytest.raises(ValueError, match="smaller than the 64x64 patch"):
        contours.edge_tops(np.zeros((32, 40, 3), np.float32))
    for name in ("n", "patch", "stride"):
        with pytest.raises(ValueError, match=f"{name} must be an integer >= 1"):
            contours.edge_tops(im, **{name: 0})
