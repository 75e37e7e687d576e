"""LIVE Release 2 on fabricated trees in the official layout: miniature ones (3 entries
per folder), and one with the full 982-entry .mat files and 982 tiny BMPs."""

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from hyperkit.data.iqa.live import LIVE_COUNTS, load_live

MINI = {"jp2k": 3, "jpeg": 3, "wn": 3, "gblur": 3, "fastfading": 3}
REFS = ("womanhat.bmp", "parrots.bmp", "caps.bmp")


def write_bmp(path, seed=0, size=8):
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(path)


def make_live(root, counts=MINI, *, orgs=None, refnames=None, dmos=None, realigned=None,
              cell_shape="row", skip=()):
    """A LIVE Release 2 tree under ``root``: dmos.mat, refnames_all.mat, the folders with
    img{k}.bmp, refimgs/. By default entry 0 of each folder is a reference copy (orgs 1)
    and the distorted entries show every reference of REFS. Returns (dmos, orgs,
    refnames) as written."""
    total = sum(counts.values())
    root.mkdir(parents=True, exist_ok=True)
    if orgs is None:
        orgs = np.concatenate([[1] + [0] * (c - 1) for c in counts.values()])
    if refnames is None:  # entry k of folder i shows reference (i + k) % 3
        refnames = [REFS[(i + k) % len(REFS)] for i, c in enumerate(counts.values())
                    for k in range(c)]
    if dmos is None:
        dmos = np.round(np.linspace(5, 80, total), 3) * (1 - np.asarray(orgs))
    names = np.array(refnames, dtype=object)
    names = names.reshape(1, -1) if cell_shape == "row" else names.reshape(-1, 1)
    if cell_shape == "char":  # a padded char matrix instead of a cell
        names = np.array(refnames)
    savemat(root / "dmos.mat", {"dmos": np.asarray(dmos, float).reshape(1, -1),
                                "orgs": np.asarray(orgs, float).reshape(1, -1)})
    savemat(root / "refnames_all.mat", {"refnames_all": names})
    if realigned is not None:
        savemat(root / "dmos_realigned.mat", {"dmos_new": np.asarray(realigned).reshape(-1, 1),
                                              "orgs": np.asarray(orgs, float).reshape(-1, 1)})
    j = 0
    for folder, c in counts.items():
        (root / folder).mkdir(exist_ok=True)
        for k in range(1, c + 1):
            if f"{folder}/img{k}.bmp" not in skip:
                write_bmp(root / folder / f"img{k}.bmp", seed=j, size=8)
            j += 1
    (root / "refimgs").mkdir(exist_ok=True)
    for r in sorted(set(refnames)):
        if f"refimgs/{r}" not in skip:
            write_bmp(root / "refimgs" / r, seed=99, size=8)
    return np.asarray(dmos, float), np.asarray(orgs), list(refnames)


@pytest.mark.parametrize("cell_shape", ["row", "column", "char"])
def test_mini_tree_drops_reference_copies_and_keeps_folder_order(tmp_path, cell_shape):
    root = tmp_path / "databaserelease2"
    dmos, orgs, refnames = make_live(root, cell_shape=cell_shape)
    t = load_live(root, counts=MINI)
    keep = np.flatnonzero(orgs == 0)
    assert len(t) == len(keep) == 10
    np.testing.assert_array_equal(t.scores, dmos[keep])
    assert t.scores.dtype == np.float64
    folders = [f for f, c in MINI.items() for _ in range(c)]
    numbers = [k for c in MINI.values() for k in range(1, c + 1)]
    assert t.images == tuple((root / folders[j] / f"img{numbers[j]}.bmp").resolve()
                             for j in keep)
    assert t.dist_types == tuple(folders[j] for j in keep)
    assert t.refs == tuple(refnames[j].removesuffix(".bmp") for j in keep)
    assert t.ref_images == {r.removesuffix(".bmp"): (root / "refimgs" / r).resolve()
                            for r in REFS}
    assert (t.name, t.higher_better, t.score_name, t.best_score, t.gray, t.levels) == (
        "live", False, "DMOS", 0.0, True, None)
    assert t.label_source == "dmos.mat (dmos)"
    assert all(p.is_absolute() and p.is_file() for p in t.images)


def test_realigned_labels_are_preferred_when_present(tmp_path):
    total = sum(MINI.values())
    realigned = np.arange(total, dtype=float) + 0.5
    dmos, orgs, _ = make_live(tmp_path, realigned=realigned)
    t = load_live(tmp_path, counts=MINI)
    assert t.label_source == "dmos_realigned.mat (dmos_new)"
    np.testing.assert_array_equal(t.scores, realigned[orgs == 0])
    t = load_live(tmp_path, counts=MINI, labels="dmos")
    assert t.label_source == "dmos.mat (dmos)"
    np.testing.assert_array_equal(t.scores, dmos[orgs == 0])


