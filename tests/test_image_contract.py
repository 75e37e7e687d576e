"""Issue #9: one image contract across lcn, gather_patches, build_hyperimage and
TwoStage.predict. Each case the issue lists (a silently wrong number, or an error that
pointed at the wrong thing) is a test here; the command line's cases are in
tests/test_cli.py. Photos are scikit-image's bundled ones, as a new user would try."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data
from skimage.color import rgb2gray

import hyperkit
from hyperkit import nets
from hyperkit.model import TwoStage

from .reference import by_hand, reference_lcn

ASTRONAUT = data.astronaut()  # (512, 512, 3) uint8
CAMERA = data.camera()  # (512, 512) uint8
COFFEE = data.coffee()  # (400, 600, 3) uint8


def first_pixels(p):
    """A parameter-free stage 1: the first 8 values of each patch as its features."""
    return p.flatten(1)[:, :8]


def counting_calls(net):
    """A list that grows each time any layer of ``net`` runs (forward pre-hooks)."""
    calls = []
    for m in net.modules():
        if not list(m.children()):
            m.register_forward_pre_hook(lambda *_: calls.append(1))
    return calls


def rgb_model(lcn=True):
    """An untrained two-stage model for RGB images (16x16 patches, 2x2 grid)."""
    torch.manual_seed(0)
    s1 = "Input(16,16,3) - C(4) - MP(4) - FC(6) - FC(1,'linear')"
    s2 = "Input(2,2,6) - FC(4) - FC(1,'linear')"
    return TwoStage(nets.build(s1), nets.build(s2), stage1_arch=s1, stage2_arch=s2,
                    patch=(16, 16), grid=(2, 2), lcn=lcn).eval()


# ------------------------------------------------------------------------------ lcn


def test_lcn_of_an_rgb_numpy_image_normalizes_each_channel():
    """Was: an (H, W, 3) image normalized as 512 planes of 512x3 pixels (off by 2.58)."""
    x = ASTRONAUT / 255.0
    got = hyperkit.lcn(x)
    assert got.shape == x.shape and got.dtype == x.dtype
    per_channel = np.stack([hyperkit.lcn(x[..., c]) for c in range(3)], axis=-1)
    np.testing.assert_allclose(got, per_channel, rtol=0, atol=1e-12)
    planes = hyperkit.lcn(x, channel_axis=None)  # the old reading, asked for explicitly
    assert np.abs(planes - got).max() > 1
    crop = x[200:264, 180:260]  # against the float64 definition, on a crop
    np.testing.assert_allclose(hyperkit.lcn(crop),
                               reference_lcn(crop.transpose(2, 0, 1)).transpose(1, 2, 0),
                               atol=1e-10)
    # float32, and a numpy (N, H, W, C) batch, keep their layout too
    x32 = np.stack([crop, crop[::-1]]).astype(np.float32)
    got32 = hyperkit.lcn(x32)
    assert got32.shape == x32.shape and got32.dtype == np.float32
    np.testing.assert_allclose(got32[1], hyperkit.lcn(crop[::-1].copy()), atol=2e-5)


def test_lcn_torch_and_explicit_channel_axis():
    x = ASTRONAUT[100:164, 300:380] / 255.0
    want = hyperkit.lcn(x)
    t = torch.from_numpy(x)  # torch (H, W, C): not torch's layout
    with pytest.raises(ValueError, match=r"looks like channels-last.*channel_axis=-1"):
        hyperkit.lcn(t)
    np.testing.assert_allclose(hyperkit.lcn(t, channel_axis=-1).numpy(), want, atol=1e-12)
    chw = hyperkit.lcn(t.permute(2, 0, 1))  # torch (C, H, W): every channel a plane
    np.testing.assert_allclose(chw.permute(1, 2, 0).numpy(), want, atol=1e-12)
    # an int names the channel axis of a numpy array too; None: every index is a plane
    np.testing.assert_allclose(hyperkit.lcn(x.transpose(2, 0, 1).copy(), channel_axis=0),
                               want.transpose(2, 0, 1), atol=1e-12)
    np.testing.assert_allclose(hyperkit.lcn(t, channel_axis=None).numpy(),
                               reference_lcn(x), atol=1e-10)
    with pytest.raises(ValueError, match="channel_axis"):
        hyperkit.lcn(x, channel_axis=5)


def test_lcn_small_last_axis_of_gray_planes_is_not_read_as_channels():
    """(N, H, W) planes whose H or W is at most 4 stay planes, as before."""
    x = np.random.default_rng(0).random((6, 3, 4))
    np.testing.assert_allclose(hyperkit.lcn(x), reference_lcn(x), atol=1e-10)


# ------------------------------------------------------------------- gather_patches


def test_gather_patches_of_numpy_rgb_images_of_different_sizes():
    """Was: 'different channel counts [400, 512]'."""
    ims = [ASTRONAUT / 255.0, COFFEE / 255.0]
    got = hyperkit.gather_patches(ims, 32, (2, 3))
    assert isinstance(got, np.ndarray) and got.shape == (12, 3, 32, 32)
    np.testing.assert_array_equal(got, by_hand([im.transpose(2, 0, 1) for im in ims],
                                               32, 32, 2, 3))
    # the torch twins give the same patches
    tw = [torch.from_numpy(im).permute(2, 0, 1) for im in ims]
    np.testing.assert_array_equal(hyperkit.gather_patches(tw, 32, (2, 3)).numpy(), got)


# ----------------------------------------------------------------- build_hyperimage


def test_build_hyperimage_refuses_a_channels_last_torch_image():
    """Was: 'images[0] is 512x3, smaller than the 16x16 patch'."""
    t = torch.from_numpy(ASTRONAUT)
    with pytest.raises(ValueError, match=r"\(512, 512, 3\).*channels-last.*channel_axis="):
        hyperkit.build_hyperimage(t, first_pixels, patch=16)
    got = hyperkit.build_hyperimage(t, first_pixels, patch=32, grid=(2, 2), channel_axis=-1)
    want = hyperkit.build_hyperimage(ASTRONAUT, first_pixels, patch=32, grid=(2, 2))
    assert want.shape == (1, 8, 2, 2)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(hyperkit.build_hyperimage(t.permute(2, 0, 1), first_pixels,
                                                         patch=32, grid=(2, 2)), want)


def test_build_hyperimage_refuses_a_numpy_stack_of_two_gray_images():
    """Was: read as one 2x512 image, while predict took the same array as a batch."""
    stack = np.stack([CAMERA, CAMERA[::-1]])
    with pytest.raises(ValueError, match=r"reads as 2 gray 512x512 images or as one "
                                         r"channels-first image.*channel_axis="):
        hyperkit.build_hyperimage(stack, first_pixels, patch=16)
    got = hyperkit.build_hyperimage(stack, first_pixels, patch=32, grid=(3, 3),
                                    channel_axis=None)
    assert got.shape == (2, 8, 3, 3)
    want = hyperkit.build_hyperimage([CAMERA, CAMERA[::-1]], first_pixels, patch=32,
                                     grid=(3, 3))
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    # with many images no axis can hold channels: (N, H, W) is a batch without asking
    many = np.stack([CAMERA[:64, :64]] * 5)
    assert hyperkit.build_hyperimage(many, first_pixels, patch=32, grid=(1, 1)).shape[0] == 5


def test_whole_network_instead_of_its_features_is_refused():
    for net in (nets.build("synthetic_stage1"), nets.KangStage1(in_channels=1)):
        with pytest.raises(TypeError, match=r"pass stage1\.features"):
            hyperkit.build_hyperimage(CAMERA, net, patch=net.input_shape[1:])
    # a network without a head is a feature extractor: taken whole
    fx = nets.build("Input(16,16) - C(2) - FC(3)")
    assert hyperkit.build_hyperimage(CAMERA[:64, :64], fx, patch=16, grid=(2, 2),
                                     lcn=False).shape == (1, 3, 2, 2)


def test_a_preset_stage1_refuses_another_patch_size():
    net = nets.build("synthetic_stage1").eval()
    calls = counting_calls(net)
    with pytest.raises(ValueError, match=r"stage1 takes 16x16 patches .* not 32x32; pass "
                                         r"patch=\(16, 16\)"):
        hyperkit.build_hyperimage(CAMERA, net.features, patch=32)
    with pytest.raises(ValueError, match="takes 32x32 patches"):
        hyperkit.build_hyperimage(CAMERA, nets.KangStage1(in_channels=1).features, patch=16)
    assert calls == []
    ok = hyperkit.build_hyperimage(CAMERA[:64, :64], net.features, patch=16, grid=(2, 2))
    assert ok.shape == (1, 400, 2, 2) and calls


def test_channel_mismatch_is_refused_before_any_network_runs():
    """Was: torch's own RuntimeError from conv2d for a 4-channel image into an RGB net."""
    model = rgb_model()
    calls = counting_calls(model)
    rgba = np.dstack([ASTRONAUT[:64, :64], np.full((64, 64), 255, np.uint8)])
    with pytest.raises(ValueError, match=r"images\[0\] has 4 channel\(s\); the network takes "
                                         r"3; drop the alpha channel"):
        model.predict(rgba)
    with pytest.raises(ValueError, match=r"images\[1\] has 4 channel\(s\); the network takes 3"):
        model.predict([ASTRONAUT[:64, :64], rgba], method="patch_average")
    with pytest.raises(ValueError, match=r"images\[0\] has 4 channel\(s\); the network takes 3"):
        hyperkit.build_hyperimage(rgba, model.stage1.features, patch=16)
    with pytest.raises(ValueError, match=r"has 1 channel\(s\); the network takes 3; this "
                                         "network was trained on colour images"):
        model.predict(CAMERA[:64, :64])
    # a stage 1 that declares nothing: channels= states it
    with pytest.raises(ValueError, match=r"has 4 channel\(s\); the network takes 3"):
        hyperkit.build_hyperimage(rgba, first_pixels, patch=16, channels=3)
    assert calls == []
    assert model.predict(ASTRONAUT[:64, :64]).shape == (1,) and calls


