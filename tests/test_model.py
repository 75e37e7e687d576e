"""The two-stage model: prediction by both methods, save / load, and load_model on model
folders and run folders (run.json). Training is in tests/training/test_recipes.py."""

import json

import numpy as np
import pytest
import torch

import hyperkit
from hyperkit.model import METHODS, TwoStage, load_model
from hyperkit.ops.gather_patches import gather_patches
from hyperkit.runs import write_manifest


def test_methods():
    assert list(METHODS) == ["two_stage", "patch_average", "patch_min", "patch_p10",
                             "patch_softmin"]
    assert all(isinstance(v, str) and v for v in METHODS.values())


def test_pooling_methods_pool_the_patch_scores(trained):
    model, _, d, _ = trained
    ims = list(d.images[32:36])
    s = model.patch_scores(ims).reshape(4, -1)
    np.testing.assert_allclose(model.predict(ims, method="patch_min"), s.min(1))
    np.testing.assert_allclose(model.predict(ims, method="patch_p10"),
                               np.percentile(s, 10, axis=1))
    with pytest.raises(ValueError, match="no softmin temperature"):
        model.predict(ims, method="patch_softmin")


def test_patch_average_is_mean_of_stage1_on_grid_patches(trained):
    model, _, d, _ = trained
    ims = list(d.images[32:36])
    p = gather_patches(torch.from_numpy(d.images[32:36])[:, None], (16, 16), (3, 3))
    with torch.no_grad():
        per_patch = model.stage1.eval()(p).reshape(4, 3, 3).double().numpy()
    np.testing.assert_allclose(model.patch_scores(ims), per_patch, rtol=1e-5)
    np.testing.assert_allclose(model.predict(ims, method="patch_average"),
                               per_patch.mean((1, 2)), rtol=1e-5)


def test_two_stage_is_stage2_of_hyperimage(trained):
    model, _, d, _ = trained
    ims = list(d.images[32:36])
    h = hyperkit.build_hyperimage(ims, model.stage1.features, patch=16, grid=(3, 3),
                                  lcn=False)
    torch.testing.assert_close(model.hyperimages(ims), h)
    with torch.no_grad():
        expect = model.stage2.eval()(h).double().numpy()
    np.testing.assert_allclose(model.predict(ims), expect, rtol=1e-5)


def test_input_forms_agree(trained):
    model, _, d, _ = trained
    ims = d.images[32:35]
    ref = model.predict(list(ims))
    assert ref.dtype == np.float64 and ref.shape == (3,)
    # a numpy (3, H, W) reads two ways (3 gray images or one channels-first image)
    with pytest.raises(ValueError, match="channel_axis"):
        model.predict(ims)
    np.testing.assert_allclose(model.predict(ims, channel_axis=None), ref, rtol=1e-6)
    np.testing.assert_allclose(model.predict(d.images[32:40])[:3], ref, rtol=1e-6)  # (8, H, W)
    np.testing.assert_allclose(model.predict(ims[..., None]), ref, rtol=1e-6)  # (N, H, W, 1)
    np.testing.assert_allclose(model.predict(torch.from_numpy(ims)[:, None]), ref, rtol=1e-6)
    np.testing.assert_allclose(model.predict([torch.from_numpy(i) for i in ims]), ref, rtol=1e-6)
    np.testing.assert_allclose(model.predict(list((ims * 255).round().astype(np.uint8))), ref,
                               atol=0.05)
    # the same picture as uint16 (exactly ims scaled to 0-65535)
    u16 = (ims * 65535).round().astype(np.uint16)
    np.testing.assert_allclose(model.predict(u16, channel_axis=None),
                               model.predict(list(u16.astype(np.float64) / 65535)), rtol=1e-6)
    # hyperimages and patch_scores read images by the same rules
    torch.testing.assert_close(model.hyperimages(ims, channel_axis=None),
                               model.hyperimages(list(ims)))
    np.testing.assert_array_equal(model.patch_scores(ims, channel_axis=None),
                                  model.patch_scores(list(ims)))
    with pytest.raises(ValueError, match="channel_axis"):
        model.patch_scores(ims)
    # any size of at least one patch: the grid adapts (eq. 2)
    assert model.predict([np.random.rand(40, 90).astype(np.float32)]).shape == (1,)
    # the batch size only bounds memory
    np.testing.assert_allclose(model.predict(list(ims), batch_size=5), ref, rtol=1e-6)


