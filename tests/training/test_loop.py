"""The training loop: learning, the paper's schedule, checkpoints, resume, DDP, and any
model / batch source / objective (a siamese pair trained with the ranking hinge)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hyperkit.nets import SpecNet
from hyperkit.training import (
    MAE,
    BatchSource,
    FitResult,
    RankingHinge,
    TrainConfig,
    WeightedBCE,
    fit,
    loop,
    predict,
)
from hyperkit.training import checkpoint as checkpoints

from .. import reference

SPEC = "Input(8,8) - C(8) - MP(2) - FC(32) - Drop(0.2) - FC(1,'linear')"


def toy(n=600, seed=0):
    """A target a small CNN can learn: mean intensity plus a corner's contrast."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g) * torch.rand(n, 1, 1, 1, generator=g)
    y = 4 * x.mean((1, 2, 3)) + 2 * x[:, 0, :2, :2].mean((1, 2))
    return (x[: n * 2 // 3], y[: n * 2 // 3]), (x[n * 2 // 3:], y[n * 2 // 3:])


def fresh(seed=3):
    torch.manual_seed(seed)
    return SpecNet(SPEC)


CFG = TrainConfig(epochs=8, patience=4, plateau_patience=2, batch_size=32, seed=1)


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values()))


def test_training_lowers_val_loss_and_beats_constant():
    tr, va = toy()
    net = fresh()
    first = float(torch.nn.functional.l1_loss(torch.from_numpy(predict(net, va[0])), va[1]))
    r = fit(net, tr, va, config=CFG, log=None)
    assert isinstance(r, FitResult)
    constant = float((va[1] - tr[1].median()).abs().mean())
    assert r.best_val < 0.7 * constant < first
    assert r.history[r.best_epoch - 1]["val_loss"] == r.best_val
    # the model holds its best weights
    assert float(torch.nn.functional.l1_loss(torch.from_numpy(predict(net, va[0])).float(),
                                             va[1])) == pytest.approx(r.best_val, rel=1e-5)


