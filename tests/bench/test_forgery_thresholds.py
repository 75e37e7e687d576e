"""bench/forgery_thresholds.py (issue 20): the balanced logistic threshold, the fused rows
recomputed from saved validation scores, and a run without them refused."""

import numpy as np
import pytest

from hyperkit.evaluation.classification import balanced_accuracy
from hyperkit.tasks.forgery.fusion import auc_weights, late_fusion

from .scripts import load_script

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def ft():
    return load_script("forgery_thresholds")


def _sig(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def test_the_logistic_threshold_sits_between_balanced_classes(ft):
    rng = np.random.default_rng(0)
    # 10 tampered around logit -2, 30 authentic around logit +2: balanced weights put the
    # cut near 0 in logits, 0.5 in probability, whatever the class sizes
    y = np.r_[np.zeros(10), np.ones(30)].astype(np.int64)
    s = _sig(np.r_[rng.normal(-2, 1, 10), rng.normal(2, 1, 30)])
    t = ft.balanced_logistic_threshold(s, y)
    assert 0.3 < t < 0.7
    assert balanced_accuracy((s >= t).astype(np.int64), y) > 0.9
    # scores that rank the classes the wrong way have no positive slope: no threshold
    assert ft.balanced_logistic_threshold(1 - s, y) is None
    assert ft.balanced_logistic_threshold(np.full(40, 0.3), y) is None


def test_main_recomputes_the_fused_rows_and_refuses_runs_without_validation_scores(
        ft, tmp_path, capsys):
    rng = np.random.default_rng(1)
    yv, yt = rng.integers(0, 2, 30), rng.integers(0, 2, 20)
    yv[:2], yt[:2] = (0, 1), (0, 1)
    pred = {"true": yt, "val_true": yv, "path": np.array([f"t{i}" for i in range(20)]),
            "val_path": np.array([f"v{i}" for i in range(30)])}
    for k in ("two_stage", "dct_markov"):
        pred[f"val_{k}"] = _sig(2 * yv - 1 + rng.normal(0, 1.5, 30))
        pred[k] = _sig(2 * yt - 1 + rng.normal(0, 1.5, 20))
    (tmp_path / "run" / "seed0").mkdir(parents=True)
    np.savez(tmp_path / "run" / "seed0" / "predictions.npz", **pred)
    got = ft.seed_scores(pred)
    val = {k: pred[f"val_{k}"] for k in ("two_stage", "dct_markov")}
    test = {k: pred[k] for k in ("two_stage", "dct_markov")}
    fv, (ftest,), _ = late_fusion(val, [test], weights=auc_weights(val, yv))
    np.testing.assert_array_equal(got["fused_weighted"][1], ftest)
    np.testing.assert_array_equal(got["fused_weighted"][0], fv)
    assert set(got) == {"two_stage", "dct_markov", "fused", "fused_weighted"}
    ft.main([str(tmp_path / "run"), "--out", str(tmp_path / "t.json")])
    assert "fused_weighted" in capsys.readouterr().out
    assert (tmp_path / "t.json").is_file()
    del pred["val_true"]
    np.savez(tmp_path / "run" / "seed0" / "predictions.npz", **pred)
    with pytest.raises(SystemExit, match="no validation scores"):
        ft.main([str(tmp_path / "run")])
    with pytest.raises(SystemExit, match="no seed"):
        ft.main([str(tmp_path / "empty")])
