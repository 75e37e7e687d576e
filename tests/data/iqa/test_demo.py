"""The built-in NR-IQA demo set: layout, determinism, masks, labels, folder safety."""

import csv
import json
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from hyperkit.data.iqa import demo

SIZE = (64, 96)
LEVELS = 2


def read_rows(root):
    with open(root / "meta.csv", newline="") as f:
        return list(csv.DictReader(f))


def read_png(path):
    with Image.open(path) as im:
        return np.asarray(im)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One tiny demo, generated once for the module, and its log lines."""
    out = tmp_path_factory.mktemp("demo") / "set"
    lines = []
    demo.make_iqa_demo(out, seed=3, size=SIZE, levels=LEVELS, log=lines.append)
    return out, lines


def texture(seed=0, shape=(96, 128)):
    """A statistically uniform RGB texture in [0.2, 0.8]."""
    rng = np.random.default_rng(seed)
    t = ndimage.gaussian_filter(rng.random(shape), 1.5)
    t = 0.2 + 0.6 * (t - t.min()) / (t.max() - t.min())
    return np.repeat(t[..., None], 3, axis=2)


# ---------------------------------------------------------------- demo_score

def test_identical_images_score_100():
    ref = texture()
    assert demo.demo_score(ref, ref.copy()) == pytest.approx(100.0, abs=1e-9)


def test_damage_at_the_centre_costs_more_than_in_a_corner():
    ref = texture()
    noise = np.random.default_rng(1).normal(0, 0.15, (24, 24, 3))
    centre, corner = ref.copy(), ref.copy()
    centre[36:60, 52:76] = np.clip(centre[36:60, 52:76] + noise, 0, 1)
    corner[0:24, 0:24] = np.clip(corner[0:24, 0:24] + noise, 0, 1)
    s_centre, s_corner = demo.demo_score(ref, centre), demo.demo_score(ref, corner)
    assert s_centre < s_corner - 2, (s_centre, s_corner)


def test_stronger_distortion_scores_lower():
    ref = texture()
    scores = [demo.demo_score(ref, np.clip(ref + np.random.default_rng(2).normal(0, s, ref.shape),
                                           0, 1)) for s in (0.02, 0.05, 0.1, 0.2)]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert 0 <= scores[-1] < scores[0] < 100


def test_concentrated_damage_weighs_more_than_its_area():
    # Percentile pooling: the worst 10 % weigh 4x, so a ruined 10 % region costs more
    # than 10 % of the score, unlike a plain mean.
    ref = texture()
    dist = ref.copy()
    dist[:, 40:53] = 0.5  # a flat band: no structure left there (~10 % of the pixels)
    assert demo.demo_score(ref, dist) < 100 - 100 * 13 / 128 - 3


@pytest.mark.parametrize("bad, err", [
    (np.zeros((96, 128, 3), np.uint8), TypeError),            # not float
    (np.zeros((96, 128, 4)), ValueError),                     # not RGB
    (np.full((96, 128, 3), 2.0), ValueError),                 # not in [0, 1]
    (np.full((96, 128, 3), np.nan), ValueError),              # NaN
    (np.zeros((64, 128, 3)), ValueError),                     # shape differs
    ([[0.0]], TypeError),                                     # not an array
])
def test_demo_score_refuses_bad_input(bad, err):
    with pytest.raises(err):
        demo.demo_score(texture(), bad)


# ---------------------------------------------------------------- the written set

def test_layout_and_counts(tiny):
    root, _ = tiny
    meta = json.loads((root / "demo.json").read_text())
    photos = meta["photos"]
    assert len(photos) >= 12 and meta["version"] == demo.VERSION
    assert meta["params"] == {"seed": 3, "size": list(SIZE), "levels": LEVELS,
                              "kinds": list(demo.KINDS)}
    rows = read_rows(root)
    assert list(rows[0]) == list(demo.COLUMNS)
    n = len(photos) * len(demo.KINDS) * LEVELS * len(demo.EXTENTS)
    assert len(rows) == n == meta["count"]
    assert sorted(p.name for p in (root / "refs").iterdir()) == sorted(f"{p}.png" for p in photos)
    assert len(list((root / "dist").iterdir())) == n == len(list((root / "masks").iterdir()))
    assert not (root / demo._PARTIAL).exists()
    types = defaultdict(int)
    for r in rows:
        kind, extent = r["dist_type"].split("/")
        assert kind in demo.KINDS and extent == r["extent"] in demo.EXTENTS
        assert 1 <= int(r["level"]) <= LEVELS
        assert r["dist_name"] == f"dist/{r['ref_name'][5:-4]}_{kind}_{extent}_{r['level']}.png"
        types[r["dist_type"]] += 1
    assert len(types) == 2 * len(demo.KINDS)
    assert set(types.values()) == {len(photos) * LEVELS}
    for r in rows[::37]:
        assert read_png(root / r["dist_name"]).shape == (*SIZE, 3)
        assert read_png(root / r["ref_name"]).shape == (*SIZE, 3)


def test_summary_line_per_type(tiny):
    _, lines = tiny
    summary = [ln for ln in lines if ln.startswith("iqa demo ")]
    assert len(summary) == 2 * len(demo.KINDS)
    assert all("score" in ln for ln in summary)


def test_masks_match_extents_and_changes(tiny):
    root, _ = tiny
    for r in read_rows(root)[::5]:
        mask = read_png(root / r["dist_name"].replace("dist/", "masks/", 1))
        assert mask.shape == SIZE and mask.dtype == np.uint8
        if r["extent"] == "uniform":
            assert (mask == 255).all()
            continue
        core = (mask > 127).mean()
        assert 0.03 <= core <= 0.3, (r["dist_name"], core)
        ref = read_png(root / r["ref_name"]).astype(int)
        dist = read_png(root / r["dist_name"]).astype(int)
        # Outside the mask the image is the reference; inside it has changed.
        assert (dist[mask == 0] == ref[mask == 0]).all(), r["dist_name"]
        assert (dist[mask == 255] != ref[mask == 255]).any(), r["dist_name"]


def test_levels_share_the_local_region(tiny):
    root, _ = tiny
    name = read_rows(root)[0]["ref_name"][5:-4]
    masks = [read_png(root / "masks" / f"{name}_jpeg_local_{lv}.png")
             for lv in range(1, LEVELS + 1)]
    assert all((m == masks[0]).all() for m in masks)


def test_scores_are_labels_in_range_and_fall_with_level(tiny):
    root, _ = tiny
    rows = read_rows(root)
    by = defaultdict(list)
    for r in rows:
        mos = float(r["mos"])
        assert 0 <= mos <= 100
        by[(r["dist_type"], int(r["level"]))].append(mos)
    for t in {k[0] for k in by}:
        means = [np.mean(by[(t, lv)]) for lv in range(1, LEVELS + 1)]
        assert all(a > b for a, b in zip(means, means[1:])), (t, means)
    # The label is demo_score of the files as written.
    for r in rows[::41]:
        ref = read_png(root / r["ref_name"]) / 255.0
        dist = read_png(root / r["dist_name"]) / 255.0
        assert float(r["mos"]) == pytest.approx(demo.demo_score(ref, dist), abs=1e-4)
    # The two extents' score ranges overlap.
    uni = [float(r["mos"]) for r in rows if r["extent"] == "uniform"]
    loc = [float(r["mos"]) for r in rows if r["extent"] == "local"]
    assert min(loc) < max(uni) and min(uni) < max(loc)


def test_same_seed_same_bytes_other_seed_other_set(tiny, tmp_path):
    root, _ = tiny
    again = demo.make_iqa_demo(tmp_path / "again", seed=3, size=SIZE, levels=LEVELS, log=None)
    assert (again / "meta.csv").read_bytes() == (root / "meta.csv").read_bytes()
    sub = demo.make_iqa_demo(tmp_path / "sub", seed=3, size=SIZE, levels=LEVELS,
                             kinds=["pixelate", "gaussian_noise"], log=None)
    full = {r["dist_name"]: r for r in read_rows(root)}
    for r in read_rows(sub):  # a kinds subset reproduces the same images
        assert r == full[r["dist_name"]]
    other = demo.make_iqa_demo(tmp_path / "other", seed=4, size=SIZE, levels=LEVELS,
                               kinds=["gaussian_noise"], log=None)
    theirs = {r["dist_name"]: r["mos"] for r in read_rows(other)}
    mine = {k: full[k]["mos"] for k in theirs}
    assert sum(mine[k] != theirs[k] for k in theirs) > len(theirs) // 2


def test_finished_set_is_reused_and_other_parameters_refused(tiny):
    root, _ = tiny
    before = (root / "meta.csv").stat().st_mtime_ns
    lines = []
    assert demo.make_iqa_demo(root, seed=3, size=SIZE, levels=LEVELS, log=lines.append) == root
    assert lines == [] and (root / "meta.csv").stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="other parameters"):
        demo.make_iqa_demo(root, seed=4, size=SIZE, levels=LEVELS, log=None)
    assert (root / "meta.csv").stat().st_mtime_ns == before


def test_foreign_folder_is_refused_untouched(tmp_path):
    (tmp_path / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not empty"):
        demo.make_iqa_demo(tmp_path, size=SIZE, levels=1, log=None)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    with pytest.raises(FileExistsError, match="not a folder"):
        demo.make_iqa_demo(tmp_path / "mine.txt", size=SIZE, levels=1, log=None)


def test_interrupted_generation_is_not_finished_and_is_redone(tmp_path):
    out = tmp_path / "set"
    (out / "dist").mkdir(parents=True)
    (out / "dist" / "stale.png").write_bytes(b"half")
    (out / demo._PARTIAL).write_text("{}")
    demo.make_iqa_demo(out, size=SIZE, levels=1, kinds=["jpeg"], log=None)
    assert (out / "demo.json").is_file() and not (out / demo._PARTIAL).exists()
    assert not (out / "dist" / "stale.png").exists()


@pytest.mark.parametrize("kwargs, err", [
    ({"kinds": ["salt"]}, ValueError),
    ({"kinds": "jpeg"}, TypeError),
    ({"kinds": []}, ValueError),
    ({"kinds": ["jpeg", "jpeg"]}, ValueError),
    ({"size": (16, 96)}, ValueError),
    ({"size": (64, 96, 3)}, ValueError),
    ({"levels": 0}, ValueError),
    ({"levels": 2.0}, TypeError),
    ({"seed": -1}, ValueError),
])
def test_bad_arguments_are_refused_before_writing(tmp_path, kwargs, err):
    with pytest.raises(err):
        demo.make_iqa_demo(tmp_path / "set", log=None, **kwargs)
    assert not (tmp_path / "set").exists()


def test_default_dir_names_its_parameters(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPERKIT_DATA", str(tmp_path))
    d = demo.default_demo_dir(seed=2, size=(96, 128))
    assert d == tmp_path / f"iqa-demo-v{demo.VERSION}-seed2-96x128"
    monkeypatch.delenv("HYPERKIT_DATA")
    assert ".cache" in demo.default_demo_dir().parts
    assert demo.default_demo_dir() != demo.default_demo_dir(seed=1)


def test_loads_through_the_csv_loader(tiny):
    csvset = pytest.importorskip("hyperkit.data.iqa.csv")
    root, _ = tiny
    table = csvset.load_csv(root, best_score=100.0)
    rows = read_rows(root)
    assert len(table.images) == len(rows)
    assert table.higher_better and table.dist_types is not None and table.levels is not None
    assert set(table.dist_types) == {r["dist_type"] for r in rows}
    assert np.allclose(sorted(table.scores), sorted(float(r["mos"]) for r in rows))
    assert table.ref_images is not None and len(table.ref_images) == len({r["ref_name"]
                                                                         for r in rows})


def test_own_photos_replace_scikit_images(tmp_path):
    rng = np.random.default_rng(0)
    photos = {f"p{i}": rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for i in range(3)}
    out = demo.make_iqa_demo(tmp_path / "own", size=(40, 48), levels=1, kinds=["jpeg"],
                             photos=photos, log=None)
    rows = list(csv.DictReader(open(out / "meta.csv")))
    assert sorted({r["ref_name"] for r in rows}) == [f"refs/p{i}.png" for i in range(3)]
    assert json.loads((out / "demo.json").read_text())["params"]["photos"] == ["p0", "p1", "p2"]
    ref = np.asarray(Image.open(out / "refs" / "p1.png"))
    np.testing.assert_array_equal(ref, photos["p1"])


@pytest.mark.parametrize("photos, match", [
    ({"a": np.zeros((40, 48, 3), np.uint8)}, "at least 3"),
    ({k: np.zeros((40, 48, 3), np.float32) for k in "abc"}, "must be uint8"),
    ({"a b": np.zeros((40, 48, 3), np.uint8), "c": 0, "d": 0}, "letters, digits"),
])
def test_own_photos_are_checked(tmp_path, photos, match):
    with pytest.raises(ValueError, match=match):
        demo.make_iqa_demo(tmp_path / "x", size=(40, 48), photos=photos, log=None)
    assert not (tmp_path / "x").exists()


def test_own_strengths_change_the_distortion_and_are_recorded(tmp_path):
    rng = np.random.default_rng(1)
    photos = {f"p{i}": rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for i in range(3)}
    kw = dict(size=(40, 48), levels=2, kinds=["gaussian_blur"], photos=photos, log=None)
    base = demo.make_iqa_demo(tmp_path / "base", **kw)
    wide = demo.make_iqa_demo(tmp_path / "wide", strengths={"gaussian_blur": {
        "uniform": (0.5, 5.0)}}, **kw)
    meta = json.loads((wide / "demo.json").read_text())
    assert meta["params"]["strengths"]["gaussian_blur"] == {"uniform": [0.5, 5.0],
                                                           "local": [1.5, 6.0]}
    scores = {d: {r["dist_name"]: float(r["mos"]) for r in csv.DictReader(open(d / "meta.csv"))}
              for d in (base, wide)}
    strongest = "dist/p0_gaussian_blur_uniform_2.png"
    assert scores[wide][strongest] < scores[base][strongest]  # sigma 5 against 2
    # the same parameters find the finished set; other strengths are refused
    assert demo.make_iqa_demo(tmp_path / "wide", strengths={"gaussian_blur": {
        "uniform": (0.5, 5.0)}}, **kw) == wide
    with pytest.raises(FileExistsError):
        demo.make_iqa_demo(tmp_path / "wide", **kw)


@pytest.mark.parametrize("strengths, exc, match", [
    ([1, 2], TypeError, "strengths must be a dict"),
    ({"jpeg": {"uniform": (0, 5)}}, ValueError, "two positive numbers"),
    ({"jpeg": {"uniform": (5,)}}, ValueError, "mildest, strongest"),
    ({"sharpen": {"uniform": (1, 2)}}, ValueError, "unknown kinds"),
])
def test_bad_strengths(tmp_path, strengths, exc, match):
    with pytest.raises(exc, match=match):
        demo.make_iqa_demo(tmp_path / "x", size=(40, 48), kinds=["jpeg"], strengths=strengths,
                           log=None)
