"""Running one NR-IQA experiment: the run folder, its groups (experiment 3's distortion
subsets), the K splits of each, and the results (:func:`merge_results`, also
``hyperkit report``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ...data.iqa import SPECS, DatasetSpec, IQATable
from ...data.iqa.tid2013 import TID_SUBSETS
from ...data.splits import load_splits, make_splits, save_splits
from ...devices import resolve_device
from ...runs import CONFIG, METRICS, RunFolder, barrier
from ...units import mark_partial, open_folder, run_config
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
from .units import (
    UNIT,
    UnitRun,
    join_config,
    join_folder,
    read_json,
    split_indices,
    splits_saver,
)


def run_iqa(table: IQATable, dataset: str, experiment: int | None = None,
            setting: str | Setting = "quick", out: str | Path = "runs",
            options: Options | None = None, *, device: Any = "auto", resume: bool = False,
            overwrite: bool = False, log: Callable[[str], None] = print, progress: bool = True,
            spec: DatasetSpec | None = None,
            split_index: str | int | Sequence[int] | None = None) -> dict:
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
        split_index: run only these splits of the ``options.splits`` planned ('3',
            '0,2-4', ints; ``()``: only config.json and splits.json), as one of several
            processes sharing ``out`` (:mod:`.units`): ``out`` is joined whether or not it
            exists (its config must match: ``resume`` is implied, ``overwrite`` refused),
            finished splits are reused, an unfinished one continues from its checkpoints,
            and no results are written: :func:`merge_results` (``hyperkit report``) merges.

    Returns:
        the results dictionary written to results.json; with ``split_index``, the out
        folder, the split numbers and their metrics (``runs``).
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
    units = None if split_index is None else split_indices(split_index, opts.splits)
    folder = open_folder(out, units, resume=resume, overwrite=overwrite, log=log,
                         join=join_folder, name="split_index")
    spec = spec or SPECS[dataset]
    arms = arms_for(experiment, table, opts)
    groups = _groups(table, experiment)
    dev = resolve_device(device)
    t_start = time.perf_counter()
    settings = {"dataset": dataset, "table": table.summary(), "experiment": experiment,
                "arms": list(arms), "groups": [g for g, _ in groups], "setting": st.record(),
                "options": opts.record(), "spec": asdict(spec)}
    if units is None:
        folder.write_config(settings, dev, splits=opts.splits)
        for gname, idx in groups:
            sub = table if idx is None else table.subset(idx)
            gdir = _group_dir(out, gname, experiment)
            run = Run(sub, spec, st, opts, gdir, dev, folder, progress)
            for k, split in enumerate(_splits(run, gdir, opts)):
                _split_once(run, arms, k, split, gdir / f"split{k}", resume)
        barrier()  # every rank merges what rank 0 wrote
        return merge_results(folder, seconds=time.perf_counter() - t_start)
    return _run_units(Run(table, spec, st, opts, out, dev, folder, progress), experiment,
                      arms, groups, settings, units)


def _run_units(base: Run, experiment: int | None, arms: tuple[str, ...],
               groups: list[tuple[str, np.ndarray | None]], settings: dict,
               units: tuple[int, ...]) -> dict:
    """:func:`run_iqa`'s ``split_index`` part: splits ``units`` of every group, writing
    only their folders and publishing the shared files (:mod:`.units`). ``base``: the
    whole table's run, for its settings (it prepares nothing)."""
    out, opts, log = base.folder.path, base.options, base.log
    first = f"split{units[0]}" if units else None
    own = _group_dir(out, groups[0][0], experiment) / first / UNIT if first else None
    join_config(base.folder, settings, base.dev, opts.splits, own)
    runs = []
    for gname, idx in groups:
        sub = base.table if idx is None else base.table.subset(idx)
        gdir = _group_dir(out, gname, experiment)
        own = gdir / first / UNIT if first else None
        run = UnitRun(sub, base.spec, base.setting, opts, gdir, base.dev, base.folder,
                      base.progress, own=own or gdir)
        splits = _splits(run, gdir, opts, splits_saver(own))
        run.sweep([gdir / f"split{k}" for k in units])
        try:
            # an unfinished split continues from its checkpoints (a retried unit)
            runs += [{**_split_once(run, arms, k, splits[k], gdir / f"split{k}", True),
                      "group": gname} for k in units]
        finally:
            if own is not None:
                run.drop_own()
    if units:
        log(f"split(s) {', '.join(map(str, units))} of {opts.splits} done in {out}; "
            f"'hyperkit report {out}' merges the finished splits")
    return {"out": str(out), "split_index": list(units), "runs": runs}


