"""Grid geometry: offsets (generalized eq. 2), grid shapes, and the position table of a
range of grid patches (grid_cells)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hyperkit
from hyperkit.grid import grid_cells

from .reference import grid_cells_by_hand


@given(size=st.integers(1, 600), patch=st.integers(1, 64), n=st.integers(1, 60))
def test_grid_positions_properties(size, patch, n):
    if patch > size:
        with pytest.raises(ValueError, match="larger than size"):
            hyperkit.grid_positions(size, patch, n)
        return
    pos = hyperkit.grid_positions(size, patch, n)
    assert pos.dtype == np.int64 and pos.shape == (n,)
    assert pos.min() >= 0 and (pos + patch).max() <= size
    if n > 1:
        assert pos[0] == 0 and pos[-1] == size - patch
        steps = np.diff(pos)
        assert steps.min() >= 0 and steps.max() - steps.min() <= 1
        # each offset is the nearest integer to the ideal real-valued position
        ideal = np.arange(n) * (size - patch) / (n - 1)
        assert np.abs(pos - ideal).max() <= 0.5


def test_grid_positions_known_values():
    # TID2013: strides are exactly 16, as eq. 2 gives
    assert list(hyperkit.grid_positions(384, 32, 23)) == list(range(0, 353, 16))
    assert list(hyperkit.grid_positions(512, 32, 31)) == list(range(0, 481, 16))
    # eq. 2 would step by rnd(68/3) = 23 and end at 69 + 32 = 101 > 100
    assert list(hyperkit.grid_positions(100, 32, 4)) == [0, 23, 45, 68]
    assert list(hyperkit.grid_positions(40, 32, 1)) == [4]


def test_grid_shape():
    assert hyperkit.grid_shape(384, 512, 32, 16) == (23, 31)  # TID2013, Table 4
    assert hyperkit.grid_shape(128, 128, 16, 16) == (8, 8)
    assert hyperkit.grid_shape(100, 50, (32, 16), (10, 5)) == (8, 8)
    assert hyperkit.grid_shape(32, 32, 32, 16) == (1, 1)
    with pytest.raises(ValueError, match="larger than the image"):
        hyperkit.grid_shape(20, 40, 32, 16)
    with pytest.raises(ValueError, match="stride"):
        hyperkit.grid_shape(64, 64, 32, 0)


@st.composite
def cell_cases(draw):
    ph, pw = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    u, v = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    sizes = draw(st.lists(st.tuples(st.integers(ph, 80), st.integers(pw, 80)),
                          min_size=1, max_size=5))
    total = len(sizes) * u * v
    first = draw(st.integers(0, total))
    count = draw(st.integers(0, total - first))
    return sizes, (ph, pw), (u, v), first, count


@given(case=cell_cases())
def test_grid_cells_is_the_image_row_column_decomposition(case):
    sizes, patch, grid, first, count = case
    hs, ws = [h for h, _ in sizes], [w for _, w in sizes]
    got = grid_cells(hs, ws, patch, grid, first, count)
    want = grid_cells_by_hand(hs, ws, patch, grid, first, count)
    for g, w in zip(got, want):
        assert g.dtype == np.int64 and g.shape == (count,)
        np.testing.assert_array_equal(g, w)
    # patch p = (n * U + u) * V + v
    u, v = grid
    p = np.arange(first, first + count)
    np.testing.assert_array_equal(got[0], p // (u * v))
    for q, n in enumerate(got[0]):
        r, c = (p[q] % (u * v)) // v, p[q] % v
        assert got[1][q] == hyperkit.grid_positions(hs[n], patch[0], u)[r]
        assert got[2][q] == hyperkit.grid_positions(ws[n], patch[1], v)[c]


def test_grid_cells_known_values_and_ranges():
    hs, ws = [40, 16], [33, 20]
    index, ys, xs = grid_cells(hs, ws, (16, 12), (3, 2), 0, 12)
    assert index.tolist() == [0] * 6 + [1] * 6
    assert ys.tolist() == [0, 0, 12, 12, 24, 24] + [0] * 6
    assert xs.tolist() == [0, 21, 0, 21, 0, 21] + [0, 8] * 3
    # any sub-range is the same slice of the full table, even one image in the middle
    for first, count in [(0, 1), (5, 2), (6, 6), (11, 1), (3, 9)]:
        sub = grid_cells(hs, ws, (16, 12), (3, 2), first, count)
        for a, b in zip(sub, (index, ys, xs)):
            np.testing.assert_array_equal(a, b[first:first + count])
    # only the images the range touches are looked at: later ones may be anything
    sub = grid_cells([40, 16, 1], [33, 20, 1], (16, 12), (3, 2), 2, 8)
    np.testing.assert_array_equal(sub[1], ys[2:10])


@pytest.mark.parametrize("first", [0, 3, 12])
def test_grid_cells_count_zero(first):
    got = grid_cells([40, 16], [33, 20], (16, 12), (3, 2), first, 0)
    for a in got:
        assert a.dtype == np.int64 and a.shape == (0,)
