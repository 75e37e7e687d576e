"""The image contract (hyperkit.images): layouts read from shapes (and refused where a
shape reads two ways), channel checks, value ranges, gray conversion, preparation and
reading files at their real depth."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.color import rgb2gray

import hyperkit
from hyperkit.images import (
    IMAGE_SUFFIXES,
    as_image_tensor,
    check_channels,
    fit_image,
    fitted_hw,
    image_channels,
    image_hw,
    prepare_image,
    read_image,
    single_image,
    split_images,
    to_gray,
)

from .reference import reference_lcn

# ------------------------------------------------------------------- as_image_tensor


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
    f = rng.random((5, 7, 2))  # floats in [0, 1] are taken as they are, as float32
    np.testing.assert_array_equal(as_image_tensor(f).numpy(),
                                  f.transpose(2, 0, 1).astype(np.float32))
    chw = torch.rand(4, 5, 7, dtype=torch.float64)  # torch is (C, H, W) already
    assert torch.equal(as_image_tensor(chw), chw.float())
    assert torch.equal(as_image_tensor(chw[0]), chw[:1].float())
    assert torch.equal(as_image_tensor(torch.full((2, 2), 255, dtype=torch.uint8)),
                       torch.ones(1, 2, 2))
    # torch uint16 is 0-65535 as numpy's is
    t16 = torch.from_numpy(rgb).permute(2, 0, 1)
    assert torch.equal(as_image_tensor(t16), as_image_tensor(rgb))


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


@pytest.mark.parametrize("scale, words", [
    (255, r"0-255 image stored as floats; divide it by 255"),
    (65535, r"0-65535 image stored as floats; divide it by 65535"),
])
def test_float_images_outside_0_1_name_the_scale(scale, words):
    """Issue #9: a 0-255 float image gave a score outside the model's label range."""
    img = (np.random.default_rng(2).random((20, 30)) * scale).astype(np.float32)
    img[0, 0] = scale
    with pytest.raises(ValueError, match=words):
        as_image_tensor(img, "photo")
    with pytest.raises(ValueError, match=f"photo holds values up to {scale}"):
        as_image_tensor(torch.from_numpy(img)[None], "photo")


def test_float_images_in_minus_one_one_and_beyond():
    x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    with pytest.raises(ValueError,
                       match=r"\[-1, 1\] image; map it to \[0, 1\] with \(x \+ 1\) / 2"):
        as_image_tensor(x)
    with pytest.raises(ValueError, match=r"values in \[-3, 1e\+06\]; float images must be in "
                                         r"\[0, 1\]"):
        as_image_tensor(np.array([[-3.0, 1e6], [0, 0]]))


def test_float_tolerance_is_one_grey_level():
    """Resampling overshoot within 1/255 of [0, 1] is accepted (and kept as it is)."""
    x = np.full((6, 6), 0.5, np.float32)
    x[0, 0], x[0, 1] = -0.9 / 255, 1 + 0.9 / 255
    np.testing.assert_array_equal(as_image_tensor(x)[0].numpy(), x)
    x[0, 1] = 1 + 2 / 255
    with pytest.raises(ValueError, match="float images must be in|looks like"):
        as_image_tensor(x)


# ------------------------------------------------------------------ layouts


def test_split_images_forms():
    ims = [np.zeros((5, 5)), np.zeros((6, 6, 3))]
    out = split_images(ims)
    assert len(out) == 2 and out[0] is ims[0] and out[1] is ims[1]  # unconverted
    assert len(split_images(tuple(ims))) == 2
    assert len(split_images(torch.zeros(4, 3, 8, 8))) == 4  # torch (N, C, H, W)
    nb = split_images(np.zeros((4, 8, 8, 3)))  # numpy (N, H, W, C)
    assert len(nb) == 4 and nb[0].shape == (8, 8, 3)
    assert len(split_images(np.zeros((8, 8)))) == 1
    assert len(split_images(np.zeros((8, 8, 3)))) == 1  # numpy (H, W, C): one image
    assert len(split_images(torch.zeros(3, 8, 8))) == 1  # torch (C, H, W): one image
    # 3-D with no axis that can hold channels: a batch of gray images
    g = split_images(np.zeros((5, 8, 9)))
    assert len(g) == 5 and g[0].shape == (8, 9)
    assert len(split_images(torch.zeros(6, 8, 9))) == 6


