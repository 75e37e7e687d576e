"""VGGStage1: VGG-16 to conv4_3 (+ pool4) frozen under two FC 800 layers; weights from
torchvision or Caffe-converted files, with each format's preprocessing."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hyperkit import nets
from hyperkit.nets import VGGStage1
from hyperkit.nets.vgg import CONVS, TORCHVISION_INDEX
from hyperkit.training import TrainConfig, fit


@pytest.fixture(scope="module")
def random_weights():
    """conv1_1 ... conv4_3 weights and biases with the right shapes, by layer name."""
    g = torch.Generator().manual_seed(0)
    return {name: (torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5,
                   torch.randn(cout, generator=g) * 0.1) for name, cin, cout in CONVS}


def torchvision_dict(w):
    d = {}
    for name, (weight, bias) in w.items():
        d[f"features.{TORCHVISION_INDEX[name]}.weight"] = weight
        d[f"features.{TORCHVISION_INDEX[name]}.bias"] = bias
    d["classifier.0.weight"] = torch.zeros(4, 25088)  # ignored
    return d


def caffe_dict(w):
    return {f"{name}.{part}": t for name, pair in w.items()
            for part, t in zip(("weight", "bias"), pair)}


def reference_pool4(w, x):
    """pool4 of VGG-16 written out with F.conv2d, on an already preprocessed input."""
    for name, _, _ in CONVS:
        x = F.relu(F.conv2d(x, *w[name], padding=1))
        if name in ("conv1_2", "conv2_2", "conv3_3", "conv4_3"):
            x = F.max_pool2d(x, 2)
    return x


def test_shapes_features_and_preset():
    torch.manual_seed(0)
    net = nets.build("vgg16_stage1").eval()
    assert isinstance(net, VGGStage1) and not VGGStage1.expects_lcn
    assert nets.input_shape(net) == (3, 32, 32) and net.feature_dim == 800
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        f, y = net.features(x), net(x)
        assert net.conv_features(x).shape == (3, 512, 2, 2)
    assert f.shape == (3, 800) and (f >= 0).all() and f.max() > 0
    assert y.shape == (3,)
    assert net.weights_format == "torchvision"
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        net(torch.rand(2, 3, 64, 64))


@pytest.mark.parametrize("fmt", ["torchvision", "caffe_pt", "caffe_npz"])
def test_weights_round_trip_with_preprocessing(tmp_path, random_weights, fmt):
    w = random_weights
    if fmt == "torchvision":
        path = tmp_path / "vgg16.pth"
        torch.save(torchvision_dict(w), path)
    elif fmt == "caffe_pt":
        path = tmp_path / "vgg16_caffe.pt"
        torch.save(caffe_dict(w), path)
    else:
        path = tmp_path / "vgg16_caffe.npz"
        np.savez(path, **{k: v.numpy() for k, v in caffe_dict(w).items()})
    net = VGGStage1(path).eval()
    x = torch.rand(2, 3, 32, 32)
    if fmt == "torchvision":
        assert net.weights_format == "torchvision"
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        pre = (x - mean) / std
    else:
        assert net.weights_format == "caffe"
        pre = x.flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    with torch.no_grad():
        got = net.conv_features(x)
        want = reference_pool4(w, pre)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    # the format travels with the state dict
    other = VGGStage1()
    other.load_state_dict(net.state_dict())
    assert other.weights_format == net.weights_format


def test_load_conv_weights_later_and_format_override(tmp_path, random_weights):
    path = tmp_path / "w.pt"
    torch.save(caffe_dict(random_weights), path)
    net = nets.build("vgg16_stage1")
    assert net.load_conv_weights(path, format="torchvision") == "torchvision"
    assert torch.equal(net.convs[0].weight, random_weights["conv1_1"][0])
    assert net.load_conv_weights(path) == "caffe"


def test_bad_weight_files(tmp_path, random_weights):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        VGGStage1(tmp_path / "none.pth")
    d = caffe_dict(random_weights)
    del d["conv3_2.bias"]
    torch.save(d, tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"missing conv3_2\.bias .*\(256,\)"):
        VGGStage1(tmp_path / "missing.pt")
    d = torchvision_dict(random_weights)
    d["features.19.weight"] = torch.zeros(512, 512, 1, 1)
    torch.save(d, tmp_path / "shape.pth")
    net = VGGStage1()
    before = net.convs[0].weight.clone()
    with pytest.raises(ValueError, match=r"features\.19\.weight \(conv4_2 weight\) has shape "
                                         r"\(512, 512, 1, 1\), expected \(512, 512, 3, 3\)"):
        net.load_conv_weights(tmp_path / "shape.pth")
    assert torch.equal(net.convs[0].weight, before)  # nothing changed
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="neither torchvision"):
        VGGStage1(tmp_path / "other.pt")
    (tmp_path / "junk.pth").write_bytes(b"not a file torch can read")
    with pytest.raises(ValueError, match="weights_only"):
        VGGStage1(tmp_path / "junk.pth")
    with pytest.raises(ValueError, match="format must be"):
        VGGStage1().load_conv_weights(tmp_path / "other.pt", format="keras")


def test_frozen_convs_do_not_train():
    torch.manual_seed(0)
    net = VGGStage1()
    assert all(not p.requires_grad for p in net.convs.parameters())
    net.train()
    assert net.training and not net.convs.training and net.fc1.training
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.rand(8, 3, 32, 32), torch.rand(8)
    fit(net, (x, y), (x, y), config=TrainConfig(epochs=1, batch_size=8, lr=0.01), log=None,
        progress=False, device="cpu")
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {f"{m}.{p}" for m in ("fc1", "fc2", "out") for p in ("weight", "bias")}
    assert nets.count_parameters(net) == 2048 * 800 + 800 + 800 * 800 + 800 + 801


def test_unfrozen_convs_train():
    net = VGGStage1(freeze=False).train()
    assert net.convs.training and all(p.requires_grad for p in net.convs.parameters())
