"""The training loop: learning, the paper's schedule, checkpoints, resume, DDP."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hyperkit import arch, train

SPEC = "Input(8,8) - C(8) - MP(2) - FC(32) - Drop(0.2) - FC(1,'linear')"


def toy(n=600, seed=0):
    """A target a small CNN can learn: mean intensity plus a corner's contrast."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g) * torch.rand(n, 1, 1, 1, generator=g)
    y = 4 * x.mean((1, 2, 3)) + 2 * x[:, 0, :2, :2].mean((1, 2))
    return (x[: n * 2 // 3], y[: n * 2 // 3]), (x[n * 2 // 3:], y[n * 2 // 3:])


def fresh(seed=3):
    torch.manual_seed(seed)
    return arch.SpecNet(SPEC)


CFG = train.TrainConfig(epochs=8, patience=4, plateau_patience=2, batch_size=32, seed=1)


def test_training_lowers_val_loss_and_beats_constant():
    tr, va = toy()
    net = fresh()
    first = float(torch.nn.functional.l1_loss(torch.from_numpy(train.predict(net, va[0])), va[1]))
    r = train.fit(net, tr, va, CFG, log=None)
    constant = float((va[1] - tr[1].median()).abs().mean())
    assert r.best_val < 0.7 * constant < first
    assert r.history[r.best_epoch - 1]["val_loss"] == r.best_val
    # the model holds its best weights
    assert float(torch.nn.functional.l1_loss(torch.from_numpy(train.predict(net, va[0])).float(),
                                             va[1])) == pytest.approx(r.best_val, rel=1e-5)


def test_learning_rate_follows_per_update_decay():
    tr, va = toy(120)
    r = train.fit(fresh(), tr, va, train.TrainConfig(epochs=2, batch_size=16, decay=1e-2),
                  log=None)
    updates = 5  # 80 samples / 16 per batch per epoch
    assert r.history[0]["lr"] == pytest.approx(0.005 / (1 + 1e-2 * (updates - 1)))
    assert r.history[1]["lr"] == pytest.approx(0.005 / (1 + 1e-2 * (2 * updates - 1)))


def test_plateau_divides_and_early_stopping_stops():
    tr, va = toy(90)
    cfg = train.TrainConfig(epochs=50, patience=3, plateau_patience=1, batch_size=8,
                            lr=1e-30, decay=0)  # updates vanish in float32: a plateau
    r = train.fit(fresh(), tr, va, cfg, log=None)
    assert r.stopped_early and r.epochs_run == 4  # best at epoch 1, then 3 without
    lrs = [h["lr"] for h in r.history]
    assert lrs[1] == pytest.approx(lrs[0]) and lrs[2] == pytest.approx(lrs[0] / 10)


def test_deterministic_on_cpu():
    tr, va = toy()
    a, b = fresh(), fresh()
    train.fit(a, tr, va, CFG, log=None)
    train.fit(b, tr, va, CFG, log=None)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


def test_resume_after_interruption_is_exact(tmp_path):
    tr, va = toy()
    full = fresh()
    train.fit(full, tr, va, CFG, checkpoint=tmp_path / "full.ckpt", log=None)
    part = fresh()
    train.fit(part, tr, va, CFG, checkpoint=tmp_path / "p.ckpt", stop_after=3, log=None)
    # a new process would build a fresh model with other weights; resume restores all
    torch.manual_seed(99)
    resumed = arch.SpecNet(SPEC)
    r = train.fit(resumed, tr, va, CFG, checkpoint=tmp_path / "p.ckpt", resume=True, log=None)
    assert r.epochs_run == len(r.history) == CFG.epochs or r.stopped_early
    for x, y in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(x, y)
    # a finished checkpoint resumes to the same best weights without training again
    again = arch.SpecNet(SPEC)
    r2 = train.fit(again, tr, va, CFG, checkpoint=tmp_path / "p.ckpt", resume=True, log=None)
    assert r2.epochs_run == r.epochs_run
    for x, y in zip(again.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(x, y)


def test_existing_checkpoint_is_never_overwritten(tmp_path):
    tr, va = toy(90)
    ck = tmp_path / "c.ckpt"
    train.fit(fresh(), tr, va, train.TrainConfig(epochs=1, batch_size=16), checkpoint=ck,
              log=None)
    before = ck.read_bytes()
    with pytest.raises(FileExistsError, match="resume"):
        train.fit(fresh(), tr, va, train.TrainConfig(epochs=1, batch_size=16), checkpoint=ck,
                  log=None)
    with pytest.raises(ValueError, match="different configuration"):
        train.fit(fresh(), tr, va, train.TrainConfig(epochs=2, batch_size=16), checkpoint=ck,
                  resume=True, log=None)
    assert ck.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_corrupt_checkpoint_is_reported(tmp_path):
    ck = tmp_path / "bad.ckpt"
    ck.write_bytes(b"not a checkpoint")
    tr, va = toy(90)
    with pytest.raises(ValueError, match="corrupt"):
        train.fit(fresh(), tr, va, CFG, checkpoint=ck, resume=True, log=None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train.load_checkpoint(tmp_path / "missing.ckpt")


@pytest.mark.parametrize("kw, match", [
    ({"epochs": 0}, "epochs"), ({"batch_size": 2.5}, "batch_size"), ({"lr": float("nan")}, "lr"),
    ({"lr": 0}, "lr"), ({"loss": "huber"}, "loss"), ({"plateau_factor": 2.0}, "plateau_factor"),
])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        train.TrainConfig(**kw)


def test_bad_data():
    tr, va = toy(90)
    with pytest.raises(ValueError, match="labels contain NaN"):
        train.fit(fresh(), (tr[0], tr[1] * float("nan")), va, CFG, log=None)
    with pytest.raises(ValueError, match="same"):
        train.fit(fresh(), (tr[0], tr[1][:3]), va, CFG, log=None)
    with pytest.raises(TypeError, match="pair"):
        train.fit(fresh(), tr[0], va, CFG, log=None)
    x = tr[0].clone()
    x[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="inputs contain NaN or Inf"):
        train.fit(fresh(), (x, tr[1]), va, train.TrainConfig(epochs=1, batch_size=1000),
                  log=None)
    with pytest.raises(ValueError, match="device"):
        train.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no usable CUDA"):
            train.resolve_device("cuda")


def test_memmap_inputs(tmp_path):
    tr, va = toy()
    path = tmp_path / "x.npy"
    np.save(path, tr[0].numpy())
    mm = np.load(path, mmap_mode="r")
    a, b = fresh(), fresh()
    train.fit(a, (mm, tr[1].numpy()), va, CFG, log=None)
    train.fit(b, tr, va, CFG, log=None)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


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
