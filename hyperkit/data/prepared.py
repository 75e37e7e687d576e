"""Images converted once for patch cutting, held in memory or in a disk cache.

Stage-1 training cuts patches from normalized images (LCN is computed on the whole
image, eq. 4, so a patch cannot be normalized alone). A data set of thousands of
photographs is too large to hold normalized in float32 (TID2013: 3000 x 384 x 512 x 3
x 4 bytes = 7 GB), so :class:`PreparedImages` can keep them in one float32 file,
memory-mapped: the process then holds only the pages a batch touches, and the kernel
reclaims them under memory pressure. Converting happens once per data set and is
reused on resume.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..files import tmp_name, write_text
from ..images import channel_error, prepare_image

FORMAT = "hyperkit-prepared-images"


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


class PreparedImages:
    """``images`` converted by :func:`hyperkit.images.prepare_image`, each a float32
    (C, H, W) tensor on the CPU.

    Args:
        images: a sequence of single images (arrays, or
            :class:`hyperkit.data.image_files.ImageFiles` read one at a time).
        lcn, channels, max_size: as :func:`~hyperkit.images.prepare_image`.
        path: None keeps them in memory; a file path keeps them in that float32 file
            (path + '.json' describes it), memory-mapped. An existing cache made from the
            same files (path, size, modification time) with the same settings is reused;
            a different one is refused, never overwritten.
        name: how errors name the images; progress: show a bar while converting.
    """

    def __init__(self, images: Sequence[Any], *, lcn: bool, channels: int | None,
                 max_size: tuple[int, int] | None = None, path: str | Path | None = None,
                 name: str = "images", progress: bool = False) -> None:
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
            self.path = None
            self.tensors = [conv(i) for i in tqdm(range(len(images)), **bar)]
            return
        self.path = Path(path)
        meta = {"format": FORMAT, "lcn": self.lcn, "channels": channels,
                "max_size": list(max_size) if max_size else None, "count": len(images)}
        key = _source_key(images)
        meta["sources"] = (hashlib.sha256("\n".join(key).encode()).hexdigest()
                           if key is not None else None)
        index = self.path.with_name(self.path.name + ".json")
        if index.is_file():
            old = json.loads(index.read_text())
            if {k: old.get(k) for k in meta} != meta or meta["sources"] is None:
                raise FileExistsError(f"{self.path} caches other images or settings; remove it "
                                      "or choose another path (it is never overwritten)")
            shapes = [tuple(s) for s in old["shapes"]]
        else:
            shapes = []
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(tmp_name(self.path.name))
            try:
                with open(tmp, "wb") as f:
                    for i in tqdm(range(len(images)), **bar):
                        t = conv(i)
                        shapes.append(tuple(t.shape))
                        f.write(t.numpy().tobytes())
            except BaseException:
                tmp.unlink(missing_ok=True)  # a bad image leaves no partial file behind
                raise
            os.replace(tmp, self.path)
            write_text(index, json.dumps({**meta, "shapes": shapes}))  # last: marks it complete
        expected = sum(int(np.prod(s)) for s in shapes)
        if self.path.stat().st_size != 4 * expected:  # checked before slicing a short file
            raise ValueError(f"{self.path} is truncated or corrupt ({self.path.stat().st_size} "
                             f"bytes, {4 * expected} expected); remove it")
        flat = np.memmap(self.path, dtype=np.float32, mode="c")  # copy-on-write: never written
        self.tensors, at = [], 0
        for s in shapes:
            n = int(np.prod(s))
            self.tensors.append(torch.from_numpy(flat[at:at + n].reshape(s)))
            at += n

    def __len__(self) -> int:
        return len(self.tensors)

    def __getitem__(self, i: int) -> Tensor:
        return self.tensors[i]

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(H, W) of every prepared image."""
        return [(t.shape[1], t.shape[2]) for t in self.tensors]

    @property
    def nbytes(self) -> int:
        """Bytes of all prepared pixels (in memory, or in the cache file)."""
        return sum(t.numel() * 4 for t in self.tensors)
