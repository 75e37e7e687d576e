"""``hyperkit explain``: importance maps of image files."""

from __future__ import annotations

import argparse
import sys

from .common import expand_inputs

HELP = "show where in an image a score comes from"
DESCRIPTION = ("Importance maps: how much each grid patch of an image changes the "
               "model's score, as a heat map PNG over the image, the (U, V) map as .npy "
               "and the score (scores.csv). Works with any run's model.")
EXAMPLES = ("For each image: NAME.png (the image and its importance map over it, the\n"
            "most important cell boxed; red cells raise the score, blue ones lower it),\n"
            "NAME.npy (the (U, V) map, score units) and a row of scores.csv. Methods:\n"
            "gradient (default; gradient x input on stage 2, about the cost of a\n"
            "prediction), occlusion (exact, stage 2 once per grid cell: slower),\n"
            "patch_average (the baseline's per-patch scores).\n\n"
            "examples:\n"
            "  hyperkit explain runs/synthetic-exp1-quick photo.png --out maps/\n"
            "  hyperkit explain runs/synthetic-exp1-quick scans/ --method occlusion")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a run folder or a model folder")
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files, folders or glob patterns")
    parser.add_argument("--out", default="explain",
                        help="output folder (default ./explain; existing files are never "
                             "overwritten)")
    parser.add_argument("--method", choices=("gradient", "occlusion", "patch_average"),
                        default="gradient", help="gradient (default), occlusion or patch_average")

def run_from_args(args: argparse.Namespace) -> None:
    """Importance maps of image files: a PNG, a .npy map and a scores.csv row per image;
    a bad file is reported and skipped, the exit status is 1 if any input failed."""
    import hyperkit
    from hyperkit.tasks.explain import explain_files

    try:
        model = hyperkit.load_model(args.model)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"hyperkit explain: error: {e}") from None
    if args.method != "patch_average" and model.stage2 is None:
        raise SystemExit("hyperkit explain: error: this model has no stage 2; use "
                         "--method patch_average")
    files, problems = expand_inputs(args.images)
    try:
        rows, failed = explain_files(model, files, args.out, args.method)
    except (FileExistsError, ValueError) as e:
        raise SystemExit(f"hyperkit explain: error: {e}") from None
    problems += failed
    for arg, why in problems:
        print(f"hyperkit explain: skipped {arg}: {why}", file=sys.stderr)
    print(f"wrote {len(rows)} map(s) and scores.csv to {args.out}", file=sys.stderr)
    if problems:
        raise SystemExit(f"hyperkit explain: {len(problems)} input(s) failed, "
                         f"{len(rows)} explained")
