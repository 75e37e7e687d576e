"""The synthetic task of the paper (section "Synthetic task", eq. 3).

A 128 x 128 gray image has a constant background s0 ~ U[0, 1] and 1 to 5 overlaid
16 x 16 patches; each patch has a dark shade in [0, 0.5) and a bright one in
[0.5, 1], a random fraction of its pixels bright, the pixels scrambled. The score is
5 - sqrt(sum_i alpha_i^2) with (eq. 3)

    alpha_i = mean_jk |s0 - p_i^jk| + (1 - ||c_i - c_hat|| / dist_N)

where c_i is the patch centre, c_hat the image centre and dist_N the distance from
the image centre to the centre of a corner patch, so a corner patch has no location
penalty and a centred one the full penalty of 1. Coordinates are continuous: pixel
(r, c) covers [r, r + 1) x [c, c + 1), the image centre is (64, 64) and a patch at
offset (r, c) has centre (r + 8, c + 8).

The paper does not say whether patches may overlap; an overlapped patch would have
pixels in the formula that are not in the image, so we place patches without
overlap (rejection sampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SIZE = 128
PATCH = 16
MAX_PATCHES = 5


@dataclass
class SyntheticSet:
    """Generated images and what made them.

    images: float32 (N, 128, 128) in [0, 1]; scores: float64 (N,);
    background: (N,) s0; positions: int64 (N, 5, 2) top-left (row, col) of each
    patch, -1 for absent ones; counts: int64 (N,) patches per image (1..5).
    """

    images: np.ndarray
    scores: np.ndarray
    background: np.ndarray
    positions: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def dist_n(size: int = SIZE, patch: int = PATCH) -> float:
    """Distance from the image centre to the centre of a corner patch (pixels)."""
    return float(np.hypot(size / 2 - patch / 2, size / 2 - patch / 2))


def _scores(images: np.ndarray, background: np.ndarray, positions: np.ndarray,
            counts: np.ndarray) -> np.ndarray:
    """Vectorized eq. 3 over (N, H, W) images and (N, K, 2) positions."""
    return 5.0 - np.sqrt((_alphas(images, background, positions, counts) ** 2).sum(1))


def _alphas(images: np.ndarray, background: np.ndarray, positions: np.ndarray,
            counts: np.ndarray) -> np.ndarray:
    """Eq. 3's alpha_i of every patch, (N, K) float64; 0 for absent patches."""
    n, size = images.shape[0], images.shape[1]
    k = positions.shape[1]
    active = np.arange(k)[None, :] < counts[:, None]
    pos = np.where(active[..., None], positions, 0)
    rows = pos[..., 0, None] + np.arange(PATCH)  # (N, K, 16)
    cols = pos[..., 1, None] + np.arange(PATCH)
    pix = images[np.arange(n)[:, None, None, None], rows[..., :, None], cols[..., None, :]]
    manhattan = np.abs(background[:, None, None, None] - pix.astype(np.float64)).mean((2, 3))
    centre = pos + PATCH / 2.0
    dist = np.hypot(centre[..., 0] - size / 2, centre[..., 1] - size / 2)
    alpha = manhattan + (1.0 - dist / dist_n(size))
    return np.where(active, alpha, 0.0)


def patch_alphas(data: SyntheticSet) -> np.ndarray:
    """Eq. 3's alpha_i of each overlaid patch of a generated set: how much patch i
    lowers the score (contrast to the background plus location term), float64
    (N, 5) in the order of ``data.positions``, NaN for absent patches. Within an
    image, a larger alpha_i means a larger score change when patch i is removed."""
    a = _alphas(data.images, data.background.astype(np.float64), data.positions, data.counts)
    return np.where(np.arange(MAX_PATCHES)[None, :] < data.counts[:, None], a, np.nan)


