"""Every named network of Tables 4 and 5, building by name or string, and the helpers
(input_shape, count_parameters)."""

import pytest
import torch
from torch import nn

from hyperkit import nets
from hyperkit.nets import presets


def test_unknown_preset_and_bad_type():
    with pytest.raises(ValueError, match="unknown preset 'tid_stage3'"):
        nets.build("tid_stage3")
    with pytest.raises(TypeError, match="arch must be"):
        nets.build(3)


# (preset, (C, H, W), feature dim D, output shape per item)
PRESETS = [
    ("synthetic_stage1", (1, 16, 16), 400, ()),
    ("synthetic_stage2", (400, 10, 10), 400, ()),
    ("live_stage1", (1, 32, 32), 800, ()),
    ("tid_stage1", (3, 32, 32), 800, ()),
    ("vgg16_stage1", (3, 32, 32), 800, ()),
    ("live_stage2", (800, 24, 23), 500, ()),
    ("tid_stage2", (800, 23, 31), 500, ()),
    ("tid_shallow_e2e", (3, 384, 512), 400, ()),
    ("tid_deep_e2e", (3, 384, 512), 400, ()),
    ("forgery_channel", (3, 64, 64), 500, (500,)),
    ("forgery_stage2", (500, 15, 15), 800, ()),
    ("forgery_e2e", (3, 256, 384), 500, ()),
]


def test_every_preset_is_covered():
    assert sorted(p[0] for p in PRESETS) == nets.preset_names()


@pytest.mark.parametrize("name, shape, dim, out", PRESETS, ids=[p[0] for p in PRESETS])
def test_preset_forward(name, shape, dim, out):
    torch.manual_seed(0)
    net = nets.build(name).eval()
    assert nets.input_shape(net) == shape
    x = torch.rand(2, *shape)
    with torch.no_grad():
        y, f = net(x), net.features(x)
    assert y.shape == (2, *out) and torch.isfinite(y).all()
    assert f.shape == (2, dim)
    if "stage1" in name or name == "forgery_channel":  # hyper-image features: ReLU output
        assert (f >= 0).all()
    if name in ("forgery_e2e", "forgery_stage2"):
        assert ((y > 0) & (y < 1)).all()  # sigmoid output


def test_stage1_presets_chain_into_stage2_presets():
    """The stage-2 input depth D is the stage-1 feature dimension (Table 4)."""
    pairs = [("synthetic_stage1", "synthetic_stage2"), ("live_stage1", "live_stage2"),
             ("tid_stage1", "tid_stage2"), ("forgery_channel", "forgery_stage2")]
    for s1, s2 in pairs:
        d = nets.build(s1).eval().features(torch.rand(1, *nets.input_shape(nets.build(s1))))
        assert d.shape[1] == nets.input_shape(nets.build(s2))[0]


def test_build_takes_an_architecture_string_and_returns_fresh_networks():
    spec = "Input(8,8) - C(4) - FC(1,'linear')"
    a, b = nets.build(spec), nets.build(spec)
    assert isinstance(a, nets.SpecNet) and a is not b and a.spec == spec
    assert isinstance(nets.build("tid_stage1"), nets.KangStage1)
    assert set(nets.preset_names()) == set(presets.PRESETS) | set(presets.BUILDERS)
    assert nets.PRESETS is presets.PRESETS and nets.BUILDERS is presets.BUILDERS


def test_count_parameters_and_input_shape():
    net = nets.build("Input(6,6,2) - C(3) - FC(4) - FC(1,'linear')")
    conv, fc1, fc2 = 2 * 3 * 9 + 3, 3 * 36 * 4 + 4, 4 + 1
    assert nets.count_parameters(net) == conv + fc1 + fc2
    net.body[0].weight.requires_grad_(False)  # only trainable parameters count
    assert nets.count_parameters(net) == conv + fc1 + fc2 - 2 * 3 * 9
    assert nets.input_shape(net) == (2, 6, 6)
    assert nets.input_shape(nets.KangStage1(in_channels=1)) == (1, 32, 32)
    with pytest.raises(TypeError, match="no known input shape for Linear"):
        nets.input_shape(nn.Linear(2, 3))
