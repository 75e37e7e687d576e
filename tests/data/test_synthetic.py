"""The synthetic data of eq. 3."""

import numpy as np
import pytest

from hyperkit.data import synthetic as syn


def blank(s0=0.3):
    return np.full((128, 128), s0, np.float32)


def test_corner_patch_has_no_location_penalty():
    img = blank(0.3)
    img[112:128, 0:16] = 0.8  # bottom-left corner
    assert syn.synthetic_score(img, 0.3, [[112, 0]]) == pytest.approx(5 - 0.5, abs=1e-6)


def test_centred_patch_has_full_penalty():
    img = blank(0.3)
    img[56:72, 56:72] = 0.3  # same shade as the background: only the location counts
    assert syn.synthetic_score(img, 0.3, [[56, 56]]) == pytest.approx(5 - 1.0)


def test_two_patches_combine_in_quadrature():
    img = blank(0.0)
    img[0:16, 0:16] = 0.6                      # corner: alpha = 0.6
    img[56:72, 56:72] = 0.2                    # centre: alpha = 0.2 + 1
    img[56:64, 56:72] = 0.4                    # half its pixels 0.4: alpha = 0.3 + 1
    expect = 5 - np.sqrt(0.6 ** 2 + 1.3 ** 2)
    assert syn.synthetic_score(img, 0.0, [[0, 0], [56, 56]]) == pytest.approx(expect, abs=1e-6)


def test_dist_n_is_centre_to_corner_patch_centre():
    assert syn.dist_n() == pytest.approx(np.hypot(56, 56))


def test_generated_scores_follow_eq3_and_spec():
    d = syn.generate(300, seed=5)
    assert d.images.shape == (300, 128, 128) and d.images.dtype == np.float32
    assert set(np.unique(d.counts)) == {1, 2, 3, 4, 5}
    for i in range(0, 300, 37):
        pos = d.positions[i, :d.counts[i]]
        assert d.scores[i] == pytest.approx(syn.synthetic_score(d.images[i], d.background[i], pos))
        assert (d.positions[i, d.counts[i]:] == -1).all()
        for r, c in pos:  # two shades, dark < 0.5 <= bright
            vals = np.unique(d.images[i, r:r + 16, c:c + 16])
            assert len(vals) <= 2 and vals.min() >= 0 and vals.max() <= 1
            if len(vals) == 2:
                assert vals[0] < 0.5 <= vals[1]
    assert ((0 <= d.background) & (d.background <= 1)).all()
    assert (d.scores <= 5).all() and (d.scores >= 5 - np.sqrt(5 * 4)).all()


def test_patches_do_not_overlap():
    d = syn.generate(200, seed=1, count=5)
    p = d.positions
    diff = np.abs(p[:, :, None] - p[:, None, :])
    clash = (diff < 16).all(-1) & ~np.eye(5, dtype=bool)
    assert not clash.any()


def test_seeded():
    a, b, c = syn.generate(20, 3), syn.generate(20, 3), syn.generate(20, 4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.scores, b.scores)
    assert not np.array_equal(a.images, c.images)


def test_fixed_content_only_positions_vary():
    d = syn.generate(50, seed=2, count=3, fixed_content=True)
    assert np.unique(d.background).size == 1 and (d.counts == 3).all()
    patches = [[d.images[i, r:r + 16, c:c + 16] for r, c in d.positions[i, :3]]
               for i in range(50)]
    for i in range(1, 50):
        for k in range(3):
            assert np.array_equal(patches[i][k], patches[0][k])
    assert np.unique(d.positions[:, 0], axis=0).shape[0] > 40
    assert np.std(d.scores) > 0


@pytest.mark.parametrize("kw, match", [
    ({"n": 0}, "n must be"), ({"n": 5, "count": 6}, "count"), ({"n": 5, "fixed_content": True},
                                                                "fixed count"),
])
def test_generate_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        syn.generate(**kw)


def test_score_errors():
    with pytest.raises(ValueError, match="square"):
        syn.synthetic_score(np.zeros((128, 64)), 0, [[0, 0]])
    with pytest.raises(ValueError, match="positions must lie"):
        syn.synthetic_score(blank(), 0, [[120, 0]])
    with pytest.raises(ValueError, match="1 to 5"):
        syn.synthetic_score(blank(), 0, np.zeros((6, 2)))
