"""The objectives fit minimizes, against their formulas."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hyperkit.training import MAE, MAEPlusPLCC, Objective, RankingHinge, WeightedBCE

from .. import reference


def test_mae_is_l1_on_scores_of_either_shape():
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(17, generator=g), torch.randn(17, generator=g)
    assert torch.equal(MAE()(out, y), F.l1_loss(out, y))
    assert torch.equal(MAE()(out[:, None], y), F.l1_loss(out, y))  # (N, 1) outputs
    assert MAE()(out, y).item() == pytest.approx(reference.mae(out, y), rel=1e-6)
    assert MAE().name == "mae" and repr(MAE()) == "mae"


def test_mae_has_gradients():
    out = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    MAE()(out, torch.tensor([0.0, 0.0, 0.5])).backward()
    assert out.grad.tolist()[:2] == pytest.approx([1 / 3, -1 / 3])


def test_ranking_hinge_formula_margin_and_sign():
    hinge = RankingHinge()
    assert hinge.margin == 3.0 and hinge.name == "ranking_hinge(margin=3)"
    # y = +1: the first input should score higher (d > 0); loss max(0, 3 - d)
    assert hinge(torch.tensor([5.0]), torch.tensor([1.0])).item() == 0.0
    assert hinge(torch.tensor([1.0]), torch.tensor([1.0])).item() == 2.0
    assert hinge(torch.tensor([0.0]), torch.tensor([1.0])).item() == 3.0
    # y = -1: the second should; a positive d is penalized beyond the margin
    assert hinge(torch.tensor([1.0]), torch.tensor([-1.0])).item() == 4.0
    assert hinge(torch.tensor([-5.0]), torch.tensor([-1.0])).item() == 0.0
    assert RankingHinge(margin=0.5)(torch.tensor([0.25]), torch.tensor([1.0])).item() == 0.25
    g = torch.Generator().manual_seed(1)
    d = torch.randn(40, generator=g) * 4
    y = torch.where(torch.rand(40, generator=g) > 0.5, 1.0, -1.0)
    for m in (3.0, 1.0, 0.1):
        got = RankingHinge(m)(d[:, None], y).item()  # (N, 1) outputs too
        assert got == pytest.approx(reference.ranking_hinge(d, y, m), rel=1e-6)


def test_weighted_bce_is_the_weighted_formula_on_logits():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(50, generator=g, dtype=torch.float64) * 3
    y = (torch.rand(50, generator=g) > 0.3).double()
    for w in ((1.0, 1.0), (1.0, 4.0), (0.25, 2.0)):
        got = WeightedBCE(w)(z, y).item()
        assert got == pytest.approx(reference.weighted_bce(z, y, w), rel=1e-10)
    # equal weights: plain BCE on logits; weights scale each class's terms
    assert WeightedBCE()(z, y).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(z, y).item(), rel=1e-12)
    assert WeightedBCE((2.0, 2.0))(z, y).item() == pytest.approx(
        2 * WeightedBCE()(z, y).item(), rel=1e-12)
    only0 = WeightedBCE((5.0, 1.0))(z[y == 0], y[y == 0]).item()
    assert only0 == pytest.approx(5 * WeightedBCE()(z[y == 0], y[y == 0]).item(), rel=1e-12)
    # logits, not probabilities: stable for large |z|
    big = WeightedBCE((1.0, 2.0))(torch.tensor([200.0, -200.0]), torch.tensor([0.0, 1.0]))
    assert math.isfinite(big.item()) and big.item() == pytest.approx((200 + 2 * 200) / 2)
    assert WeightedBCE((1, 3)).name == "weighted_bce(w0=1, w1=3)"


def test_weighted_bce_float32_outputs():
    z = torch.tensor([0.3, -1.2, 2.0])
    y = torch.tensor([1.0, 0.0, 0.0])
    got = WeightedBCE((0.5, 2.0))(z, y)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(reference.weighted_bce(z, y, (0.5, 2.0)), rel=1e-6)


@pytest.mark.parametrize("make", [
    lambda: RankingHinge(0), lambda: RankingHinge(-1.0), lambda: RankingHinge(float("nan")),
    lambda: WeightedBCE((0, 1)), lambda: WeightedBCE((1.0, -2.0)),
    lambda: WeightedBCE((float("nan"), 1.0)), lambda: WeightedBCE((1.0, 2.0, 3.0)),
    lambda: WeightedBCE((1.0,)),
])
def test_bad_parameters(make):
    with pytest.raises(ValueError):
        make()


def test_error_messages_name_the_parameter():
    with pytest.raises(ValueError, match="margin must be > 0"):
        RankingHinge(0)
    with pytest.raises(ValueError, match="weights must be two numbers > 0"):
        WeightedBCE((0, 1))


def test_base_objective():
    with pytest.raises(NotImplementedError):
        Objective()(torch.zeros(1), torch.zeros(1))

    class Squared(Objective):
        name = "squared"

        def __call__(self, outputs, targets):
            return ((outputs.reshape(-1) - targets) ** 2).mean()

    assert repr(Squared()) == "squared"
    assert Squared()(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])).item() == 5.0
    assert np.isclose(Squared()(torch.ones(2, 1), torch.zeros(2)).item(), 1.0)


def test_neg_spearman_is_minus_the_rank_correlation():
    from hyperkit.training.objectives import NegSpearman

    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert float(NegSpearman()(y * 10, y)) == pytest.approx(-1.0)
    assert float(NegSpearman()(-y, y)) == pytest.approx(1.0)
    assert float(NegSpearman()(torch.ones(4), y)) == 0.0  # a constant ranks nothing
    with pytest.raises(ValueError, match=">= 2 paired values"):
        NegSpearman()(torch.ones(1), torch.ones(1))


def test_mae_plus_plcc_is_mae_plus_weighted_one_minus_pearson():
    o = torch.tensor([1.0, 3.0, 2.0, 7.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([2.0, 2.5, 4.0, 6.0], dtype=torch.float64)
    r = np.corrcoef(o.detach().numpy(), t.numpy())[0, 1]
    mae = float(np.mean(np.abs(o.detach().numpy() - t.numpy())))
    loss = MAEPlusPLCC(2.5)(o, t)
    assert float(loss) == pytest.approx(mae + 2.5 * (1 - r), rel=1e-12)
    loss.backward()
    assert torch.isfinite(o.grad).all() and o.grad.abs().sum() > 0
    assert float(MAEPlusPLCC(0)(o, t)) == pytest.approx(mae)  # weight 0: plain MAE


def test_mae_plus_plcc_without_a_correlation_is_mae():
    # one image, or a constant output: no correlation to reward, no NaN
    one = MAEPlusPLCC(1.0)(torch.tensor([3.0]), torch.tensor([1.0]))
    assert float(one) == pytest.approx(2.0)
    flat = MAEPlusPLCC(1.0)(torch.zeros(4), torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert float(flat) == pytest.approx(2.5)


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf"), "1"])
def test_mae_plus_plcc_bad_weight(weight):
    with pytest.raises(ValueError, match="weight must be a finite number >= 0"):
        MAEPlusPLCC(weight)
