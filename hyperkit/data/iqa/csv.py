"""Any folder of images plus a CSV of scores: the pyiqa meta-info convention
(``dist_name,ref_name,mos``, paths relative to the folder), as shipped for KonIQ-10k
and KADID-10k, or the user's own.

Column names are options. Without a reference column the table has no references
(plain random splits, no selective patch training); a reference column whose values
are files gives the reference images too. ``IQATable.to_csv`` writes this convention.
"""

from __future__ import annotations

import csv as csvlib
import io
import math
from pathlib import Path

import numpy as np

from .table import DatasetSpec, IQATable, listing

#: TID2013's networks and grid: images of any size fit it (equation-2 strides).
SPEC = DatasetSpec("tid_stage1", "tid_stage2", (23, 31))

DELIMITERS = (",", ";", "\t")


class _Auto(str):
    """A default column name that may be absent from the file (a name the caller passes
    explicitly must be present). A str, so the signature shows the name."""


_REF_COL = _Auto("ref_name")
_TYPE_COL = "dist_type"  # picked up when present and type_col is None
_LEVEL_COL = "level"  # picked up when present and level_col is None


def load_csv(root: str | Path, csv: str | Path | None = None, *, image_col: str = "dist_name",
             ref_col: str | None = _REF_COL, score_col: str = "mos",
             type_col: str | None = None, level_col: str | None = None,
             higher_better: bool = True, best_score: float | None = None,
             delimiter: str | None = None, allow_outside_root: bool = False) -> IQATable:
    """The images listed in a CSV under folder ``root``, with their scores.

    ``csv``: the file; None takes the single ``*.csv`` in ``root``; a relative path is
    looked up from the current directory first, then from ``root``.
    Columns: ``image_col`` (image paths relative to ``root``) and ``score_col`` are
    required. ``ref_col`` is optional under its default name 'ref_name' and required
    when named explicitly; None ignores references. Reference values that are files
    (relative to ``root``) give ``ref_images``, with the relative path strings as ids;
    other values are plain ids. ``type_col`` / ``level_col`` default to the columns
    'dist_type' / 'level' when present.
    ``higher_better`` (MOS: True, DMOS: False) and ``best_score`` (the score of an
    undistorted image, for selective patch training) describe the score scale.
    ``delimiter``: None sniffs comma, semicolon or tab from the header.
    Image and reference paths must resolve inside ``root`` (``..``, absolute paths and
    symbolic links out of it are refused, naming the rows) unless ``allow_outside_root``.

    Refuses, with 1-based row numbers (the header is row 1): a missing, empty,
    non-numeric or non-finite score, a duplicated image, image files that do not exist,
    and missing columns (listing those found). Only existence is checked here:
    :func:`hyperkit.data.iqa.check_readable` reads every image.
    """
    root_in = Path(root).expanduser()
    if not root_in.is_dir():
        raise FileNotFoundError(f"root {root} is not a folder")
    root = root_in.resolve()
    path = _find_csv(root, csv)
    explicit_ref = ref_col is not None and not isinstance(ref_col, _Auto)
    if delimiter is not None and delimiter not in DELIMITERS:
        raise ValueError(f"delimiter must be one of {DELIMITERS} or None, got {delimiter!r}")

    rows, header = _read_rows(path, delimiter)
    c_image = _column(path, header, image_col, True, "image_col")
    c_score = _column(path, header, score_col, True, "score_col")
    c_ref = _column(path, header, ref_col, explicit_ref, "ref_col")
    c_type = _column(path, header, type_col or _TYPE_COL, type_col is not None, "type_col")
    c_level = _column(path, header, level_col or _LEVEL_COL, level_col is not None,
                      "level_col")

    names, scores, refs, types, levels, row_numbers = _parse_rows(
        path, rows, header, c_image, c_score, c_ref, c_type, c_level, image_col, score_col)
    images = [(root / n).resolve() for n in names]
    if not allow_outside_root:  # before existence: say nothing about files outside
        _inside_root(root, path, names, images, row_numbers, image_col)
    _check_existing(root, path, names, images, row_numbers)

    ref_ids, ref_images = _references(refs, row_numbers, root, path, ref_col, c_ref)
    if ref_images and not allow_outside_root:
        ref_rows = {r: row_numbers[ref_ids.index(r)] for r in ref_images}
        _inside_root(root, path, list(ref_images), list(ref_images.values()),
                     [ref_rows[r] for r in ref_images], ref_col or "ref_name")
    dist_types = _all_or_none(types, row_numbers, path, type_col or _TYPE_COL, c_type)
    level_values = _all_or_none(levels, row_numbers, path, level_col or _LEVEL_COL, c_level)
    return IQATable(
        name="csv", root=root, images=tuple(images), scores=np.asarray(scores, np.float64),
        higher_better=bool(higher_better), score_name=score_col,
        label_source=f"{path.name} ({score_col})", refs=ref_ids, ref_images=ref_images,
        dist_types=dist_types, levels=level_values, best_score=best_score, gray=False)



