"""The built-in NR-IQA demo set: real photographs that ship inside scikit-image, each
distorted uniformly and inside a few soft-edged local regions, labelled by a
full-reference score. It needs no download and is generated in seconds.

Why it exists: the paper's central claim is that a second CNN over the grid of patch
features beats patch averaging when the distortion is localized (paper, Fig. 1 and
"Data generation"; TID2013's non-uniform distortions). This set mixes both extents:

* ``uniform``: the whole image is distorted;
* ``local``: the distortion is applied inside 1-3 random ellipses covering 5-25 % of
  the image and blended in with a feathered mask, so seams are soft. A local
  distortion is much stronger than the uniform one of the same level, so the two
  score ranges overlap and the extent cannot be read off the score alone.

Distortion kinds (:data:`KINDS`): Gaussian noise, Gaussian blur, JPEG (encoded and
decoded with Pillow; the images are saved as PNG so the artifacts are baked in) and
pixelation (block-wise averaging, like TID2013's "local block-wise distortions").
Each kind has ``levels`` levels (default 3), level 1 the mildest.

Labels: :func:`demo_score`, an SSIM map pooled with a central-fixation weight and
percentile pooling, 0-100, higher is better.

Written layout (the pyiqa meta-info convention, read back by :func:`load_demo`
through :func:`~hyperkit.data.iqa.csv.load_csv`)::

    out_dir/
      refs/<photo>.png                          reference, uint8 RGB
      dist/<photo>_<kind>_<extent>_<level>.png  distorted, uint8 RGB
      masks/<photo>_<kind>_<extent>_<level>.png where it is distorted: the float blend
                                                mask x 255 (all 255 for uniform)
      meta.csv   dist_name,ref_name,mos,dist_type,level,extent (paths relative to
                 out_dir; dist_type is '<kind>/<extent>', e.g. 'jpeg/local')
      demo.json  generator version, every parameter and the photo list; written last,
                 so a folder without it is never taken for a finished set

The photographs, distortions and :func:`demo_score` live in
:mod:`hyperkit.data.iqa.demo_distortions`; this module writes the folder, reads it back
and holds the demo's networks and grid (:data:`SPEC`).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ... import checks
from ...files import write_text
from .csv import load_csv
from .demo_distortions import (
    DEFAULT_SIZE,
    EXTENTS,
    KINDS,
    MIN_SIDE,
    STRENGTHS,
    check_strengths,
    demo_score,
    distort,
    load_photos,
    local_mask,
    strength,
)
from .table import DatasetSpec, IQATable

VERSION = 1  # bump whenever a change would alter any written byte

# The demo's images are TID2013's at half size (192 x 256); at TID's stride of 16 px
# their grid is 11 x 15, so its stage 2 is TID's without the first C-C-MP block.
DEMO_STAGE2 = ("Input(11,15,800) - 2xC(64) - MP(2) - 2xC(128) - MP(2) - 2xC(128) - MP(2) - "
               "FC(500) - Drop(0.5) - FC(500,'tanh') - Drop(0.5) - FC(1,'linear')")
SPEC = DatasetSpec("tid_stage1", DEMO_STAGE2, (11, 15))

MAX_LEVELS = 10
COLUMNS = ("dist_name", "ref_name", "mos", "dist_type", "level", "extent")

_MASK_TAG = 1000  # seeds the local-region generator apart from the per-image ones
_PARTIAL = ".hyperkit-demo-partial"  # marks a folder this module is still writing
_OURS = ("refs", "dist", "masks", "meta.csv", _PARTIAL)

# --------------------------------------------------------------------------- generation

def _check_kinds(kinds: Sequence[str] | None) -> tuple[str, ...]:
    if kinds is None:
        return KINDS
    if isinstance(kinds, str) or not isinstance(kinds, Sequence):
        raise TypeError(f"kinds must be a sequence of names from {KINDS} or None, got {kinds!r}")
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"kinds: unknown {bad}; choose from {KINDS}")
    if not kinds or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be non-empty without repeats, got {kinds}")
    return tuple(k for k in KINDS if k in kinds)  # canonical order: same set, same bytes


def _params(seed: Any, size: Any, levels: Any, kinds: Sequence[str] | None) -> dict:
    seed = checks.positive_int(seed, "seed", minimum=0)
    h, w = checks.pair(size, "size", minimum=MIN_SIDE)
    levels = checks.positive_int(levels, "levels")
    if levels > MAX_LEVELS:
        raise ValueError(f"levels must be at most {MAX_LEVELS}, got {levels}")
    return {"seed": seed, "size": [h, w], "levels": levels, "kinds": list(_check_kinds(kinds))}


def _check_photos(photos: Mapping[str, np.ndarray], size: tuple[int, int]
                  ) -> dict[str, np.ndarray]:
    """The photos of :func:`make_iqa_demo`, checked: names usable as file stems, each
    a uint8 (H, W, 3) array of ``size``, at least 3 of them (splits need 3 references)."""
    if not isinstance(photos, Mapping) or len(photos) < 3:
        raise ValueError("photos must map at least 3 names to uint8 (H, W, 3) photographs")
    out = {}
    for name, img in photos.items():
        if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9._-]+", name)):
            raise ValueError(f"photos: name {name!r} must be letters, digits, '-', '_' or '.'")
        a = np.asarray(img)
        if a.dtype != np.uint8 or a.shape != (*size, 3):
            raise ValueError(f"photos[{name!r}] must be uint8 {(*size, 3)}, got {a.dtype} "
                             f"{a.shape}")
        out[name] = a
    return out


def default_demo_dir(seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE) -> Path:
    """Where the default demo lives: ``$HYPERKIT_DATA`` (or ``~/.cache/hyperkit``) /
    ``iqa-demo-v<VERSION>-seed<seed>-<H>x<W>``."""
    p = _params(seed, size, 3, None)
    base = os.environ.get("HYPERKIT_DATA") or Path.home() / ".cache" / "hyperkit"
    h, w = p["size"]
    return Path(base) / f"iqa-demo-v{VERSION}-seed{p['seed']}-{h}x{w}"


def _finished(out_dir: Path) -> dict | None:
    """demo.json's content when ``out_dir`` holds a finished demo, else None."""
    try:
        meta = json.loads((out_dir / "demo.json").read_text())
    except (OSError, ValueError):
        return None
    ours = isinstance(meta, dict) and meta.get("generator") == "hyperkit.iqa_demo"
    return meta if ours else None


