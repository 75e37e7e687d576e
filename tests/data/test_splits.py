"""Seeded train / validation / test splits: random, reference-disjoint, K from one
seed, saved and loaded."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperkit.data.splits import (
    load_splits,
    make_splits,
    random_split,
    reference_split,
    save_splits,
    split_seed,
)


def test_split_is_disjoint_60_20_20():
    tr, va, te = random_split(100, 0)
    assert (len(tr), len(va), len(te)) == (60, 20, 20)
    assert len(set(tr) | set(va) | set(te)) == 100


@given(n=st.integers(3, 500), seed=st.integers(0, 2**31 - 1),
       a=st.floats(0, 1), b=st.floats(0, 1))
def test_split_is_a_partition_of_about_the_asked_sizes(n, seed, a, b):
    f0, f1 = a * (1 - b), (1 - a) * (1 - b)
    fractions = (f0, f1, 1 - f0 - f1)
    tr, va, te = random_split(n, seed, fractions)
    joined = np.concatenate([tr, va, te])
    assert sorted(joined.tolist()) == list(range(n))  # disjoint, nothing lost
    assert all(p.dtype.kind == "i" for p in (tr, va, te))
    assert len(tr) >= 1 and len(va) >= 1
    # rounding moves a cut point by at most 1; keeping every part non-empty by 1 more
    assert abs(len(tr) - f0 * n) <= 2 and abs(len(tr) + len(va) - (f0 + f1) * n) <= 3


@pytest.mark.parametrize("n, fractions", [
    (3, (0.6, 0.2, 0.2)),  # the smallest n random_split accepts, default fractions
    (4, (0.6, 0.2, 0.2)),
    (5, (0.6, 0.2, 0.2)),
    (10, (0.5, 0.45, 0.05)),
])
def test_every_part_gets_at_least_one_item(n, fractions):
    """The docstring's promise: 'Every part gets at least one item'."""
    parts = random_split(n, 0, fractions)
    assert [len(p) >= 1 for p in parts] == [True, True, True], [len(p) for p in parts]


def test_split_is_seeded():
    a, b, c = random_split(50, 3), random_split(50, 3), random_split(50, 4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    tr, va, te = random_split(10, 0, (0.5, 0.3, 0.2))
    assert (len(tr), len(va), len(te)) == (5, 3, 2)


@pytest.mark.parametrize("n, fractions, match", [
    (2, (0.6, 0.2, 0.2), "at least 3"),
    (10, (0.5, 0.5), "three numbers"),
    (10, (0.6, 0.6, -0.2), "three numbers"),
    (10, (0.5, 0.2, 0.2), "sum to 1"),
])
def test_split_errors(n, fractions, match):
    with pytest.raises(ValueError, match=match):
        random_split(n, 0, fractions)


# ---- reference-disjoint splits, K splits from one seed, saved and loaded

GROUPS = [f"ref{k % 10}" for k in range(57)]  # 10 references of 5-6 images


def test_reference_split_keeps_every_reference_on_one_side():
    tr, va, te = reference_split(GROUPS, 0)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(57))
    sides = [{GROUPS[i] for i in p} for p in (tr, va, te)]
    assert [len(s) for s in sides] == [6, 2, 2]  # 60/20/20 of the 10 references
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert all(np.array_equal(p, np.sort(p)) and p.dtype == np.int64 for p in (tr, va, te))


@given(n_refs=st.integers(3, 30), per=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
def test_reference_split_is_a_reference_disjoint_partition(n_refs, per, seed):
    rng = np.random.default_rng(seed)
    groups = [f"r{g}" for g in rng.permutation(np.repeat(np.arange(n_refs), per))]
    parts = reference_split(groups, seed)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(groups)))
    sides = [{groups[i] for i in p} for p in parts]
    assert all(sides) and sum(len(s) for s in sides) == n_refs


