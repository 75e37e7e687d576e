"""CASIA v2 as shipped: name parsing, pairing, what is skipped and why, masks, the
pair table, the layout check and the grouped split. Trees are built here in the
shipped layout with tiny images."""

import csv

import numpy as np
import pytest
from PIL import Image

from hyperkit.data.forgery import casia2


def smooth_image(rng, h, w):
    """uint8 RGB with smooth content (JPEG-friendly, like a photograph)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = [0.5 + 0.4 * np.sin(rng.uniform(2, 6) * xx + rng.uniform(2, 6) * yy + c)
            * np.cos(rng.uniform(6, 14) * xx - rng.uniform(6, 14) * yy)
            for c in range(3)]
    return (np.stack(base, 2) * 255).astype(np.uint8)


def save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=95) if path.suffix == ".jpg" else \
        Image.fromarray(arr).save(path)


def make_tree(root, n_pairs=7, n_authentic=9, size=(72, 96), seed=0, extras=True):
    """A miniature CASIA v2 tree: authentic images in mixed formats; tampered k has a
    pasted 24x24 square from authentic k's background; masks in root/../masks.
    With ``extras``: a bad name, a tampered image without source, one of another size
    and a corrupt file. Returns (root, masks)."""
    rng = np.random.default_rng(seed)
    cats = ["ani", "arc", "art"]
    au = []
    for i in range(n_authentic):
        ext = [".jpg", ".tif", ".bmp"][i % 3]
        name = f"Au_{cats[i % 3]}_{i + 1:05d}{ext}"
        im = smooth_image(rng, *size)
        save(root / "Au" / name, im)
        au.append((f"{cats[i % 3]}{i + 1:05d}", im))
    masks = root.parent / "masks"
    for k in range(n_pairs):
        key, im = au[k]
        donor = au[(k + 1) % n_authentic][0]
        t = im.copy()
        y, x = 10 + 3 * k, 20 + 4 * k
        t[y:y + 24, x:x + 24] = rng.integers(0, 255, 3, dtype=np.uint8)
        stem = f"Tp_D_CND_M_N_{key}_{donor}_{k + 1:05d}"
        save(root / "Tp" / f"{stem}.tif", t)
        m = np.zeros(size, np.uint8)
        m[y:y + 24, x:x + 24] = 255
        save(masks / f"{stem}_gt.png", m)
    if extras:
        save(root / "Tp" / "Tp_S_NRN_S_N_xyz99999_xyz99999_00100.jpg", au[0][1])
        save(root / "Tp" / "Tp_D_NRN_S_N_ani00001_arc00002_00101.jpg",
             smooth_image(rng, size[0] + 8, size[1]))
        (root / "Tp" / "Tp_D_NRN_S_N_art00003_ani00001_00102.jpg").write_bytes(b"not a jpeg")
        save(root / "Tp" / "tampered_copy.jpg", au[0][1])
        (root / "Au" / "Thumbs.db").write_bytes(b"\0")
    return root, masks


def test_authentic_and_tampered_names():
    assert casia2.authentic_id("Au_ani_00001.jpg") == "ani00001"
    assert casia2.authentic_id("Au_NAT_10129.bmp") == "nat10129"
    t = casia2.parse_tampered("Tp_D_CND_M_N_ani00018_sec00096_00138.tif")
    assert (t.kind, t.source, t.target, t.number, t.fields) == (
        "D", "ani00018", "sec00096", "00138", "CND_M_N")
    s = casia2.parse_tampered("Tp_S_NRN_S_N_arc00013_arc00013_01113.jpg")
    assert (s.kind, s.source, s.target) == ("S", "arc00013", "arc00013")
    for bad in ("Au_ani.jpg", "au_ani_00001.jpg", "Tp_ani_00001.jpg"):
        with pytest.raises(ValueError, match="not an authentic"):
            casia2.authentic_id(bad)
    for bad in ("Tp_X_NRN_S_N_ani00001_ani00002_00001.jpg", "Tp_D_ani00001.jpg",
                "Au_ani_00001.jpg"):
        with pytest.raises(ValueError, match="not a tampered"):
            casia2.parse_tampered(bad)


def test_scan_pairs_and_reports_every_skipped_file(tmp_path):
    root, _ = make_tree(tmp_path / "CASIA2")
    d = casia2.scan(root)
    assert len(d.authentic) == 9 and len(d.pairs) == 7
    for p in d.pairs:
        key = casia2.parse_tampered(p.tampered.name).source
        assert casia2.authentic_id(p.authentic.name) == key and p.mask is None
    reasons = {p.name: r for p, r in d.skipped}
    assert reasons["Tp_S_NRN_S_N_xyz99999_xyz99999_00100.jpg"].startswith("no authentic image")
    assert reasons["Tp_D_NRN_S_N_ani00001_arc00002_00101.jpg"].startswith("size differs")
    assert reasons["Tp_D_NRN_S_N_art00003_ani00001_00102.jpg"].startswith("unreadable")
    assert "Tp_D_NRN_S_N_art00003_ani00001_00102.jpg" in reasons[
        "Tp_D_NRN_S_N_art00003_ani00001_00102.jpg"]  # the corrupt file is named
    assert reasons["tampered_copy.jpg"].startswith("bad name")
    assert "Thumbs.db" not in reasons
    s = d.summary()
    assert s["skipped_by_reason"] == {"no authentic image": 1, "size differs": 1,
                                      "unreadable": 1, "bad name": 1}
    assert (s["pairs"], s["spliced_pairs"], s["pairs_with_mask"]) == (7, 7, 0)


def test_target_id_is_used_when_the_source_has_another_size(tmp_path):
    root, _ = make_tree(tmp_path / "c", n_pairs=0, n_authentic=3, extras=False)
    big = smooth_image(np.random.default_rng(1), 80, 96)
    save(root / "Au" / "Au_art_00009.jpg", big)
    save(root / "Tp" / "Tp_D_NRN_S_N_art00009_ani00001_00001.jpg",
         smooth_image(np.random.default_rng(2), 72, 96))
    (pair,) = casia2.scan(root).pairs
    assert pair.authentic.name == "Au_ani_00001.jpg" and len(pair.candidates) == 1


def test_masks_are_matched_by_name_and_the_table_is_written(tmp_path):
    root, masks = make_tree(tmp_path / "CASIA2")
    d = casia2.scan(root, masks)
    assert all(p.mask is not None and p.mask.stem == p.tampered.stem + "_gt" for p in d.pairs)
    out = d.to_csv(tmp_path / "pairs.csv")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 7 and rows[0]["mask"].endswith("_gt.png") and rows[0]["kind"] == "D"
    with pytest.raises(FileExistsError):
        d.to_csv(tmp_path / "pairs.csv")
    with pytest.raises(ValueError, match="inside the dataset folder"):
        d.to_csv(root / "pairs.csv")
    assert not (root / "pairs.csv").exists()
    with pytest.raises(FileNotFoundError, match="masks folder"):
        casia2.scan(root, tmp_path / "nope")


def test_a_root_not_in_the_layout_says_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        casia2.scan(tmp_path / "missing")
    (tmp_path / "x" / "Au").mkdir(parents=True)
    (tmp_path / "x" / "images").mkdir()
    with pytest.raises(ValueError, match=r"no Tp/.*Expected ROOT/Au.*images"):
        casia2.scan(tmp_path / "x")
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        casia2.scan(tmp_path / "f")


def test_lower_case_folders_are_accepted(tmp_path):
    root, _ = make_tree(tmp_path / "c", n_pairs=2, n_authentic=3, extras=False)
    (root / "Au").rename(root / "au")
    (root / "Tp").rename(root / "tp")
    assert len(casia2.scan(root).pairs) == 2


def test_classification_set_and_grouped_split_keep_pairs_together(tmp_path):
    root, _ = make_tree(tmp_path / "CASIA2")
    paths, labels, groups = casia2.scan(root).classification_set()
    assert len(paths) == 16 and labels.sum() == 9
    groups = groups * 5  # more groups' worth of items: the split is by group name
    groups = [f"{g}{i // 16}" for i, g in enumerate(groups)]
    tr, va, te = casia2.grouped_split(groups, seed=3)
    assert sorted(np.r_[tr, va, te].tolist()) == list(range(len(groups)))
    side = {}
    for k, part in enumerate((tr, va, te)):
        for i in part:
            assert side.setdefault(groups[i], k) == k
    assert len(tr) / len(groups) == pytest.approx(2 / 3, abs=0.1)
    assert len(va) / len(groups) == pytest.approx(1 / 6, abs=0.1)
    again = casia2.grouped_split(groups, seed=3)
    assert all((a == b).all() for a, b in zip((tr, va, te), again))
    with pytest.raises(ValueError, match="at least 3 groups"):
        casia2.grouped_split(["a", "a", "b"], 0)


@pytest.mark.parametrize("victim", [
    "Au/Au_ani_00001.jpg", "Au/Au_arc_00002.tif", "Au/Au_art_00003.bmp",
    "Tp/Tp_D_CND_M_N_ani00001_arc00002_00001.tif"])
def test_truncated_files_are_skipped_not_paired(tmp_path, victim):
    """A file cut short (an interrupted copy) is skipped as unreadable at scan time,
    not listed as a valid pair that fails later in training (issue 22)."""
    root, masks = make_tree(tmp_path / "CASIA2", extras=False)
    before = casia2.scan(root, masks)
    p = root / victim
    data = p.read_bytes()
    p.write_bytes(data[:len(data) * 2 // 3])
    after = casia2.scan(root, masks)
    reasons = {q.name: r for q, r in after.skipped}
    assert reasons[p.name].startswith("unreadable") and "truncated" in reasons[p.name]
    if victim.startswith("Tp/"):
        assert len(after.pairs) == len(before.pairs) - 1
    else:  # the authentic image is gone; its tampered image pairs with the donor only
        assert p not in after.authentic and len(after.authentic) == len(before.authentic) - 1
        assert all(p not in pair.candidates for pair in after.pairs)


def test_a_bomb_header_in_tp_is_skipped(tmp_path, monkeypatch):
    """A tampered file whose header claims more pixels than the budget is skipped with
    its reason, not a traceback (issue 22)."""
    root, masks = make_tree(tmp_path / "CASIA2", extras=False)
    n = len(casia2.scan(root, masks).pairs)
    bomb = root / "Tp" / "Tp_D_CND_M_N_ani00001_arc00002_00900.png"
    Image.new("L", (400, 300)).save(bomb)
    monkeypatch.setenv("HYPERKIT_MAX_PIXELS", "10000")  # 400 x 300 is over it
    got = casia2.scan(root, masks)
    reasons = {q.name: r for q, r in got.skipped}
    assert "over the budget" in reasons[bomb.name]
    assert len(got.pairs) <= n
    # Pillow's own guard (a 50000 x 50000 claim) is a skip too, not an exception
    monkeypatch.delenv("HYPERKIT_MAX_PIXELS")
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 0, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(  # noqa: E731
        ">I", zlib.crc32(t + d))
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    reasons = {q.name: r for q, r in casia2.scan(root, masks).skipped}
    assert reasons[bomb.name].startswith("unreadable")
