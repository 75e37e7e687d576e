"""The siamese ranker of Fig. 3: one set of channel weights, d = w2^T relu(w1^T (C1 - C2))
on hand-made features, the ranking hinge's value and gradient sign, training with fit,
and the stage-1 pair source it trains on (same position, shuffled order, mean, flips)."""

import numpy as np
import pytest
import torch

from hyperkit.data.forgery.pairs import SiamesePairs
from hyperkit.nets.siamese import Centered, SiameseRanker
from hyperkit.training import RankingHinge, TrainConfig, fit

TINY = "Input(64,64,3) - C(4) - MP(4) - C(4) - MP(4) - FC(6) - Drop(0.5)"


def test_the_two_channels_share_one_set_of_weights():
    r = SiameseRanker(TINY, hidden=5)
    names = [n for n, _ in r.named_parameters()]
    assert sum(n.startswith("channel.") for n in names) == 6  # 3 layers, each W and b
    assert [n for n in names if not n.startswith("channel.")] == ["w1.weight", "w2.weight"]
    assert r.input_shape == (3, 64, 64) and r.feature_dim == 6
    x1, x2 = torch.rand(3, 3, 64, 64), torch.rand(3, 3, 64, 64)
    r.eval()
    d = r(x1, x2)
    assert d.shape == (3,)
    want = r.rank(r.features(x1), r.features(x2))
    torch.testing.assert_close(d, want)
    torch.testing.assert_close(r(x1, x1), torch.zeros(3))  # C1 - C2 = 0
    with pytest.raises(ValueError, match="one shape"):
        r(x1, x2[:2])
    with pytest.raises(TypeError, match="features"):
        SiameseRanker(torch.nn.Linear(2, 2))
    assert SiameseRanker().feature_dim == 500  # the paper's channel


def test_rank_is_w2_relu_w1_of_the_feature_difference():
    r = SiameseRanker(TINY, hidden=2)
    with torch.no_grad():
        r.w1.weight.copy_(torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, -1.0, 0, 0, 0, 0]]))
        r.w2.weight.copy_(torch.tensor([[2.0, 3.0]]))
    c1 = torch.tensor([[3.0, 1, 0, 0, 0, 0], [0.0, 0, 0, 0, 0, 0]])
    c2 = torch.tensor([[1.0, 2, 0, 0, 0, 0], [1.0, 0, 0, 0, 0, 0]])
    # row 0: diff (2, -1): relu(2) * 2 + relu(1) * 3 = 7; row 1: diff (-1, 0): 0
    torch.testing.assert_close(r.rank(c1, c2), torch.tensor([7.0, 0.0]))


def test_ranking_hinge_value_and_gradient_sign():
    loss = RankingHinge(3)
    d = torch.tensor([4.0, 1.0, -1.0, 0.5], requires_grad=True)
    y = torch.tensor([1.0, 1.0, -1.0, -1.0])
    value = loss(d, y)
    # max(0, 3 - y d): 0, 2, 2, 3.5 -> mean 1.875
    assert value.item() == pytest.approx(1.875)
    value.backward()
    # descending the gradient moves d towards y's side; a satisfied pair is left alone
    np.testing.assert_allclose(d.grad.numpy(), [0.0, -0.25, 0.25, 0.25])
    # the gradient reaches the channel: d for an authentic-first pair goes up
    r = SiameseRanker(TINY, hidden=4).eval()
    x1, x2 = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    c1 = r.features(x1).detach().requires_grad_(True)
    c2 = r.features(x2).detach()
    loss(r.rank(c1, c2), torch.ones(2)).backward()
    with torch.no_grad():
        before = r.rank(c1, c2).sum()
        after = r.rank(c1 - 1e-3 * c1.grad, c2).sum()
    assert after >= before


def flat_pair(rng, h=80, w=96, value=0.3):
    a = np.clip(np.full((h, w, 3), value) + rng.normal(0, 0.01, (h, w, 3)), 0, 1)
    t = a.copy()
    t[20:50, 30:60] = 0.9
    return a.astype(np.float32), t.astype(np.float32)


