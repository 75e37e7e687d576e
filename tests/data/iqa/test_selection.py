"""Selective patch training: patch SSIM against scikit-image on each pair of patches,
the selection's threshold, balancing and determinism, and the rows' pixel positions."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from hyperkit.data.iqa.selection import (
    BALANCES,
    DEFAULT_THRESHOLD,
    PatchRows,
    all_cells,
    patch_ssim,
    rows_to_positions,
    select_patches,
    ssim_grids,
)
from hyperkit.grid import grid_positions
from hyperkit.patches import PositionedPatches

from ...reference import by_hand


def pair(shape, seed=0):
    """(distorted, reference) float images in [0, 1]: a smooth reference with a flat
    region, distorted only in its lower-right part (so patch SSIMs span 1 to low)."""
    rng = np.random.default_rng(seed)
    ref = gaussian_filter(rng.random(shape), sigma=(2, 2, 0)[:len(shape)])
    ref = (ref - ref.min()) / np.ptp(ref)
    ref[: shape[0] // 4, : shape[1] // 4] = 0.5  # flat: SSIM's constants matter here
    dist = ref.copy()
    h, w = shape[0] // 2, shape[1] // 2
    dist[h:, w:] = np.clip(dist[h:, w:] + rng.normal(0, 0.2, dist[h:, w:].shape), 0, 1)
    return dist, ref


def luma(image):
    """The [0, 1] float64 luminance scikit-image would compare: the image as hyperkit
    reads it (uint8 / 255, floats as float32), RGB through rgb2gray."""
    x = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    x = np.asarray(x, dtype=np.float32)
    return (rgb2gray(x) if x.ndim == 3 else x).astype(np.float64)


def ssim_by_hand(distorted, reference, patch, grid):
    """skimage's SSIM of each pair of grid patches, called on the patches alone."""
    d, r = luma(distorted), luma(reference)
    (ph, pw), (u, v) = patch, grid
    ys, xs = grid_positions(d.shape[0], ph, u), grid_positions(d.shape[1], pw, v)
    return np.array([[structural_similarity(r[y:y + ph, x:x + pw], d[y:y + ph, x:x + pw],
                                            win_size=7, data_range=1.0)
                      for x in xs] for y in ys])


@pytest.mark.parametrize("shape", [(40, 50), (40, 50, 3)], ids=["gray", "rgb"])
@pytest.mark.parametrize("patch, grid", [
    ((16, 12), (1, 1)),  # one centred patch
    ((16, 12), (2, 3)),  # apart
    ((16, 12), (3, 4)),  # overlapping
    ((8, 9), (5, 6)),  # the smallest patch SSIM allows
    ((32, 40), (12, 15)),  # more cells than offsets: repeated offsets
    ((40, 50), (2, 2)),  # the whole image, repeated
])
def test_patch_ssim_is_skimage_on_each_pair_of_patches(shape, patch, grid):
    d, r = pair(shape)
    got = patch_ssim(d, r, patch, grid)
    assert got.shape == grid and got.dtype == np.float64
    want = ssim_by_hand(d, r, patch, grid)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_patch_ssim_spans_identical_to_distorted_and_reads_any_layout():
    d, r = pair((48, 48, 3), seed=1)
    d8, r8 = (d * 255).astype(np.uint8), (r * 255).astype(np.uint8)
    got = patch_ssim(d8, r8, (16, 16), (3, 3))
    np.testing.assert_allclose(got, ssim_by_hand(d8, r8, (16, 16), (3, 3)), atol=1e-6)
    # the undistorted upper-left cell is identical, the lower-right one is not
    assert got[0, 0] == pytest.approx(1.0, abs=1e-12) and got[2, 2] < 0.6
    # torch (C, H, W) reads as the same image
    t = patch_ssim(torch.from_numpy(d8).permute(2, 0, 1), torch.from_numpy(r8).permute(2, 0, 1),
                   (16, 16), (3, 3))
    np.testing.assert_array_equal(t, got)
    # an image against itself
    np.testing.assert_allclose(patch_ssim(r, r, (16, 16), (3, 3)), 1.0, atol=1e-12)


