"""The table every NR-IQA dataset loader returns, and the helpers the loaders share.

An :class:`IQATable` lists a dataset's distorted images with their subjective scores in
the dataset's own scale (LIVE: DMOS, lower is better; TID2013: MOS, higher is better),
the reference each image was made from (for reference-disjoint splits and selective
patch training), and its distortion type and level where the dataset says them.
Loaders only check that files exist; images are read later through
:func:`hyperkit.images.read_image` (:func:`check_readable` tries them all up front).

Loaders: :func:`hyperkit.data.iqa.live.load_live`,
:func:`hyperkit.data.iqa.tid2013.load_tid2013`, :func:`hyperkit.data.iqa.csv.load_csv`, or
:func:`hyperkit.data.iqa.load_dataset` by name. Each loader's module also holds that
dataset's :class:`DatasetSpec` (its networks and grid) as ``SPEC``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ...files import check_new_file, write_new

_SHOW = 5  # how many offending rows an error message lists


@dataclass(frozen=True)
class DatasetSpec:
    """How a data set is trained: stage-1 and stage-2 networks and the grid (U, V)."""

    stage1_arch: str
    stage2_arch: str
    grid: tuple[int, int]


@dataclass(frozen=True, eq=False)
class IQATable:
    """Distorted images with subjective scores, one row per image.

    ``scores`` is float64 (N,) in the dataset's own scale; ``higher_better`` says its
    direction (MOS: True; DMOS: False). ``refs``, ``dist_types`` and ``levels`` have one
    entry per image or are None when the dataset does not say them. ``ref_images`` maps
    every reference id in ``refs`` to its undistorted image file; ``best_score`` is the
    score an undistorted image gets on this scale (the label of reference patches in
    selective patch training). ``gray`` says the paper converts this dataset to gray.
    """

    name: str
    root: Path
    images: tuple[Path, ...]
    scores: np.ndarray
    higher_better: bool
    score_name: str
    label_source: str
    refs: tuple[str, ...] | None
    ref_images: dict[str, Path] | None
    dist_types: tuple[str, ...] | None
    levels: tuple[int, ...] | None
    best_score: float | None
    gray: bool = False

    def __post_init__(self) -> None:
        def set_(field: str, value: Any) -> None:  # frozen: fields are normalized once, here
            object.__setattr__(self, field, value)

        set_("root", Path(self.root))
        set_("images", tuple(Path(p) for p in self.images))
        n = len(self.images)
        relative = [str(p) for p in self.images if not p.is_absolute()]
        if relative:
            raise ValueError(f"images must be absolute paths, got {relative[:_SHOW]}")
        scores = np.array(self.scores, dtype=np.float64)  # a copy the caller cannot change
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},) (one per image), got {scores.shape}")
        if not np.isfinite(scores).all():
            bad = np.flatnonzero(~np.isfinite(scores))[:_SHOW].tolist()
            raise ValueError(f"scores must be finite; rows {bad} are not")
        scores.flags.writeable = False
        set_("scores", scores)
        for field in ("refs", "dist_types", "levels"):
            value = getattr(self, field)
            if value is None:
                continue
            value = tuple(int(v) for v in value) if field == "levels" else tuple(
                str(v) for v in value)
            if len(value) != n:
                raise ValueError(f"{field} must have one entry per image ({n}), got {len(value)}")
            set_(field, value)
        if self.ref_images is not None:
            if self.refs is None:
                raise ValueError("ref_images given without refs (the reference of each image)")
            ref_images = {str(k): Path(v) for k, v in self.ref_images.items()}
            missing = sorted(set(self.refs) - set(ref_images))
            if missing:
                raise ValueError(f"ref_images has no file for references {missing[:_SHOW]}")
            set_("ref_images", ref_images)
        if self.best_score is not None:
            best = float(self.best_score)
            if not math.isfinite(best):
                raise ValueError(f"best_score must be finite or None, got {self.best_score}")
            set_("best_score", best)

    # ---- rows

    def __len__(self) -> int:
        return len(self.images)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IQATable):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) if f.name == "scores"
            else getattr(self, f.name) == getattr(other, f.name) for f in fields(self))

    __hash__ = None  # type: ignore[assignment]  # holds an array: not hashable

    def same_rows(self, other: IQATable) -> bool:
        """Whether ``other`` lists the same rows: images, scores, dist_types, levels, and
        the same reference for each image (compared by reference file when both tables
        have ``ref_images``, since a CSV names references by path, else by id).

        This is what :meth:`to_csv` then :func:`~hyperkit.data.iqa.csv.load_csv` keeps;
        the name, direction, best score and label source are options of ``load_csv``."""
        if (self.images != other.images or not np.array_equal(self.scores, other.scores)
                or self.dist_types != other.dist_types or self.levels != other.levels):
            return False
        if (self.refs is None) != (other.refs is None):
            return False
        if self.refs is None or other.refs is None:
            return True
        if self.ref_images is not None and other.ref_images is not None:
            return ([self.ref_images[r] for r in self.refs]
                    == [other.ref_images[r] for r in other.refs])
        return self.refs == other.refs

    def subset(self, idx: Any) -> IQATable:
        """The rows ``idx`` (int indices in the order given, or a boolean mask of length
        N); ``ref_images`` is kept whole."""
        idx = _as_indices(idx, len(self), "idx")

        def pick(values: tuple | None) -> tuple | None:
            return None if values is None else tuple(values[i] for i in idx)

        return IQATable(
            name=self.name, root=self.root, images=pick(self.images),
            scores=self.scores[idx], higher_better=self.higher_better,
            score_name=self.score_name, label_source=self.label_source, refs=pick(self.refs),
            ref_images=None if self.ref_images is None else dict(self.ref_images),
            dist_types=pick(self.dist_types), levels=pick(self.levels),
            best_score=self.best_score, gray=self.gray)

    def reference_ids(self) -> list[str]:
        """The reference ids, sorted and unique ([] when the table has no references)."""
        return [] if self.refs is None else sorted(set(self.refs))

    def type_names(self) -> list[str]:
        """The distortion types in order of first appearance ([] when unknown)."""
        return [] if self.dist_types is None else list(dict.fromkeys(self.dist_types))

    def indices_of_types(self, types: Iterable[str]) -> np.ndarray:
        """Sorted int64 indices of the images whose distortion type is in ``types``
        (e.g. ``TID_SUBSETS['live4']``). Unknown names are an error listing the known."""
        if self.dist_types is None:
            raise ValueError(f"table {self.name!r} has no distortion types to select from")
        if isinstance(types, str):
            types = [types]
        wanted = list(types)
        known = self.type_names()
        unknown = [t for t in wanted if t not in known]
        if unknown:
            raise ValueError(f"unknown distortion types {unknown}; table {self.name!r} has "
                             f"{known}")
        wanted_set = set(wanted)
        return np.array([i for i, t in enumerate(self.dist_types) if t in wanted_set],
                        dtype=np.int64)

    # ---- inspection

    def summary(self) -> dict:
        """Counts and score statistics: images, references, types (name -> count, in
        order of first appearance), levels, score min/max/mean, direction, labels."""
        s = self.scores
        return {
            "name": self.name,
            "root": str(self.root),
            "images": len(self),
            "references": None if self.refs is None else len(set(self.refs)),
            "reference_images": self.ref_images is not None,
            "types": None if self.dist_types is None else dict(
                (t, c) for t, c in Counter(self.dist_types).items()),
            "levels": None if self.levels is None else dict(sorted(Counter(self.levels).items())),
            "score_name": self.score_name,
            "score_min": float(s.min()) if len(s) else None,
            "score_max": float(s.max()) if len(s) else None,
            "score_mean": float(s.mean()) if len(s) else None,
            "direction": "higher is better" if self.higher_better else "lower is better",
            "best_score": self.best_score,
            "label_source": self.label_source,
            "gray": self.gray,
        }

    def describe(self) -> str:
        """A human-readable, multi-line :meth:`summary` (for ``hyperkit iqa --inspect``)."""
        s = self.summary()
        lines = [f"dataset {s['name']} at {s['root']}",
                 f"  images: {s['images']} distorted"]
        if s["references"] is None:
            lines.append("  references: unknown (random splits over images, no selective "
                         "patch training)")
        else:
            files = "with" if s["reference_images"] else "without"
            lines.append(f"  references: {s['references']} ({files} reference image files)")
        if s["score_min"] is not None:
            lines.append(f"  scores: {s['score_name']} ({s['direction']}), min "
                         f"{s['score_min']:.4g}, max {s['score_max']:.4g}, mean "
                         f"{s['score_mean']:.4g}")
        if s["best_score"] is not None:
            lines.append(f"  an undistorted image scores {s['best_score']:g}")
        lines.append(f"  labels read from {s['label_source']}")
        if s["gray"]:
            lines.append("  converted to gray (BT.709 luma) before use, as in the paper")
        if s["types"] is None:
            lines.append("  distortion types: unknown")
        else:
            lines.append(f"  distortion types: {len(s['types'])}")
            width = max(len(str(c)) for c in s["types"].values())
            lines += [f"    {c:>{width}}  {t}" for t, c in s["types"].items()]
        if s["levels"] is not None:
            lines.append("  levels: " + ", ".join(f"{k}: {v}" for k, v in s["levels"].items()))
        lines += ["  training (hyperkit iqa):"] + [f"    {line}" for line in self.readiness()]
        return "\n".join(lines)

    def readiness(self) -> list[str]:
        """Whether ``hyperkit iqa`` can train on this table and with which options, one
        line each (``--inspect`` prints them): what the splits need, and what selective
        patch training needs."""
        n = len(self)
        if self.refs is not None:
            refs = len(set(self.refs))
            if refs < 3:
                return [f"WILL FAIL: reference-disjoint splits need at least 3 references, "
                        f"this set has {refs}; add references, or drop the reference column "
                        "(--ref-col '') to split images at random"]
            out = [f"splits: reference-disjoint over {refs} references (60/20/20 %)"]
        elif n < 3:
            return [f"WILL FAIL: a split needs at least 3 images, this set has {n}"]
        else:
            out = [f"splits: random over {n} images (no references: images of one scene "
                   "may land in both train and test)"]
        if self.ref_images is None:
            out.append("selective patch training: impossible without reference images; the "
                       "default methods train Kang's stage 1 on all patches instead "
                       "(--methods cnn_selective would be refused)")
        else:
            out.append("selective patch training: possible (reference image files known)")
        if n < 150:
            out.append(f"small set: {n} images give about {max(1, n // 5)} test images a "
                       "split; expect noisy correlations")
        return out

    # ---- the CSV convention

    def to_csv(self, path: str | Path) -> Path:
        """Writes the table as a CSV that :func:`~hyperkit.data.iqa.csv.load_csv` reads
        back (see :meth:`same_rows`): columns dist_name, ref_name, mos, then dist_type and
        level when known; paths relative to ``root``. ``ref_name`` holds the reference
        image's path when the table has reference files, else the reference id. Written
        atomically and exclusively; a path inside ``root`` or an existing file (the input
        CSV included) is refused (never write into a dataset, never overwrite)."""
        path = Path(path)
        target = path.resolve()
        root = self.root.resolve()
        if target == root or root in target.parents:
            raise ValueError(f"to_csv path {path} is inside the dataset folder {root}; write "
                             "it elsewhere (hyperkit never writes into a dataset folder)")
        check_new_file(path, "to_csv path")
        header = ["dist_name", "ref_name", "mos"]
        if self.refs is None:
            header.remove("ref_name")
        if self.dist_types is not None:
            header.append("dist_type")
        if self.levels is not None:
            header.append("level")
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(header)
        for i, image in enumerate(self.images):
            row = [_relative(image, root)]
            if self.refs is not None:
                ref = self.refs[i]
                row.append(ref if self.ref_images is None else _relative(self.ref_images[ref],
                                                                          root))
            row.append(repr(float(self.scores[i])))  # repr: the shortest exact float text
            if self.dist_types is not None:
                row.append(self.dist_types[i])
            if self.levels is not None:
                row.append(str(self.levels[i]))
            out.writerow(row)
        return write_new(path, buf.getvalue())


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _as_indices(idx: Any, n: int, name: str) -> np.ndarray:
    """int64 indices from int indices or a boolean mask of length n, checked in range."""
    arr = np.asarray(idx)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"{name} as a boolean mask must have shape ({n},), got {arr.shape}")
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a 1-D sequence of int indices or a boolean mask, got "
                        f"dtype {arr.dtype} shape {arr.shape}")
    if arr.min() < -n or arr.max() >= n:
        raise IndexError(f"{name} has indices outside [0, {n}): min {arr.min()}, max {arr.max()}")
    return arr.astype(np.int64) % n if n else arr.astype(np.int64)


# ---- helpers the loaders share


def require_layout(root: str | Path, *, files: Sequence[str] = (), folders: Sequence[str] = (),
                   dataset: str, layout: str) -> Path:
    """``root`` resolved, after checking it holds ``files`` and ``folders``;
    FileNotFoundError naming what is missing and showing the expected ``layout``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{dataset} root {root} is not a folder; expected:\n{layout}")
    missing = [f for f in files if not (root / f).is_file()]
    missing += [f + "/" for f in folders if not (root / f).is_dir()]
    if missing:
        raise FileNotFoundError(f"{dataset} root {root} lacks {', '.join(missing)}; "
                                f"expected:\n{layout}")
    return root.resolve()


