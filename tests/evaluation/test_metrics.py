"""SROCC / PLCC / KROCC against scipy and against the coefficients' definitions."""

import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import stats

from hyperkit.evaluation import metrics

from ..reference import kendall_tau_b, pearson, spearman


def sample(n, seed, ties):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=n)
    t = p + rng.normal(size=n)
    if ties:
        p, t = np.round(p), np.round(t * 2)
    return p, t


@given(st.integers(2, 300), st.integers(0, 2**31 - 1), st.booleans())
def test_match_scipy(n, seed, ties):
    p, t = sample(n, seed, ties)
    c = metrics.correlations(p, t)
    assert set(c) == {"srocc", "plcc", "krocc"}
    if np.ptp(p) == 0 or np.ptp(t) == 0:  # no defined correlation: reported as 0
        assert c == {"srocc": 0.0, "plcc": 0.0, "krocc": 0.0}
        return
    assert c["srocc"] == pytest.approx(stats.spearmanr(p, t)[0], abs=1e-12)
    assert c["plcc"] == pytest.approx(stats.pearsonr(p, t)[0], abs=1e-12)
    assert c["krocc"] == pytest.approx(stats.kendalltau(p, t)[0], abs=1e-12)


@given(st.integers(2, 120), st.integers(0, 2**31 - 1), st.booleans())
def test_match_definitions(n, seed, ties):
    """Independent of scipy: Pearson's formula, Pearson of average ranks, tau-b by pairs."""
    p, t = sample(n, seed, ties)
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        return
    assert metrics.plcc(p, t) == pytest.approx(pearson(p, t), abs=1e-12)
    assert metrics.srocc(p, t) == pytest.approx(spearman(p, t), abs=1e-12)
    assert metrics.krocc(p, t) == pytest.approx(kendall_tau_b(p, t), abs=1e-12)


def test_known_values_and_symmetry():
    a = [1, 2, 3, 4, 5]
    assert metrics.correlations(a, [2, 4, 6, 8, 10]) == pytest.approx(
        {"srocc": 1.0, "plcc": 1.0, "krocc": 1.0})
    assert metrics.correlations(a, [5, 4, 3, 2, 1]) == pytest.approx(
        {"srocc": -1.0, "plcc": -1.0, "krocc": -1.0})
    # monotone but not linear: rank correlations are 1, Pearson's is not
    c = metrics.correlations(a, np.exp(a))
    assert c["srocc"] == pytest.approx(1) and c["krocc"] == pytest.approx(1) and c["plcc"] < 0.95
    p, t = sample(50, 1, True)
    for f in (metrics.plcc, metrics.srocc, metrics.krocc):
        assert f(p, t) == pytest.approx(f(t, p), abs=1e-14)
    # any array shape or list: values are flattened
    assert metrics.plcc(np.array(a)[:, None], [[2], [4], [6], [8], [10]]) == pytest.approx(1)


@pytest.mark.parametrize("f", [metrics.plcc, metrics.srocc, metrics.krocc])
@pytest.mark.parametrize("p, t", [([1, 1, 1], [1, 2, 3]), ([1, 2, 3], [4, 4, 4]),
                                  ([2.5, 2.5], [2.5, 2.5])])
def test_constant_input_gives_zero_without_warnings(f, p, t):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(p, t) == 0.0


def test_bad_input_raises():
    with pytest.raises(ValueError, match="same length"):
        metrics.srocc([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        metrics.krocc([1], [1])
    with pytest.raises(ValueError, match="finite"):
        metrics.plcc([1, np.nan], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        metrics.correlations([1, 2], [np.inf, 2])
