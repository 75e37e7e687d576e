"""Patch-importance maps: a stage 2 that reads one cell is explained by that cell (both
variants), gradient x input equals occlusion for a linear stage 2, the baseline map,
spreading maps over pixels, masks to cells, AUROC of cells and the pointing game."""

import numpy as np
import pytest
import torch
from torch import nn

from hyperkit import nets
from hyperkit.evaluation.classification import roc_auc
from hyperkit.evaluation.importance import (
    DEFAULT_METHOD,
    METHODS,
    cells_to_pixels,
    evaluate_localization,
    explain,
    gradient_maps,
    localization_scores,
    mask_to_cells,
    occlusion_maps,
    patch_average_maps,
    pointing_game,
)
from hyperkit.grid import grid_positions
from hyperkit.model import TwoStage

STAGE1 = "Input(16,16,1) - C(4) - MP(2) - C(4) - MP(2) - FC(8) - FC(1,'linear')"
GRID = (5, 6)


class OneCell(nn.Module):
    """A stage 2 whose score depends only on cell (u, v): tanh(w . H[:, :, u, v])."""

    def __init__(self, depth: int, cell: tuple[int, int]) -> None:
        super().__init__()
        self.cell = cell
        self.w = nn.Parameter(torch.linspace(-1.0, 1.0, depth))

    def forward(self, h):
        return torch.tanh((h[:, :, self.cell[0], self.cell[1]] * self.w).sum(1))


class Linear(nn.Module):
    """A linear stage 2: sum over D, U, V of W * H."""

    def __init__(self, shape) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(shape, generator=torch.Generator().manual_seed(3)))

    def forward(self, h):
        return (h * self.w).flatten(1).sum(1)


def model_with(stage2_factory):
    torch.manual_seed(0)
    s1 = nets.build(STAGE1)
    return TwoStage(s1, stage2_factory(s1.feature_dim), stage1_arch=STAGE1,
                    stage2_arch="custom", patch=(16, 16), grid=GRID, lcn=False).eval()


def images(n=3, seed=0, size=(40, 50)):
    return list(np.random.default_rng(seed).random((n, *size), dtype=np.float32))


@pytest.mark.parametrize("method", ["gradient", "occlusion"])
@pytest.mark.parametrize("cell", [(0, 0), (2, 3), (4, 5)])
def test_stage2_reading_one_cell_is_explained_by_that_cell(method, cell):
    model = model_with(lambda d: OneCell(d, cell))
    ex = explain(model, images(), method)
    assert ex.maps.shape == (3, *GRID) and ex.maps.dtype == np.float64
    for m in ex.maps:
        assert np.unravel_index(np.abs(m).argmax(), m.shape) == cell
        assert abs(m[cell]) > 0
        others = np.delete(m.ravel(), np.ravel_multi_index(cell, m.shape))
        np.testing.assert_allclose(others, 0.0, atol=1e-7)
    np.testing.assert_allclose(ex.scores, model.predict(images()), rtol=1e-5)
    np.testing.assert_allclose(model.explain(images(), method=method), ex.maps)


def test_gradient_equals_occlusion_for_a_linear_stage2():
    model = model_with(lambda d: Linear((d, *GRID)))
    for neutral in ("median", "mean", "zero", np.linspace(0, 1, model.stage1.feature_dim)):
        g = explain(model, images(), "gradient", neutral=neutral).maps
        o = explain(model, images(), "occlusion", neutral=neutral).maps
        np.testing.assert_allclose(g, o, rtol=1e-4, atol=1e-5)
        assert np.abs(g).max() > 0


def test_occlusion_batches_agree_and_match_a_loop():
    model = model_with(lambda d: nn.Sequential(nn.Conv2d(d, 3, 3, padding=1), nn.ReLU(),
                                               nn.Flatten(), nn.Linear(3 * 30, 1)))
    h = model.hyperimages(images())
    med = h.flatten(2).median(2).values
    full, scores = occlusion_maps(model.stage2, h)
    small, _ = occlusion_maps(model.stage2, h, batch_size=7)
    torch.testing.assert_close(full, small)
    with torch.no_grad():
        for n, u, v in [(0, 0, 0), (1, 2, 3), (2, 4, 5)]:
            x = h[n:n + 1].clone()
            x[0, :, u, v] = med[n]
            want = scores[n] - model.stage2(x)[0, 0]
            torch.testing.assert_close(full[n, u, v], want, rtol=1e-5, atol=1e-6)


