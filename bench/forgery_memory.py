"""Forgery task in bounded memory on a fabricated CASIA-sized tree, and its throughput.

A tree in the CASIA v2 layout with CASIA's counts (7491 authentic, 5123 tampered JPEGs
of 256 x 384, each tampered image a pasted square) is written to a temporary folder
(or --tree). Each phase runs in a fresh process: reset the peak-RSS counter
(/proc/self/clear_refs), run, report the high-water mark (VmHWM):

* scan: casia2.scan, the classification set and the grouped split (all files);
* stage 1: contour positions of --pairs training pairs, then one epoch of the siamese
  pair stream over them (15 patches per pair; a tiny channel, so the data path and not
  the network dominates);
* hyper-images: the hyper-images of --images images streamed into a memory-mapped
  .npy (15 x 15 grid, tiny channel).

Throughput with the paper's networks (``forgery_channel``): stage-1 training pairs/s
(batch 64) and hyper-images/s (15 x 15 grid of 64 x 64 patches, 256 x 384 images).

    python bench/forgery_memory.py                       # writes section forgery-memory
    python bench/forgery_memory.py --pairs 500 --images 200 --tree /tmp/casia-fake
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
TINY = "Input(64,64,3) - C(4) - MP(4) - C(8) - MP(4) - FC(16) - Drop(0.5)"
TINY2 = "Input(15,15,16) - C(4) - MP(2) - C(4) - MP(2) - C(4) - MP(2) - FC(4) - FC(1,'sigmoid')"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def fabricate(root: Path, authentic: int, tampered: int, size=(256, 384)) -> None:
    """CASIA-layout tree of smooth random JPEGs; tampered k pastes a square into
    authentic k."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "Au").mkdir(parents=True)
    (root / "Tp").mkdir()
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    for i in range(authentic):
        f = rng.uniform(2, 9, 6)
        im = np.stack([0.5 + 0.4 * np.sin(f[c] * xx + f[c + 3] * yy) for c in range(3)], 2)
        im = (im * 255).astype(np.uint8)
        Image.fromarray(im).save(root / "Au" / f"Au_ani_{i + 1:05d}.jpg", quality=90)
        if i < tampered:
            y, x = rng.integers(10, h - 90), rng.integers(10, w - 90)
            im[y:y + 70, x:x + 70] = rng.integers(0, 255, 3, dtype=np.uint8)
            Image.fromarray(im).save(
                root / "Tp" / f"Tp_D_NRN_S_N_ani{i + 1:05d}_ani{(i + 2) % authentic + 1:05d}_"
                              f"{i + 1:05d}.jpg", quality=90)


def child(phase: str, tree: str, count: int) -> None:
    import gc

    import torch

    from hyperkit import nets
    from hyperkit.data.forgery import casia2
    from hyperkit.data.forgery.pairs import SiamesePairs
    from hyperkit.data.image_files import ImageFiles
    from hyperkit.model import TwoStage
    from hyperkit.nets.siamese import Centered, SiameseRanker
    from hyperkit.tasks.forgery import _rgb, positions
    from hyperkit.training import RankingHinge, TrainConfig, fit
    from hyperkit.training.recipes import cached_hyperimages

    torch.set_num_threads(2)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kib("VmRSS")
    t0 = time.perf_counter()
    info: dict = {}
    with tempfile.TemporaryDirectory() as wd:
        wd = Path(wd)
        data = casia2.scan(tree)
        paths, labels, groups = data.classification_set()
        tr, va, te = casia2.grouped_split(groups, 0)
        info["files"] = len(paths)
        if phase == "stage1":
            train = set(str(paths[i]) for i in tr)
            pairs = [p for p in data.pairs if str(p.tampered) in train][:count]
            pos, _ = positions(data, pairs, wd / "c.json", log=lambda s: None, progress=False)
            items = [(v["authentic"], k) for k, v in pos.items()]
            tops = [v["tops"] for v in pos.values()]
            src = SiamesePairs(items, tops, augment=True)
            val = SiamesePairs(items[:4], tops[:4])
            t1 = time.perf_counter()
            fit(SiameseRanker(TINY), src, val, RankingHinge(3),
                TrainConfig(epochs=1, batch_size=64), log=None, progress=False, device="cpu")
            info.update(pairs=len(items), samples=len(src),
                        stream_seconds=time.perf_counter() - t1)
        elif phase == "hyper":
            model = TwoStage(Centered(nets.build(TINY), [0.5, 0.5, 0.5]), nets.build(TINY2),
                             stage1_arch=TINY, stage2_arch=TINY2, patch=(64, 64),
                             grid=(15, 15), lcn=False).eval()
            h = cached_hyperimages("h", model, ImageFiles([paths[i] for i in tr[:count]]),
                                   wd, "mmap", batch_size=256, group=16, prepare=_rgb)
            info.update(images=len(h), shape=list(h.shape))
    peak = _status_kib("VmHWM")
    print(json.dumps({"phase": phase, "peak_rss_mib": peak / 1024,
                      "rss_before_mib": base / 1024, "seconds": time.perf_counter() - t0,
                      **info}))