def _save_png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path, format="PNG", compress_level=3)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def make_iqa_demo(out_dir: str | Path, *, seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE,
                  levels: int = 3, kinds: Sequence[str] | None = None,
                  photos: Mapping[str, np.ndarray] | None = None,
                  strengths: Mapping[str, Any] | None = None,
                  log: Callable[[str], Any] | None = print) -> Path:
    """Generates the demo set into ``out_dir`` and returns it (layout: module docstring).

    Args:
        out_dir: an absent or empty folder, or one holding a finished demo made with the
            same parameters (then it is returned as is). Anything else is refused
            (FileExistsError): a user's folder is never overwritten. A folder left by
            an interrupted generation (it carries this module's partial marker and no
            demo.json) is regenerated.
        seed: everything random (noise, local regions) derives from it.
        size: (rows, columns) of every image, each >= 32.
        levels: distortion levels per kind, 1..10 (level 1 the mildest).
        kinds: a subset of :data:`KINDS` (default all).
        photos: name -> uint8 (H, W, 3) reference photograph of ``size``, instead of
            scikit-image's (bench/make_photo_set.py builds a larger set this way); the
            names are file stems, so letters, digits, '-', '_' and '.' only.
        strengths: kind -> extent -> (mildest, strongest) parameter, instead of
            :data:`~hyperkit.data.iqa.demo_distortions.STRENGTHS` (e.g. wider ranges for
            a training set; tools/train_photo_model.py); kinds left out keep the defaults.
        log: called with progress lines and the per-kind/extent summary; None for quiet.

    Images: photos x kinds x levels x 2 extents distorted images (18 x 4 x 3 x 2 = 432
    by default). The set is a function of the parameters and the installed
    scikit-image / Pillow versions only.
    """
    params = _params(seed, size, levels, kinds)
    if photos is not None:
        photos = _check_photos(photos, tuple(params["size"]))
        params["photos"] = sorted(photos)
    if strengths is not None:
        params["strengths"] = check_strengths(strengths, params["kinds"])
    out_dir = Path(out_dir)
    log = log if log is not None else (lambda _msg: None)
    if _ready(out_dir, params):
        return out_dir

    h, w = params["size"]
    photos = load_photos((h, w), log=log) if photos is None else photos
    count = len(photos) * len(params["kinds"]) * params["levels"] * len(EXTENTS)
    log(f"iqa demo: writing {count} distorted images of {len(photos)} photos ({h} x {w}) "
        f"into {out_dir}")
    rows = _generate(out_dir, photos, params)
    with open(out_dir / "meta.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    meta = {"generator": "hyperkit.iqa_demo", "version": VERSION, "params": params,
            "photos": list(photos), "count": len(rows), "kinds": params["kinds"],
            "extents": list(EXTENTS),
            "strengths": params.get("strengths") or {k: STRENGTHS[k] for k in params["kinds"]},
            "score": "demo_score: SSIM map x central fixation x worst-10% pooling, 0-100, "
                     "higher is better",
            "columns": list(COLUMNS)}
    write_text(out_dir / "demo.json", json.dumps(meta, indent=1) + "\n")  # last: marks done
    (out_dir / _PARTIAL).unlink()
    for line in summary(rows):
        log(line)
    return out_dir


