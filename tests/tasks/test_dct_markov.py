"""The DCT Markov baseline (Table 3's Sutthiwan row): features by their definition, and
an SVM that separates what those features see (JPEG blocking)."""

import numpy as np
import pytest
from PIL import Image
from scipy.fft import dctn

from hyperkit.tasks.forgery import dct_markov


def test_block_dct_is_the_blockwise_orthonormal_dct():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (19, 26))
    f = dct_markov.block_dct(x)
    assert f.shape == (16, 24)
    want = np.abs(np.rint(dctn(x[8:16, 16:24] - 128, norm="ortho")))
    np.testing.assert_array_equal(f[8:16, 16:24], want)
    with pytest.raises(ValueError, match="at least 8 x 8"):
        dct_markov.block_dct(np.zeros((7, 30)))


def test_markov_features_are_transition_probabilities():
    rng = np.random.default_rng(1)
    f = dct_markov.markov_features(rng.uniform(0, 255, (64, 64)))
    k = 2 * dct_markov.T + 1
    assert f.shape == (4 * k * k,)
    rows = f.reshape(4, k, k).sum(2)
    assert np.all((np.abs(rows - 1) < 1e-12) | (rows == 0))  # each used row sums to 1
    flat = dct_markov.markov_features(np.full((64, 64), 128.0))  # all coefficients 0
    assert flat.reshape(4, k, k)[:, dct_markov.T, dct_markov.T].tolist() == [1.0] * 4


def test_svm_separates_jpeg_blocking_from_clean_images(tmp_path):
    pytest.importorskip("sklearn")  # in the test extra; the arm logs and skips without it
    rng = np.random.default_rng(2)
    files, labels = [], []
    for i in range(48):
        small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        im = Image.fromarray(small).resize((128, 96), Image.Resampling.BICUBIC)
        if i % 2:  # label 0: blocky (quality 30 JPEG, decoded, stored losslessly)
            im.save(tmp_path / "t.jpg", quality=30)
            im = Image.open(tmp_path / "t.jpg").convert("RGB")
        im.save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
        labels.append(1 - i % 2)
    y = np.array(labels, dtype=np.float32)
    val, test = dct_markov.fit_predict(files[:24], y[:24], files[24:36], y[24:36],
                                       [files[36:]])
    assert val.shape == (12,) and test.shape == (12,)
    assert np.all((test > 0) & (test < 1))
    from hyperkit.evaluation.classification import roc_auc

    assert roc_auc(test, y[36:]) > 0.9
