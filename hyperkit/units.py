"""What every task's *unit runs* share: some units of a run (an NR-IQA run's splits, a
forgery run's seeds) in one process, beside other processes running other units of the
same run into the same folder (SLURM array tasks, Ray tasks, shells on several machines);
``hyperkit report`` then merges whatever finished.

The contract that keeps two unit processes from ever writing the same file:

* a unit writes its own unit folders (``split<k>/``, ``seed<s>/``), ``metrics.json`` last;
  one process per unit number is the user's side of the contract.
* the shared files (config.json, the splits file, caches, a generated data set) only when
  they are absent, and only by *publishing*: the file is written whole in the unit's own
  folder, then hard-linked to its shared name (:func:`publish`; a folder is renamed,
  :func:`publish_dir`). Neither replaces what exists, so exactly one unit publishes each
  shared file; the others read it.
* never results.json, results.md, run.json or the plots: ``hyperkit report`` writes them.

Temporary files live only in a unit's own folders: processes on two machines may share a
process id, and so the name :func:`hyperkit.files.tmp_name` gives a temporary file.

The task-specific parts live in :mod:`hyperkit.tasks.iqa.units` and
:mod:`hyperkit.tasks.forgery.units`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .files import remove_stale_tmp, tmp_name, write_new
from .runs import CONFIG, RunFolder, barrier

_SPEC = re.compile(r"(\d+)(?:-(\d+))?")


def parse_indices(value: str | int | Sequence[int], count: int, *, name: str, unit: str,
                  plan: str) -> tuple[int, ...]:
    """The unit numbers a SPEC names: '3', '0,2-4' (ranges inclusive), an int or a
    sequence of ints; sorted, each once, each in 0..count-1.

    Args:
        value: the SPEC (``--split-index``, ``--seed-index``).
        count: the number of units the run plans.
        name: the argument's name in errors ('split_index'; the CLI shows its flag).
        unit: what a number counts ('split', 'seed').
        plan: the argument that sets ``count`` ('splits', 'seeds').

    Returns:
        the numbers. ValueError naming ``name`` and what was expected otherwise.
    """
    example = f"expected {unit} numbers and ranges such as 3 or 0,2-4"
    if isinstance(value, bool):
        raise ValueError(f"{name} must be {unit} numbers, got {value!r}; {example}")
    if isinstance(value, (int, np.integer)):
        found = [int(value)]
    elif isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{name} is empty; {example}")
        found = []
        for token in value.split(","):
            m = _SPEC.fullmatch(token.strip())
            if m is None:
                raise ValueError(f"{name} {value!r} is malformed at {token.strip()!r}; "
                                 f"{example}")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise ValueError(f"{name} {value!r}: the range {token.strip()!r} runs "
                                 f"backwards; {example} (low-high)")
            found += range(lo, hi + 1)
    else:
        found = list(value)
        if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) for k in found):
            raise ValueError(f"{name} must hold integers, got {value!r}")
        found = [int(k) for k in found]
    bad = [k for k in found if not 0 <= k < count]
    if bad:
        raise ValueError(f"{name} {bad[0]} is out of range: expected numbers from 0 to "
                         f"{count - 1}, as the run has {count} {unit}(s) (raise {plan} to "
                         "plan more)")
    return tuple(sorted(set(found)))


def join_folder(out: Path, log: Callable[[str], None], ours: Callable[[str], bool],
                name: str) -> RunFolder:
    """The run folder ``out`` that unit runs share: made when missing, joined when it holds
    a run (its config.json is checked by :func:`join_config`) or only names ``ours``
    accepts (what units write before config.json); FileExistsError when it holds anything
    else. It is never moved aside and nothing in it is swept (another unit may be writing
    there right now). ``name``: the unit argument, for errors ('split_index')."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; a run folder is a folder")
    if RunFolder(out, log).rank0:
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(f"the run folder {out} is not writable; choose another --out")
    barrier()
    if not (out / CONFIG).is_file():
        foreign = sorted(p.name for p in out.iterdir()
                         if not (p.name.startswith(".") or ours(p.name)))
        if foreign:
            raise FileExistsError(f"{out} holds files that are not a hyperkit run (e.g. "
                                  f"{foreign[0]}); {name} joins an empty folder or a run of "
                                  "the same settings: choose another --out")
    return RunFolder(out, log)


