"""Table 2 of the paper: the NR-IQA experiments, run end to end on any IQA data set.

One run = one data set (LIVE, TID2013, a folder with a CSV, or the built-in demo), one
experiment (a set of methods, "arms"), K reference-disjoint 60/20/20 splits. For each
split and arm: stage 1 on 32 x 32 patches (all grid patches, or the selective patch
training set of :mod:`hyperkit.data.iqa.selection`), patch averaging over the grid, and
stage 2 on the hyper-images of that stage 1; or an end-to-end CNN (experiment 4); or a
frozen VGG-16 stage 1 (experiment 5). Every arm is scored on the same test images.

Arms:
    cnn             Kang et al.: stage 1 on every grid patch, patch averaging.
    cnn_selective   stage 1 on selected patches (the paper's), patch averaging.
    two_stage       stage 2 on the hyper-images of the cnn_selective stage 1 (or of
                    the cnn stage 1 when the data set has no references).
    shallow_e2e, deep_e2e      end-to-end CNNs on whole 384 x 512 images.
    vgg_patch_average, vgg_two_stage  VGG-16 up to conv4_3 (frozen, weights from a
                    local file) + two trained FC800 layers, patch averaging / stage 2.

Memory: images are read when needed (:class:`~hyperkit.data.image_files.ImageFiles`);
the normalized images stage 1 cuts patches from live in one float32 file per run,
memory-mapped (out/cache); patches are cut batch by batch; hyper-images are built
group by group into memory-mapped .npy files. Nothing grows with the number of patches
except 14 bytes of position and label per training patch.

Under ``torchrun --nproc-per-node N`` one split's training runs on N processes
(DistributedDataParallel in :func:`hyperkit.training.loop.fit`); splits run one after
another. Only rank 0 writes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .. import nets
from ..data.image_files import ImageFiles
from ..data.iqa import SPECS, DatasetSpec, IQATable
from ..data.iqa.selection import (DEFAULT_THRESHOLD, PatchRows, all_cells, rows_to_positions,
                                  select_patches, ssim_grids)
from ..data.prepared import PreparedImages
from ..data.splits import load_splits, make_splits, save_splits
from ..devices import describe_machine, resolve_device
from ..evaluation.metrics import iqa_metrics, summarize
from ..files import write_atomic, write_text
from ..model import TwoStage
from ..patches import PositionedPatches
from ..runs import write_manifest
from ..training import dist
from ..training.config import TrainConfig, stage1_config
from ..training.loop import FitResult, fit
from ..training.objectives import MAE
from ..training.recipes import STAGE2_RECIPES, stage2_recipe, train_stage2

PATCH = (32, 32)
DEFAULT_RECIPE = "adam"  # README "Stage 2 on real photographs": the paper's dies there
# Each dataset's networks and grid (DatasetSpec) sit beside its loader in
# hyperkit.data.iqa; SPECS (name -> DatasetSpec) is read from that table.

ARMS = ("cnn", "cnn_selective", "two_stage", "shallow_e2e", "deep_e2e", "vgg_patch_average",
        "vgg_two_stage")
LABELS = {
    "cnn": "CNN (Kang et al.), patch averaging",
    "cnn_selective": "CNN + selective patch training, patch averaging",
    "two_stage": "CNN + selective patch training + stage 2 CNN (proposed)",
    "shallow_e2e": "Shallow end-to-end CNN",
    "deep_e2e": "Deep end-to-end CNN",
    "vgg_patch_average": "VGG + patch averaging",
    "vgg_two_stage": "VGG + second stage",
}
EXPERIMENTS: dict[int, tuple[str, ...]] = {
    1: ("cnn_selective", "two_stage"),
    2: ("cnn", "cnn_selective", "two_stage"),
    3: ("cnn_selective", "two_stage"),
    4: ("shallow_e2e", "deep_e2e"),
    5: ("vgg_patch_average", "vgg_two_stage"),
}
# Experiment 3: TID2013 distortion subsets (hyperkit.data.iqa.tid2013.TID_SUBSETS).
EXP3_SUBSETS = ("live4", "live4+local", "all")
# Table 2, (SROCC, PLCC); None where the source is illegible.
PAPER: dict[int, dict] = {
    1: {"cnn_selective": (0.956, 0.953), "two_stage": (0.9581, 0.9585)},
    2: {"cnn": (0.6618, 0.6907), "cnn_selective": (0.761, 0.7627),
        "two_stage": (0.7875, 0.7738)},
    3: {"live4": {"cnn_selective": (0.92, 0.921), "two_stage": (0.932, 0.932)},
        "live4+local": {"cnn_selective": (0.625, None), "two_stage": (0.76, 0.755)},
        "all": {"cnn_selective": (0.761, 0.763), "two_stage": (0.788, 0.774)}},
    4: {"shallow_e2e": (None, 0.4082), "deep_e2e": (0.3952, 0.52)},
    5: {"vgg_patch_average": (0.6236, 0.6843), "vgg_two_stage": (0.6878, 0.713)},
}


@dataclass(frozen=True)
class Setting:
    """Size of an NR-IQA run. 'full' is the paper's protocol (80/20 and 200/40 epochs)."""

    name: str
    stage1_epochs: int
    stage1_patience: int
    stage2_epochs: int
    stage2_patience: int
    e2e_epochs: int
    e2e_patience: int
    stage1_batch: int = 128
    stage2_batch: int = 16
    e2e_batch: int = 8

    def stage1(self, seed: int, **kw: Any) -> TrainConfig:
        """Stage-1 configuration (the paper's SGD protocol) for ``seed``."""
        return stage1_config(**{"epochs": self.stage1_epochs, "patience": self.stage1_patience,
                                "plateau_patience": max(2, self.stage1_patience // 2),
                                "batch_size": self.stage1_batch, "seed": seed, **kw})

    def stage2(self, seed: int, recipe: str) -> tuple[TrainConfig, bool]:
        """Stage-2 configuration of ``recipe`` for ``seed``, and whether to standardize."""
        return stage2_recipe(recipe, epochs=self.stage2_epochs, patience=self.stage2_patience,
                             plateau_patience=max(2, self.stage2_patience // 2),
                             batch_size=self.stage2_batch, seed=seed)


SETTINGS = {
    "quick": Setting("quick", stage1_epochs=12, stage1_patience=4, stage2_epochs=40,
                     stage2_patience=12, e2e_epochs=4, e2e_patience=2),
    "full": Setting("full", stage1_epochs=80, stage1_patience=20, stage2_epochs=200,
                    stage2_patience=40, e2e_epochs=80, e2e_patience=20),
}


@dataclass(frozen=True)
class Options:
    """The choices of one run besides data set, experiment and size."""

    splits: int = 1
    seed: int = 0
    ssim_threshold: float = DEFAULT_THRESHOLD
    balance: str = "oversample"
    stage2_recipe: str = DEFAULT_RECIPE
    arms: tuple[str, ...] | None = None  # None: the experiment's
    vgg_weights: str | None = None
    vgg_random: bool = False  # tests only: a VGG with random weights
    splits_file: str | None = None


def arms_for(experiment: int | None, table: IQATable, options: Options) -> tuple[str, ...]:
    """The methods a run trains: the experiment's, or options.arms; without references
    no selective patch training is possible."""
    arms = options.arms or (EXPERIMENTS[experiment] if experiment else
                            ("cnn_selective", "two_stage"))
    bad = [a for a in arms if a not in ARMS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; expected some of {', '.join(ARMS)}")
    if table.ref_images is None:
        if "cnn_selective" in arms or "vgg_patch_average" in arms or "vgg_two_stage" in arms:
            raise ValueError(f"{table.name} has no reference images, so selective patch "
                             "training is impossible; give the CSV a reference column, or "
                             "choose --methods cnn,two_stage")
    return tuple(arms)


class Run:
    """Shared state of one run: the table, its image files, caches, splits."""

    def __init__(self, table: IQATable, spec: DatasetSpec, setting: Setting, options: Options,
                 out: Path, dev: torch.device, log: Callable[[str], None], progress: bool):
        self.table, self.spec, self.setting, self.options = table, spec, setting, options
        self.out, self.dev, self.log, self.progress = out, dev, log, progress
        self.refs = sorted(table.ref_images) if table.ref_images else []
        self.ref_number = {r: len(table) + k for k, r in enumerate(self.refs)}
        # distorted images first, then the references: one numbering for every store
        self.files = ImageFiles([*table.images, *(table.ref_images[r] for r in self.refs)])
        self._stores: dict[tuple[bool, int], PreparedImages] = {}
        self._ssim: np.ndarray | None = None

    def store(self, lcn: bool, channels: int) -> PreparedImages:
        """Every image (distorted, then references) prepared once for patch cutting."""
        key = (lcn, channels)
        if key not in self._stores:
            self.log(f"preparing {len(self.files)} images (lcn={lcn}, {channels} channel(s)) "
                     f"into {self.out / 'cache'}")
            make = lambda: PreparedImages(  # noqa: E731
                self.files, lcn=lcn, channels=channels, name="images", progress=self.progress,
                path=self.out / "cache" / f"prepared-lcn{int(lcn)}-c{channels}.f32")
            if dist.rank() == 0:  # rank 0 writes the cache, the others then map it
                self._stores[key] = make()
            dist.barrier()
            if dist.rank() != 0:
                self._stores[key] = make()
        return self._stores[key]

    def ssim(self) -> np.ndarray:
        """(N, U, V) patch SSIM of every distorted image against its reference (cached
        in out/cache, computed once per run)."""
        if self._ssim is None:
            path = self.out / "cache" / f"ssim-{self.spec.grid[0]}x{self.spec.grid[1]}.npy"
            if dist.rank() != 0:  # rank 0 computes and writes it
                dist.barrier()
                self._ssim = np.load(path)
            elif path.is_file():
                self._ssim = np.load(path)
                dist.barrier()
            else:
                self.log(f"patch SSIM of {len(self.table)} images against their references")
                refs = self.table.refs
                self._ssim = ssim_grids(self.files[:len(self.table)],
                                        lambda i: self.files[self.ref_number[refs[i]]], PATCH,
                                        self.spec.grid, progress=self.progress)
                write_atomic(path, lambda f: np.save(f, self._ssim))
                dist.barrier()
        return self._ssim

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


def _stage1_arch(arm: str, spec: DatasetSpec) -> str:
    return "vgg16_stage1" if arm.startswith("vgg") else spec.stage1_arch


def _build_stage1(arch: str, options: Options) -> torch.nn.Module:
    net = nets.build(arch)
    if arch == "vgg16_stage1":
        if options.vgg_weights:
            net.load_conv_weights(options.vgg_weights)
        elif not options.vgg_random:
            raise ValueError("experiment 5 needs VGG-16 weights: pass --vgg-weights FILE (a "
                             "torchvision vgg16 state_dict or Caffe-converted conv weights); "
                             "nothing is downloaded")
    return net


def train_patch_stage1(run: Run, arch: str, tr: np.ndarray, va: np.ndarray, selective: bool,
                       seed: int, workdir: Path, resume: bool, log: Callable[[str], None]
                       ) -> tuple[torch.nn.Module, FitResult, dict, bool]:
    """Stage 1 of ``arch`` on the (selected) grid patches of training images ``tr``,
    validated on those of ``va``; returns (network, fit, counts, lcn)."""
    workdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = _build_stage1(arch, run.options)
    c = nets.input_shape(net)[0]
    lcn = bool(getattr(net, "expects_lcn", True))
    store = run.store(lcn, c)
    sets, counts = [], {}
    for part, idx in (("train", tr), ("val", va)):
        rows, counts[part] = run.rows(idx, selective, seed)
        index, ys, xs = rows_to_positions(rows, store.sizes, PATCH, run.spec.grid)
        sets.append(PositionedPatches(store, PATCH, index, ys, xs, rows.label))
    kw = {"batch_size": 256, "lr": 0.01} if arch == "vgg16_stage1" else {}  # the paper's
    cfg = run.setting.stage1(seed, **kw)
    log(f"stage 1 ({arch}, {'selected' if selective else 'all'} patches): "
        f"{len(sets[0])} training / {len(sets[1])} validation patches")
    r = fit(net, sets[0], sets[1], MAE(), cfg, checkpoint=workdir / "stage1.ckpt",
            resume=resume, device=run.dev, log=log, name="stage1", progress=run.progress)
    return net, r, counts, lcn


def predict_files(model: TwoStage, files: ImageFiles, method: str, group: int = 64
                  ) -> np.ndarray:
    """Scores of image files, read ``group`` at a time (memory holds one group)."""
    return np.concatenate([model.predict(list(files[i:i + group]), method=method)
                           for i in range(0, len(files), group)])


def _fit_summary(r: FitResult | None) -> dict | None:
    return None if r is None else {"best_val_mae": r.best_val, "best_epoch": r.best_epoch,
                                   "epochs": r.epochs_run}


def run_split(run: Run, arms: Sequence[str], k: int, split: dict, sdir: Path, resume: bool
              ) -> dict:
    """Trains and scores every arm on split ``k``; writes sdir/metrics.json last."""
    t, spec, opts = run.table, run.spec, run.options
    tr, va, te = (np.asarray(split[p], dtype=np.int64) for p in ("train", "val", "test"))
    log = lambda s: run.log(f"[split {k}] {s}")  # noqa: E731
    seed = opts.seed * 1000 + k
    t0 = time.perf_counter()
    test_files = run.files[te]
    types = np.asarray(t.dist_types)[te] if t.dist_types else None
    preds: dict[str, np.ndarray] = {}
    fits: dict[str, Any] = {}
    stage1s: dict[str, tuple] = {}  # 'cnn' / 'cnn_selective' / 'vgg' -> (model, fit, counts)
    rank0 = dist.rank() == 0

    def stage1_of(kind: str) -> tuple:
        if kind not in stage1s:
            arch = _stage1_arch(kind, spec)
            selective = kind != "cnn"
            net, r, counts, lcn = train_patch_stage1(run, arch, tr, va, selective, seed,
                                                     sdir / kind, resume, log)
            model = TwoStage(net, None, stage1_arch=arch, stage2_arch=spec.stage2_arch,
                             patch=PATCH, grid=spec.grid, lcn=lcn, meta=_meta(t))
            stage1s[kind] = (model, r, counts)
        return stage1s[kind]

    for arm in arms:
        if arm in ("cnn", "cnn_selective", "vgg_patch_average"):
            kind = "vgg" if arm.startswith("vgg") else arm
            model, r, counts = stage1_of(kind)
            preds[arm] = predict_files(model, test_files, "patch_average")
            fits[arm] = {"stage1": _fit_summary(r), "patches": counts}
            if rank0:
                model.save(sdir / "models" / arm)
        elif arm in ("two_stage", "vgg_two_stage"):
            kind = ("vgg" if arm.startswith("vgg") else
                    "cnn_selective" if t.ref_images is not None else "cnn")
            model, r, counts = stage1_of(kind)
            cfg, standardize = run.setting.stage2(seed, opts.stage2_recipe)
            model, r2 = train_stage2(model, run.files[tr], t.scores[tr], run.files[va],
                                     t.scores[va], stage2_arch=spec.stage2_arch, config=cfg,
                                     workdir=sdir / arm, standardize=standardize,
                                     resume=resume, device=run.dev, log=log,
                                     progress=run.progress)
            preds[arm] = predict_files(model, test_files, "two_stage")
            fits[arm] = {"stage1": _fit_summary(r), "stage2": _fit_summary(r2),
                         "patches": counts, "stage2_recipe": opts.stage2_recipe}
            if rank0:
                model.save(sdir / "models" / arm)
            model.stage2 = None  # the shared stage 1 goes on without it
        else:  # end-to-end
            from ..training.end_to_end import predict_end_to_end, train_end_to_end

            arch = "tid_shallow_e2e" if arm == "shallow_e2e" else "tid_deep_e2e"
            cfg = stage1_config(epochs=run.setting.e2e_epochs, patience=run.setting.e2e_patience,
                                plateau_patience=max(2, run.setting.e2e_patience // 2),
                                batch_size=run.setting.e2e_batch, seed=seed)
            net, r = train_end_to_end(list(run.files[tr].paths), t.scores[tr],
                                      list(run.files[va].paths), t.scores[va],
                                      arch=arch, objective=MAE(), config=cfg,
                                      workdir=sdir / arm, resume=resume, device=run.dev,
                                      log=log, progress=run.progress, lcn=True)
            preds[arm] = predict_end_to_end(net, list(test_files.paths), lcn=True,
                                            device=run.dev)
            fits[arm] = {"e2e": _fit_summary(r)}
    metrics = {}
    for a, p in preds.items():
        if not np.all(np.isfinite(p)):  # a diverged network: recorded, never scored
            log(f"{a}: DIVERGED: non-finite predictions; its correlations are not results")
            metrics[a] = {**{k: 0.0 for k in KEYS}, "collapsed": True, "diverged": True,
                          **fits[a]}
            preds[a] = np.nan_to_num(p)
            continue
        metrics[a] = {**iqa_metrics(p, t.scores[te], types), **fits[a]}
    if types is not None and all("/" in str(x) for x in types):
        # types named 'kind/extent' (the demo): SROCC over each extent as well
        extent = np.array([str(x).rsplit("/", 1)[1] for x in types])
        for a, p in preds.items():
            if not metrics[a].get("diverged"):
                metrics[a]["per_extent"] = iqa_metrics(p, t.scores[te], extent)["per_type"]
    for a, m in metrics.items():
        if m["collapsed"]:
            log(f"{a}: COLLAPSED: predicts one constant for every test image "
                "(see README, 'Stage 2 on real photographs'); its correlations are not results")
    out = {"split": k, "train": len(tr), "val": len(va), "test": len(te),
           "seconds": time.perf_counter() - t0, "metrics": metrics}
    if rank0:
        np.savez(sdir / "predictions.npz", index=te, true=t.scores[te], **preds)
        write_text(sdir / "metrics.json", json.dumps(out, indent=2))
        # the hyper-image caches only serve a resume inside this split (TID2013: ~5.5 GB
        # a split); the finished split keeps its models and predictions
        for f in sdir.glob("*/hyper_*.npy"):
            f.unlink()
    return out


def _meta(t: IQATable) -> dict:
    direction = "higher is better" if t.higher_better else "lower is better"
    return {"task": "iqa", "dataset": t.name, "score_name": t.score_name,
            "score_meaning": f"predicted {t.score_name} of {t.name} ({direction}; "
                             f"labels ranged {t.scores.min():.4g} to {t.scores.max():.4g})"}


def run_iqa(table: IQATable, dataset: str, experiment: int | None = None,
            setting: str | Setting = "quick", out: str | Path = "runs",
            options: Options | None = None, *, device: Any = "auto", resume: bool = False,
            log: Callable[[str], None] = print, progress: bool = True,
            spec: DatasetSpec | None = None) -> dict:
    """Runs one NR-IQA experiment over K splits; writes results.json, results.md, plots.

    Args:
        table: the data set (:func:`hyperkit.data.iqa.load_dataset` or the demo).
        dataset: its kind, a key of :data:`SPECS` (networks and grid).
        experiment: 1-5 (Table 2) or None (selective CNN and two-stage).
        setting: 'quick', 'full' or a :class:`Setting`.
        out: the run folder: splits.json, split<k>/ (checkpoints, models,
            predictions.npz, metrics.json), cache/ (prepared images, patch SSIM). An
            existing ``out`` is continued only with ``resume`` (finished splits are
            never recomputed); nothing is ever written under the data set's root.
        spec: networks and grid instead of ``SPECS[dataset]`` (other architectures).

    Returns:
        the results dictionary written to results.json.
    """
    opts = options or Options()
    if dataset not in SPECS:
        raise ValueError(f"dataset must be one of {', '.join(SPECS)}, got {dataset!r}")
    if experiment is not None and experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of 1-5, got {experiment!r}")
    if opts.stage2_recipe not in STAGE2_RECIPES:
        raise ValueError(f"stage2_recipe must be one of {', '.join(STAGE2_RECIPES)}, got "
                         f"{opts.stage2_recipe!r}")
    if not (isinstance(opts.ssim_threshold, (int, float)) and 0 < opts.ssim_threshold <= 1):
        raise ValueError(f"ssim_threshold must be in (0, 1], got {opts.ssim_threshold!r}")
    if opts.balance not in ("oversample", "undersample", "none"):
        raise ValueError(f"balance must be oversample, undersample or none, got "
                         f"{opts.balance!r}")
    if not isinstance(opts.splits, int) or opts.splits < 1:
        raise ValueError(f"splits must be an integer >= 1, got {opts.splits!r}")
    st = SETTINGS[setting] if isinstance(setting, str) and setting in SETTINGS else setting
    if not isinstance(st, Setting):
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)} or a Setting, "
                         f"got {setting!r}")
    out = Path(out).resolve()
    root = Path(table.root).resolve()
    if out == root or root in out.parents:
        raise ValueError(f"out ({out}) is inside the data set folder {root}; hyperkit never "
                         "writes into a data set folder: choose another --out")
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{out} already holds results; pass --resume to continue that "
                              "run, or choose another --out (nothing is overwritten)")
    spec = spec or SPECS[dataset]
    arms = arms_for(experiment, table, opts)
    groups = _groups(table, experiment)
    rank0 = dist.rank() == 0
    if not rank0:
        log = lambda _s: None  # noqa: E731
    dist.barrier()
    dev = resolve_device(device)
    t_start = time.perf_counter()
    config = json.loads(json.dumps(
        {"dataset": dataset, "table": table.summary(), "experiment": experiment,
         "arms": arms, "groups": [g for g, _ in groups], "setting": asdict(st),
         "options": {**asdict(opts), "splits": None}, "spec": asdict(spec)}, default=str))
    config["arms"] = list(config["arms"])
    old = out / "config.json"
    if old.is_file():  # a resumed run must be the same run (only --splits may grow)
        prev = json.loads(old.read_text())
        if isinstance(prev.get("options"), dict):
            prev["options"]["splits"] = None
        diff = [k for k in config if prev.get(k) != config[k]]
        if diff:
            raise ValueError(f"{out} holds a run with other settings ({', '.join(diff)} "
                             "differ); resume it with the same options, or choose another "
                             "--out")
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        write_text(old, json.dumps({**config, "splits": opts.splits, "device": str(dev),
                                    "world_size": dist.world(), **describe_machine()},
                                   indent=2, default=str))
    runs, models = [], []
    for gname, idx in groups:
        sub = table if idx is None else table.subset(idx)
        gdir = out if idx is None else out / gname.replace("+", "_plus_")
        run = Run(sub, spec, st, opts, gdir, dev, log, progress)
        splits = _splits(run, gdir, opts)
        for k, split in enumerate(splits):
            sdir = gdir / f"split{k}"
            done = sdir / "metrics.json"
            rel = str(sdir.relative_to(out))
            if done.is_file():
                log(f"[{rel}] finished earlier; reusing {done}")
                r = json.loads(done.read_text())
            else:
                log(f"[{rel}] {len(split['train'])} train / {len(split['val'])} val / "
                    f"{len(split['test'])} test images")
                r = run_split(run, arms, k, split, sdir, resume)
                _log_split(r, log, rel)
            runs.append({**r, "group": gname})
            # two-stage models first: `hyperkit predict RUN` loads the manifest's first
            models += [f"{rel}/models/{a}" for a in sorted(r["metrics"],
                                                           key=lambda a: "two_stage" not in a)
                       if (sdir / "models" / a / "model.json").is_file()]
    results = {"dataset": dataset, "table": table.summary(), "experiment": experiment,
               "setting": asdict(st), "options": asdict(opts), "arms": list(arms),
               "groups": [g for g, _ in groups], "runs": runs,
               "summary": summarize_runs(runs, arms, [g for g, _ in groups]),
               "paper": PAPER.get(experiment or 0), "models": models,
               "seconds": time.perf_counter() - t_start}
    if rank0:
        write_text(out / "results.json", json.dumps(results, indent=2, default=str))
        write_text(out / "results.md", table_md(results))
        write_manifest(out, "iqa", models)
        from .iqa_plots import plot_per_type, plot_predictions

        plot_predictions(out, runs, out / "pred_vs_true.png")
        plot_per_type(results, out / "srocc_per_type.png")
        log("\n" + table_md(results))
        log(f"wrote {out / 'results.json'}, results.md, pred_vs_true.png, srocc_per_type.png")
    return results


