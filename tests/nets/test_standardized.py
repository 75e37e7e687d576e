"""Standardized: statistics equal numpy's (memory-mapped input read in chunks), the
forward math, and a two-stage model with a standardized stage 2 saved and loaded."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from hyperkit import nets
from hyperkit.model import TwoStage
from hyperkit.nets import arch, build
from hyperkit.nets.standardized import FOLD_MAX_SHIFT, Standardized

from ..conftest import S1, S2
from .fold_checks import assert_fold_matches, randomize


class Probe(nn.Module):
    """A stage 2 that records its input and returns a fixed linear readout of it."""

    input_shape = (3, 2, 2)

    def __init__(self):
        super().__init__()
        self.seen = None
        self.w = torch.arange(12, dtype=torch.float32).reshape(3, 2, 2) / 10

    def forward(self, z):
        self.seen = z
        return (z * self.w).sum((1, 2, 3))

    def features(self, z):
        return z.flatten(1)


def hyper(n=23, d=3, seed=0):
    """(N, D, U, V) float32 with channel scales far apart and labels far from 0."""
    rng = np.random.default_rng(seed)
    scale = np.array([1e-3, 1.0, 300.0])[:d]
    x = (rng.random((n, d, 2, 2)) * scale[:, None, None] + 5 * scale[:, None, None])
    return x.astype(np.float32), rng.normal(60, 15, n)


def numpy_stats(x, y):
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3)), y.mean(), y.std()


@pytest.mark.parametrize("chunk", [1, 5, 23, 256])
def test_statistics_are_numpys_per_channel(chunk):
    x, y = hyper()
    s = Standardized(Probe(), 3)
    assert s.fit_statistics(x, y, chunk=chunk) is s
    mean, std, ymean, ystd = numpy_stats(x, y)
    np.testing.assert_allclose(s.in_mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(s.in_std.numpy(), std, rtol=1e-4)
    assert float(s.out_mean) == pytest.approx(ymean, rel=1e-6)
    assert float(s.out_std) == pytest.approx(ystd, rel=1e-6)


def test_statistics_of_a_memory_map_read_in_chunks(tmp_path):
    x, y = hyper(n=40, seed=1)
    np.save(tmp_path / "h.npy", x)
    mm = np.load(tmp_path / "h.npy", mmap_mode="r")

    class Counting:
        """A memory map that records which image ranges were read."""

        def __init__(self, a):
            self.a, self.shape, self.reads = a, a.shape, []

        def __len__(self):
            return len(self.a)

        def __getitem__(self, sl):
            self.reads.append((sl.start, sl.stop))
            return self.a[sl]

    c = Counting(mm)
    s = Standardized(Probe(), 3).fit_statistics(c, y, chunk=16)
    assert c.reads == [(0, 16), (16, 32), (32, 48)]
    ref = Standardized(Probe(), 3).fit_statistics(x, y)
    for a, b in zip(s.buffers(), ref.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)
    mean, std, _, _ = numpy_stats(x, y)
    np.testing.assert_allclose(s.in_std.numpy(), std, rtol=1e-4)


def test_dead_channel_and_constant_labels_get_std_one():
    x, y = hyper()
    x[:, 1] = 0.0  # a dead ReLU
    x[:, 2] = 123.25  # a constant channel
    s = Standardized(Probe(), 3).fit_statistics(x, np.full(len(x), 7.0))
    assert s.in_std[1] == 1 and s.in_std[2] == 1 and s.in_mean[2] == 123.25
    assert s.in_mean[1] == 0 and s.out_std == 1 and s.out_mean == 7
    z = s.eval()(torch.from_numpy(x))
    assert torch.isfinite(z).all()
    assert torch.all(s.net.seen[:, 1:] == 0)  # constant channels stay 0, never NaN


def test_forward_standardizes_inputs_and_unstandardizes_outputs():
    x, y = hyper()
    s = Standardized(Probe(), 3).fit_statistics(x, y)
    xt = torch.from_numpy(x)
    out = s(xt)
    mean, std, ymean, ystd = (torch.tensor(v, dtype=torch.float32) for v in numpy_stats(x, y))
    z = (xt - mean[:, None, None]) / std[:, None, None]
    torch.testing.assert_close(s.net.seen, z, rtol=1e-4, atol=1e-4)
    # the standardized inputs have mean 0 and std 1 per channel
    np.testing.assert_allclose(z.double().mean((0, 2, 3)).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(z.double().std((0, 2, 3), unbiased=False).numpy(), 1, atol=1e-4)
    torch.testing.assert_close(out, (z * s.net.w).sum((1, 2, 3)) * ystd + ymean,
                               rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(s.features(xt), z.flatten(1), rtol=1e-4, atol=1e-4)
    # before fitting it is the wrapped network
    fresh = Standardized(Probe(), 3)
    torch.testing.assert_close(fresh(xt), fresh.net(xt))
    assert fresh.input_shape == (3, 2, 2)


def test_buffers_are_saved_with_the_weights_and_wrong_channel_count_is_refused():
    s = Standardized(Probe(), 3)
    assert {"in_mean", "in_std", "out_mean", "out_std"} <= set(s.state_dict())
    x, y = hyper(d=2)
    with pytest.raises(ValueError, match="hyper-images have 2 channels, this stage 2 takes 3"):
        s.fit_statistics(x, y)


def two_stage(standardized, seed=0):
    torch.manual_seed(seed)
    s1, s2 = nets.build(S1), nets.build(S2)
    if standardized:
        rng = np.random.default_rng(seed)
        s2 = Standardized(s2, 12).fit_statistics(
            rng.random((30, 12, 3, 3)).astype(np.float32) * np.arange(1, 13)[:, None, None],
            rng.normal(40, 10, 30))
    return TwoStage(s1, s2, stage1_arch=S1, stage2_arch=S2, patch=(16, 16), grid=(3, 3),
                    lcn=True).eval()


@pytest.mark.parametrize("standardized", [True, False])
def test_two_stage_with_standardized_stage2_saves_loads_and_predicts_the_same(tmp_path,
                                                                              standardized):
    m = two_stage(standardized)
    images = [np.random.default_rng(k).random((30 + k, 34)) for k in range(3)]
    before = m.predict(images)
    m.save(tmp_path / "m")
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    assert info["stage2_standardized"] is standardized
    loaded = TwoStage.load(tmp_path / "m")
    assert isinstance(loaded.stage2, Standardized) is standardized
    for (k, a), (k2, b) in zip(m.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    np.testing.assert_array_equal(loaded.predict(images), before)
    if standardized:  # on the labels' scale, not around 0
        assert float(loaded.stage2.out_mean) == pytest.approx(float(m.stage2.out_mean))
        assert float(loaded.stage2.out_mean) > 20


def test_model_saved_before_the_flag_loads_a_plain_stage2(tmp_path):
    m = two_stage(False)
    m.save(tmp_path / "m")
    path = tmp_path / "m" / "model.json"
    info = json.loads(path.read_text())
    del info["stage2_standardized"]
    path.write_text(json.dumps(info))
    loaded = TwoStage.load(tmp_path / "m")
    assert not isinstance(loaded.stage2, Standardized)


def _explicit_spec(net, x):
    """Standardized's math written out for an architecture-string stage 2 (no fold)."""
    z = (x - net.in_mean[:, None, None]) / net.in_std[:, None, None]
    return net.net(z) * net.out_std + net.out_mean


