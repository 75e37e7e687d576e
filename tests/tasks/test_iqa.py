"""The NR-IQA runner end to end on a miniature folder + CSV data set: splits, selective
patch training, patch averaging, stage 2, results, resume, prediction, refusals."""

import json

import numpy as np
import pytest
from PIL import Image

import hyperkit
from hyperkit.cli import main
from hyperkit.data.iqa.csv import load_csv
from hyperkit.tasks import iqa
from hyperkit.tasks.iqa import DatasetSpec, Options, Setting, run_iqa

TINY = DatasetSpec("Input(32,32,3) - C(4) - MP(4) - FC(8) - FC(1,'linear')",
                   "Input(3,3,8) - C(4) - FC(8) - FC(1,'linear')", (3, 3))
FAST = Setting("test", stage1_epochs=1, stage1_patience=1, stage2_epochs=2, stage2_patience=2,
               e2e_epochs=1, e2e_patience=1, stage1_batch=64, stage2_batch=4)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """6 references x (noise at 2 levels, a local blotch): 18 images of 40 x 48 in the
    pyiqa CSV layout, scored by PSNR-like damage (higher is better)."""
    root = tmp_path_factory.mktemp("iqa-tree")
    (root / "ref").mkdir()
    (root / "dist").mkdir()
    rng = np.random.default_rng(0)
    rows = ["dist_name,ref_name,mos,dist_type"]
    yy, xx = np.mgrid[0:40, 0:48] / 48.0
    for r in range(6):
        base = 0.5 + 0.3 * np.sin(5 * xx * (r + 1) + 3 * yy)[..., None] * rng.uniform(0.5, 1, 3)
        Image.fromarray((base * 255).astype(np.uint8)).save(root / "ref" / f"r{r}.png")
        for kind, level in (("noise", 1), ("noise", 2), ("local", 2)):
            img = base.copy()
            if kind == "noise":
                img = img + rng.normal(0, 0.05 * level, img.shape)
            else:
                img[5:20, 5:20] += rng.normal(0, 0.3, (15, 15, 3))
            img = np.clip(img, 0, 1)
            name = f"dist/r{r}_{kind}{level}.png"
            Image.fromarray((img * 255).astype(np.uint8)).save(root / name)
            mos = 100 - 100 * float(np.abs(img - base).mean())
            rows.append(f"{name},ref/r{r}.png,{mos:.4f},{kind}")
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def finished(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("iqa-run") / "run"
    table = load_csv(tree, best_score=100.0)
    res = run_iqa(table, "csv", None, FAST, out, Options(splits=2, ssim_threshold=0.99),
                  device="cpu", log=lambda s: None, progress=False, spec=TINY)
    return table, out, res


def test_run_writes_results_splits_and_models(finished):
    table, out, res = finished
    for f in ("results.json", "results.md", "config.json", "run.json", "splits.json",
              "pred_vs_true.png", "srocc_per_type.png"):
        assert (out / f).is_file(), f
    assert [r["split"] for r in res["runs"]] == [0, 1]
    for r in res["runs"]:
        assert set(r["metrics"]) == set(iqa.arms.DEFAULT_ARMS)
        m = r["metrics"]["two_stage"]
        assert {"srocc", "plcc", "plcc_logistic", "krocc", "collapsed", "per_type"} <= set(m)
        assert set(m["per_type"]) == {"noise", "local"}
        assert r["metrics"]["cnn_selective"]["patches"]["train"]["reference"] > 0
    s = res["summary"]["all"]["two_stage"]["srocc"]
    assert s["n"] + res["summary"]["all"]["two_stage"]["collapsed"] == 2
    assert not list(out.glob("split*/*/hyper_*.npy"))  # caches go once a split is done
    assert (out / "split0" / "two_stage" / "stage2.ckpt").is_file()
    md = (out / "results.md").read_text()
    assert "selective patch training + stage 2" in md and "SROCC per distortion type" in md
    # the default stage 2 (issue 18): 3 heads with the grid mean, trained on MAE + PLCC
    grid = json.loads((out / "split0" / "models" / "grid_stage2" / "model.json").read_text())
    assert ",glob=1" in grid["stage2_arch"] and grid["stage2_arch"].endswith(",ens=3)")
    import torch

    ck = torch.load(out / "split0" / "grid_stage2" / "stage2-m0.ckpt", weights_only=False)
    assert "mae_plcc" in json.dumps(ck, default=str)


def test_splits_are_reference_disjoint_and_saved(finished):
    table, out, _ = finished
    splits = json.loads((out / "splits.json").read_text())["splits"]
    assert len(splits) == 2
    for sp in splits:
        refs = {p: {table.refs[i] for i in sp[p]} for p in ("train", "val", "test")}
        assert not (refs["train"] & refs["test"] or refs["train"] & refs["val"]
                    or refs["val"] & refs["test"])
        assert sum(len(sp[p]) for p in sp) == len(table)


def test_predictions_match_saved_model(finished, tree):
    table, out, res = finished
    first = iqa.arms.PREDICT_ORDER[0]
    assert res["models"][0].endswith(first)  # what `hyperkit predict RUN` loads
    model = hyperkit.load_model(out)
    assert "mos" in model.meta["score_meaning"] and model.stage2 is not None
    p = np.load(out / "split0" / "predictions.npz")
    imgs = [hyperkit.images.read_image(table.images[i]) for i in p["index"]]
    np.testing.assert_allclose(model.predict(imgs), p[first], rtol=1e-5, atol=1e-5)
    two = hyperkit.load_model(out / "split0" / "models" / "two_stage")
    np.testing.assert_allclose(two.predict(imgs), p["two_stage"], rtol=1e-5, atol=1e-5)
    soft = hyperkit.load_model(out / "split0" / "models" / "patch_softmin")
    assert soft.pooling["softmin_temperature"] > 0 and soft.pooling["higher_better"]
    np.testing.assert_allclose(soft.predict(imgs, method="patch_softmin"), p["patch_softmin"],
                               rtol=1e-5, atol=1e-5)
    pa = hyperkit.load_model(out / "split0" / "models" / "cnn_selective")
    np.testing.assert_allclose(pa.predict(imgs, method="patch_average"), p["cnn_selective"],
                               rtol=1e-5, atol=1e-5)


def test_resume_reuses_finished_splits(finished, monkeypatch):
    table, out, res = finished

    def no_training(*a, **k):
        raise AssertionError("a finished split was retrained")

    monkeypatch.setattr(iqa.runner, "run_split", no_training)
    again = run_iqa(table, "csv", None, FAST, out, Options(splits=2, ssim_threshold=0.99),
                    device="cpu", log=lambda s: None, progress=False, spec=TINY, resume=True)
    assert again["summary"] == res["summary"]


def test_refusals(finished, tree, tmp_path):
    table, out, _ = finished
    with pytest.raises(FileExistsError, match="resume"):
        run_iqa(table, "csv", None, FAST, out, device="cpu", spec=TINY, progress=False)
    with pytest.raises(ValueError, match="other settings.*options"):
        run_iqa(table, "csv", None, FAST, out, Options(splits=2, ssim_threshold=0.5),
                device="cpu", spec=TINY, progress=False, resume=True)
    with pytest.raises(ValueError, match="ssim_threshold"):
        run_iqa(table, "csv", None, FAST, tmp_path / "t", Options(ssim_threshold=1.5),
                device="cpu", spec=TINY, progress=False)
    with pytest.raises(ValueError, match="inside the data set folder"):
        run_iqa(table, "csv", None, FAST, tree / "out", device="cpu", spec=TINY,
                progress=False)
    with pytest.raises(ValueError, match="experiment"):
        run_iqa(table, "csv", 7, FAST, tmp_path / "x", device="cpu", spec=TINY)
    norefs = load_csv(tree, ref_col=None)
    with pytest.raises(ValueError, match="no reference images"):  # asked for by name
        run_iqa(norefs, "csv", None, FAST, tmp_path / "y", Options(arms=("cnn_selective",)),
                device="cpu", spec=TINY)
    assert not (tree / "out").exists()


def test_default_methods_without_references_and_their_labels(tree):
    """Issue 21, problem 2: the README's no-reference example stopped with 'selective
    patch training is impossible'; problem 6: its labels claimed selective training."""
    from hyperkit.tasks.iqa.arms import DEFAULT_ARMS, arms_for, labels_for

    norefs = load_csv(tree, ref_col=None)
    arms = arms_for(None, norefs, Options())
    assert "cnn_selective" not in arms and arms[0] == "cnn"
    assert set(arms) - {"cnn"} == set(DEFAULT_ARMS) - {"cnn_selective"}
    labels = labels_for(norefs)
    assert "selective" not in labels["two_stage"].split("[")[0]
    assert "no selective patch training" in labels["two_stage"]
    assert labels_for(load_csv(tree))["two_stage"] == iqa.LABELS["two_stage"]
    assert "selective patch training: impossible" in norefs.describe()


def test_small_test_sets_are_flagged_in_results_md(finished):
    _, out, res = finished
    assert min(r["test"] for r in res["runs"]) < 30
    assert "Small test sets" in (out / "results.md").read_text()


def test_without_references_plain_cnn_and_two_stage(tree, tmp_path):
    table = load_csv(tree, ref_col=None)
    res = run_iqa(table, "csv", None, FAST, tmp_path / "run",
                  Options(arms=("cnn", "two_stage")), device="cpu", log=lambda s: None,
                  progress=False, spec=TINY)
    assert set(res["runs"][0]["metrics"]) == {"cnn", "two_stage"}


def test_cli_inspect_and_to_csv(tree, tmp_path, capsys):
    out_csv = tmp_path / "table.csv"
    main(["iqa", "--dataset", "csv", "--root", str(tree), "--inspect", "--to-csv",
          str(out_csv)])
    text = capsys.readouterr().out
    assert "18" in text and "references: 6" in text.replace("  ", " ")
    again = load_csv(tree, out_csv)
    assert len(again) == 18
    with pytest.raises(SystemExit, match="root"):
        main(["iqa", "--dataset", "tid2013", "--root", str(tmp_path / "missing"), "--inspect"])


def test_experiment_5_vgg_stage1_and_second_stage(tree, tmp_path):
    """Experiment 5's arms with a random-weight VGG (tests only): frozen convs, trained
    FC800 head on selected patches without LCN, then stage 2 on its 800-D features."""
    table = load_csv(tree, best_score=100.0)
    spec = DatasetSpec("tid_stage1", "Input(3,3,800) - C(4) - FC(8) - FC(1,'linear')", (3, 3))
    with pytest.raises(ValueError, match="vgg-weights"):
        run_iqa(table, "csv", 5, FAST, tmp_path / "refused", device="cpu", progress=False,
                log=lambda s: None, spec=spec)
    res = run_iqa(table, "csv", 5, FAST, tmp_path / "run",
                  Options(vgg_random=True, ssim_threshold=0.99), device="cpu",
                  log=lambda s: None, progress=False, spec=spec)
    assert set(res["runs"][0]["metrics"]) == {"vgg_patch_average", "vgg_two_stage"}
    model = hyperkit.load_model(tmp_path / "run")
    assert model.stage1_arch == "vgg16_stage1" and model.lcn is False


def test_experiment_4_end_to_end(tree, tmp_path, monkeypatch):
    """Experiment 4's shallow network on whole images (resized to its 384 x 512 input)."""
    table = load_csv(tree, best_score=100.0)
    res = run_iqa(table, "csv", 4, FAST, tmp_path / "run", Options(arms=("shallow_e2e",)),
                  device="cpu", log=lambda s: None, progress=False, spec=TINY)
    m = res["runs"][0]["metrics"]["shallow_e2e"]
    assert np.isfinite(m["plcc"]) and m["e2e"]["epochs"] == 1


def test_resume_with_more_splits_extends_the_same_splits(tree, tmp_path, monkeypatch):
    table = load_csv(tree, best_score=100.0)
    kw = dict(device="cpu", log=lambda s: None, progress=False, spec=TINY)
    run_iqa(table, "csv", None, FAST, tmp_path / "run",
            Options(splits=1, ssim_threshold=0.99, arms=("cnn_selective",)), **kw)
    first = json.loads((tmp_path / "run" / "splits.json").read_text())["splits"]
    ran = []
    real = iqa.runner.run_split
    monkeypatch.setattr(iqa.runner, "run_split", lambda run, arms, k, *a: ran.append(k) or
                        real(run, arms, k, *a))
    res = run_iqa(table, "csv", None, FAST, tmp_path / "run",
                  Options(splits=2, ssim_threshold=0.99, arms=("cnn_selective",)),
                  resume=True, **kw)
    assert ran == [1] and len(res["runs"]) == 2
    again = json.loads((tmp_path / "run" / "splits.json").read_text())["splits"]
    assert again[:1] == first and len(again) == 2
    with pytest.raises(ValueError, match="other settings"):  # another seed: another run
        run_iqa(table, "csv", None, FAST, tmp_path / "run",
                Options(splits=3, seed=5, arms=("cnn_selective",)), resume=True, **kw)


def test_cache_dtype_float16_halves_the_cache_and_is_recorded(tree, tmp_path, finished):
    """--cache-dtype float16: the prepared-image cache is the float32 one rounded to
    float16 (half the bytes), config.json records it; the default run records no
    cache_dtype (so runs from before the option resume), and a resume with the other
    dtype is refused."""
    table = load_csv(tree, best_score=100.0)
    out = tmp_path / "run16"
    opts = Options(splits=1, ssim_threshold=0.99, arms=("cnn_selective",),
                   cache_dtype="float16")
    run_iqa(table, "csv", None, FAST, out, opts, device="cpu", log=lambda s: None,
            progress=False, spec=TINY)
    f16 = out / "cache" / "prepared-lcn1-c3.f16"
    f32 = finished[1] / "cache" / "prepared-lcn1-c3.f32"
    assert f16.is_file() and f32.is_file()
    assert f16.stat().st_size * 2 == f32.stat().st_size
    a = np.fromfile(f16, np.float16)
    b = np.fromfile(f32, np.float32)
    np.testing.assert_array_equal(a, b.astype(np.float16))
    assert json.loads((out / "config.json").read_text())["options"]["cache_dtype"] == "float16"
    assert "cache_dtype" not in json.loads((finished[1] / "config.json").read_text())["options"]
    with pytest.raises(ValueError, match="other settings"):
        run_iqa(table, "csv", None, FAST, out, Options(splits=1, ssim_threshold=0.99,
                                                        arms=("cnn_selective",)),
                device="cpu", log=lambda s: None, progress=False, spec=TINY, resume=True)
    with pytest.raises(ValueError, match="cache_dtype must be float32 or float16"):
        run_iqa(table, "csv", None, FAST, tmp_path / "bad",
                Options(cache_dtype="bfloat16"), device="cpu", log=lambda s: None,
                progress=False, spec=TINY)