def open_folder(out: str | Path, units: Sequence[int] | None, *, resume: bool,
                overwrite: bool, log: Callable[[str], None],
                join: Callable[[Path, Callable[[str], None]], RunFolder], name: str
                ) -> RunFolder:
    """The run folder of a task run: :meth:`RunFolder.open` for a whole run (``units``
    None), else ``join(out, log)`` (the task's :func:`join_folder`). ``overwrite`` with
    units is a ValueError naming the unit argument ``name`` ('split_index')."""
    if units is not None and overwrite:
        raise ValueError(f"{name} and overwrite exclude each other: a unit run joins the "
                         "run folder that other units may be writing; move it aside with a "
                         "plain run's --overwrite first, while no unit runs")
    if units is None:
        return RunFolder.open(out, resume=resume, overwrite=overwrite, log=log)
    return join(Path(out), log)


def mark_partial(markdown: str, done: int, planned: int, unit: str, out: Path) -> str:
    """results.md text with a "Partial" line after its title when only ``done`` of
    ``planned`` units (``unit``: 'split', 'seed') have finished."""
    if done >= planned:
        return markdown
    cut = markdown.index("\n\n") + 2
    return (f"{markdown[:cut]}> **Partial**: {done} of {planned} planned {unit}(s) finished; "
            f"`hyperkit report {out}` merges again as more finish.\n\n{markdown[cut:]}")


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


def publish_dir(mine: Path, shared: Path) -> bool:
    """Makes the complete folder ``mine`` visible as ``shared`` unless that exists, by
    renaming it (atomic within one file system: readers see all of it or nothing). False
    when ``shared`` exists (``mine`` is left in place; the caller removes it and reads
    ``shared``). A rename replaces only an *empty* folder, and a published one never is,
    so of several units exactly one publishes."""
    if shared.exists():
        return False
    try:
        os.rename(mine, shared)
    except OSError:  # ENOTEMPTY / EEXIST: another unit was first
        if shared.exists():
            return False
        raise
    return True


def join_config(folder: RunFolder, settings: dict, device: Any, own: Path | None, *,
                grow: Sequence[str] = (), **extra: Any) -> None:
    """config.json of a unit run: checked against the folder's when there is one (other
    settings: ValueError), else published (:func:`publish_text`; ``extra`` as
    :meth:`~hyperkit.runs.RunFolder.write_config` records it) and, when another unit was
    first, checked against that one's. ``grow``: dotted keys that may differ (the plan's
    size)."""
    folder.check_config(settings, grow)
    path = folder.path / CONFIG
    if folder.rank0 and not path.is_file():
        text = folder.config_text(settings, device, **extra)
        if not publish_text(text, path, own):
            folder.check_config(settings, grow)  # another unit published first: the same run?
    barrier()


def sweep(folder: RunFolder, dirs: Sequence[Path]) -> None:
    """Removes a killed attempt's temporary files, in the unit's own folders ``dirs``
    only (never elsewhere: another unit may be writing there)."""
    for d in dirs:
        if folder.rank0 and d.is_dir():
            stale = remove_stale_tmp(d)
            if stale:
                folder.log(f"removed {len(stale)} temporary file(s) a killed run left in {d}")


def drop(folder: RunFolder, own: Path | None) -> None:
    """Removes a unit's scratch folder ``own`` (what it published lives on under the
    shared names)."""
    if own is not None and folder.rank0:
        shutil.rmtree(own, ignore_errors=True)


def run_config(out: Path, command: str, is_run: Callable[[dict], bool], not_run: str) -> dict:
    """config.json of the run folder ``out`` that ``hyperkit report`` merges:
    FileNotFoundError when there is none (not a run of ``hyperkit command``, or not
    started), ValueError "``out`` is not_run" when ``is_run(config)`` is false."""
    if not (out / CONFIG).is_file():
        raise FileNotFoundError(f"{out} holds no {CONFIG}: not a run folder of hyperkit "
                                f"{command} (or the run has not started)")
    config = read_json(out / CONFIG)
    if not is_run(config):
        raise ValueError(f"{out} is not {not_run}")
    return config


def read_json(path: Path) -> dict:
    """A JSON file of a run folder, with a clear error when it is unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is unreadable or corrupt: {e}") from e
