"""Near-duplicate grouping (dHash) and the CASIA mask checks of issue 20."""

import numpy as np
import pytest
from PIL import Image

from hyperkit.data.forgery import casia2
from hyperkit.data.forgery import near_duplicates as nd

from .test_casia2 import make_tree, save


def _photo(seed, shape=(96, 128)):
    """A random-texture image: unrelated seeds hash ~32 bits apart."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (shape[0] // 8, shape[1] // 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize(shape[::-1], Image.Resampling.BICUBIC))


def test_dhash_is_stable_under_resaving_and_resizing_not_across_photos(tmp_path):
    a = _photo(0)
    save(tmp_path / "a.png", a)
    Image.fromarray(a).save(tmp_path / "a_q70.jpg", quality=70)
    Image.fromarray(a).resize((256, 192)).save(tmp_path / "a_big.png")
    save(tmp_path / "b.png", _photo(1))
    h = {p: nd.dhash(tmp_path / p) for p in ("a.png", "a_q70.jpg", "a_big.png", "b.png")}
    base = np.array([h["a.png"]], np.uint64)
    assert nd.hamming(base, h["a_q70.jpg"])[0] <= nd.MAX_BITS
    assert nd.hamming(base, h["a_big.png"])[0] <= nd.MAX_BITS
    assert nd.hamming(base, h["b.png"])[0] > 16
    with pytest.raises(ValueError, match="cannot hash"):
        (tmp_path / "bad.jpg").write_bytes(b"junk")
        nd.dhash(tmp_path / "bad.jpg")


def test_pairs_components_and_flat_images():
    h = [0x0F0F0F0F0F0F0F0F, 0x0F0F0F0F0F0F0F0E, 0x3333333333333333, 0x0F0F0F0F0F0F0F0C,
         0x0, 0x1]  # 0, 1 and 3 are near; 4 and 5 are flat (uninformative): not paired
    assert nd.near_duplicate_pairs(h, 2) == [(0, 1), (0, 3), (1, 3)]
    assert nd.components(6, nd.near_duplicate_pairs(h, 2)).tolist() == [0, 0, 1, 0, 2, 3]
    assert nd.components(3, []).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="max_bits must be an integer"):
        nd.near_duplicate_pairs(h, 65)


def test_near_duplicate_authentic_images_share_a_split_group(tmp_path):
    root, masks = make_tree(tmp_path / "CASIA2", extras=False)
    au = sorted((root / "Au").iterdir())
    # a re-saved copy of the first authentic image under another id
    Image.open(au[0]).convert("RGB").save(root / "Au" / "Au_nat_00042.jpg", quality=80)
    data = casia2.scan(root, masks)
    paths, _, groups = data.classification_set()
    g = dict(zip(paths, groups))
    assert g[root / "Au" / "Au_nat_00042.jpg"] == g[au[0]]
    assert data.grouping["near_duplicate_pairs"] >= 1
    assert data.grouping["authentic_in_near_duplicate_groups"] >= 2
    # each tampered image stays with its source
    for pr in data.pairs:
        assert g[pr.tampered] == g[pr.authentic]
    _, _, plain = data.classification_set(near_duplicates=False)
    assert len(set(plain)) == len(set(groups)) + 1
    assert data.grouping["near_duplicate_pairs"] == 0


def test_bad_masks_are_set_aside_with_their_reason(tmp_path):
    root, masks = make_tree(tmp_path / "CASIA2", extras=False)
    ms = sorted(masks.iterdir())
    h, w = np.asarray(Image.open(ms[0])).shape
    Image.fromarray(np.zeros((w, h), np.uint8)).save(ms[0])  # rotated
    Image.fromarray(np.zeros((h // 2, w), np.uint8)).save(ms[1])  # another size
    ms[2].write_bytes(b"not a png")  # unreadable
    save(masks / "Tp_D_CND_M_N_zzz00001_zzz00002_09999_gt.png", np.zeros((h, w), np.uint8))
    data = casia2.scan(root, masks)
    why = {p.name: r for p, r in data.mask_problems}
    assert why[ms[0].name].startswith("rotated")
    assert why[ms[1].name].startswith("size differs")
    assert why[ms[2].name].startswith("unreadable")
    assert why["Tp_D_CND_M_N_zzz00001_zzz00002_09999_gt.png"].startswith("no tampered image")
    s = data.summary()
    assert s["masks_set_aside"] == 4 and s["masks_set_aside_by_reason"] == {
        "rotated": 1, "size differs": 1, "unreadable": 1, "no tampered image": 1}
    assert s["pairs"] == 7 and s["pairs_with_mask"] == 4  # the pairs stay, without a mask