def test_split_images_refuses_shapes_that_read_two_ways():
    for shape in [(2, 128, 128), (3, 512, 512), (4, 8, 8)]:
        with pytest.raises(ValueError, match=r"gray .* or as one channels-first image .*"
                                             "channel_axis="):
            split_images(np.zeros(shape))
    with pytest.raises(ValueError, match=r"channels-last image \(torch images keep channels "
                                         r"first\).*channel_axis="):
        split_images(torch.zeros(512, 512, 3))
    with pytest.raises(ValueError, match=r"does not read as \(N, H, W, C\).*channel_axis="):
        split_images(np.zeros((2, 3, 16, 16)))  # numpy (N, C, H, W)
    with pytest.raises(ValueError, match=r"does not read as \(N, C, H, W\)"):
        split_images(torch.zeros(2, 16, 16, 3))


def test_channel_axis_states_the_layout():
    x = np.random.default_rng(3).random((2, 16, 20))
    batch = split_images(x, channel_axis=None)  # two gray images
    assert len(batch) == 2 and all(np.shares_memory(b, x) for b in batch)
    np.testing.assert_array_equal(batch[1], x[1])
    (one,) = split_images(x, channel_axis=0)  # one 2-channel image, as a view
    assert one.shape == (16, 20, 2) and np.shares_memory(one, x)
    np.testing.assert_array_equal(one[..., 1], x[1])
    nchw = np.random.default_rng(4).random((3, 2, 16, 20))
    views = split_images(nchw, channel_axis=1)
    assert len(views) == 3 and views[2].shape == (16, 20, 2)
    np.testing.assert_array_equal(np.moveaxis(views[2], -1, 0), nchw[2])
    (t,) = split_images(torch.zeros(16, 20, 3), channel_axis=-1)
    assert t.shape == (3, 16, 20)
    assert len(split_images(torch.zeros(3, 16, 20), channel_axis=None)) == 3
    # per item of a list
    ims = split_images([np.zeros((3, 16, 20)), np.zeros((3, 10, 12))], channel_axis=0)
    assert [im.shape for im in ims] == [(16, 20, 3), (10, 12, 3)]


@pytest.mark.parametrize("images, kw, exc, words", [
    ([], {}, ValueError, "empty"),
    (np.zeros((1, 2, 3, 4, 5)), {}, ValueError, "2 to 4 dimensions"),
    (np.zeros(5), {}, ValueError, "2 to 4 dimensions"),
    ("a.png", {}, TypeError, "numpy array, torch tensor"),
    (np.zeros((2, 8, 8)), {"channel_axis": 3}, ValueError, "out of range"),
    (np.zeros((2, 8, 8)), {"channel_axis": "last"}, TypeError, "channel_axis"),
    (np.zeros((2, 8, 8)), {"channel_axis": True}, TypeError, "channel_axis"),
    (np.zeros((2, 8, 8, 3)), {"channel_axis": None}, ValueError, "axis 1, 2 or 3"),
    (np.zeros((2, 8, 8, 3)), {"channel_axis": 0}, ValueError, "axis 1, 2 or 3"),
    ([np.zeros((8, 8, 3))], {"channel_axis": None}, ValueError, "channel_axis=None"),
])
def test_split_images_errors(images, kw, exc, words):
    with pytest.raises(exc, match=words):
        split_images(images, **kw)


def test_single_image_names_the_layout_it_expects():
    assert single_image(np.zeros((8, 9, 4))).shape == (8, 9, 4)
    assert single_image(torch.zeros(1, 8, 9)).shape == (1, 8, 9)
    with pytest.raises(ValueError, match=r"pic has shape \(3, 8, 9\), which looks like a "
                                         r"channels-first image, but numpy images keep "
                                         "channels last.*channel_axis="):
        single_image(np.zeros((3, 8, 9)), name="pic")
    with pytest.raises(ValueError, match="channels-last image, but torch images keep channels "
                                         "first"):
        single_image(torch.zeros(8, 9, 3))
    with pytest.raises(ValueError, match="5 channels, more than 4"):
        single_image(np.zeros((8, 9, 5)))
    with pytest.raises(ValueError, match=r"2 to 3 dimensions \(H, W\) or \(H, W, C\)"):
        single_image(np.zeros((2, 8, 9, 3)))


def test_image_hw_and_channels_from_shapes():
    assert image_hw(np.zeros((5, 7))) == (5, 7)
    assert image_hw(np.zeros((5, 7, 3))) == (5, 7)  # numpy (H, W, C)
    assert image_hw(torch.zeros(3, 5, 7)) == (5, 7)  # torch (C, H, W)
    assert image_hw(torch.zeros(5, 7)) == (5, 7)
    assert image_channels(np.zeros((5, 7))) == 1
    assert image_channels(np.zeros((5, 7, 4))) == 4
    assert image_channels(torch.zeros(2, 5, 7)) == 2


