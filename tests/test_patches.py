"""The patch streams: grid_batches (in order, chunk by chunk) and GridPatches (random
access by global patch number), against patches sliced by hand from the prepared
images."""

import numpy as np
import pytest
import torch

from hyperkit.grid import grid_cells
from hyperkit.images import check_channels, prepare_image
from hyperkit.ops.gather_patches import gather_patches
from hyperkit.patches import GridPatches, PositionedPatches, check_patch_fits, grid_batches
from hyperkit.training.batches import BatchSource

from .reference import by_hand, by_hand_at


def mixed_images(channels=1, seed=0):
    """Images of different sizes and forms: uint8 numpy, float numpy, float torch."""
    rng = np.random.default_rng(seed)
    shape = (lambda h, w: (h, w)) if channels == 1 else (lambda h, w: (h, w, channels))
    return [
        (rng.random(shape(40, 52)) * 255).astype(np.uint8),
        rng.random(shape(33, 17)).astype(np.float32),
        torch.from_numpy(rng.random(shape(64, 64))).float().permute(
            *((2, 0, 1) if channels > 1 else (0, 1))).contiguous(),
        rng.random(shape(24, 70)),  # 16x48 with max_size (48, 48)
    ]


def prepared(images, max_size=None, lcn=True):
    return [prepare_image(im, f"images[{i}]", max_size=max_size, lcn=lcn)
            for i, im in enumerate(images)]


PATCH, GRID = (16, 12), (3, 4)  # 12 patches per image, 48 in all


