"""The optimizer choice: TrainConfig's optimizer / weight_decay fields, make_optimizer,
and checkpoints written before the choice existed."""

import dataclasses

import pytest
import torch
from torch import nn

from hyperkit.training import TrainConfig, fit
from hyperkit.training import checkpoint as checkpoints
from hyperkit.training.config import stage1_config, stage2_config
from hyperkit.training.loop import FitState, make_optimizer

from .test_loop import fresh, same_weights, toy


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))


def test_defaults_are_the_papers_sgd():
    cfg = TrainConfig()
    assert cfg.optimizer == "sgd" and cfg.weight_decay == 0.0
    assert stage1_config().optimizer == stage2_config().optimizer == "sgd"
    assert stage2_config(optimizer="adam", weight_decay=1e-4).optimizer == "adam"
    opt = make_optimizer(net(), cfg)
    assert type(opt) is torch.optim.SGD
    g = opt.param_groups[0]
    assert g["lr"] == 0.005 and g["momentum"] == 0.9 and g["nesterov"] is True
    assert g["weight_decay"] == 0.0


def test_adam_is_torch_adam_with_the_configured_decay():
    cfg = TrainConfig(optimizer="adam", lr=1e-3, weight_decay=0.01)
    model = net()
    opt = make_optimizer(model, cfg)
    assert type(opt) is torch.optim.Adam
    g = opt.param_groups[0]
    assert g["lr"] == 1e-3 and g["weight_decay"] == 0.01
    assert [id(p) for p in g["params"]] == [id(p) for p in model.parameters()]
    sgd = make_optimizer(model, TrainConfig(weight_decay=0.5))
    assert sgd.param_groups[0]["weight_decay"] == 0.5


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_frozen_parameters_are_left_out(optimizer):
    model = net()
    model[0].weight.requires_grad_(False)
    opt = make_optimizer(model, TrainConfig(optimizer=optimizer))
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert ids == [id(model[0].bias), id(model[2].weight), id(model[2].bias)]


@pytest.mark.parametrize("kw, words", [
    ({"optimizer": "Adam"}, "optimizer must be one of sgd, adam, got 'Adam'"),
    ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam"),
    ({"optimizer": None}, "optimizer must be one of"),
    ({"weight_decay": -1e-4}, "weight_decay must be a number >= 0"),
    ({"weight_decay": float("nan")}, "weight_decay must be a number >= 0"),
    ({"weight_decay": "0.1"}, "weight_decay must be a number >= 0"),
])
def test_bad_optimizer_settings_are_refused(kw, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**kw)


def test_adam_trains_and_resumes_exactly(tmp_path):
    tr, va = toy(150)
    cfg = TrainConfig(epochs=3, batch_size=16, optimizer="adam", lr=1e-3, seed=1)
    full = fresh()
    r = fit(full, tr, va, config=cfg, log=None)
    assert r.epochs_run == 3
    part = fresh()
    fit(part, tr, va, config=cfg, checkpoint=tmp_path / "a.ckpt", stop_after=1, log=None)
    c = torch.load(tmp_path / "a.ckpt", weights_only=True)
    assert c["config"]["optimizer"] == "adam"
    assert "exp_avg" in next(iter(c["optimizer"]["state"].values()))  # Adam's own state
    resumed = fresh()
    fit(resumed, tr, va, config=cfg, checkpoint=tmp_path / "a.ckpt", resume=True, log=None)
    assert same_weights(full, resumed)
    with pytest.raises(ValueError, match="different configuration"):
        fit(fresh(), tr, va, config=dataclasses.replace(cfg, optimizer="sgd"),
            checkpoint=tmp_path / "a.ckpt", resume=True, log=None)


def test_checkpoint_from_before_the_optimizer_choice_resumes_with_the_default(tmp_path):
    """A checkpoint whose config has no 'optimizer' / 'weight_decay' was SGD without
    decay: it resumes with the default config, and only with it."""
    tr, va = toy(150)
    cfg = TrainConfig(epochs=3, batch_size=16)
    full = fresh()
    fit(full, tr, va, config=cfg, log=None)
    ck = tmp_path / "old.ckpt"
    fit(fresh(), tr, va, config=cfg, checkpoint=ck, stop_after=1, log=None)
    c = torch.load(ck, weights_only=True)
    del c["config"]["optimizer"], c["config"]["weight_decay"]
    torch.save(c, ck)
    assert checkpoints.load(ck, cfg, "mae")["config"] == dataclasses.asdict(cfg)
    for other in (dataclasses.replace(cfg, optimizer="adam"),
                  dataclasses.replace(cfg, weight_decay=1e-4)):
        with pytest.raises(ValueError, match="different configuration"):
            checkpoints.load(ck, other, "mae")
    resumed = fresh()
    fit(resumed, tr, va, config=cfg, checkpoint=ck, resume=True, log=None)
    assert same_weights(full, resumed)


def test_checkpoint_round_trip_keeps_the_optimizer_fields(tmp_path):
    model = net()
    cfg = TrainConfig(optimizer="adam", weight_decay=0.25)
    opt = make_optimizer(model, cfg)
    checkpoints.save(tmp_path / "c.ckpt", model, opt, FitState(), [], model.state_dict(), cfg,
                     "mae")
    c = checkpoints.load(tmp_path / "c.ckpt", cfg, "mae")
    assert c["config"]["optimizer"] == "adam" and c["config"]["weight_decay"] == 0.25