# ------------------------------------------------------------------ channels


def test_check_channels_names_the_image_and_both_counts():
    assert check_channels([np.zeros((8, 8, 3)), torch.zeros(3, 8, 8)], 3) == 3
    assert check_channels([np.zeros((8, 8, 3)), np.zeros((8, 8))], 1) == 1  # RGB -> gray
    assert check_channels([np.zeros((5, 5, 3)), torch.zeros(3, 5, 5)], None) == 3
    assert check_channels([np.zeros((5, 5)), torch.zeros(5, 5)], None) == 1
    with pytest.raises(ValueError, match=r"images\[2\] has 2 channel\(s\) but images\[0\] has 1"):
        check_channels([np.zeros((5, 5)), np.zeros((5, 5)), torch.zeros(2, 5, 5)], None)
    # without a network's count, gray and RGB do not mix, in either order (RGB becomes
    # gray only for a network that takes one channel)
    with pytest.raises(ValueError, match=r"images\[1\] has 1 channel\(s\) but images\[0\] has 3"):
        check_channels([np.zeros((5, 5, 3)), np.zeros((5, 5))], None)
    with pytest.raises(ValueError, match=r"images\[1\] has 3 channel\(s\) but images\[0\] has 1"):
        check_channels([np.zeros((5, 5)), np.zeros((5, 5, 3))], None)
    with pytest.raises(ValueError, match=r"val\[1\] has 4 channel\(s\); the network takes 3; "
                                         r"drop the alpha channel .*rgba2rgb"):
        check_channels([np.zeros((8, 8, 3)), np.zeros((8, 8, 4))], 3, "val")
    with pytest.raises(ValueError, match=r"images\[0\] has 1 channel\(s\); the network takes 3; "
                                         "this network was trained on colour images"):
        check_channels([np.zeros((8, 8))], 3)
    with pytest.raises(ValueError, match=r"has 4 channel\(s\); the network takes 1.*alpha"):
        check_channels([np.zeros((8, 8, 4))], 1)
    with pytest.raises(ValueError, match=r"has 2 channel\(s\); the network takes 1"):
        check_channels([np.zeros((8, 8, 2))], 1)


def test_to_gray_is_skimage_rgb2gray():
    rgb = np.random.default_rng(5).random((12, 17, 3))
    got = to_gray(torch.from_numpy(rgb).permute(2, 0, 1).float())
    assert got.shape == (1, 12, 17)
    np.testing.assert_allclose(got[0].numpy(), rgb2gray(rgb), atol=1e-6)


# ------------------------------------------------------------------ fitting, preparing


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


def test_prepare_image_converts_rgb_to_gray_for_one_channel(device):
    rgb = (np.random.default_rng(6).random((20, 24, 3)) * 255).astype(np.uint8)
    g = prepare_image(rgb, "img", device=device, lcn=False, channels=1)
    assert g.shape == (1, 20, 24) and g.device.type == device
    np.testing.assert_allclose(g[0].cpu().numpy(), rgb2gray(rgb), atol=1e-6)
    # a gray image, or another count, is left as it is
    assert prepare_image(rgb[..., 0], "img", lcn=False, channels=1).shape == (1, 20, 24)
    assert prepare_image(rgb, "img", lcn=False, channels=3).shape == (3, 20, 24)


# ------------------------------------------------------------------ reading files


def test_image_suffixes():
    for s in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy"):
        assert s in IMAGE_SUFFIXES


def test_read_image_8_bit_modes(tmp_path):
    rng = np.random.default_rng(7)
    gray = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    for name, arr in (("g.png", gray), ("c.png", rgb), ("a.png", rgba), ("t.tif", rgb)):
        Image.fromarray(arr).save(tmp_path / name)
        got = read_image(tmp_path / name)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arr)
    # palette -> RGB (RGBA with transparency); 1-bit -> L; CMYK -> RGB
    pal = Image.fromarray(rgb).quantize(8)
    pal.save(tmp_path / "p.png")
    got = read_image(tmp_path / "p.png")
    assert got.dtype == np.uint8 and got.shape == (9, 11, 3)
    np.testing.assert_array_equal(got, np.asarray(pal.convert("RGB")))
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pt.png", transparency=0)
    assert read_image(tmp_path / "pt.png").shape == (9, 11, 4)
    Image.fromarray(gray > 127).save(tmp_path / "b.png")
    bits = read_image(tmp_path / "b.png")
    assert bits.dtype == np.uint8 and bits.shape == (9, 11)
    np.testing.assert_array_equal(bits, np.where(gray > 127, 255, 0))
    cmyk = Image.fromarray(rgb).convert("CMYK")
    cmyk.save(tmp_path / "k.tif")
    got = read_image(tmp_path / "k.tif")
    assert got.shape == (9, 11, 3)
    np.testing.assert_array_equal(got, np.asarray(cmyk.convert("RGB")))