def test_gradient_map_leaves_weight_grads_alone():
    model = model_with(lambda d: Linear((d, *GRID)))
    gradient_maps(model.stage2, model.hyperimages(images()))
    assert all(p.grad is None for p in model.parameters())


def test_explain_restores_training_mode_and_keeps_dropout_off():
    model = model_with(lambda d: nn.Sequential(nn.Flatten(), nn.Dropout(0.5),
                                               nn.Linear(d * 30, 1)))
    model.stage2.train()
    a = explain(model, images(), "gradient").maps
    b = explain(model, images(), "gradient").maps
    np.testing.assert_array_equal(a, b)  # dropout was off
    assert model.stage2.training


def test_patch_average_map_is_centred_patch_scores():
    model = model_with(lambda d: Linear((d, *GRID)))
    ims = images()
    ex = explain(model, ims, "patch_average")
    s = model.patch_scores(ims)
    np.testing.assert_allclose(ex.scores, s.mean((1, 2)))
    want = (s - np.median(s.reshape(3, -1), 1)[:, None, None]) / 30
    np.testing.assert_allclose(ex.maps, want)
    m, sc = patch_average_maps(s)
    np.testing.assert_allclose(m, want)
    with pytest.raises(ValueError, match="patch_scores"):
        patch_average_maps(s[0])


def test_images_of_different_sizes_and_chunks():
    model = model_with(lambda d: Linear((d, *GRID)))
    ims = [images(1, 0, (40, 50))[0], images(1, 1, (64, 33))[0], images(1, 2, (20, 90))[0]]
    ex = explain(model, ims, images_per_batch=2)
    one = [explain(model, [im]).maps[0] for im in ims]
    np.testing.assert_allclose(ex.maps, np.stack(one), rtol=1e-5, atol=1e-7)
    assert ex.sizes == [(40, 50), (64, 33), (20, 90)]
    assert ex.pixels(1).shape == (64, 33)


