"""The two-stage training recipes: stage 1 on streamed grid patches, stage 2 on cached
hyper-images; checkpoints, resume, reuse of a trained stage 1."""

import numpy as np
import pytest
import torch

from hyperkit.data import synthetic
from hyperkit.training import TrainConfig
from hyperkit.training.recipes import cached_hyperimages, train_stage1, train_two_stage

from ..conftest import S1, S2, two_stage_kwargs


def test_training_writes_checkpoints_and_cache(trained):
    model, fits, _, wd = trained
    assert fits["stage1"].epochs_run == 2 and fits["stage2"].epochs_run == 2
    for name in ("stage1.ckpt", "stage2.ckpt", "hyper_train.npy", "hyper_val.npy"):
        assert (wd / "work" / name).is_file()
    assert np.load(wd / "work" / "hyper_train.npy").shape == (24, 12, 3, 3)
    assert np.load(wd / "work" / "hyper_val.npy").shape == (8, 12, 3, 3)
    c = torch.load(wd / "work" / "stage1.ckpt", weights_only=True)
    assert c["objective"] == "mae"
    assert not model.training and model.stage2 is not None


def test_cached_hyperimages_are_the_model_hyperimages(trained):
    model, _, d, wd = trained
    h = np.load(wd / "work" / "hyper_train.npy")
    np.testing.assert_allclose(h, model.hyperimages(list(d.images[:24])).numpy(), rtol=1e-5,
                               atol=1e-6)


def test_resume_refuses_then_reuses(trained):
    model, _, d, wd = trained
    args = (list(d.images[:24]), d.scores[:24], list(d.images[24:32]), d.scores[24:32])
    kw = two_stage_kwargs(wd / "work")
    with pytest.raises(FileExistsError, match="resume"):
        train_two_stage(*args, **kw)
    again, fits = train_two_stage(*args, resume=True, **kw)
    np.testing.assert_array_equal(again.predict(d.images[32:]), model.predict(d.images[32:]))


def test_mismatched_architectures(tmp_path):
    d = synthetic.generate(12, 0)
    cfg = TrainConfig(epochs=1, batch_size=64)
    kw = dict(stage1_config=cfg, stage2_config=cfg, lcn=False, log=None, progress=False)
    with pytest.raises(ValueError, match="takes 16x16 patches"):
        train_two_stage(list(d.images[:6]), d.scores[:6], list(d.images[6:]), d.scores[6:],
                        stage1_arch=S1, stage2_arch=S2, patch=(32, 32), grid=(3, 3),
                        workdir=tmp_path / "a", **kw)
    with pytest.raises(ValueError, match="hyper-images are"):
        train_two_stage(list(d.images[:6]), d.scores[:6], list(d.images[6:]), d.scores[6:],
                        stage1_arch=S1, stage2_arch=S2, patch=(16, 16), grid=(4, 4),
                        workdir=tmp_path / "b", **kw)


def test_reusing_a_trained_stage1_leaves_it_untouched(trained, tmp_path):
    model, _, d, _ = trained
    before = {k: v.clone() for k, v in model.stage1.state_dict().items()}
    cfg = TrainConfig(epochs=1, batch_size=64, seed=3)
    again, fits = train_two_stage(
        list(d.images[:24]), d.scores[:24], list(d.images[24:32]), d.scores[24:32],
        stage1_arch=S1, stage2_arch=S2, patch=(16, 16), grid=(3, 3), lcn=False,
        stage1_config=None, stage2_config=cfg, workdir=tmp_path, stage1=model.stage1,
        log=None, progress=False, cache="memory")
    assert fits["stage1"] is None and fits["stage2"].epochs_run == 1
    assert not (tmp_path / "stage1.ckpt").exists()
    assert not list(tmp_path.glob("*.npy"))  # cache="memory": nothing written
    for k, v in again.stage1.state_dict().items():
        assert torch.equal(v, before[k])


def test_recipe_argument_errors(tmp_path):
    d = synthetic.generate(8, 0)
    cfg = TrainConfig(epochs=1, batch_size=64)
    args = (list(d.images[:4]), d.scores[:4], list(d.images[4:]), d.scores[4:])
    kw = dict(stage1_arch=S1, stage2_arch=S2, patch=(16, 16), grid=(3, 3), lcn=False,
              stage2_config=cfg, log=None, progress=False)
    with pytest.raises(ValueError, match="cache must be"):
        train_two_stage(*args, stage1_config=cfg, workdir=tmp_path / "a", cache="disk", **kw)
    with pytest.raises(ValueError, match="stage1_config is needed"):
        train_two_stage(*args, stage1_config=None, workdir=tmp_path / "b", **kw)
    with pytest.raises(ValueError, match=r"train images has shape \(4, 128, 128\), which reads as "
                                         "4 gray 128x128 images or as one channels-first"):
        train_stage1(d.images[:4], d.scores[:4], args[2], args[3], stage1_arch=S1,
                     patch=(16, 16), grid=(3, 3), lcn=False, config=cfg,
                     workdir=tmp_path / "d", log=None, progress=False)
    with pytest.raises(ValueError, match="4 train images for 3 scores"):
        train_stage1(args[0], d.scores[:3], args[2], args[3], stage1_arch=S1, patch=(16, 16),
                     grid=(3, 3), lcn=False, config=cfg, workdir=tmp_path / "c", log=None,
                     progress=False)


