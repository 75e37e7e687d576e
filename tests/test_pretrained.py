"""The pretrained photo-quality model shipped in the package: it loads by name, its card
holds, it ranks distortion strengths on photographs it never trained on, and
``hyperkit score`` / ``hyperkit models`` work without any training."""

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import hyperkit
from hyperkit import pretrained
from hyperkit.cli import main
from hyperkit.data.iqa.demo_distortions import DEFAULT_SIZE, load_photos
from hyperkit.images import fit_within

NAME = "photo-iqa"


@pytest.fixture(scope="module")
def model():
    return pretrained.load_pretrained(NAME)


@pytest.fixture(scope="module")
def held_out():
    """The scikit-image photographs the model did not train on (its card's list), at the
    model's 192 x 256."""
    card = pretrained.card_data(NAME)
    photos = load_photos(DEFAULT_SIZE)
    return {n: photos[n] for n in card["test_refs"] + card["val_refs"] if n in photos}


def jpeg(img, quality):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def test_listed_loaded_by_name_and_by_load_model(model):
    assert NAME in pretrained.models() and NAME in hyperkit.models()
    assert model.meta["image_size"] == list(DEFAULT_SIZE)
    assert "0-100" in model.meta["score_meaning"]
    again = hyperkit.load_model(NAME)  # no such path here: the pretrained model
    x = np.zeros((64, 80, 3), np.uint8) + 128
    assert again.predict(x) == pytest.approx(model.predict(x))


def test_card_states_the_measured_figures():
    data, text = pretrained.card_data(NAME), pretrained.card(NAME)
    r = data["test_srocc"]
    assert f"all {r['all']:.3f}, uniform {r['uniform']:.3f}, local {r['local']:.3f}" in text
    for words in ("What the score means", "What it does not know", "Image size",
                  "Held-out references"):
        assert words in text
    assert not set(data["test_refs"]) & set(data["val_refs"])


def test_jpeg_and_blur_ranked_on_every_held_out_photograph(model, held_out):
    """Issue 21: JPEG quality 5 < 20 < 50 < 95 and blur sigma 4 < 2 < 1 < 0 on every
    scikit-image photograph the model did not train on (the card records the same)."""
    from skimage import filters

    assert len(held_out) >= 5
    card = pretrained.card_data(NAME)["ranking_check"]
    for name, img in held_out.items():
        js = model.predict([jpeg(img, q) for q in (5, 20, 50, 95)])
        blurred = [img] + [np.clip(np.round(filters.gaussian(img / 255.0, sigma=s,
                                                             channel_axis=-1, mode="reflect")
                                            * 255), 0, 255).astype(np.uint8)
                           for s in (1.0, 2.0, 4.0)]
        bs = model.predict(blurred[::-1])  # sigma 4, 2, 1, 0
        np.testing.assert_allclose(js, card[name]["jpeg"], rtol=1e-3, atol=0.05)
        assert np.all(np.diff(js) > 0), (name, js)
        assert np.all(np.diff(bs) > 0), (name, bs)


def test_score_takes_paths_and_shrinks_large_photographs(model, held_out, tmp_path):
    img = next(iter(held_out.values()))
    small = tmp_path / "small.png"
    Image.fromarray(img).save(small)
    big = np.asarray(Image.fromarray(img).resize((1024, 768), Image.LANCZOS))
    Image.fromarray(big).save(tmp_path / "big.png")
    s = pretrained.score([small, str(tmp_path / "big.png")], model=model)
    assert s.shape == (2,) and np.isfinite(s).all()
    assert s[0] == pytest.approx(model.predict(img)[0])
    shrunk = fit_within(big, DEFAULT_SIZE)
    assert shrunk.shape == (192, 256, 3) and shrunk.dtype == np.uint8
    assert s[1] == pytest.approx(model.predict(shrunk)[0])
    full = pretrained.score(tmp_path / "big.png", model=model, resize=False)
    assert full.shape == (1,) and np.isfinite(full).all()


