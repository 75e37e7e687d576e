"""The format-only baseline of issue 20: how well the file format alone tells tampered from
authentic images, reported beside the CNNs so that a leak shows itself.

CASIA v2 is known to leak through its files: tampered images were saved with other formats,
JPEG quality tables and sizes than the authentic ones. A model that sees only those
properties (never a pixel) and still beats chance measures how much of any classifier's
score could come from the files rather than from the tampering. On the demo set, which saves
both classes with the same mix of formats and qualities, it should stay near chance.

Features per file (from its header and size only): the format (JPEG / PNG / TIFF / BMP /
other, one-hot), the mean of the JPEG luma and chroma quantization tables (0 when not a
JPEG), the bytes per pixel, and the image's height and width (log). An L2-regularized
logistic regression (torch's LBFGS; no scikit-learn needed) is fitted on the training files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

FORMATS = ("JPEG", "PNG", "TIFF", "BMP")


def file_features(path: str | Path) -> np.ndarray:
    """The format-only features of one image file: (len(FORMATS) + 1 + 5,) float64."""
    from PIL import Image

    p = Path(path)
    with Image.open(p) as im:
        fmt = im.format or ""
        w, h = im.size
        q = getattr(im, "quantization", None) or {}
    onehot = [float(fmt == f) for f in FORMATS] + [float(fmt not in FORMATS)]
    tables = [np.mean(q[k]) if k in q else 0.0 for k in (0, 1)]
    bpp = p.stat().st_size / max(1, w * h)
    return np.array(onehot + tables + [bpp, np.log(h), np.log(w)], dtype=np.float64)


def fit_predict(train: Sequence[str | Path], y_train: np.ndarray,
                others: Sequence[Sequence[str | Path]], l2: float = 1e-2,
                seed: int = 0) -> list[np.ndarray]:
    """Fits the logistic regression on the training files (labels 1 = authentic) and
    returns the probabilities of label 1 for each list in ``others`` (e.g. val, test)."""
    x = np.stack([file_features(p) for p in train])
    mu, sd = x.mean(0), x.std(0) + 1e-9
    xt = torch.tensor((x - mu) / sd)
    yt = torch.tensor(np.asarray(y_train, dtype=np.float64))
    torch.manual_seed(seed)
    w = torch.zeros(xt.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) \
            + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    out = []
    with torch.no_grad():
        for files in others:
            xo = torch.tensor((np.stack([file_features(p) for p in files]) - mu) / sd)
            out.append(torch.sigmoid(xo @ w + b).numpy())
    return out