def test_rgb_model_takes_every_rgb_form_alike():
    model = rgb_model()
    im = ASTRONAUT[:48, 100:160]
    ref = model.predict(im)
    for form in (torch.from_numpy(im).permute(2, 0, 1), im / 255.0, [im], im[None],
                 torch.from_numpy(im).permute(2, 0, 1)[None]):
        np.testing.assert_allclose(model.predict(form), ref, rtol=1e-6)


# ------------------------------------------------------------------ TwoStage.predict


def test_gray_model_scores_rgb_images_as_gray(trained):
    """Was: 'images[0] is 512x3, smaller than the 16x16 patch'."""
    model = trained[0]
    assert model.channels == 1
    got = model.predict(ASTRONAUT)
    assert got.shape == (1,)
    want = model.predict(rgb2gray(ASTRONAUT))  # skimage's own luma, float64 in [0, 1]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(torch.from_numpy(ASTRONAUT).permute(2, 0, 1)),
                               want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict([COFFEE, ASTRONAUT], method="patch_average"),
                               model.predict([rgb2gray(COFFEE), rgb2gray(ASTRONAUT)],
                                             method="patch_average"), rtol=1e-5, atol=1e-6)
    rgba = np.dstack([ASTRONAUT, np.full(ASTRONAUT.shape[:2], 255, np.uint8)])
    with pytest.raises(ValueError, match=r"has 4 channel\(s\); the network takes 1; drop the "
                                         "alpha channel"):
        model.predict(rgba)


