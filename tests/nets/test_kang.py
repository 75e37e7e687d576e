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
