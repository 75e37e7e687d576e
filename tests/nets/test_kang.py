"""Kang et al.'s stage 1 (Table 5): shapes, features, gradients through the fused
min+max pooling."""

import torch

from hyperkit import nets
from hyperkit.nets import KangStage1


def test_kang_stage1_shapes():
    net = KangStage1(in_channels=3)
    x = torch.rand(5, 3, 32, 32)
    assert net.features(x).shape == (5, 800) and (net.features(x) >= 0).all()
    assert net(x).shape == (5,)
    net(x).sum().backward()  # gradients flow through the fused min+max pooling
    assert net.conv1.weight.grad.abs().sum() > 0


def test_input_shape_and_feature_dim():
    net = KangStage1(in_channels=1)
    assert net.input_shape == (1, 32, 32) and net.feature_dim == 800
    assert nets.input_shape(net) == (1, 32, 32)
    small = KangStage1(in_channels=2, patch=16, kernels=6, hidden=10)
    assert small.input_shape == (2, 16, 16) and small.feature_dim == 10
    assert small.features(torch.rand(3, 2, 16, 16)).shape == (3, 10)


def test_features_are_concat_of_global_min_and_max_of_conv1():
    torch.manual_seed(0)
    net = KangStage1(in_channels=1, kernels=4, hidden=6).eval()
    x = torch.rand(3, 1, 32, 32)
    c = net.conv1(x)
    pooled = torch.cat([c.amin((2, 3)), c.amax((2, 3))], 1)  # Concat(MinPool, MaxPool)
    want = torch.relu(net.fc2(torch.relu(net.fc1(pooled))))
    torch.testing.assert_close(net.features(x), want)
    torch.testing.assert_close(net(x), net.out(want).squeeze(1))


def test_grid_features_and_scores_equal_those_of_the_patches():
    """The whole-image path: one convolution per image, windows at the patch offsets."""
    import hyperkit

    torch.manual_seed(1)
    for c in (1, 3):
        net = KangStage1(in_channels=c, kernels=6, hidden=10).double().eval()
        images = torch.rand(2, c, 50, 61, dtype=torch.float64)
        rows, cols = hyperkit.grid_positions(50, 32, 3), hyperkit.grid_positions(61, 32, 4)
        patches = hyperkit.gather_patches(images, 32, (3, 4))  # (2 * 3 * 4, c, 32, 32)
        with torch.no_grad():
            want = net.features(patches).reshape(2, 3, 4, 10).permute(0, 3, 1, 2)
            torch.testing.assert_close(net.grid_features(images, rows, cols), want)
            scores = net.scores(patches)
            assert scores.shape == (24, 1)
            torch.testing.assert_close(net.grid_scores(images, rows, cols),
                                       scores.reshape(2, 3, 4, 1).permute(0, 3, 1, 2))


def test_grid_path_bad_input_and_bytes():
    import pytest

    net = KangStage1(in_channels=3)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net.grid_features(torch.rand(1, 1, 40, 40), [0], [0])
    with pytest.raises(ValueError, match="smaller than the 32x32 patch"):
        net.grid_features(torch.rand(1, 3, 40, 20), [0], [0])
    with pytest.raises(ValueError, match="must lie in"):
        net.grid_features(torch.rand(1, 3, 40, 40), [9], [0])
    small, large = net.grid_bytes(384, 512, 713), net.grid_bytes(768, 1024, 713)
    # conv1's map dominates: 50 float32 channels of (H - 6) x (W - 6)
    assert 4 * 50 * 378 * 506 < small < large
