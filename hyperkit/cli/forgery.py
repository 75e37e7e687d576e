"""``hyperkit forgery``: image forgery classification (Table 3)."""

from __future__ import annotations

import argparse

from .common import as_flags, run_options

HELP = "train and evaluate image forgery classification (Table 3)"
DESCRIPTION = ("Stage 1 (siamese ranking of contour patches), stage 2 (hyper-images, weighted BCE)"
               " and the end-to-end CNN baseline on CASIA v2 or the built-in spliced set. Writes "
               "results.json, results.md (Table 3), roc.png, contour pictures and the trained "
               "models to --out.")
EXAMPLES = ("Data: --dataset casia2 --root PATH reads CASIA v2 as shipped (Au/, Tp/);\n"
            "--masks DIR takes the community ground-truth masks (<tampered>_gt.png)\n"
            "instead of image subtraction. --dataset demo generates a spliced set from\n"
            "scikit-image's photographs into OUT/data. Nothing is written into --root.\n\n"
            "examples:\n"
            "  hyperkit forgery --dataset demo --quick        # 3 seeds, ~6 min on 2 CPU cores\n"
            "  hyperkit forgery --dataset casia2 --root ~/data/CASIA2 --inspect "
            "--to-csv pairs.csv\n"
            "  hyperkit forgery --dataset casia2 --root ~/data/CASIA2 --masks ~/data/gt\n"
            "  hyperkit forgery --dataset casia2 --root ~/data/CASIA2 --resume\n\n"
            "Many seeds at once (docs/cluster.md): --seed-index S runs seed S alone into\n"
            "--out beside other processes (a SLURM array: --seed-index $SLURM_ARRAY_TASK_ID),\n"
            "then 'hyperkit report OUT' merges the finished seeds.\n"
            "  hyperkit forgery --dataset casia2 --root ~/data/CASIA2 --seeds 10 "
            "--out runs/t3 --seed-index 0-4\n"
            "  hyperkit report runs/t3")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=("demo", "casia2"), default="casia2",
                        help="casia2 (default; needs --root) or demo (generated offline)")
    parser.add_argument("--root", help="CASIA v2 folder holding Au/ and Tp/")
    parser.add_argument("--masks", help="folder of ground-truth masks, one per tampered image")
    parser.add_argument("--inspect", action="store_true",
                        help="list the pairs found and the files skipped, then stop")
    parser.add_argument("--to-csv", metavar="FILE",
                        help="with --inspect: write tampered, source, mask to this CSV")
    parser.add_argument("--quick", action="store_true",
                        help="small setting, minutes on 2 CPU cores (default: full setting)")
    parser.add_argument("--out", help="output folder (default runs/forgery-<dataset>-<setting>)")
    parser.add_argument("--seeds", type=int, help="number of seeds (default: the setting's)")
    parser.add_argument("--stage1-epochs", type=int, help="stage-1 epoch budget")
    parser.add_argument("--stage2-epochs", type=int, help="stage-2 epoch budget")
    parser.add_argument("--e2e-epochs", type=int, help="end-to-end epoch budget")
    parser.add_argument("--channel-arch", help="stage-1 channel (preset or architecture string)")
    parser.add_argument("--stage2-arch", help="stage 2 (its Input(U, V, D) sets the grid)")
    parser.add_argument("--e2e-arch", help="end-to-end network (its Input sets the size)")
    parser.add_argument("--contour-points", type=int,
                        help="stage-1 patch pairs per tampered image, along its region's "
                             "contour (default: the setting's; the paper: 15)")
    parser.add_argument("--contour-jitter", type=int,
                        help="stage-1 training windows move by up to this many pixels per "
                             "draw (default: the setting's; 0 = fixed positions)")
    parser.add_argument("--edge-negatives", type=int, metavar="N",
                        help="stage-1 samples per pair more: the authentic image's patch at "
                             "one of its N strongest natural edges ranked against the "
                             "tampered contour patch (default: the setting's; 0 = none)")
    parser.add_argument("--splices", type=int,
                        help="synthetic tampered images per training authentic image, for "
                             "the stages --splices-in names (default: the setting's; 0 = none)")
    parser.add_argument("--splice-jpeg", type=float, metavar="SHARE",
                        help="share of the --splices images JPEG-compressed once more "
                             "(default: the setting's, 0.5)")
    parser.add_argument("--patch-score", type=float, metavar="W",
                        help="weight of a per-patch tamper logit (BCE) trained beside stage "
                             "1's ranking hinge (default: the setting's; 0 = ranking only)")
    parser.add_argument("--stage1-optimizer", choices=("sgd", "adam"),
                        help="stage 1's optimizer (default: the setting's; the paper: sgd)")
    parser.add_argument("--stage1-lr", type=float, metavar="LR",
                        help="stage 1's initial learning rate (default: the setting's; the "
                             "paper: 0.005)")
    parser.add_argument("--splices-in", choices=("stage1", "stage2", "both"),
                        help="which stages train on the --splices images: stage 1's pairs, "
                             "stage 2 (as tampered images) or both (default: the setting's)")
    parser.add_argument("--views", metavar="LIST",
                        help="views of each image stage 2 trains on and scores, comma-"
                             "separated: original, or original,mirror (the left-right mirror "
                             "too; default: the setting's, quick: original,mirror)")
    parser.add_argument("--demo-authentic", type=int, help="demo set: authentic images")
    parser.add_argument("--demo-tampered", type=int, help="demo set: tampered images")
    run_options(parser, "continue an interrupted run in --out from its checkpoints")
    parser.add_argument("--seed-index", metavar="SPEC",
                        help="run only these seeds of the --seeds planned (3, 0,2-4) into "
                             "--out, beside other processes running other seeds there; joins "
                             "an existing --out of the same settings (no --resume needed), "
                             "writes no results: 'hyperkit report OUT' merges")