def test_read_image_reads_16_bit_and_float_modes_at_depth(tmp_path):
    """Issue #9: a 16-bit PNG was converted with Image.convert('L'), which clipped almost
    every pixel to 255."""
    rng = np.random.default_rng(8)
    a16 = rng.integers(0, 65536, (10, 13), dtype=np.uint16)
    Image.fromarray(a16).save(tmp_path / "i16.png")  # mode I;16
    with Image.open(tmp_path / "i16.png") as im:
        assert im.mode in ("I;16", "I")
    got = read_image(tmp_path / "i16.png")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, a16)
    # mode I (32-bit integers) holding 16-bit values
    i32 = a16.astype(np.int32)
    Image.fromarray(i32).save(tmp_path / "i32.tif")
    with Image.open(tmp_path / "i32.tif") as im:
        assert im.mode == "I"
    got = read_image(tmp_path / "i32.tif")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, a16)
    # mode F: float32 as it is
    f = rng.random((10, 13)).astype(np.float32)
    Image.fromarray(f).save(tmp_path / "f.tif")
    with Image.open(tmp_path / "f.tif") as im:
        assert im.mode == "F"
    got = read_image(tmp_path / "f.tif")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, f)
    # 32-bit values beyond 16 bits cannot be scaled safely: refused, naming the file
    i32[0, 0] = 70000
    Image.fromarray(i32).save(tmp_path / "big.tif")
    with pytest.raises(ValueError, match=r"big\.tif holds 32-bit integers beyond 16 bits"):
        read_image(tmp_path / "big.tif")


def test_read_image_npy_and_errors(tmp_path):
    arr = np.random.default_rng(9).random((6, 7, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", arr)
    got = read_image(tmp_path / "x.npy")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, arr)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"obj\.npy is not a readable \.npy array"):
        read_image(tmp_path / "obj.npy")
    with pytest.raises(FileNotFoundError, match=r"image file .*nope\.png does not exist"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ValueError, match="is a folder, not an image file"):
        read_image(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"bad\.png is not a readable image"):
        read_image(tmp_path / "bad.png")


def _png_claiming(path, width, height):
    """A tiny PNG whose header claims width x height (no real pixel data)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_pixel_budget_refuses_huge_images_before_decoding(tmp_path, monkeypatch):
    """Issue 22, item 2: a 74-byte PNG claiming 50000 x 50000 aborted a whole batch with
    DecompressionBombError; 178 M pixels were decoded (5.6 GB)."""
    from hyperkit.images import MAX_PIXELS_DEFAULT, max_pixels, read_image

    bomb = _png_claiming(tmp_path / "bomb.png", 50000, 50000)
    with pytest.raises(ValueError, match="bomb.png"):
        read_image(bomb)
    big = _png_claiming(tmp_path / "big.png", 12000, 9000)  # 108 M: under Pillow's error
    with pytest.raises(ValueError, match="over the budget of 64,000,000"):
        read_image(big)
    assert max_pixels() == MAX_PIXELS_DEFAULT
    np.save(tmp_path / "a.npy", np.zeros((20, 20), np.float32))
    monkeypatch.setenv("HYPERKIT_MAX_PIXELS", "100")
    with pytest.raises(ValueError, match="400 pixels, over the budget of 100"):
        read_image(tmp_path / "a.npy")
    monkeypatch.setenv("HYPERKIT_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="HYPERKIT_MAX_PIXELS must be an integer"):
        read_image(tmp_path / "a.npy")


def test_a_bomb_in_a_batch_is_skipped_and_the_rest_scored(tmp_path, capsys):
    from hyperkit.cli import main

    Image.fromarray(np.full((64, 80, 3), 120, np.uint8)).save(tmp_path / "a.png")
    _png_claiming(tmp_path / "b.png", 50000, 50000)
    Image.fromarray(np.full((64, 80, 3), 60, np.uint8)).save(tmp_path / "c.png")
    with pytest.raises(SystemExit, match=r"1 input\(s\) failed, 2 scored"):
        main(["score", str(tmp_path), "--csv", str(tmp_path / "s.csv")])
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 3
    assert "skipped" in capsys.readouterr().err