@pytest.mark.parametrize("d, r, patch, words", [
    (np.zeros((40, 50)), np.zeros((40, 51)), (16, 16), "distorted is 40x50 but its reference "
                                                       "is 40x51"),
    (np.zeros((40, 50)), np.zeros((40, 50)), (7, 16), "larger than the 7x7 SSIM window"),
    (np.zeros((40, 50)), np.zeros((40, 50)), (16, 5), "larger than the 7x7 SSIM window"),
    (np.zeros((40, 50)), np.zeros((40, 50)), (41, 16), "larger than size"),
    (np.zeros((40, 50, 2)), np.zeros((40, 50, 2)), (16, 16), "2 channels; SSIM needs gray or "
                                                             "RGB"),
    (np.full((40, 50), 3.0), np.zeros((40, 50)), (16, 16), "divide it by 255"),
], ids=["size", "small_h", "small_w", "larger_than_image", "two_channels", "scale"])
def test_patch_ssim_errors(d, r, patch, words):
    with pytest.raises(ValueError, match=words):
        patch_ssim(d, r, patch, (2, 2))


def test_ssim_grids_stacks_patch_ssim_and_takes_a_callable():
    pairs = [pair((40, 50), seed=s) for s in range(3)]
    dist, refs = [p[0] for p in pairs], [p[1] for p in pairs]
    got = ssim_grids(dist, refs, (16, 12), (3, 4))
    assert got.shape == (3, 3, 4) and got.dtype == np.float32
    for i in range(3):
        np.testing.assert_array_equal(
            got[i], patch_ssim(dist[i], refs[i], (16, 12), (3, 4)).astype(np.float32))
    asked = []

    def reference(i):
        asked.append(i)
        return refs[i]

    np.testing.assert_array_equal(ssim_grids(dist, reference, (16, 12), (3, 4)), got)
    assert asked == [0, 1, 2]
    # several distorted images may share one reference
    many = ssim_grids(dist, lambda i: refs[0], (16, 12), (3, 4))
    np.testing.assert_array_equal(many[0], got[0])
    assert not np.array_equal(many[1], got[1])


# ------------------------------------------------------------------ select_patches

GRID = (2, 3)


def toy_ssim():
    """(N=3, 2, 3) SSIMs: image 0 has 2 cells below 0.5, image 1 one (and one exactly
    at 0.5), image 2 none."""
    s = np.full((3, *GRID), 0.99)
    s[0, 0, 1], s[0, 1, 2] = 0.1, 0.49
    s[1, 1, 0], s[1, 0, 0] = 0.3, 0.5
    return s


def as_set(rows):
    return sorted(zip(rows.image.tolist(), rows.u.tolist(), rows.v.tolist(),
                      rows.label.tolist()))


def test_select_keeps_cells_strictly_below_the_threshold_with_their_image_label():
    images, labels = [10, 11, 12], [3.5, 7.0, 1.25]
    rows, counts = select_patches(images, labels, toy_ssim(), [20], 0.0, GRID, threshold=0.5,
                                  balance="none")
    dist = [(10, 0, 1, 3.5), (10, 1, 2, 3.5), (11, 1, 0, 7.0)]  # 0.5 itself is not below
    refs = [(20, u, v, 0.0) for u in range(2) for v in range(3)]
    assert as_set(rows.take(np.arange(3))) == dist  # distorted rows first
    assert as_set(rows.take(np.arange(3, 9))) == refs  # then every reference cell
    assert counts == {"distorted_kept": 3, "distorted_total": 18, "reference": 6, "rows": 9}
    for f, dt in (("image", np.int32), ("u", np.int32), ("v", np.int32),
                  ("label", np.float32)):
        assert getattr(rows, f).dtype == dt
    # a higher threshold keeps more; 1 keeps all but the cells at exactly 1
    r2, c2 = select_patches(images, labels, toy_ssim(), [20], 0.0, GRID, threshold=0.995,
                            balance="none")
    assert c2["distorted_kept"] == 18 and len(r2) == 24
    s = toy_ssim()
    s[2] = 1.0
    assert select_patches(images, labels, s, [20], 0.0, GRID, threshold=1.0,
                          balance="none")[1]["distorted_kept"] == 12


def test_reference_rows_carry_best_score():
    rows, counts = select_patches([0, 1, 2], [50, 60, 70], toy_ssim(), [3, 4], -2.5, GRID,
                                  threshold=0.5, balance="none")
    ref = rows.image >= 3
    assert ref.sum() == counts["reference"] == 12
    assert np.all(rows.label[ref] == -2.5)
    assert as_set(rows.take(np.flatnonzero(ref))) == as_set(all_cells([3, 4], [-2.5] * 2, GRID))