@pytest.mark.parametrize("lcn", [True, False])
@pytest.mark.parametrize("max_size", [None, (48, 48)])
@pytest.mark.parametrize("batch_size", [1, 7, 12 + 5, 48, 1000])
def test_grid_batches_concatenated_is_the_gather_of_prepared_images(lcn, max_size, batch_size):
    images = mixed_images(channels=3)
    chunks = list(grid_batches(images, PATCH, GRID, batch_size=batch_size, max_size=max_size,
                               lcn=lcn))
    total = len(images) * GRID[0] * GRID[1]
    assert [len(c) for c in chunks[:-1]] == [batch_size] * (len(chunks) - 1)
    assert sum(len(c) for c in chunks) == total and len(chunks) == -(-total // batch_size)
    got = torch.cat(chunks)
    assert got.dtype == torch.float32 and got.shape == (total, 3, *PATCH)
    prep = prepared(images, max_size, lcn)
    want = by_hand([p.numpy() for p in prep], *PATCH, *GRID)
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(got.numpy(), gather_patches(prep, PATCH, GRID).numpy())


def test_grid_batches_gray_images_and_device(device):
    images = mixed_images(channels=1, seed=1)
    chunks = list(grid_batches(images, PATCH, GRID, batch_size=5, device=device, lcn=True))
    assert all(c.device.type == device for c in chunks)
    want = by_hand([p.numpy() for p in prepared(images)], *PATCH, *GRID)
    np.testing.assert_allclose(torch.cat(chunks).cpu().numpy(), want, atol=2e-5)


@pytest.mark.parametrize("lcn", [True, False])
@pytest.mark.parametrize("max_size", [None, (48, 48)])
def test_grid_patches_batch_is_rows_of_the_full_gather(lcn, max_size):
    images = mixed_images(channels=3, seed=2)
    labels = np.array([0.5, -1.0, 2.25, 3.0])
    gp = GridPatches(images, labels, PATCH, GRID, lcn=lcn, max_size=max_size)
    per_image = GRID[0] * GRID[1]
    assert len(gp) == len(images) * per_image and gp.channels == 3
    full = by_hand([p.numpy() for p in prepared(images, max_size, lcn)], *PATCH, *GRID)
    rng = np.random.default_rng(3)
    for size in (1, 5, 48, 100):
        idx = rng.integers(0, len(gp), size)  # any order, repeats
        (patches,), y = gp.batch(idx)
        assert isinstance(patches, torch.Tensor) and patches.dtype == torch.float32
        np.testing.assert_array_equal(patches.numpy(), full[idx])
        assert y.dtype == torch.float32
        np.testing.assert_array_equal(y.numpy(), labels[idx // per_image].astype(np.float32))
    (patches,), y = gp.batch(np.arange(len(gp)))
    np.testing.assert_array_equal(patches.numpy(), full)
    np.testing.assert_array_equal(y.numpy(), np.repeat(labels, per_image).astype(np.float32))


def test_grid_patches_is_a_batch_source_over_one_image():
    gp = GridPatches([np.random.default_rng(4).random((20, 20))], [7.0], (8, 8), (2, 2),
                     lcn=False)
    assert isinstance(gp, BatchSource) and len(gp) == 4
    (p,), y = gp.batch(np.array([3, 0]))
    assert p.shape == (2, 1, 8, 8) and y.tolist() == [7.0, 7.0]


@pytest.mark.parametrize("images, labels, kw, words", [
    ([np.zeros((20, 20))] * 3, [1.0, 2.0], {}, "3 train images for 2 labels"),
    ([np.zeros((20, 20)), np.zeros((8, 40))], [1, 2], {}, r"train images\[1\] is 8x40, "
                                                            "smaller than the 16x16 patch"),
    ([np.zeros((20, 20)), np.zeros((20, 20, 3))], [1, 2], {},
     r"train images\[1\] has 3 channel\(s\) but train images\[0\] has 1"),
    # max_size shrinks a 100x20 image to 32x6: too small for the patch it is cut into
    ([np.zeros((20, 20)), np.zeros((100, 20))], [1, 2], {"max_size": (32, 32)},
     r"train images\[1\] is 32x6, smaller than the 16x16 patch"),
], ids=["label_count", "too_small", "channels", "too_small_after_max_size"])
def test_grid_patches_errors(images, labels, kw, words):
    with pytest.raises(ValueError, match=words):
        GridPatches(images, labels, (16, 16), (2, 2), lcn=False, name="train images", **kw)


def test_checks_name_the_image():
    check_patch_fits([(20, 20), (16, 30)], (16, 16))
    with pytest.raises(ValueError, match=r"val\[1\] is 15x30, smaller than the 16x16 patch"):
        check_patch_fits([(20, 20), (15, 30)], (16, 16), "val")
    assert check_channels([np.zeros((5, 5, 3)), torch.zeros(3, 5, 5)], None) == 3
    assert check_channels([np.zeros((5, 5)), torch.zeros(5, 5)], None) == 1
    with pytest.raises(ValueError, match=r"images\[2\] has 2 channel\(s\) but images\[0\]"):
        check_channels([np.zeros((5, 5)), np.zeros((5, 5)), torch.zeros(2, 5, 5)], None)


def test_grid_patches_channels_makes_rgb_gray_for_a_gray_network():
    images = mixed_images(channels=3, seed=5)
    gp = GridPatches(images, [1.0, 2.0, 3.0, 4.0], PATCH, GRID, lcn=True, channels=1)
    assert gp.channels == 1
    (p,), _ = gp.batch(np.arange(len(gp)))
    assert p.shape == (len(gp), 1, *PATCH)
    gray = [prepare_image(im, "x", lcn=True, channels=1).numpy() for im in images]
    np.testing.assert_array_equal(p.numpy(), by_hand(gray, *PATCH, *GRID))
    with pytest.raises(ValueError, match=r"val\[0\] has 1 channel\(s\); the network takes 3"):
        GridPatches(mixed_images(channels=1), [1, 2, 3, 4], PATCH, GRID, lcn=False,
                    channels=3, name="val")


# ------------------------------------------------------------------ PositionedPatches


def positioned(seed=6, count=50):
    """Prepared RGB images and random in-bounds positions with labels."""
    images = prepared(mixed_images(channels=3, seed=seed))
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(images), count)
    ys = np.array([rng.integers(0, images[n].shape[1] - PATCH[0] + 1) for n in index])
    xs = np.array([rng.integers(0, images[n].shape[2] - PATCH[1] + 1) for n in index])
    return images, index, ys, xs, rng.normal(size=count)


def test_positioned_patches_are_the_prepared_images_sliced_at_the_positions():
    images, index, ys, xs, labels = positioned()
    pp = PositionedPatches(images, PATCH, index, ys, xs, labels)
    assert isinstance(pp, BatchSource) and len(pp) == 50
    want = by_hand_at([t.numpy() for t in images], *PATCH, index, ys, xs)
    rng = np.random.default_rng(7)
    for idx in (np.arange(50), rng.integers(0, 50, 9), np.array([4]), np.array([3, 3, 0])):
        (p,), y = pp.batch(idx)
        assert p.dtype == torch.float32 and p.shape == (len(idx), 3, *PATCH)
        np.testing.assert_array_equal(p.numpy(), want[idx])
        assert y.dtype == torch.float32
        np.testing.assert_array_equal(y.numpy(), labels[idx].astype(np.float32))
    # positions on the border, labels from a list, positions as torch tensors
    h, w = images[2].shape[1:]
    pp = PositionedPatches(images, PATCH, torch.tensor([2, 0]),
                           torch.tensor([h - PATCH[0], 0]), torch.tensor([w - PATCH[1], 0]),
                           [1, 2])
    (p,), y = pp.batch(np.array([0, 1]))
    np.testing.assert_array_equal(p[0].numpy(), images[2][:, h - PATCH[0]:, w - PATCH[1]:])
    np.testing.assert_array_equal(p[1].numpy(), images[0][:, :PATCH[0], :PATCH[1]])
    assert y.tolist() == [1.0, 2.0]


def test_positioned_patches_at_the_grid_are_the_grid_patches():
    images = mixed_images(channels=3, seed=8)
    labels = np.array([0.5, -1.0, 2.25, 3.0])
    gp = GridPatches(images, labels, PATCH, GRID, lcn=True)
    index, ys, xs = grid_cells([t.shape[1] for t in gp.images], [t.shape[2] for t in gp.images],
                               PATCH, GRID, 0, len(gp))
    pp = PositionedPatches(gp.images, PATCH, index, ys, xs, labels[index])
    idx = np.arange(len(gp))
    (a,), ya = gp.batch(idx)
    (b,), yb = pp.batch(idx)
    assert torch.equal(a, b) and torch.equal(ya, yb)


@pytest.mark.parametrize("change, words", [
    (dict(ys=np.zeros(3)), "one length, got 4, 3, 4, 4"),
    (dict(labels=np.zeros(5)), "one length, got 4, 4, 4, 5"),
    (dict(index=[], ys=[], xs=[], labels=[]), "no patches"),
    (dict(labels=[0.0, np.nan, 1.0, 2.0]), "labels contain NaN or Inf"),
    (dict(labels=[0.0, np.inf, 1.0, 2.0]), "labels contain NaN or Inf"),
    (dict(index=[0, 1, 4, 0]), r"image index outside 0..3"),
    (dict(index=[0, -1, 0, 0]), r"image index outside 0..3"),
    (dict(ys=[0, 0, 0, 40 - 16 + 1]), r"patch 3 at \(25, 0\) of images\[0\] \(40x52\) does "
                                      "not fit a 16x12 window"),
    (dict(xs=[0, 17 - 12 + 1, 0, 0]), r"patch 1 at \(0, 6\) of images\[1\] \(33x17\)"),
    (dict(ys=[0, 0, -1, 0]), r"patch 2 at \(-1, 0\)"),
], ids=["ys", "labels", "empty", "nan", "inf", "index", "negative_index", "bottom", "right",
        "negative_y"])
def test_positioned_patches_errors(change, words):
    images = prepared(mixed_images(channels=3))  # 40x52, 33x17, 64x64, 24x70
    args = dict(index=[0, 1, 2, 0], ys=[0, 0, 0, 0], xs=[0, 0, 0, 0], labels=[1, 2, 3, 4])
    args.update(change)
    with pytest.raises(ValueError, match=words):
        PositionedPatches(images, PATCH, args["index"], args["ys"], args["xs"], args["labels"])


def test_positioned_patches_refuses_images_smaller_than_the_patch():
    with pytest.raises(ValueError, match=r"images\[1\] is 10x40, smaller than the 16x12 patch"):
        PositionedPatches([torch.zeros(1, 20, 20), torch.zeros(1, 10, 40)], PATCH, [0], [0], [0],
                          [1.0])


def test_positioned_patches_of_float16_images_are_float32():
    """Images from a float16 cache: patches widened to float32 per batch, exactly the
    float16 values."""
    images, index, ys, xs, labels = positioned(seed=9)
    half = [t.half() for t in images]
    pp = PositionedPatches(half, PATCH, index, ys, xs, labels)
    (p,), _ = pp.batch(np.arange(len(index)))
    assert p.dtype == torch.float32
    want = by_hand_at([t.float().numpy() for t in half], *PATCH, index, ys, xs)
    np.testing.assert_array_equal(p.numpy(), want)