def merge_results(run_dir: str | Path | RunFolder, *, seconds: float | None = None,
                  log: Callable[[str], None] = print) -> dict:
    """Merges the finished splits of an NR-IQA run folder into results.json, results.md,
    run.json and the plots (the end of :func:`run_iqa`, and ``hyperkit report``).

    Reads only the folder: config.json (the planned splits, arms, groups) and each
    ``split<k>/metrics.json``. A run with fewer finished splits than planned is merged
    too; results.json then holds ``splits_finished`` and results.md says so.

    Args:
        run_dir: the run folder (or its :class:`~hyperkit.runs.RunFolder`).
        seconds: the run's wall time for results.json; None: the sum of the merged
            splits' seconds (their compute time, as ``hyperkit report`` knows no more).

    Returns:
        the results dictionary written to results.json. ValueError when no split has
        finished or the folder is no NR-IQA run.
    """
    folder = run_dir if isinstance(run_dir, RunFolder) else RunFolder(Path(run_dir), log)
    out = folder.path
    config = run_config(out, "iqa", lambda c: all(k in c for k in (
        "dataset", "table", "arms", "groups", "splits", "options")),
        f"an NR-IQA run (its {CONFIG} lacks arms, groups or splits); only hyperkit iqa runs "
        "are merged")
    experiment, groups, planned = config["experiment"], config["groups"], config["splits"]
    runs, models = [], []
    for g in groups:
        gdir = _group_dir(out, g, experiment)
        for k in range(planned):
            if (gdir / f"split{k}" / METRICS).is_file():
                r = read_json(gdir / f"split{k}" / METRICS)
                runs.append({**r, "group": g})
                models += _models(out, gdir / f"split{k}", r)
    done, total = len(runs), planned * len(groups)
    log(f"{out}: {done} of {total} planned split(s) finished")
    if not runs:
        raise ValueError(f"{out} has 0 of {total} planned split(s) finished; nothing to "
                         "merge yet (each split writes its metrics.json when it finishes)")
    options = dict(config["options"])
    options["splits"] = planned  # config.json records it beside the options
    arms = config["arms"]
    results = {"dataset": config["dataset"], "table": config["table"],
               "experiment": experiment, "setting": config["setting"], "options": options,
               "arms": arms, "groups": groups, "runs": runs,
               "summary": summarize_runs(runs, arms, groups),
               "paper": PAPER.get(experiment or 0), "models": models,
               "seconds": sum(r["seconds"] for r in runs) if seconds is None else seconds}
    # labels depend on the table only through whether it has reference images
    labels = labels_for(SimpleNamespace(
        ref_images={} if config["table"].get("reference_images") else None))
    markdown = table_md(results, labels)
    if done < total:
        results["splits_finished"] = {"finished": done, "planned": total}
    markdown = mark_partial(markdown, done, total, "split", out)

    def plots() -> None:
        plot_predictions(out, runs, out / "pred_vs_true.png")
        plot_per_type(results, out / "srocc_per_type.png")

    folder.write_results("iqa", results, markdown, models, plots,
                         "pred_vs_true.png, srocc_per_type.png")
    return results


def _split_once(run: Run, arms: tuple[str, ...], k: int, split: dict, sdir: Path,
                resume: bool) -> dict:
    """Split ``k``'s metrics (reused when it finished earlier)."""
    rel = str(sdir.relative_to(run.folder.path))
    r = run.folder.reuse(rel)
    if r is None:
        run.log(f"[{rel}] {len(split['train'])} train / {len(split['val'])} val / "
                f"{len(split['test'])} test images")
        r = run_split(run, arms, k, split, sdir, resume)
        log_split(r, run.log, rel)
    return r


def _models(out: Path, sdir: Path, r: dict) -> list[str]:
    """Split ``sdir``'s model folders (relative to ``out``) in the order of
    :data:`~.arms.PREDICT_ORDER`: `hyperkit predict RUN` loads the first."""
    rank = {a: i for i, a in enumerate(PREDICT_ORDER)}
    rel = str(sdir.relative_to(out))
    # a collapsed or diverged arm is never the model `hyperkit predict RUN` loads
    usable = [a for a, m in r["metrics"].items()
              if not (m.get("collapsed") or m.get("diverged"))]
    return [f"{rel}/models/{a}" for a in sorted(usable, key=lambda a: rank.get(a, len(rank)))
            if (sdir / "models" / a / "model.json").is_file()]


def _group_dir(out: Path, group: str, experiment: int | None) -> Path:
    """Where a group's splits live: ``out`` itself, or experiment 3's subset folders."""
    return out / group.replace("+", "_plus_") if experiment == 3 else out


def _groups(table: IQATable, experiment: int | None) -> list[tuple[str, np.ndarray | None]]:
    """Experiment 3 runs on three distortion subsets; every other on the whole table."""
    if experiment != 3:
        return [("all", None)]
    if not table.dist_types:
        raise ValueError("experiment 3 needs distortion types (TID2013)")
    return [(g, table.indices_of_types(TID_SUBSETS[g])) for g in EXP3_SUBSETS]


def _splits(run: Run, gdir: Path, opts: Options,
            save: Callable[[Path, Path, list[dict], dict], None] | None = None) -> list[dict]:
    """The run's K splits: read from opts.splits_file or gdir/splits.json, else made
    from the seed (reference-disjoint when references are known) and written there
    (by ``save``: a unit run publishes it, :func:`.units.splits_saver`)."""
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
    run.folder.on_rank0(save or _save_splits, path, gdir, splits,
                        {"dataset": run.table.name, "n": n, "seed": opts.seed,
                         "fractions": [0.6, 0.2, 0.2],
                         "reference_disjoint": run.table.refs is not None})
    return splits


def _save_splits(path: Path, gdir: Path, splits: list[dict], meta: dict) -> None:
    gdir.mkdir(parents=True, exist_ok=True)
    save_splits(path, splits, meta)

