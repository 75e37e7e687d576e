"""GridHead stage 2: shapes, the residual prior, spec parsing, ensembles, save/load."""

import pytest
import torch

from hyperkit import nets
from hyperkit.nets.heads import (
    GridHead,
    HeadEnsemble,
    build_head,
    head_members,
    parse_head,
    set_prior,
)
from hyperkit.nets.standardized import Standardized

from .fold_checks import assert_fold_matches, randomize


def test_forward_shape_and_maps():
    h = build_head("head(20,5,7)")
    x = torch.rand(3, 20, 5, 7)
    assert h(x).shape == (3,)
    q, w = h.maps(x)
    assert q.shape == w.shape == (3, 5, 7)
    assert h.features(x).shape == (3, 2 * 35)


def test_untrained_residual_head_is_patch_averaging():
    torch.manual_seed(0)
    h = build_head("head(20,5,7)")
    out = torch.nn.Linear(20, 1)
    set_prior(h, out)
    x = torch.rand(4, 20, 5, 7)
    want = out(x.permute(0, 2, 3, 1)).mean((1, 2, 3))
    torch.testing.assert_close(h.eval()(x), want, rtol=1e-5, atol=1e-5)


def test_prior_folds_standardization():
    torch.manual_seed(0)
    x = torch.rand(6, 20, 5, 7) * torch.linspace(0.1, 10, 20)[None, :, None, None]
    y = torch.rand(6) * 50 + 20
    out = torch.nn.Linear(20, 1)
    net = Standardized(build_head("head(20,5,7)"), 20).fit_statistics(x.numpy(), y.numpy())
    set_prior(net, out, net.in_mean, net.in_std, float(net.out_mean), float(net.out_std))
    want = out(x.permute(0, 2, 3, 1)).mean((1, 2, 3))
    torch.testing.assert_close(net.eval()(x), want, rtol=1e-4, atol=1e-3)


def test_weighted_pooling_spec_has_no_context_or_coords():
    h = build_head("head(20,5,7,ctx=0,coords=0,res=0)")
    assert isinstance(h, GridHead) and len(h.context) == 0 and not h.coords and not h.res


def test_coordinates_make_the_head_location_sensitive():
    torch.manual_seed(0)
    h = build_head("head(4,5,5,ctx=0,res=0)").eval()
    with torch.no_grad():
        h.quality.weight.normal_()
        h.weight.weight.normal_()
    x = torch.zeros(1, 4, 5, 5)
    x[0, :, 0, 0] = 1.0
    assert not torch.allclose(h(x), h(x.flip(2).flip(3)))


def test_global_context_lets_a_cell_see_the_whole_grid():
    """glob=1: with no context layers and no coordinates a cell's quality still depends
    on far cells (through the grid mean); without it, it does not."""
    torch.manual_seed(0)
    x = torch.rand(1, 6, 5, 7)
    far = x.clone()
    far[0, :, 4, 6] += 3.0  # a change in the opposite corner
    for glob, moves in ((1, True), (0, False)):
        h = build_head(f"head(6,5,7,ctx=0,coords=0,res=0,glob={glob})").eval()
        with torch.no_grad():
            h.quality.weight.normal_()
        assert h.reduce[0].in_channels == 6 and h.quality.in_channels == 64 * (1 + glob)
        q0, q1 = h.maps(x)[0][0, 0, 0], h.maps(far)[0][0, 0, 0]
        assert bool(not torch.allclose(q0, q1)) == moves


def test_ensemble_averages_members_and_saves():
    e = build_head("head(20,5,7,ens=3)")
    assert isinstance(e, HeadEnsemble) and len(e.heads) == 3
    x = torch.rand(2, 20, 5, 7)
    torch.testing.assert_close(e(x), torch.stack([m(x) for m in e.heads]).mean(0))
    again = nets.build("head(20,5,7,ens=3)")
    again.load_state_dict(e.state_dict())
    torch.testing.assert_close(again(x), e(x))


def test_input_shape_is_checked():
    h = build_head("head(20,5,7)")
    with pytest.raises(ValueError, match=r"\(N, 20, 5, 7\)"):
        h(torch.rand(2, 20, 7, 5))


@pytest.mark.parametrize("spec, match", [
    ("head(20,5,7,foo=1)", "unknown or repeated head option 'foo'"),
    ("head(20,5)", "bad head spec"),
    ("head(20,5,7,ens=0)", "out of range"),
    ("head(20,5,7,drop=1.5)", "out of range"),
])
def test_bad_specs_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        build_head(spec)


def test_parse_head_ignores_other_specs():
    assert parse_head("Input(4,4,1) - FC(1,'linear')") is None
    assert parse_head("head(8,2,3,r=4)")[2]["r"] == 4


@pytest.mark.parametrize("spec", ["head(20,5,7,r=1.5)", "head(20,5,7,r=4,r=8)",
                                  "head(20,5,7,coords=5)", "head(0,5,7)",
                                  "head(20,5,7,glob=2)"])
def test_more_bad_specs_are_refused(spec):
    with pytest.raises(ValueError, match="head option|out of range"):
        build_head(spec)


