"""bench/make_spliced_set.py (issue 20's second spliced set): deterministic, read by the
CASIA v2 loader, tampered images pasted into the uncompressed pixels their authentic
source is saved from, masks of the pasted region, and bad arguments refused."""

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from hyperkit.data.forgery import casia2
from hyperkit.images import read_image

from .scripts import load_script

SIZES = ((64, 96), (96, 64))


@pytest.fixture(scope="module")
def mss():
    return load_script("make_spliced_set")


@pytest.fixture(scope="module")
def photos():
    from skimage import data

    gray = data.camera()
    return {"ski_astronaut": data.astronaut(), "ski_coffee": data.coffee(),
            "ski_chelsea": data.chelsea(), "ski_camera": np.repeat(gray[..., None], 3, 2),
            "ski_coins": np.repeat(data.coins()[..., None], 3, 2)}


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_files_and_the_loader_pairs_every_image(mss, photos, tmp_path):
    m = mss.build(tmp_path / "a", photos, 8, 6, seed=3, sizes=SIZES)
    mss.build(tmp_path / "b", photos, 8, 6, seed=3, sizes=SIZES)
    mss.build(tmp_path / "c", photos, 8, 6, seed=4, sizes=SIZES)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")
    data = casia2.scan(tmp_path / "a")
    s = data.summary()
    assert (s["authentic"], s["pairs"], s["skipped"]) == (8, 6, 0)
    kinds = [r["kind"] for r in m["tampered"]]
    assert s["copy_move_pairs"] == kinds.count("S") and s["spliced_pairs"] == kinds.count("D")
    assert json.loads((tmp_path / "a" / "spliced.json").read_text()) == m
    for row in m["tampered"]:  # a copy-move names no donor; a splice names another photo
        assert (row["donor"] is None) == (row["kind"] == "S") and row["donor"] != row["photo"]


def test_a_tampered_image_is_its_source_outside_the_pasted_region(mss, photos, tmp_path,
                                                                   monkeypatch):
    """Lossless formats only: outside the (feathered) region the tampered image equals its
    authentic source exactly, so it was pasted into the pixels the source was saved from
    (not into a decoded, re-compressed file as the demo does)."""
    monkeypatch.setattr(mss, "FORMATS", (("tif", 0.5), ("bmp", 0.5)))
    m = mss.build(tmp_path / "s", photos, 6, 6, seed=1, sizes=SIZES)
    data = casia2.scan(tmp_path / "s")
    assert len(data.pairs) == 6
    for pair, row in zip(sorted(data.pairs, key=lambda p: p.tampered.name),
                         sorted(m["tampered"], key=lambda r: r["tampered"])):
        tp, au = read_image(pair.tampered), read_image(pair.authentic)
        with Image.open(tmp_path / "s" / "masks" / f"{pair.tampered.stem}_gt.png") as im:
            mask = np.asarray(im) > 0
        assert mask.shape == tp.shape[:2] and mask.any() and not mask.all()
        reach = int(4 * row["feather"] + 0.5) + 1  # the Gaussian's support (truncate=4)
        outside = ~ndimage.binary_dilation(mask, iterations=reach)
        np.testing.assert_array_equal(tp[outside], au[outside])
        changed = np.abs(tp - au).max(axis=2) > 0.1
        assert changed[mask].mean() >= mss.MIN_CHANGED  # something to find in the region


def test_bad_arguments_and_a_used_folder_are_refused(mss, photos, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        mss.build(tmp_path / "used", photos, 4, 2, sizes=SIZES)
    with pytest.raises(ValueError, match="n_tampered must be an integer in 1..n_authentic"):
        mss.build(tmp_path / "o", photos, 4, 5, sizes=SIZES)
    with pytest.raises(ValueError, match="copy_move must be a share"):
        mss.build(tmp_path / "o", photos, 4, 2, copy_move=1.5, sizes=SIZES)
    with pytest.raises(ValueError, match="at least 2 photographs"):
        mss.build(tmp_path / "o", {"ski_a": photos["ski_coffee"]}, 4, 2, sizes=SIZES)
    assert not (tmp_path / "o").exists()