def test_realigned_alone_needs_no_dmos_mat(tmp_path):
    make_live(tmp_path, realigned=np.ones(sum(MINI.values())))
    (tmp_path / "dmos.mat").unlink()
    assert len(load_live(tmp_path, counts=MINI)) == 10
    with pytest.raises(FileNotFoundError, match="dmos.mat"):
        load_live(tmp_path, counts=MINI, labels="dmos")


def test_full_size_tree_gives_779_images_of_29_references(tmp_path):
    """The official counts: 982 entries, 203 reference copies, 29 references."""
    refs = [f"ref{r:02d}.bmp" for r in range(29)]
    copies = {"jp2k": 58, "jpeg": 58, "wn": 29, "gblur": 29, "fastfading": 29}  # 203 in all
    orgs, refnames = [], []
    for folder, c in LIVE_COUNTS.items():
        orgs += [1] * copies[folder] + [0] * (c - copies[folder])
        refnames += [refs[k % 29] for k in range(c)]
    dmos = np.where(np.array(orgs) == 1, 0.0, np.linspace(1, 90, 982))
    make_live(tmp_path, LIVE_COUNTS, orgs=orgs, refnames=refnames, dmos=dmos)
    t = load_live(tmp_path)
    assert len(t) == 779 and len(t.reference_ids()) == 29
    assert t.summary()["types"] == {"jp2k": 169, "jpeg": 175, "wn": 145, "gblur": 145,
                                    "fastfading": 145}
    assert t.scores.min() > 0


def test_wrong_length_is_refused_with_the_official_counts(tmp_path):
    make_live(tmp_path)
    with pytest.raises(ValueError, match=r"has 15 entries; LIVE Release 2 has 982 \(jp2k 227"):
        load_live(tmp_path)  # official counts against a miniature .mat


def test_refnames_of_wrong_length_are_refused(tmp_path):
    make_live(tmp_path)
    savemat(tmp_path / "refnames_all.mat",
            {"refnames_all": np.array(list(REFS) * 4, dtype=object).reshape(1, -1)})
    with pytest.raises(ValueError, match="refnames_all has 12 entries"):
        load_live(tmp_path, counts=MINI)


@pytest.mark.parametrize("remove, match", [
    ("dmos.mat", "lacks dmos.mat"),
    ("refnames_all.mat", "lacks refnames_all.mat"),
    ("wn", "lacks wn/"),
    ("refimgs", "lacks refimgs/"),
])
def test_missing_files_are_named_with_the_layout(tmp_path, remove, match):
    make_live(tmp_path)
    target = tmp_path / remove
    if target.is_dir():
        for p in target.iterdir():
            p.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(FileNotFoundError, match=match) as e:
        load_live(tmp_path, counts=MINI)
    assert "databaserelease2/" in str(e.value) and "jp2k/" in str(e.value)


def test_missing_image_and_reference_are_named(tmp_path):
    make_live(tmp_path, skip={"gblur/img2.bmp", "refimgs/caps.bmp"})
    with pytest.raises(FileNotFoundError, match="gblur/img2.bmp") as e:
        load_live(tmp_path, counts=MINI)
    assert "refimgs/caps.bmp" in str(e.value)


def test_a_reference_copy_need_not_exist(tmp_path):
    make_live(tmp_path, skip={"jp2k/img1.bmp"})  # entry 0 is a reference copy (orgs 1)
    assert len(load_live(tmp_path, counts=MINI)) == 10


def test_bad_mat_contents_are_refused(tmp_path):
    make_live(tmp_path)
    savemat(tmp_path / "dmos.mat", {"dmos": np.ones((3, 5)), "orgs": np.zeros((1, 15))})
    with pytest.raises(ValueError, match="1xN or Nx1"):
        load_live(tmp_path, counts=MINI)
    savemat(tmp_path / "dmos.mat", {"dmos": np.ones((1, 15)), "orgs": np.full((1, 15), 2.0)})
    with pytest.raises(ValueError, match="orgs must hold 0"):
        load_live(tmp_path, counts=MINI)
    savemat(tmp_path / "dmos.mat", {"dmos_x": np.ones((1, 15)), "orgs": np.zeros((1, 15))})
    with pytest.raises(ValueError, match=r"no variable 'dmos' \(it has \['dmos_x', 'orgs'\]"):
        load_live(tmp_path, counts=MINI)
    (tmp_path / "dmos.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match="not a readable MATLAB file"):
        load_live(tmp_path, counts=MINI)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="labels must be one of"):
        load_live(tmp_path, labels="new")
    with pytest.raises(ValueError, match="positive ints"):
        load_live(tmp_path, counts={"jp2k": 0})
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_live(tmp_path / "nowhere", counts=MINI)
    make_live(tmp_path)
    with pytest.raises(FileNotFoundError, match="no dmos_realigned.mat"):
        load_live(tmp_path, counts=MINI, labels="realigned")
