"""bench/forgery_stage2.py's per-image centering (``--center``): each hyper-image loses its
own per-channel grid median, and nothing else changes."""

import numpy as np

from .scripts import load_script


def test_centered_removes_each_images_channel_median_only():
    fs = load_script("forgery_stage2")
    rng = np.random.default_rng(0)
    h = rng.normal(size=(4, 3, 5, 5)) + np.arange(4)[:, None, None, None] * 10
    y = np.array([0, 1, 0, 1])
    out = fs.centered({"train": (h, y)})
    c, yy = out["train"]
    assert yy is y and c.shape == h.shape
    np.testing.assert_allclose(np.median(c, axis=(2, 3)), 0, atol=1e-12)
    # differences within an image are kept
    np.testing.assert_allclose(c - c[:, :, :1, :1], h - h[:, :, :1, :1])
