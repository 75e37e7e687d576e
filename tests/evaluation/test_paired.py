"""Paired bootstrap differences (hyperkit.evaluation.paired)."""

import numpy as np
import pytest

from hyperkit.evaluation.paired import paired_difference


def test_a_clear_win_has_an_interval_above_zero():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.3, 0.6, (6, 3))
    r = paired_difference(b + 0.1 + rng.normal(0, 0.01, b.shape), b)
    assert r["low"] > 0 and r["mean"] == pytest.approx(0.1, abs=0.02)
    assert r["wins"] == 6 and r["splits"] == 6


def test_no_difference_straddles_zero():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 0.1, 8), rng.normal(0.5, 0.1, 8)
    r = paired_difference(a, b)
    assert r["low"] < 0 < r["high"]


def test_seeds_are_averaged_within_a_split():
    a = np.array([[1.0, 0.0], [1.0, 0.0]])
    r = paired_difference(a, np.zeros((2, 2)))
    assert r["mean"] == 0.5 and r["low"] == r["high"] == 0.5 and r["worst"] == 0.5


@pytest.mark.parametrize("a, b, match", [
    (np.zeros(3), np.zeros(4), "paired"),
    (np.zeros(1), np.zeros(1), "K >= 2"),
    (np.array([0.0, np.nan]), np.zeros(2), "finite"),
])
def test_bad_inputs(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_difference(a, b)