def test_reference_split_is_seeded_and_independent_of_row_order():
    a, b, c = (reference_split(GROUPS, 3), reference_split(GROUPS, 3),
               reference_split(GROUPS, 4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    shuffled = GROUPS[::-1]
    refs_of = lambda groups, parts: [{groups[i] for i in p} for p in parts]  # noqa: E731
    assert refs_of(shuffled, reference_split(shuffled, 3)) == refs_of(GROUPS, a)


def test_reference_split_without_groups_falls_back_to_random_split():
    parts = reference_split(None, 5, n=20)
    want = random_split(20, 5)
    assert all(np.array_equal(p, np.sort(w)) for p, w in zip(parts, want))
    with pytest.raises(ValueError, match="needs n"):
        reference_split(None, 5)


@pytest.mark.parametrize("groups, error, match", [
    (["a", "a", "b", "b"], ValueError, "at least 3 references"),
    ("abc", TypeError, "not a str"),
    (["a", "b", None], TypeError, "entry 2 is None"),
])
def test_reference_split_errors(groups, error, match):
    with pytest.raises(error, match=match):
        reference_split(groups, 0)


def test_make_splits_k_from_one_seed():
    splits = make_splits(GROUPS, 4, seed=7)
    assert len(splits) == 4 and make_splits(GROUPS, 4, seed=7) == splits
    assert make_splits(GROUPS, 2, seed=7) == splits[:2]  # split k does not depend on count
    assert len({tuple(s["test"]) for s in splits}) > 1  # the splits differ
    for s in splits:
        assert list(s) == ["train", "val", "test"]
        assert all(v == sorted(v) and all(type(i) is int for i in v) for v in s.values())
        sides = [{GROUPS[i] for i in s[p]} for p in ("train", "val", "test")]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    first = reference_split(GROUPS, split_seed(7, 0))
    assert splits[0]["test"] == first[2].tolist()
    plain = make_splits(30, 3, seed=7)
    assert all(len(s["train"]) == 18 and len(s["val"]) == 6 for s in plain)
    assert make_splits(np.array(GROUPS), 1, 7) == splits[:1]


@pytest.mark.parametrize("args, error, match", [
    ((GROUPS, 0, 1), ValueError, "count must be an int >= 1"),
    ((GROUPS, 2, -1), ValueError, "seed must be an int >= 0"),
    ((True, 2, 1), TypeError, "not a bool"),
    ((None, 2, 1), TypeError, "n_or_groups must be"),
])
def test_make_splits_errors(args, error, match):
    with pytest.raises(error, match=match):
        make_splits(*args)


META = {"dataset": "toy", "n": 57, "seed": 7, "fractions": (0.6, 0.2, 0.2)}


def test_save_and_load_round_trip(tmp_path):
    splits = make_splits(GROUPS, 3, seed=7)
    path = save_splits(tmp_path / "splits.json", splits, META)
    assert load_splits(path) == splits and load_splits(path, n=57) == splits
    doc = json.loads(path.read_text())
    assert doc["meta"] == {"dataset": "toy", "n": 57, "seed": 7, "fractions": [0.6, 0.2, 0.2]}
    with pytest.raises(ValueError, match="made for a table of 57 images .*'toy'.*has 56"):
        load_splits(path, n=56)


def test_save_refuses_incomplete_meta_and_bad_splits(tmp_path):
    splits = make_splits(GROUPS, 1, seed=7)
    with pytest.raises(ValueError, match=r"meta lacks \['seed', 'fractions'\]"):
        save_splits(tmp_path / "s.json", splits, {"dataset": "toy", "n": 57})
    with pytest.raises(ValueError, match=r"holds 5\d, outside \[0, 50\)"):
        save_splits(tmp_path / "s.json", make_splits(57, 1, 0), {**META, "n": 50})
    assert not (tmp_path / "s.json").exists()


def corrupt(doc, how):
    s = doc["splits"][0]
    if how == "overlap":
        s["val"].append(s["train"][0])
    elif how == "range":
        s["test"].append(57)
    elif how == "float":
        s["test"][0] = 1.5
    elif how == "keys":
        s["dev"] = s.pop("val")
    elif how == "empty":
        s["val"] = []
    elif how == "repeat":
        s["test"].append(s["test"][0])
    elif how == "format":
        doc["format"] = "other"
    elif how == "meta":
        del doc["meta"]["n"]
    return doc


@pytest.mark.parametrize("how, match", [
    ("overlap", "train and val share indices"),
    ("range", r"holds 57, outside \[0, 57\)"),
    ("float", "holds 1.5, not an int index"),
    ("keys", r"must be a dict with keys \['train', 'val', 'test'\]"),
    ("empty", r"splits\[0\]\['val'\] is empty"),
    ("repeat", "repeats indices"),
    ("format", "not a hyperkit splits file"),
    ("meta", "meta must record n"),
])
def test_corrupted_files_are_refused(tmp_path, how, match):
    path = save_splits(tmp_path / "s.json", make_splits(GROUPS, 2, seed=7), META)
    path.write_text(json.dumps(corrupt(json.loads(path.read_text()), how)))
    with pytest.raises(ValueError, match=match) as e:
        load_splits(path)
    assert str(path) in str(e.value)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_splits(tmp_path / "none.json")
    (tmp_path / "s.json").write_text('{"format": "hyperkit-splits", "splits": [')
    with pytest.raises(ValueError, match="not valid JSON"):
        load_splits(tmp_path / "s.json")