def test_train_stage1_learns_from_grid_patches(tmp_path):
    """Stage 1's validation loss is the MAE of its patch predictions against each patch's
    image label, over every grid patch of the validation images."""
    d = synthetic.generate(16, 1)
    cfg = TrainConfig(epochs=1, batch_size=32, seed=0)
    s1, r = train_stage1(d.images[:10], d.scores[:10], d.images[10:], d.scores[10:],
                         stage1_arch=S1, patch=(16, 16), grid=(2, 3), lcn=True, config=cfg,
                         workdir=tmp_path, log=None, progress=False)
    from hyperkit.patches import GridPatches

    val = GridPatches(list(d.images[10:]), d.scores[10:], (16, 16), (2, 3), lcn=True)
    (p,), y = val.batch(np.arange(len(val)))
    with torch.no_grad():
        mae = (s1.eval()(p) - y).abs().mean().item()
    assert r.best_val == pytest.approx(mae, rel=1e-5)
    assert (tmp_path / "stage1.ckpt").is_file()


def test_cached_hyperimages_written_once_in_groups(trained, tmp_path, monkeypatch):
    model, _, d, _ = trained
    ims = list(d.images[:7])
    calls = []
    real = model.hyperimages

    def counting(images, *a, **k):
        calls.append(len(images))
        return real(images, *a, **k)

    monkeypatch.setattr(model, "hyperimages", counting)
    monkeypatch.setattr("hyperkit.training.recipes._group_size", lambda *a: 3)
    a = cached_hyperimages("h", model, ims, tmp_path, "mmap")
    b = cached_hyperimages("h", model, ims, tmp_path, "mmap")
    assert calls == [3, 3, 1] and isinstance(a, np.memmap)  # built once, group by group
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, real(ims).numpy(), rtol=1e-5, atol=1e-6)
    m = cached_hyperimages("h2", model, ims, tmp_path, "memory")
    assert not isinstance(m, np.memmap)
    np.testing.assert_array_equal(m, a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.npy"]


def test_group_size_aligns_with_patch_batches():
    from hyperkit.training.recipes import _group_size

    g = _group_size(100, 400, 4096)  # synthetic: 1024-image multiples, 164 MB each
    assert g % 1024 == 0 and g * 100 % 4096 == 0
    g = _group_size(713, 800, 4096, budget=1 << 28)  # TID: no aligned group fits 256 MB
    assert g == (1 << 28) // (4 * 800 * 713)


def test_head_ensemble_is_the_mean_of_independent_members(tmp_path):
    from hyperkit import nets
    from hyperkit.nets.heads import HeadEnsemble
    from hyperkit.nets.standardized import Standardized
    from hyperkit.training.config import TrainConfig
    from hyperkit.training.recipes import fit_head_ensemble, fit_stage2

    rng = np.random.default_rng(0)
    h = rng.random((40, 6, 3, 4)).astype(np.float32)
    y = (h[:, 0].min((1, 2)) * 10).astype(np.float32)
    stage1 = torch.nn.Sequential()
    stage1.out = torch.nn.Linear(6, 1)
    cfg = TrainConfig(epochs=3, patience=3, batch_size=8, lr=1e-3, optimizer="adam", seed=5)
    ens, arch, fits = fit_head_ensemble(stage1, h[:30], y[:30], h[30:], y[30:],
                                        stage2_arch="head(6,3,4,r=4)", config=cfg, members=2,
                                        select="srocc", checkpoints=tmp_path, log=None,
                                        progress=False)
    assert arch == "head(6,3,4,r=4,ens=2)" and len(fits) == 2
    assert isinstance(ens, Standardized) and isinstance(ens.net, HeadEnsemble)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage2-m0.ckpt", "stage2-m1.ckpt"]
    one, _ = fit_stage2(stage1, h[:30], y[:30], h[30:], y[30:], stage2_arch="head(6,3,4,r=4)",
                        config=cfg, standardize=True, select="srocc", log=None,
                        progress=False)
    x = torch.from_numpy(h[30:])
    with torch.no_grad():
        z = (x - ens.in_mean[:, None, None]) / ens.in_std[:, None, None]
        member0 = ens.net.heads[0](z) * ens.out_std + ens.out_mean
        torch.testing.assert_close(member0, one(x))  # member 0 is the seed-5 fit
        again = Standardized(nets.build(arch), 6)
        again.load_state_dict(ens.state_dict())
        torch.testing.assert_close(again.eval()(x), ens(x))
    with pytest.raises(ValueError, match="one-head spec"):
        fit_head_ensemble(stage1, h, y, h, y, stage2_arch="head(6,3,4,ens=2)", config=cfg,
                          members=2)