def test_pairs_are_cut_at_one_position_and_their_order_is_shuffled():
    rng = np.random.default_rng(0)
    pairs = [flat_pair(rng), flat_pair(rng, value=0.5)]
    tops = [np.array([[0, 0], [10, 20], [16, 32]]), np.array([[5, 5], [0, 32], [16, 0]])]
    src = SiamesePairs(pairs, tops, seed=3)
    assert len(src) == 6
    au, tp = src.patches(np.array([1, 5]))
    np.testing.assert_array_equal(au[0].numpy(), pairs[0][0][10:74, 20:84].transpose(2, 0, 1))
    np.testing.assert_array_equal(tp[1].numpy(), pairs[1][1][16:80, 0:64].transpose(2, 0, 1))
    (x1, x2), y = src.batch(np.arange(6))
    assert set(y.tolist()) <= {-1.0, 1.0}
    for i in range(6):  # y = 1: authentic first
        a, t = src.patches(np.array([i]))
        first, second = (a, t) if y[i] > 0 else (t, a)
        torch.testing.assert_close(x1[i], first[0])
        torch.testing.assert_close(x2[i], second[0])
    _, y_again = src.batch(np.arange(6))
    torch.testing.assert_close(y, y_again)  # validation: fixed order


def test_mean_subtraction_flips_and_replayable_draws():
    rng = np.random.default_rng(1)
    pairs = [flat_pair(rng) for _ in range(3)]
    tops = [np.array([[0, 0], [16, 32]])] * 3
    mean = SiamesePairs(pairs, tops).channel_mean()
    au, tp = SiamesePairs(pairs, tops).patches(np.arange(6))
    np.testing.assert_allclose(mean, torch.cat([au, tp]).double().mean((0, 2, 3)).numpy())
    train = SiamesePairs(pairs, tops, mean=mean, augment=True, seed=7)
    idx = np.arange(6)
    draws = [train.batch(idx) for _ in range(8)]
    ys = torch.stack([d[1] for d in draws])
    assert (ys == 1).any() and (ys == -1).any()
    assert not all(torch.equal(ys[0], y) for y in ys)  # a fresh order each epoch
    a, t = train.patches(idx)
    a, t = a - torch.tensor(mean, dtype=torch.float32)[:, None, None], \
        t - torch.tensor(mean, dtype=torch.float32)[:, None, None]
    flipped = 0
    for (x1, x2), y in draws:
        auth = torch.where((y > 0)[:, None, None, None], x1, x2)
        for i in range(6):
            if torch.equal(auth[i], a[i].flip(-1)):
                flipped += 1
            else:
                torch.testing.assert_close(auth[i], a[i])
    assert 0 < flipped < 48
    # a resumed run replays the draws of the epochs to come
    resumed = SiamesePairs(pairs, tops, mean=mean, augment=True, seed=7)
    resumed.skip_draws(5)
    for k in range(5, 8):
        (r1, r2), ry = resumed.batch(idx)
        torch.testing.assert_close(ry, draws[k][1])
        torch.testing.assert_close(r1, draws[k][0][0])
    with pytest.raises(ValueError, match="3 finite numbers"):
        SiamesePairs(pairs, tops, mean=[0.1])
    with pytest.raises(ValueError, match="one n"):
        SiamesePairs(pairs, [np.zeros((2, 2)), np.zeros((3, 2)), np.zeros((2, 2))])
    with pytest.raises(ValueError, match="does not fit"):
        SiamesePairs(pairs, [np.array([[40, 0]])] * 3).batch(np.arange(1))