def _read_rows(path: Path, delimiter: str | None) -> tuple[list[list[str]], list[str]]:
    """The CSV's rows (the header first) and its stripped header; ``delimiter`` None
    sniffs it from the header."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # utf-8-sig drops a BOM
    except UnicodeDecodeError as e:
        row = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{path}: row {row} is not UTF-8 text (byte {e.start}: "
                         f"{raw[e.start:e.start + 1]!r}); save the CSV as UTF-8") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} is empty or has no header row")
    delimiter = delimiter or _sniff(lines[0], text)
    rows = list(csvlib.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True))
    header = [h.strip() for h in rows[0]]
    return rows, header


def _column(path: Path, header: list[str], name: str | None, required: bool, option: str
            ) -> int | None:
    """The index of column ``name`` in ``header``; None when ``name`` is None or absent
    and not ``required`` (the option that named it is in the error)."""
    if name is None:
        return None
    if name in header:
        return header.index(name)
    if required:
        raise ValueError(f"{path} has no column {name!r} ({option}); its columns are "
                         f"{header}")
    return None


def _parse_rows(path: Path, rows: list[list[str]], header: list[str], c_image: int,
                c_score: int, c_ref: int | None, c_type: int | None, c_level: int | None,
                image_col: str, score_col: str) -> tuple[list, list, list, list, list, list]:
    """names, scores, refs, types, levels and 1-based row numbers of the data rows
    (blank lines skipped); every bad row is listed in one ValueError."""
    names, scores, refs, types, levels, row_numbers = [], [], [], [], [], []
    problems: list[str] = []
    for row_no, row in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in row):
            continue  # blank line
        if len(row) != len(header):
            problems.append(f"row {row_no} has {len(row)} fields, the header {len(header)}")
            continue
        row = [v.strip() for v in row]
        name, score_text = row[c_image], row[c_score]
        if not name:
            problems.append(f"row {row_no}: {image_col} is empty")
            continue
        try:
            score = float(score_text)
        except ValueError:
            problems.append(f"row {row_no}: {score_col} {score_text!r} is "
                            + ("empty" if not score_text else "not a number"))
            continue
        if not math.isfinite(score):
            problems.append(f"row {row_no}: {score_col} {score_text!r} is not finite")
            continue
        level = None
        if c_level is not None and row[c_level]:
            try:
                level = int(row[c_level])
            except ValueError:
                problems.append(f"row {row_no}: level {row[c_level]!r} is not an integer")
                continue
        names.append(name)
        scores.append(score)
        refs.append(row[c_ref] if c_ref is not None else "")
        types.append(row[c_type] if c_type is not None else "")
        levels.append(level)
        row_numbers.append(row_no)
    if problems:
        raise ValueError(f"{path}: {len(problems)} bad rows: {listing(problems)}")
    if not names:
        raise ValueError(f"{path} lists no images")
    return names, scores, refs, types, levels, row_numbers


def _inside_root(root: Path, path: Path, names: list[str], resolved: list[Path],
                 row_numbers: list[int], col: str) -> None:
    """Refuses files that resolve outside ``root`` (after '..' and symbolic links): a
    data file must not make hyperkit read elsewhere without the user saying so."""
    out = [f"row {r}: {n} -> {p}" for n, p, r in zip(names, resolved, row_numbers)
           if p != root and root not in p.parents]
    if out:
        raise ValueError(f"{path}: {len(out)} path(s) in column {col!r} lead outside the "
                         f"data set folder {root}: {listing(out)}; pass allow_outside_root=True "
                         "if that is intended")


def _check_existing(root: Path, path: Path, names: list[str], images: list[Path],
                    row_numbers: list[int]) -> None:
    """Refuses duplicated images (``images``: the resolved ``names``) and files that do
    not exist."""
    first: dict[Path, int] = {}
    dups = []
    for image, row_no in zip(images, row_numbers):
        if image in first:
            dups.append(f"row {row_no} repeats row {first[image]} ({image.relative_to(root)})"
                        if root in image.parents else f"row {row_no} repeats row "
                        f"{first[image]} ({image})")
        else:
            first[image] = row_no
    if dups:
        raise ValueError(f"{path}: {len(dups)} duplicated images: {listing(dups)}")
    missing = [f"row {r}: {n}" for n, image, r in zip(names, images, row_numbers)
               if not image.is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: {len(missing)} images do not exist under {root}: "
                                f"{listing(missing)}")

def _find_csv(root: Path, csv: str | Path | None) -> Path:
    if csv is None:
        found = sorted(root.glob("*.csv"))
        if len(found) != 1:
            what = ("no *.csv" if not found
                    else f"{len(found)} CSV files ({[p.name for p in found]})")
            raise FileNotFoundError(f"{root} holds {what}; name the file with csv=")
        return found[0]
    csv = Path(csv).expanduser()
    tried = [csv] if csv.is_absolute() else [Path.cwd() / csv, root / csv]
    for p in tried:
        if p.is_file():
            return p.resolve()
    raise FileNotFoundError(f"CSV file {csv} not found (looked at {[str(p) for p in tried]})")


def _sniff(header: str, text: str) -> str:
    """The delimiter: the one candidate in the header line, else csv.Sniffer's pick."""
    present = [d for d in DELIMITERS if d in header]
    if len(present) == 1:
        return present[0]
    if not present:
        return ","  # one column: the missing-column error will list it
    try:
        return csvlib.Sniffer().sniff(text[:65536], delimiters="".join(DELIMITERS)).delimiter
    except csvlib.Error:
        raise ValueError(f"cannot tell the delimiter of the CSV: the header {header!r} holds "
                         f"{present}; pass delimiter=") from None