@pytest.mark.parametrize("spec", [
    # the paper's stage-2 shape in small: padded 3x3 first, pooling, FC head
    "Input(5,7,6) - 2xC(4) - MP(2) - FC(8) - Drop(0.5) - FC(1)",
    # a strided 5x5 first layer and a sigmoid output (the forgery stage 2's form)
    "Input(6,7,6) - C(4,5,2) - FC(1,'sigmoid')",
])
def test_standardized_spec_net_folds_the_affine_into_its_first_convolution(spec):
    """conv(W, (x - m) / s) = conv(W / s, x) + conv(W, frame of -m / s): scores and every
    gradient equal the explicit math in float64, padding border included."""
    torch.manual_seed(0)
    net = Standardized(build(spec), 6).double()
    c, h, w = net.input_shape
    scales = torch.tensor([1e-3, 1, 3, 10, 50, 300], dtype=torch.float64)
    x = (torch.rand(5, c, h, w, dtype=torch.float64) + 0.5) * scales[:, None, None]
    with torch.no_grad():
        net.in_mean.copy_(x.mean((0, 2, 3)))
        net.in_std.copy_(x.std((0, 2, 3)))
    randomize(net)
    assert_fold_matches(net, x, _explicit_spec)


def test_the_fold_is_exact_at_the_padded_border():
    """Zero padding belongs to the standardized input: without the frame term the border
    cells would be off by conv(W, -m / s) over the taps that fall outside."""
    torch.manual_seed(0)
    net = build("Input(3,4,2) - C(1)").double().eval()
    x = torch.rand(1, 2, 3, 4, dtype=torch.float64) + 10.0
    s, t = torch.tensor([2.0, 0.5], dtype=torch.float64), torch.tensor([-20.0, -5.0],
                                                                       dtype=torch.float64)
    want = net(x * s[:, None, None] + t[:, None, None])
    assert torch.allclose(net.forward_affine(x, s, t), want, atol=1e-10)
    conv = net.body[0]  # the fold without the frame term: wrong at the border only
    naive = torch.nn.functional.conv2d(x, conv.weight * s[None, :, None, None], conv.bias
                                       + (conv.weight.sum((2, 3)) @ t), padding=1).relu()
    off = (naive.flatten(1) - want).abs()[0].reshape(3, 4)
    assert off[1, 1:3].max() < 1e-10 and off[0].min() > 1e-3


