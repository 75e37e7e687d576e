"""Cost of importance maps against a plain prediction (issue 13).

TID2013-sized colour images (384 x 512), the TID presets (Kang stage 1 on 32 x 32
patches, tid_stage2 on the 23 x 31 x 800 hyper-image, LCN on) with random weights: the
weights do not change the cost. Every variant is timed on the same images; a row's
ratio is its time over `model.predict` of those images. Target (issue 13): the default
map costs at most 3x a plain prediction.

    OMP_NUM_THREADS=2 python bench/explain.py [--images 2] [--repeats 3] [--device cpu]

Writes the 'explain-cost' section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from hyperkit import nets
from hyperkit.evaluation.importance import DEFAULT_METHOD, METHODS, explain
from hyperkit.model import TwoStage
from results import write_section


def tid_model(device: str) -> TwoStage:
    torch.manual_seed(0)
    return TwoStage(nets.build("tid_stage1"), nets.build("tid_stage2"),
                    stage1_arch="tid_stage1", stage2_arch="tid_stage2", patch=(32, 32),
                    grid=(23, 31), lcn=True).to(device).eval()


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--occlusion-repeats", type=int, default=1,
                    help="occlusion runs stage 2 once per cell (713 times per image)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ims = list(rng.integers(0, 256, (args.images, 384, 512, 3), dtype=np.uint8))
    model = tid_model(args.device)
    model.predict(ims[:1])  # warm-up (allocator, oneDNN primitives)
    explain(model, ims[:1], "gradient")
    t_pred = best_of(lambda: model.predict(ims), args.repeats)
    rows = [("plain prediction (`model.predict`, two-stage)", t_pred)]
    for m in METHODS:
        reps = args.occlusion_repeats if m == "occlusion" else args.repeats
        rows.append((f"`explain(method='{m}')`" + (" (default)" if m == DEFAULT_METHOD else ""),
                     best_of(lambda m=m: explain(model, ims, m), reps)))
    dev = (torch.cuda.get_device_name() if args.device.startswith("cuda")
           else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
                "torch threads")
    lines = ["## Importance-map cost (bench/explain.py)", "",
             f"{args.images} random 384 x 512 RGB images, tid_stage1 + tid_stage2 (random "
             f"weights), grid 23 x 31, patch 32, LCN; {dev}; torch {torch.__version__}; best "
             f"of {args.repeats} ({args.occlusion_repeats} for occlusion).", "",
             "| what | seconds per image | x plain prediction |", "|---|---|---|"]
    for name, t in rows:
        lines.append(f"| {name} | {t / args.images:.3f} | {t / t_pred:.2f} |")
    text = "\n".join(lines) + "\n"
    write_section("explain-cost", text)
    print(text)


if __name__ == "__main__":
    main()