def test_predict_errors(trained):
    model, _, _, _ = trained
    with pytest.raises(ValueError, match="method"):
        model.predict(np.zeros((32, 32), np.float32), method="median")
    with pytest.raises(ValueError, match=r"images\[1\] has 4 channel\(s\); the network takes 1"):
        model.predict([np.zeros((32, 32), np.float32), np.zeros((32, 32, 4), np.float32)])
    with pytest.raises(ValueError, match=r"has 2 channel\(s\); the network takes 1"):
        model.predict(torch.zeros(2, 32, 32), method="patch_average")
    with pytest.raises(ValueError, match="0-255 image stored as floats"):
        model.predict([np.full((32, 32), 200.0, np.float32)])
    with pytest.raises(ValueError, match="smaller than the 16x16 patch"):
        model.predict([np.zeros((8, 32), np.float32)])
    with pytest.raises(ValueError, match="NaN"):
        model.predict([np.full((32, 32), np.nan, np.float32)])


def test_save_load_round_trip(trained, tmp_path):
    model, _, d, _ = trained
    model.meta["note"] = "kept"
    try:
        model.save(tmp_path / "m")
    finally:
        del model.meta["note"]
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    assert info["format"] == "hyperkit-two-stage" and info["has_stage2"]
    loaded = hyperkit.load_model(tmp_path / "m")
    assert isinstance(loaded, TwoStage) and not loaded.training
    assert (loaded.patch, loaded.grid, loaded.lcn, loaded.channels) == ((16, 16), (3, 3), False, 1)
    assert loaded.meta == {"note": "kept"} and loaded.device == torch.device("cpu")
    model.pooling["softmin_temperature"] = 0.5  # picked on validation images in a real run
    try:
        loaded = TwoStage.load(model.save(tmp_path / "m2"))
    finally:
        model.pooling["softmin_temperature"] = None
    assert loaded.pooling == {"higher_better": True, "softmin_temperature": 0.5}
    model = TwoStage.load(tmp_path / "m2")
    for m in METHODS:
        np.testing.assert_array_equal(loaded.predict(d.images[32:], method=m),
                                      model.predict(d.images[32:], method=m))


def _forgery_like(tmp_path, name, mean):
    """A tiny RGB classifier whose stage 1 saw mean-free patches, saved to tmp_path/name."""
    from hyperkit import nets
    from hyperkit.nets.siamese import Centered

    s1a = "Input(16,16,3) - C(4) - MP(2) - FC(6)"
    s2a = "Input(2,2,6) - FC(4) - FC(1,'sigmoid')"
    torch.manual_seed(0)
    s1 = nets.build(s1a)
    model = TwoStage(Centered(s1, mean), nets.build(s2a), stage1_arch=s1a, stage2_arch=s2a,
                     patch=(16, 16), grid=(2, 2), lcn=False, kind="classifier",
                     classes=["tampered", "authentic"], threshold=0.4,
                     meta={"score_meaning": "p"}).eval()
    return model, model.save(tmp_path / name)


def test_classifier_with_centered_stage1_round_trip(tmp_path):
    mean = [0.25, 0.5, 0.75]
    model, d = _forgery_like(tmp_path, "m", mean)
    info = json.loads((d / "model.json").read_text())
    assert info["kind"] == "classifier" and info["classes"] == ["tampered", "authentic"]
    assert info["stage1_mean"] == pytest.approx(mean) and info["meta"] == {"score_meaning": "p"}
    assert all(not k.startswith("net.") for k in torch.load(d / "stage1.pt"))  # plain network
    images = [np.random.default_rng(i).random((24, 20, 3)).astype(np.float32) for i in range(3)]
    loaded = load_model(d)
    assert (loaded.kind, loaded.classes, loaded.threshold) == (
        "classifier", ["tampered", "authentic"], 0.4)
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))
    assert loaded.labels([0.3])[0][0] == "tampered" and loaded.labels([0.4])[0][0] == "authentic"
    with pytest.raises(ValueError, match="two_stage"):
        loaded.predict(images, method="patch_average")


