"""Shared checks of the standardization fold (``forward_affine`` under ``Standardized``):
the folded forward equals the explicit math in value and in every gradient."""

import torch


def randomize(net):
    """Statistics and weights for a fold check of ``Standardized`` ``net`` (float64), in
    place: output scale 12 around 40, every parameter nonzero so every path carries a
    gradient. The input statistics are set by the caller."""
    with torch.no_grad():
        net.out_mean.fill_(40.0)
        net.out_std.fill_(12.0)
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.3)


def assert_fold_matches(net, x, explicit):
    """net(x) equals explicit(net, x) to 1e-10, and so do the gradients of the input and
    of every parameter (the input's is what gradient maps use), in eval and in training
    mode (dropout draws from the same seed)."""
    for train in (False, True):
        net.train(train)
        x.requires_grad_(True)
        torch.manual_seed(5)
        got = net(x)
        torch.manual_seed(5)
        want = explicit(net, x)
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-10)
        wrt = [x, *net.parameters()]
        for a, b in zip(torch.autograd.grad(got.sum(), wrt),
                        torch.autograd.grad(want.sum(), wrt)):
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-10)
