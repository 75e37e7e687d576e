"""The command line: info, demo, synthetic end to end, predict."""

import json

import numpy as np
import pytest

import hyperkit
from hyperkit.cli import main
from hyperkit.model import METHODS


def test_demo_writes_hyperimages(tmp_path, capsys):
    out = tmp_path / "h.npy"
    main(["demo", "--images", "2", "--out", str(out)])
    h = np.load(out)
    assert h.shape == (2, 800, 23, 31) and np.isfinite(h).all()
    assert "(2, 800, 23, 31)" in capsys.readouterr().out


def test_info_and_bad_arguments(capsys):
    main(["info"])
    assert f"CUDA kernels usable: {hyperkit.cuda_available()}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--images", "0"])


@pytest.mark.parametrize("command", ["synthetic", "predict", "demo"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0 and "usage: hyperkit " + command in capsys.readouterr().out


def test_synthetic_end_to_end_then_predict(tmp_path, capsys):
    from PIL import Image

    from hyperkit.data import synthetic

    out = tmp_path / "run"
    main(["synthetic", "--quick", "--images", "20", "--out", str(out), "--no-progress",
          "--device", "cpu"])
    res = json.loads((out / "results.json").read_text())
    assert res["experiment"] == 1 and res["setting"]["images"] == 20
    assert set(res["summary"]["all"]) == {"two_stage", "patch_average"}
    for f in ("results.md", "pred_vs_true.png", "examples.png", "config.json",
              "seed0/metrics.json", "seed0/model/model.json"):
        assert (out / f).is_file(), f
    assert (out / "pred_vs_true.png").read_bytes()[:4] == b"\x89PNG"
    assert f"| {METHODS['two_stage']} |" in (out / "results.md").read_text()
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["task"] == "synthetic" and manifest["models"] == ["seed0/model"]
    before = (out / "results.json").read_bytes()

    d = synthetic.generate(2, 9)
    png, npy = tmp_path / "a.png", tmp_path / "b.npy"
    Image.fromarray((d.images[0] * 255).round().astype(np.uint8)).save(png)
    np.save(npy, d.images[1])
    capsys.readouterr()
    main(["predict", str(out), str(png), str(npy)])
    lines = capsys.readouterr().out.strip().splitlines()
    model = hyperkit.load_model(out)
    imgs = [(d.images[0] * 255).round().astype(np.uint8), d.images[1]]
    expect = model.predict(imgs)
    assert [l.split("\t")[0] for l in lines] == [str(png), str(npy)]
    assert [float(l.split("\t")[1]) for l in lines] == pytest.approx(expect, abs=1e-4)
    main(["predict", str(out / "seed0" / "model"), str(npy), "--method", "patch_average"])
    score = float(capsys.readouterr().out.strip().split("\t")[1])
    assert score == pytest.approx(model.predict(imgs[1:], method="patch_average")[0], abs=1e-4)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(SystemExit, match="not a readable image"):
        main(["predict", str(out), str(bad)])
    with pytest.raises(SystemExit, match="does not exist"):
        main(["predict", str(out), str(tmp_path / "missing.png")])

    # an existing run is never overwritten; --resume reuses finished runs
    with pytest.raises(SystemExit, match="already holds results"):
        main(["synthetic", "--quick", "--images", "20", "--out", str(out)])
    assert (out / "results.json").read_bytes() == before
    main(["synthetic", "--quick", "--images", "20", "--out", str(out), "--resume",
          "--no-progress"])
    assert "finished earlier" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["runs"] == res["runs"]


def test_predict_errors(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        main(["predict", str(tmp_path / "none"), "x.png"])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(SystemExit, match="no trained model"):
        main(["predict", str(tmp_path), str(bad)])
    with pytest.raises(SystemExit, match="--images"):
        main(["synthetic", "--images", "3"])
    with pytest.raises(SystemExit, match="--seeds"):
        main(["synthetic", "--seeds", "0"])
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(SystemExit, match="hyperkit predict: error: .*run.json is corrupt"):
        main(["predict", str(tmp_path), str(bad)])


def test_synthetic_experiment2_tiny(tmp_path):
    out = tmp_path / "e2"
    main(["synthetic", "--experiment", "2", "--quick", "--images", "10", "--out", str(out),
          "--no-progress"])
    res = json.loads((out / "results.json").read_text())
    assert sorted(res["summary"]) == ["1", "2", "3", "4", "5"]
    assert (out / "stage1" / "seed0" / "stage1.ckpt").is_file()  # one stage 1, shared
    assert not list(out.glob("count*/seed0/work/stage1.ckpt"))
    assert "mean of SROCC and PLCC" in (out / "results.md").read_text()
    models = [f"count{c}/seed0/model" for c in range(1, 6)]
    assert json.loads((out / "run.json").read_text())["models"] == models
    assert res["models"] == models
    assert hyperkit.load_model(out).predict(np.zeros((1, 32, 32), np.float32)).shape == (1,)