def test_model_json_of_older_versions_loads(tmp_path):
    """Forgery runs kept classes, threshold and the patch mean in meta."""
    mean = [0.25, 0.5, 0.75]
    model, d = _forgery_like(tmp_path, "old", mean)
    info = json.loads((d / "model.json").read_text())
    for k in ("kind", "classes", "threshold", "stage1_mean"):
        del info[k]
    info["meta"] = {"task": "forgery", "classes": ["tampered", "authentic"], "threshold": 0.4,
                    "score_meaning": "p", "patch_mean": mean}
    (d / "model.json").write_text(json.dumps(info))
    loaded = load_model(d)
    assert (loaded.kind, loaded.classes, loaded.threshold) == (
        "classifier", ["tampered", "authentic"], 0.4)
    assert loaded.meta == {"task": "forgery", "score_meaning": "p"}
    images = [np.random.default_rng(7).random((20, 20, 3)).astype(np.float32)]
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))


def test_kind_and_classes_agree():
    from hyperkit import nets

    s1a = "Input(16,16,1) - FC(2)"
    with pytest.raises(ValueError, match="kind must be"):
        TwoStage(nets.build(s1a), None, stage1_arch=s1a, stage2_arch="", patch=16, grid=(1, 1),
                 lcn=False, kind="ranker")
    with pytest.raises(ValueError, match="classifier needs classes"):
        TwoStage(nets.build(s1a), None, stage1_arch=s1a, stage2_arch="", patch=(16, 16),
                 grid=(1, 1), lcn=False, kind="classifier")


def test_load_model_reads_a_run_folder_manifest(trained, tmp_path):
    model, _, d, _ = trained
    run = tmp_path / "run"
    model.save(run / "seed1" / "model")
    model.save(run / "seed0" / "model")
    write_manifest(run, "synthetic", ["seed1/model", "seed0/model"])
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["task"] == "synthetic" and manifest["models"][0] == "seed1/model"
    # the first model listed is the one loaded
    (run / "seed0" / "model" / "model.json").write_text("{not json")
    np.testing.assert_array_equal(load_model(run).predict(d.images[32:]),
                                  model.predict(d.images[32:]))


def test_model_without_stage2(trained, tmp_path):
    model, _, d, _ = trained
    partial = TwoStage(model.stage1, None, stage1_arch=model.stage1_arch,
                       stage2_arch=model.stage2_arch, patch=model.patch, grid=model.grid,
                       lcn=model.lcn)
    with pytest.raises(RuntimeError, match="stage 2 is not trained"):
        partial.predict(d.images[32:])
    partial.save(tmp_path / "p")
    assert not (tmp_path / "p" / "stage2.pt").exists()
    loaded = load_model(tmp_path / "p")
    assert loaded.stage2 is None
    np.testing.assert_array_equal(loaded.predict(d.images[32:], method="patch_average"),
                                  model.predict(d.images[32:], method="patch_average"))


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
    (tmp_path / "m" / "model.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a hyperkit two-stage model"):
        TwoStage.load(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="corrupt"):
        TwoStage.load(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="no saved model"):
        TwoStage.load(tmp_path)


