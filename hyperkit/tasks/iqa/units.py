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
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...data.prepared import PreparedImages
from ...data.splits import load_splits, save_splits
from ...devices import world
from ...files import remove_stale_tmp, tmp_name, write_new
from ...runs import CONFIG, RunFolder, barrier
from .data import Run
from .settings import EXP3_SUBSETS

UNIT = "unit"  # split<k>/unit/: a unit run's own scratch folder, removed when it ends
_SPEC = re.compile(r"(\d+)(?:-(\d+))?")


def split_indices(value: str | int | Sequence[int], splits: int) -> tuple[int, ...]:
    """The split numbers of ``split_index``: '3', '0,2-4' (ranges inclusive), an int or a
    sequence of ints; sorted, each once, each in 0..splits-1. ValueError naming
    split_index and what was expected otherwise."""
    example = "expected split numbers and ranges such as 3 or 0,2-4"
    if isinstance(value, bool):
        raise ValueError(f"split_index must be split numbers, got {value!r}; {example}")
    if isinstance(value, (int, np.integer)):
        found = [int(value)]
    elif isinstance(value, str):
        if not value.strip():
            raise ValueError(f"split_index is empty; {example}")
        found = []
        for token in value.split(","):
            m = _SPEC.fullmatch(token.strip())
            if m is None:
                raise ValueError(f"split_index {value!r} is malformed at {token.strip()!r}; "
                                 f"{example}")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise ValueError(f"split_index {value!r}: the range {token.strip()!r} runs "
                                 f"backwards; {example} (low-high)")
            found += range(lo, hi + 1)
    else:
        found = list(value)
        if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) for k in found):
            raise ValueError(f"split_index must hold integers, got {value!r}")
        found = [int(k) for k in found]
    bad = [k for k in found if not 0 <= k < splits]
    if bad:
        raise ValueError(f"split_index {bad[0]} is out of range: expected numbers from 0 to "
                         f"{splits - 1}, as the run has {splits} split(s) (raise splits to "
                         "plan more)")
    return tuple(sorted(set(found)))


def _ours(name: str) -> bool:
    """Whether a name in a run folder is one hyperkit writes (before config.json exists,
    another unit may have begun writing these)."""
    groups = {g.replace("+", "_plus_") for g in EXP3_SUBSETS}
    return (name.startswith(".") or name in {"splits.json", "cache", "logs", *groups}
            or re.fullmatch(r"split\d+", name) is not None)


def join_folder(out: Path, log: Callable[[str], None]) -> RunFolder:
    """The run folder ``out`` that unit runs share: made when missing, joined when it holds
    this run (config.json is checked by :func:`join_config`) or only what units write
    before config.json; FileExistsError when it holds anything else. It is never moved
    aside and nothing in it is swept (another unit may be writing there right now)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; a run folder is a folder")
    if RunFolder(out, log).rank0:
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(f"the run folder {out} is not writable; choose another --out")
    barrier()
    if not (out / CONFIG).is_file():
        foreign = sorted(p.name for p in out.iterdir() if not _ours(p.name))
        if foreign:
            raise FileExistsError(f"{out} holds files that are not a hyperkit run (e.g. "
                                  f"{foreign[0]}); split_index joins an empty folder or a "
                                  "run of the same settings: choose another --out")
    return RunFolder(out, log)


def publish(mine: Path, shared: Path) -> bool:
    """Makes the complete file ``mine`` visible as ``shared`` unless that exists: a hard
    link, which never replaces a file, so of several units exactly one publishes. False
    when ``shared`` exists, or when the file system has no hard links (the caller keeps
    using ``mine``)."""
    shared.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(mine, shared)
    except OSError:  # FileExistsError: another unit was first; else: no hard links here
        return False
    return True


def publish_text(text: str, shared: Path, own: Path | None) -> bool:
    """Publishes ``text`` as ``shared`` (:func:`publish`), written first in ``own`` (the
    unit's own folder; None: one process alone, :func:`hyperkit.files.write_new`).
    Without hard links an exclusive create stands in. False when ``shared`` exists."""
    if shared.exists():
        return False
    if own is None:
        with contextlib.suppress(FileExistsError):
            write_new(shared, text)
            return True
        return False
    own.mkdir(parents=True, exist_ok=True)
    tmp = own / tmp_name(shared.name)
    try:
        with open(tmp, "wb") as f:
            f.write(text.encode())
            f.flush()
            os.fsync(f.fileno())
        if publish(tmp, shared):
            return True
        if shared.exists():
            return False
        with contextlib.suppress(FileExistsError), open(shared, "xb") as f:
            f.write(text.encode())  # a file system without hard links
            return True
        return False
    finally:
        tmp.unlink(missing_ok=True)


def join_config(folder: RunFolder, settings: dict, device: Any, splits: int,
                own: Path | None) -> None:
    """config.json of a unit run: checked against the folder's when there is one (other
    settings: ValueError), else published (:func:`publish_text`) and, when another unit
    was first, checked against that one's."""
    folder.check_config(settings)
    path = folder.path / CONFIG
    if folder.rank0 and not path.is_file():
        text = folder.config_text(settings, device, splits=splits)
        if not publish_text(text, path, own):
            folder.check_config(settings)  # another unit published first: the same run?
    barrier()


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
        for sdir in sdirs:
            if self.folder.rank0 and sdir.is_dir():
                stale = remove_stale_tmp(sdir)
                if stale:
                    self.log(f"removed {len(stale)} temporary file(s) a killed run left in "
                             f"{sdir}")

    def drop_own(self) -> None:
        """Removes ``own`` (the private caches; published ones live on under their shared
        names)."""
        if self.folder.rank0:
            shutil.rmtree(self.own, ignore_errors=True)


def read_json(path: Path) -> dict:
    """A JSON file of a run folder, with a clear error when it is unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is unreadable or corrupt: {e}") from e
