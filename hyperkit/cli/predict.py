"""``hyperkit predict``: score image files with a trained model."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from hyperkit.methods import METHODS

from .common import (
    check_csv_target,
    default_workers,
    expand_inputs,
    finish_scoring,
    read_ahead,
    worker_count,
)

if TYPE_CHECKING:  # annotations only: the command loads torch when it runs
    from tqdm import tqdm

    from hyperkit.model import TwoStage

HELP = "score image files with a trained model"
DESCRIPTION = ("Print one score per image: PNG, JPEG, TIFF, BMP, ... or .npy files, folders (their"
               " image files, sorted) and glob patterns. A file that cannot be scored is reported "
               "and skipped; the exit status is then 1.")
EXAMPLES = ("A model trained on gray images scores colour files by converting them to\n"
            "gray (BT.709 luma, as skimage.color.rgb2gray); a model trained on colour\n"
            "images needs colour files. 8- and 16-bit files are read at their depth;\n"
            ".npy arrays follow the image rules of the README (floats in [0, 1]).\n\n"
            "A model scores what it was trained on: the synthetic task's model scores\n"
            "eq.-3 images and means nothing on photographs. For photographs use the\n"
            "shipped photo-quality model (photo-iqa; 'hyperkit score' does the same) or\n"
            "an NR-IQA run of your own.\n\n"
            "examples:\n"
            "  hyperkit predict photo-iqa photo.jpg shots/ 'more/*.png'\n"
            "  hyperkit predict runs/iqa-demo-quick photo.jpg --csv scores.csv\n"
            "  hyperkit predict runs/synthetic-exp1-quick eq3_images/\n"
            "  hyperkit predict runs/forgery-demo-quick photo.jpg --map maps/\n"
            "  hyperkit predict photo-iqa shots/ --csv scores.csv --workers 4\n\n"
            "The next files are read and decoded in --workers threads while one is\n"
            "scored; at most 2 decoded images per worker wait, so memory does not grow\n"
            "with the number of files, and the lines keep the order of the inputs. A\n"
            "progress bar shows on a terminal (--no-progress: none), and a closing line\n"
            "on stderr gives the images scored per second.\n\n"
            "--map (forgery runs only) writes one gray PNG per image, at the file's size:\n"
            "the tamper map (minus stage 2's gradient importance of P(authentic), scaled\n"
            "to 0-255 per image; bright = evidence of tampering). Names follow\n"
            "'hyperkit explain' (x.png; x-0.png, x-1.png when stems repeat); an existing\n"
            "file is never overwritten: the command stops before scoring.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a run folder, a model folder, or a shipped model's name "
                                      "(hyperkit models; photo-iqa)")
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="image files, folders or glob patterns")
    parser.add_argument("--method", choices=tuple(METHODS), default="two_stage",
                        help="two_stage (default: the model's stage 2), or a pooling of the "
                             "patch scores: patch_average (Kang et al.), patch_min, patch_p10, "
                             "patch_softmin")
    parser.add_argument("--csv", metavar="OUT",
                        help="also write path, score, method, meaning and a size note to "
                             "this CSV file")
    parser.add_argument("--resize", action="store_true",
                        help="shrink images larger than the model's largest training image "
                             "to fit it before scoring (default: score at full size, with a "
                             "warning when far outside the training sizes)")
    parser.add_argument("--map", metavar="DIR",
                        help="forgery runs only: also write each image's tamper map as a "
                             "PNG into DIR (created; existing files are never overwritten)")
    parser.add_argument("--workers", type=worker_count, default=default_workers(), metavar="N",
                        help="threads reading and decoding the next files while one is "
                             f"scored (default min(4, CPUs): {default_workers()} here; 0: "
                             "read each file in turn)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar (it shows only when stderr is a terminal)")


def sized(model, image, resize: bool):
    """(the image to score, a note for the CSV): shrunk to the model's largest training
    size with ``resize``, else as is, noted when far outside the training sizes."""
    from hyperkit.images import fit_within

    sizes = model.trained_sizes()
    if sizes is None:
        return image, ""
    if resize:
        out = fit_within(image, sizes[1])
        return out, ("" if out is image else f"shrunk to {out.shape[0]} x {out.shape[1]}")
    if model.outside_trained_sizes(image.shape[:2]):
        return image, (f"{image.shape[0]} x {image.shape[1]}: outside the training sizes, "
                       "untested")
    return image, ""


def map_targets(model, files: list, folder: str | None) -> list | None:
    """The tamper-map PNG of each file for ``--map`` (None without it); SystemExit before
    any scoring when the model is no forgery run or a target exists."""
    if folder is None:
        return None
    if model.labels([0.5]) is None or model.stage2 is None:
        raise SystemExit("hyperkit predict: error: --map writes tamper maps, which only a "
                         "forgery run's model gives (it answers authentic/tampered); this "
                         f"model scores {model.meta.get('score_meaning', 'a regression')}")
    from hyperkit.tasks.forgery.tamper_maps import map_files

    try:
        return map_files(files, folder)
    except FileExistsError as e:
        raise SystemExit(f"hyperkit predict: error: {e}") from None


def prepared(model: TwoStage, path: Path, resize: bool) -> tuple:
    """((rows, columns) of the file, the image to score, the size note) of one file: what
    a read-ahead thread does (decoding and any shrinking). Only the file's size is kept,
    not its pixels: a shrunk image waits without its full-size original."""
    from hyperkit.images import read_image

    original = read_image(path)
    return (original.shape[:2], *sized(model, original, resize))


def emit(bar: tqdm, line: str) -> None:
    """One result line on stdout, now (a pipe sees it at once), without breaking the
    progress bar on the terminal."""
    if bar.disable:
        print(line, flush=True)
    else:
        bar.write(line, file=sys.stdout)
        sys.stdout.flush()


def score_files(model: TwoStage, files: list[Path], maps: list[Path] | None,
                args: argparse.Namespace, problems: list[tuple[str, str]]
                ) -> tuple[list[tuple], int]:
    """(CSV rows, number of size notes): each file scored in input order, its line
    printed; a file that cannot be read or scored goes to ``problems``. Files are read
    ahead in ``args.workers`` threads; a progress bar counts them on stderr."""
    from tqdm.auto import tqdm

    meaning = model.meta.get("score_meaning", "in the units of the model's training labels")
    classifier = model.labels([0.5]) is not None  # a forgery run: authentic / tampered
    rows, notes = [], 0
    jobs = read_ahead(files, lambda p: prepared(model, p, args.resize), args.workers)
    with tqdm(total=len(files), unit="image", file=sys.stderr, leave=False,
              disable=None if args.progress else True) as bar:
        for i, (path, job) in enumerate(jobs):
            try:
                hw, image, note = job.result()  # a read's error is raised here
                with warnings.catch_warnings():  # the note says it, once per file
                    warnings.simplefilter("ignore")
                    score = float(model.predict([image], method=args.method)[0])
                    if maps is not None:  # at the file's size, also when shrunk to score
                        from hyperkit.tasks.forgery.tamper_maps import save_tamper_map

                        maps[i].parent.mkdir(parents=True, exist_ok=True)
                        save_tamper_map(model, image, maps[i], size=hw)
            except (FileNotFoundError, ValueError, TypeError) as e:
                problems.append((str(path), str(e)))
                continue
            finally:  # a skipped file counts too: the bar counts files done
                bar.update()
            notes += bool(note)
            if classifier:
                label, prob = model.labels([score])[0]
                emit(bar, f"{path}\t{label}\t{prob:.4f}")
                rows.append((str(path), f"{score:.6f}", args.method, meaning, note, label,
                             f"{prob:.6f}") + (() if maps is None else (maps[i].name,)))
                continue
            emit(bar, f"{path}\t{score:.4f}")
            rows.append((str(path), f"{score:.6f}", args.method, meaning, note))
    return rows, notes


def run_from_args(args: argparse.Namespace) -> None:
    """Scores image files (and with ``--map`` writes their tamper maps); a bad file is
    reported and skipped, the exit status is 1 if any input failed."""

    import hyperkit

    check_csv_target("predict", args.csv)
    try:
        model = hyperkit.load_model(args.model)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"hyperkit predict: error: {e}") from None
    files, problems = expand_inputs(args.images)
    maps = map_targets(model, files, args.map)
    meaning = model.meta.get("score_meaning", "in the units of the model's training labels")
    print(f"# {args.method} scores: {meaning}", file=sys.stderr)
    start = time.perf_counter()
    rows, notes = score_files(model, files, maps, args, problems)
    seconds = time.perf_counter() - start
    print(f"scored {len(rows)} image(s) in {seconds:.1f} s "
          f"({len(rows) / max(seconds, 1e-9):.1f} images/s)", file=sys.stderr)
    if maps is not None:
        print(f"wrote {len(rows)} tamper map(s) to {args.map}", file=sys.stderr)
    if notes:
        sizes = model.trained_sizes()
        print(f"hyperkit predict: {notes} image(s) "
              + ("were shrunk to fit" if args.resize else "lie far outside")
              + f" the model's training sizes ({sizes[0][0]} x {sizes[0][1]} to {sizes[1][0]} x "
              f"{sizes[1][1]}){'' if args.resize else '; their scores are untested (--resize)'}",
              file=sys.stderr)
    classifier = model.labels([0.5]) is not None
    finish_scoring("predict", args.csv, ["path", "score", "method", "meaning", "size_note"]
                   + (["label", "probability"] if classifier else [])
                   + ([] if maps is None else ["map"]), rows, problems)