def test_float_0_255_images_are_refused(trained):
    """Was: 12.18, outside the model's whole label range, without a warning."""
    model = trained[0]
    with pytest.raises(ValueError, match=r"up to 255: it looks like a 0-255 image stored as "
                                         "floats; divide it by 255"):
        model.predict(CAMERA.astype(np.float32))
    with pytest.raises(ValueError, match="divide it by 65535"):
        model.predict([CAMERA.astype(np.float64) * 257])
    np.testing.assert_allclose(model.predict(CAMERA.astype(np.float32) / 255),
                               model.predict(CAMERA), rtol=1e-6)


def test_16_bit_8_bit_and_uint16_give_the_same_score(trained, tmp_path):
    """Was: 4.07 for the 16-bit PNG, 3.04 for its 8-bit twin and the uint16 array."""
    from hyperkit.images import read_image

    model = trained[0]
    rng = np.random.default_rng(1)
    cam16 = np.clip(CAMERA.astype(np.int64) * 257 + rng.integers(-128, 129, CAMERA.shape),
                    0, 65535).astype(np.uint16)
    cam8 = np.round(cam16 / 257).astype(np.uint8)  # its 8-bit twin, within a grey level
    Image.fromarray(cam16).save(tmp_path / "cam16.png")
    Image.fromarray(cam8).save(tmp_path / "cam8.png")
    np.save(tmp_path / "cam16.npy", cam16)
    ref = model.predict(cam16)
    for m in ("two_stage", "patch_average"):
        want = model.predict(cam16, method=m)
        for f in ("cam16.png", "cam16.npy"):
            np.testing.assert_array_equal(model.predict(read_image(tmp_path / f), method=m),
                                          want)
        # a grey level moves this model's scores by about 0.002 (the old 16-bit reading
        # by 0.01 to 0.3)
        np.testing.assert_allclose(model.predict(read_image(tmp_path / "cam8.png"), method=m),
                                   want, atol=0.005)
    # the hyper-images agree within what a grey level moves them
    h16 = model.hyperimages(read_image(tmp_path / "cam16.png"))
    h8 = model.hyperimages(read_image(tmp_path / "cam8.png"))
    scale = float(h16.abs().max())
    assert scale > 0 and float((h8 - h16).abs().max()) < 0.01 * scale
    np.testing.assert_allclose(model.predict(cam16.astype(np.float64) / 65535), ref, rtol=1e-5)