def test_spec_net_fold_falls_back_where_it_cannot_fold():
    torch.manual_seed(0)
    s, t = torch.rand(3) + 0.5, torch.randn(3)
    x = torch.rand(2, 3, 4, 4)
    pooled_first = build("Input(4,4,3) - MP(2) - FC(2)").eval()  # nothing to fold into
    assert torch.allclose(pooled_first.forward_affine(x, s, t),
                          pooled_first(x * s[:, None, None] + t[:, None, None]))
    conv_first = build("Input(4,4,3) - C(4) - FC(1,'linear')").eval()
    with pytest.raises(ValueError, match="scale and shift"):
        conv_first.forward_affine(x, s)
    for bad in (torch.rand(2, 3, 5, 4), torch.rand(2, 2, 4, 4)):
        with pytest.raises(ValueError, match=r"input must be \(N, 3, 4, 4\)"):
            conv_first.forward_affine(bad, s, t)
    # a first layer that is not a plain zero-padded convolution takes the affine first
    reflect = build("Input(4,4,3) - C(4) - FC(1,'linear')").eval()
    old = reflect.body[0]
    reflect.body[0] = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
    reflect.body[0].load_state_dict(old.state_dict())
    with torch.no_grad():
        assert torch.allclose(reflect.forward_affine(x, s, t),
                              reflect(x * s[:, None, None] + t[:, None, None]), atol=1e-6)


def test_under_autocast_the_spec_net_standardizes_first(monkeypatch):
    """Channel means of 25 (std 1; under FOLD_MAX_SHIFT, so Standardized asks for the
    fold): folded into bfloat16 sums they would be rounded away (checked: the forced fold
    misses by 0.31 on outputs up to 1.8; the affine first, by 0.004)."""
    torch.manual_seed(0)
    net = Standardized(build("Input(4,4,8) - C(6) - FC(1,'linear')"), 8).eval()
    x = torch.randn(16, 8, 4, 4) + 25.0
    with torch.no_grad():
        net.in_mean.copy_(x.mean((0, 2, 3)))
        net.in_std.copy_(x.std((0, 2, 3)))
        want = _explicit_spec(net.double(), x.double()).float()
        net.float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = net(x).float()
        bound = 0.02 * (1 + float(want.abs().max()))
        assert torch.allclose(got, want, atol=bound), (got - want).abs().max()
        monkeypatch.setattr(arch, "autocast_dtype", lambda t: None)  # force the fold
        with torch.autocast("cpu", dtype=torch.bfloat16):
            forced = net(x).float()
        assert (forced - want).abs().max() > bound


def test_standardized_runs_the_fold_and_leaves_it_for_large_shifts():
    """The fold really runs (a hook on the first convolution stays silent), in float32
    within 1e-5 of the float64 math at realistic ReLU statistics (mean/std about 1-2);
    channels with |mean| / std above FOLD_MAX_SHIFT take the explicit route."""
    torch.manual_seed(0)
    net = Standardized(build("Input(5,7,6) - 2xC(4) - MP(2) - FC(8) - FC(1,'linear')"),
                       6).eval()
    x = torch.relu(torch.randn(8, 6, 5, 7) + 0.5)
    calls = []
    net.net.body[0].register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        net.in_mean.copy_(x.mean((0, 2, 3)))
        net.in_std.copy_(x.std((0, 2, 3)))
        assert float((net.in_mean / net.in_std).abs().max()) < FOLD_MAX_SHIFT
        got = net(x)
        assert calls == []
        want = _explicit_spec(net.double(), x.double()).float()
        net.float()
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))
        net.in_mean[0] = (FOLD_MAX_SHIFT + 1) * net.in_std[0]  # one channel far off
        calls.clear()
        net(x)
        assert calls == [1]


def test_the_fold_decision_is_read_once_per_version_of_the_statistics(monkeypatch):
    """The |mean| / std test reads a device value back (a GPU synchronization): it runs
    once per version of the buffers, not once per batch, and follows in-place changes,
    a load and a dtype move."""
    from hyperkit.nets import standardized

    torch.manual_seed(0)
    net = Standardized(build("Input(5,7,6) - 2xC(4) - MP(2) - FC(8) - FC(1,'linear')"),
                       6).eval()
    reads = []
    real = standardized.max_shift
    monkeypatch.setattr(standardized, "max_shift", lambda s: reads.append(1) or real(s))
    x = torch.relu(torch.randn(4, 6, 5, 7))
    calls = []
    net.net.body[0].register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        for _ in range(3):
            net(x)
        assert (len(reads), calls) == (1, [])  # folded, decided once
        net.in_mean[0] = (FOLD_MAX_SHIFT + 1) * net.in_std[0]
        net(x)
        net(x)
        assert (len(reads), len(calls)) == (2, 2)  # redone after the change: explicit
        net.load_state_dict({**net.state_dict(), "in_mean": torch.zeros(6)})
        net(x)
        assert (len(reads), len(calls)) == (3, 2)  # a load: folded again
        net.double()
        net(x.double())
        assert len(reads) == 4
