"""conv_minmax against conv2d + minmax_pool2d: bitwise-equal values, gradients equal up to
summation order (the winner-window backward), on the CPU and (where usable) the GPU."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import hyperkit
from hyperkit.nets.kang import KangStage1
from hyperkit.ops.conv_minmax import conv_minmax, winner_windows


def dense(x, w, b):
    """The reference route: the full map, then global min+max pooling."""
    fmap = F.conv2d(x, w, b)
    return hyperkit.minmax_pool2d(fmap)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 3), k=st.integers(1, 6), h=st.integers(3, 14),
       w=st.integers(3, 14), kh=st.integers(1, 3), kw=st.integers(1, 3), bias=st.booleans(),
       ties=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_matches_the_dense_route(n, c, k, h, w, kh, kw, bias, ties, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    if ties:  # plateaus: equal values everywhere, so the first winner must be chosen
        x = x.round()
    wt = torch.randn(k, c, kh, kw, generator=g, dtype=torch.float64)
    if ties:
        wt = wt.round()
    b = torch.randn(k, generator=g, dtype=torch.float64) if bias else None
    leaves = [t.clone().requires_grad_() for t in (x, wt)] + \
        ([b.clone().requires_grad_()] if bias else [])
    ref = dense(leaves[0], leaves[1], leaves[2] if bias else None)
    leaves2 = [t.detach().clone().requires_grad_() for t in leaves]
    new = conv_minmax(leaves2[0], leaves2[1], leaves2[2] if bias else None)
    mx_r, mn_r = (t.flatten(1) for t in ref)
    assert torch.equal(new[0], mx_r) and torch.equal(new[1], mn_r)
    r1, r2 = torch.randn(n, k, generator=g, dtype=torch.float64), torch.randn(
        n, k, generator=g, dtype=torch.float64)
    g_ref = torch.autograd.grad((mx_r * r1 + mn_r * r2).sum(), leaves)
    g_new = torch.autograd.grad((new[0] * r1 + new[1] * r2).sum(), leaves2)
    for a, bb in zip(g_ref, g_new):
        torch.testing.assert_close(bb, a, rtol=1e-12, atol=1e-12)


def test_kang_features_unchanged_and_gradients_match():
    torch.manual_seed(0)
    net = KangStage1(3)
    x = torch.randn(32, 3, 32, 32)
    old = net.relu(net.fc2(net.relu(net.fc1(net.pool(net.conv1(x)).flatten(1)))))
    new = net.features(x)
    assert torch.equal(old, new)
    r = torch.randn_like(old)
    params = [net.conv1.weight, net.conv1.bias]
    g_old = torch.autograd.grad((old * r).sum(), params)
    g_new = torch.autograd.grad((net.features(x) * r).sum(), params)
    for a, b in zip(g_old, g_new):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * float(a.abs().max()))


def test_opcheck_and_gradcheck(device):
    # distinct, well-separated map values so finite differences never change a winner
    g = torch.Generator().manual_seed(3)
    x = (torch.randperm(2 * 2 * 6 * 7, generator=g).reshape(2, 2, 6, 7).double() / 7)
    w = torch.tensor([[[[1.0, 0.01], [0.001, 1e-4]]] * 2] * 3, dtype=torch.float64)
    b = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    x, w, b = (t.to(device).requires_grad_() for t in (x, w, b))
    torch.library.opcheck(torch.ops.hyperkit.conv_minmax.default, (x, w, b, True))
    torch.library.opcheck(torch.ops.hyperkit.conv_minmax.default,
                          (x.detach(), w.detach(), None, False))
    assert torch.autograd.gradcheck(lambda *t: conv_minmax(*t), (x, w, b))


def test_torch_compile():
    def f(x, w):
        mx, mn = conv_minmax(x, w)
        return (mx - mn).sum()
    x, w = torch.randn(4, 3, 10, 10), torch.randn(5, 3, 3, 3, requires_grad=True)
    torch.compile(f, backend="aot_eager", fullgraph=True)(x, w).backward()
    g1 = w.grad.clone()
    w.grad = None
    f(x, w).backward()
    assert torch.equal(g1, w.grad)


def test_bfloat16_input_convolves_in_bfloat16():
    torch.manual_seed(1)
    x, w = torch.randn(8, 3, 32, 32), torch.randn(50, 3, 7, 7, requires_grad=True)
    mx, mn = conv_minmax(x.bfloat16(), w)
    assert mx.dtype == torch.float32 and mx.shape == (8, 50)
    ref = F.conv2d(x.bfloat16(), w.detach().bfloat16()).float().amax((2, 3))
    assert torch.equal(mx, ref)
    (mx.sum() - mn.sum()).backward()
    assert w.grad.dtype == torch.float32 and torch.isfinite(w.grad).all()


def test_winner_windows_are_the_input_under_the_position():
    x = torch.arange(2 * 3 * 6 * 5, dtype=torch.float32).reshape(2, 3, 6, 5)
    idx = torch.tensor([[0, 7], [11, 3]])  # flat in the 4 x 3 map of a 3 x 3 kernel
    win = winner_windows(x, idx, 3, 3)
    assert win.shape == (2, 2, 27)
    assert torch.equal(win[0, 1].view(3, 3, 3), x[0, :, 2:5, 1:4])
    assert torch.equal(win[1, 0].view(3, 3, 3), x[1, :, 3:6, 2:5])


def test_without_indices_there_is_no_gradient():
    x, w = torch.randn(2, 1, 5, 5), torch.randn(2, 1, 3, 3, requires_grad=True)
    mx, _, _, _ = torch.ops.hyperkit.conv_minmax(x, w, None, False)
    with pytest.raises(RuntimeError, match="with_indices=True"):
        mx.sum().backward()


@pytest.mark.parametrize("args, exc, words", [
    ((torch.zeros(2, 3, 8, 8, dtype=torch.int32), torch.zeros(4, 3, 3, 3)), TypeError, "x must"),
    ((torch.zeros(3, 8, 8), torch.zeros(4, 3, 3, 3)), ValueError, "x"),
    ((torch.zeros(2, 3, 8, 8), torch.zeros(4, 2, 3, 3)), ValueError, "weight must be"),
    ((torch.zeros(2, 3, 4, 4), torch.zeros(4, 3, 5, 5)), ValueError, "larger than"),
    ((torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3), torch.zeros(3)), ValueError, "bias"),
    ((torch.zeros(0, 3, 8, 8), torch.zeros(4, 3, 3, 3)), ValueError, "empty"),
    ((torch.full((1, 1, 4, 4), float("nan")), torch.ones(1, 1, 2, 2)), ValueError, "NaN"),
    ((torch.zeros(2, 3, 8, 8), torch.zeros(0, 3, 3, 3)), ValueError, "K, kh, kw >= 1"),
    ((torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3, dtype=torch.float64)), TypeError,
     "weight must be torch.float32"),
    ((torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3), [0.0] * 4), ValueError,
     "bias must be a"),
    ((torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3), torch.zeros(4, dtype=torch.int64)),
     TypeError, "bias must be torch.float32"),
])
def test_bad_input(args, exc, words):
    with pytest.raises(exc, match=words):
        conv_minmax(*args)


def test_float32_input_under_autocast_convolves_in_bfloat16():
    torch.manual_seed(2)
    x, w = torch.randn(4, 3, 16, 16), torch.randn(6, 3, 5, 5, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mx, mn = conv_minmax(x, w)
    assert mx.dtype == torch.float32
    assert torch.equal(mx, conv_minmax(x.bfloat16(), w)[0])
    (mx - mn).sum().backward()
    assert torch.isfinite(w.grad).all()


def test_bias_alone_needs_no_indices():
    x, w = torch.randn(2, 1, 5, 5), torch.randn(2, 1, 3, 3)
    b = torch.zeros(2, dtype=torch.float32, requires_grad=True)
    mx, mn, _, _ = torch.ops.hyperkit.conv_minmax(x, w, b, False)
    (mx + 2 * mn).sum().backward()
    assert torch.equal(b.grad, torch.full((2,), 6.0))


def test_winner_windows_refuse_positions_outside_the_map():
    with pytest.raises(ValueError, match="outside the 4 x 3 map"):
        winner_windows(torch.zeros(1, 1, 6, 5), torch.tensor([[12]]), 3, 3)


def test_kang_features_on_meta_tensors():
    net = KangStage1(3).to("meta")
    assert net.features(torch.empty(5, 3, 32, 32, device="meta")).shape == (5, 800)