# ------------------------------------------------------------------ property


def fixed_stage1(c, patch=8, d=6):
    """A parameter-free stage 1: d weighted means of each patch (weights >= 0, sum 1), so
    a feature moves by at most the largest pixel change."""
    g = torch.Generator().manual_seed(c)
    w = torch.rand(c * patch * patch, d, generator=g)
    w /= w.sum(0)
    return lambda p: p.flatten(1) @ w


def hyper(image, stage1, lcn=True):
    return hyperkit.build_hyperimage(image, stage1, patch=8, grid=(3, 3), lcn=lcn)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(8, 40), w=st.integers(8, 40),  # numpy (H, W, C) needs H, W > 4
       c=st.sampled_from([1, 2, 3, 4]), seed=st.integers(0, 2**32 - 1), smooth=st.booleans())
def test_same_picture_same_hyperimage_in_every_form(h, w, c, seed, smooth):
    """A numpy (H, W, C) array, its torch (C, H, W) twin, and the picture saved as an 8-bit
    PNG, a 16-bit PNG / TIFF (gray) and .npy, read back with read_image, give identical
    hyper-images; the 8-bit file is within one grey level of the 16-bit source."""
    from hyperkit.images import read_image

    rng = np.random.default_rng(seed)
    src = rng.integers(0, 65536, (h, w, c), dtype=np.uint16)
    if smooth:  # photo-like: a gradient, so LCN sees structure rather than noise
        ramp = np.linspace(0, 65535, w)[None, :, None] * np.linspace(0.2, 1, h)[:, None, None]
        src = np.clip(ramp + src / 64.0, 0, 65535).astype(np.uint16)
    stage1 = fixed_stage1(c)
    ref = hyper(src, stage1)
    assert ref.shape == (1, 6, 3, 3)
    src8 = np.round(src / 257).astype(np.uint8)  # 65535 / 255 = 257
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        np.save(d / "a.npy", src)
        exact = {"torch (C, H, W)": torch.from_numpy(src).permute(2, 0, 1),
                 "torch (N, C, H, W)": torch.from_numpy(src).permute(2, 0, 1)[None],
                 "numpy (N, H, W, C)": src[None],
                 ".npy": read_image(d / "a.npy")}
        if c == 1:  # Pillow writes 16 bits for one channel only
            Image.fromarray(src[..., 0]).save(d / "a16.png")
            Image.fromarray(src[..., 0]).save(d / "a16.tif")
            exact["16-bit PNG"] = read_image(d / "a16.png")
            exact["16-bit TIFF"] = read_image(d / "a16.tif")
        for name, twin in exact.items():
            torch.testing.assert_close(hyper(twin, stage1), ref, rtol=0, atol=0, msg=name)
        floats = src.astype(np.float64) / 65535  # floats in [0, 1]: the same picture
        torch.testing.assert_close(hyper(floats, stage1), ref, rtol=1e-5, atol=1e-5)
        Image.fromarray(src8[..., 0] if c == 1 else src8).save(d / "a8.png")
        read8 = read_image(d / "a8.png")
        assert read8.dtype == np.uint8
        torch.testing.assert_close(hyper(read8, stage1), hyper(src8, stage1), rtol=0, atol=0)
        # without LCN a feature is a weighted mean of pixels: within one grey level
        diff = hyper(read8, stage1, lcn=False) - hyper(src, stage1, lcn=False)
        assert float(diff.abs().max()) <= 0.5 / 255 + 1e-6