class FolderIndex:
    """A folder's file names looked up case-insensitively: the shipped archives mix
    ``I01.BMP`` and ``i25.bmp``. Listed once; ``find`` gives the real path or None."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._names: dict[str, list[str]] = {}
        for entry in os.scandir(self.folder):
            if entry.is_file():
                self._names.setdefault(entry.name.lower(), []).append(entry.name)

    def find(self, name: str) -> Path | None:
        """The file whose name equals ``name`` ignoring case; ValueError when two do."""
        real = self._names.get(name.lower())
        if real is None:
            return None
        if len(real) > 1:
            if name in real:  # an exact match wins over a case-insensitive one
                return self.folder / name
            raise ValueError(f"{self.folder} holds {sorted(real)}, which differ only in case; "
                             f"cannot tell which one {name!r} means")
        return self.folder / real[0]


def listing(items: Sequence[str], total: int | None = None) -> str:
    """The first few items of a list of problems, and how many there are in all."""
    total = len(items) if total is None else total
    more = f" (and {total - _SHOW} more)" if total > _SHOW else ""
    return "; ".join(items[:_SHOW]) + more


def check_readable(table: IQATable, log: Callable[[str], Any] | None = print
                   ) -> list[tuple[Path, str]]:
    """Reads every image of ``table`` with :func:`hyperkit.images.read_image` (the reader
    training uses) and returns the unreadable or truncated ones with the reason, each
    also passed to ``log`` (None: silent)."""
    from ...images import read_image  # here, not at the top: images loads torch


    bad: list[tuple[Path, str]] = []
    for path in table.images:
        try:
            read_image(path)
        except (OSError, ValueError) as e:
            bad.append((path, str(e)))
            if log is not None:
                log(f"unreadable image {path}: {e}")
    if log is not None:
        log(f"{len(table) - len(bad)} of {len(table)} images of {table.name} are readable")
    return bad

