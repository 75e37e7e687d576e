"""Running the forgery task: the data set, the run folder, one unit per seed (all of them
here, or some as one of several processes: :mod:`.units`), the results; and --inspect,
which lists a CASIA v2 tree's pairs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...data.forgery import casia2
from ...data.forgery import demo as forgery_demo
from ...devices import resolve_device
from ...runs import RunFolder, barrier
from ...units import open_folder
from .report import merge_results
from .seed import seed_once
from .settings import MARGIN, PATCH, Setting, resolve_setting
from .units import (
    GROW,
    check_plan,
    join_folder,
    own_folder,
    publish_demo,
    run_units,
    seed_indices,
)


def load_dataset(dataset: str, st: Setting, out: Path, root: str | Path | None,
                 masks: str | Path | None, log: Callable[[str], None]) -> casia2.Casia2:
    """The scanned data set: CASIA v2 at ``root``, or the demo set in out/data (made
    once; reused when it matches the setting)."""
    if dataset == "demo":
        if root is not None:
            raise ValueError("--root is for --dataset casia2; the demo set is generated")
        data = out / "data"
        if not forgery_demo.matches(data, st.demo_authentic, st.demo_tampered, 0):
            log(f"generating the demo spliced set ({st.demo_authentic} authentic, "
                f"{st.demo_tampered} tampered) in {data}")
            forgery_demo.generate(data, st.demo_authentic, st.demo_tampered, seed=0)
        return casia2.scan(data, masks)
    if dataset != "casia2":
        raise ValueError(f"dataset must be 'demo' or 'casia2', got {dataset!r}")
    if root is None:
        raise ValueError("--dataset casia2 needs --root, the folder holding Au/ and Tp/")
    return casia2.scan(root, masks)


def run_forgery(dataset: str = "demo", setting: str | Setting = "quick",
                out: str | Path = "runs/forgery-demo-quick", *, root: str | Path | None = None,
                masks: str | Path | None = None, device: Any = "auto", resume: bool = False,
                overwrite: bool = False, log: Callable[[str], None] = print,
                progress: bool = True,
                seed_index: str | int | Sequence[int] | None = None) -> dict:
    """Runs Table 3 and writes results.json, results.md, roc.png, contour pictures and
    the trained models to ``out`` (never into the dataset folder).

    Every seed keeps its checkpoints and hyper-image caches under out/seed<s>/work; a
    finished seed writes out/seed<s>/metrics.json and is reused by ``resume``. An
    existing ``out`` is continued only with ``resume`` (the same settings; only the
    number of seeds may grow), or moved aside to ``out.replaced-<time>`` with
    ``overwrite``; nothing is deleted.

    Args:
        seed_index: run only these seeds of the ``setting.seeds`` planned ('3', '0,2-4',
            ints), as one of several processes sharing ``out`` (:mod:`.units`): ``out``
            is joined whether or not it exists (its config must match: ``resume`` is
            implied, ``overwrite`` refused), finished seeds are reused, an unfinished one
            continues from its checkpoints, and no results are written:
            :func:`.report.merge_results` (``hyperkit report``) merges.

    Returns:
        the results dictionary also written to results.json; with ``seed_index``, the
        out folder, the seed numbers and their metrics (``runs``).
    """
    st = resolve_setting(setting)
    units = None if seed_index is None else seed_indices(seed_index, st.seeds)
    folder = open_folder(out, units, resume=resume, overwrite=overwrite, log=log,
                         join=join_folder, name="seed_index")
    out = folder.path
    for place in (root, masks):
        if place is not None and casia2.inside(out, Path(place)):
            raise ValueError(f"--out {out} is inside the dataset folder {place}; nothing is "
                             "written there, choose another --out")
    dev = resolve_device(device)
    t_start = time.perf_counter()
    settings = {"dataset": dataset, "masks": None if masks is None else str(masks),
                "setting": st.record(), "grid": st.grid(), "patch": PATCH, "margin": MARGIN}
    if units is not None:
        check_plan(folder, settings, st.seeds)  # before the demo set is generated
        if dataset == "demo" and folder.rank0:
            publish_demo(out, st, own_folder(out, units), log)
    out.mkdir(parents=True, exist_ok=True)
    data = folder.rank0_first(lambda: load_dataset(dataset, st, out, root, masks, folder.log))
    extra = _describe(data, folder)
    if units is not None:
        return run_units(data, st, folder, dev, settings, extra, units, progress)
    folder.write_config(settings, dev, grow=GROW, **extra)
    if not (out / "pairs.csv").exists():
        folder.on_rank0(data.to_csv, out / "pairs.csv")
    for seed in range(st.seeds):
        seed_once(data, st, seed, folder, dev, resume, progress)
    barrier()  # every rank merges what rank 0 wrote
    return merge_results(folder, seconds=time.perf_counter() - t_start, data=data)


def _describe(data: casia2.Casia2, folder: RunFolder) -> dict:
    """What config.json records about the data set (its root, summary and split groups),
    logged; ValueError when no tampered image is paired."""
    summary = data.summary()
    folder.log(f"{data.root}: {summary['authentic']} authentic, {summary['pairs']} tampered "
               f"paired, {summary['skipped']} file(s) skipped "
               f"{summary['skipped_by_reason'] or ''}")
    if summary["pairs"] == 0:
        raise ValueError(f"{data.root}: no tampered image could be paired with its source; "
                         "nothing to train on (run --inspect to see why)")
    data.classification_set(log=folder.log)  # the split groups, for the report
    g = data.grouping
    folder.log(f"split groups: {g['groups']} ({g['near_duplicate_pairs']} near-duplicate "
               f"pair(s) of authentic images, dHash within {g['max_bits']} bits)")
    return {"task": "forgery", "root": str(data.root), "data": summary, "grouping": g}


def inspect(root: str | Path, masks: str | Path | None = None,
            to_csv: str | Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Prints the pairs found and the files skipped (with reasons); writes the pair
    table to ``to_csv`` when given. Returns the summary."""
    data = casia2.scan(root, masks)
    for p in data.pairs:
        extra = f"  mask {p.mask.name}" if p.mask is not None else ""
        alt = f"  (or {p.candidates[1].name})" if len(p.candidates) > 1 else ""
        log(f"pair  {p.tampered.name}  <-  {p.authentic.name}{alt}{extra}")
    for path, why in data.skipped:
        log(f"skip  {path}: {why}")
    s = data.summary()
    log(f"{s['authentic']} authentic, {s['pairs']} pairs ({s['spliced_pairs']} spliced, "
        f"{s['copy_move_pairs']} copy-move, {s['pairs_with_mask']} with a mask), "
        f"{s['skipped']} skipped {s['skipped_by_reason'] or ''}")
    if to_csv is not None:
        log(f"wrote {data.to_csv(to_csv)}")
    return s
