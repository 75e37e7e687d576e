"""The command line: info, demo, synthetic end to end, predict (files, folders, globs,
bad files, --csv), --version, and help that does not load torch."""

import csv
import json
import pydoc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hyperkit
from hyperkit.cli import main
from hyperkit.model import METHODS, load_model
from tests.conftest import MEANING


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
    assert [line.split("\t")[0] for line in lines] == [str(png), str(npy)]
    assert [float(line.split("\t")[1]) for line in lines] == pytest.approx(expect, abs=1e-4)
    main(["predict", str(out / "seed0" / "model"), str(npy), "--method", "patch_average"])
    score = float(capsys.readouterr().out.strip().split("\t")[1])
    assert score == pytest.approx(model.predict(imgs[1:], method="patch_average")[0], abs=1e-4)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(SystemExit, match=r"1 input\(s\) failed, 0 scored"):
        main(["predict", str(out), str(bad)])
    assert f"skipped {bad}: {bad} is not a readable image" in capsys.readouterr().err
    with pytest.raises(SystemExit, match=r"1 input\(s\) failed, 0 scored"):
        main(["predict", str(out), str(tmp_path / "missing.png")])
    assert f"skipped {tmp_path / 'missing.png'}: does not exist" in capsys.readouterr().err

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
    assert hyperkit.load_model(out).predict(np.zeros((32, 32), np.float32)).shape == (1,)


# ---- issue #9: predict takes files, folders and globs; bad files are skipped; --csv;
# --version; help without torch

def scored(out):
    """{path: score} from predict's standard output."""
    return {p: float(s) for p, s in (line.split("\t") for line in out.strip().splitlines())}