def test_oversample_draws_reference_rows_up_to_the_distorted_count():
    rng = np.random.default_rng(0)
    ssim = rng.random((20, *GRID))  # about 60 of 120 cells below 0.5, 6 reference cells
    rows, counts = select_patches(np.arange(20), np.arange(20.0), ssim, [20], 0.0, GRID,
                                  threshold=0.5, balance="oversample", seed=3)
    kept = int((ssim < 0.5).sum())
    assert counts["distorted_kept"] == kept and counts["reference"] == 6
    ref = rows.image == 20
    assert (~ref).sum() == kept and ref.sum() == kept and counts["rows"] == len(rows) == 2 * kept
    # drawn with replacement from the reference's cells: all of them appear
    cells = set(zip(rows.u[ref].tolist(), rows.v[ref].tolist()))
    assert cells == {(u, v) for u in range(2) for v in range(3)}
    assert np.all(rows.label[ref] == 0.0)
    # the distorted rows are exactly the cells below the threshold, each once
    n, u, v = np.nonzero(ssim < 0.5)
    np.testing.assert_array_equal(rows.image[~ref], n)
    np.testing.assert_array_equal(rows.u[~ref], u)
    np.testing.assert_array_equal(rows.v[~ref], v)
    np.testing.assert_array_equal(rows.label[~ref], n.astype(np.float32))


def test_oversample_never_drops_rows_when_references_outnumber():
    rows, counts = select_patches([0, 1, 2], [5, 6, 7], toy_ssim(), [3, 4], 0.0, GRID,
                                  threshold=0.5, balance="oversample")
    assert counts["rows"] == len(rows) == 3 + 12
    assert (rows.image >= 3).sum() == 12


def test_undersample_draws_distorted_rows_down_to_the_reference_count():
    rng = np.random.default_rng(1)
    ssim = rng.random((20, *GRID))
    full, _ = select_patches(np.arange(20), np.arange(20.0), ssim, [20], 0.0, GRID,
                             threshold=0.5, balance="none")
    rows, counts = select_patches(np.arange(20), np.arange(20.0), ssim, [20], 0.0, GRID,
                                  threshold=0.5, balance="undersample", seed=2)
    ref = rows.image == 20
    assert ref.sum() == 6 and (~ref).sum() == 6 and counts["rows"] == 12
    assert counts["distorted_kept"] == int((ssim < 0.5).sum())  # before the draw
    kept = as_set(rows.take(np.flatnonzero(~ref)))
    assert len(set(kept)) == 6 and set(kept) <= set(as_set(full))  # without replacement
    # in their original order
    order = rows.image[~ref].astype(np.int64) * 6 + rows.u[~ref] * 3 + rows.v[~ref]
    assert np.all(np.diff(order) > 0)
    # fewer distorted rows than reference rows: nothing is drawn
    few, c = select_patches([0, 1, 2], [5, 6, 7], toy_ssim(), [3, 4], 0.0, GRID,
                            threshold=0.5, balance="undersample")
    assert len(few) == c["rows"] == 15


