"""Tamper maps: the sign and scaling of the map, and the pixel-level scores against
hand-made masks (the baselines' values follow from their definitions)."""

import numpy as np
import pytest

from hyperkit.tasks.forgery.tamper_maps import pixel_scores, tamper_map


def test_tamper_map_is_minus_the_importance_scaled_to_0_1():
    cells = np.array([[0.0, -2.0], [1.0, 0.0]])  # cell (0, 1) lowers P(authentic) most
    m = tamper_map(cells, (8, 8), (4, 4))
    assert m.shape == (8, 8) and m.min() == 0.0 and m.max() == 1.0
    assert m[0, 7] == 1.0 and m[7, 0] == 0.0
    assert np.all(tamper_map(np.zeros((2, 2)), (8, 8), (4, 4)) == 0.5)


def test_pixel_scores_perfect_blank_and_inverted_maps():
    mask = np.zeros((10, 10), bool)
    mask[2:5, 3:7] = True  # 12 of 100 pixels
    perfect = pixel_scores(mask.astype(float), mask)
    assert perfect == {"pixel_auc": 1.0, "f1_at_0.5": 1.0, "f1_best": 1.0}
    blank = pixel_scores(np.ones((10, 10)), mask)
    assert blank["pixel_auc"] == 0.5
    assert blank["f1_at_0.5"] == pytest.approx(2 * 12 / (100 + 12))
    inverted = pixel_scores(1.0 - mask, mask)
    assert inverted["pixel_auc"] == 0.0 and inverted["f1_at_0.5"] == 0.0
    assert inverted["f1_best"] == pytest.approx(blank["f1_at_0.5"])  # threshold 0: all
    with pytest.raises(ValueError, match="differ in shape"):
        pixel_scores(np.ones((3, 3)), mask)


def test_evaluation_masks_prefer_given_masks_then_the_kept_folder(tmp_path):
    from types import SimpleNamespace

    from hyperkit.tasks.forgery.tamper_maps import evaluation_masks

    (tmp_path / "masks").mkdir()
    kept = tmp_path / "masks" / "Tp_b_gt.png"
    kept.write_bytes(b"")
    given = tmp_path / "elsewhere.png"
    pairs = [SimpleNamespace(tampered=tmp_path / "Tp" / "Tp_a.jpg", mask=given),
             SimpleNamespace(tampered=tmp_path / "Tp" / "Tp_b.jpg", mask=None),
             SimpleNamespace(tampered=tmp_path / "Tp" / "Tp_c.jpg", mask=None)]
    got = evaluation_masks(SimpleNamespace(root=tmp_path, pairs=pairs))
    assert got == {pairs[0].tampered: given, pairs[1].tampered: kept}
