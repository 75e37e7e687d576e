"""Seeded random train / validation / test splits."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperkit.data.splits import random_split


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
