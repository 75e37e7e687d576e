"""Architecture strings (Table 4 notation): the parser and SpecNet."""

import pytest
import torch
from torch import nn

from hyperkit import nets
from hyperkit.nets import arch


def kinds(spec):
    return [layer.kind for layer in arch.parse(spec)]


def test_parse_repeats_and_paper_typography():
    a = "Input(10,10,400) - 2xC(16) - MP(2) - FC(400, 'tanh') - Drop(0.5) - FC(1,'linear')"
    b = "Input(10, 10, 400) – 2 × C(16) – MP(2) – FC(400, `tanh') – Drop(0.5) – FC(1, ‘linear’)"
    c = ("$Input(10,10,400) - 2 \\times C(16) - MP(2) - FC(400,\"tanh\") - Drop(0.5) "
         "- FC(1,'linear')$")
    assert arch.parse(a) == arch.parse(b) == arch.parse(c)
    assert kinds(a) == ["Input", "C", "C", "MP", "FC", "Drop", "FC"]
    assert arch.parse(a)[4].args == (400, "tanh")
    assert arch.parse(a)[5].args == (0.5,)


def test_parse_grouped_repeat():
    spec = "Input(64,64,3) - 2 * (C(8) - C(8, 5, 2) - MP(2)) - FC(4)"
    assert kinds(spec) == ["Input"] + ["C", "C", "MP"] * 2 + ["FC"]
    assert arch.parse(spec)[2].args == (8, 5, 2)


@pytest.mark.parametrize("spec, match", [
    ("", "non-empty"),
    ("C(16) - FC(1)", "start with Input"),
    ("Input(8,8) - Conv(16)", "unknown layer 'Conv'"),
    ("Input(8,8) - C(16", "expected"),
    ("Input(8,8) - C()", "C takes 1 to 3"),
    ("Input(8,8) - MP(2,2)", "MP takes 1 to 1"),
    ("Input(8,8) - C(4) FC(1)", "unexpected"),
    ("Input(8,8) - C(4) - Input(8,8)", "one Input"),
    ("Input(8,8) - C(4) - #", "unexpected '#"),
])
def test_parse_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        arch.parse(spec)


@pytest.mark.parametrize("spec, match", [
    ("Input(4,4) - MP(2) - MP(2) - MP(2)", r"MP\(2\) on a 1x1"),
    ("Input(8,8) - C(4,4)", "odd size"),
    ("Input(8,8) - FC(4) - C(4)", "C after FC"),
    ("Input(8,8) - FC(4, 'softplus')", "unknown activation"),
    ("Input(8,8) - Drop(1.5)", r"Drop rate"),
])
def test_build_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        arch.SpecNet(spec)


def test_same_convolution_and_stride_shapes():
    net = arch.SpecNet("Input(384,512,3) - C(32,7,2) - MP(2) - C(64,7,1) - FC(2)")
    x = torch.zeros(1, 3, 384, 512)
    assert net.body[0].padding == (3, 3)
    assert net.body[:3](x).shape == (1, 32, 96, 128)  # ceil(384/2)/2, ceil(512/2)/2
    assert net(x).shape == (1, 2)


def test_features_are_relu_activated_last_hidden_layer():
    torch.manual_seed(0)
    net = arch.SpecNet("Input(6,6) - C(4) - FC(7) - Drop(0.5) - FC(5,'tanh') - FC(1,'linear')")
    net.eval()
    x = torch.randn(3, 1, 6, 6)
    f = net.features(x)
    assert f.shape == (3, 5) and net.feature_dim == 5
    # the tanh layer is hidden here; features are its output and forward applies the head
    assert torch.allclose(net(x), net.head(f).squeeze(1))
    relu_net = arch.SpecNet("Input(6,6) - C(4) - FC(7) - FC(1,'linear')").eval()
    assert (relu_net.features(x) >= 0).all() and relu_net.features(x).shape == (3, 7)


def test_wrong_input_shape_is_named():
    net = nets.build("synthetic_stage1")
    with pytest.raises(ValueError, match=r"input must be \(N, 1, 16, 16\)"):
        net(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="input must be"):
        net.features(torch.zeros(1, 16, 16))


def test_initialization_is_he_for_relu_layers():
    torch.manual_seed(0)
    net = arch.SpecNet("Input(32,32,64) - C(64) - FC(1,'linear')")
    conv = net.body[0]
    assert isinstance(conv, nn.Conv2d) and (conv.bias == 0).all()
    std = conv.weight.std().item()
    assert abs(std - (2 / (64 * 9)) ** 0.5) < 0.1 * std


def test_input_shape_feature_dim_and_head():
    net = arch.SpecNet("Input(12,10,3) - C(4) - MP(2) - FC(6) - FC(2,'sigmoid')")
    assert net.input_shape == (3, 12, 10) and nets.input_shape(net) == (3, 12, 10)
    assert net.feature_dim == 6 and net.out_features == 2
    x = torch.rand(5, 3, 12, 10)
    y = net(x)
    assert y.shape == (5, 2) and ((y > 0) & (y < 1)).all()
    # no output layer: a pure feature extractor, forward and features agree
    ext = arch.SpecNet("Input(8,8) - C(4) - MP(2) - FC(6) - Drop(0.5)").eval()
    assert ext.head is None and ext.feature_dim == 6
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(ext(x), ext.features(x))
    # Input(h, w) defaults to one channel
    assert arch.SpecNet("Input(8,8) - FC(1,'linear')").input_shape == (1, 8, 8)


