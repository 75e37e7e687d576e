"""SROCC / PLCC / KROCC against scipy."""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import stats

from hyperkit import metrics


@given(st.integers(2, 300), st.integers(0, 2**31 - 1), st.booleans())
def test_match_scipy(n, seed, ties):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=n)
    t = p + rng.normal(size=n)
    if ties:
        p, t = np.round(p), np.round(t * 2)
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        return
    c = metrics.correlations(p, t)
    assert c["srocc"] == pytest.approx(stats.spearmanr(p, t)[0], abs=1e-12)
    assert c["plcc"] == pytest.approx(stats.pearsonr(p, t)[0], abs=1e-12)
    assert c["krocc"] == pytest.approx(stats.kendalltau(p, t)[0], abs=1e-12)


def test_chunked_kendall_equals_unchunked():
    rng = np.random.default_rng(1)
    p, t = rng.normal(size=500), rng.normal(size=500)
    assert metrics.krocc(p, t, chunk=7) == pytest.approx(metrics.krocc(p, t), abs=1e-14)


def test_constant_input_gives_zero_and_bad_input_raises():
    assert metrics.plcc([1, 1, 1], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError, match="same length"):
        metrics.srocc([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        metrics.krocc([1], [1])
    with pytest.raises(ValueError, match="finite"):
        metrics.plcc([1, np.nan], [1, 2])
