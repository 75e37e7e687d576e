"""Argument checks shared by every public function: each error names the argument."""

import numpy as np
import pytest
import torch

from hyperkit.checks import check_float, check_rank, pair, positive_int


def test_check_float():
    assert check_float(np.zeros(2, np.float32), "x") == "float32"
    assert check_float(torch.zeros(2, dtype=torch.float64), "x") == "float64"
    with pytest.raises(TypeError, match=r"img must be float32 or float64, got uint8 \(scale"):
        check_float(np.zeros(2, np.uint8), "img")
    with pytest.raises(TypeError, match="got float16$"):
        check_float(torch.zeros(2, dtype=torch.float16), "x")


def test_check_rank():
    check_rank(np.zeros((2, 3)), "x", min_ndim=2)
    check_rank(np.zeros((2, 3, 4)), "x", min_ndim=2, max_ndim=3)
    with pytest.raises(ValueError, match=r"x must have 4 dimensions \(N, C, H, W\), got shape"):
        check_rank(np.zeros((2, 3)), "x", min_ndim=4, max_ndim=4, layout="(N, C, H, W)")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        check_rank(np.zeros(3), "x", min_ndim=2)
    with pytest.raises(ValueError, match="2 to 3 dimensions"):
        check_rank(np.zeros((1, 1, 1, 1)), "x", min_ndim=2, max_ndim=3)
    with pytest.raises(ValueError, match=r"x has an empty dimension: shape \(2, 0\)"):
        check_rank(np.zeros((2, 0)), "x", min_ndim=2)


def test_positive_int_and_pair():
    assert positive_int(3, "n") == 3 and positive_int(np.int64(4), "n") == 4
    assert positive_int(0, "r", minimum=0) == 0
    with pytest.raises(TypeError, match="n must be an integer, got bool"):
        positive_int(True, "n")
    with pytest.raises(TypeError, match="got float"):
        positive_int(2.0, "n")
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        positive_int(0, "n")
    assert pair(5, "patch") == (5, 5) and pair((3, 4), "patch") == (3, 4)
    assert pair([3, 4], "patch") == (3, 4)
    with pytest.raises(ValueError, match=r"patch must be an int or a pair of ints"):
        pair((1, 2, 3), "patch")
    with pytest.raises(ValueError, match=r"grid\[1\] must be >= 1"):
        pair((2, 0), "grid")
    with pytest.raises(TypeError, match=r"patch\[0\] must be an integer"):
        pair(("a", 2), "patch")


def test_named_picks_from_the_table_or_takes_an_instance():
    from hyperkit.checks import named

    class Size:
        pass

    small = Size()
    assert named("small", {"small": small}, Size, "setting") is small
    mine = Size()
    assert named(mine, {"small": small}, Size, "setting") is mine
    with pytest.raises(ValueError, match=r"setting must be one of small or a Size, got 'huge'"):
        named("huge", {"small": small}, Size, "setting")
