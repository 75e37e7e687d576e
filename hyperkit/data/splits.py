"""Seeded train / validation / test splits."""

from __future__ import annotations

import numpy as np


def random_split(n: int, seed: int, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random disjoint train / validation / test indices of n items (60/20/20 by default).

    Every part gets at least one item; the same (n, seed, fractions) always gives the
    same split.
    """
    if n < 3:
        raise ValueError(f"need at least 3 items to split, got {n}")
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three numbers >= 0 that sum to 1, got {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    # Rounded cut points, kept where each part still gets at least one item.
    a = min(max(1, int(round(fractions[0] * n))), n - 2)
    b = min(max(a + 1, int(round((fractions[0] + fractions[1]) * n))), n - 1)
    return perm[:a], perm[a:b], perm[b:]
