"""ResizedImages: whole images converted, resized and held as uint8 for end-to-end
training; flips seeded per (seed, item, draw); LCN per batch."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.transform import resize

from hyperkit.data.resized import ResizedImages
from hyperkit.ops.lcn import lcn
from hyperkit.training import BatchSource


def rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_is_a_batch_source_and_reads_nothing_until_asked(tmp_path):
    missing = tmp_path / "later.png"
    src = ResizedImages([missing], [1.0], (8, 12), channels=3)
    assert isinstance(src, BatchSource) and len(src) == 1
    with pytest.raises(FileNotFoundError, match="later.png"):
        src.batch(np.array([0]))


def test_files_and_arrays_resized_like_skimage(tmp_path):
    a = rgb(20, 30, 1)
    Image.fromarray(a).save(tmp_path / "a.png")
    b = rgb(10, 12, 2)
    src = ResizedImages([tmp_path / "a.png", str(tmp_path / "a.png"), b], [1, 2, 3], (10, 12),
                        channels=3)
    (x,), y = src.batch(np.array([2, 0, 1]))
    assert x.dtype == torch.float32 and x.shape == (3, 3, 10, 12)
    assert y.tolist() == [3.0, 1.0, 2.0]
    # already the right size: kept exactly
    assert torch.equal(x[0], torch.from_numpy(b).permute(2, 0, 1).float() / 255)
    want = resize(a / 255.0, (10, 12, 3), order=1, anti_aliasing=True, mode="reflect")
    got = x[1].permute(1, 2, 0).numpy()
    assert np.abs(got - want).max() <= 0.5 / 255 + 1e-6  # uint8 rounding only
    assert torch.equal(x[1], x[2])
    assert src.image(0).dtype == np.uint8 and src.image(0).shape == (3, 10, 12)


def test_batch_array_and_gray_conversion():
    batch = np.stack([rgb(16, 16, s) for s in range(3)])  # (N, H, W, C)
    src = ResizedImages(batch, np.arange(3), (8, 8), channels=1)
    (x,), _ = src.batch(np.arange(3))
    assert x.shape == (3, 1, 8, 8)
    assert 0 <= float(x.min()) and float(x.max()) <= 1


def test_channel_mismatch_is_refused_naming_the_image(tmp_path):
    gray = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match=r"train images\[1\] has 1 channel.*takes 3"):
        ResizedImages([rgb(8, 8), gray], [0, 1], (8, 8), channels=3, name="train images")
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(tmp_path / "rgba.png")
    src = ResizedImages([tmp_path / "rgba.png"], [0], (8, 8), channels=3)
    with pytest.raises(ValueError, match=r"rgba.png.*4 channel.*alpha"):
        src.batch(np.array([0]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(size=(8,)), "size must be"),
    (dict(size=(0, 8)), "size must be"),
    (dict(channels=0), "channels must be"),
    (dict(labels=[1.0]), "2 images for 1 labels"),
    (dict(labels=[1.0, np.nan]), "NaN"),
    (dict(seed=-1), "seed must be"),
])
def test_bad_arguments(kwargs, match):
    args = dict(images=[rgb(8, 8), rgb(8, 8)], labels=[0, 1], size=(8, 8), channels=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ResizedImages(**args)


def test_single_path_and_empty_list_are_refused():
    with pytest.raises(TypeError, match="wrap it in a list"):
        ResizedImages("a.png", [0], (8, 8), channels=3)
    with pytest.raises(ValueError, match="empty"):
        ResizedImages([], [], (8, 8), channels=3)


def test_lcn_is_applied_per_image():
    ims = [rgb(12, 16, s) for s in range(2)]
    plain = ResizedImages(ims, [0, 1], (12, 16), channels=3)
    normed = ResizedImages(ims, [0, 1], (12, 16), channels=3, lcn=True)
    (x,), _ = plain.batch(np.arange(2))
    (z,), _ = normed.batch(np.arange(2))
    assert torch.allclose(z, lcn(x, channel_axis=None))
    assert not torch.allclose(z, x)


def test_flips_are_seeded_per_item_and_draw():
    ims = [rgb(8, 10, s) for s in range(16)]
    idx = np.arange(16)

    def epochs(src, n):
        return [src.batch(idx)[0][0] for _ in range(n)]

    plain = ResizedImages(ims, np.zeros(16), (8, 10), channels=3).batch(idx)[0][0]
    a = epochs(ResizedImages(ims, np.zeros(16), (8, 10), channels=3, flip=True, seed=5), 3)
    b = epochs(ResizedImages(ims, np.zeros(16), (8, 10), channels=3, flip=True, seed=5), 3)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    for e in a:  # each item is itself or its mirror, and both happen
        mirrored = [torch.equal(e[i], plain[i].flip(-1)) for i in range(16)]
        same = [torch.equal(e[i], plain[i]) for i in range(16)]
        assert all(m or s for m, s in zip(mirrored, same))
        assert any(mirrored) and any(s and not m for m, s in zip(mirrored, same))
    assert not torch.equal(a[0], a[1])  # fresh flips each epoch
    # the order of drawing does not matter, only the draw count
    rev = ResizedImages(ims, np.zeros(16), (8, 10), channels=3, flip=True, seed=5)
    assert torch.equal(rev.batch(idx[::-1].copy())[0][0], a[0].flip(0))
    # a resumed run replays epoch 2 after skipping two epochs of draws
    resumed = ResizedImages(ims, np.zeros(16), (8, 10), channels=3, flip=True, seed=5)
    resumed.skip_draws(2)
    assert torch.equal(resumed.batch(idx)[0][0], a[2])
    other = epochs(ResizedImages(ims, np.zeros(16), (8, 10), channels=3, flip=True, seed=6), 1)
    assert not torch.equal(other[0], a[0])


def test_cache_false_keeps_nothing_and_channel_mean():
    ims = [np.full((4, 6, 3), v, np.uint8) for v in (0, 51, 255)]
    src = ResizedImages(ims, np.zeros(3), (4, 6), channels=3, cache=False)
    np.testing.assert_allclose(src.channel_mean(), [102 / 255] * 3)
    assert all(c is None for c in src._cached)
    cached = ResizedImages(ims, np.zeros(3), (4, 6), channels=3)
    cached.preload(progress=False)
    assert all(c is not None for c in cached._cached)