def synthetic_score(image: Any, background: float, positions: Any) -> float:
    """Eq. 3's score of one image from its pixels.

    Args:
        image: (H, W) square gray image (values as stored, 0..1).
        background: the constant background value s0.
        positions: (K, 2) top-left (row, col) of each 16 x 16 patch, K in 1..5.
    """
    img = np.asarray(image, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
    if img.ndim != 2 or img.shape[0] != img.shape[1] or img.shape[0] < PATCH:
        raise ValueError(f"image must be a square (H, W) array of at least {PATCH}x{PATCH}, "
                         f"got shape {img.shape}")
    if not 1 <= len(pos) <= MAX_PATCHES:
        raise ValueError(f"positions must hold 1 to {MAX_PATCHES} patches, got {len(pos)}")
    if (pos < 0).any() or (pos > img.shape[0] - PATCH).any():
        raise ValueError(f"positions must lie in [0, {img.shape[0] - PATCH}], got {pos.tolist()}")
    return float(_scores(img[None], np.array([background], np.float64), pos[None],
                         np.array([len(pos)]))[0])


def _place(rng: np.random.Generator, counts: np.ndarray, size: int) -> np.ndarray:
    """Non-overlapping top-left positions (N, 5, 2), -1 beyond each image's count."""
    n = len(counts)
    pos = rng.integers(0, size - PATCH + 1, (n, MAX_PATCHES, 2))
    active = np.arange(MAX_PATCHES)[None, :] < counts[:, None]
    pair = active[:, :, None] & active[:, None, :] & ~np.eye(MAX_PATCHES, dtype=bool)
    todo = np.arange(n)
    for _ in range(10_000):
        d = np.abs(pos[todo, :, None, :] - pos[todo, None, :, :])
        clash = ((d < PATCH).all(-1) & pair[todo]).any((1, 2))
        todo = todo[clash]
        if todo.size == 0:
            return np.where(active[..., None], pos, -1)
        pos[todo] = rng.integers(0, size - PATCH + 1, (todo.size, MAX_PATCHES, 2))
    raise RuntimeError("could not place non-overlapping patches")  # pragma: no cover


def generate(n: int, seed: int = 0, *, count: int | None = None,
             fixed_content: bool = False) -> SyntheticSet:
    """Generates ``n`` synthetic images with their eq. 3 scores.

    Args:
        n: number of images.
        seed: seed of numpy's PCG64 generator; the same seed gives the same set.
        count: patches per image (1..5); None draws it uniformly per image
            (experiment 1).
        fixed_content: experiment 2: one background, one set of patch contents
            (shades, bright fraction, scrambling) shared by every image; only the
            positions vary. Needs ``count``.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if count is not None and not (isinstance(count, (int, np.integer))
                                  and 1 <= count <= MAX_PATCHES):
        raise ValueError(f"count must be an integer in 1..{MAX_PATCHES} or None, got {count!r}")
    if fixed_content and count is None:
        raise ValueError("fixed_content needs a fixed count")
    rng = np.random.default_rng(seed)
    m = 1 if fixed_content else n  # how many independent backgrounds / contents
    counts = (rng.integers(1, MAX_PATCHES + 1, n) if count is None
              else np.full(n, count, dtype=np.int64))
    background = rng.uniform(0.0, 1.0, m)
    dark = rng.uniform(0.0, 0.5, (m, MAX_PATCHES, 1))
    bright = rng.uniform(0.5, 1.0, (m, MAX_PATCHES, 1))  # [0.5, 1); the end has measure 0
    n_bright = np.rint(rng.uniform(0.0, 1.0, (m, MAX_PATCHES, 1)) * PATCH * PATCH)
    # Scrambling: the bright pixels are a uniformly random subset of the patch.
    order = rng.random((m, MAX_PATCHES, PATCH * PATCH)).argsort(-1).argsort(-1)
    content = np.where(order < n_bright, bright, dark).reshape(m, MAX_PATCHES, PATCH, PATCH)
    if fixed_content:
        background = np.repeat(background, n)
        content = np.broadcast_to(content, (n, *content.shape[1:]))
    positions = _place(rng, counts, SIZE)
    images = np.repeat(background[:, None, None], SIZE, 1).repeat(SIZE, 2)
    idx = np.arange(n)
    for k in range(MAX_PATCHES):
        has = idx[counts > k]
        r = positions[has, k, 0, None] + np.arange(PATCH)
        c = positions[has, k, 1, None] + np.arange(PATCH)
        images[has[:, None, None], r[:, :, None], c[:, None, :]] = content[has, k]
    images = images.astype(np.float32)
    scores = _scores(images, background.astype(np.float32).astype(np.float64), positions,
                     counts)
    return SyntheticSet(images, scores, background.astype(np.float32), positions, counts)
