"""Table 3's missing row: the DCT-domain Markov baseline of Sutthiwan et al. (2011).

Splicing disturbs the statistics of neighbouring block-DCT coefficients, most visibly in
the chroma channels. Following Shi, Chen and Chen (2007), whose features Sutthiwan et
al. applied to the Cr channel of CASIA's colour images:

1. the Cr channel, cut to whole 8 x 8 blocks, each block transformed by the orthonormal
   2-D DCT (JPEG's transform), coefficients rounded, absolute values: an array F of the
   image's size;
2. difference arrays of F along four directions (horizontal, vertical, diagonal,
   anti-diagonal), clipped to [-T, T];
3. per direction, the transition probabilities P(next = n | current = m) of neighbouring
   differences along that direction: (2T + 1)^2 features each, 4 (2T + 1)^2 in all
   (324 at T = 4);
4. an RBF support-vector machine on the standardized features (scikit-learn), its C
   picked on the validation images' ROC AUC.

This is the Markov part of their method; their boundary-derivative features are left
out, so our row measures that family of features, not their exact system.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

T = 4  # threshold of the difference arrays
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)  # SVM C values tried on the validation images

# direction -> (slice of the current element, slice of the next one)
_DIRS = {
    "h": ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
    "v": ((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
    "d": ((slice(None, -1), slice(None, -1)), (slice(1, None), slice(1, None))),
    "m": ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))),
}


def block_dct(channel: np.ndarray) -> np.ndarray:
    """|round(8 x 8 block DCT)| of a 2-D array (cut to whole blocks), same layout."""
    from scipy.fft import dctn

    h, w = (s - s % 8 for s in channel.shape)
    if h == 0 or w == 0:
        raise ValueError(f"channel must be at least 8 x 8, got {channel.shape}")
    x = channel[:h, :w].astype(np.float64) - 128.0
    blocks = x.reshape(h // 8, 8, w // 8, 8)
    coef = dctn(blocks, axes=(1, 3), norm="ortho")
    return np.abs(np.rint(coef)).reshape(h, w)


def markov_features(channel: np.ndarray, t: int = T) -> np.ndarray:
    """The 4 (2t + 1)^2 transition probabilities of one channel (float64)."""
    f = block_dct(channel)
    feats = []
    for cur, nxt in _DIRS.values():
        d = np.clip(f[cur] - f[nxt], -t, t).astype(np.int64) + t  # difference array
        a, b = d[cur].reshape(-1), d[nxt].reshape(-1)  # neighbours along the direction
        counts = np.zeros((2 * t + 1, 2 * t + 1))
        np.add.at(counts, (a, b), 1.0)
        rows = counts.sum(1, keepdims=True)
        feats.append(np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0))
    return np.concatenate([x.reshape(-1) for x in feats])


def file_features(path: str | Path) -> np.ndarray:
    """Markov features of the Cr channel of an image file (decoded as RGB)."""
    from ...images import read_image

    rgb = read_image(path)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    rgb = rgb[..., :3].astype(np.float64)
    if rgb.max() > 255:  # 16-bit files: to the 8-bit range JPEG's Cr lives in
        rgb = rgb / 257.0
    cr = 128.0 + 0.5 * rgb[..., 0] - 0.418688 * rgb[..., 1] - 0.081312 * rgb[..., 2]
    return markov_features(cr)


@functools.lru_cache(maxsize=1 << 16)
def _cached_features(path: str) -> np.ndarray:
    """:func:`file_features`, decoded once per process: every seed of a run scores the
    same files (CASIA v2: 12,600 x 324 floats, 33 MB)."""
    return file_features(path)


def _features(paths: Sequence[str | Path]) -> np.ndarray:
    return np.stack([_cached_features(str(p)) for p in paths])


def fit_predict(train: Sequence[str | Path], y_train: np.ndarray,
                val: Sequence[str | Path], y_val: np.ndarray,
                others: Sequence[Sequence[str | Path]],
                log: Callable[[str], None] | None = None) -> list[np.ndarray]:
    """Fits the SVM on the training files (labels 1 = authentic), picks C on the
    validation files' ROC AUC, and returns P(authentic)-like scores (the sigmoid of the
    SVM's decision value) for ``val`` and each list of ``others``.

    Raises:
        ImportError with the install command when scikit-learn is missing.
    """
    try:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC
    except ImportError as e:
        raise ImportError("the DCT Markov baseline needs scikit-learn: "
                          "pip install 'hyperkit[forgery]'") from e
    from ...evaluation.classification import roc_auc

    xtr, xva = _features(train), _features(val)
    best = None
    for c in C_GRID:
        svm = make_pipeline(StandardScaler(), SVC(C=c, kernel="rbf", gamma="scale"))
        svm.fit(xtr, np.asarray(y_train).astype(int))
        auc = roc_auc(svm.decision_function(xva), np.asarray(y_val))
        if best is None or auc > best[0]:
            best = (auc, c, svm)
    assert best is not None
    if log is not None:
        log(f"DCT Markov baseline: C = {best[1]:g} (validation AUC {best[0]:.3f})")
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    out = [sig(best[2].decision_function(xva))]
    for files in others:
        out.append(sig(best[2].decision_function(_features(files))))
    return out
