"""The forgery format-only baseline (issue 20): it reads only file properties, and it finds
a format leak when one class is saved differently."""

import numpy as np
from PIL import Image

from hyperkit.evaluation.classification import roc_auc
from hyperkit.tasks.forgery import format_baseline


def _files(folder, n, fmt, quality, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = folder / f"{fmt}{quality}_{seed}_{i}.{'jpg' if fmt == 'JPEG' else 'png'}"
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
            p, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
        out.append(p)
    return out


def test_features_read_the_format_and_the_jpeg_tables(tmp_path):
    jpg = _files(tmp_path, 1, "JPEG", 50, 0)[0]
    png = _files(tmp_path, 1, "PNG", 0, 0)[0]
    fj, fp = format_baseline.file_features(jpg), format_baseline.file_features(png)
    assert fj[0] == 1 and fp[1] == 1  # one-hot JPEG / PNG
    assert fj[5] > 0 and fp[5] == 0  # luma table mean only for the JPEG
    assert np.isclose(fj[-2], np.log(48)) and np.isclose(fj[-1], np.log(64))


def test_a_format_leak_is_found_and_a_fair_set_is_not(tmp_path):
    # leak: authentic saved at quality 95, tampered at 60
    au, tp = _files(tmp_path, 12, "JPEG", 95, 1), _files(tmp_path, 12, "JPEG", 60, 2)
    au2, tp2 = _files(tmp_path, 6, "JPEG", 95, 3), _files(tmp_path, 6, "JPEG", 60, 4)
    (p,) = format_baseline.fit_predict(au + tp, np.r_[np.ones(12), np.zeros(12)], [au2 + tp2])
    assert roc_auc(p, np.r_[np.ones(6), np.zeros(6)]) == 1.0
    # fair: both classes with the same mix of qualities
    mix = lambda s: _files(tmp_path, 6, "JPEG", 95, s) + _files(tmp_path, 6, "JPEG", 60, s + 50)  # noqa: E731
    a, t, a2, t2 = mix(10), mix(11), mix(12), mix(13)
    (p,) = format_baseline.fit_predict(a + t, np.r_[np.ones(12), np.zeros(12)], [a2 + t2])
    assert roc_auc(p, np.r_[np.ones(12), np.zeros(12)]) < 0.8
