"""build_hyperimage: point (u, v) is stage1 applied to patch (u, v) cut by hand."""

import numpy as np
import pytest
import torch
from torch import nn

import hyperkit


def tiny_stage1(channels=3, patch=16, d=5):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, 4, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * (patch - 2) ** 2, d), nn.ReLU()).double()


def expected(image_chw, stage1, patch, u, v, normalize=True):
    x = hyperkit.lcn(image_chw) if normalize else image_chw
    ys = hyperkit.grid_positions(x.shape[1], patch, u)
    xs = hyperkit.grid_positions(x.shape[2], patch, v)
    out = torch.empty(stage1[-2].out_features, u, v, dtype=torch.float64)
    with torch.no_grad():
        for i, y in enumerate(ys):
            for j, xx in enumerate(xs):
                p = x[:, y:y + patch, xx:xx + patch][None].double()
                out[:, i, j] = stage1(p)[0]
    return out


def as_double(stage1):
    return lambda p: stage1(p.double())


@pytest.mark.parametrize("batch_size", [4096, 7, 1])
def test_points_are_stage1_of_hand_cut_patches(batch_size):
    rng = np.random.default_rng(0)
    imgs = [(rng.random((h, w, 3)) * 255).astype(np.uint8) for h, w in [(40, 52), (33, 17), (64, 64)]]
    net = tiny_stage1()
    hyper = hyperkit.build_hyperimage(imgs, as_double(net), patch=16, batch_size=batch_size)
    u, v = hyperkit.grid_shape(64, 64, 16, 8)
    assert hyper.shape == (3, 5, u, v)
    for n, im in enumerate(imgs):
        chw = torch.from_numpy(im).permute(2, 0, 1).float() / 255
        torch.testing.assert_close(hyper[n], expected(chw, net, 16, u, v), rtol=1e-6, atol=1e-6)


def test_explicit_grid_no_lcn_float_input_and_torch_batch():
    x = torch.rand(2, 3, 48, 40)
    net = tiny_stage1()
    hyper = hyperkit.build_hyperimage(x, as_double(net), patch=16, grid=(3, 4), lcn=False)
    assert hyper.shape == (2, 5, 3, 4)
    torch.testing.assert_close(hyper[1], expected(x[1], net, 16, 3, 4, normalize=False))


def test_stride_and_max_size():
    img = np.random.default_rng(1).random((200, 100)).astype(np.float32)
    net = tiny_stage1(channels=1)
    hyper = hyperkit.build_hyperimage(img, as_double(net), patch=16, stride=16, max_size=(64, 64))
    # scaled isotropically to 64 x 32; the grid is that of a 64 x 64 image at stride 16
    assert hyper.shape == (1, 5, 4, 4)
    small = torch.nn.functional.interpolate(torch.from_numpy(img)[None, None], size=(64, 32),
                                            mode="bilinear", antialias=True)[0]
    torch.testing.assert_close(hyper[0], expected(small, net, 16, 4, 4), rtol=1e-6, atol=1e-6)


def test_requires_grad_and_module_device():
    net = tiny_stage1(channels=1).float()
    x = torch.rand(1, 1, 32, 32)
    assert not hyperkit.build_hyperimage(x, net, patch=16).requires_grad
    assert hyperkit.build_hyperimage(x, net, patch=16, requires_grad=True).requires_grad


@pytest.mark.parametrize(
    "images, kw, exc, words",
    [
        (np.zeros((10, 10)), {}, ValueError, "smaller than the 32x32 patch"),
        ([np.zeros((40, 40)), np.zeros((40, 40, 3))], {}, ValueError, "channel"),
        (np.full((40, 40), np.nan), {}, ValueError, "NaN"),
        (np.zeros((40, 40), np.int64), {}, TypeError, "uint8, uint16 or float"),
        ("image.png", {}, TypeError, "numpy array, torch tensor"),
        (np.zeros((40, 40)), {"batch_size": 0}, ValueError, "batch_size"),
        (np.zeros((40, 40)), {"grid": (2, 2), "stride": 4}, ValueError, "grid or stride"),
        (np.zeros((40, 40)), {"stage1": lambda p: p}, ValueError, r"\(P, D\) features"),
        (np.zeros((40, 40)), {"stage1": 3}, TypeError, "stage1"),
    ],
)
def test_bad_input(images, kw, exc, words):
    stage1 = kw.pop("stage1", lambda p: p.flatten(1))
    with pytest.raises(exc, match=words):
        hyperkit.build_hyperimage(images, stage1, **kw)