def _references(refs: list[str], row_numbers: list[int], root: Path, path: Path,
                ref_col: str | None, c_ref: int | None
                ) -> tuple[tuple[str, ...] | None, dict[str, Path] | None]:
    """Reference ids and, when every value is a file under root, the reference images."""
    ids = _all_or_none(refs, row_numbers, path, ref_col, c_ref)
    if ids is None:
        return None, None
    unique = list(dict.fromkeys(ids))
    files = {r: (root / r).resolve() for r in unique}
    exists = {r: p.is_file() for r, p in files.items()}
    if not any(exists.values()):
        return ids, None  # plain ids
    if not all(exists.values()):
        missing = [f"row {row_numbers[ids.index(r)]}: {r}" for r in unique if not exists[r]]
        raise FileNotFoundError(
            f"{path}: column {ref_col!r} names reference files, but {len(missing)} do not "
            f"exist under {root}: {listing(missing)}")
    return ids, files


def _all_or_none(values: list, row_numbers: list[int], path: Path, col: str | None,
                 c: int | None) -> tuple | None:
    """The column's values when every row has one, None when the column is absent or
    empty throughout; an error naming the rows where only some are empty."""
    if c is None:
        return None
    empty = [r for v, r in zip(values, row_numbers) if v in ("", None)]
    if len(empty) == len(values):
        return None
    if empty:
        raise ValueError(f"{path}: column {col!r} is empty in {len(empty)} rows (rows "
                         f"{empty[:5]}{' ...' if len(empty) > 5 else ''}); fill it in every "
                         "row or in none")
    return tuple(values)
