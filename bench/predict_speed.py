"""``hyperkit predict`` over a folder of photographs (issue 19): images/s and peak memory.

``make`` writes the photographs: scikit-image's bundled photographs (the IQA demo's 18) at
384 x 512, each copy with a small colour shift (a gain of 0.9-1.1 per channel) and saved
as JPEG at a quality of 30-95 (seeded; mate-backgrounds and opencv-doc photographs are
never used: they are kept for independent evaluation). ``batch`` times
``model.predict`` on one image per call against groups of same-size images in one
process (does batching pay?). ``time`` runs the command under ``/usr/bin/time -v`` for
each arm in turn (arms alternate, so a slow spell of the machine hits both), behind the
machine's heavy-job lock, and prints wall seconds, images/s and peak RSS per run.

    python bench/predict_speed.py make --out /tmp/hk/predict1000 --count 1000
    python bench/predict_speed.py batch --photos /tmp/hk/predict1000
    python bench/predict_speed.py time --photos /tmp/hk/predict1000 --runs 3
    python bench/predict_speed.py make --out /tmp/hk/predict_big --count 200 --size 1536,2048
    python bench/predict_speed.py time --photos /tmp/hk/predict_big --runs 3 --args=--resize

Run the timings alone: another heavy process is the largest source of spread.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = "/tmp/hyperkit-heavy.lock"
# arm name -> extra arguments of hyperkit predict; the old arm is the one-at-a-time loop
# of before (each file decoded in the main thread at its turn)
ARMS = {"--workers 0 (one at a time, as before)": ["--workers", "0"],
        "default (--workers 2 on 2 cores)": []}


def make(out: Path, count: int, size: tuple[int, int] = (384, 512), seed: int = 0) -> None:
    """Writes ``count`` JPEGs of ``size`` (rows, columns) into ``out`` (p0000.jpg, ...)."""
    import numpy as np
    from PIL import Image

    from hyperkit.data.iqa.demo_distortions import load_photos

    photos = list(load_photos(size).values())
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        gain = rng.uniform(0.9, 1.1, size=3)  # a small colour shift per copy
        im = np.clip(photos[i % len(photos)] * gain, 0, 255).astype(np.uint8)
        Image.fromarray(im).save(out / f"p{i:04d}.jpg", quality=int(rng.integers(30, 96)))
    print(f"wrote {count} JPEGs of {size[0]} x {size[1]} to {out}")


def batch(photos: Path, count: int, sizes: list[int], model_name: str) -> None:
    """Seconds per image of model.predict on groups of ``size`` images (decoded first)."""
    import numpy as np

    import hyperkit
    from hyperkit.images import read_image

    model = hyperkit.load_model(model_name)
    ims = [read_image(p) for p in sorted(photos.glob("*.jpg"))[:count]]
    model.predict(ims[:2])  # warm-up: thread pools, first allocations
    one = np.concatenate([model.predict([im]) for im in ims])
    for size in sizes:
        t = time.perf_counter()
        got = np.concatenate([model.predict(ims[i:i + size]) for i in range(0, len(ims), size)])
        dt = time.perf_counter() - t
        print(f"groups of {size}: {1e3 * dt / len(ims):.1f} ms per image "
              f"({len(ims) / dt:.1f} images/s); largest difference from one at a time "
              f"{np.abs(got - one).max():.2e}", flush=True)


def timed(photos: Path, extra: list[str]) -> tuple[float, float, float, int]:
    """(wall s, images/s over the wall time, images/s of the scoring loop as the command
    reports it, peak RSS MB) of one ``hyperkit predict`` run, behind the lock."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "x.csv"
        cmd = ["flock", LOCK, "/usr/bin/time", "-v", sys.executable, "-m", "hyperkit.cli",
               "predict", "photo-iqa", str(photos), "--csv", str(csv), "--no-progress", *extra]
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
        n = len(csv.read_text().splitlines()) - 1
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    secs = int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)[1])
    loop = float(re.search(r"scored \d+ image\(s\) in [\d.]+ s \(([\d.]+) images/s\)",
                           r.stderr)[1])
    return secs, n / secs, loop, rss // 1024


def time_arms(photos: Path, runs: int, more: list[str]) -> None:
    """Runs each arm ``runs`` times, alternating, with the arguments ``more`` too, and
    prints one table row per run."""
    print("| arm | run | wall s | images/s (wall) | images/s (scoring loop) | peak RSS MB |\n"
          "|---|---|---|---|---|---|")
    for run in range(1, runs + 1):
        for name, extra in ARMS.items():
            secs, rate, loop, rss = timed(photos, extra + more)
            print(f"| {name} | {run} | {secs:.1f} | {rate:.1f} | {loop:.1f} | {rss} |",
                  flush=True)


def main() -> None:
    """The three subcommands of the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("make", help="write the photographs")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--count", type=int, default=1000)
    m.add_argument("--size", default="384,512", help="rows,columns (default 384,512)")
    b = sub.add_parser("batch", help="model.predict one at a time against groups")
    b.add_argument("--photos", type=Path, required=True)
    b.add_argument("--count", type=int, default=96)
    b.add_argument("--sizes", default="1,2,4,8,16", help="group sizes, comma-separated")
    b.add_argument("--model", default="photo-iqa")
    t = sub.add_parser("time", help="time the command, each arm in turn")
    t.add_argument("--photos", type=Path, required=True)
    t.add_argument("--runs", type=int, default=3)
    t.add_argument("--args", default="", help="more arguments of hyperkit predict for every "
                                               "arm, e.g. '--resize'")
    a = ap.parse_args()
    if a.what == "make":
        make(a.out, a.count, tuple(int(v) for v in a.size.split(",")))
    elif a.what == "batch":
        batch(a.photos, a.count, [int(s) for s in a.sizes.split(",")], a.model)
    else:
        time_arms(a.photos, a.runs, shlex.split(a.args))


if __name__ == "__main__":
    main()