def throughput() -> dict:
    """Paper-network speeds: training pairs/s and hyper-images/s."""
    import numpy as np
    import torch

    from hyperkit import nets
    from hyperkit.model import TwoStage
    from hyperkit.nets.siamese import SiameseRanker
    from hyperkit.training import RankingHinge

    torch.set_num_threads(2)
    torch.manual_seed(0)
    r = SiameseRanker("forgery_channel")
    opt = torch.optim.SGD(r.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    x1, x2, y = torch.rand(64, 3, 64, 64), torch.rand(64, 3, 64, 64), torch.ones(64)
    loss = RankingHinge(3)
    times = []
    for _ in range(4):
        t = time.perf_counter()
        opt.zero_grad()
        loss(r(x1, x2), y).backward()
        opt.step()
        times.append(time.perf_counter() - t)
    pairs_s = 64 / float(np.median(times[1:]))
    model = TwoStage(r.channel, nets.build("forgery_stage2"), stage1_arch="forgery_channel",
                     stage2_arch="forgery_stage2", patch=(64, 64), grid=(15, 15),
                     lcn=False).eval()
    ims = [np.random.default_rng(i).integers(0, 255, (256, 384, 3), dtype=np.uint8)
           for i in range(4)]
    model.hyperimages(ims[:1])
    t = time.perf_counter()
    model.hyperimages(ims)
    return {"pairs_per_s": pairs_s, "hyperimages_per_s": len(ims) / (time.perf_counter() - t)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tree", help="reuse (or write) the fabricated tree here")
    ap.add_argument("--authentic", type=int, default=7491)
    ap.add_argument("--tampered", type=int, default=5123)
    ap.add_argument("--pairs", type=int, default=1000, help="stage-1 pairs streamed")
    ap.add_argument("--images", type=int, default=400, help="hyper-images built")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    tmp = None
    tree = Path(args.tree) if args.tree else None
    if tree is None:
        tmp = tempfile.TemporaryDirectory()
        tree = Path(tmp.name) / "CASIA2"
    if not (tree / "Au").is_dir():
        t = time.perf_counter()
        fabricate(tree, args.authentic, args.tampered)
        print(f"fabricated {tree} in {time.perf_counter() - t:.0f} s")
    rows = []
    for phase, count in (("scan", 0), ("stage1", args.pairs), ("hyper", args.images)):
        out = subprocess.run([sys.executable, __file__, "--child", phase, str(tree), str(count)],
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1])
    speed = throughput()
    print(speed)
    write_report(rows, speed, args)
    if tmp is not None:
        tmp.cleanup()


def write_report(rows: list[dict], speed: dict, args: argparse.Namespace) -> None:
    from results import write_section

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    lines = ["## Forgery task memory and speed (`python bench/forgery_memory.py`)", "",
             f"Fabricated CASIA v2 tree: {args.authentic} authentic and {args.tampered} "
             "tampered 256 x 384 JPEGs. Machine: " + cpu + ", 2 threads. Each phase is a "
             "fresh process; peak RSS is VmHWM after resetting it at the phase's start.", "",
             "| phase | what | RSS at start MiB | peak RSS MiB | seconds |",
             "|---|---|---|---|---|"]
    what = {"scan": lambda r: f"scan + split of {r['files']} images",
            "stage1": lambda r: f"contours of {r['pairs']} train pairs + one epoch streaming "
                                f"{r['samples']:,} patch pairs (tiny channel)",
            "hyper": lambda r: f"{r['images']} hyper-images {tuple(r['shape'][1:])} into a "
                               "memory-mapped .npy (tiny channel)"}
    for r in rows:
        lines.append(f"| {r['phase']} | {what[r['phase']](r)} | {r['rss_before_mib']:.0f} | "
                     f"{r['peak_rss_mib']:.0f} | {r['seconds']:.0f} |")
    lines += ["", "Paper networks on this CPU: stage-1 siamese training "
                  f"{speed['pairs_per_s']:.1f} pairs/s (forgery_channel, batch 64); "
                  f"{speed['hyperimages_per_s']:.2f} hyper-images/s (15 x 15 x 500 from "
                  "256 x 384 images)."]
    write_section("forgery-memory", "\n".join(lines))


if __name__ == "__main__":
    main()
