"""TrainConfig.cpu_micro_batch: a step taken in parts gives the whole batch's gradient,
and is only split where that holds (sample-mean objective, no batch norm, CPU); fit
announces each epoch to a source that draws per epoch (set_epoch)."""

import pytest
import torch
from torch import nn

from hyperkit.training import MAE, RankingHinge, TrainConfig, WeightedBCE, fit, loop
from hyperkit.training import checkpoint as checkpoints
from hyperkit.training.objectives import MAEPlusPLCC, NegSpearman

CPU = torch.device("cpu")


def data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 6, 6, generator=g)
    return x, 3 * x.mean((1, 2, 3)) + x[:, 0, 0, 0]


def net():
    torch.manual_seed(0)  # no dropout: the parts' draws would differ from the whole's
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 1))


def seen_sizes(m):
    """A list that collects the batch size of every training forward of ``m``."""
    sizes = []
    m.register_forward_pre_hook(lambda mod, args: sizes.append(len(args[0]))
                                if mod.training else None)
    return sizes


@pytest.mark.parametrize("part", [5, 16])
def test_a_step_in_parts_trains_to_the_weights_of_whole_steps(part):
    (x, y), (xv, yv) = data(), data(48, 1)  # 96 samples: 3 batches of 32 an epoch
    runs = {}
    for k in (0, part):
        m = net()
        sizes = seen_sizes(m)
        cfg = TrainConfig(epochs=3, patience=3, batch_size=32, seed=1, cpu_micro_batch=k)
        r = fit(m, (x, y), (xv, yv), MAE(), cfg, device="cpu", log=None, progress=False)
        runs[k] = (r, [p.detach().clone() for p in m.parameters()])
        per_batch = [32] if k == 0 else [part] * (32 // part) + [32 % part] * (32 % part > 0)
        assert sizes == per_batch * 9  # 3 epochs x 3 steps, each in these parts
    (r0, w0), (r1, w1) = runs[0], runs[part]
    for a, b in zip(w0, w1):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)  # float rounding only
    assert r0.history[0]["train_loss"] == pytest.approx(r1.history[0]["train_loss"], rel=1e-5)
    assert not torch.equal(w0[0], net()[0].weight)  # it trained


def test_parts_only_where_the_gradient_adds_up():
    cfg = TrainConfig(batch_size=64, cpu_micro_batch=16)
    plain = net()
    assert loop.micro_batch(plain, MAE(), cfg, CPU) == 16
    assert loop.micro_batch(plain, RankingHinge(), cfg, CPU) == 16
    assert loop.micro_batch(plain, WeightedBCE(), cfg, CPU) == 16
    # a batch-level term (correlation) or batch statistics: the step stays whole
    assert loop.micro_batch(plain, MAEPlusPLCC(0.5), cfg, CPU) == 64
    assert loop.micro_batch(plain, NegSpearman(), cfg, CPU) == 64
    bn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    assert loop.micro_batch(bn, MAE(), cfg, CPU) == 64
    assert loop.micro_batch(plain, MAE(), cfg, torch.device("cuda")) == 64
    assert loop.micro_batch(plain, MAE(), TrainConfig(batch_size=64), CPU) == 64
    assert loop.micro_batch(plain, MAE(), TrainConfig(batch_size=8, cpu_micro_batch=16),
                            CPU) == 8


@pytest.mark.parametrize("bad", [-1, 1.5, True, "16"])
def test_cpu_micro_batch_is_checked_by_name(bad):
    with pytest.raises(ValueError, match="cpu_micro_batch must be an integer >= 0"):
        TrainConfig(cpu_micro_batch=bad)


def test_a_checkpoint_resumes_under_any_micro_batch_and_names_other_differences(tmp_path):
    (x, y), (xv, yv) = data(), data(48, 1)
    ckpt = tmp_path / "c.ckpt"
    cfg = TrainConfig(epochs=2, patience=2, batch_size=32)
    fit(net(), (x, y), (xv, yv), MAE(), cfg, checkpoint=ckpt, device="cpu", log=None,
        progress=False, stop_after=1)
    c = torch.load(ckpt, weights_only=False)
    del c["config"]["cpu_micro_batch"]  # as written before the field existed
    torch.save(c, ckpt)
    for k in (0, 8):  # a speed setting: either value resumes
        cfg_k = TrainConfig(epochs=2, patience=2, batch_size=32, cpu_micro_batch=k)
        assert checkpoints.load(ckpt, cfg_k, "mae")["state"]["epoch"] == 1
    with pytest.raises(ValueError, match="batch_size: 32 there, 16 now"):
        checkpoints.load(ckpt, TrainConfig(epochs=2, patience=2, batch_size=16), "mae")


class Overflow(MAE):
    """MAE, but NaN for a part that holds a label above 100."""

    def __call__(self, outputs, targets):
        loss = super().__call__(outputs, targets)
        return loss * float("nan") if (targets > 100).any() else loss


def test_a_non_finite_part_is_named():
    (x, y), (xv, yv) = data(), data(48, 1)
    y = y.clone()
    y[40] = 1000.0
    cfg = TrainConfig(epochs=1, patience=1, batch_size=32, cpu_micro_batch=8)
    assert loop.micro_batch(net(), Overflow(), cfg, CPU) == 8
    whole = TrainConfig(epochs=1, patience=1, batch_size=32)
    with pytest.raises(FloatingPointError, match="toy: loss became nan at epoch 1"):
        fit(net(), (x, y), (xv, yv), Overflow(), whole, device="cpu", log=None,
            progress=False, name="toy")
    with pytest.raises(FloatingPointError, match="toy: loss became nan at epoch 1"):
        fit(net(), (x, y), (xv, yv), Overflow(), cfg, device="cpu", log=None,
            progress=False, name="toy")


class Recording:
    """An (x, y) source that records the epochs fit announces."""

    def __init__(self, x, y):
        self.x, self.y, self.epochs = x, y, []

    def __len__(self):
        return len(self.y)

    def batch(self, idx):
        return (self.x[idx],), self.y[idx]

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def test_fit_announces_each_epoch_to_the_source_also_on_resume(tmp_path):
    (x, y), val = data(), data(48, 1)
    src = Recording(x, y)
    cfg = TrainConfig(epochs=3, patience=3, batch_size=32)
    fit(net(), src, val, MAE(), cfg, checkpoint=tmp_path / "c.ckpt", device="cpu", log=None,
        progress=False, stop_after=2)
    assert src.epochs == [0, 1]
    again = Recording(x, y)
    fit(net(), again, val, MAE(), cfg, checkpoint=tmp_path / "c.ckpt", resume=True,
        device="cpu", log=None, progress=False)
    assert again.epochs == [2]
