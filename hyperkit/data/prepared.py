"""Images converted once for patch cutting, held in memory or in a disk cache.

Stage-1 training cuts patches from normalized images (LCN is computed on the whole
image, eq. 4, so a patch cannot be normalized alone). A data set of thousands of
photographs is too large to hold normalized in float32 (TID2013: 3000 x 384 x 512 x 3
x 4 bytes = 7 GB; KonIQ's 10 K images about 95 GB), so :class:`PreparedImages` keeps
them in one file, memory-mapped: the process then holds only the pages a batch
touches, and the kernel reclaims them under memory pressure. The file stores float32,
or float16 on request (half the bytes; patches are gathered as float16 and widened to
float32 per batch): LCN values lie within a few units, where float16 keeps 11
significant bits (relative rounding <= 4.9e-4; its measured effect on training is in
bench/RESULTS.md "prepared-cache"). Converting happens once per data set and is reused
on resume.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..files import remove_stale_tmp, tmp_name, write_text
from ..images import channel_error, fitted_hw, image_size, prepare_image
from ..layout import image_hw

FORMAT = "hyperkit-prepared-images"
DTYPES = {"float16": (torch.float16, np.float16), "float32": (torch.float32, np.float32)}
# Free space kept beyond the cache's own size when it is written: the file system's
# other users (checkpoints of the same run) still need room.
DISK_MARGIN = 256 * 2**20


def _source_key(images: Sequence[Any]) -> list[str] | None:
    """A fingerprint of file-backed images (path, size, mtime), None for arrays."""
    paths = getattr(images, "paths", None)
    if paths is None:
        return None
    out = []
    for p in paths:
        st = os.stat(p)
        out.append(f"{p}|{st.st_size}|{st.st_mtime_ns}")
    return out


def _estimated_bytes(images: Sequence[Any], channels: int | None,
                    max_size: tuple[int, int] | None, itemsize: int) -> int | None:
    """Bytes the cache of ``images`` will take, from file headers (or array shapes),
    without decoding; None when a size cannot be read (the conversion then says why)."""
    paths = getattr(images, "paths", None)
    total = 0
    try:
        for i in range(len(images)):
            hw = image_size(paths[i]) if paths is not None else image_hw(images[i])
            h, w = fitted_hw(*hw, max_size)
            total += h * w * (channels or 3) * itemsize
    except (ValueError, TypeError, OSError):
        return None
    return total


def check_disk_space(path: Path, needed: int) -> None:
    """OSError naming ``path`` when its file system has less than ``needed`` bytes free
    (plus :data:`DISK_MARGIN`): refused before the first byte, not half-way."""
    free = shutil.disk_usage(path.parent).free
    if free < needed + DISK_MARGIN:
        raise OSError(f"not enough disk space for the prepared-image cache {path}: it needs "
                      f"{needed / 2**30:.2f} GiB (+{DISK_MARGIN // 2**20} MiB margin), "
                      f"{free / 2**30:.2f} GiB are free; free space or choose another --out")


class PreparedImages:
    """``images`` converted by :func:`hyperkit.images.prepare_image`, each a (C, H, W)
    tensor on the CPU: float32 in memory, ``dtype`` in a cache file.

    Args:
        images: a sequence of single images (arrays, or
            :class:`hyperkit.data.image_files.ImageFiles` read one at a time).
        lcn, channels, max_size: as :func:`~hyperkit.images.prepare_image`.
        path: None keeps them in memory; a file path keeps them in that file (path +
            '.json' describes it), memory-mapped. An existing cache made from the same
            files (path, size, modification time) with the same settings is reused; a
            different one is refused, never overwritten. Before writing, temporary files
            of a killed writer are removed and the free disk space is checked.
        dtype: 'float32' (default: the :func:`prepare_image` values bit for bit) or
            'float16' (half the bytes; each value rounded to nearest) for the cache file.
        name: how errors name the images; progress: show a bar while converting.
    """

    def __init__(self, images: Sequence[Any], *, lcn: bool, channels: int | None,
                 max_size: tuple[int, int] | None = None, path: str | Path | None = None,
                 dtype: str = "float32", name: str = "images", progress: bool = False) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.lcn, self.channels, self.max_size = bool(lcn), channels, max_size
        paths = getattr(images, "paths", None)

        def conv(i: int) -> Tensor:
            what = f"{name}[{i}]" + (f" ({paths[i]})" if paths is not None else "")
            t = prepare_image(images[i], what, lcn=lcn, channels=channels, max_size=max_size)
            if channels is not None and t.shape[0] != channels:
                raise channel_error(what, t.shape[0], channels)
            return t

        bar = dict(desc=f"preparing {name}", disable=None if progress else True, leave=False)
        if path is None:
            self.path, self.dtype = None, "float32"
            self.tensors = [conv(i) for i in tqdm(range(len(images)), **bar)]
            return
        self.path, self.dtype = Path(path), dtype
        meta = {"format": FORMAT, "lcn": self.lcn, "channels": channels,
                "max_size": list(max_size) if max_size else None, "count": len(images)}
        key = _source_key(images)
        meta["sources"] = (hashlib.sha256("\n".join(key).encode()).hexdigest()
                           if key is not None else None)
        index = self.path.with_name(self.path.name + ".json")
        if index.is_file():
            old = json.loads(index.read_text())
            # caches written before the dtype was recorded are float32
            if ({k: old.get(k) for k in meta} != meta or meta["sources"] is None
                    or old.get("dtype", "float32") != dtype):
                raise FileExistsError(f"{self.path} caches other images or settings; remove it "
                                      "or choose another path (it is never overwritten)")
            shapes = [tuple(s) for s in old["shapes"]]
        else:
            shapes = self._write(conv, len(images), bar, meta, index,
                                 _estimated_bytes(images, channels, max_size,
                                                  np.dtype(DTYPES[dtype][1]).itemsize))
        self.tensors = self._map(shapes)

    @classmethod
    def open(cls, path: str | Path) -> PreparedImages:
        """An existing cache file as it is (its index, path + '.json', gives the shapes,
        dtype and settings), memory-mapped copy-on-write, without its source images: for
        reading a finished run's cache (e.g. bench/validation_batch.py). Nothing is
        checked against sources; FileNotFoundError without an index, ValueError for an
        index of another format or a file of the wrong length."""
        path = Path(path)
        index = path.with_name(path.name + ".json")
        if not index.is_file():
            raise FileNotFoundError(f"path: {path} has no index {index.name}")
        meta = json.loads(index.read_text())
        if meta.get("format") != FORMAT or meta.get("dtype", "float32") not in DTYPES:
            raise ValueError(f"path: {index} is not a {FORMAT} index")
        self = cls.__new__(cls)
        self.lcn, self.channels = bool(meta["lcn"]), meta["channels"]
        self.max_size = tuple(meta["max_size"]) if meta.get("max_size") else None
        # caches written before the dtype was recorded are float32
        self.path, self.dtype = path, meta.get("dtype", "float32")
        self.tensors = self._map([tuple(sh) for sh in meta["shapes"]])
        return self

    def _write(self, conv: Any, count: int, bar: dict, meta: dict, index: Path,
               estimate: int | None) -> list[tuple[int, ...]]:
        """Converts every image into a temporary file, renamed to ``self.path`` when
        complete, then writes the index; returns the shapes."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(self.path.parent)  # a killed writer's partial file
        if estimate is not None:
            check_disk_space(self.path, estimate)
        torch_dtype = DTYPES[self.dtype][0]
        shapes = []
        tmp = self.path.with_name(tmp_name(self.path.name))
        try:
            with open(tmp, "wb") as f:
                for i in tqdm(range(count), **bar):
                    t = conv(i).to(torch_dtype)
                    if not torch.isfinite(t).all():  # float16 overflows above 65504
                        raise ValueError(f"images[{i}] has values outside {self.dtype}'s "
                                         "range after preparation; use dtype='float32'")
                    shapes.append(tuple(t.shape))
                    f.write(t.numpy().tobytes())
        except BaseException:
            tmp.unlink(missing_ok=True)  # a bad image leaves no partial file behind
            raise
        os.replace(tmp, self.path)
        write_text(index, json.dumps({**meta, "dtype": self.dtype, "shapes": shapes}))  # last
        return shapes

    def _map(self, shapes: Sequence[tuple[int, ...]]) -> list[Tensor]:
        """The cache file memory-mapped (copy-on-write: never written), one tensor per
        image; a file of the wrong length is refused before slicing."""
        np_dtype = np.dtype(DTYPES[self.dtype][1])
        expected = sum(int(np.prod(s)) for s in shapes) * np_dtype.itemsize
        if self.path.stat().st_size != expected:
            raise ValueError(f"{self.path} is truncated or corrupt ({self.path.stat().st_size} "
                             f"bytes, {expected} expected); remove it")
        flat = np.memmap(self.path, dtype=np_dtype, mode="c")
        tensors, at = [], 0
        for s in shapes:
            n = int(np.prod(s))
            tensors.append(torch.from_numpy(flat[at:at + n].reshape(s)))
            at += n
        return tensors

    def __len__(self) -> int:
        return len(self.tensors)

    def __getitem__(self, i: int) -> Tensor:
        """Image ``i``: (C, H, W), of :attr:`dtype` (float16 from a half-size cache)."""
        return self.tensors[i]

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(H, W) of every prepared image."""
        return [(t.shape[1], t.shape[2]) for t in self.tensors]

    @property
    def nbytes(self) -> int:
        """Bytes of all prepared pixels (in memory, or in the cache file)."""
        return sum(t.numel() * t.element_size() for t in self.tensors)