def test_bad_arguments():
    model = model_with(lambda d: Linear((d, *GRID)))
    with pytest.raises(ValueError, match="method must be one of"):
        explain(model, images(), "saliency")
    with pytest.raises(ValueError, match="neutral must be one of"):
        explain(model, images(), neutral="average")
    with pytest.raises(ValueError, match="depth D = 8"):
        explain(model, images(), neutral=np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        explain(model, images(), neutral=np.full(8, np.nan))
    model.stage2 = None
    with pytest.raises(RuntimeError, match="stage 2"):
        explain(model, images(), "gradient")
    assert explain(model, images(), "patch_average").maps.shape == (3, *GRID)
    two = model_with(lambda d: nn.Sequential(nn.Flatten(), nn.Linear(d * 30, 2)))
    with pytest.raises(ValueError, match="one score per image"):
        explain(two, images(), "gradient")


def test_methods_and_default():
    assert set(METHODS) == {"gradient", "occlusion", "patch_average"}
    assert DEFAULT_METHOD in METHODS


def test_cells_to_pixels_averages_overlapping_patches():
    size, patch, grid = (30, 40), (10, 16), (4, 3)
    m = np.zeros(grid)
    m[1, 2] = 6.0
    px = cells_to_pixels(m, size, patch)
    assert px.shape == size
    # brute force: mean over covering patches
    ys, xs = grid_positions(30, 10, 4), grid_positions(40, 16, 3)
    total, count = np.zeros(size), np.zeros(size)
    for u, y in enumerate(ys):
        for v, x in enumerate(xs):
            total[y:y + 10, x:x + 16] += m[u, v]
            count[y:y + 10, x:x + 16] += 1
    np.testing.assert_allclose(px, total / count)
    assert px.max() == 6.0 and (px == 3.0).any()  # alone, and shared with one neighbour
    np.testing.assert_allclose(cells_to_pixels(np.full(grid, 2.5), size, patch), 2.5)
    gaps = cells_to_pixels(np.ones((2, 2)), (40, 40), 8)  # patches at 0 and 32: a gap
    assert np.isnan(gaps[20, 20]) and gaps[0, 0] == 1.0
    with pytest.raises(ValueError, match="cell_map"):
        cells_to_pixels(np.ones(4), size, patch)


def test_mask_to_cells_matches_brute_force():
    rng = np.random.default_rng(1)
    mask = np.zeros((50, 60), bool)
    mask[rng.integers(0, 50, 4), rng.integers(0, 60, 4)] = True
    got = mask_to_cells(mask, (16, 12), (5, 7))
    ys, xs = grid_positions(50, 16, 5), grid_positions(60, 12, 7)
    want = np.array([[mask[y:y + 16, x:x + 12].any() for x in xs] for y in ys])
    np.testing.assert_array_equal(got, want)
    assert not mask_to_cells(np.zeros((50, 60)), 16, (5, 7)).any()
    with pytest.raises(ValueError, match="mask"):
        mask_to_cells(np.zeros((2, 50, 60)), 16, (5, 7))


def test_the_auroc_of_cells_against_pairwise_count():
    # cell labels are bool masks; the one AUROC (evaluation.classification) takes them
    rng = np.random.default_rng(2)
    s = np.round(rng.normal(size=60), 1)  # ties
    y = rng.random(60) < 0.3
    pos, neg = s[y], s[~y]
    want = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (
        pos.size * neg.size)
    assert roc_auc(s, y) == pytest.approx(want)
    assert roc_auc([3, 2, 1, 0], np.array([1, 1, 0, 0], bool)) == 1.0
    with pytest.raises(ValueError, match="both positive and negative cells"):
        localization_scores(np.ones((1, 2, 2)), np.ones((1, 2, 2), bool))


def test_pointing_game_and_scores():
    maps = np.zeros((3, 2, 2))
    labels = np.zeros((3, 2, 2), bool)
    maps[0, 1, 1], labels[0, 1, 1] = -5.0, True   # hit: |map| is ranked, sign ignored
    maps[1, 0, 0], labels[1, 1, 0] = 2.0, True    # miss
    maps[2, 0, 1] = 9.0                           # no region: left out
    assert pointing_game(maps, labels) == 0.5
    r = localization_scores(maps, labels)
    assert r["pointing_game"] == 0.5 and r["images"] == 3
    assert r["positive_cells"] == pytest.approx(2 / 12)
    assert r["auroc_per_image"] == pytest.approx((1.0 + 1 / 3) / 2)  # 0 vs (2, 0, 0): two ties
    with pytest.raises(ValueError, match="positive cell"):
        pointing_game(maps, np.zeros_like(labels))
    with pytest.raises(ValueError, match="both be"):
        pointing_game(maps, labels[:2])


def test_evaluate_localization_finds_the_cell_stage2_reads():
    cell = (2, 3)
    model = model_with(lambda d: OneCell(d, cell))
    ims = images(4)
    ys, xs = grid_positions(40, 16, GRID[0]), grid_positions(50, 16, GRID[1])
    mask = np.zeros((40, 50), bool)
    mask[ys[cell[0]] + 7, xs[cell[1]] + 7] = True  # a pixel only that cell... and neighbours
    labels = mask_to_cells(mask, 16, GRID)
    assert labels[cell]
    res = evaluate_localization(model, ims, [mask] * 4, methods=("gradient", "occlusion"))
    for m in ("gradient", "occlusion"):
        assert res[m]["pointing_game"] == 1.0
        assert res[m]["auroc_pooled"] > 0.5
    with pytest.raises(ValueError, match="one mask per image"):
        evaluate_localization(model, ims, [mask] * 3)
    with pytest.raises(ValueError, match=r"masks\[0\]"):
        evaluate_localization(model, ims, [mask[:30]] * 4)
