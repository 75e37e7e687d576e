"""Seeded train / validation / test splits: random over items, or reference-disjoint
(every image of a reference on one side, as the IQA convention asks), K at a time, and
saved to / loaded from JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_text

Fractions = tuple[float, float, float]
PARTS = ("train", "val", "test")
SPLITS_FORMAT = "hyperkit-splits"
META_KEYS = ("dataset", "n", "seed", "fractions")


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


def reference_split(groups: Sequence[str] | None, seed: int,
                    fractions: Fractions = (0.6, 0.2, 0.2), *, n: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference-disjoint train / validation / test indices of the images.

    ``groups[i]`` is the reference of image i. The unique references are shuffled with
    ``seed`` and cut by ``fractions`` (each part gets at least one reference, via
    :func:`random_split` over the references); every image lands on its reference's
    side. Returns sorted int64 index arrays. With ``groups`` None, falls back to
    ``random_split(n, seed, fractions)`` over the ``n`` images (sorted likewise).
    """
    if groups is None:
        if n is None:
            raise ValueError("reference_split with groups=None needs n (the number of images)")
        return tuple(np.sort(p).astype(np.int64) for p in random_split(n, seed, fractions))
    labels = _groups(groups)
    if n is not None and n != len(labels):
        raise ValueError(f"n={n} but groups has {len(labels)} entries")
    unique, inverse = np.unique(labels, return_inverse=True)  # sorted: independent of order
    if len(unique) < 3:
        raise ValueError(f"need at least 3 references for a reference-disjoint split, got "
                         f"{len(unique)}: {unique.tolist()}")
    parts = random_split(len(unique), seed, fractions)
    return tuple(np.flatnonzero(np.isin(inverse.ravel(), p)).astype(np.int64) for p in parts)


def _groups(groups: Any) -> np.ndarray:
    if isinstance(groups, str):
        raise TypeError("groups must be a sequence of reference ids (one per image), not a str")
    labels = list(groups)
    bad = [(i, g) for i, g in enumerate(labels) if not isinstance(g, (str, np.str_))]
    if bad:
        raise TypeError(f"groups must hold reference ids as str; entry {bad[0][0]} is "
                        f"{bad[0][1]!r}")
    return np.array([str(g) for g in labels], dtype=object)


def split_seed(seed: int, k: int) -> int:
    """The seed of split k of a family made from ``seed`` (numpy SeedSequence with spawn
    key k: split k is the same whatever the number of splits asked)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    state = np.random.SeedSequence(int(seed), spawn_key=(int(k),)).generate_state(2, np.uint32)
    return int(state[0]) << 32 | int(state[1])


def make_splits(n_or_groups: int | Sequence[str], count: int, seed: int,
                fractions: Fractions = (0.6, 0.2, 0.2)) -> list[dict[str, list[int]]]:
    """``count`` splits {'train', 'val', 'test'} of sorted int lists: random over
    ``n`` items when given an int, reference-disjoint when given the reference of each
    image (see :func:`reference_split`). Split k uses :func:`split_seed` (seed, k)."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be an int >= 1, got {count!r}")
    if isinstance(n_or_groups, bool):
        raise TypeError("n_or_groups must be an int or a sequence of reference ids, not a bool")
    if isinstance(n_or_groups, (int, np.integer)):
        n, groups = int(n_or_groups), None
    elif n_or_groups is None:
        raise TypeError("n_or_groups must be an int (items) or a sequence of reference ids")
    else:
        groups = _groups(n_or_groups)
        n = len(groups)
    out = []
    for k in range(count):
        parts = reference_split(groups, split_seed(seed, k), fractions, n=n)
        out.append({name: sorted(int(i) for i in p) for name, p in zip(PARTS, parts)})
    return out


def save_splits(path: str | Path, splits: Sequence[dict], meta: dict) -> Path:
    """Writes ``splits`` (from :func:`make_splits`) as JSON, atomically. ``meta`` must
    record 'dataset' (name), 'n' (images in the table), 'seed' and 'fractions'; more
    keys are kept. The splits are checked as :func:`load_splits` checks them."""
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ValueError(f"meta lacks {missing}; it must record {list(META_KEYS)}")
    n = meta["n"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"meta['n'] must be the number of images (an int >= 1), got {n!r}")
    clean = [_checked_split(s, int(n), f"splits[{k}]") for k, s in enumerate(splits)]
    if not clean:
        raise ValueError("splits is empty")
    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in meta.items()}
    meta["n"] = int(n)
    doc = {"format": SPLITS_FORMAT, "version": 1, "meta": meta, "splits": clean}
    try:
        text = json.dumps(doc, indent=1)
    except TypeError as e:
        raise TypeError(f"meta must hold JSON values (str, numbers, lists, dicts): {e}") from e
    return write_text(path, text + "\n")


def load_splits(path: str | Path, n: int | None = None) -> list[dict[str, list[int]]]:
    """The splits saved by :func:`save_splits`, checked: indices are ints in range,
    the three parts are disjoint and non-empty, and (when ``n`` is given) the file was
    made for a table of ``n`` images. ValueError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"splits file {path} does not exist")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"splits file {path} is not valid JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != SPLITS_FORMAT:
        raise ValueError(f"{path} is not a hyperkit splits file (no 'format': "
                         f"{SPLITS_FORMAT!r})")
    meta, splits = doc.get("meta"), doc.get("splits")
    if not isinstance(meta, dict) or not isinstance(meta.get("n"), int) or isinstance(
            meta.get("n"), bool) or meta["n"] < 1:
        raise ValueError(f"{path}: meta must record n, the number of images, got {meta!r}")
    if n is not None and n != meta["n"]:
        raise ValueError(f"{path} was made for a table of {meta['n']} images "
                         f"(dataset {meta.get('dataset')!r}), this table has {n}; make new "
                         "splits for it")
    if not isinstance(splits, list) or not splits:
        raise ValueError(f"{path}: 'splits' must be a non-empty list")
    try:
        return [_checked_split(s, meta["n"], f"splits[{k}]") for k, s in enumerate(splits)]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


def _checked_split(split: Any, n: int, name: str) -> dict[str, list[int]]:
    """{'train', 'val', 'test'}: non-empty, disjoint lists of ints in [0, n), sorted."""
    if not isinstance(split, dict) or sorted(split) != sorted(PARTS):
        got = sorted(split) if isinstance(split, dict) else type(split).__name__
        raise ValueError(f"{name} must be a dict with keys {list(PARTS)}, got {got}")
    out = {}
    for part in PARTS:
        values = split[part]
        if not isinstance(values, (list, tuple, np.ndarray)):
            raise ValueError(f"{name}[{part!r}] must be a list of ints, got "
                             f"{type(values).__name__}")
        ints = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"{name}[{part!r}] holds {v!r}, not an int index")
            if not 0 <= v < n:
                raise ValueError(f"{name}[{part!r}] holds {v}, outside [0, {n}) for a table "
                                 f"of {n} images")
            ints.append(int(v))
        if not ints:
            raise ValueError(f"{name}[{part!r}] is empty")
        if len(set(ints)) != len(ints):
            raise ValueError(f"{name}[{part!r}] repeats indices")
        out[part] = sorted(ints)
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        common = set(out[a]) & set(out[b])
        if common:
            raise ValueError(f"{name}: {a} and {b} share indices {sorted(common)[:5]}")
    return out
