"""Some of an NR-IQA run's splits in one process (``hyperkit iqa --split-index``), so that
many processes (SLURM array tasks, Ray tasks, shells on several machines) run one
experiment's splits into one run folder at the same time; ``hyperkit report`` then merges
whatever finished (:func:`hyperkit.tasks.iqa.runner.merge_results`).

What a unit run (one process, one or more split numbers) writes, so that two of them never
write the same file:

* its own split folders ``[<group>/]split<k>/`` (checkpoints, models, predictions,
  metrics.json last). One process per split number is the user's side of the contract.
* the shared files (config.json, splits.json, cache/*) only when they are absent, and only
  by *publishing*: the file is written whole in the unit's own folder
  (``split<k>/unit/``), then hard-linked to its shared name. A hard link never replaces
  an existing file, so exactly one unit publishes each; the others read it (a cache file
  lost in that race is used from the unit's own copy, removed when the unit ends).
* never results.json, results.md, run.json or the plots: ``hyperkit report`` writes them.

Temporary files live only in the unit's own folders: processes on two machines may share a
process id, and so the name :func:`hyperkit.files.tmp_name` gives a temporary file. For
the same reason a unit never sweeps stale temporary files outside its own split folders.
What every task's unit runs share (the SPEC parser, publishing, joining a folder) lives in
:mod:`hyperkit.units`.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ... import units as shared_units
from ...data.prepared import PreparedImages
from ...data.splits import load_splits, save_splits
from ...devices import world
from ...runs import RunFolder
from ...units import publish, publish_text, read_json
from .data import Run
from .settings import EXP3_SUBSETS

__all__ = ["UNIT", "UnitRun", "join_config", "join_folder", "publish", "publish_text",
           "read_json", "split_indices", "splits_saver"]

UNIT = "unit"  # split<k>/unit/: a unit run's own scratch folder, removed when it ends


def split_indices(value: str | int | Sequence[int], splits: int) -> tuple[int, ...]:
    """The split numbers of ``split_index``: '3', '0,2-4' (ranges inclusive), an int or a
    sequence of ints; sorted, each once, each in 0..splits-1. ValueError naming
    split_index and what was expected otherwise (:func:`hyperkit.units.parse_indices`)."""
    return shared_units.parse_indices(value, splits, name="split_index", unit="split",
                                      plan="splits")


def _ours(name: str) -> bool:
    """Whether a name in a run folder is one an NR-IQA unit writes before config.json
    exists (another unit may have begun writing these)."""
    groups = {g.replace("+", "_plus_") for g in EXP3_SUBSETS}
    return (name in {"splits.json", "cache", "logs", *groups}
            or re.fullmatch(r"split\d+", name) is not None)


def join_folder(out: Path, log: Callable[[str], None]) -> RunFolder:
    """The run folder ``out`` that NR-IQA unit runs share
    (:func:`hyperkit.units.join_folder`)."""
    return shared_units.join_folder(out, log, _ours, "split_index")


def join_config(folder: RunFolder, settings: dict, device: Any, splits: int,
                own: Path | None) -> None:
    """config.json of a unit run, recording the planned ``splits``
    (:func:`hyperkit.units.join_config`)."""
    shared_units.join_config(folder, settings, device, own, splits=splits)


def splits_saver(own: Path | None) -> Callable[[Path, Path, list[dict], dict], None]:
    """How a unit run saves the splits file (``save`` of ``runner._splits``): published
    once when absent; a shorter one is never rewritten (ValueError) since other units may
    be reading it; when another unit published first, its splits must be these."""
    def save(path: Path, gdir: Path, splits: list[dict], meta: dict) -> None:
        if path.is_file():
            raise ValueError(f"{path} plans {len(load_splits(path))} split(s), fewer than "
                             f"the {len(splits)} asked for; unit runs (split_index) never "
                             "rewrite the shared splits file: ask for at most that many "
                             "splits, or extend it with a plain run (resume) while no unit "
                             "runs")
        gdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:  # save_splits' checks and format
            text = save_splits(Path(tmp) / path.name, splits, meta).read_text()
        if not publish_text(text, path, own) and load_splits(path) != splits:
            raise ValueError(f"{path} was published by another unit with other splits; pass "
                             "the same seed or another --out")
    return save


class UnitRun(Run):
    """A :class:`~.data.Run` whose caches (prepared images, patch SSIM) are read from
    ``out/cache`` when complete there, else made in the unit's own folder ``own`` and
    published (:func:`publish`): the shared cache is never written in place."""

    def __init__(self, *args: Any, own: Path, **kw: Any):
        super().__init__(*args, **kw)
        self.own = own

    @staticmethod
    def _alone() -> bool:
        """Whether this unit is one process. Under torchrun its ranks could see another
        unit's cache appear at different moments and take different paths (and
        barriers): they always make their own, which rank 0 then publishes."""
        return world() == 1

    @contextlib.contextmanager
    def _private(self) -> Iterator[None]:
        """Run keeps its caches under ``self.out / 'cache'``: point that at ``own``."""
        shared, self.out = self.out, self.own
        try:
            yield
        finally:
            self.out = shared

    def store(self, lcn: bool, channels: int) -> PreparedImages:
        """:meth:`Run.store`, shared when complete, else made here and published (the data
        first, then its index, which marks a complete cache)."""
        name = self.store_name(lcn, channels)
        shared = self.out / "cache" / name
        index = shared.with_name(name + ".json")
        if (lcn, channels) in self._stores or (self._alone() and index.is_file()):
            return super().store(lcn, channels)
        with self._private():
            store = super().store(lcn, channels)
        mine = Path(store.path)
        if self.folder.rank0 and publish(mine, shared):
            publish(mine.with_name(mine.name + ".json"), index)
        return store

    def ssim(self) -> np.ndarray:
        """:meth:`Run.ssim`, shared when complete, else made here and published."""
        name = self.ssim_name()
        if self._ssim is not None or (self._alone() and (self.out / "cache" / name).is_file()):
            return super().ssim()
        with self._private():
            ssim = super().ssim()
        if self.folder.rank0:
            publish(self.own / "cache" / name, self.out / "cache" / name)
        return ssim

    def sweep(self, sdirs: Sequence[Path]) -> None:
        """Removes a killed attempt's temporary files, in this unit's split folders only."""
        shared_units.sweep(self.folder, sdirs)

    def drop_own(self) -> None:
        """Removes ``own`` (the private caches; published ones live on under their shared
        names)."""
        shared_units.drop(self.folder, self.own)
