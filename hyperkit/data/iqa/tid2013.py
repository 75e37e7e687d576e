"""TID2013 (Ponomarenko et al. 2015): 3000 distorted images of 25 references, 24
distortion types at 5 levels, with MOS on the subjects' 0-9 scale (higher is better;
the shipped MOS run from about 0.24 to 7.21).

The official folder::

    mos_with_names.txt     one line per image: "5.51429 I01_01_1.bmp" (MOS, file name)
    distorted_images/      I{ref:02d}_{type:02d}_{level}.bmp
    reference_images/      I01.BMP ... I24.BMP, i25.bmp

The shipped archive mixes ``i``/``I`` and ``.bmp``/``.BMP`` (reference 25 is
``i25.bmp``, the others ``I01.BMP``; distorted names vary too), so every name is
resolved ignoring case, and a row that does not resolve is an error: loaders that
match case silently lose the 120 images of reference 25.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .table import DatasetSpec, FolderIndex, IQATable, listing, require_layout

#: The paper's networks for TID2013 and its 23 x 31 grid (Input(23,31,800)).
SPEC = DatasetSpec("tid_stage1", "tid_stage2", (23, 31))

#: The 24 official distortion types (TID2013 readme); index = type number - 1.
TID2013_TYPES: tuple[str, ...] = (
    "Additive Gaussian noise",
    "Additive noise in color components",
    "Spatially correlated noise",
    "Masked noise",
    "High frequency noise",
    "Impulse noise",
    "Quantization noise",
    "Gaussian blur",
    "Image denoising",
    "JPEG compression",
    "JPEG2000 compression",
    "JPEG transmission errors",
    "JPEG2000 transmission errors",
    "Non eccentricity pattern noise",
    "Local block-wise distortions of different intensity",
    "Mean shift (intensity shift)",
    "Contrast change",
    "Change of color saturation",
    "Multiplicative Gaussian noise",
    "Comfort noise",
    "Lossy compression of noisy images",
    "Image color quantization with dither",
    "Chromatic aberrations",
    "Sparse sampling and reconstruction",
)


def _types(*numbers: int) -> tuple[str, ...]:
    return tuple(TID2013_TYPES[k - 1] for k in numbers)


#: The type sets of the paper's experiment 3: the four types shared with LIVE (AWGN,
#: Gaussian blur, JPEG, JPEG2000), those plus the two most non-uniform ones (14 non
#: eccentricity pattern noise, 15 local block-wise distortions), and all 24.
TID_SUBSETS: dict[str, tuple[str, ...]] = {
    "live4": _types(1, 8, 10, 11),
    "live4+local": _types(1, 8, 10, 11, 14, 15),
    "all": TID2013_TYPES,
}

#: TID2013 gives references no MOS. 7.25 is just above the best distorted image's MOS,
#: 7.21, so a reference ranks first without stretching the scale towards 9, which no
#: image reached. Selective patch training labels reference patches with it; it is not
#: a row of the table.
TID2013_REFERENCE_MOS = 7.25

LEVELS = 5
_NAME = re.compile(r"i(\d{2})_(\d{2})_(\d)\.bmp", re.IGNORECASE)
_LAYOUT = """\
  tid2013/
    mos_with_names.txt     one line per image: "5.51429 I01_01_1.bmp" (MOS, then file name)
    distorted_images/      I01_01_1.bmp ... (I{ref:02d}_{type:02d}_{level}.bmp, any case)
    reference_images/      I01.BMP ... I24.BMP, i25.bmp (any case)"""


def load_tid2013(root: str | Path) -> IQATable:
    """The 3000 images of TID2013 at ``root`` with their MOS, references (ids 'I01' ..
    'I25'), distortion types (the official names, :data:`TID2013_TYPES`) and levels 1-5.

    Names are resolved ignoring case. Refuses, with line numbers: a missing file or
    folder (showing the expected layout), a malformed line, a non-numeric MOS, a name
    not of the form I01_01_1.bmp, a duplicated name, rows whose image or reference file
    does not exist.
    """
    root = require_layout(root, files=["mos_with_names.txt"],
                          folders=["distorted_images", "reference_images"],
                          dataset="TID2013", layout=_LAYOUT)
    mos_file = root / "mos_with_names.txt"
    distorted = FolderIndex(root / "distorted_images")
    references = FolderIndex(root / "reference_images")
    images, scores, refs, types, levels = [], [], [], [], []
    ref_images: dict[str, Path] = {}
    seen: dict[str, int] = {}
    unresolved: list[str] = []
    text = mos_file.read_text(encoding="utf-8-sig")
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"mos_with_names.txt line {line_no}"
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{where} is {line.strip()!r}; expected 'MOS file_name', e.g. "
                             "'5.51429 I01_01_1.bmp'")
        mos_text, name = parts
        try:
            mos = float(mos_text)
        except ValueError:
            raise ValueError(f"{where}: MOS {mos_text!r} is not a number") from None
        if not math.isfinite(mos):
            raise ValueError(f"{where}: MOS {mos_text!r} is not finite")
        m = _NAME.fullmatch(name)
        if m is None:
            raise ValueError(f"{where}: file name {name!r} is not of the form "
                             "I{ref:02d}_{type:02d}_{level}.bmp")
        ref, kind, level = (int(g) for g in m.groups())
        if not (1 <= kind <= len(TID2013_TYPES) and 1 <= level <= LEVELS and ref >= 1):
            raise ValueError(f"{where}: {name!r} has reference {ref}, type {kind}, level "
                             f"{level}; expected reference >= 1, type 1-{len(TID2013_TYPES)}, "
                             f"level 1-{LEVELS}")
        key = name.lower()
        if key in seen:
            raise ValueError(f"{where}: {name!r} is listed twice (first on line {seen[key]})")
        seen[key] = line_no
        ref_id = f"I{ref:02d}"
        image = distorted.find(name)
        if image is None:
            unresolved.append(f"line {line_no}: distorted_images/{name}")
            continue
        if ref_id not in ref_images:
            ref_file = references.find(f"{ref_id}.bmp")
            if ref_file is None:
                unresolved.append(f"line {line_no}: reference_images/{ref_id}.BMP")
                continue
            ref_images[ref_id] = ref_file
        images.append(image)
        scores.append(mos)
        refs.append(ref_id)
        types.append(TID2013_TYPES[kind - 1])
        levels.append(level)
    if unresolved:
        raise FileNotFoundError(
            f"TID2013 at {root}: {len(unresolved)} rows of mos_with_names.txt name files that "
            f"do not exist (ignoring case): {listing(unresolved)}; expected:\n{_LAYOUT}")
    if not images:
        raise ValueError(f"{mos_file} lists no images")
    return IQATable(
        name="tid2013", root=root, images=tuple(images), scores=np.asarray(scores, np.float64),
        higher_better=True, score_name="MOS", label_source="mos_with_names.txt",
        refs=tuple(refs), ref_images=ref_images, dist_types=tuple(types), levels=tuple(levels),
        best_score=TID2013_REFERENCE_MOS, gray=False)
