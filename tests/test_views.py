"""Views of an image (hyperkit.views): the mirror in every ecosystem's layout, how views'
scores combine, the names checked, and a two-stage model that scores both views."""

import json

import numpy as np
import pytest
import torch
from scipy import special

from hyperkit import nets
from hyperkit.model import TwoStage
from hyperkit.views import check_views, combine_views, logit, mirror_image, view_images


def test_the_mirror_reverses_columns_in_each_layout_and_copies():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)  # numpy (H, W, C)
    m = mirror_image(rgb)
    np.testing.assert_array_equal(m, rgb[:, ::-1])
    assert m.flags.c_contiguous and m.dtype == np.uint8
    gray = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(mirror_image(gray), [[2, 1, 0], [5, 4, 3]])
    t = torch.arange(2 * 2 * 3).reshape(2, 2, 3)  # torch (C, H, W)
    torch.testing.assert_close(mirror_image(t), t.flip(-1))
    assert mirror_image(t).is_contiguous()
    np.testing.assert_array_equal(mirror_image(mirror_image(rgb)), rgb)
    with pytest.raises(TypeError, match="image"):
        mirror_image([[1, 2]])
    ims = [rgb, gray]
    assert view_images(ims, "original")[0] is rgb
    np.testing.assert_array_equal(view_images(ims, "mirror")[1], gray[:, ::-1])
    with pytest.raises(ValueError, match="view"):
        view_images(ims, "upside-down")


def test_views_combine_as_mean_logits_or_means():
    a, b = np.array([0.9, 0.2, 0.5]), np.array([0.7, 0.4, 0.5])
    got = combine_views([a, b], "classifier")
    np.testing.assert_allclose(got, special.expit((special.logit(a) + special.logit(b)) / 2))
    np.testing.assert_allclose(combine_views([a, b], "regression"), (a + b) / 2)
    one = combine_views([a.astype(np.float32)], "classifier")
    assert one.dtype == np.float64 and np.array_equal(one, a.astype(np.float32))
    # certainties are clipped, not infinite
    assert np.isfinite(logit([0.0, 1.0])).all()
    assert 0 < combine_views([np.array([1.0]), np.array([0.0])], "classifier")[0] < 1
    with pytest.raises(ValueError, match="same images"):
        combine_views([a, b[:2]], "classifier")
    with pytest.raises(ValueError, match="at least one"):
        combine_views([], "classifier")
    with pytest.raises(ValueError, match="kind"):
        combine_views([a], "ranking")


@pytest.mark.parametrize("bad", ["original", [], ("original", "original"), ["flip"], [1],
                                 None])
def test_view_names_are_checked(bad):
    with pytest.raises(ValueError, match="views"):
        check_views(bad)


def test_check_views_keeps_order_and_returns_a_tuple():
    assert check_views(["original", "mirror"]) == ("original", "mirror")
    assert check_views(("mirror",)) == ("mirror",)


def _model(views):
    torch.manual_seed(0)
    s1 = nets.build("Input(8,8,3) - C(4) - MP(2) - FC(6)")
    s2 = nets.build("Input(3,3,6) - C(4) - FC(1,'sigmoid')")
    return TwoStage(s1, s2, stage1_arch="Input(8,8,3) - C(4) - MP(2) - FC(6)",
                    stage2_arch="Input(3,3,6) - C(4) - FC(1,'sigmoid')", patch=(8, 8),
                    grid=(3, 3), lcn=False, kind="classifier", classes=["a", "b"],
                    views=views).eval()


def test_a_two_view_model_scores_the_mean_logit_of_both_and_saves_its_views(tmp_path):
    rng = np.random.default_rng(0)
    ims = [rng.random((20, 17, 3)).astype(np.float32), rng.random((16, 24, 3)).astype(np.float32)]
    one, two = _model(("original",)), _model(("original", "mirror"))
    p0 = one.predict(ims)
    p1 = one.predict([im[:, ::-1].copy() for im in ims])
    assert not np.allclose(p0, p1)  # the mirror is another reading
    np.testing.assert_allclose(two.predict(ims), combine_views([p0, p1], "classifier"),
                               rtol=1e-6)
    # a batch array and a torch list give the same scores as the numpy list
    np.testing.assert_allclose(two.predict(torch.from_numpy(ims[0]).permute(2, 0, 1)[None]),
                               two.predict(ims[:1]), rtol=1e-6)
    d = two.save(tmp_path / "m")
    assert json.loads((d / "model.json").read_text())["views"] == ["original", "mirror"]
    back = TwoStage.load(d)
    assert back.views == ("original", "mirror")
    np.testing.assert_allclose(back.predict(ims), two.predict(ims), rtol=1e-6)
    # a model.json written before views existed scores the original only
    info = json.loads((d / "model.json").read_text())
    del info["views"]
    (d / "model.json").write_text(json.dumps(info))
    assert TwoStage.load(d).views == ("original",)
    info["views"] = ["original", "sideways"]
    (d / "model.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="views"):
        TwoStage.load(d)
    with pytest.raises(ValueError, match="views"):
        _model("mirror")