def test_fit_within_never_enlarges_and_keeps_the_aspect():
    x = np.zeros((100, 50), np.uint16)
    assert fit_within(x, (192, 256)) is x
    y = fit_within(np.zeros((960, 400, 3), np.float32), (192, 256))
    assert y.shape == (192, 80, 3) and y.dtype == np.float32


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="name must be one of the pretrained models"):
        pretrained.load_pretrained("nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hyperkit.load_model("nope-not-a-path")


def test_cli_score_and_models(held_out, tmp_path, capsys):
    img = next(iter(held_out.values()))
    Image.fromarray(img).save(tmp_path / "a.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    main(["score", str(tmp_path / "a.png")])
    out, err = capsys.readouterr()
    path, value = out.strip().split("\t")
    assert path == str(tmp_path / "a.png") and 0 <= float(value) <= 110
    assert "photo-iqa scores (shrunk to fit 192 x 256)" in err and "0-100" in err
    with pytest.raises(SystemExit, match="1 input"):
        main(["score", str(tmp_path), "--csv", str(tmp_path / "s.csv")])
    assert (tmp_path / "s.csv").read_text().startswith("path,score\n")
    with pytest.raises(SystemExit, match="exists"):
        main(["score", str(tmp_path / "a.png"), "--csv", str(tmp_path / "s.csv")])
    with pytest.raises(SystemExit, match="--model must be one of"):
        main(["score", str(tmp_path / "a.png"), "--model", "nope"])
    main(["models"])
    assert "photo-iqa" in capsys.readouterr().out
    main(["models", NAME])
    assert "What the score means" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no pretrained model"):
        main(["models", "nope"])


def test_predict_takes_the_pretrained_model_by_name(held_out, tmp_path):
    img = next(iter(held_out.values()))
    Image.fromarray(img).save(tmp_path / "a.png")
    r = subprocess.run([sys.executable, "-m", "hyperkit.cli", "predict", NAME,
                        str(tmp_path / "a.png")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.split("\t")[1]) == pytest.approx(
        pretrained.load_pretrained(NAME).predict(img)[0], abs=1e-3)


def test_far_outside_the_training_sizes_warns_once_and_predict_notes_it(model, tmp_path,
                                                                         capsys):
    """Issue 21, problem 5: a 192 x 256 model scored a 2560 x 1600 photo without a word."""
    big = np.zeros((1600, 2560, 3), np.uint8) + 100
    with pytest.warns(UserWarning, match="1 of 2 image") as w:
        model.predict([big, big[:192, :256]])
    assert len(w) == 1
    assert not model.outside_trained_sizes((192, 256))
    assert model.outside_trained_sizes((1600, 2560)) and model.outside_trained_sizes((40, 40))
    Image.fromarray(big).save(tmp_path / "big.png")
    main(["predict", NAME, str(tmp_path / "big.png"), "--csv", str(tmp_path / "a.csv")])
    assert "lie far outside the model's training sizes" in capsys.readouterr().err
    assert "outside the training sizes, untested" in (tmp_path / "a.csv").read_text()
    main(["predict", NAME, str(tmp_path / "big.png"), "--resize", "--csv",
          str(tmp_path / "b.csv")])
    assert "shrunk to 160 x 256" in (tmp_path / "b.csv").read_text()


def test_score_takes_tensors_folders_and_panoramas(model, held_out, tmp_path):
    """Review of issue 21: tensors were treated as (H, W, C) and folders refused; a
    panorama was shrunk below one patch."""
    import torch

    img = next(iter(held_out.values()))
    t = torch.from_numpy(img).permute(2, 0, 1)  # (C, H, W) uint8
    assert pretrained.score(t, model=model) == pytest.approx(model.predict(img))
    (tmp_path / "f").mkdir()
    Image.fromarray(img).save(tmp_path / "f" / "a.png")
    assert pretrained.score(tmp_path / "f", model=model).shape == (1,)
    wide = np.tile(img[:150], (1, 30, 1))  # 150 x 7680
    assert fit_within(wide, DEFAULT_SIZE).shape[0] == 32
    assert np.isfinite(pretrained.score(wide, model=model)).all()
    with pytest.raises(ValueError, match="image must be a numpy"):
        fit_within(np.zeros((2, 40, 40, 3), np.uint8), DEFAULT_SIZE)
