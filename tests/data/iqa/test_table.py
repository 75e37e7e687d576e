"""IQATable: rows, subsets, inspection, the CSV round trip of every loader, and
load_dataset / check_readable."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hyperkit.data.iqa import DATASETS, IQATable, check_readable, load_dataset
from hyperkit.data.iqa.csv import load_csv
from hyperkit.data.iqa.live import load_live
from hyperkit.data.iqa.tid2013 import TID2013_TYPES, load_tid2013

from .test_csv import make_folder, write_csv
from .test_live import MINI, make_live
from .test_tid2013 import make_tid


def small_table(tmp_path, **changes):
    fields = dict(name="t", root=tmp_path, images=[tmp_path / f"{i}.png" for i in range(4)],
                  scores=[1, 2, 3, 4], higher_better=True, score_name="MOS",
                  label_source="test", refs=["a", "a", "b", "c"],
                  ref_images={"a": tmp_path / "a.png", "b": tmp_path / "b.png",
                              "c": tmp_path / "c.png"},
                  dist_types=["x", "y", "x", "z"], levels=[1, 2, 1, 3], best_score=5)
    fields.update(changes)
    return IQATable(**fields)


def test_fields_are_normalized_and_frozen(tmp_path):
    t = small_table(tmp_path)
    assert t.scores.dtype == np.float64 and not t.scores.flags.writeable
    assert isinstance(t.images, tuple) and isinstance(t.refs, tuple)
    assert t.levels == (1, 2, 1, 3) and t.best_score == 5.0 and isinstance(t.best_score, float)
    with pytest.raises(AttributeError):
        t.name = "u"
    assert t == small_table(tmp_path) and t != small_table(tmp_path, scores=[1, 2, 3, 5])
    with pytest.raises(TypeError):
        hash(t)


@pytest.mark.parametrize("change, error, match", [
    (dict(scores=[1, 2, 3]), ValueError, r"scores must have shape \(4,\)"),
    (dict(scores=[1, 2, np.nan, 4]), ValueError, r"scores must be finite; rows \[2\]"),
    (dict(images=[Path("rel.png")] * 4), ValueError, "absolute"),
    (dict(refs=["a"]), ValueError, r"refs must have one entry per image \(4\), got 1"),
    (dict(levels=[1, 2]), ValueError, "levels must have one entry"),
    (dict(ref_images={"a": Path("/a.png")}), ValueError, r"no file for references \['b', 'c'\]"),
    (dict(refs=None), ValueError, "ref_images given without refs"),
    (dict(best_score=float("inf")), ValueError, "best_score must be finite"),
])
def test_bad_fields_are_refused(tmp_path, change, error, match):
    with pytest.raises(error, match=match):
        small_table(tmp_path, **change)


def test_subset_types_and_references(tmp_path):
    t = small_table(tmp_path)
    s = t.subset([3, 0])
    assert s.refs == ("c", "a") and s.scores.tolist() == [4.0, 1.0] and s.levels == (3, 1)
    assert s.ref_images == t.ref_images and s.best_score == 5.0
    assert t.subset(np.array([True, False, False, True])).images == s.images[::-1]
    assert len(t.subset([])) == 0
    with pytest.raises(IndexError, match="outside"):
        t.subset([4])
    with pytest.raises(TypeError, match="int indices"):
        t.subset([0.5])
    assert t.reference_ids() == ["a", "b", "c"] and t.type_names() == ["x", "y", "z"]
    assert t.indices_of_types(["x", "z"]).tolist() == [0, 2, 3]
    assert t.indices_of_types("y").tolist() == [1]
    assert t.indices_of_types(["x"]).dtype == np.int64
    with pytest.raises(ValueError, match=r"unknown distortion types \['w'\].*\['x', 'y', 'z'\]"):
        t.indices_of_types(["x", "w"])
    bare = small_table(tmp_path, refs=None, ref_images=None, dist_types=None)
    assert bare.reference_ids() == [] and bare.type_names() == []
    with pytest.raises(ValueError, match="no distortion types"):
        bare.indices_of_types(["x"])


def test_summary_and_describe(tmp_path):
    make_tid(tmp_path / "tid")
    t = load_tid2013(tmp_path / "tid")
    s = t.summary()
    assert (s["images"], s["references"], s["direction"], s["label_source"]) == (
        18, 3, "higher is better", "mos_with_names.txt")
    assert s["types"] == {TID2013_TYPES[0]: 6, TID2013_TYPES[13]: 6, TID2013_TYPES[23]: 6}
    assert s["levels"] == {1: 9, 5: 9}
    assert s["score_max"] == pytest.approx(7.21) and s["score_min"] == pytest.approx(5.51)
    text = t.describe()
    assert "18 distorted" in text and "3 (with reference image files)" in text
    assert "labels read from mos_with_names.txt" in text
    assert "\n    6  Non eccentricity pattern noise\n" in text
    make_live(tmp_path / "live")
    text = load_live(tmp_path / "live", counts=MINI).describe()
    assert "DMOS (lower is better)" in text and "gray" in text and "dmos.mat (dmos)" in text
    assert "  2  jp2k" in text


def build(kind, root):
    if kind == "live":
        make_live(root)
        return load_live(root, counts=MINI), dict(higher_better=False, best_score=0.0)
    if kind == "tid2013":
        make_tid(root)
        return load_tid2013(root), dict(best_score=7.25)
    names = make_folder(root)
    write_csv(root / "meta.csv", ["dist_name,mos,ref_name"] + [
        f"{n},{i / 3},ref/r{i % 2}.png" for i, n in enumerate(names)])
    return load_csv(root), {}


@pytest.mark.parametrize("kind", DATASETS)
def test_to_csv_round_trip(tmp_path, kind):
    root = tmp_path / "dataset"
    t, options = build(kind, root)
    out = t.to_csv(tmp_path / "table.csv")
    back = load_csv(root, out, **options)
    assert back.same_rows(t) and t.same_rows(back)
    assert back.higher_better == t.higher_better and back.best_score == t.best_score
    assert back.ref_images is not None and len(back.reference_ids()) == len(t.reference_ids())
    # a subset round-trips too, and a changed score is noticed
    sub = t.subset([2, 0])
    assert load_csv(root, sub.to_csv(tmp_path / "sub.csv"), **options).same_rows(sub)
    assert not back.same_rows(t.subset(list(range(len(t)))[::-1]))
    if kind == "csv":  # nothing in a CSV table is lost but the file name
        assert back == replace(t, label_source="table.csv (mos)")


def test_to_csv_header_and_ids_without_files(tmp_path):
    t = small_table(tmp_path, ref_images=None)
    text = t.to_csv(tmp_path.parent / f"{tmp_path.name}.csv").read_text()
    assert text.splitlines()[:2] == ["dist_name,ref_name,mos,dist_type,level", "0.png,a,1.0,x,1"]
    bare = small_table(tmp_path, refs=None, ref_images=None, dist_types=None, levels=None)
    text = bare.to_csv(tmp_path.parent / f"{tmp_path.name}-bare.csv").read_text()
    assert text.splitlines()[:2] == ["dist_name,mos", "0.png,1.0"]


def test_to_csv_refuses_the_dataset_folder(tmp_path):
    t = small_table(tmp_path)
    for inside in (tmp_path / "x.csv", tmp_path / "sub" / "x.csv", tmp_path):
        with pytest.raises(ValueError, match="inside the dataset folder"):
            t.to_csv(inside)
    assert list(tmp_path.iterdir()) == []


def test_load_dataset_dispatches_by_name(tmp_path):
    make_tid(tmp_path / "tid")
    assert load_dataset("tid2013", tmp_path / "tid").same_rows(load_tid2013(tmp_path / "tid"))
    make_live(tmp_path / "live")
    assert load_dataset("live", tmp_path / "live", counts=MINI).name == "live"
    names = make_folder(tmp_path / "own")
    write_csv(tmp_path / "own" / "m.csv", ["dist_name,mos"] + [f"{n},1" for n in names])
    assert load_dataset("csv", tmp_path / "own").refs is None
    with pytest.raises(ValueError, match="unknown dataset 'kadid'; known datasets: live, "
                                         "tid2013, csv"):
        load_dataset("kadid", tmp_path)


def test_check_readable_names_truncated_and_unreadable_images(tmp_path):
    names = make_folder(tmp_path, n=4)
    good = (tmp_path / names[0]).read_bytes()
    (tmp_path / names[1]).write_bytes(good[: len(good) // 2])  # truncated
    (tmp_path / names[2]).write_bytes(b"not an image at all")
    write_csv(tmp_path / "m.csv", ["dist_name,mos"] + [f"{n},1" for n in names])
    t = load_csv(tmp_path)
    logged = []
    bad = check_readable(t, log=logged.append)
    assert [p.name for p, _ in bad] == ["d1.png", "d2.png"]
    assert all(reason for _, reason in bad)
    assert len(logged) == 3 and logged[-1].startswith("2 of 4 images")
    assert check_readable(t.subset([0, 3]), log=None) == []


def test_readiness_says_whether_training_will_work(tmp_path):
    """Issue 21, problem 2: --inspect accepted a one-reference set that training refused."""
    one = small_table(tmp_path, refs=["a"] * 4, ref_images={"a": tmp_path / "a.png"})
    assert one.readiness()[0].startswith("WILL FAIL: reference-disjoint splits need at least 3")
    assert "WILL FAIL" in one.describe()
    ok = small_table(tmp_path)
    assert ok.readiness()[0] == "splits: reference-disjoint over 3 references (60/20/20 %)"
    assert "selective patch training: possible" in ok.readiness()[1]
    none = small_table(tmp_path, refs=None, ref_images=None)
    assert none.readiness()[0].startswith("splits: random over 4 images")
    assert "impossible without reference images" in none.readiness()[1]
    assert small_table(tmp_path, refs=None, ref_images=None, images=[tmp_path / "x.png"] * 2,
                       scores=[1, 2], dist_types=None, levels=None).readiness()[0].startswith(
        "WILL FAIL: a split needs at least 3 images")


def test_to_csv_never_overwrites_not_even_the_input(tmp_path):
    """Issue 22, item 3: --to-csv silently overwrote an existing file, the input CSV too."""
    t = small_table(tmp_path / "data")
    out = t.to_csv(tmp_path / "t.csv")
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="to_csv path .*t.csv exists"):
        t.to_csv(out)
    assert out.read_bytes() == before
