"""Images in, float32 (C, H, W) tensors out: conversions, layouts, fitting, preparation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import hyperkit
from hyperkit.images import (as_image_list, as_image_tensor, fit_image, fitted_hw,
                             image_channels, image_hw, images_with_channels, prepare_image)

from .reference import reference_lcn


def test_as_image_tensor_layouts_and_scaling():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    t = as_image_tensor(gray)
    assert t.shape == (1, 5, 7) and t.dtype == torch.float32
    np.testing.assert_array_equal(t[0].numpy(), gray.astype(np.float32) / 255)
    rgb = rng.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    t = as_image_tensor(rgb)
    assert t.shape == (3, 5, 7)  # numpy (H, W, C) -> (C, H, W)
    np.testing.assert_array_equal(t.numpy(), rgb.transpose(2, 0, 1).astype(np.float32) / 65535)
    f = rng.random((5, 7, 2))  # floats are taken as they are, as float32
    np.testing.assert_array_equal(as_image_tensor(f).numpy(),
                                  f.transpose(2, 0, 1).astype(np.float32))
    chw = torch.rand(4, 5, 7, dtype=torch.float64)  # torch is (C, H, W) already
    assert torch.equal(as_image_tensor(chw), chw.float())
    assert torch.equal(as_image_tensor(chw[0]), chw[:1].float())
    assert torch.equal(as_image_tensor(torch.full((2, 2), 255, dtype=torch.uint8)),
                       torch.ones(1, 2, 2))


def test_as_image_tensor_read_only_and_non_contiguous(tmp_path):
    a = np.random.default_rng(1).random((6, 8)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    mm = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert not mm.flags.writeable
    np.testing.assert_array_equal(as_image_tensor(mm)[0].numpy(), a)
    np.testing.assert_array_equal(as_image_tensor(a[::2, ::3])[0].numpy(), a[::2, ::3])


def test_as_image_tensor_stays_on_its_device(device):
    x = torch.rand(3, 9, 9, device=device)
    assert as_image_tensor(x).device == x.device


@pytest.mark.parametrize(
    "image, exc, words",
    [
        (np.zeros((4, 4), np.int64), TypeError, "uint8, uint16 or float"),
        (torch.zeros(4, 4, dtype=torch.bool), TypeError, "uint8, uint16 or float"),
        (np.full((4, 4), np.nan), ValueError, "NaN or Inf"),
        (torch.full((1, 4, 4), float("inf")), ValueError, "NaN or Inf"),
        (np.zeros(4), ValueError, r"2 to 3 dimensions \(H, W\) or \(H, W, C\)"),
        (torch.zeros(1, 1, 4, 4), ValueError, r"2 to 3 dimensions \(H, W\) or \(C, H, W\)"),
        (np.zeros((0, 4)), ValueError, "empty"),
        ("image.png", TypeError, "numpy array, torch tensor"),
    ],
)
def test_as_image_tensor_errors(image, exc, words):
    with pytest.raises(exc, match=words):
        as_image_tensor(image)
    with pytest.raises(exc, match="photo"):
        as_image_tensor(image, "photo")


def test_as_image_list_forms():
    ims = [np.zeros((5, 5)), np.zeros((6, 6, 3))]
    out = as_image_list(ims)
    assert len(out) == 2 and out[0] is ims[0] and out[1] is ims[1]  # unconverted
    assert len(as_image_list(tuple(ims))) == 2
    assert len(as_image_list(torch.zeros(4, 3, 8, 8))) == 4  # torch (N, C, H, W)
    nb = as_image_list(np.zeros((4, 8, 8, 3)))  # numpy (N, H, W, C)
    assert len(nb) == 4 and nb[0].shape == (8, 8, 3)
    assert len(as_image_list(np.zeros((8, 8)))) == 1
    assert len(as_image_list(np.zeros((8, 8, 3)))) == 1  # 3-D: one image
    assert len(as_image_list(torch.zeros(3, 8, 8))) == 1


def test_as_image_list_channels_tell_a_gray_batch_from_one_image():
    assert len(as_image_list(np.zeros((5, 8, 8)), channels=1)) == 5  # numpy (N, H, W)
    assert len(as_image_list(np.zeros((8, 8, 3)), channels=3)) == 1  # numpy (H, W, C)
    assert len(as_image_list(torch.zeros(5, 8, 8), channels=3)) == 5  # torch (N, H, W)
    assert len(as_image_list(torch.zeros(3, 8, 8), channels=3)) == 1  # torch (C, H, W)
    assert len(as_image_list(torch.zeros(1, 8, 8), channels=1)) == 1


def test_as_image_list_errors():
    with pytest.raises(ValueError, match="empty"):
        as_image_list([])
    with pytest.raises(ValueError, match="2 to 4 dimensions"):
        as_image_list(np.zeros((1, 2, 3, 4, 5)))
    with pytest.raises(ValueError, match="2 to 4 dimensions"):
        as_image_list(np.zeros(5))
    with pytest.raises(TypeError, match="numpy array, torch tensor"):
        as_image_list("a.png")


def test_images_with_channels_names_the_image():
    ims = images_with_channels([np.zeros((8, 8, 3)), torch.zeros(3, 8, 8)], 3)
    assert len(ims) == 2
    with pytest.raises(ValueError, match=r"images\[1\] has 3 channel\(s\); this model takes 1"):
        images_with_channels([np.zeros((8, 8)), np.zeros((8, 8, 3))], 1)
    assert len(images_with_channels(np.zeros((4, 8, 8), np.float32), 1)) == 4


def test_image_hw_and_channels_from_shapes():
    assert image_hw(np.zeros((5, 7))) == (5, 7)
    assert image_hw(np.zeros((5, 7, 3))) == (5, 7)  # numpy (H, W, C)
    assert image_hw(torch.zeros(3, 5, 7)) == (5, 7)  # torch (C, H, W)
    assert image_hw(torch.zeros(5, 7)) == (5, 7)
    assert image_channels(np.zeros((5, 7))) == 1
    assert image_channels(np.zeros((5, 7, 4))) == 4
    assert image_channels(torch.zeros(2, 5, 7)) == 2
    with pytest.raises(ValueError, match="2 or 3 dimensions"):
        image_hw(np.zeros(5))
    with pytest.raises(TypeError, match="numpy array, torch tensor"):
        image_hw([1, 2])
    with pytest.raises(ValueError, match="pic must have 2 to 3 dimensions"):
        image_channels(np.zeros((1, 2, 3, 4)), "pic")


def test_fitted_hw_scales_down_isotropically_never_up():
    assert fitted_hw(200, 100, None) == (200, 100)
    assert fitted_hw(200, 100, (64, 64)) == (64, 32)
    assert fitted_hw(100, 20, (32, 32)) == (32, 6)
    assert fitted_hw(30, 40, (64, 64)) == (30, 40)  # never scaled up
    assert fitted_hw(64, 64, (64, 64)) == (64, 64)
    assert fitted_hw(10, 1000, (64, 64)) == (1, 64)  # at least one pixel
    for h, w in [(384, 512), (513, 383), (1000, 999), (37, 1200)]:
        fh, fw = fitted_hw(h, w, (100, 120))
        assert fh <= 100 and fw <= 120 and (fh == 100 or fw == 120)


def test_fit_image():
    t = torch.rand(2, 30, 40)
    assert fit_image(t, None) is t and fit_image(t, (64, 64)) is t
    got = fit_image(torch.rand(2, 200, 100), (64, 64))
    assert got.shape == (2, 64, 32)
    x = torch.rand(1, 90, 45)
    want = F.interpolate(x[None], size=(64, 32), mode="bilinear", antialias=True)[0]
    torch.testing.assert_close(fit_image(x, (64, 64)), want)


def test_prepare_image(device):
    rng = np.random.default_rng(2)
    img = (rng.random((50, 30, 3)) * 255).astype(np.uint8)
    t = prepare_image(img, "img", device=device)
    assert t.shape == (3, 50, 30) and t.dtype == torch.float32 and t.is_contiguous()
    assert t.device.type == device
    ref = reference_lcn(img.transpose(2, 0, 1).astype(np.float32) / 255)
    np.testing.assert_allclose(t.cpu().numpy(), ref, atol=2e-5)
    raw = prepare_image(img, "img", lcn=False, device=device)
    assert raw.is_contiguous()  # the (H, W, C) -> (C, H, W) view is made contiguous
    np.testing.assert_array_equal(raw.cpu().numpy(),
                                  img.transpose(2, 0, 1).astype(np.float32) / 255)
    small = prepare_image(img, "img", max_size=(25, 25), lcn=True, device=device)
    fitted = fit_image(torch.from_numpy(img).permute(2, 0, 1).float() / 255, (25, 25))
    assert small.shape == (3, 25, 15)
    torch.testing.assert_close(small.cpu(), hyperkit.lcn(fitted), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"images\[3\] contains NaN"):
        prepare_image(np.full((8, 8), np.nan), "images[3]")
