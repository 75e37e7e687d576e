"""`hyperkit explain` and the synthetic ground-truth check, on small hand-built models
(no training): files written, nothing overwritten, bad inputs skipped, and the
evaluation of a synthetic run folder."""

import csv
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from PIL import Image

from hyperkit import nets
from hyperkit.cli import main
from hyperkit.data import synthetic
from hyperkit.evaluation.importance import METHODS
from hyperkit.model import TwoStage
from hyperkit.runs import write_manifest
from hyperkit.tasks.explain import evaluate_synthetic, explain_files, synthetic_masks, top_cell_box
from hyperkit.tasks.synthetic import DATA_SEED, Setting

S1 = "Input(16,16) - C(4) - MP(2) - C(8) - MP(4) - FC(12) - FC(1,'linear')"
S2 = "Input(3,3,12) - C(8) - MP(2) - FC(8) - FC(1,'linear')"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A saved model with random weights on a 3 x 3 grid of 16 x 16 patches."""
    torch.manual_seed(0)
    m = TwoStage(nets.build(S1), nets.build(S2), stage1_arch=S1, stage2_arch=S2,
                 patch=(16, 16), grid=(3, 3), lcn=False, meta={"score_meaning": "test units"})
    return m.save(tmp_path_factory.mktemp("model") / "model")


def write_png(path, seed, size=(40, 48)):
    arr = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def test_cli_writes_png_npy_and_scores(model_dir, tmp_path, capsys):
    a = write_png(tmp_path / "a.png", 0)
    (tmp_path / "sub").mkdir()
    b = write_png(tmp_path / "sub" / "a.png", 1, (64, 32))  # same stem as a.png
    out = tmp_path / "maps"
    main(["explain", str(model_dir), str(a), str(b), "--out", str(out)])
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a-0.npy", "a-0.png", "a-1.npy", "a-1.png", "scores.csv"]
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [r["path"] for r in rows] == [str(a), str(b)]
    model = TwoStage.load(model_dir)
    img = np.asarray(Image.open(b))
    cell_map = np.load(out / "a-1.npy")
    assert cell_map.shape == (3, 3) and cell_map.dtype == np.float64
    np.testing.assert_allclose(cell_map, model.explain([img])[0])
    assert float(rows[1]["score"]) == pytest.approx(model.predict([img])[0], abs=1e-5)
    assert rows[1]["method"] == "gradient" and rows[1]["meaning"] == "test units"
    (u, v), box = top_cell_box(cell_map, img.shape, (16, 16))
    assert (int(rows[1]["top_u"]), int(rows[1]["top_v"])) == (u, v)
    assert np.abs(cell_map).max() == abs(cell_map[u, v])
    with Image.open(out / "a-1.png") as png:
        assert png.format == "PNG"
    assert str(a) in capsys.readouterr().out
    # nothing is overwritten
    with pytest.raises(SystemExit, match="exists"):
        main(["explain", str(model_dir), str(a), str(b), "--out", str(out)])


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_from_the_cli(model_dir, tmp_path, method):
    a = write_png(tmp_path / "a.png", 0)
    main(["explain", str(model_dir), str(a), "--out", str(tmp_path / "o"), "--method", method])
    row = next(csv.DictReader((tmp_path / "o" / "scores.csv").open()))
    assert row["method"] == method
    model = TwoStage.load(model_dir)
    img = np.asarray(Image.open(a))
    pred = model.predict([img], "patch_average" if method == "patch_average" else "two_stage")
    assert float(row["score"]) == pytest.approx(pred[0], abs=1e-5)


def test_bad_files_are_skipped_and_reported(model_dir, tmp_path, capsys):
    a = write_png(tmp_path / "a.png", 0)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(SystemExit, match="2 input"):
        main(["explain", str(model_dir), str(a), str(bad), str(tmp_path / "none.png"),
              "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "bad.png" in err and "none.png" in err
    assert (tmp_path / "o" / "a.png").is_file()
    with pytest.raises(SystemExit, match="no trained model|does not exist"):
        main(["explain", str(tmp_path / "nowhere"), str(a)])


def test_explain_files_refuses_unknown_method(model_dir, tmp_path):
    with pytest.raises(ValueError, match="method"):
        explain_files(TwoStage.load(model_dir), [], tmp_path, "saliency")


def test_patch_alphas_rebuild_eq3_scores():
    d = synthetic.generate(60, 4)
    a = synthetic.patch_alphas(d)
    assert a.shape == (60, synthetic.MAX_PATCHES)
    assert (np.isnan(a) == (np.arange(5)[None] >= d.counts[:, None])).all()
    np.testing.assert_allclose(5 - np.sqrt(np.nansum(a ** 2, 1)), d.scores, rtol=1e-12)


def test_synthetic_masks_cover_the_patches():
    d = synthetic.generate(8, 1)
    masks = synthetic_masks(d, [0, 5])
    for i, m in zip([0, 5], masks):
        assert m.shape == (d.counts[i], 128, 128)
        assert (m.sum((1, 2)) == 256).all()
        r, c = d.positions[i, 0]
        assert m[0, r:r + 16, c:c + 16].all()
        # the generator's background is exactly s0 outside the patches
        np.testing.assert_array_equal(d.images[i][~m.any(0)], d.background[i])


def test_evaluate_synthetic_on_a_run_folder(model_dir, tmp_path):
    run = tmp_path / "run"
    setting = Setting("tiny", images=30, images_per_count=30, seeds=1, stage1_epochs=1,
                      stage1_patience=1, stage2_epochs=1, stage2_patience=1)
    (run / "seed0").mkdir(parents=True)
    TwoStage.load(model_dir).save(run / "seed0" / "model")
    (run / "config.json").write_text(json.dumps({"experiment": 1, "setting": asdict(setting),
                                                 "data_seed": DATA_SEED}))
    with pytest.raises(ValueError, match="not a finished synthetic run"):
        evaluate_synthetic(run)
    write_manifest(run, "synthetic", ["seed0/model"])
    res = evaluate_synthetic(run, figure=run / "fig.png", figure_images=2, log=lambda s: None)
    (r,) = res["runs"]
    assert (r["model"], r["seed"], r["count"], r["test_images"]) == ("seed0/model", 0, None, 6)
    for m in METHODS:
        for k in ("auroc_pooled", "auroc_per_image", "pointing_game"):
            assert 0.0 <= r[m][k] <= 1.0
        assert r[m]["images"] == 6 and r[m]["region_images"] >= 1
    with Image.open(run / "fig.png") as png:
        assert png.format == "PNG"
    with pytest.raises(FileNotFoundError, match="config.json"):
        evaluate_synthetic(tmp_path)
