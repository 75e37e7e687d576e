"""The shared state of one NR-IQA run: the table, its image files, the prepared-image and
patch-SSIM caches (out/cache), and the stage-1 training rows of a split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ...data.image_files import ImageFiles
from ...data.iqa import DatasetSpec, IQATable
from ...data.iqa.selection import PatchRows, all_cells, select_patches, ssim_grids
from ...data.prepared import PreparedImages
from ...files import write_atomic
from ...images import image_size
from ...model import TwoStage
from ...runs import RunFolder
from .settings import PATCH, Options, Setting


class Run:
    """Shared state of one run (one group of experiment 3): the table, its image files,
    caches, and the run folder that writes."""

    def __init__(self, table: IQATable, spec: DatasetSpec, setting: Setting, options: Options,
                 out: Path, dev: torch.device, folder: RunFolder, progress: bool):
        self.table, self.spec, self.setting, self.options = table, spec, setting, options
        self.out, self.dev, self.folder, self.progress = out, dev, folder, progress
        self.log: Callable[[str], None] = folder.log
        self.refs = sorted(table.ref_images) if table.ref_images else []
        self.ref_number = {r: len(table) + k for k, r in enumerate(self.refs)}
        # distorted images first, then the references: one numbering for every store
        self.files = ImageFiles([*table.images, *(table.ref_images[r] for r in self.refs)])
        self._stores: dict[tuple[bool, int], PreparedImages] = {}
        self._ssim: np.ndarray | None = None
        self._sizes: dict | None = None

    def store_name(self, lcn: bool, channels: int) -> str:
        """File name of the prepared-image cache under out/cache: ``.f32`` or ``.f16``
        after the run's ``cache_dtype``."""
        suffix = "f16" if self.options.cache_dtype == "float16" else "f32"
        return f"prepared-lcn{int(lcn)}-c{channels}.{suffix}"

    def ssim_name(self) -> str:
        """File name of the patch-SSIM cache under out/cache."""
        return f"ssim-{self.spec.grid[0]}x{self.spec.grid[1]}.npy"

    def store(self, lcn: bool, channels: int) -> PreparedImages:
        """Every image (distorted, then references) prepared once for patch cutting
        (rank 0 writes the cache, the other ranks then map it)."""
        key = (lcn, channels)
        if key not in self._stores:
            self.log(f"preparing {len(self.files)} images (lcn={lcn}, {channels} channel(s)) "
                     f"into {self.out / 'cache'}")
            name = self.store_name(lcn, channels)
            self._stores[key] = self.folder.rank0_first(lambda: PreparedImages(
                self.files, lcn=lcn, channels=channels, name="images", progress=self.progress,
                path=self.out / "cache" / name,
                dtype=self.options.cache_dtype))
        return self._stores[key]

    def ssim(self) -> np.ndarray:
        """(N, U, V) patch SSIM of every distorted image against its reference (cached
        in out/cache, computed once per run by rank 0)."""
        if self._ssim is None:
            path = self.out / "cache" / self.ssim_name()
            self._ssim = self.folder.rank0_first(lambda: self._compute_ssim(path))
        return self._ssim

    def _compute_ssim(self, path: Path) -> np.ndarray:
        if path.is_file():
            return np.load(path)
        self.log(f"patch SSIM of {len(self.table)} images against their references")
        refs = self.table.refs
        ssim = ssim_grids(self.files[:len(self.table)],
                          lambda i: self.files[self.ref_number[refs[i]]], PATCH,
                          self.spec.grid, progress=self.progress)
        write_atomic(path, lambda f: np.save(f, ssim))
        return ssim

    def rows(self, idx: np.ndarray, selective: bool, seed: int) -> tuple[PatchRows, dict]:
        """Stage-1 training rows of images ``idx``: all their grid cells, or the
        selective set (their low-SSIM cells + their references' cells, balanced)."""
        t, grid = self.table, self.spec.grid
        if not selective:
            return all_cells(idx, t.scores[idx], grid), {"rows": len(idx) * grid[0] * grid[1]}
        refs = sorted({t.refs[i] for i in idx})
        best = t.best_score if t.best_score is not None else (
            float(t.scores.max()) if t.higher_better else float(t.scores.min()))
        return select_patches(idx, t.scores[idx], self.ssim()[idx],
                              [self.ref_number[r] for r in refs], best, grid,
                              threshold=self.options.ssim_threshold,
                              balance=self.options.balance, seed=seed)

    def meta(self) -> dict:
        """What a model of this run stores about its labels (model.json)."""
        t = self.table
        direction = "higher is better" if t.higher_better else "lower is better"
        name = t.root.name if t.name == "csv" else t.name  # 'csv' says nothing to a reader
        return {"task": "iqa", "dataset": t.name, "score_name": t.score_name,
                "score_meaning": f"predicted {t.score_name} of {name} ({direction}; "
                                 f"labels ranged {t.scores.min():.4g} to {t.scores.max():.4g})",
                **self.image_sizes()}

    def image_sizes(self) -> dict:
        """The smallest and largest (by pixels) image of the table, from the files'
        headers: a model records them, and warns when it scores images far outside."""
        if self._sizes is None:
            sizes = [image_size(p) for p in self.table.images]
            small = min(sizes, key=lambda hw: hw[0] * hw[1])
            large = max(sizes, key=lambda hw: hw[0] * hw[1])
            self._sizes = {"image_size_min": list(small), "image_size_max": list(large)}
        return self._sizes


def in_groups(fn: Callable[[list], np.ndarray], files: ImageFiles, group: int = 64
              ) -> np.ndarray:
    """``fn`` over image files read ``group`` at a time (memory holds one group), its
    per-image results concatenated."""
    return np.concatenate([fn(list(files[i:i + group])) for i in range(0, len(files), group)])


def predict_files(model: TwoStage, files: ImageFiles, method: str, group: int = 64
                  ) -> np.ndarray:
    """Scores of image files by ``method``, read ``group`` at a time."""
    return in_groups(lambda ims: model.predict(ims, method=method), files, group)