def _groups(table: IQATable, experiment: int | None) -> list[tuple[str, np.ndarray | None]]:
    """Experiment 3 runs on three distortion subsets; every other on the whole table."""
    if experiment != 3:
        return [("all", None)]
    from ..data.iqa.tid2013 import TID_SUBSETS

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
    if dist.rank() == 0:
        gdir.mkdir(parents=True, exist_ok=True)
        save_splits(path, splits, {"dataset": run.table.name, "n": n, "seed": opts.seed,
                                   "fractions": [0.6, 0.2, 0.2],
                                   "reference_disjoint": run.table.refs is not None})
    return splits


def _log_split(r: dict, log: Callable[[str], None], rel: str) -> None:
    parts = []
    for a, m in r["metrics"].items():
        tag = " COLLAPSED" if m["collapsed"] else ""
        ext = "".join(f", {k} {v:.4f}" for k, v in (m.get("per_extent") or {}).items()
                      if v is not None)
        parts.append(f"{a} SROCC {m['srocc']:.4f}{ext} PLCC {m['plcc']:.4f}{tag}")
    log(f"[{rel}] " + " | ".join(parts) + f" ({r['seconds']:.0f} s)")


KEYS = ("srocc", "plcc", "plcc_logistic", "krocc")


def summarize_runs(runs: list[dict], arms: Sequence[str], groups: Sequence[str]) -> dict:
    """Per group and arm: mean, std and median over splits of each metric (collapsed
    splits excluded and counted), and of the per-type SROCC."""
    out: dict = {}
    for g in groups:
        out[g] = {}
        for a in arms:
            ms = [r["metrics"][a] for r in runs if r["group"] == g and a in r["metrics"]]
            ok = [m for m in ms if not m["collapsed"]]
            s = {k: summarize([m[k] for m in ok]) for k in KEYS}
            s["collapsed"] = len(ms) - len(ok)
            types = sorted({t for m in ok for t in (m.get("per_type") or {})})
            s["per_type"] = {t: summarize([(m.get("per_type") or {}).get(t) for m in ok])
                             for t in types}
            extents = sorted({t for m in ok for t in (m.get("per_extent") or {})})
            if extents:
                s["per_extent"] = {t: summarize([(m.get("per_extent") or {}).get(t) for m in ok])
                                   for t in extents}
            out[g][a] = s
    return out


