"""Near-duplicate images found by a perceptual hash, so a split cannot put one photograph
on both sides.

CASIA v2 holds authentic photographs taken seconds apart and re-saved copies; a tampered
image also contains a second authentic image (its donor). When near-copies land in both
training and test sets, a forgery model can score well by recognising scenes. Grouping
them keeps each scene on one side of :func:`hyperkit.data.forgery.casia2.grouped_split`.

The hash is the 64-bit difference hash (dHash: the signs of horizontal gradients of a
9 x 8 gray thumbnail), hand-written because the ``imagehash`` package is not installable
here and dHash is a few lines of Pillow and numpy. Two images whose hashes differ in at
most ``max_bits`` bits are near-duplicates; groups are the connected components.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

# Hamming distance of 64-bit dHashes that counts as "the same picture": re-saved, resized
# or slightly re-toned copies differ by 0-6 bits, unrelated photographs by ~32 (half).
MAX_BITS = 6
# A hash with fewer than this many bits of either sign says "the brightness only rises
# (or falls) left to right": flat skies, walls and ramps all hash alike, so such images
# are not grouped by their hash.
MIN_EITHER = 8
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def dhash(path: str | Path) -> int:
    """The 64-bit difference hash of an image file (decoded at a reduced scale).
    ValueError naming the file when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("L", (64, 64))  # JPEG: decode at 1/8 scale, enough for a 9 x 8 thumb
            g = np.asarray(im.convert("L").resize((9, 8), Image.Resampling.BOX), np.int16)
    except Exception as e:  # noqa: BLE001  (Pillow raises many types for bad files)
        raise ValueError(f"{path}: cannot hash: {e}") from e
    bits = (g[:, 1:] > g[:, :-1]).reshape(-1)
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: np.ndarray, b: int) -> np.ndarray:
    """Bits that differ between each uint64 hash of ``a`` and the hash ``b``."""
    x = np.bitwise_xor(a.astype(np.uint64), np.uint64(b))
    return _POPCOUNT[x.view(np.uint8).reshape(-1, 8)].sum(1)


def components(n: int, edges: Sequence[tuple[int, int]]) -> np.ndarray:
    """Connected-component label (0..k-1, in order of first item) of n items."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = [root(i) for i in range(n)]
    first: dict[int, int] = {}
    return np.array([first.setdefault(r, len(first)) for r in roots], np.int64)


def near_duplicate_pairs(hashes: Sequence[int], max_bits: int = MAX_BITS
                         ) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose hashes differ in at most ``max_bits`` bits; hashes
    with fewer than :data:`MIN_EITHER` ones or zeros pair with nothing."""
    if not (isinstance(max_bits, int) and 0 <= max_bits <= 64):
        raise ValueError(f"max_bits must be an integer in [0, 64], got {max_bits!r}")
    h = np.asarray(list(hashes), dtype=np.uint64)
    ones = hamming(h, 0)
    informative = (ones >= MIN_EITHER) & (ones <= 64 - MIN_EITHER)
    pairs = []
    for i in np.flatnonzero(informative[:-1]):  # n^2 / 2 popcounts, vectorized per row
        close = np.flatnonzero((hamming(h[i + 1:], int(h[i])) <= max_bits)
                               & informative[i + 1:])
        pairs += [(int(i), int(i) + 1 + int(j)) for j in close]
    return pairs


def hash_files(paths: Sequence[Path], log: Callable[[str], None] | None = None
               ) -> list[int | None]:
    """dHash of each file, None for a file that cannot be read (it then groups alone)."""
    out: list[int | None] = []
    for k, p in enumerate(paths):
        try:
            out.append(dhash(p))
        except ValueError as e:
            out.append(None)
            if log is not None:
                log(f"near-duplicates: {e}")
        if log is not None and k and k % 2000 == 0:
            log(f"near-duplicates: hashed {k} of {len(paths)} images")
    return out
