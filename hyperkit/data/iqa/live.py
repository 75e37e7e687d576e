"""LIVE Image Quality Assessment Database, Release 2 (Sheikh et al. 2005).

The official folder ``databaserelease2/``::

    jp2k/ jpeg/ wn/ gblur/ fastfading/   img1.bmp ... (227, 233, 174, 174, 174 images)
    refimgs/                             the 29 reference images (womanhat.bmp, ...)
    dmos.mat                             dmos (1x982), orgs (1x982), in folder order
    refnames_all.mat                     refnames_all: 1x982 cell of reference file names
    dmos_realigned.mat                   (optional) dmos_new, orgs: the realigned DMOS

Entry k (1-based) of a folder is ``<folder>/img{k}.bmp``. The 203 entries with
``orgs == 1`` are copies of the references and are dropped: 779 distorted images of 29
references remain. DMOS is lower-is-better and an undistorted image scores 0.

The images are RGB BMPs; the paper treats LIVE as gray, so the table says ``gray=True``
and hyperkit's image contract converts them later (BT.709 luma, as
``skimage.color.rgb2gray``). The files are not converted here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .table import DatasetSpec, FolderIndex, IQATable, listing, require_layout

#: The paper's networks for LIVE; gray images give a 24 x 23 grid (Input(24,23,800)).
SPEC = DatasetSpec("live_stage1", "live_stage2", (24, 23))

#: Entries per folder in dmos.mat, in its order (982 in all).
LIVE_COUNTS: dict[str, int] = {"jp2k": 227, "jpeg": 233, "wn": 174, "gblur": 174,
                               "fastfading": 174}
LIVE_BEST_SCORE = 0.0  # DMOS of an undistorted image
LABELS = ("auto", "dmos", "realigned")

_LAYOUT = """\
  databaserelease2/
    jp2k/ jpeg/ wn/ gblur/ fastfading/   img1.bmp, img2.bmp, ... (227, 233, 174, 174, 174)
    refimgs/                             the 29 reference images (womanhat.bmp, ...)
    dmos.mat                             dmos and orgs, 1x982 each, in the folder order above
    refnames_all.mat                     refnames_all, a 1x982 cell of reference file names
    dmos_realigned.mat                   optional: dmos_new and orgs (realigned DMOS)"""


def load_live(root: str | Path, *, counts: Mapping[str, int] = LIVE_COUNTS,
              labels: str = "auto") -> IQATable:
    """The distorted images of LIVE Release 2 at ``root`` with their DMOS.

    ``labels``: 'auto' reads ``dmos_new`` from dmos_realigned.mat when that file is
    present, else ``dmos`` from dmos.mat; 'dmos' or 'realigned' insist on one. The
    table's ``label_source`` says which file and variable gave the labels.

    ``counts`` (folder -> entries, in dmos.mat order) defaults to the official
    :data:`LIVE_COUNTS`; tests pass smaller ones to fabricate a miniature tree.
    Refuses, naming what is wrong and showing the expected layout: a missing file,
    folder, image or reference, and label vectors whose length is not the sum of
    ``counts``.
    """
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    counts = _check_counts(counts)
    root = require_layout(root, files=["refnames_all.mat"], folders=[*counts, "refimgs"],
                          dataset="LIVE Release 2", layout=_LAYOUT)
    realigned = (root / "dmos_realigned.mat").is_file()
    if labels == "realigned" and not realigned:
        raise FileNotFoundError(f"labels='realigned' but {root} has no dmos_realigned.mat; "
                                f"expected:\n{_LAYOUT}")
    if labels == "dmos" or not realigned:
        # dmos.mat is needed only when the realigned labels are not used
        require_layout(root, files=["dmos.mat"], dataset="LIVE Release 2", layout=_LAYOUT)
        mat_name, key = "dmos.mat", "dmos"
    else:
        mat_name, key = "dmos_realigned.mat", "dmos_new"
    total = sum(counts.values())
    mat = _loadmat(root / mat_name)
    dmos = _vector(mat, key, mat_name, total, counts)
    orgs = _vector(mat, "orgs", mat_name, total, counts)
    if not np.isin(orgs, (0, 1)).all():
        raise ValueError(f"{mat_name}: orgs must hold 0 (distorted) or 1 (reference copy), "
                         f"got values {np.unique(orgs)[:10].tolist()}")
    names_mat = _loadmat(root / "refnames_all.mat")
    if "refnames_all" not in names_mat:
        raise ValueError(f"refnames_all.mat has no variable 'refnames_all' (it has "
                         f"{_variables(names_mat)})")
    refnames = _cell_strings(names_mat["refnames_all"], "refnames_all.mat: refnames_all")
    if len(refnames) != total:
        raise ValueError(f"refnames_all.mat: refnames_all has {len(refnames)} entries; "
                         f"{_expected(total, counts)}")

    folders = [f for f, c in counts.items() for _ in range(c)]
    numbers = [k for c in counts.values() for k in range(1, c + 1)]
    indexes = {f: FolderIndex(root / f) for f in [*counts, "refimgs"]}
    images, refs, types, scores = [], [], [], []
    ref_images: dict[str, Path] = {}
    missing_images, missing_refs = [], []
    for j in np.flatnonzero(orgs == 0):
        folder, name, refname = folders[j], f"img{numbers[j]}.bmp", refnames[j]
        image = indexes[folder].find(name)
        if image is None:
            missing_images.append(f"{folder}/{name}")
            continue
        ref_id = Path(refname).stem
        if ref_id not in ref_images:
            ref_file = indexes["refimgs"].find(refname)
            if ref_file is None:
                missing_refs.append(f"refimgs/{refname} (for {folder}/{name})")
                continue
            ref_images[ref_id] = ref_file
        images.append(image)
        refs.append(ref_id)
        types.append(folder)
        scores.append(dmos[j])
    if missing_images or missing_refs:
        what = [f"{len(missing_images)} distorted images: {listing(missing_images)}"
                if missing_images else "", f"{len(missing_refs)} references: "
                f"{listing(missing_refs)}" if missing_refs else ""]
        raise FileNotFoundError(f"LIVE Release 2 root {root} lacks " + "; and ".join(
            w for w in what if w) + f"; expected:\n{_LAYOUT}")
    return IQATable(
        name="live", root=root, images=tuple(images), scores=np.asarray(scores, np.float64),
        higher_better=False, score_name="DMOS", label_source=f"{mat_name} ({key})",
        refs=tuple(refs), ref_images=ref_images, dist_types=tuple(types), levels=None,
        best_score=LIVE_BEST_SCORE, gray=True)


def _check_counts(counts: Mapping[str, int]) -> dict[str, int]:
    if not isinstance(counts, Mapping) or not counts:
        raise TypeError(f"counts must be a non-empty mapping folder -> entries, got {counts!r}")
    out = {}
    for folder, c in counts.items():
        if not isinstance(folder, str) or isinstance(c, bool) or not isinstance(
                c, (int, np.integer)) or c < 1:
            raise ValueError(f"counts must map folder names to positive ints, got "
                             f"{folder!r}: {c!r}")
        out[folder] = int(c)
    return out


def _expected(total: int, counts: Mapping[str, int]) -> str:
    parts = " + ".join(f"{f} {c}" for f, c in counts.items())
    return f"LIVE Release 2 has {total} ({parts}), in that folder order"


def _loadmat(path: Path) -> dict[str, Any]:
    from scipy.io import loadmat

    try:
        return loadmat(path)
    except Exception as e:  # noqa: BLE001  (scipy raises several types for bad files)
        raise ValueError(f"{path} is not a readable MATLAB file: {e}") from e


def _variables(mat: dict[str, Any]) -> list[str]:
    return sorted(k for k in mat if not k.startswith("__"))


def _vector(mat: dict[str, Any], key: str, mat_name: str, total: int,
            counts: Mapping[str, int]) -> np.ndarray:
    """Variable ``key`` as a float64 (total,) vector; 1xN and Nx1 both accepted."""
    if key not in mat:
        raise ValueError(f"{mat_name} has no variable {key!r} (it has {_variables(mat)})")
    try:
        v = np.asarray(mat[key], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{mat_name}: {key} is not numeric: {e}") from e
    if v.ndim > 2 or (v.ndim == 2 and min(v.shape) > 1):
        raise ValueError(f"{mat_name}: {key} must be a 1xN or Nx1 vector, got shape {v.shape}")
    v = v.ravel()
    if len(v) != total:
        raise ValueError(f"{mat_name}: {key} has {len(v)} entries; {_expected(total, counts)}")
    if not np.isfinite(v).all():
        raise ValueError(f"{mat_name}: {key} has non-finite entries at (0-based) "
                         f"{np.flatnonzero(~np.isfinite(v))[:5].tolist()}")
    return v


def _cell_strings(cell: Any, what: str) -> list[str]:
    """The strings of a MATLAB cell array of strings however scipy.io.loadmat returns it:
    an object array (1xN or Nx1) of 1-element str arrays, possibly nested, or a padded
    char matrix (one name per row)."""
    arr = np.asarray(cell)
    if arr.dtype.kind in "US":  # a padded char matrix: loadmat gives one string per row
        return [_one_string(s, what) for s in arr.ravel()]
    if arr.dtype != object:
        raise ValueError(f"{what} must be a cell array of strings, got dtype {arr.dtype}")
    return [_one_string(e, what) for e in arr.ravel()]


def _one_string(e: Any, what: str) -> str:
    if isinstance(e, (str, np.str_)):
        return str(e).strip()
    if isinstance(e, bytes):
        return e.decode().strip()
    a = np.asarray(e)
    if a.dtype.kind in "US":
        if a.size == 1:
            return str(a.ravel()[0]).strip()
        return "".join(map(str, a.ravel())).strip()  # a char vector kept as single chars
    if a.dtype == object and a.size == 1:
        return _one_string(a.ravel()[0], what)  # a cell nested in a cell
    raise ValueError(f"{what}: entry {e!r} is not a string")