def run_from_args(args: argparse.Namespace) -> None:
    """Table 3: --inspect lists the CASIA v2 pairs; otherwise both stages and the
    end-to-end baseline are trained and results.json, results.md and plots written."""
    from dataclasses import replace

    from hyperkit.tasks.forgery import SETTINGS, inspect, run_forgery

    try:
        if args.inspect or args.to_csv:
            if args.seed_index is not None:
                raise ValueError("--inspect only reads the data set; it takes no --seed-index")
            if args.dataset != "casia2" or args.root is None:
                raise ValueError("--inspect and --to-csv read a CASIA v2 tree: pass "
                                 "--dataset casia2 --root PATH")
            inspect(args.root, args.masks, args.to_csv)
            return
        name = "quick" if args.quick else "full"
        setting = SETTINGS[name]
        over = {k: getattr(args, k) for k in (
            "seeds", "stage1_epochs", "stage2_epochs", "e2e_epochs", "channel_arch",
            "stage2_arch", "e2e_arch", "demo_authentic", "demo_tampered", "contour_points",
            "contour_jitter", "splices", "splices_in", "splice_jpeg", "patch_score",
            "stage1_optimizer", "stage1_lr", "views", "edge_negatives")
            if getattr(args, k) is not None}
        if "views" in over:  # 'original,mirror' -> ('original', 'mirror'), checked by Setting
            over["views"] = tuple(v.strip() for v in over["views"].split(","))
        if over.get("contour_jitter", 0) < 0:
            raise ValueError("--contour-jitter must be >= 0 (pixels)")
        if over.get("edge_negatives", 0) < 0:
            raise ValueError("--edge-negatives must be >= 0 (samples per pair)")
        if over.get("splices", 0) < 0:  # as_flags leaves a plain word such as 'splices'
            raise ValueError("--splices must be >= 0 (images per training authentic image)")
        for k in ("seeds", "stage1_epochs", "stage2_epochs", "e2e_epochs", "demo_authentic",
                  "demo_tampered", "contour_points"):
            if k in over and over[k] < (3 if k.startswith("demo") else 1):
                raise ValueError(f"--{k.replace('_', '-')} must be >= "
                                 f"{3 if k.startswith('demo') else 1}")
        for k in ("stage1", "stage2", "e2e"):  # a shorter budget shortens the patience
            if f"{k}_epochs" in over:
                over[f"{k}_patience"] = min(getattr(setting, f"{k}_patience"),
                                            over[f"{k}_epochs"])
        setting = replace(setting, **over)
        _check_seed_index(args, setting.seeds)  # before any data is read
        out = args.out or f"runs/forgery-{args.dataset}-{name}"
        run_forgery(args.dataset, setting, out, root=args.root, masks=args.masks,
                    device=args.device, resume=args.resume, overwrite=args.overwrite,
                    progress=not args.no_progress, seed_index=args.seed_index)
    except (FileExistsError, FileNotFoundError, PermissionError, ValueError, TypeError) as e:
        raise SystemExit(f"hyperkit forgery: error: "
                         f"{as_flags(str(e), args.parser_of_command)}") from None


def _check_seed_index(args: argparse.Namespace, seeds: int) -> None:
    """Refuses a malformed or out-of-range --seed-index, and --seed-index with
    --overwrite, before any data is read."""
    if args.seed_index is None:
        return
    from hyperkit.tasks.forgery.units import seed_indices

    seed_indices(args.seed_index, seeds)
    if args.overwrite:
        raise ValueError("--seed-index joins the run in --out that other processes may be "
                         "writing; it never moves it aside: drop --overwrite (or move the "
                         "run aside with a plain --overwrite run first)")
