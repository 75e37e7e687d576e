"""``hyperkit predict``: score image files with a trained model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyperkit.methods import METHODS

from .common import expand_inputs

HELP = "score image files with a trained model"
DESCRIPTION = ("Print one score per image: PNG, JPEG, TIFF, BMP, ... or .npy files, folders (their"
               " image files, sorted) and glob patterns. A file that cannot be scored is reported "
               "and skipped; the exit status is then 1.")
EXAMPLES = ("A model trained on gray images scores colour files by converting them to\n"
            "gray (BT.709 luma, as skimage.color.rgb2gray); a model trained on colour\n"
            "images needs colour files. 8- and 16-bit files are read at their depth;\n"
            ".npy arrays follow the image rules of the README (floats in [0, 1]).\n\n"
            "examples:\n"
            "  hyperkit predict runs/synthetic-exp1-quick photo.png scans/ 'shots/*.jpg'\n"
            "  hyperkit predict runs/synthetic-exp1-quick scans/ --csv scores.csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a run folder (hyperkit synthetic --out) or a model folder")
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files, folders or glob patterns")
    parser.add_argument("--method", choices=tuple(METHODS), default="two_stage",
                        help="two_stage (default: the model's stage 2), or a pooling of the "
                             "patch scores: patch_average (Kang et al.), patch_min, patch_p10, "
                             "patch_softmin")
    parser.add_argument("--csv", metavar="OUT",
                        help="also write path, score, method and meaning to this CSV file")

def run_from_args(args: argparse.Namespace) -> None:
    """Scores image files; a bad file is reported and skipped, the exit status is 1 if any
    input failed."""
    import csv
    import io

    import hyperkit
    from hyperkit.files import write_text
    from hyperkit.images import read_image

    if args.csv and Path(args.csv).exists():
        raise SystemExit(f"hyperkit predict: error: --csv {args.csv} exists; choose another "
                         "file (nothing is overwritten)")
    try:
        model = hyperkit.load_model(args.model)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"hyperkit predict: error: {e}") from None
    files, problems = expand_inputs(args.images)
    meaning = model.meta.get("score_meaning", "in the units of the model's training labels")
    print(f"# {args.method} scores: {meaning}", file=sys.stderr)
    rows = []
    classifier = model.labels([0.5]) is not None  # a forgery run: authentic / tampered
    for path in files:
        try:
            score = float(model.predict([read_image(path)], method=args.method)[0])
        except (FileNotFoundError, ValueError, TypeError) as e:
            problems.append((str(path), str(e)))
            continue
        if classifier:
            label, prob = model.labels([score])[0]
            print(f"{path}\t{label}\t{prob:.4f}", flush=True)
            rows.append((str(path), f"{score:.6f}", args.method, meaning, label, f"{prob:.6f}"))
            continue
        print(f"{path}\t{score:.4f}", flush=True)
        rows.append((str(path), f"{score:.6f}", args.method, meaning))
    for arg, why in problems:
        print(f"hyperkit predict: skipped {arg}: {why}", file=sys.stderr)
    if args.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["path", "score", "method", "meaning"]
                        + (["label", "probability"] if classifier else []))
        writer.writerows(rows)
        write_text(args.csv, buf.getvalue())
        print(f"wrote {len(rows)} row(s) to {args.csv}", file=sys.stderr)
    if problems:
        raise SystemExit(f"hyperkit predict: {len(problems)} input(s) failed, "
                         f"{len(rows)} scored")