def test_run_folder_errors(trained, tmp_path):
    model, _, _, _ = trained
    # a run folder without run.json: the old results.json lookup is gone
    old = tmp_path / "old"
    model.save(old / "seed0" / "model")
    (old / "results.json").write_text(json.dumps({"models": ["seed0/model"]}))
    with pytest.raises(FileNotFoundError, match="no trained model"):
        load_model(old)
    # a corrupt manifest, or one that is not a hyperkit manifest
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(bad)
    (bad / "run.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(bad)
    (bad / "run.json").write_text(json.dumps({"models": ["seed0/model"]}))
    with pytest.raises(ValueError, match="not a hyperkit run manifest"):
        load_model(bad)
    # a manifest listing no model, or a model folder that is missing
    empty = tmp_path / "empty"
    write_manifest(empty.mkdir() or empty, "synthetic", [])
    with pytest.raises(FileNotFoundError, match="no trained model"):
        load_model(empty)
    write_manifest(empty, "synthetic", ["seed9/model"])
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model(empty)


def test_old_model_json_takes_the_pooling_direction_from_its_meaning(trained, tmp_path):
    model, _, _, _ = trained
    d = model.save(tmp_path / "old")
    info = json.loads((d / "model.json").read_text())
    del info["pooling"]
    info["meta"] = {"score_meaning": "predicted dmos of live (lower is better; ...)"}
    (d / "model.json").write_text(json.dumps(info))
    assert TwoStage.load(d).pooling["higher_better"] is False


@pytest.mark.parametrize("edit, words", [
    (lambda i: i.update(lcn="false"), "lcn must be true or false"),
    (lambda i: i.update(version=99), "version must be 1"),
    (lambda i: i.update(grid=[11, "15"]), "grid must be two integers"),
    (lambda i: i.update(kind="ranking"), "kind must be one of"),
    (lambda i: i.update(stage1_arch=None), "stage1_arch must be"),
])
def test_model_json_is_checked_before_use(trained, tmp_path, edit, words):
    """Issue 22, item 4: a string 'false' was read as true, a future version as this one."""
    model, _, _, _ = trained
    d = model.save(tmp_path / "m")
    info = json.loads((d / "model.json").read_text())
    edit(info)
    (d / "model.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=words):
        TwoStage.load(d)


def test_nan_and_misfit_weights_are_refused(trained, tmp_path):
    import copy

    model, _, _, _ = trained
    broken = copy.deepcopy(model)
    with torch.no_grad():
        next(broken.stage2.parameters()).fill_(float("nan"))
    d = broken.save(tmp_path / "m")  # saved as is: the checksums match
    with pytest.raises(ValueError, match="holds NaN or Inf"):
        TwoStage.load(d)
    d = model.save(tmp_path / "n")
    info = json.loads((d / "model.json").read_text())
    del info["sha256"]  # a model from before checksums
    (d / "model.json").write_text(json.dumps(info))
    state = torch.load(d / "stage2.pt", weights_only=True)
    state[next(iter(state))] = torch.zeros(3, 3)
    torch.save(state, d / "stage2.pt")
    with pytest.raises(ValueError, match="does not fit the architecture"):
        TwoStage.load(d)


def test_flipped_weight_bytes_are_refused(trained, tmp_path):
    """Issue 22, item 4: flipped tensor bytes went unnoticed (no checksum)."""
    model, _, _, _ = trained
    d = model.save(tmp_path / "m")
    assert set(json.loads((d / "model.json").read_text())["sha256"]) == {"stage1.pt",
                                                                         "stage2.pt"}
    raw = bytearray((d / "stage1.pt").read_bytes())
    raw[-100] ^= 0x01
    (d / "stage1.pt").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="stage1.pt does not match its checksum"):
        TwoStage.load(d)


def test_predict_patch_scores_and_explain_take_file_paths(trained, tmp_path):
    """Issue 21, problem 7 and 'paths everywhere': model.predict('photo.jpg') raised
    TypeError; the CLI took files and folders, Python did not."""
    from PIL import Image

    model, _, d, _ = trained
    ims = [np.clip(np.round(d.images[i] * 255), 0, 255).astype(np.uint8) for i in range(3)]
    (tmp_path / "f").mkdir()
    for i, im in enumerate(ims):
        Image.fromarray(im).save(tmp_path / "f" / f"{i}.png")
    arrays = model.predict(ims)
    near = dict(abs=1e-5)  # one image alone or in a batch: float noise only
    assert model.predict(str(tmp_path / "f" / "1.png")) == pytest.approx(arrays[1:2], **near)
    assert model.predict(tmp_path / "f") == pytest.approx(arrays, **near)  # a folder, sorted
    assert model.predict([ims[0], tmp_path / "f" / "2.png"]) == pytest.approx(arrays[[0, 2]],
                                                                               **near)
    assert model.patch_scores(str(tmp_path / "f" / "*.png")).shape[0] == 3  # a glob
    assert model.explain(tmp_path / "f" / "0.png").shape[0] == 1
    with pytest.raises(FileNotFoundError, match="missing.png: does not exist"):
        model.predict(tmp_path / "missing.png")


def test_checksums_must_cover_every_loaded_file(trained, tmp_path):
    model, _, _, _ = trained
    d = model.save(tmp_path / "m")
    info = json.loads((d / "model.json").read_text())
    for bad in (["x"], {"stage1.pt": info["sha256"]["stage1.pt"]}):
        (d / "model.json").write_text(json.dumps({**info, "sha256": bad}))
        with pytest.raises(ValueError, match="sha256 must be a dict naming every weight file"):
            TwoStage.load(d)
    with pytest.raises(FileNotFoundError, match="not the name of a shipped model \\(photo-iqa"):
        load_model(tmp_path / "nope")
