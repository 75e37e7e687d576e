"""Classification metrics against hand-computed values (scikit-learn is not installed:
the ROC AUC is checked against the pair-counting definition)."""

import itertools

import numpy as np
import pytest

from hyperkit.evaluation import classification as c


def test_confusion_accuracy_and_balanced_accuracy():
    y = [1, 1, 1, 1, 0, 0]
    p = [1, 1, 1, 0, 1, 0]
    np.testing.assert_array_equal(c.confusion_matrix(p, y), [[1, 1], [1, 3]])
    assert c.accuracy(p, y) == pytest.approx(4 / 6)
    assert c.balanced_accuracy(p, y) == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert c.balanced_accuracy([1, 1], [1, 1]) == 1.0  # one class present


def test_roc_auc_is_the_fraction_of_correctly_ordered_pairs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    s = np.round(rng.random(40), 1)  # ties on purpose
    pos, neg = s[y == 1], s[y == 0]
    want = np.mean([1.0 if a > b else 0.5 if a == b else 0.0
                    for a, b in itertools.product(pos, neg)])
    assert c.roc_auc(s, y) == pytest.approx(want)
    assert c.roc_auc([0.1, 0.9], [0, 1]) == 1.0 and c.roc_auc([0.9, 0.1], [0, 1]) == 0.0
    assert np.isnan(c.roc_auc([0.1, 0.2], [1, 1]))


def test_roc_curve_and_its_area():
    y = np.array([0, 0, 1, 1, 1, 0])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2])
    fpr, tpr, thr = c.roc_curve(s, y)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0) and np.isinf(thr[0])
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoids
    assert area == pytest.approx(c.roc_auc(s, y))


def test_report_and_bad_input():
    r = c.classification_report([0.9, 0.2, 0.6, 0.4], [1, 0, 0, 1])
    assert r["accuracy"] == 0.5 and r["confusion_matrix"] == [[1, 1], [1, 1]] and r["n"] == 4
    assert r["roc_auc"] == pytest.approx(0.75)  # 3 of the 4 (authentic, tampered) pairs
    with pytest.raises(ValueError, match="only 0 and 1"):
        c.accuracy([1, 2], [1, 0])
    with pytest.raises(ValueError, match="3 values for 2 labels"):
        c.roc_auc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        c.roc_auc([np.nan, 0.2], [0, 1])
    with pytest.raises(ValueError, match="both classes"):
        c.roc_curve([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="empty"):
        c.accuracy([], [])


def test_pick_threshold_maximizes_balanced_accuracy():
    from hyperkit.evaluation.classification import pick_threshold

    s = [0.1, 0.2, 0.3, 0.35, 0.4, 0.45]
    y = [0, 0, 0, 1, 1, 1]  # all scores below 0.5: separable at 0.325
    t = pick_threshold(s, y)
    assert 0.3 < t < 0.35
    assert pick_threshold([0.4, 0.4], [0, 1]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        pick_threshold([0.1, 0.2], [1, 1])