@pytest.mark.parametrize("balance", BALANCES)
def test_selection_is_seeded(balance):
    ssim = np.random.default_rng(5).random((30, *GRID))
    args = (np.arange(30), np.arange(30.0), ssim, [30, 31], 0.0, GRID)
    a, _ = select_patches(*args, balance=balance, seed=7)
    b, _ = select_patches(*args, balance=balance, seed=7)
    c, _ = select_patches(*args, balance=balance, seed=8)
    for f in ("image", "u", "v", "label"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    same = all(np.array_equal(getattr(a, f), getattr(c, f)) for f in ("image", "u", "v"))
    assert same == (balance == "none")


def test_no_reference_images_leaves_the_distorted_rows():
    for balance in BALANCES:
        rows, counts = select_patches([0, 1, 2], [5, 6, 7], toy_ssim(), [], 0.0, GRID,
                                      threshold=0.5, balance=balance)
        assert len(rows) == counts["rows"] == 3 and counts["reference"] == 0


def test_default_threshold_and_balance():
    assert 0 < DEFAULT_THRESHOLD <= 1 and BALANCES[0] == "oversample"
    s = toy_ssim()
    s[2, 0, 0] = DEFAULT_THRESHOLD - 1e-3
    s[2, 0, 1] = DEFAULT_THRESHOLD
    rows, counts = select_patches([0, 1, 2], [5, 6, 7], s, [3], 0.0, GRID)
    assert counts["distorted_kept"] == 5 and len(rows) == 5 + 6


@pytest.mark.parametrize("kw, words", [
    ({"balance": "equal"}, "balance must be one of oversample, undersample, none"),
    ({"threshold": 0.0}, r"threshold must be in \(0, 1\]"),
    ({"threshold": 1.5}, r"threshold must be in \(0, 1\]"),
    ({"threshold": float("nan")}, r"threshold must be in \(0, 1\]"),
    ({"ssim": np.zeros((2, *GRID))}, r"ssim must be \(N, U, V\) = \(3, 2, 3\), got \(2, 2, 3\)"),
    ({"ssim": np.zeros((3, 3, 2))}, r"ssim must be \(N, U, V\)"),
    ({"threshold": 0.05}, "no distorted patch has SSIM below 0.05"),
    ({"labels": [5, 6]}, "3 images for 2 labels"),
], ids=["balance", "threshold0", "threshold_big", "threshold_nan", "ssim_count", "ssim_grid",
        "nothing_below", "labels"])
def test_select_errors(kw, words):
    args = {"ssim": toy_ssim(), "labels": [5, 6, 7], **kw}
    ssim, labels = args.pop("ssim"), args.pop("labels")
    with pytest.raises(ValueError, match=words):
        select_patches([0, 1, 2], labels, ssim, [3], 0.0, GRID, **args)


# ------------------------------------------------------------------ rows and positions


def test_all_cells_lists_every_cell_of_each_image_in_order():
    rows = all_cells([4, 7], [1.5, -2.0], (2, 3))
    assert len(rows) == 12
    assert rows.image.tolist() == [4] * 6 + [7] * 6
    assert rows.u.tolist() == [0, 0, 0, 1, 1, 1] * 2
    assert rows.v.tolist() == [0, 1, 2] * 4
    assert rows.label.tolist() == [1.5] * 6 + [-2.0] * 6
    assert [getattr(rows, f).dtype for f in ("image", "u", "v", "label")] == [
        np.int32, np.int32, np.int32, np.float32]
    assert len(all_cells([], [], (2, 3))) == 0


def test_patch_rows_concat_and_take():
    a, b = all_cells([0], [1.0], (1, 2)), all_cells([5], [2.0], (2, 1))
    c = PatchRows.concat([a, b])
    assert c.image.tolist() == [0, 0, 5, 5] and c.u.tolist() == [0, 0, 0, 1]
    assert c.v.tolist() == [0, 1, 0, 0] and c.label.tolist() == [1.0, 1.0, 2.0, 2.0]
    assert c.image.dtype == np.int32 and c.label.dtype == np.float32
    t = c.take(np.array([3, 0, 3]))
    assert t.image.tolist() == [5, 0, 5] and t.u.tolist() == [1, 0, 1]
    assert t.label.tolist() == [2.0, 1.0, 2.0] and len(t) == 3
    # from other dtypes, converted
    mixed = PatchRows(np.array([1], np.int64), np.array([0], np.int64), np.array([2], np.int64),
                      np.array([0.5], np.float64))
    m = PatchRows.concat([mixed, a])
    assert m.image.dtype == np.int32 and m.label.dtype == np.float32 and len(m) == 3


def test_rows_to_positions_are_the_eq2_offsets_of_each_image():
    sizes = [(40, 52), (33, 17), (64, 64)]
    patch, grid = (16, 12), (3, 4)
    rows = all_cells([0, 1, 2], [0.0, 1.0, 2.0], grid).take(
        np.random.default_rng(0).permutation(36))
    index, ys, xs = rows_to_positions(rows, sizes, patch, grid)
    np.testing.assert_array_equal(index, rows.image)
    for n, u, v, y, x in zip(rows.image, rows.u, rows.v, ys, xs):
        h, w = sizes[n]
        assert y == grid_positions(h, patch[0], grid[0])[u]
        assert x == grid_positions(w, patch[1], grid[1])[v]


def test_selected_rows_cut_the_grid_patches():
    """rows -> positions -> PositionedPatches gives the grid patches sliced by hand."""
    rng = np.random.default_rng(2)
    images = [torch.from_numpy(rng.random((1, h, w), dtype=np.float32))
              for h, w in [(40, 52), (33, 17), (64, 64)]]
    patch, grid = (16, 12), (3, 4)
    full = by_hand([im.numpy() for im in images], *patch, *grid)
    ssim = rng.random((2, *grid))
    rows, _ = select_patches([0, 1], [3.0, 4.0], ssim, [2], 0.0, grid, threshold=0.5)
    index, ys, xs = rows_to_positions(rows, [tuple(t.shape[1:]) for t in images], patch, grid)
    pp = PositionedPatches(images, patch, index, ys, xs, rows.label)
    (p,), y = pp.batch(np.arange(len(pp)))
    cell = rows.image.astype(np.int64) * 12 + rows.u * 4 + rows.v
    np.testing.assert_array_equal(p.numpy(), full[cell])
    np.testing.assert_array_equal(y.numpy(), rows.label)