def test_jitter_moves_both_windows_alike_inside_the_image_and_replays():
    rng = np.random.default_rng(2)
    pairs = [flat_pair(rng) for _ in range(2)]  # 80 x 96: tops up to (16, 32)
    tops = [np.array([[0, 0], [16, 32], [8, 16]])] * 2
    idx = np.arange(6)
    plain = SiamesePairs(pairs, tops, augment=True, seed=4)
    moved = SiamesePairs(pairs, tops, augment=True, seed=4, jitter=6)
    (p1, _), py = plain.batch(idx)
    (m1, m2), my = moved.batch(idx)
    torch.testing.assert_close(py, my)  # order draws unchanged by jitter
    seen = set()
    for i in idx:  # each sample's two patches come from one shifted window, inside the image
        a_img, t_img = pairs[i // 3]
        first, second = (m1[i], m2[i]) if my[i] > 0 else (m2[i], m1[i])
        hits = [(dr, dc) for dr in range(-6, 7) for dc in range(-6, 7)
                if 0 <= tops[0][i % 3][0] + dr <= 16 and 0 <= tops[0][i % 3][1] + dc <= 32
                for r, c in [(tops[0][i % 3][0] + dr, tops[0][i % 3][1] + dc)]
                if np.array_equal(a_img[r:r + 64, c:c + 64].transpose(2, 0, 1),
                                  first.numpy()) or
                np.array_equal(a_img[r:r + 64, c:c + 64][:, ::-1].transpose(2, 0, 1),
                               first.numpy())]
        assert hits, f"sample {i}: no window within 6 px gives its authentic patch"
        r, c = tops[0][i % 3][0] + hits[0][0], tops[0][i % 3][1] + hits[0][1]
        flip = not np.array_equal(a_img[r:r + 64, c:c + 64].transpose(2, 0, 1), first.numpy())
        t_win = t_img[r:r + 64, c:c + 64]
        np.testing.assert_array_equal(  # the tampered patch: the same window
            (t_win[:, ::-1] if flip else t_win).transpose(2, 0, 1), second.numpy())
        seen |= set(hits)
    assert len(seen) > 1 and not torch.equal(p1, m1)
    again = SiamesePairs(pairs, tops, augment=True, seed=4, jitter=6)
    (a1, _), _ = again.batch(idx)
    torch.testing.assert_close(a1, m1)  # the same draws from the same start
    later = [moved.batch(idx) for _ in range(2)]  # draws 2 and 3 of an uninterrupted run
    resumed = SiamesePairs(pairs, tops, augment=True, seed=4, jitter=6)
    resumed.skip_draws(2)
    (r1, r2), _ = resumed.batch(idx)
    torch.testing.assert_close(r1, later[1][0][0])  # both patches, shifted alike
    torch.testing.assert_close(r2, later[1][0][1])
    val = SiamesePairs(pairs, tops, seed=4, jitter=6)  # validation: never moved
    torch.testing.assert_close(val.batch(idx)[0][0], SiamesePairs(pairs, tops, seed=4)
                               .batch(idx)[0][0])
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="jitter must be an integer"):
            SiamesePairs(pairs, tops, jitter=bad)


