"""build_hyperimage: point (u, v) is stage1 applied to patch (u, v) cut by hand."""

import numpy as np
import pytest
import torch

import hyperkit

from .reference import as_double, expected_hyperimage, tiny_stage1


@pytest.mark.parametrize("batch_size", [4096, 7, 1])
def test_points_are_stage1_of_hand_cut_patches(batch_size):
    rng = np.random.default_rng(0)
    imgs = [(rng.random((h, w, 3)) * 255).astype(np.uint8)
            for h, w in [(40, 52), (33, 17), (64, 64)]]
    net = tiny_stage1()
    hyper = hyperkit.build_hyperimage(imgs, as_double(net), patch=16, batch_size=batch_size)
    u, v = hyperkit.grid_shape(64, 64, 16, 8)
    assert hyper.shape == (3, 5, u, v)
    for n, im in enumerate(imgs):
        chw = torch.from_numpy(im).permute(2, 0, 1).float() / 255
        torch.testing.assert_close(hyper[n], expected_hyperimage(chw, net, 16, u, v),
                                   rtol=1e-6, atol=1e-6)


def test_explicit_grid_no_lcn_float_input_and_torch_batch():
    x = torch.rand(2, 3, 48, 40)
    net = tiny_stage1()
    hyper = hyperkit.build_hyperimage(x, as_double(net), patch=16, grid=(3, 4), lcn=False)
    assert hyper.shape == (2, 5, 3, 4)
    torch.testing.assert_close(hyper[1], expected_hyperimage(x[1], net, 16, 3, 4, normalize=False))


def test_stride_and_max_size():
    img = np.random.default_rng(1).random((200, 100)).astype(np.float32)
    net = tiny_stage1(channels=1)
    hyper = hyperkit.build_hyperimage(img, as_double(net), patch=16, stride=16, max_size=(64, 64))
    # scaled isotropically to 64 x 32; the grid is that of a 64 x 64 image at stride 16
    assert hyper.shape == (1, 5, 4, 4)
    small = torch.nn.functional.interpolate(torch.from_numpy(img)[None, None], size=(64, 32),
                                            mode="bilinear", antialias=True)[0]
    torch.testing.assert_close(hyper[0], expected_hyperimage(small, net, 16, 4, 4),
                               rtol=1e-6, atol=1e-6)


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


