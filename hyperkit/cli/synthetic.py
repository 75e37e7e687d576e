"""``hyperkit synthetic``: Table 1, both methods trained and compared."""

from __future__ import annotations

import argparse

from .common import run_options

HELP = "train and evaluate the synthetic task (Table 1)"
DESCRIPTION = ("Train both stages on the paper's synthetic images and compare the "
               "two-stage method with patch averaging. Writes results.json, results.md, "
               "plots and the trained models to --out.")
EXAMPLES = ("examples:\n"
            "  hyperkit synthetic --quick                # experiment 1, minutes on 2 cores\n"
            "  hyperkit synthetic --experiment 2 --seeds 2 --out runs/exp2\n"
            "  hyperkit synthetic --quick --resume       # continue an interrupted run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", type=int, choices=(1, 2), default=1,
                        help="1: random data set; 2: only patch positions vary (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="small setting, minutes on 2 CPU cores (default: full setting)")
    parser.add_argument("--out",
                        help="output folder (default runs/synthetic-exp<E>-<setting>)")
    parser.add_argument("--seeds", type=int, help="number of seeds (default: the setting's)")
    parser.add_argument("--images", type=int,
                        help="images per data set (default: the setting's, see the README)")
    run_options(parser, "continue an interrupted run in --out from its checkpoints")


def run_from_args(args: argparse.Namespace) -> None:
    """Trains both methods and writes results.json, results.md and plots."""
    from dataclasses import replace

    from hyperkit.tasks.synthetic import SETTINGS, run_synthetic
    from hyperkit.training.dist import init_distributed

    if (args.seeds is not None and args.seeds < 1) or (args.images is not None
                                                       and args.images < 10):
        raise SystemExit("hyperkit synthetic: error: --seeds must be >= 1 and --images >= 10")
    name = "quick" if args.quick else "full"
    setting = SETTINGS[name]
    if args.seeds is not None:
        setting = replace(setting, seeds=args.seeds)
    if args.images is not None:
        setting = replace(setting, images=args.images, images_per_count=args.images)
    init_distributed()  # under torchrun: DDP across the ranks
    out = args.out or f"runs/synthetic-exp{args.experiment}-{name}"
    try:
        run_synthetic(args.experiment, setting, out, device=args.device, resume=args.resume,
                      overwrite=args.overwrite,
                      progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, PermissionError, ValueError) as e:
        raise SystemExit(f"hyperkit synthetic: error: {e}") from None
