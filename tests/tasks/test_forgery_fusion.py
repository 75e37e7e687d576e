"""The late fusion of the two-stage CNN with the DCT Markov baseline (issue 20)."""

import numpy as np
import pytest

from hyperkit.evaluation.classification import roc_auc
from hyperkit.tasks.forgery.fusion import FUSED, late_fusion, logit


def _sig(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def test_the_fused_score_is_the_mean_of_validation_standardized_logits():
    val = {"two_stage": _sig([-1.0, 0.0, 1.0, 2.0]), "dct_markov": _sig([0.0, 4.0, 8.0, 0.0])}
    test = {"two_stage": _sig([0.5, 3.0]), "dct_markov": _sig([2.0, -2.0])}
    fv, (ft,), used = late_fusion(val, [test])
    assert used == list(FUSED)
    # by hand: two_stage mean 0.5, std sqrt(1.25); dct_markov mean 3, std sqrt(11)
    z = lambda x, m, s: (np.asarray(x) - m) / s  # noqa: E731
    a, b = np.sqrt(1.25), np.sqrt(11.0)
    want_v = _sig((z([-1, 0, 1, 2], 0.5, a) + z([0, 4, 8, 0], 3, b)) / 2)
    want_t = _sig((z([0.5, 3.0], 0.5, a) + z([2.0, -2.0], 3, b)) / 2)
    np.testing.assert_allclose(fv, want_v, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ft, want_t, rtol=1e-9, atol=1e-12)


def test_a_constant_input_is_left_out_and_nothing_left_gives_one_half():
    val = {"two_stage": np.full(5, 0.5), "dct_markov": _sig(np.arange(5.0))}
    test = {"two_stage": np.full(3, 0.5), "dct_markov": _sig([0.0, 2.0, 4.0])}
    fv, (ft,), used = late_fusion(val, [test])
    assert used == ["dct_markov"]
    np.testing.assert_allclose(ft, _sig((np.array([0.0, 2.0, 4.0]) - 2.0) / np.sqrt(2.0)))
    fv, (ft,), used = late_fusion({"two_stage": np.full(4, 0.3), "dct_markov": np.ones(4)},
                                  [{"two_stage": np.zeros(2), "dct_markov": np.ones(2)}])
    assert used == [] and (fv == 0.5).all() and (ft == 0.5).all() and ft.shape == (2,)


def test_an_input_that_kept_its_initial_weights_is_left_out():
    """A stage 2 whose validation probabilities span less than FLAT (1e-3) votes with
    rounding noise; it is left out unless min_span says otherwise."""
    rng = np.random.default_rng(1)
    val = {"two_stage": 0.5 + rng.uniform(-2e-4, 2e-4, 20), "dct_markov": rng.uniform(0, 1, 20)}
    test = {"two_stage": 0.5 + rng.uniform(-2e-4, 2e-4, 5), "dct_markov": rng.uniform(0, 1, 5)}
    _, _, used = late_fusion(val, [test])
    assert used == ["dct_markov"]
    _, _, used = late_fusion(val, [test], min_span=0.0)
    assert used == ["two_stage", "dct_markov"]


def test_two_independent_noisy_views_rank_better_fused():
    rng = np.random.default_rng(0)

    def views(n):
        y = rng.integers(0, 2, n)
        latent = 1.2 * (2 * y - 1)
        # two views of the label with independent noise, on different scales
        return y, {"two_stage": _sig(0.7 * (latent + rng.normal(0, 2, n))),
                   "dct_markov": _sig(3.0 * (latent + rng.normal(0, 2, n)) + 1.0)}

    _, val = views(400)
    y, test = views(4000)
    _, (ft,), _ = late_fusion(val, [test])
    one = max(roc_auc(test[k], y) for k in FUSED)
    assert roc_auc(ft, y) > one + 0.03


def test_bad_inputs_are_named():
    good = {"two_stage": np.full(3, 0.4), "dct_markov": np.array([0.1, 0.5, 0.9])}
    with pytest.raises(ValueError, match="val has no scores of 'dct_markov'"):
        late_fusion({"two_stage": good["two_stage"]}, [good])
    with pytest.raises(ValueError, match=r"others\[1\] has no scores of 'two_stage'"):
        late_fusion(good, [good, {"dct_markov": good["dct_markov"]}])
    with pytest.raises(ValueError, match="val's score arrays differ in length"):
        late_fusion({**good, "two_stage": np.zeros(4)}, [good])
    with pytest.raises(ValueError, match=r"others\[0\]'s score arrays differ"):
        late_fusion(good, [{**good, "dct_markov": np.zeros(2)}])
    with pytest.raises(ValueError, match="NaN"):
        late_fusion({**good, "dct_markov": np.array([0.1, np.nan, 0.9])}, [good])
    with pytest.raises(ValueError, match="NaN"):
        late_fusion(good, [{**good, "dct_markov": np.array([0.1, np.nan, 0.9])}])
    with pytest.raises(ValueError, match="at least one"):
        late_fusion(good, [good], names=())
    with pytest.raises(ValueError, match="val holds no scores"):
        late_fusion({k: np.zeros(0) for k in good}, [good])
    with pytest.raises(ValueError, match="infinity"):
        late_fusion({**good, "dct_markov": np.array([0.1, np.inf, 0.9])}, [good])


def test_logit_clips_certain_probabilities():
    v = logit(np.array([0.0, 0.5, 1.0]))
    assert np.isfinite(v).all() and v[1] == 0 and v[0] == pytest.approx(-v[2]) and v[2] > 13


def test_auc_weights_are_validation_auc_above_chance_and_never_negative():
    from hyperkit.tasks.forgery.fusion import auc_weights
    y = np.array([0, 0, 1, 1])
    val = {"two_stage": np.array([0.1, 0.2, 0.8, 0.9]),  # AUC 1
           "dct_markov": np.array([0.9, 0.2, 0.8, 0.1])}  # AUC 0.25: below chance
    assert auc_weights(val, y) == {"two_stage": 0.5, "dct_markov": 0.0}
    val["dct_markov"] = np.array([0.1, 0.8, 0.2, 0.9])  # AUC 0.75
    assert auc_weights(val, y) == pytest.approx({"two_stage": 0.5, "dct_markov": 0.25})
    with pytest.raises(ValueError, match="labels has 3 entries"):
        auc_weights(val, y[:3])
    with pytest.raises(ValueError, match="both present"):
        auc_weights(val, np.ones(4))
    with pytest.raises(ValueError, match="has no scores of 'dct_markov'"):
        auc_weights({"two_stage": val["two_stage"]}, y)


def test_weighted_fusion_is_the_weighted_mean_and_falls_back_to_equal_weights():
    val = {"two_stage": _sig([-1.0, 0.0, 1.0, 2.0]), "dct_markov": _sig([0.0, 4.0, 8.0, 0.0])}
    test = {"two_stage": _sig([0.5, 3.0]), "dct_markov": _sig([2.0, -2.0])}
    z_two = (np.array([0.5, 3.0]) - 0.5) / np.sqrt(1.25)
    z_dct = (np.array([2.0, -2.0]) - 3.0) / np.sqrt(11.0)
    _, (ft,), _ = late_fusion(val, [test], weights={"two_stage": 0.3, "dct_markov": 0.1})
    np.testing.assert_allclose(ft, _sig(0.75 * z_two + 0.25 * z_dct), rtol=1e-9)
    # a zero weight leaves that input out; only it left: its own standardized logit
    _, (ft,), _ = late_fusion(val, [test], weights={"two_stage": 0.2, "dct_markov": 0.0})
    np.testing.assert_allclose(ft, _sig(z_two), rtol=1e-9)
    # all zero (nothing above chance): the equal-weight rule
    eq = late_fusion(val, [test])[1][0]
    _, (ft,), _ = late_fusion(val, [test], weights={"two_stage": 0.0, "dct_markov": 0.0})
    np.testing.assert_allclose(ft, eq, rtol=1e-12)
    # a flat input is left out before weighting, whatever its weight
    flat = {**val, "dct_markov": np.full(4, 0.5)}
    _, (ft,), used = late_fusion(flat, [test], weights={"two_stage": 0.1, "dct_markov": 0.4})
    assert used == ["two_stage"]
    np.testing.assert_allclose(ft, _sig(z_two), rtol=1e-9)
    for bad, msg in (({"two_stage": 0.1}, "no entry for dct_markov"),
                     ({"two_stage": -0.1, "dct_markov": 0.1}, "two_stage is -0.1"),
                     ({"two_stage": np.nan, "dct_markov": 0.1}, "two_stage is nan")):
        with pytest.raises(ValueError, match=msg):
            late_fusion(val, [test], weights=bad)


def test_weights_of_the_wrong_kind_are_named_and_huge_weights_do_not_overflow():
    val = {"two_stage": _sig([-1.0, 0.0, 1.0, 2.0]), "dct_markov": _sig([0.0, 4.0, 8.0, 0.0])}
    test = {"two_stage": _sig([0.5, 3.0]), "dct_markov": _sig([2.0, -2.0])}
    for bad, msg in (([0.1, 0.2], "must be a mapping"),
                     ({"two_stage": None, "dct_markov": 0.1}, "two_stage is None"),
                     ({"two_stage": "1", "dct_markov": 0.1}, "two_stage is '1'"),
                     ({"two_stage": np.ones(2), "dct_markov": 0.1}, "two_stage is array"),
                     ({"two_stage": True, "dct_markov": 0.1}, "two_stage is True")):
        with pytest.raises(ValueError, match=msg):
            late_fusion(val, [test], weights=bad)
    # 1e308 twice would sum to inf; the fused scores must equal those of weights 1 and 1
    _, (big,), _ = late_fusion(val, [test], weights={"two_stage": 1e308, "dct_markov": 1e308})
    _, (one,), _ = late_fusion(val, [test], weights={"two_stage": np.float32(1),
                                                     "dct_markov": 1})
    np.testing.assert_allclose(big, one, rtol=1e-12)
    assert not np.allclose(one, 0.5)
    from hyperkit.tasks.forgery.fusion import auc_weights
    with pytest.raises(ValueError, match="at least one approach to weigh"):
        auc_weights(val, np.array([0, 1, 0, 1]), names=())


def test_fuse_gives_both_rows_as_the_parts_do():
    from hyperkit.tasks.forgery.fusion import auc_weights, fuse
    val = {"two_stage": _sig([-1.0, 0.0, 1.0, 2.0]), "dct_markov": _sig([0.0, 4.0, 8.0, 0.0])}
    test = {"two_stage": _sig([0.5, 3.0]), "dct_markov": _sig([2.0, -2.0]), "e2e": [0.1, 0.2]}
    y = np.array([0, 0, 1, 1])
    rows, used, weights = fuse(val, test, y)
    assert used == list(FUSED) and weights == auc_weights(val, y)
    fv, (ft,), _ = late_fusion(val, [test])
    np.testing.assert_array_equal(rows["fused"][0], fv)
    np.testing.assert_array_equal(rows["fused"][1], ft)
    fv, (ft,), _ = late_fusion(val, [test], weights=weights)
    np.testing.assert_array_equal(rows["fused_weighted"][1], ft)
