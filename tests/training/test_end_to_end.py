"""End-to-end training on whole resized images: trains, resumes bit for bit (flips
included), predicts one score per image, and trains sigmoid networks on logits."""

import functools

import numpy as np
import pytest
import torch
from PIL import Image

from hyperkit.nets import build
from hyperkit.training import MAE, FitResult, TrainConfig, WeightedBCE, end_to_end, fit
from hyperkit.training.end_to_end import predict_end_to_end, train_end_to_end

ARCH = "Input(12,16,3) - C(4) - MP(2) - FC(8) - FC(1,'linear')"
SIGMOID = "Input(12,16,3) - C(4) - MP(2) - FC(8) - FC(1,'sigmoid')"
CFG = TrainConfig(epochs=3, patience=3, plateau_patience=2, batch_size=8, lr=0.01, seed=2)


def images(n, seed=0):
    """Images of 24x32 (resized to 12x16) whose label is their brightness."""
    g = np.random.default_rng(seed)
    level = g.uniform(0.1, 0.9, n)
    ims = [np.clip(g.normal(v, 0.1, (24, 32, 3)), 0, 1).astype(np.float32) for v in level]
    return ims, level


def run(workdir, arch=ARCH, objective=None, labels=None, **kw):
    if objective is None:
        objective = MAE()
    tr, ytr = images(24, 0)
    va, yva = images(8, 1)
    if labels is not None:
        ytr, yva = labels(ytr), labels(yva)
    torch.manual_seed(0)
    return train_end_to_end(tr, ytr, va, yva, arch=arch, objective=objective, config=CFG,
                            workdir=workdir, log=None, progress=False, device="cpu", **kw)


def test_trains_and_predicts_one_score_per_image(tmp_path):
    net, result = run(tmp_path / "w", lcn=True)
    assert isinstance(result, FitResult) and result.epochs_run == 3
    assert (tmp_path / "w" / "e2e.ckpt").exists()
    assert not net.training
    ims, _ = images(5, 3)
    Image.fromarray((ims[0] * 255).astype(np.uint8)).save(tmp_path / "a.png")
    scores = predict_end_to_end(net, [tmp_path / "a.png", *ims[1:]], lcn=True, batch_size=2)
    assert scores.shape == (5,) and scores.dtype == np.float64 and np.isfinite(scores).all()
    # the batch of an array and the same list agree
    np.testing.assert_allclose(predict_end_to_end(net, np.stack(ims[1:]), lcn=True),
                               scores[1:], rtol=1e-5, atol=1e-6)


def test_the_initial_weights_come_from_the_config_seed_alone(tmp_path):
    """What drew random numbers before (another stage's training) must not move the
    baseline: the same config gives the same network after any global generator state."""
    first, _ = run(tmp_path / "a")
    torch.manual_seed(123)
    torch.rand(1000)
    tr, ytr = images(24, 0)
    va, yva = images(8, 1)
    second, _ = train_end_to_end(tr, ytr, va, yva, arch=ARCH, objective=MAE(), config=CFG,
                                 workdir=tmp_path / "b", log=None, progress=False,
                                 device="cpu")
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_existing_checkpoint_needs_resume(tmp_path):
    run(tmp_path)
    with pytest.raises(FileExistsError, match="resume=True"):
        run(tmp_path)


def test_resume_ends_where_an_uninterrupted_run_does(tmp_path, monkeypatch):
    whole, r_whole = run(tmp_path / "whole", flip=True)
    monkeypatch.setattr(end_to_end, "fit", functools.partial(fit, stop_after=1))
    run(tmp_path / "cut", flip=True)
    monkeypatch.setattr(end_to_end, "fit", fit)
    resumed, r_resumed = run(tmp_path / "cut", flip=True, resume=True)
    assert r_resumed.history == [{**h, "seconds": r_resumed.history[i]["seconds"]}
                                 for i, h in enumerate(r_whole.history)]
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_sigmoid_net_trains_on_logits_and_predicts_probabilities(tmp_path):
    objective = WeightedBCE((1.0, 2.0))
    net, result = run(tmp_path, arch=SIGMOID, objective=objective,
                      labels=lambda y: (y > 0.5).astype(np.float32))
    assert isinstance(net.head[-1], torch.nn.Sigmoid)  # put back after training
    ckpt = torch.load(tmp_path / "e2e.ckpt", weights_only=True)
    assert ckpt["best_model"].keys() == build(SIGMOID).state_dict().keys()
    va, yva = images(8, 1)
    p = predict_end_to_end(net, va)
    assert ((p > 0) & (p < 1)).all()
    # the validation loss fit recorded is BCE of the logits, not of the probabilities
    logits = torch.from_numpy(np.log(p / (1 - p))).float()
    labels = torch.from_numpy((yva > 0.5).astype(np.float32))
    assert float(objective(logits, labels)) == pytest.approx(result.best_val, rel=1e-4)
    assert float(objective(torch.from_numpy(p).float(), labels)) != \
        pytest.approx(result.best_val, rel=1e-3)


def test_bad_arguments(tmp_path):
    tr, y = images(4)
    with pytest.raises(TypeError, match="objective"):
        train_end_to_end(tr, y, tr, y, arch=ARCH, objective="mae", config=CFG,
                         workdir=tmp_path, log=None)
    with pytest.raises(ValueError, match="channel"):
        train_end_to_end([im[..., 0] for im in tr], y, tr, y, arch=ARCH, objective=MAE(),
                         config=CFG, workdir=tmp_path, log=None)
    with pytest.raises(ValueError, match="one score per image"):
        predict_end_to_end(build("Input(12,16,3) - C(2) - MP(2) - FC(3,'linear')"), tr)
    with pytest.raises(ValueError, match="batch_size"):
        predict_end_to_end(build(ARCH), tr, batch_size=0)
