"""Running one NR-IQA experiment: the run folder, its groups (experiment 3's distortion
subsets), the K splits of each, and the results."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ...data.iqa import SPECS, DatasetSpec, IQATable
from ...data.iqa.tid2013 import TID_SUBSETS
from ...data.splits import load_splits, make_splits, save_splits
from ...devices import resolve_device
from ...runs import RunFolder
from .arms import PREDICT_ORDER, arms_for, labels_for
from .data import Run
from .plots import plot_per_type, plot_predictions
from .report import log_split, summarize_runs, table_md
from .settings import (
    EXP3_SUBSETS,
    EXPERIMENTS,
    PAPER,
    Options,
    Setting,
    check_options,
    resolve_setting,
)
from .split import run_split


def run_iqa(table: IQATable, dataset: str, experiment: int | None = None,
            setting: str | Setting = "quick", out: str | Path = "runs",
            options: Options | None = None, *, device: Any = "auto", resume: bool = False,
            overwrite: bool = False, log: Callable[[str], None] = print, progress: bool = True,
            spec: DatasetSpec | None = None) -> dict:
    """Runs one NR-IQA experiment over K splits; writes results.json, results.md, plots.

    Args:
        table: the data set (:func:`hyperkit.data.iqa.load_dataset` or the demo).
        dataset: its kind, a key of :data:`~hyperkit.data.iqa.SPECS` (networks and grid).
        experiment: 1-5 (Table 2) or None (selective CNN and two-stage).
        setting: 'quick', 'full' or a :class:`Setting`.
        out: the run folder: splits.json, split<k>/ (checkpoints, models,
            predictions.npz, metrics.json), cache/ (prepared images, patch SSIM). An
            existing ``out`` is continued only with ``resume`` (finished splits are
            never recomputed; only the number of splits may grow), or moved aside to
            ``out.replaced-<time>`` with ``overwrite``; nothing is ever deleted or
            written under the data set's root.
        spec: networks and grid instead of ``SPECS[dataset]`` (other architectures).

    Returns:
        the results dictionary written to results.json.
    """
    opts = options or Options()
    if dataset not in SPECS:
        raise ValueError(f"dataset must be one of {', '.join(SPECS)}, got {dataset!r}")
    if experiment is not None and experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of 1-5, got {experiment!r}")
    check_options(opts)
    st = resolve_setting(setting)
    out = Path(out).resolve()
    root = Path(table.root).resolve()
    if out == root or root in out.parents:
        raise ValueError(f"out ({out}) is inside the data set folder {root}; hyperkit never "
                         "writes into a data set folder: choose another --out")
    folder = RunFolder.open(out, resume=resume, overwrite=overwrite, log=log)
    spec = spec or SPECS[dataset]
    arms = arms_for(experiment, table, opts)
    groups = _groups(table, experiment)
    dev = resolve_device(device)
    t_start = time.perf_counter()
    folder.write_config({"dataset": dataset, "table": table.summary(), "experiment": experiment,
                         "arms": list(arms), "groups": [g for g, _ in groups],
                         "setting": st.record(), "options": {**asdict(opts), "splits": None},
                         "spec": asdict(spec)}, dev, splits=opts.splits)
    runs, models = [], []
    for gname, idx in groups:
        sub = table if idx is None else table.subset(idx)
        gdir = out if idx is None else out / gname.replace("+", "_plus_")
        run = Run(sub, spec, st, opts, gdir, dev, folder, progress)
        for k, split in enumerate(_splits(run, gdir, opts)):
            r, ms = _split_once(run, arms, k, split, gdir / f"split{k}", resume)
            runs.append({**r, "group": gname})
            models += ms
    results = {"dataset": dataset, "table": table.summary(), "experiment": experiment,
               "setting": st.record(), "options": asdict(opts), "arms": list(arms),
               "groups": [g for g, _ in groups], "runs": runs,
               "summary": summarize_runs(runs, arms, [g for g, _ in groups]),
               "paper": PAPER.get(experiment or 0), "models": models,
               "seconds": time.perf_counter() - t_start}

    def plots() -> None:
        plot_predictions(out, runs, out / "pred_vs_true.png")
        plot_per_type(results, out / "srocc_per_type.png")

    folder.write_results("iqa", results, table_md(results, labels_for(table)), models, plots,
                         "pred_vs_true.png, srocc_per_type.png")
    return results


def _split_once(run: Run, arms: tuple[str, ...], k: int, split: dict, sdir: Path,
                resume: bool) -> tuple[dict, list[str]]:
    """Split ``k``'s metrics (reused when it finished earlier) and its model folders in
    the order of :data:`~.arms.PREDICT_ORDER`: `hyperkit predict RUN` loads the first."""
    rel = str(sdir.relative_to(run.folder.path))
    r = run.folder.reuse(rel)
    if r is None:
        run.log(f"[{rel}] {len(split['train'])} train / {len(split['val'])} val / "
                f"{len(split['test'])} test images")
        r = run_split(run, arms, k, split, sdir, resume)
        log_split(r, run.log, rel)
    rank = {a: i for i, a in enumerate(PREDICT_ORDER)}
    # a collapsed or diverged arm is never the model `hyperkit predict RUN` loads
    usable = [a for a, m in r["metrics"].items()
              if not (m.get("collapsed") or m.get("diverged"))]
    models = [f"{rel}/models/{a}" for a in sorted(usable, key=lambda a: rank.get(a, len(rank)))
              if (sdir / "models" / a / "model.json").is_file()]
    return r, models


def _groups(table: IQATable, experiment: int | None) -> list[tuple[str, np.ndarray | None]]:
    """Experiment 3 runs on three distortion subsets; every other on the whole table."""
    if experiment != 3:
        return [("all", None)]
    if not table.dist_types:
        raise ValueError("experiment 3 needs distortion types (TID2013)")
    return [(g, table.indices_of_types(TID_SUBSETS[g])) for g in EXP3_SUBSETS]


def _splits(run: Run, gdir: Path, opts: Options) -> list[dict]:
    """The run's K splits: read from opts.splits_file or gdir/splits.json, else made
    from the seed (reference-disjoint when references are known) and written there."""
    n = len(run.table)
    path = Path(opts.splits_file) if opts.splits_file else gdir / "splits.json"
    groups = list(run.table.refs) if run.table.refs is not None else n
    old: list[dict] = []
    if opts.splits_file and not path.is_file():
        raise FileNotFoundError(f"splits file {path} does not exist")
    if path.is_file():
        old = load_splits(path, n=n)
        if len(old) >= opts.splits:
            return old[:opts.splits]
        if opts.splits_file:
            raise ValueError(f"{path} holds {len(old)} splits, fewer than the "
                             f"{opts.splits} asked for")
    # split k depends only on (seed, k): a resumed run asking for more splits extends its
    # own file, after checking the splits it already ran are the ones made here
    splits = make_splits(groups, opts.splits, opts.seed)
    if old and splits[:len(old)] != old:
        raise ValueError(f"{path} was not made with seed {opts.seed}; pass the same --seed "
                         "or another --out")
    run.folder.on_rank0(_save_splits, path, gdir, splits,
                        {"dataset": run.table.name, "n": n, "seed": opts.seed,
                         "fractions": [0.6, 0.2, 0.2],
                         "reference_disjoint": run.table.refs is not None})
    return splits


def _save_splits(path: Path, gdir: Path, splits: list[dict], meta: dict) -> None:
    gdir.mkdir(parents=True, exist_ok=True)
    save_splits(path, splits, meta)

