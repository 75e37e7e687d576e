"""``hyperkit score``: score photographs with a pretrained model, no training."""

from __future__ import annotations

import argparse
import sys

from .common import check_csv_target, expand_inputs, finish_scoring

HELP = "score photographs with a pretrained model (no training needed)"
DESCRIPTION = ("Print one quality score per photograph with a model shipped in the package "
               "(hyperkit models lists them with their cards). Files, folders and glob "
               "patterns as in 'hyperkit predict'; a file that cannot be scored is reported "
               "and skipped (exit status 1).")
EXAMPLES = ("photo-iqa scores 0-100 (higher is better, 100 = undistorted): a prediction of a\n"
            "full-reference quality of its training set, trained on 192 x 256 photographs\n"
            "with noise, blur, JPEG and pixelation. Larger photographs are shrunk to fit\n"
            "192 x 256 first (--no-resize scores them at full size). Its card: hyperkit\n"
            "models photo-iqa.\n\n"
            "examples:\n"
            "  hyperkit score photo.jpg\n"
            "  hyperkit score shots/ 'more/*.png' --csv scores.csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files, folders or glob patterns")
    parser.add_argument("--model", default="photo-iqa",
                        help="a pretrained model's name (default photo-iqa; see hyperkit models)")
    parser.add_argument("--no-resize", dest="resize", action="store_false",
                        help="score at full size instead of shrinking to the model's "
                             "training size")
    parser.add_argument("--csv", metavar="OUT", help="also write path and score to this CSV "
                                                     "file (refused if it exists)")


def run_from_args(args: argparse.Namespace) -> None:
    """Scores each file with the pretrained model; bad files are reported and skipped."""
    from hyperkit import pretrained

    if args.model not in pretrained.models():
        raise SystemExit(f"hyperkit score: error: --model must be one of "
                         f"{pretrained.models()}, got {args.model!r}")
    check_csv_target("score", args.csv)
    try:
        model = pretrained.load_pretrained(args.model)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"hyperkit score: error: {e}") from None
    files, problems = expand_inputs(args.images)
    meaning = model.meta.get("score_meaning", "see the model card")
    size = model.meta.get("image_size")
    how = f"shrunk to fit {size[0]} x {size[1]}" if args.resize and size else "at full size"
    print(f"# {args.model} scores ({how}): {meaning}", file=sys.stderr)
    rows = []
    for path in files:
        try:
            s = float(pretrained.score([path], resize=args.resize, model=model)[0])
        except (FileNotFoundError, ValueError, TypeError, OSError) as e:
            problems.append((str(path), str(e)))
            continue
        print(f"{path}\t{s:.2f}", flush=True)
        rows.append((str(path), f"{s:.4f}"))
    finish_scoring("score", args.csv, ["path", "score"], rows, problems)