def test_on_device_matches_cpu(device):
    """Images are prepared and cut where stage 1 runs; the result matches the CPU."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 30 * 30, 6), torch.nn.ReLU()).double()
    imgs = [torch.rand(3, 70, 90), torch.rand(3, 64, 64)]
    cpu = hyperkit.build_hyperimage(imgs, lambda p: net(p.double()), batch_size=5)
    dev_net = net.to(device)
    got = hyperkit.build_hyperimage(imgs, lambda p: dev_net(p.double()), device=device,
                                    batch_size=5)
    assert got.device.type == device
    torch.testing.assert_close(got.cpu(), cpu, rtol=1e-5, atol=1e-5)
    # the default device is where stage 1's weights are
    assert hyperkit.build_hyperimage(imgs, dev_net.float(), batch_size=7).device.type == device


def test_channels_argument_for_a_stage1_that_declares_none():
    """channels= states what a plain callable takes: RGB becomes gray for 1; other
    mismatches are refused before stage 1 runs."""
    rng = np.random.default_rng(2)
    rgb = (rng.random((40, 44, 3)) * 255).astype(np.uint8)
    net = tiny_stage1(channels=1)
    got = hyperkit.build_hyperimage(rgb, as_double(net), patch=16, grid=(2, 2), channels=1)
    from hyperkit.images import to_gray

    gray = to_gray(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    torch.testing.assert_close(got[0], expected_hyperimage(gray, net, 16, 2, 2),
                               rtol=1e-6, atol=1e-6)
    calls = []
    with pytest.raises(ValueError, match=r"images\[0\] has 1 channel\(s\); the network takes 3"):
        hyperkit.build_hyperimage(rgb[..., 0], lambda p: calls.append(1), patch=16,
                                  channels=3)
    assert calls == []
    with pytest.raises(ValueError, match="channels"):
        hyperkit.build_hyperimage(rgb, as_double(net), patch=16, channels=0)


def test_channel_axis_reaches_the_images():
    x = np.random.default_rng(3).random((2, 3, 40, 36)).astype(np.float32)  # numpy NCHW
    net = tiny_stage1()
    with pytest.raises(ValueError, match="channel_axis"):
        hyperkit.build_hyperimage(x, as_double(net), patch=16)
    got = hyperkit.build_hyperimage(x, as_double(net), patch=16, grid=(2, 3), channel_axis=1)
    torch.testing.assert_close(got, hyperkit.build_hyperimage(torch.from_numpy(x),
                                                              as_double(net), patch=16,
                                                              grid=(2, 3)))


# ---- the shared route: stage 1's whole-image path (Kang: one convolution per image)


def _spy(net, name):
    """Counts calls of net.<name> (an instance attribute shadows the method)."""
    calls = []
    method = getattr(net, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return method(*args, **kwargs)

    setattr(net, name, wrapper)
    return calls


@pytest.mark.parametrize("preset", ["live_stage1", "tid_stage1"])
def test_shared_route_agrees_with_patches(preset):
    """Random images of several sizes, RGB into the gray LIVE net too: both routes give
    the same hyper-images on identical grids (float32 tolerance)."""
    torch.manual_seed(0)
    net = hyperkit.nets.build(preset).eval()
    rng = np.random.default_rng(5)
    imgs = [(rng.random((h, w, 3)) * 255).astype(np.uint8)
            for h, w in [(64, 80), (33, 47), (96, 96), (32, 32), (64, 80)]]
    shared_calls = _spy(net, "grid_features")
    for grid, auto_shares in [(None, True), ((3, 4), True), ((1, 1), False)]:
        kw = dict(grid=grid) if grid else dict(stride=16)
        patches = hyperkit.build_hyperimage(imgs, net.features, route="patches", **kw)
        before = len(shared_calls)
        auto = hyperkit.build_hyperimage(imgs, net.features, **kw)
        # 'auto' shares where patches overlap; one patch per image is cheaper alone
        assert (len(shared_calls) > before) == auto_shares
        shared = hyperkit.build_hyperimage(imgs, net.features, route="shared", **kw)
        assert shared.shape == auto.shape == patches.shape
        torch.testing.assert_close(shared, patches, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(auto, patches, rtol=1e-5, atol=1e-5)


def test_shared_route_in_groups_and_bands_of_a_byte_budget():
    """A budget below one image's map cuts it into bands of grid rows; a larger one
    groups same-size images. Every split gives the same hyper-images."""
    torch.manual_seed(1)
    net = hyperkit.nets.build("tid_stage1").eval()
    imgs = [torch.rand(3, 120, 100) for _ in range(3)] + [torch.rand(3, 90, 70)]
    calls = _spy(net, "grid_features")
    whole = hyperkit.build_hyperimage(imgs, net.features, grid=(7, 6), route="shared")
    assert len(calls) == 2  # one group per image size
    one = net.grid_bytes(120, 100, 7 * 6)
    for budget, most in [(one, 4 + 1), (one // 3, 3 * 7 + 7)]:
        calls.clear()
        got = hyperkit.build_hyperimage(imgs, net.features, grid=(7, 6), route="shared",
                                        max_bytes=budget)
        assert len(calls) > 2 and len(calls) <= most
        torch.testing.assert_close(got, whole, rtol=1e-5, atol=1e-5)


def test_auto_route_falls_back_to_patches():
    torch.manual_seed(2)
    net = hyperkit.nets.build("live_stage1").eval()
    calls = _spy(net, "grid_features")
    big = np.random.default_rng(0).random((300, 260)).astype(np.float32)
    # a sparse grid: the whole image is far larger than its 4 patches
    sparse = hyperkit.build_hyperimage(big, net.features, grid=(2, 2))
    # a callable without a whole-image path
    plain = hyperkit.build_hyperimage(big[:64, :64], lambda p: net.features(p), grid=(3, 3))
    assert calls == [] and sparse.shape == (1, 800, 2, 2) and plain.shape == (1, 800, 3, 3)
    forced = hyperkit.build_hyperimage(big, net.features, grid=(2, 2), route="shared")
    assert calls == [1]
    torch.testing.assert_close(forced, sparse, rtol=1e-5, atol=1e-5)


def test_shared_route_keeps_the_graph():
    net = hyperkit.nets.build("live_stage1")
    x = torch.rand(2, 1, 48, 40)
    out = hyperkit.build_hyperimage(x, net.features, grid=(2, 2), route="shared",
                                    requires_grad=True)
    out.sum().backward()
    assert net.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kw, words",
    [({"route": "fast"}, "route must be one of"),
     ({"route": "shared", "stage1": lambda p: p.flatten(1)}, "no whole-image path"),
     ({"max_bytes": 0}, "max_bytes")],
)
def test_bad_route_arguments(kw, words):
    stage1 = kw.pop("stage1", hyperkit.nets.build("live_stage1").features)
    with pytest.raises(ValueError, match=words):
        hyperkit.build_hyperimage(np.zeros((40, 40)), stage1, **kw)


def test_patch_scores_take_the_shared_route():
    """TwoStage.patch_scores of a Kang stage 1 goes through grid_scores and agrees with
    the scores of hand-cut patches."""
    from hyperkit.model import TwoStage

    torch.manual_seed(3)
    net = hyperkit.nets.build("tid_stage1")
    model = TwoStage(net, None, stage1_arch="tid_stage1", stage2_arch="", patch=(32, 32),
                     grid=(3, 4), lcn=True)
    calls = _spy(net, "grid_scores")
    img = torch.rand(3, 70, 90)
    got = model.patch_scores(img)
    assert calls == [1] and got.shape == (1, 3, 4)
    patches = hyperkit.gather_patches(hyperkit.lcn(img), 32, (3, 4))
    with torch.no_grad():
        want = net(patches).reshape(1, 3, 4).double().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
