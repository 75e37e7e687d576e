"""Pooling baselines of patch scores (hyperkit.pooling)."""

import numpy as np
import pytest

from hyperkit.pooling import pick_temperature, pool_scores


def grid():
    s = np.full((2, 3, 4), 5.0)
    s[0, 0, 0] = 1.0  # one damaged patch in image 0
    s[1] = np.arange(12).reshape(3, 4)
    return s


def test_mean_min_percentile():
    s = grid()
    np.testing.assert_allclose(pool_scores(s, "mean"), [(11 * 5 + 1) / 12, 5.5])
    np.testing.assert_allclose(pool_scores(s, "min"), [1.0, 0.0])
    np.testing.assert_allclose(pool_scores(s, "percentile", percentile=0), [1.0, 0.0])
    np.testing.assert_allclose(pool_scores(s, "percentile", percentile=50),
                               np.median(s.reshape(2, -1), 1))


def test_lower_is_better_looks_at_the_high_end():
    s = grid()
    np.testing.assert_allclose(pool_scores(s, "min", higher_better=False), [5.0, 11.0])


def test_softmin_between_min_and_mean():
    s = grid()
    cold = pool_scores(s, "softmin", temperature=1e-3)
    hot = pool_scores(s, "softmin", temperature=1e6)
    np.testing.assert_allclose(cold, pool_scores(s, "min"), atol=1e-6)
    np.testing.assert_allclose(hot, pool_scores(s, "mean"), rtol=1e-5)


def test_pick_temperature_prefers_the_pooling_that_ranks():
    rng = np.random.default_rng(0)
    s = rng.normal(5, 0.1, (40, 4, 4))
    worst = rng.uniform(0, 5, 40)
    s[:, 0, 0] = worst  # the label depends only on the worst patch
    t = pick_temperature(s, worst, candidates=(0.01, 100.0))
    assert t == pytest.approx(0.01 * s.std())


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 3)), r"\(N, U, V\)"),
    (np.full((1, 2, 2), np.nan), "NaN"),
])
def test_bad_scores(bad, match):
    with pytest.raises(ValueError, match=match):
        pool_scores(bad)


def test_bad_options():
    with pytest.raises(ValueError, match="method must be one of"):
        pool_scores(grid(), "median")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        pool_scores(grid(), "softmin", temperature=0)
    with pytest.raises(ValueError, match="percentile must be in"):
        pool_scores(grid(), "percentile", percentile=101)