def test_default_objective_is_mae():
    tr, va = toy(150)
    cfg = TrainConfig(epochs=2, batch_size=16)
    a, b = fresh(), fresh()
    ra = fit(a, tr, va, config=cfg, log=None)
    rb = fit(b, tr, va, MAE(), cfg, log=None)
    def untimed(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert same_weights(a, b) and untimed(ra.history) == untimed(rb.history)


def test_learning_rate_follows_per_update_decay():
    tr, va = toy(120)
    r = fit(fresh(), tr, va, config=TrainConfig(epochs=2, batch_size=16, decay=1e-2), log=None)
    updates = 5  # 80 samples / 16 per batch per epoch
    assert r.history[0]["lr"] == pytest.approx(0.005 / (1 + 1e-2 * (updates - 1)))
    assert r.history[1]["lr"] == pytest.approx(0.005 / (1 + 1e-2 * (2 * updates - 1)))
    state = loop.FitState(updates=10, factor=0.1)
    assert loop.learning_rate(TrainConfig(lr=0.5, decay=0.1), state) == pytest.approx(0.025)


def test_plateau_divides_and_early_stopping_stops():
    tr, va = toy(90)
    cfg = TrainConfig(epochs=50, patience=3, plateau_patience=1, batch_size=8,
                      lr=1e-30, decay=0)  # updates vanish in float32: a plateau
    r = fit(fresh(), tr, va, config=cfg, log=None)
    assert r.stopped_early and r.epochs_run == 4  # best at epoch 1, then 3 without
    lrs = [h["lr"] for h in r.history]
    assert lrs[1] == pytest.approx(lrs[0]) and lrs[2] == pytest.approx(lrs[0] / 10)


def test_end_of_epoch_and_finished():
    cfg = TrainConfig(epochs=5, patience=2, plateau_patience=1, plateau_factor=0.5)
    st = loop.FitState()
    assert loop.end_of_epoch(st, 1.0, cfg) and st.best_val == 1.0 and st.best_epoch == 0
    assert not loop.end_of_epoch(st, 1.0, cfg)  # equal is no improvement
    assert st.since_best == 1 and st.factor == 0.5 and not loop.finished(st, cfg)
    assert not loop.end_of_epoch(st, 2.0, cfg)
    assert st.factor == 0.25 and loop.finished(st, cfg) and st.stopped_early and st.done
    st = loop.FitState(epoch=5)
    assert loop.finished(st, cfg) and not st.stopped_early  # the budget is spent


def test_epoch_order_is_seeded_and_split_across_ranks():
    a = loop.epoch_order(103, seed=1, epoch=4)
    assert sorted(a.tolist()) == list(range(103))
    assert np.array_equal(a, loop.epoch_order(103, seed=1, epoch=4))
    assert not np.array_equal(a, loop.epoch_order(103, seed=1, epoch=5))
    assert not np.array_equal(a, loop.epoch_order(103, seed=2, epoch=4))
    shares = [loop.epoch_order(103, 1, 4, world=3, rank=r) for r in range(3)]
    assert all(len(s) == 34 for s in shares)  # 103 // 3 each, one sample dropped
    joined = np.stack(shares, 1).ravel()
    assert np.array_equal(joined, a[:102])  # rank r takes every world-th sample


def test_deterministic_on_cpu():
    tr, va = toy()
    a, b = fresh(), fresh()
    fit(a, tr, va, config=CFG, log=None)
    fit(b, tr, va, config=CFG, log=None)
    assert same_weights(a, b)


def test_log_lines():
    tr, va = toy(90)
    lines = []
    r = fit(fresh(), tr, va, config=TrainConfig(epochs=2, batch_size=16), log=lines.append,
            name="stageX")
    assert len(lines) == 3 and lines[0].startswith("stageX epoch 1/2 train ")
    assert lines[1].startswith("stageX epoch 2/2 train ")
    assert " *" in lines[0]  # the first epoch always improves
    # the last line says how the run ended: here the whole budget was spent
    assert not r.stopped_early
    assert lines[2] == (f"stageX ran all 2 epochs; best validation loss {r.best_val:.4f} at "
                        f"epoch {r.best_epoch}")


def test_log_says_when_early_stopping_ended_the_run():
    """Issue #9: a stage ended by early stopping says so, with the epoch."""
    tr, va = toy(90)
    cfg = TrainConfig(epochs=50, patience=3, plateau_patience=1, batch_size=8,
                      lr=1e-30, decay=0)  # updates vanish in float32: a plateau
    lines = []
    r = fit(fresh(), tr, va, config=cfg, log=lines.append, name="stageY")
    assert r.stopped_early and r.epochs_run == 4
    assert len(lines) == 5 and lines[3].startswith("stageY epoch 4/50 ")
    assert lines[4] == ("stageY stopped early after epoch 4 (3 epochs without improvement); "
                        f"best validation loss {r.best_val:.4f} at epoch 1")


def test_resume_after_interruption_is_exact(tmp_path):
    tr, va = toy()
    full = fresh()
    fit(full, tr, va, config=CFG, checkpoint=tmp_path / "full.ckpt", log=None)
    part = fresh()
    fit(part, tr, va, config=CFG, checkpoint=tmp_path / "p.ckpt", stop_after=3, log=None)
    # a new process would build a fresh model with other weights; resume restores all
    torch.manual_seed(99)
    resumed = SpecNet(SPEC)
    r = fit(resumed, tr, va, config=CFG, checkpoint=tmp_path / "p.ckpt", resume=True, log=None)
    assert r.epochs_run == len(r.history) == CFG.epochs or r.stopped_early
    assert same_weights(full, resumed)
    # a finished checkpoint resumes to the same best weights without training again
    again = SpecNet(SPEC)
    r2 = fit(again, tr, va, config=CFG, checkpoint=tmp_path / "p.ckpt", resume=True, log=None)
    assert r2.epochs_run == r.epochs_run
    assert same_weights(again, resumed)


def test_checkpoint_records_config_and_objective(tmp_path):
    tr, va = toy(90)
    cfg = TrainConfig(epochs=1, batch_size=16)
    fit(fresh(), tr, va, RankingHinge(margin=2), cfg, checkpoint=tmp_path / "c.ckpt", log=None)
    c = torch.load(tmp_path / "c.ckpt", weights_only=True)
    assert c["objective"] == "ranking_hinge(margin=2)" and c["config"]["epochs"] == 1
    assert "loss" not in c["config"]
    assert {"model", "optimizer", "state", "history", "best_model", "rng"} <= set(c)


def test_existing_checkpoint_is_never_overwritten(tmp_path):
    tr, va = toy(90)
    ck = tmp_path / "c.ckpt"
    fit(fresh(), tr, va, config=TrainConfig(epochs=1, batch_size=16), checkpoint=ck, log=None)
    before = ck.read_bytes()
    with pytest.raises(FileExistsError, match="resume"):
        fit(fresh(), tr, va, config=TrainConfig(epochs=1, batch_size=16), checkpoint=ck,
            log=None)
    with pytest.raises(ValueError, match="different configuration"):
        fit(fresh(), tr, va, config=TrainConfig(epochs=2, batch_size=16), checkpoint=ck,
            resume=True, log=None)
    assert ck.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize("objective", [RankingHinge(), WeightedBCE((1.0, 2.0))])
def test_resume_with_another_objective_is_refused(tmp_path, objective):
    tr, va = toy(90)
    ck = tmp_path / "c.ckpt"
    cfg = TrainConfig(epochs=2, batch_size=16)
    fit(fresh(), tr, va, MAE(), cfg, checkpoint=ck, stop_after=1, log=None)
    before = ck.read_bytes()
    with pytest.raises(ValueError, match="objective 'mae'"):
        fit(fresh(), tr, va, objective, cfg, checkpoint=ck, resume=True, log=None)
    assert ck.read_bytes() == before
    # the same objective, or one with other parameters, is told apart by its name
    ck2 = tmp_path / "w.ckpt"
    fit(fresh(), tr, va, WeightedBCE((1.0, 3.0)), cfg, checkpoint=ck2, stop_after=1, log=None)
    with pytest.raises(ValueError, match="objective"):
        fit(fresh(), tr, va, WeightedBCE((1.0, 2.0)), cfg, checkpoint=ck2, resume=True,
            log=None)
    fit(fresh(), tr, va, WeightedBCE((1.0, 3.0)), cfg, checkpoint=ck2, resume=True, log=None)


def test_checkpoint_from_before_objectives_resumes(tmp_path):
    """A checkpoint whose config still has the old `loss` field and no `objective`."""
    tr, va = toy(150)
    cfg = TrainConfig(epochs=3, batch_size=16)
    full = fresh()
    fit(full, tr, va, config=cfg, log=None)
    ck = tmp_path / "old.ckpt"
    fit(fresh(), tr, va, config=cfg, checkpoint=ck, stop_after=1, log=None)
    c = torch.load(ck, weights_only=True)
    del c["objective"]
    c["config"]["loss"] = "mae"
    torch.save(c, ck)
    resumed = fresh()
    fit(resumed, tr, va, MAE(), cfg, checkpoint=ck, resume=True, log=None)
    assert same_weights(full, resumed)
    c = torch.load(ck, weights_only=True)
    del c["objective"]
    c["config"]["loss"] = "mse"
    torch.save(c, ck)
    with pytest.raises(ValueError, match="objective 'mse'"):
        fit(fresh(), tr, va, MAE(), cfg, checkpoint=ck, resume=True, log=None)


def test_corrupt_checkpoint_is_reported(tmp_path):
    ck = tmp_path / "bad.ckpt"
    ck.write_bytes(b"not a checkpoint")
    tr, va = toy(90)
    with pytest.raises(ValueError, match="corrupt"):
        fit(fresh(), tr, va, config=CFG, checkpoint=ck, resume=True, log=None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoints.load(tmp_path / "missing.ckpt", CFG, "mae")


@pytest.mark.parametrize("kw, match", [
    ({"epochs": 0}, "epochs"), ({"batch_size": 2.5}, "batch_size"), ({"lr": float("nan")}, "lr"),
    ({"lr": 0}, "lr"), ({"plateau_factor": 2.0}, "plateau_factor"),
    ({"patience": True}, "patience"), ({"momentum": -0.1}, "momentum"),
    ({"precision": "fp16"}, "precision must be one of float32, bf16"),
])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_config_has_no_loss_any_more():
    """The loss is an objective passed to fit, not a configuration field."""
    with pytest.raises(TypeError, match="loss"):
        TrainConfig(loss="mae")


def test_bad_data():
    tr, va = toy(90)
    with pytest.raises(ValueError, match="labels contain NaN"):
        fit(fresh(), (tr[0], tr[1] * float("nan")), va, config=CFG, log=None)
    with pytest.raises(ValueError, match="same"):
        fit(fresh(), (tr[0], tr[1][:3]), va, config=CFG, log=None)
    with pytest.raises(TypeError, match="pair"):
        fit(fresh(), tr[0], va, config=CFG, log=None)
    x = tr[0].clone()
    x[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="inputs contain NaN or Inf"):
        fit(fresh(), (x, tr[1]), va, config=TrainConfig(epochs=1, batch_size=1000), log=None)
    with pytest.raises(ValueError, match="device"):
        fit(fresh(), tr, va, config=CFG, device="tpu", log=None)


def test_diverging_loss_is_reported():
    tr, va = toy(90)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(fresh(), tr, va, config=TrainConfig(epochs=3, batch_size=8, lr=1e30), log=None)


def test_memmap_inputs(tmp_path):
    tr, va = toy()
    path = tmp_path / "x.npy"
    np.save(path, tr[0].numpy())
    mm = np.load(path, mmap_mode="r")
    a, b = fresh(), fresh()
    fit(a, (mm, tr[1].numpy()), va, config=CFG, log=None)
    fit(b, tr, va, config=CFG, log=None)
    assert same_weights(a, b)


# ------------------------------------------- any model, batch source and objective


class PairSource:
    """A custom BatchSource of siamese pairs: inputs (a, b), target +1 when a has the
    higher toy score and -1 otherwise."""

    def __init__(self, x, y, n_pairs, seed):
        rng = np.random.default_rng(seed)
        self.x = x
        self.a = rng.integers(0, len(x), n_pairs)
        self.b = (self.a + rng.integers(1, len(x), n_pairs)) % len(x)  # never a itself
        self.y = torch.where(y[self.a] > y[self.b], 1.0, -1.0)

    def __len__(self):
        return len(self.y)

    def batch(self, idx):
        a, b = torch.from_numpy(self.a[idx]), torch.from_numpy(self.b[idx])
        return (self.x[a], self.x[b]), self.y[torch.from_numpy(idx)]


class Siamese(nn.Module):
    """One scorer applied to both inputs; the output is the score difference d."""

    def __init__(self):
        super().__init__()
        self.scorer = fresh()

    def forward(self, a, b):
        return self.scorer(a) - self.scorer(b)


def test_siamese_pairs_train_with_the_ranking_hinge():
    (xtr, ytr), (xva, yva) = toy()
    train, val = PairSource(xtr, ytr, 1500, 0), PairSource(xva, yva, 400, 1)
    assert isinstance(train, BatchSource)
    net = Siamese()
    hinge = RankingHinge()
    (a, b), t = val.batch(np.arange(len(val)))
    before = hinge(torch.from_numpy(predict(net, val)).float(), t).item()
    r = fit(net, train, val, hinge, TrainConfig(epochs=6, patience=6, batch_size=32, seed=0),
            log=None)
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert r.best_val < 0.8 * before
    d = predict(net, val)
    assert d.shape == (len(val),)
    assert r.best_val == pytest.approx(reference.ranking_hinge(d, t.numpy()), rel=1e-5)
    assert np.mean(np.sign(d) == t.numpy()) > 0.8  # the pairs are mostly ranked right
    # the scorer alone now orders single images by the toy score
    s = predict(net.scorer, xva)
    assert np.corrcoef(s, yva.numpy())[0, 1] > 0.8


def test_predict_takes_a_batch_source_and_restores_the_mode():
    (xtr, ytr), _ = toy(60)
    net = Siamese().train()
    src = PairSource(xtr, ytr, 50, 0)
    d = predict(net, src, batch_size=7)
    assert net.training  # back in training mode
    with torch.no_grad():
        net.eval()
        want = (net(*src.batch(np.arange(50))[0])).double().numpy()
    np.testing.assert_allclose(d, want, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------ DDP


def test_ddp_two_gloo_ranks_end_identical(tmp_path):
    """torchrun with 2 CPU processes (gloo): both ranks hold the same trained weights."""
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node", "2", str(worker), str(tmp_path)],
                         capture_output=True, text=True, timeout=240, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    init = fresh().state_dict()
    assert any(not torch.equal(r0[k], init[k]) for k in init)  # it trained
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    assert (tmp_path / "ddp.ckpt").is_file() and (tmp_path / "log0.txt").read_text()
    assert not (tmp_path / "log1.txt").read_text()  # only rank 0 logs


def test_validation_objective_selects_the_kept_weights(tmp_path):
    from hyperkit.training.objectives import NegSpearman

    tr, va = toy(150)
    cfg = TrainConfig(epochs=3, batch_size=16)
    r = fit(fresh(), tr, va, MAE(), cfg, val_objective=NegSpearman(), log=None)
    vals = [row["val_loss"] for row in r.history]
    assert all(-1.0 <= v <= 1.0 for v in vals)  # minus SROCC, not an MAE
    assert r.best_val == min(vals) and r.best_epoch == vals.index(min(vals)) + 1
    # a checkpoint remembers the criterion: resuming with the plain loss is refused
    ck = tmp_path / "s.ckpt"
    fit(fresh(), tr, va, MAE(), cfg, checkpoint=ck, stop_after=1, log=None,
        val_objective=NegSpearman())
    with pytest.raises(ValueError, match="objective"):
        fit(fresh(), tr, va, MAE(), cfg, checkpoint=ck, resume=True, log=None)


def test_bf16_is_refused_where_the_hardware_would_emulate_it(monkeypatch):
    monkeypatch.setattr(loop, "native_bf16", lambda device: False)
    tr, va = toy(120)
    with pytest.raises(ValueError, match="precision='bf16' needs native bfloat16"):
        fit(fresh(), tr, va, config=TrainConfig(epochs=1, batch_size=32, precision="bf16"),
            log=None)


@pytest.mark.skipif(not loop.native_bf16(torch.device("cpu")), reason="no native bf16 CPU")
def test_bf16_training_runs_the_forward_in_bf16_and_keeps_float32_weights():
    from hyperkit.nets.kang import KangStage1

    torch.manual_seed(0)
    net = KangStage1(1)
    x = torch.rand(256, 1, 32, 32)
    y = 50 + 20 * x[:, 0, :16].mean((1, 2))
    seen = []
    net.fc1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    cfg = TrainConfig(epochs=3, patience=3, batch_size=32, lr=0.005, precision="bf16")
    r = fit(net, (x[:192], y[:192]), (x[192:], y[192:]), config=cfg, log=None)
    assert torch.bfloat16 in seen and torch.float32 in seen  # train bf16, validate float32
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert np.isfinite(r.best_val)


def test_validation_runs_in_cpu_sized_batches_and_gives_the_whole_sets_value():
    from hyperkit.batching import as_source
    from hyperkit.training.loop import eval_batch_size, validate

    assert eval_batch_size(torch.device("cpu")) == 128
    assert eval_batch_size(torch.device("meta")) == 512
    sizes = []

    class Net(torch.nn.Module):
        def forward(self, x):
            sizes.append(len(x))
            return x[:, 0]

    x = torch.arange(300, dtype=torch.float32)[:, None]
    y = torch.zeros(300)
    got = validate(Net(), as_source((x, y), "val"), MAE(), torch.device("cpu"))
    assert sizes == [128, 128, 44]  # the CPU default
    assert got == pytest.approx(float(x.mean()))  # one value over all outputs
    sizes.clear()
    validate(Net(), as_source((x, y), "val"), MAE(), torch.device("cpu"), batch_size=512)
    assert sizes == [300]