def test_sigmoid_head_gives_probabilities_and_trains_on_logits():
    """sig=1 (the forgery quick setting): the score is a probability; inside
    logits_output the same head gives the logit, and the state dict has no new keys."""
    from hyperkit.training.end_to_end import logits_output, sigmoid_head

    torch.manual_seed(0)
    h = build_head("head(6,5,7,sig=1)").eval()
    plain = build_head("head(6,5,7)").eval()
    plain.load_state_dict(h.state_dict())  # same keys: old checkpoints still load
    x = torch.randn(4, 6, 5, 7) * 5
    with torch.no_grad():
        h.quality.weight.normal_()
        plain.quality.weight.copy_(h.quality.weight)
        p = h(x)
        assert sigmoid_head(h) and not sigmoid_head(plain)
        assert ((p > 0) & (p < 1)).all()
        with logits_output(h):
            logit = h(x)
        torch.testing.assert_close(logit, plain(x))
        torch.testing.assert_close(p, torch.sigmoid(logit))


def _explicit(net, x):
    """Standardized's math written out, without the fold: net.net((x - m) / s) * s_y + m_y,
    with the prior added as the einsum it replaces."""
    z = (x - net.in_mean[:, None, None]) / net.in_std[:, None, None]
    outs = []
    for h in head_members(net):
        q_extra = torch.einsum("ndhw,d->nhw", z, h.prior_w) + h.prior_b if h.res else 0
        q, w = h.cell_maps(h.reduce(z))  # what follows the reduction is not under test
        outs.append(h.pool(q + q_extra, w))
    return torch.stack(outs).mean(0) * net.out_std + net.out_mean


@pytest.mark.parametrize("spec", ["head(6,3,4)", "head(6,3,4,res=0,glob=1)",
                                  "head(6,3,4,ctx=0,coords=0,res=0)", "head(6,3,4,ens=2,sig=1)"])
def test_standardized_head_folds_the_affine_into_its_reduction(spec):
    """Standardized(head) folds (x - m) / s and the prior into one 1x1 convolution: the
    scores and every parameter's gradient equal the explicit math (float64, 1e-10)."""
    torch.manual_seed(0)
    net = Standardized(build_head(spec), 6).double()
    scales = torch.tensor([1e-3, 1, 3, 10, 50, 300], dtype=torch.float64)
    x = torch.rand(5, 6, 3, 4, dtype=torch.float64) * scales[:, None, None]
    with torch.no_grad():
        net.in_mean.copy_(x.mean((0, 2, 3)))
        net.in_std.copy_(x.std((0, 2, 3)))
    randomize(net)
    with torch.no_grad():
        for h in head_members(net):
            h.prior_w.copy_(torch.randn(6, dtype=torch.float64))
            h.prior_b.fill_(0.7)
    assert_fold_matches(net, x, _explicit)


def test_fold_keeps_float32_under_bf16_autocast():
    """Channel means far from 0 (std 1): folded into a bfloat16 sum they would be rounded
    away (errors of order 1 in the score); the head keeps its reduction in float32."""
    torch.manual_seed(0)
    net = Standardized(build_head("head(64,3,4)"), 64)
    x = torch.randn(6, 64, 3, 4) + 175.0
    with torch.no_grad():
        net.in_mean.copy_(x.mean((0, 2, 3)))
        net.in_std.copy_(x.std((0, 2, 3)))
        for h in head_members(net):
            h.prior_w.copy_(torch.randn(64) * 0.1)
    net.eval()
    want = _explicit(net.double(), x.double()).float()
    net.float()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = net(x).float()
    assert torch.allclose(got, want, atol=0.05), (got - want).abs().max()


def test_forward_affine_on_a_bare_head_and_its_arguments():
    torch.manual_seed(0)
    h = build_head("head(4,2,3)").double().eval()
    with torch.no_grad():
        h.prior_w.copy_(torch.randn(4, dtype=torch.float64))
    x = torch.rand(3, 4, 2, 3, dtype=torch.float64)
    s, t = torch.rand(4, dtype=torch.float64) + 0.5, torch.randn(4, dtype=torch.float64)
    assert torch.allclose(h.forward_affine(x, s, t), h(x * s[:, None, None] + t[:, None, None]),
                          atol=1e-12)
    with pytest.raises(ValueError, match="scale and shift"):
        h.forward_affine(x, s)


def test_ensemble_of_members_that_cannot_fold_applies_the_affine_first():
    class Plain(torch.nn.Module):  # a member without forward_affine
        input_shape = (4, 2, 3)

        def forward(self, z):
            return z.sum((1, 2, 3))

    ens = HeadEnsemble([Plain(), Plain()])
    x = torch.rand(3, 4, 2, 3)
    s, t = torch.rand(4) + 0.5, torch.randn(4)
    assert torch.allclose(ens.forward_affine(x, s, t),
                          (x * s[:, None, None] + t[:, None, None]).sum((1, 2, 3)))
    assert torch.allclose(ens(x), x.sum((1, 2, 3)))