def test_pairs_stream_from_files_and_fit_learns_the_ranking(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    files = []
    for j in range(4):
        a, t = flat_pair(rng, value=0.2 + 0.1 * j)
        pa, pt = tmp_path / f"a{j}.png", tmp_path / f"t{j}.png"
        Image.fromarray((a * 255).astype(np.uint8)).save(pa)
        Image.fromarray((t * 255).astype(np.uint8)).save(pt)
        files.append((str(pa), pt))
    tops = [np.array([[0, 10], [10, 20], [16, 30], [4, 0]])] * 4
    train = SiamesePairs(files[:3], tops[:3], augment=True, seed=0, cache_mb=0.05)
    val = SiamesePairs(files[3:], tops[3:], seed=0)
    torch.manual_seed(0)
    r = SiameseRanker("Input(64,64,3) - C(4) - MP(4) - C(4) - MP(4) - FC(8)", hidden=8)
    res = fit(r, train, val, RankingHinge(3),
              TrainConfig(epochs=6, patience=6, batch_size=6, lr=0.01), log=None,
              progress=False)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert len(train._cache) <= 2  # 50 KB of cache holds two 80x96 RGB files (23 KB each)
    (x1, x2), y = val.batch(np.arange(len(val)))
    r.eval()
    with torch.no_grad():
        assert (torch.sign(r(x1, x2)) == y).float().mean() >= 0.75


def test_centered_subtracts_the_mean_before_the_features():
    net = SiameseRanker(TINY).channel.eval()
    c = Centered(net, [0.1, 0.2, 0.3])
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(c.features(x),
                               net.features(x - torch.tensor([0.1, 0.2, 0.3])[:, None, None]))
    assert c.input_shape == (3, 64, 64) and "mean" not in c.state_dict()
    with pytest.raises(ValueError, match="one per channel"):
        Centered(net, [0.1])


def test_ranks_that_draw_shares_set_by_epoch_make_one_process_draws():
    from hyperkit.training.loop import epoch_order

    rng = np.random.default_rng(3)
    pairs = [flat_pair(rng) for _ in range(3)]
    tops = [np.array([[0, 0], [16, 32], [8, 16], [4, 4]])] * 3
    one = SiamesePairs(pairs, tops, augment=True, seed=7, jitter=4)
    ranks = [SiamesePairs(pairs, tops, augment=True, seed=7, jitter=4) for _ in range(2)]
    for epoch in range(3):
        one.set_epoch(epoch)
        (w1, w2), wy = one.batch(np.arange(len(one)))
        for r, src in enumerate(ranks):  # each rank draws its share of this epoch only
            src.set_epoch(epoch)
            share = epoch_order(len(one), 0, epoch, world=2, rank=r)
            (x1, x2), y = src.batch(share)
            torch.testing.assert_close(y, wy[share])
            torch.testing.assert_close(x1, w1[share])
            torch.testing.assert_close(x2, w2[share])


def test_a_patch_score_head_adds_each_patchs_tamper_logit():
    from hyperkit.training import RankingHingePatchScore

    torch.manual_seed(0)
    r = SiameseRanker(TINY, hidden=5, patch_score=True).eval()
    x1, x2 = torch.rand(4, 3, 64, 64), torch.rand(4, 3, 64, 64)
    out = r(x1, x2)
    assert out.shape == (4, 3)
    torch.testing.assert_close(out[:, 0], r.rank(r.features(x1), r.features(x2)))
    torch.testing.assert_close(out[:, 1], r.w3(r.features(x1)).squeeze(1))
    torch.testing.assert_close(out[:, 2], r.w3(r.features(x2)).squeeze(1))
    assert SiameseRanker(TINY, hidden=5)(x1, x2).shape == (4,)  # the paper's head alone
    obj = RankingHingePatchScore(margin=3.0, weight=2.0)
    y = torch.tensor([1.0, -1.0, 1.0, -1.0])  # +1: the authentic patch is first
    o = torch.tensor([[3.0, -20.0, 20.0], [-3.0, 20.0, -20.0],
                      [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    # pairs 0-1: hinge 0, logits right (BCE ~ 0); pairs 2-3: hinge 3, BCE log 2 each
    want = (0 + 0 + 3 + 3) / 4 + 2.0 * (2 * np.log(2)) / 4
    assert obj(o, y).item() == pytest.approx(want, rel=1e-5)
    wrong = o.clone()
    wrong[:2, 1:] *= -1  # the tampered patch scored authentic
    assert obj(wrong, y).item() > want + 10
    with pytest.raises(ValueError, match=r"outputs must be \(N, 3\)"):
        obj(torch.zeros(4), y)
    # the plain hinge reads d of such outputs (stage 1's validation criterion)
    assert RankingHinge(3.0)(o, y).item() == pytest.approx(1.5)
    with pytest.raises(ValueError, match="outputs must be d"):
        RankingHinge(3.0)(torch.zeros(4, 2), y)
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="weight must be a finite number > 0"):
            RankingHingePatchScore(weight=bad)


def test_authentic_tops_move_the_authentic_patch_only():
    rng = np.random.default_rng(2)
    pairs = [flat_pair(rng), flat_pair(rng, value=0.5)]
    tops = [np.array([[0, 0], [16, 32]]), np.array([[5, 5], [0, 32]])]
    at = [np.array([[8, 8], [16, 0]]), np.array([[0, 0], [10, 20]])]
    src = SiamesePairs(pairs, tops, authentic_tops=at, augment=True, seed=1, jitter=3)
    au, tp = src.patches(np.array([1, 3]))
    np.testing.assert_array_equal(au[0].numpy(), pairs[0][0][16:80, 0:64].transpose(2, 0, 1))
    np.testing.assert_array_equal(au[1].numpy(), pairs[1][0][10:74, 20:84].transpose(2, 0, 1))
    np.testing.assert_array_equal(tp[0].numpy(), pairs[0][1][16:80, 32:96].transpose(2, 0, 1))
    np.testing.assert_array_equal(tp[1].numpy(), pairs[1][1][0:64, 32:96].transpose(2, 0, 1))
    # a shift moves both windows alike, each kept inside the image
    au, tp = src.patches(np.array([1]), np.array([[-20, 40]]))
    np.testing.assert_array_equal(au[0].numpy(), pairs[0][0][0:64, 32:96].transpose(2, 0, 1))
    np.testing.assert_array_equal(tp[0].numpy(), pairs[0][1][0:64, 32:96].transpose(2, 0, 1))
    (x1, x2), y = src.batch(np.arange(4))
    assert x1.shape == (4, 3, 64, 64) and set(y.tolist()) <= {-1.0, 1.0}
    same = SiamesePairs(pairs, tops, authentic_tops=tops).patches(np.arange(4))
    for a, b in zip(same, SiamesePairs(pairs, tops).patches(np.arange(4))):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="authentic_tops has 1 position arrays for 2"):
        SiamesePairs(pairs, tops, authentic_tops=at[:1])
    with pytest.raises(ValueError, match=r"authentic_tops must be \(2, 2\)"):
        SiamesePairs(pairs, tops, authentic_tops=[np.zeros((3, 2)), np.zeros((2, 2))])