def _ready(out_dir: Path, params: dict) -> bool:
    """True when ``out_dir`` already holds this demo; else makes it ready to be written
    (new or empty; an interrupted run of ours is cleared), or refuses it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"out_dir {out_dir} exists and is not a folder")
    done = _finished(out_dir)
    if done is not None:
        if done.get("version") == VERSION and done.get("params") == params:
            return True
        raise FileExistsError(
            f"out_dir {out_dir} holds an IQA demo made with other parameters "
            f"({done.get('params')}, version {done.get('version')}); want {params}, version "
            f"{VERSION}. Pass another folder or delete that one.")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / _PARTIAL).is_file():
            raise FileExistsError(f"out_dir {out_dir} is not empty and is not an IQA demo "
                                  f"folder; refusing to write into it. Pass a new or empty "
                                  f"folder.")
        for name in _OURS:  # an interrupted run of ours: only our own entries go
            p = out_dir / name
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / _PARTIAL, json.dumps(params) + "\n")
    for sub in ("refs", "dist", "masks"):
        (out_dir / sub).mkdir()
    return False


def _generate(out_dir: Path, photos: dict[str, np.ndarray], params: dict) -> list[list]:
    h, w = params["size"]
    levels = params["levels"]
    rows = []
    full = np.full((h, w), 255, np.uint8)
    for p_i, (name, ref) in enumerate(photos.items()):
        ref_name = f"refs/{name}.png"
        _save_png(out_dir / ref_name, ref)
        ref_f = ref.astype(np.float64) / 255.0
        for kind in params["kinds"]:
            k_i = KINDS.index(kind)
            # One local region per photo and kind, shared by its levels (as TID2013 keeps
            # a distortion's place across levels), so a level changes only the strength.
            # Generators are keyed by identity, so a kinds subset reproduces the same
            # images as the full set; _MASK_TAG keeps the mask stream apart from the
            # per-image ones (levels are <= MAX_LEVELS < _MASK_TAG).
            mask = local_mask(h, w, np.random.default_rng([params["seed"], p_i, k_i, _MASK_TAG]))
            mask8 = _to_uint8(mask)
            for level in range(1, levels + 1):
                for e_i, extent in enumerate(EXTENTS):
                    rng = np.random.default_rng([params["seed"], p_i, k_i, level, e_i])
                    value = strength(kind, extent, level, levels, params.get("strengths"))
                    dist = distort(ref, kind, value, rng)
                    if extent == "local":
                        dist = mask[..., None] * dist + (1.0 - mask[..., None]) * ref_f
                    dist8 = _to_uint8(dist)
                    stem = f"{name}_{kind}_{extent}_{level}.png"
                    _save_png(out_dir / "dist" / stem, dist8)
                    _save_png(out_dir / "masks" / stem, mask8 if extent == "local" else full)
                    mos = demo_score(ref_f, dist8.astype(np.float64) / 255.0)
                    rows.append([f"dist/{stem}", ref_name, f"{mos:.4f}", f"{kind}/{extent}",
                                 level, extent])
    return rows


def summary(rows: Sequence[Sequence]) -> list[str]:
    """One line per distortion type of meta.csv rows: count and score range."""
    by_type: dict[str, list[float]] = {}
    for r in rows:
        by_type.setdefault(str(r[3]), []).append(float(r[2]))
    return [f"iqa demo {t:<24} {len(v):4d} images  score {min(v):6.2f} .. {max(v):6.2f}"
            f"  (mean {np.mean(v):6.2f})" for t, v in by_type.items()]


def read_demo(root: str | Path) -> IQATable:
    """A generated demo folder (any parameters) as a table, read through
    :func:`~hyperkit.data.iqa.csv.load_csv`: meta.csv's dist_type column, MOS 0-100,
    higher is better, 100 for an undistorted image."""
    return load_csv(root, type_col="dist_type", best_score=100.0, higher_better=True)


def load_demo(root: str | Path | None = None, *, log: Callable[[str], Any] | None = print
              ) -> IQATable:
    """The demo set at ``root`` (None: :func:`default_demo_dir`) as a table, generated
    there first with the default parameters when absent (:func:`make_iqa_demo`)."""
    return read_demo(make_iqa_demo(root or default_demo_dir(), log=log))