def test_layer_records():
    layers = arch.parse("Input(8,9,2) - C(4,5) - FC(1,'linear')")
    assert layers == [arch.Layer("Input", (8, 9, 2)), arch.Layer("C", (4, 5)),
                      arch.Layer("FC", (1, "linear"))]
    assert nets.parse is arch.parse and nets.SpecNet is arch.SpecNet


SRM_NET = "Input(32,32,3) - SRM() - C(4) - MP(2) - FC(5)"


def test_srm_layer_parses_and_triples_the_channels():
    net = arch.SpecNet(SRM_NET)
    assert kinds(SRM_NET) == ["Input", "SRM", "C", "MP", "FC"]
    srm, conv = net.body[0], net.body[1]
    assert isinstance(srm, arch.SRMResidual) and conv.in_channels == 9
    assert net.features(torch.rand(2, 3, 32, 32)).shape == (2, 5)
    # fixed: no parameters and nothing saved (rebuilt from the string)
    assert not list(srm.parameters()) and not any(k.startswith("body.0") for k in net.state_dict())


def test_srm_keep_puts_the_input_before_its_residuals():
    net = arch.SpecNet("Input(32,32,3) - SRM('keep') - C(4) - FC(5)")
    assert net.body[1].in_channels == 12 and net.body[0].keep
    x = torch.rand(2, 3, 32, 32)
    out = net.body[0](x)
    torch.testing.assert_close(out[:, :3], x)
    torch.testing.assert_close(out[:, 3:], arch.SRMResidual(3)(x))
    assert not arch.SpecNet(SRM_NET).body[0].keep


def test_srm_residuals_null_ramps_and_are_bounded():
    srm = arch.SRMResidual(3)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    ramp = (0.2 + 0.004 * xx + 0.003 * yy).expand(1, 3, 32, 32)
    assert srm(ramp)[..., 2:-2, 2:-2].abs().max() < 1e-4
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 3, 32, 32, generator=g)
    out = srm(noise)
    assert out.shape == (1, 9, 32, 32) and out.abs().max() <= 1.0
    # channel i's residuals come from input channel i alone
    only_green = noise.clone()
    only_green[:, [0, 2]] = 0.5
    assert torch.all(srm(only_green)[:, [0, 1, 2, 6, 7, 8], 2:-2, 2:-2] == 0)
    assert arch.SRMResidual(1)(noise[:, :1] * 255)[0, 2, 4, 4].abs().item() <= 1.0


# RGB-N's kernels (Zhou et al. 2018, their SRM layer), written out here independently of
# the module: saved SRM models depend on exactly these values and their order.
_KB = [[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]]
_KV = [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2],
       [-1, 2, -2, 2, -1]]
_H2 = [[0] * 5, [0] * 5, [0, 1, -2, 1, 0], [0] * 5, [0] * 5]


def test_srm_kernels_steps_order_and_padding_are_pinned():
    # a one-level dot (1/255 in [0, 1] units = one 8-bit level) returns each kernel,
    # flipped (cross-correlation; all three are symmetric), / q, / T = 3, untruncated
    dot = torch.zeros(1, 1, 9, 9)
    dot[..., 4, 4] = 1 / 255
    out = arch.SRMResidual(1)(dot)[0, :, 2:7, 2:7]
    for i, (k, q) in enumerate(((_KB, 4), (_KV, 12), (_H2, 2))):
        torch.testing.assert_close(out[i], torch.tensor(k, dtype=torch.float32) / q / 3)
    # c channels: outputs 3i..3i+2 are channel i's three residuals, in that order
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    three = arch.SRMResidual(3)(x)
    for i in range(3):
        torch.testing.assert_close(three[:, 3 * i:3 * i + 3], arch.SRMResidual(1)(x[:, i:i + 1]))
    # zero padding: a flat patch at 0.2 (51 levels) saturates the border of the
    # horizontal second difference (0 - 2*51 + 51 = -51 levels / 2 -> -1 after truncation)
    # and leaves the interior at 0
    flat = arch.SRMResidual(1)(torch.full((1, 1, 8, 8), 0.2))[0, 2]
    assert torch.all(flat[:, 0] == -1) and flat[:, 2:-2].abs().max() < 1e-6


@pytest.mark.parametrize("spec, match", [
    ("Input(8,8,3) - SRM(3) - C(4)", "SRM takes nothing or 'keep'"),
    ("Input(8,8,3) - SRM('rgb') - C(4)", "SRM takes nothing or 'keep'"),
    ("Input(8,8,3) - SRM('keep', 'keep') - C(4)", "SRM takes 0 to 1 arguments"),
    ("Input(8,8,3) - FC(4) - SRM()", "SRM\\(\\) must come right after Input"),
    ("Input(8,8,3) - C(4) - SRM() - FC(2)", "SRM\\(\\) must come right after Input"),
    ("Input(8,8,3) - 2xSRM() - FC(2)", "SRM\\(\\) must come right after Input"),
])
def test_srm_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        arch.SpecNet(spec)