def _pm(s: dict) -> str:
    if not s or s["n"] == 0:
        return "n/a"
    return (f"{s['mean']:.4f} ± {s['std']:.4f} (median {s['median']:.4f})" if s["n"] > 1
            else f"{s['mean']:.4f}")


def _paper(v: Any) -> str:
    return "–" if v is None else f"{v}"


def table_md(results: dict) -> str:
    """A Markdown table laid out like Table 2, with the paper's figures beside ours."""
    e, s = results["experiment"], results["summary"]
    n = max((v["srocc"]["n"] + v["collapsed"] for g in s.values() for v in g.values()),
            default=0)
    head = (f"# NR-IQA on {results['table'].get('name', results['dataset'])}"
            f"{f', experiment {e}' if e else ''} ({results['setting']['name']} setting, "
            f"{n} split(s); mean ± std (median) over splits)\n\n")
    rows = []
    paper = results.get("paper") or {}
    for g, arms in s.items():
        if len(s) > 1:
            rows += [f"\n## Distortions: {g}\n"]
        pg = paper.get(g, {}) if e == 3 else paper
        rows += ["| Approach | SROCC | PLCC | PLCC (logistic) | KROCC | paper SROCC | "
                 "paper PLCC |", "|---|---|---|---|---|---|---|"]
        for a, v in arms.items():
            p = pg.get(a, (None, None))
            note = f" ({v['collapsed']} split(s) collapsed, excluded)" if v["collapsed"] else ""
            rows.append(f"| {LABELS[a]}{note} | {_pm(v['srocc'])} | {_pm(v['plcc'])} | "
                        f"{_pm(v['plcc_logistic'])} | {_pm(v['krocc'])} | {_paper(p[0])} | "
                        f"{_paper(p[1])} |")
        extents = sorted({t for v in arms.values() for t in v.get("per_extent", {})})
        if extents:
            rows += ["", "SROCC per distortion extent (mean ± std (median) over splits):", "",
                     "| Extent | " + " | ".join(LABELS[a].split(",")[0] for a in arms) + " |",
                     "|---|" + "---|" * len(arms)]
            for ty in extents:
                rows.append(f"| {ty} | " + " | ".join(
                    _pm(v["per_extent"].get(ty, {})) for v in arms.values()) + " |")
        types = sorted({t for v in arms.values() for t in v["per_type"]})
        if types:
            rows += ["", "SROCC per distortion type (mean over splits):", "",
                     "| Type | " + " | ".join(LABELS[a].split(",")[0] for a in arms) + " |",
                     "|---|" + "---|" * len(arms)]
            for ty in types:
                rows.append(f"| {ty} | " + " | ".join(
                    (f"{v['per_type'][ty]['mean']:.4f}" if ty in v["per_type"]
                     and v["per_type"][ty]["n"] else "n/a") for v in arms.values()) + " |")
    return head + "\n".join(rows) + "\n"
