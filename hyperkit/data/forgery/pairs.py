"""Stage-1 training pairs of the forgery task, streamed from the images.

Sample s is point k = s % n of pair j = s // n: the authentic and the tampered patch
at the same position (the k-th contour point of that pair,
:func:`hyperkit.data.forgery.contours.contour_patches`), or, where ``authentic_tops``
gives the authentic side positions of its own, the authentic patch there (for example at
a strong natural edge, :func:`hyperkit.data.forgery.contours.edge_tops`: a negative that
looks like a seam but is not one). Their order is shuffled: y = 1 when
the authentic patch is in the first channel, -1 otherwise (the paper: "shuffling of
patches is necessary in order to achieve convergence"). The training patches' mean is
subtracted from every patch, and training pairs are mirrored left-right on the fly
(both patches alike).

Memory: a batch reads the images of the pairs it draws (files are decoded then) and
cuts its patches with the one gather kernel; up to ``cache_mb`` of decoded files are
kept as read (uint8), least recently used first out. Patches are never stored.

Randomness: the k-th time sample s is drawn, its order, mirror and (with ``jitter``)
window shift come from a generator seeded with (seed, s, k); in training each sample
is drawn once per epoch, so k is the epoch. :func:`hyperkit.training.fit` sets k to the
epoch before each one (:meth:`SiamesePairs.set_epoch`), so a resumed run and every
rank of a DDP run (which draws only its share) make the draws of one uninterrupted
process. Without ``augment``
(validation) the order is fixed per sample and nothing is mirrored.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...images import prepare_image, read_image
from ...ops.gather_patches import gather_at


class SiamesePairs:
    """A :class:`~hyperkit.training.batches.BatchSource` of (authentic, tampered) patch
    pairs for :class:`hyperkit.nets.siamese.SiameseRanker` and ``RankingHinge``.

    Args:
        pairs: (authentic, tampered) per pair: image files or arrays of one size.
        tops: per pair, int (n, 2) top-left (row, col) of its n patches; the same n for
            every pair.
        patch: patch side in pixels (64 in the paper).
        mean: (C,) per-channel mean subtracted from every patch (the training patches'
            mean, :meth:`channel_mean`); None subtracts nothing.
        augment: shuffle the order per draw and mirror at random (training); False:
            a fixed order per sample, no mirror (validation).
        seed: seeds order, mirrors and shifts.
        jitter: with ``augment``, each draw moves the pair's patch window by up to this
            many pixels in each direction (the same shift for both patches; kept inside
            the image), so the same contour point is seen in new positions every epoch.
        channels: channels the network takes (RGB by default).
        cache_mb: megabytes of image files kept, as read, between batches (arrays
            given in ``pairs`` are held by the caller and not counted).
        name: how errors name the pairs.
        authentic_tops: per pair, int (n, 2) top-left corners of the authentic patches
            when they differ from ``tops`` (which then place the tampered patches only);
            None: both patches of a sample share ``tops``.
    """

    def __init__(self, pairs: Sequence[tuple[Any, Any]], tops: Sequence[Any], *,
                 patch: int = 64, mean: Any = None, augment: bool = False, seed: int = 0,
                 channels: int = 3, cache_mb: float = 256, name: str = "pairs",
                 jitter: int = 0, authentic_tops: Sequence[Any] | None = None) -> None:
        if len(pairs) == 0:
            raise ValueError(f"{name} is empty")
        if len(tops) != len(pairs):
            raise ValueError(f"{len(pairs)} {name} for {len(tops)} position arrays")
        self.tops = [np.asarray(t, dtype=np.int64) for t in tops]
        n = {t.shape for t in self.tops}
        if len(n) != 1 or len(next(iter(n))) != 2 or next(iter(n))[1] != 2:
            raise ValueError(f"tops must be (n, 2) integer arrays of one n, got shapes "
                             f"{sorted(n)}")
        self.points = self.tops[0].shape[0]
        self.authentic_tops = self.tops
        if authentic_tops is not None:
            if len(authentic_tops) != len(pairs):
                raise ValueError(f"authentic_tops has {len(authentic_tops)} position arrays "
                                 f"for {len(pairs)} {name}")
            self.authentic_tops = [np.asarray(t, dtype=np.int64) for t in authentic_tops]
            if any(t.shape != self.tops[0].shape for t in self.authentic_tops):
                raise ValueError(f"authentic_tops must be ({self.points}, 2) integer arrays, "
                                 "the shape of tops")
        self.pairs = [tuple(p) for p in pairs]
        if any(len(p) != 2 for p in self.pairs):
            raise ValueError(f"each item of {name} must be (authentic, tampered)")
        self.patch, self.channels, self.name = int(patch), int(channels), name
        self.augment, self.seed = bool(augment), int(seed)
        if isinstance(jitter, bool) or not isinstance(jitter, (int, np.integer)) or jitter < 0:
            raise ValueError(f"jitter must be an integer >= 0 (pixels), got {jitter!r}")
        self.jitter = int(jitter)
        m = np.zeros(self.channels) if mean is None else np.asarray(mean, dtype=np.float64)
        if m.shape != (self.channels,) or not np.isfinite(m).all():
            raise ValueError(f"mean must be {self.channels} finite numbers, got {mean!r}")
        self.mean = torch.from_numpy(m.astype(np.float32))[:, None, None]
        self.cache_bytes = float(cache_mb) * 2**20
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()  # files as read
        self._held = 0
        self._draws = np.zeros(len(self), np.int64)
        # y per sample without ``augment`` (validation), +1 or -1
        self.fixed_y = np.where(np.random.default_rng([self.seed, 1]).random(len(self)) < 0.5,
                                 1.0, -1.0)

    def __len__(self) -> int:
        return len(self.pairs) * self.points

    def _image(self, j: int, side: int) -> Tensor:
        """Prepared (C, H, W) float32 image: side 0 authentic, 1 tampered. Files are
        cached as read (uint8 for JPEG: a quarter of the float32 size) and converted
        per batch."""
        key = 2 * j + side
        item = self.pairs[j][side]
        label = f"{self.name}[{j}] {'authentic' if side == 0 else 'tampered'}"
        if isinstance(item, (str, Path)):
            label += f" ({item})"
            if key in self._cache:
                self._cache.move_to_end(key)
                item = self._cache[key]
            else:
                item = read_image(item)
                self._cache[key] = item
                self._held += item.nbytes
                while self._held > self.cache_bytes and len(self._cache) > 1:
                    _, old = self._cache.popitem(last=False)
                    self._held -= old.nbytes
        return prepare_image(item, label, lcn=False, channels=self.channels)

    def skip_draws(self, draws: int) -> None:
        """Sets every sample's draw count to ``draws`` (finished epochs, on resume)."""
        if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 0:
            raise ValueError(f"draws must be an integer >= 0, got {draws!r}")
        self._draws[:] = draws

    def set_epoch(self, epoch: int) -> None:
        """Draws of epoch ``epoch`` (0-based) come next: :func:`hyperkit.training.fit`
        calls it before every epoch, so each rank of a DDP run, and a resumed run,
        draws what one uninterrupted process would."""
        self.skip_draws(epoch)

    def _draw(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(y (B,) of +-1, mirror (B,) bool, shift (B, 2) int pixels) for the drawn
        samples."""
        if not self.augment:
            return self.fixed_y[idx], np.zeros(len(idx), bool), np.zeros((len(idx), 2), int)
        u = np.array([np.random.default_rng([self.seed, int(s), int(self._draws[s])]).random(4)
                      for s in idx]).reshape(-1, 4)
        np.add.at(self._draws, idx, 1)
        # the first two numbers are those of the draws before jitter existed: jitter 0
        # replays older runs exactly
        shift = np.floor(u[:, 2:] * (2 * self.jitter + 1)).astype(np.int64) - self.jitter
        return np.where(u[:, 0] < 0.5, 1.0, -1.0), u[:, 1] < 0.5, shift

    def _checked(self, idx: np.ndarray) -> np.ndarray:
        """``idx`` as int64 (B,); IndexError naming the pairs when one lies outside."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"{self.name} has {len(self)} samples; got index outside")
        return idx

    def patches(self, idx: np.ndarray, shift: np.ndarray | None = None
                ) -> tuple[Tensor, Tensor]:
        """(authentic, tampered) patches (B, C, p, p) of samples ``idx``, mean not
        subtracted, not mirrored; ``shift`` (B, 2) moves each window (clipped to the
        image)."""
        idx = self._checked(idx)
        j, k = idx // self.points, idx % self.points
        used, slot = np.unique(j, return_inverse=True)
        images = []
        for jj in used:
            a, t = self._image(int(jj), 0), self._image(int(jj), 1)
            if a.shape != t.shape:
                raise ValueError(f"{self.name}[{int(jj)}]: authentic {tuple(a.shape)} and "
                                 f"tampered {tuple(t.shape)} differ in size")
            images += [a, t]
        moved = shift is not None and len(idx) > 0
        if moved:  # the largest top-left per sample (both images of a pair share a size)
            hw = np.array([images[2 * s].shape[1:] for s in slot]) - self.patch

        def at(tops: list[np.ndarray]) -> np.ndarray:
            t = np.stack([tops[int(jj)][kk] for jj, kk in zip(j, k)]) if len(idx) \
                else np.zeros((0, 2), np.int64)
            return np.clip(t + shift, 0, hw) if moved else t

        p = (self.patch, self.patch)
        tt = at(self.tops)
        ta = tt if self.authentic_tops is self.tops else at(self.authentic_tops)
        au = gather_at(images, p, 2 * slot, ta[:, 0], ta[:, 1])
        tp = gather_at(images, p, 2 * slot + 1, tt[:, 0], tt[:, 1])
        return au, tp

    def batch(self, idx: np.ndarray) -> tuple[tuple[Tensor, Tensor], Tensor]:
        """((first (B, C, p, p), second (B, C, p, p)), y (B,)) for samples ``idx``."""
        idx = self._checked(idx)  # before drawing: a bad index draws nothing
        y, mirror, shift = self._draw(idx)
        au, tp = self.patches(idx, shift if self.jitter else None)
        au, tp = au - self.mean, tp - self.mean
        if mirror.any():
            m = torch.from_numpy(mirror)
            au[m], tp[m] = au[m].flip(-1), tp[m].flip(-1)
        first = torch.from_numpy(y > 0)[:, None, None, None]
        x1 = torch.where(first, au, tp)
        x2 = torch.where(first, tp, au)
        return (x1, x2), torch.from_numpy(y.astype(np.float32))

    def channel_mean(self, batch_size: int = 256) -> np.ndarray:
        """(C,) float64 mean over every authentic and tampered patch, per channel, in
        [0, 1] (one streamed pass): the mean to subtract."""
        total, count = np.zeros(self.channels), 0
        for i in range(0, len(self), batch_size):
            au, tp = self.patches(np.arange(i, min(len(self), i + batch_size)))
            total += (au.double().sum((0, 2, 3)) + tp.double().sum((0, 2, 3))).numpy()
            count += 2 * len(au) * self.patch * self.patch
        return total / count
