"""SROCC / PLCC / KROCC against scipy and against the coefficients' definitions."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
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


# ------------------------------------------------ logistic PLCC, collapse, IQA tables


def test_logistic5_is_the_vqeg_curve():
    x = np.linspace(-3, 3, 7)
    b = (2.0, 1.5, 0.5, 0.1, -1.0)
    want = b[0] * (0.5 - 1 / (1 + np.exp(b[1] * (x - b[2])))) + b[3] * x + b[4]
    np.testing.assert_allclose(metrics.logistic5(x, *b), want, rtol=1e-14)
    assert metrics.logistic5(np.array([b[2]]), *b)[0] == pytest.approx(b[3] * b[2] + b[4])
    with warnings.catch_warnings():  # far out on the flat part: no overflow
        warnings.simplefilter("error")
        y = metrics.logistic5(np.array([-1e6, 1e6]), 1.0, 10.0, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(y, [-0.5, 0.5])


def test_plcc_logistic_is_one_for_an_exact_logistic():
    x = np.linspace(0, 10, 60)
    t = metrics.logistic5(x, 80.0, 1.2, 5.0, 0.0, 40.0)
    assert metrics.plcc(x, t) < 0.97
    assert metrics.plcc_logistic(x, t) == pytest.approx(1.0, abs=1e-6)
    # a decreasing one (DMOS falls as predicted quality rises)
    assert metrics.plcc_logistic(x, -t) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_plcc_logistic_beats_plain_plcc_on_a_monotone_nonlinear_relation(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, 120)
    t = np.tanh(6 * (p - 0.4)) * 30 + 50 + rng.normal(0, 2, p.size)
    plain, fitted = metrics.plcc(p, t), metrics.plcc_logistic(p, t)
    assert fitted >= plain and fitted > plain + 0.02
    assert fitted <= 1.0


def test_plcc_logistic_on_a_linear_relation_is_the_plain_plcc():
    rng = np.random.default_rng(9)
    p = rng.normal(size=200)
    t = 3 * p + rng.normal(size=200)
    assert metrics.plcc_logistic(p, t) == pytest.approx(metrics.plcc(p, t), abs=5e-3)
    assert metrics.plcc_logistic(p, t) >= metrics.plcc(p, t) - 1e-9


@pytest.mark.parametrize("p, t", [([1, 1, 1], [1, 2, 3]), ([1, 2, 3], [4, 4, 4])])
def test_constant_input_gives_zero_logistic_plcc(p, t):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.plcc_logistic(p, t) == 0.0


def test_plcc_logistic_checks_its_input():
    with pytest.raises(ValueError, match="same length"):
        metrics.plcc_logistic([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        metrics.plcc_logistic([1, np.nan, 3], [1, 2, 3])


def test_collapsed_detects_one_constant_prediction():
    rng = np.random.default_rng(0)
    t = rng.normal(50, 10, 100)
    assert metrics.collapsed(np.full(100, 42.0), t)
    assert metrics.collapsed(42 + 1e-6 * rng.normal(size=100), t)
    assert not metrics.collapsed(t + rng.normal(0, 5, 100), t)
    assert not metrics.collapsed(42 + 0.1 * rng.normal(size=100), t)  # small, not collapsed
    assert metrics.collapsed(42 + 0.1 * rng.normal(size=100), t, rel=0.1)
    assert isinstance(metrics.collapsed(t, t), bool)


def test_iqa_metrics_reports_everything_with_per_type_srocc():
    rng = np.random.default_rng(1)
    t = rng.normal(50, 10, 40)
    p = t + rng.normal(0, 5, 40)
    types = np.array(["jpeg"] * 15 + ["noise"] * 20 + ["blur"] * 2 + ["fade"] * 3)
    m = metrics.iqa_metrics(p, t, types)
    assert set(m) == {"srocc", "plcc", "plcc_logistic", "krocc", "collapsed", "per_type"}
    assert m["srocc"] == pytest.approx(metrics.srocc(p, t))
    assert m["plcc"] == pytest.approx(metrics.plcc(p, t))
    assert m["krocc"] == pytest.approx(metrics.krocc(p, t))
    assert m["plcc_logistic"] == pytest.approx(metrics.plcc_logistic(p, t))
    assert m["collapsed"] is False
    assert list(m["per_type"]) == ["blur", "fade", "jpeg", "noise"]
    assert m["per_type"]["blur"] is None  # 2 images: too few
    for k in ("fade", "jpeg", "noise"):
        sel = types == k
        assert m["per_type"][k] == pytest.approx(metrics.srocc(p[sel], t[sel]))
    # integer types are named as strings; without types there is no per_type
    assert set(metrics.iqa_metrics(p, t, np.repeat([1, 2], 20))["per_type"]) == {"1", "2"}
    assert "per_type" not in metrics.iqa_metrics(p, t)
    with pytest.raises(ValueError, match="types must have one entry per prediction"):
        metrics.iqa_metrics(p, t, types[:-1])
    c = metrics.iqa_metrics(np.full(40, 3.0), t)
    assert c["collapsed"] is True and c["srocc"] == c["plcc_logistic"] == 0.0


def test_summarize_skips_missing_values_and_reports_the_median():
    s = metrics.summarize([0.9, None, 0.7, float("nan"), 0.8, 0.2])
    assert s["n"] == 4
    assert s["mean"] == pytest.approx(0.65) and s["median"] == pytest.approx(0.75)
    assert s["std"] == pytest.approx(np.std([0.9, 0.7, 0.8, 0.2]))
    assert metrics.summarize([]) == {"mean": None, "std": None, "median": None, "n": 0}
    assert metrics.summarize([None, float("nan")])["n"] == 0
    one = metrics.summarize(np.array([0.5]))
    assert one == {"mean": 0.5, "std": 0.0, "median": 0.5, "n": 1}
    assert all(isinstance(one[k], float) for k in ("mean", "std", "median"))
