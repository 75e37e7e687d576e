"""NR-IQA stage 1 at TID2013 size: memory and speed of the streaming patch path.

Fabricates N TID-sized images (384 x 512 RGB BMP, smooth random content plus noise) in
a scratch folder, then, in a fresh process per N: prepares them once into the
memory-mapped float32 cache (LCN), builds every grid patch of the 23 x 31 grid as a
training row (N x 713 patches, the non-selective worst case), and trains Kang's stage
1 on random batches for a fixed number of steps. Reports peak RSS (ru_maxrss), the
anonymous and file-backed parts of RSS at the end (/proc/self/status: file-backed pages
are the cache's, shared with the page cache and reclaimable), stage-1 training
patches/s and hyper-images/s. Writes the 'iqa-memory' section of bench/RESULTS.md.

    python bench/iqa_memory.py --sizes 300,3000 --scratch /tmp/iqa-memory --steps 150
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from results import write_section

GRID = (23, 31)


def fabricate(folder: Path, n: int) -> list[Path]:
    """n TID-sized BMP files (made once, reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:384, 0:512] / 512.0
    paths = []
    for i in range(n):
        p = folder / f"img{i:05d}.bmp"
        if not p.is_file():
            a = rng.uniform(2, 9, 3)
            img = 0.5 + 0.3 * np.sin(a[0] * xx + a[1] * yy)[..., None] * rng.uniform(0.4, 1, 3)
            img = img + rng.normal(0, rng.uniform(0.01, 0.1), img.shape)
            Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(p)
        paths.append(p)
    return paths


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def child(n: int, scratch: Path, steps: int) -> dict:
    """One measurement in this (fresh) process."""
    import torch

    from hyperkit import nets
    from hyperkit.data.image_files import ImageFiles
    from hyperkit.data.iqa.selection import all_cells, rows_to_positions
    from hyperkit.data.prepared import PreparedImages
    from hyperkit.model import TwoStage
    from hyperkit.patches import PositionedPatches
    from hyperkit.training.config import stage1_config
    from hyperkit.training.loop import make_optimizer

    torch.manual_seed(0)
    files = ImageFiles(fabricate(scratch / "images", n))
    rss0 = status_kib("VmRSS")
    t0 = time.perf_counter()
    store = PreparedImages(files, lcn=True, channels=3, path=scratch / f"cache-{n}.f32")
    prep = time.perf_counter() - t0
    rows = all_cells(np.arange(n), np.random.default_rng(0).uniform(0, 9, n), GRID)
    index, ys, xs = rows_to_positions(rows, store.sizes, (32, 32), GRID)
    src = PositionedPatches(store, (32, 32), index, ys, xs, rows.label)
    net = nets.build("tid_stage1")
    cfg = stage1_config(batch_size=128)
    opt = make_optimizer(net, cfg)
    rng = np.random.default_rng(0)
    net.train()
    t0 = time.perf_counter()
    for _ in range(steps):
        (x,), y = src.batch(rng.integers(0, len(src), cfg.batch_size))
        opt.zero_grad()
        loss = (net(x) - y).abs().mean()
        loss.backward()
        opt.step()
    train_s = time.perf_counter() - t0
    model = TwoStage(net.eval(), None, stage1_arch="tid_stage1", stage2_arch="tid_stage2",
                     patch=(32, 32), grid=GRID, lcn=True)
    few = [files[i] for i in range(8)]
    model.hyperimages(few[:1])  # warm-up
    t0 = time.perf_counter()
    model.hyperimages(few)
    hyper_s = time.perf_counter() - t0
    return {"images": n, "patches": len(src), "rows_bytes": int(src.index.nbytes * 3 +
                                                                 src.labels.numpy().nbytes),
            "cache_bytes": store.nbytes, "uint8_bytes": n * 384 * 512 * 3,
            "rss_before_mib": rss0 / 1024,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_anon_end_mib": status_kib("RssAnon") / 1024,
            "rss_file_end_mib": status_kib("RssFile") / 1024,
            "prepare_s": prep, "train_patches_per_s": steps * cfg.batch_size / train_s,
            "hyperimages_per_s": len(few) / hyper_s, "steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="300,3000")
    ap.add_argument("--scratch", default="/tmp/iqa-memory")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    scratch = Path(args.scratch)
    if args.child:
        print(json.dumps(child(args.child, scratch, args.steps)))
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--scratch",
                              str(scratch), "--steps", str(args.steps)], check=True,
                             capture_output=True, text=True, env=os.environ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    from hyperkit.devices import describe_machine

    machine = describe_machine()
    Path(__file__).with_name("iqa_memory.json").write_text(
        json.dumps({"rows": rows, "machine": machine}, indent=2))
    mib = 1 << 20
    lines = [f"## NR-IQA stage 1 at TID2013 size (`python bench/iqa_memory.py --sizes "
             f"{args.sizes} --steps {args.steps}`)", "",
             f"Machine: {machine.get('cpu', '?')}, OMP_NUM_THREADS="
             f"{os.environ.get('OMP_NUM_THREADS', 'unset')}. 384x512 RGB images, 23x31 grid, "
             f"every grid patch a training row, {args.steps} training steps of 128 random "
             "patches, Kang stage 1. RSS in MiB; 'file' is the memory-mapped cache's pages "
             "(page cache, reclaimable), 'anon' the process's own memory.", "",
             "| images | patches | images as uint8 | prepared cache (disk) | position rows | "
             "RSS before | peak RSS | anon at end | file at end | patches/s (train) | "
             "hyper-images/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['images']} | {r['patches']} | {r['uint8_bytes'] / mib:.0f} MiB | "
                     f"{r['cache_bytes'] / mib:.0f} MiB | {r['rows_bytes'] / mib:.1f} MiB | "
                     f"{r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['rss_anon_end_mib']:.0f} | {r['rss_file_end_mib']:.0f} | "
                     f"{r['train_patches_per_s']:.0f} | {r['hyperimages_per_s']:.2f} |")
    write_section("iqa-memory", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
