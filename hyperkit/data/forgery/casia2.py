"""CASIA v2.0 read as shipped: the Au/ and Tp/ folders, names parsed, pairs found.

The archive holds ``Au/`` (authentic images, ``Au_<category>_<id>``, e.g.
``Au_ani_00001.jpg``) and ``Tp/`` (tampered images,
``Tp_<D|S>_<...>_<source id>_<target id>_<n>``, e.g.
``Tp_D_CND_M_N_ani00018_sec00096_00138.tif``), both mixing .jpg, .tif and .bmp.
An id such as ``ani00018`` is the category and number of an authentic image.

Pairing: a tampered image is compared with the authentic image it was made from
(same size, only the tampered region differs). Both ids of its name are candidates,
the source first; those of the tampered image's size are kept. When two remain (the
ids differ and both images have its size), the contour step keeps the one closer to
the tampered image (:func:`hyperkit.data.forgery.contours.closest_candidate`). Sizes come from
the file headers, so scanning reads no pixels.

Masks (optional): the community-made CASIA2 ground truth holds one mask per tampered
image, named after it (``<tampered stem>_gt.png``, or the same stem). Given, a mask
replaces image subtraction for that image.

Nothing here writes into the dataset folder; :meth:`Casia2.to_csv` writes where it
is told.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...files import write_text
from ...image_headers import header_size
from ...images import IMAGE_SUFFIXES
from . import near_duplicates as nd

AUTHENTIC_RE = re.compile(r"^Au_(?P<category>[A-Za-z]+)_(?P<number>\d+)$")
TAMPERED_RE = re.compile(r"^Tp_(?P<kind>[DS])_(?P<fields>.*?)_?(?P<source>[A-Za-z]+\d+)_"
                         r"(?P<target>[A-Za-z]+\d+)_(?P<number>\d+)$")
MASK_SUFFIXES = ("_gt", "_mask", "")
IGNORED = {"thumbs.db", ".ds_store", "desktop.ini"}  # files the archive's folders carry


@dataclass(frozen=True)
class TamperedName:
    """Fields of a tampered file name: kind 'D' (spliced from different images) or 'S'
    (copy-move within one image), source and target ids ('ani00018'), the running
    number, and the fields between (tampering flags, unused here)."""

    kind: str
    source: str
    target: str
    number: str
    fields: str


def authentic_id(name: str) -> str:
    """'Au_ani_00001.jpg' -> 'ani00001' (the id tampered names use); ValueError
    otherwise."""
    m = AUTHENTIC_RE.match(Path(name).stem)
    if m is None:
        raise ValueError(f"{name!r} is not an authentic CASIA v2 name (expected "
                         "Au_<category>_<number>, e.g. Au_ani_00001.jpg)")
    return f"{m['category'].lower()}{m['number']}"


def parse_tampered(name: str) -> TamperedName:
    """Fields of 'Tp_D_CND_M_N_ani00018_sec00096_00138.tif'; ValueError otherwise."""
    m = TAMPERED_RE.match(Path(name).stem)
    if m is None:
        raise ValueError(f"{name!r} is not a tampered CASIA v2 name (expected "
                         "Tp_<D|S>_..._<source id>_<target id>_<n>, e.g. "
                         "Tp_D_CND_M_N_ani00018_sec00096_00138.tif)")
    return TamperedName(m["kind"], m["source"].lower(), m["target"].lower(), m["number"],
                        m["fields"])


@dataclass
class Pair:
    """A tampered image and the authentic image(s) of its size named in it.

    ``candidates`` are authentic paths, the named source first; ``mask`` is its ground
    truth mask file or None."""

    tampered: Path
    candidates: list[Path]
    kind: str
    mask: Path | None = None

    @property
    def authentic(self) -> Path:
        """The first candidate (the source when it has the tampered image's size)."""
        return self.candidates[0]


@dataclass
class Casia2:
    """What :func:`scan` found: authentic images, tampered/authentic pairs and every
    file skipped, with its reason."""

    root: Path
    authentic: list[Path]
    pairs: list[Pair]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    masks: Path | None = None
    mask_problems: list[tuple[Path, str]] = field(default_factory=list)
    grouping: dict = field(default_factory=dict)  # set by classification_set
    _hashes: list[int | None] | None = field(default=None, init=False, repr=False,
                                             compare=False)  # dHash of each authentic

    def summary(self) -> dict:
        """Counts: authentic, tampered found and paired, masks used, skipped by reason,
        masks set aside by reason (their tampered images fall back to subtraction)."""
        reasons = Counter(_reason_kind(r) for _, r in self.skipped)
        mask_reasons = Counter(_reason_kind(r) for _, r in self.mask_problems)
        return {"root": str(self.root), "authentic": len(self.authentic),
                "pairs": len(self.pairs),
                "spliced_pairs": sum(p.kind == "D" for p in self.pairs),
                "copy_move_pairs": sum(p.kind == "S" for p in self.pairs),
                "pairs_with_mask": sum(p.mask is not None for p in self.pairs),
                "masks": None if self.masks is None else str(self.masks),
                "skipped": len(self.skipped), "skipped_by_reason": dict(reasons),
                "masks_set_aside": len(self.mask_problems),
                "masks_set_aside_by_reason": dict(mask_reasons)}

    def to_csv(self, path: str | Path) -> Path:
        """Writes the table tampered, source (authentic), mask, kind (refuses to write
        into the dataset folder or over an existing file)."""
        p = Path(path)
        if inside(p, self.root) or (self.masks is not None and inside(p, self.masks)):
            raise ValueError(f"--to-csv {p} is inside the dataset folder; nothing is written "
                             "there, choose a path outside it")
        if p.exists():
            raise FileExistsError(f"{p} exists; choose another file (nothing is overwritten)")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["tampered", "source", "mask", "kind", "other_candidate"])
        for pr in self.pairs:
            w.writerow([pr.tampered, pr.authentic, pr.mask or "", pr.kind,
                        pr.candidates[1] if len(pr.candidates) > 1 else ""])
        return write_text(p, buf.getvalue())

    def classification_set(self, near_duplicates: bool = True,
                           log: Callable[[str], None] | None = None
                           ) -> tuple[list[Path], np.ndarray, list[str]]:
        """(paths, labels, groups): every authentic image (label 1, as in the paper) and
        every paired tampered image (label 0), with the group that
        :func:`grouped_split` keeps on one side.

        A tampered image is grouped with its source (the first candidate; not with its
        donor: chains of donors would join most of CASIA into one group); with
        ``near_duplicates``,
        authentic images whose perceptual hashes nearly agree
        (:mod:`~hyperkit.data.forgery.near_duplicates`) share a group too. The
        grouping found is kept in :attr:`grouping` for the run's report."""
        paths = list(self.authentic) + [p.tampered for p in self.pairs]
        labels = np.r_[np.ones(len(self.authentic)), np.zeros(len(self.pairs))]
        index = {a: i for i, a in enumerate(self.authentic)}
        edges = [(index[p.authentic], len(self.authentic) + k)
                 for k, p in enumerate(self.pairs) if p.authentic in index]
        close: list[tuple[int, int]] = []
        if near_duplicates:
            if self._hashes is None:  # decoded once per scan, not once per seed
                self._hashes = nd.hash_files(self.authentic, log)
            known = [i for i, h in enumerate(self._hashes) if h is not None]
            close = [(known[a], known[b]) for a, b in
                     nd.near_duplicate_pairs([self._hashes[i] for i in known])]
        comp = nd.components(len(paths), edges + close)
        self.grouping = {"near_duplicates": near_duplicates, "max_bits": nd.MAX_BITS,
                         "near_duplicate_pairs": len(close),
                         "authentic_in_near_duplicate_groups": len({i for pr in close
                                                                    for i in pr}),
                         "groups": int(comp.max()) + 1 if len(comp) else 0}
        return paths, labels.astype(np.float32), [f"g{c}" for c in comp]


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (symlinks resolved)."""
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _subfolder(root: Path, name: str) -> Path | None:
    """root/name, matched case-insensitively (archives unpacked on Windows vary)."""
    for p in root.iterdir():
        if p.is_dir() and p.name.lower() == name.lower():
            return p
    return None


def _files(folder: Path, skipped: list[tuple[Path, str]]) -> list[Path]:
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.lower() in IGNORED or p.name.startswith("."):
            continue
        if not p.is_file():
            skipped.append((p, "not a file: a folder inside the image folder"))
        elif p.suffix.lower() not in IMAGE_SUFFIXES or p.suffix.lower() == ".npy":
            skipped.append((p, f"not an image: suffix {p.suffix or '(none)'}"))
        else:
            out.append(p)
    return out


def check_layout(root: str | Path) -> tuple[Path, Path]:
    """(Au folder, Tp folder) of a CASIA v2 root; FileNotFoundError / ValueError saying
    what was expected."""
    r = Path(root)
    if not r.exists():
        raise FileNotFoundError(f"CASIA v2 root {r} does not exist")
    if not r.is_dir():
        raise ValueError(f"CASIA v2 root {r} is a file; expected the folder holding Au/ and "
                         "Tp/")
    au, tp = _subfolder(r, "Au"), _subfolder(r, "Tp")
    if au is None or tp is None:
        missing = " and ".join(n for n, f in (("Au/", au), ("Tp/", tp)) if f is None)
        inner = [p.name for p in r.iterdir() if p.is_dir()][:5]
        raise ValueError(f"{r} is not in the CASIA v2 layout: no {missing}. Expected "
                         "ROOT/Au/Au_<category>_<id>.<jpg|tif|bmp> and "
                         "ROOT/Tp/Tp_<D|S>_..._<source>_<target>_<n>.<jpg|tif|bmp>"
                         + (f" (subfolders found: {', '.join(inner)})" if inner else ""))
    return au, tp


def scan(root: str | Path, masks: str | Path | None = None) -> Casia2:
    """Finds the authentic images, the tampered/authentic pairs and what to skip.

    Never raises for a bad file: names that match no authentic image, pairs of
    different sizes, unreadable files and names outside the convention are listed in
    ``skipped`` with their reason (see :meth:`Casia2.summary`). Raises only when
    ``root`` (or ``masks``) is not a folder of the expected layout.
    """
    au_dir, tp_dir = check_layout(root)
    mask_dir = None
    if masks is not None:
        mask_dir = Path(masks)
        if not mask_dir.is_dir():
            raise FileNotFoundError(f"masks folder {mask_dir} does not exist (expected one "
                                    "mask per tampered image, named <tampered stem>_gt.png)")
    skipped: list[tuple[Path, str]] = []
    mask_problems: list[tuple[Path, str]] = []
    authentic: list[Path] = []
    by_id: dict[str, tuple[Path, tuple[int, int]]] = {}
    for p in _files(au_dir, skipped):
        try:
            key = authentic_id(p.name)
        except ValueError as e:
            skipped.append((p, f"bad name: {e}"))
            continue
        try:
            size = header_size(p)
        except ValueError as e:
            skipped.append((p, f"unreadable: {e}"))
            continue
        if key in by_id:
            skipped.append((p, f"duplicate id: {key} is also {by_id[key][0].name}"))
            continue
        by_id[key] = (p, size)
        authentic.append(p)
    mask_files = {}
    if mask_dir is not None:
        mask_files = {m.stem: m for m in sorted(mask_dir.iterdir())
                      if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES}
    pairs: list[Pair] = []
    for p in _files(tp_dir, skipped):
        try:
            name = parse_tampered(p.name)
        except ValueError as e:
            skipped.append((p, f"bad name: {e}"))
            continue
        named = [i for i in dict.fromkeys((name.source, name.target))]
        known = [i for i in named if i in by_id]
        if not known:
            skipped.append((p, f"no authentic image: neither {' nor '.join(named)} is in "
                               f"{au_dir.name}/"))
            continue
        try:
            size = header_size(p)
        except ValueError as e:
            skipped.append((p, f"unreadable: {e}"))
            continue
        same = [by_id[i][0] for i in known if by_id[i][1] == size]
        if not same:
            sizes = ", ".join(f"{by_id[i][0].name} {by_id[i][1][0]}x{by_id[i][1][1]}"
                              for i in known)
            skipped.append((p, f"size differs: tampered {size[0]}x{size[1]}, {sizes}"))
            continue
        found = [mask_files.pop(p.stem + sfx) for sfx in MASK_SUFFIXES
                 if p.stem + sfx in mask_files]  # popped: what is left has no image
        mask = found[0] if found else None
        if mask is not None:
            problem = _mask_problem(mask, size)
            if problem:
                mask_problems.append((mask, problem))
                mask = None
        pairs.append(Pair(p, same, name.kind, mask))
    mask_problems += [(m, "no tampered image: no paired tampered image has this name")
                      for m in mask_files.values()]
    return Casia2(Path(root), authentic, pairs, skipped, mask_dir, mask_problems)


def _mask_problem(mask: Path, size: tuple[int, int]) -> str:
    """Why a ground-truth mask cannot be used for a tampered image of ``size`` (H, W),
    or '' when it can. Community masks are sometimes rotated or of another size."""
    try:
        h, w = header_size(mask)
    except ValueError as e:
        return f"unreadable: {e}"
    if (h, w) == tuple(size):
        return ""
    if (w, h) == tuple(size):
        return f"rotated: mask {h}x{w}, image {size[0]}x{size[1]} (transposed)"
    return f"size differs: mask {h}x{w}, image {size[0]}x{size[1]}"


def grouped_split(groups: Sequence[str], seed: int,
                  fractions: tuple[float, float, float] = (2 / 3, 1 / 6, 1 / 6)
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test indices (2/3, 1/6, 1/6 by default, seeded) in which
    the items of one group stay on one side.

    Groups are shuffled and dealt in order until each part holds its share of the
    items; every part gets at least one group when there are three or more.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three numbers >= 0 that sum to 1, got {fractions}")
    names, inverse = np.unique(np.asarray(list(groups), dtype=object).astype(str),
                               return_inverse=True)
    if len(names) < 3:
        raise ValueError(f"need at least 3 groups (source images) to split, got {len(names)}")
    sizes = np.bincount(inverse)
    order = np.random.default_rng(seed).permutation(len(names))
    cum = np.cumsum(sizes[order]) / sizes.sum()
    a = int(np.searchsorted(cum, fractions[0] - 1e-9)) + 1  # groups in train
    b = int(np.searchsorted(cum, fractions[0] + fractions[1] - 1e-9)) + 1
    a = min(max(a, 1), len(names) - 2)
    b = min(max(b, a + 1), len(names) - 1)
    part = np.empty(len(names), np.int64)
    part[order[:a]], part[order[a:b]], part[order[b:]] = 0, 1, 2
    item_part = part[inverse]
    return tuple(np.flatnonzero(item_part == k) for k in range(3))  # type: ignore[return-value]
