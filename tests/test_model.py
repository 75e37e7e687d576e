"""Two-stage training, prediction, save / load."""

import json

import numpy as np
import pytest
import torch

import hyperkit
from hyperkit import synthetic, train
from hyperkit.twostage import TwoStage, grid_patches, load_model, train_two_stage

S1 = "Input(16,16) - C(4) - MP(2) - C(8) - MP(4) - FC(12) - FC(1,'linear')"
S2 = "Input(3,3,12) - C(8) - MP(2) - FC(8) - FC(1,'linear')"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = synthetic.generate(40, 0)
    wd = tmp_path_factory.mktemp("two")
    cfg = train.TrainConfig(epochs=2, patience=2, batch_size=64, seed=0)
    model, fits = train_two_stage(
        list(d.images[:24]), d.scores[:24], list(d.images[24:32]), d.scores[24:32],
        stage1_arch=S1, stage2_arch=S2, patch=(16, 16), grid=(3, 3), lcn=False,
        stage1_config=cfg, stage2_config=cfg, workdir=wd / "work", log=None, progress=False)
    return model, fits, d, wd


def test_training_writes_checkpoints_and_cache(trained):
    model, fits, _, wd = trained
    assert fits["stage1"].epochs_run == 2 and fits["stage2"].epochs_run == 2
    for name in ("stage1.ckpt", "stage2.ckpt", "hyper_train.npy", "hyper_val.npy"):
        assert (wd / "work" / name).is_file()
    assert np.load(wd / "work" / "hyper_train.npy").shape == (24, 12, 3, 3)


def test_patch_average_is_mean_of_stage1_on_grid_patches(trained):
    model, _, d, _ = trained
    ims = d.images[32:36]
    p = grid_patches(list(ims), (16, 16), (3, 3), False)
    with torch.no_grad():
        expect = model.stage1.eval()(p).reshape(4, 9).double().mean(1).numpy()
    np.testing.assert_allclose(model.predict(ims, method="patch_average"), expect, rtol=1e-5)


def test_two_stage_is_stage2_of_hyperimage(trained):
    model, _, d, _ = trained
    ims = d.images[32:36]
    h = hyperkit.build_hyperimage(list(ims), model.stage1.features, patch=16, grid=(3, 3),
                                  lcn=False)
    with torch.no_grad():
        expect = model.stage2.eval()(h).double().numpy()
    np.testing.assert_allclose(model.predict(ims), expect, rtol=1e-5)


def test_input_forms_agree(trained):
    model, _, d, _ = trained
    ims = d.images[32:35]
    ref = model.predict(ims)  # numpy (N, H, W)
    np.testing.assert_allclose(model.predict(list(ims)), ref, rtol=1e-6)
    np.testing.assert_allclose(model.predict(torch.from_numpy(ims)[:, None]), ref, rtol=1e-6)
    np.testing.assert_allclose(model.predict([torch.from_numpy(i) for i in ims]), ref, rtol=1e-6)
    np.testing.assert_allclose(model.predict((ims * 255).round().astype(np.uint8)), ref, atol=0.05)
    # any size of at least one patch: the grid adapts (eq. 2)
    assert model.predict([np.random.rand(40, 90).astype(np.float32)]).shape == (1,)


def test_predict_errors(trained):
    model, _, _, _ = trained
    with pytest.raises(ValueError, match="method"):
        model.predict(np.zeros((1, 32, 32), np.float32), method="median")
    with pytest.raises(ValueError, match="3 channel"):
        model.predict([np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(ValueError, match="smaller than the 16x16 patch"):
        model.predict([np.zeros((8, 32), np.float32)])
    with pytest.raises(ValueError, match="NaN"):
        model.predict([np.full((32, 32), np.nan, np.float32)])


def test_save_load_round_trip(trained, tmp_path):
    model, _, d, _ = trained
    model.save(tmp_path / "m")
    loaded = hyperkit.load_model(tmp_path / "m")
    for m in ("two_stage", "patch_average"):
        np.testing.assert_array_equal(loaded.predict(d.images[32:]), model.predict(d.images[32:])) \
            if m == "two_stage" else np.testing.assert_array_equal(
                loaded.predict(d.images[32:], method=m), model.predict(d.images[32:], method=m))
    # a run folder lists its models in results.json; the first one is loaded
    (tmp_path / "run").mkdir()
    model.save(tmp_path / "run" / "seed0" / "model")
    (tmp_path / "run" / "results.json").write_text(json.dumps({"models": ["seed0/model"]}))
    np.testing.assert_array_equal(load_model(tmp_path / "run").predict(d.images[32:]),
                                  model.predict(d.images[32:]))


def test_load_errors(trained, tmp_path):
    model, _, _, _ = trained
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no trained model"):
        load_model(tmp_path)
    model.save(tmp_path / "m")
    (tmp_path / "m" / "stage2.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        TwoStage.load(tmp_path / "m")


def test_resume_refuses_then_reuses(trained):
    model, _, d, wd = trained
    cfg = train.TrainConfig(epochs=2, patience=2, batch_size=64, seed=0)
    args = (list(d.images[:24]), d.scores[:24], list(d.images[24:32]), d.scores[24:32])
    kw = dict(stage1_arch=S1, stage2_arch=S2, patch=(16, 16), grid=(3, 3), lcn=False,
              stage1_config=cfg, stage2_config=cfg, workdir=wd / "work", log=None,
              progress=False)
    with pytest.raises(FileExistsError, match="resume"):
        train_two_stage(*args, **kw)
    again, fits = train_two_stage(*args, resume=True, **kw)
    np.testing.assert_array_equal(again.predict(d.images[32:]), model.predict(d.images[32:]))


def test_mismatched_architectures(tmp_path):
    d = synthetic.generate(12, 0)
    cfg = train.TrainConfig(epochs=1, batch_size=64)
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
    cfg = train.TrainConfig(epochs=1, batch_size=64, seed=3)
    again, fits = train_two_stage(
        list(d.images[:24]), d.scores[:24], list(d.images[24:32]), d.scores[24:32],
        stage1_arch=S1, stage2_arch=S2, patch=(16, 16), grid=(3, 3), lcn=False,
        stage1_config=None, stage2_config=cfg, workdir=tmp_path, stage1=model.stage1,
        log=None, progress=False)
    assert fits["stage1"] is None and fits["stage2"].epochs_run == 1
    assert not (tmp_path / "stage1.ckpt").exists()
    for k, v in again.stage1.state_dict().items():
        assert torch.equal(v, before[k])