def image_folder(folder):
    """Two gray images, an RGB one and a file that is not an image; returns the arrays
    by file name."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ims = {"a.png": (rng.random((40, 48)) * 255).astype(np.uint8),
           "b.npy": rng.random((36, 52)).astype(np.float32),
           "c.png": (rng.random((40, 40, 3)) * 255).astype(np.uint8)}
    for name, im in ims.items():
        if name.endswith(".npy"):
            np.save(folder / name, im)
        else:
            Image.fromarray(im).save(folder / name)
    (folder / "notes.txt").write_text("not an image, not listed")
    return ims


def test_predict_a_folder_dot_and_globs(trained_model_dir, tmp_path, capsys, monkeypatch):
    """Was: 'image file . does not exist'."""
    ims = image_folder(tmp_path / "imgs")
    model = hyperkit.load_model(trained_model_dir)
    want = dict(zip(ims, model.predict(list(ims.values()))))
    monkeypatch.chdir(tmp_path / "imgs")
    main(["predict", str(trained_model_dir), "."])
    got = scored(capsys.readouterr().out)
    assert list(got) == ["a.png", "b.npy", "c.png"]  # sorted; notes.txt is not an image
    assert list(got.values()) == pytest.approx(list(want.values()), abs=1e-4)
    monkeypatch.chdir(tmp_path)
    main(["predict", str(trained_model_dir), "imgs/*.png", str(tmp_path / "imgs" / "b.npy")])
    got = scored(capsys.readouterr().out)
    assert list(got) == ["imgs/a.png", "imgs/c.png", str(tmp_path / "imgs" / "b.npy")]
    assert list(got.values()) == pytest.approx([want["a.png"], want["c.png"], want["b.npy"]],
                                               abs=1e-4)


def test_expand_inputs(tmp_path):
    from hyperkit.cli import expand_inputs

    image_folder(tmp_path / "imgs")
    (tmp_path / "empty").mkdir()
    files, problems = expand_inputs([str(tmp_path / "imgs"), str(tmp_path / "empty"),
                                     str(tmp_path / "imgs" / "*.npy"), str(tmp_path / "*.jpg"),
                                     str(tmp_path / "gone.png")])
    assert [f.name for f in files] == ["a.png", "b.npy", "c.png", "b.npy"]
    assert [(p, why.split(" (")[0]) for p, why in problems] == [
        (str(tmp_path / "empty"), "folder holds no image files"),
        (str(tmp_path / "*.jpg"), "no file matches this pattern"),
        (str(tmp_path / "gone.png"), "does not exist")]


def test_predict_skips_a_bad_file_scores_the_rest_and_fails(trained_model_dir, tmp_path, capsys):
    folder = tmp_path / "imgs"
    ims = image_folder(folder)
    (folder / "broken.png").write_bytes(b"not an image")
    np.save(folder / "scaled.npy", np.full((40, 40), 200.0, np.float32))  # 0-255 floats
    with pytest.raises(SystemExit) as e:
        main(["predict", str(trained_model_dir), str(folder), str(tmp_path / "missing.png")])
    assert isinstance(e.value.code, str)  # a message: the exit status is 1
    assert e.value.code == "hyperkit predict: 3 input(s) failed, 3 scored"
    out, err = capsys.readouterr()
    assert list(scored(out)) == [str(folder / n) for n in ("a.png", "b.npy", "c.png")]
    bad = folder / "broken.png"
    assert f"hyperkit predict: skipped {bad}: {bad} is not a readable image" in err
    assert f"hyperkit predict: skipped {folder / 'scaled.npy'}: " in err
    assert "0-255 image stored as floats" in err
    assert f"hyperkit predict: skipped {tmp_path / 'missing.png'}: does not exist" in err
    model = hyperkit.load_model(trained_model_dir)
    assert list(scored(out).values()) == pytest.approx(model.predict(list(ims.values())),
                                                       abs=1e-4)


def test_predict_exit_status_in_a_process(trained_model_dir, tmp_path):
    ims = image_folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    r = subprocess.run([sys.executable, "-m", "hyperkit.cli", "predict", str(trained_model_dir),
                        str(tmp_path / "a.png"), str(tmp_path / "broken.png")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert list(scored(r.stdout)) == [str(tmp_path / "a.png")]
    assert "skipped" in r.stderr and "1 input(s) failed, 1 scored" in r.stderr
    score = hyperkit.load_model(trained_model_dir).predict(ims["a.png"])[0]
    assert scored(r.stdout)[str(tmp_path / "a.png")] == pytest.approx(score, abs=1e-4)


def test_predict_csv(trained_model_dir, tmp_path, capsys):
    image_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "scores.csv"
    with pytest.raises(SystemExit, match="1 input"):
        main(["predict", str(trained_model_dir), str(tmp_path / "imgs"), "--csv", str(out),
              "--method", "patch_average"])
    printed = scored(capsys.readouterr().out)
    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", "score", "method", "meaning", "size_note"]
    assert [r[0] for r in rows[1:]] == list(printed)  # the images scored, not the bad one
    for (_path, score, method, meaning, _note), p in zip(rows[1:], printed):
        assert float(score) == pytest.approx(printed[p], abs=1e-4)
        assert method == "patch_average" and meaning == MEANING
    # an existing file is never overwritten
    before = out.read_bytes()
    with pytest.raises(SystemExit, match=r"--csv .*scores\.csv exists"):
        main(["predict", str(trained_model_dir), str(tmp_path / "imgs" / "a.png"), "--csv",
              str(out)])
    assert out.read_bytes() == before


def test_predict_16_bit_png_as_its_8_bit_twin_and_the_array(trained_model_dir, tmp_path, capsys):
    """Was: 4.07 for the 16-bit PNG (Image.convert('L') clipped it), 3.04 for the others."""
    from skimage import data

    cam = data.camera()
    rng = np.random.default_rng(1)
    cam16 = np.clip(cam.astype(np.int64) * 257 + rng.integers(-128, 129, cam.shape),
                    0, 65535).astype(np.uint16)
    Image.fromarray(cam16).save(tmp_path / "cam16.png")
    Image.fromarray(np.round(cam16 / 257).astype(np.uint8)).save(tmp_path / "cam8.png")
    np.save(tmp_path / "cam16.npy", cam16)
    model = hyperkit.load_model(trained_model_dir)
    for method in ("two_stage", "patch_average"):
        main(["predict", str(trained_model_dir), str(tmp_path / "cam16.png"),
              str(tmp_path / "cam16.npy"), str(tmp_path / "cam8.png"), "--method", method])
        got = scored(capsys.readouterr().out)
        want = model.predict(cam16, method=method)[0]
        assert got[str(tmp_path / "cam16.png")] == pytest.approx(want, abs=1e-4)
        assert got[str(tmp_path / "cam16.npy")] == pytest.approx(want, abs=1e-4)
        assert got[str(tmp_path / "cam8.png")] == pytest.approx(want, abs=5e-3)


def test_predict_rgb_files_on_a_gray_model(trained_model_dir, tmp_path, capsys):
    """Was: 'images[0] has 3 channel(s)' for an RGB .npy, naming neither file nor position."""
    from skimage import data
    from skimage.color import rgb2gray

    astro = data.astronaut()
    np.save(tmp_path / "astro.npy", astro)
    np.save(tmp_path / "astro_float.npy", astro / 255.0)
    Image.fromarray(astro).save(tmp_path / "astro.png")
    main(["predict", str(trained_model_dir), str(tmp_path / "astro*")])
    got = scored(capsys.readouterr().out)
    assert len(got) == 3
    want = hyperkit.load_model(trained_model_dir).predict(rgb2gray(astro))[0]
    assert list(got.values()) == pytest.approx([want] * 3, abs=2e-4)
    # an RGBA .npy is refused, naming the file and both channel counts
    np.save(tmp_path / "rgba.npy", np.dstack([astro, astro[..., :1]]))
    with pytest.raises(SystemExit, match="1 input"):
        main(["predict", str(trained_model_dir), str(tmp_path / "rgba.npy")])
    err = capsys.readouterr().err
    assert f"skipped {tmp_path / 'rgba.npy'}: " in err
    assert "has 4 channel(s); the network takes 1" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"hyperkit {hyperkit.__version__}"


def test_help_texts_have_examples_and_state_the_channel_rule(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    for command in ("info", "demo", "synthetic", "predict"):
        assert command in top
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "example" in text and f"  hyperkit {command}" in text
        assert "``" not in text and ":func:" not in text  # plain words, not reST
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "trained on gray images scores colour files by converting them to gray" in text
    assert "trained on colour images needs colour files" in text
    assert "--csv" in text and "folders" in text and "glob" in text


def test_help_and_version_do_not_import_torch():
    """Was: 'hyperkit --help' took 3.7 s, loading torch."""
    code = (
        "import sys\n"
        "import hyperkit\n"
        "assert hyperkit.__version__ and hyperkit.__doc__\n"
        "from hyperkit.cli import main\n"
        "for argv in (['--help'], ['predict', '--help'], ['synthetic', '--help'],\n"
        "             ['--version']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "usage: hyperkit" in r.stdout and f"hyperkit {hyperkit.__version__}" in r.stdout


def test_help_of_the_package_opens_with_the_guide():
    """help(hyperkit) starts with a short guide to the main calls."""
    doc = hyperkit.__doc__
    assert doc.startswith("hyperkit: CNN hyper-images")
    guide = doc.split("\n\n")[1]
    assert guide.startswith("The main calls")
    text = pydoc.render_doc(hyperkit, renderer=pydoc.plaintext)
    description = text.split("DESCRIPTION\n", 1)[1]
    assert description.lstrip().startswith("hyperkit: CNN hyper-images")
    head = description[:2000]
    for call in ("load_model", ".predict(", "build_hyperimage", "lcn", "gather_patches"):
        assert call in head
    assert "torch" not in description.split("The main calls")[0]
    # the lazy attributes are the public API
    assert set(hyperkit.__all__) <= set(dir(hyperkit))
    assert hyperkit.load_model is load_model and callable(hyperkit.lcn)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = hyperkit.nope


def test_package_metadata():
    """pyproject names the project's authors, keywords and classifiers (no URLs yet: the
    project has no public address to name)."""
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert meta["authors"] and meta["keywords"] and meta["classifiers"]


def test_iqa_errors_name_flags_not_python_arguments(tmp_path):
    """Issue 21, problem 7: errors said '(image_col)' and 'name the file with csv='."""
    for i in range(3):
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "a.csv").write_text("img,mos\n0.png,1\n1.png,2\n2.png,3\n")
    (tmp_path / "b.csv").write_text("img,mos\n0.png,1\n")
    base = ["iqa", "--dataset", "csv", "--root", str(tmp_path), "--inspect"]
    with pytest.raises(SystemExit) as e:
        main(base + ["--image-col", "nope", "--csv", "a.csv"])
    assert "(--image-col)" in str(e.value) and "image_col" not in str(e.value)
    with pytest.raises(SystemExit) as e:
        main(base)
    assert str(e.value).endswith("name the file with --csv") and "csv=" not in str(e.value)


def test_predict_help_sends_photographs_to_the_photo_model(capsys):
    """Issue 21, problem 1: the help sent users to the synthetic run for photographs."""
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    out = capsys.readouterr().out
    assert "hyperkit predict photo-iqa photo.jpg" in out
    assert "means nothing on photographs" in " ".join(out.split())


def test_csv_target_checked_before_scoring_and_written_exclusively(tmp_path, monkeypatch):
    """Issue 22, items 2 and 5: --csv into a missing folder failed with a traceback after
    all the scoring; two predicts writing one CSV both exited 0 and one's rows were lost."""
    from hyperkit import files

    Image.fromarray(np.full((64, 80, 3), 120, np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(SystemExit, match="the folder .*nodir does not exist"):
        main(["score", str(tmp_path / "a.png"), "--csv", str(tmp_path / "nodir" / "x.csv")])
    # another process creates the file while this one scores: it is not overwritten
    real = files.write_new

    def racing(path, text):
        Path(path).write_text("theirs\n")
        return real(path, text)
    monkeypatch.setattr("hyperkit.files.write_new", racing)
    with pytest.raises(SystemExit, match="appeared while this command ran"):
        main(["score", str(tmp_path / "a.png"), "--csv", str(tmp_path / "race.csv")])
    assert (tmp_path / "race.csv").read_text() == "theirs\n"
