"""Synthetic splices for stage 1 (hyperkit.data.forgery.splices): what is pasted where,
the contour patches on the seam, the run-folder cache, and bad arguments by name."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hyperkit.data.forgery import splices
from hyperkit.data.forgery.pairs import SiamesePairs
from hyperkit.images import read_image


def photo(seed, size=(96, 128)):
    """A textured RGB image: smooth gradients plus noise, so any region shows."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size[0], :size[1]]
    base = np.stack([yy * 2, xx * 2, (yy + xx)], -1) % 256
    return np.clip(base + rng.integers(0, 60, (*size, 3)), 0, 255).astype(np.uint8)


def test_a_splice_changes_the_region_and_keeps_the_rest():
    rng = np.random.default_rng(0)
    bg, donor = photo(0), photo(1)[::-1].copy()
    seen = set()
    for _ in range(24):
        out, m, how = splices.splice(bg, donor if rng.random() < 0.7 else None, rng)
        seen.add((how["kind"], how["feather"] > 0, how["jpeg_quality"] is not None))
        assert out.dtype == np.uint8 and out.shape == bg.shape and m.shape == bg.shape[:2]
        assert 0 < m.mean() < 0.5
        inside = np.abs(out.astype(int) - bg)[m].mean() / 255
        assert inside >= 0.02, how
        if how["jpeg_quality"] is None:  # lossless: far from the seam nothing moved
            from scipy.ndimage import binary_dilation

            near = binary_dilation(m, iterations=12)
            np.testing.assert_array_equal(out[~near], bg[~near])
    kinds = {k for k, _, _ in seen}
    assert kinds == {"splice", "copy-move"}
    assert {f for _, f, _ in seen} == {True, False} and {q for _, _, q in seen} == {True, False}


def test_the_same_generator_state_gives_the_same_splice():
    a = splices.splice(photo(0), photo(1), np.random.default_rng(5))
    b = splices.splice(photo(0), photo(1), np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_a_donor_of_another_size_or_depth_is_fitted():
    rng = np.random.default_rng(1)
    donor16 = (photo(3, (60, 70)).astype(np.uint16) * 257)  # 16-bit and smaller
    out, m, how = splices.splice(photo(0), donor16, rng)
    assert out.shape == (96, 128, 3) and how["kind"] == "splice"
    gray = photo(4)[..., 0]
    out, _, _ = splices.splice(gray, None, rng)  # gray background: RGB out
    assert out.shape == (96, 128, 3)


def test_a_flat_image_is_refused_by_name():
    flat = np.full((96, 128, 3), 120, np.uint8)
    with pytest.raises(ValueError, match="flat image"):
        splices.splice(flat, None, np.random.default_rng(0))


def write_authentic(folder, n=4):
    folder.mkdir()
    files = []
    for i in range(n):
        p = folder / f"Au_{i}.jpg"
        Image.fromarray(photo(10 + i)).save(p, quality=90)
        files.append(p)
    return files


def test_make_splices_writes_to_its_folder_and_patches_sit_on_the_seam(tmp_path):
    files = write_authentic(tmp_path / "Au")
    before = sorted(p.name for p in (tmp_path / "Au").iterdir())
    pairs, tops = splices.make_splices(files, tmp_path / "run" / "splices", 2, seed=3,
                                       points=6, patch=32)
    assert sorted(p.name for p in (tmp_path / "Au").iterdir()) == before  # data untouched
    assert 6 <= len(pairs) <= 8 and len(tops) == len(pairs)
    manifest = json.loads((tmp_path / "run" / "splices" / "splices.json").read_text())
    assert [str(tmp_path / "run" / "splices" / r["file"]) for r in manifest["rows"]] == \
        [t for _, t in pairs]
    for (a, t), tp, row in zip(pairs, tops, manifest["rows"]):
        au, sp = read_image(a), read_image(t)
        assert sp.shape == au.shape and row["donor"] != a
        tp = np.asarray(tp)
        assert tp.shape == (6, 2) and (tp >= 0).all()
        assert (tp[:, 0] <= 96 - 32).all() and (tp[:, 1] <= 128 - 32).all()
        diff = np.abs(sp.astype(int) - au).max(axis=2) > 25
        changed = [diff[r:r + 32, c:c + 32].mean() for r, c in tp]
        assert np.median(changed) > 0.02  # the windows see the pasted region
    src = SiamesePairs(pairs, tops, patch=32, augment=True, seed=0)
    (x1, x2), y = src.batch(np.arange(len(src)))
    assert x1.shape == (len(src), 3, 32, 32) and not np.array_equal(x1.numpy(), x2.numpy())


def test_make_splices_reuses_its_manifest_and_redraws_for_other_arguments(tmp_path):
    files = write_authentic(tmp_path / "Au", 3)
    out = tmp_path / "splices"
    first = splices.make_splices(files, out, 1, seed=0, points=4, patch=32)
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert splices.make_splices(files, out, 1, seed=0, points=4, patch=32) == first
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp  # not redrawn
    other = splices.make_splices(files, out, 1, seed=1, points=4, patch=32)
    assert other != first
    lost = Path(other[0][0][1])
    lost.unlink()  # a manifest whose files are gone is drawn again
    assert splices.make_splices(files, out, 1, seed=1, points=4, patch=32) == other
    assert lost.is_file()
    moved = tmp_path / "moved"
    out.rename(moved)  # names are kept relative to the folder
    again = splices.make_splices(files, moved, 1, seed=1, points=4, patch=32)
    assert [t for _, t in again[0]] == [str(moved / Path(t).name) for _, t in other[0]]
    assert all(Path(t).is_file() for _, t in again[0])


@pytest.mark.parametrize("bad, match", [(0, "per_image must be a whole number >= 1"),
                                        (1.5, "per_image must be a whole number >= 1"),
                                        (True, "per_image must be a whole number >= 1")])
def test_make_splices_checks_per_image(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        splices.make_splices(["a.jpg", "b.jpg"], tmp_path, bad, seed=0)


def test_make_splices_needs_two_images(tmp_path):
    with pytest.raises(ValueError, match="splices need at least 2 training authentic images"):
        splices.make_splices(["a.jpg"], tmp_path, 1, seed=0)


def test_the_jpeg_share_is_honoured_and_checked(tmp_path):
    rng = np.random.default_rng(4)
    hows = [splices.splice(photo(0), photo(1), rng, jpeg=0.0)[2] for _ in range(12)]
    assert all(h["jpeg_quality"] is None for h in hows)
    hows = [splices.splice(photo(0), photo(1), rng, jpeg=1.0)[2] for _ in range(6)]
    assert all(70 <= h["jpeg_quality"] <= 95 for h in hows)
    for bad in (-0.1, 1.5, True, "half"):
        with pytest.raises(ValueError, match="jpeg must be a share in"):
            splices.make_splices(["a.jpg", "b.jpg"], tmp_path, 1, seed=0, jpeg=bad)
