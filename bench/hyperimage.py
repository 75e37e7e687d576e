"""build_hyperimage throughput with Kang's TID2013 stage 1: the patch path against the
shared route (one convolution per image), plain torch and the network alone; then where
the shared route's time goes. Writes the "hyperimage" section of bench/RESULTS.md.

    OMP_NUM_THREADS=2 python bench/hyperimage.py [--repeats 3]

All rows run in one process on the same 8 TID-sized RGB images (384 x 512, float32 in
[0, 1]) with one untrained `tid_stage1` (weights do not change the work). Time per row:
the median of --repeats runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import hyperkit
from hyperkit.devices import describe_machine
from results import write_section

HERE = Path(__file__).parent
N, H, W, PATCH, STRIDE = 8, 384, 512, 32, 16
RADIUS, SIGMA, EPS = 3, 7 / 6, 1 / 255
# Multiply-adds of the shared route per TID image: conv1 over the whole image
# (3 * 49 * 50 per map pixel) plus FC1 and FC2 on 713 cells.
CONV_MACS = 3 * 49 * 50 * (H - 6) * (W - 6)
FC_MACS = 713 * (100 * 800 + 800 * 800)


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of fn over `repeats` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def lcn_torch(x: torch.Tensor) -> torch.Tensor:
    """LCN (eq. 4) as plain torch: two 7x7 Gaussian conv2d's over a replicate-padded
    input, per channel (bench/test_kernels.py's composite)."""
    k = torch.arange(-RADIUS, RADIUS + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * k**2 / SIGMA**2)
    g = g / g.sum()
    w = torch.outer(g, g)[None, None]
    n, c, h, ww = x.shape
    flat = F.pad(x.reshape(n * c, 1, h, ww), (RADIUS,) * 4, mode="replicate")
    mu = F.conv2d(flat, w)
    var = (F.conv2d(flat * flat, w) - mu * mu).clamp_min(0)
    return ((x.reshape(n * c, 1, h, ww) - mu) / (var.sqrt() + EPS)).reshape(x.shape)


def plain_torch(net, images: torch.Tensor, u: int, v: int) -> torch.Tensor:
    """What a user writes without hyperkit: conv2d LCN, unfold into patches, the same
    layers with amax/amin pooling, in chunks of 4096 patches."""
    x = lcn_torch(images)
    p = x.unfold(2, PATCH, STRIDE).unfold(3, PATCH, STRIDE)  # (N, C, U, V, 32, 32)
    p = p.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, PATCH, PATCH)
    out = []
    for i in range(0, len(p), 4096):
        c = net.conv1(p[i:i + 4096].contiguous())
        h = torch.cat([c.amin((2, 3)), c.amax((2, 3))], 1)
        out.append(net.relu(net.fc2(net.relu(net.fc1(h)))))
    return torch.cat(out).view(len(images), u, v, -1).permute(0, 3, 1, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    torch.manual_seed(0)
    net = hyperkit.nets.build("tid_stage1").eval()
    images = torch.from_numpy(np.random.default_rng(0).random((N, 3, H, W), dtype=np.float32))
    u, v = hyperkit.grid_shape(H, W, PATCH, STRIDE)
    rows, cols = hyperkit.grid_positions(H, PATCH, u), hyperkit.grid_positions(W, PATCH, v)
    normalized = hyperkit.lcn(images)
    patches = hyperkit.gather_patches(normalized, PATCH, (u, v))

    with torch.no_grad():
        a = hyperkit.build_hyperimage(images, net.features, stride=STRIDE, route="patches")
        b = hyperkit.build_hyperimage(images, net.features, stride=STRIDE, route="shared")
        c = plain_torch(net, images, u, v)
        agree = max(float((a - b).abs().max()), float((a - c).abs().max()))

        routes = {
            "shared route (`route='shared'`)": lambda: hyperkit.build_hyperimage(
                images, net.features, stride=STRIDE, route="shared"),
            "patch path (`route='patches'`)": lambda: hyperkit.build_hyperimage(
                images, net.features, stride=STRIDE, route="patches"),
            "plain torch (conv2d LCN, unfold, same layers)": lambda: plain_torch(
                net, images, u, v),
            "network alone on pre-gathered patches": lambda: net.features(patches),
        }
        t = {name: timed(fn, args.repeats) for name, fn in routes.items()}

        cl = normalized.contiguous(memory_format=torch.channels_last)
        fmap = net.conv1(cl)
        mx, mn = hyperkit.grid_minmax_pool(fmap, PATCH - 6, positions=(rows, cols))
        pooled = torch.cat([mn, mx], 1).permute(0, 2, 3, 1)
        fmap_nchw = fmap.contiguous()
        r_t, c_t = torch.from_numpy(rows), torch.from_numpy(cols)
        parts = {
            "LCN (hyperkit.lcn)": lambda: hyperkit.lcn(images),
            "conv1, contiguous NCHW input": lambda: net.conv1(normalized),
            "conv1, channels-last input (used)": lambda: net.conv1(cl),
            "grid_minmax_pool on the channels-last map (used)": lambda: hyperkit.grid_minmax_pool(
                fmap, PATCH - 6, positions=(rows, cols)),
            "grid_minmax_pool on an NCHW map": lambda: hyperkit.grid_minmax_pool(
                fmap_nchw, PATCH - 6, positions=(rows, cols)),
            "separable max_pool2d pair + indexing, NCHW map": lambda: (
                F.max_pool2d(F.max_pool2d(fmap_nchw, (26, 1), 1)[:, :, r_t], (1, 26), 1)
                [:, :, :, c_t],
                -F.max_pool2d(F.max_pool2d(-fmap_nchw, (26, 1), 1)[:, :, r_t], (1, 26), 1)
                [:, :, :, c_t]),
            "FC1 + FC2 on the pooled vectors": lambda: net.relu(
                net.fc2(net.relu(net.fc1(pooled)))),
        }
        p = {name: timed(fn, args.repeats) for name, fn in parts.items()}

    shared = t["shared route (`route='shared'`)"]
    patch = t["patch path (`route='patches'`)"]
    plain = t["plain torch (conv2d LCN, unfold, same layers)"]
    per_image_ms = shared / N * 1e3
    conv_ms = p["conv1, channels-last input (used)"] / N * 1e3
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip() or "unknown"
    m = describe_machine()
    lines = [
        "## build_hyperimage: patch path vs shared route (Kang TID stage 1)", "",
        f"Measured {datetime.date.today()} at commit {commit} (plus uncommitted work) with "
        f"`OMP_NUM_THREADS=2 python bench/hyperimage.py --repeats {args.repeats}`.",
        f"Machine: {m['cpu']}, torch {m['torch']} ({m['cpu_threads']} threads, CPU capability "
        f"{m['torch_cpu_capability']}), hyperkit OpenMP threads "
        f"{hyperkit.ops.kernels.cpu.get_num_threads()}, CUDA kernels usable: "
        f"{hyperkit.cuda_available()}.", "",
        f"{N} RGB images of {H} x {W}, grid {u} x {v} of {PATCH} x {PATCH} patches (stride "
        f"{STRIDE}), untrained `tid_stage1`, float32, under `no_grad`; median of "
        f"{args.repeats} runs after a warm-up. The three full routes agree to "
        f"{agree:.1e} (max abs difference of the (8, 800, 23, 31) hyper-images).", "",
        "| route | seconds for 8 | images/s | shared route's speed-up |", "|---|---|---|---|",
    ]
    for name, sec in sorted(t.items(), key=lambda kv: kv[1]):
        lines.append(f"| {name} | {sec:.3f} | {N / sec:.1f} | {sec / shared:.2f}x |")
    lines += [
        "", f"Targets: shared >= 2x the patch path (measured {patch / shared:.2f}x), shared "
        f">= 1.5x plain torch (measured {plain / shared:.2f}x). The shared route takes "
        f"{per_image_ms:.1f} ms per image against the ~25 ms FP32 floor of the issue "
        f"({per_image_ms / 25:.1f}x the floor). Its work: {CONV_MACS / 1e9:.2f} G "
        f"multiply-adds of conv1 and {FC_MACS / 1e9:.2f} G of FC1 + FC2 per image; conv1 "
        f"alone runs at {CONV_MACS / (conv_ms * 1e-3) / 1e9:.0f} G multiply-adds/s "
        "(channels-last).", "",
        "Where the shared route's time goes (the same 8 images, each part alone):", "",
        "| part | ms for 8 | ms per image |", "|---|---|---|",
    ]
    for name, sec in p.items():
        lines.append(f"| {name} | {sec * 1e3:.1f} | {sec / N * 1e3:.2f} |")
    text = "\n".join(lines) + "\n"
    write_section("hyperimage", text)
    print(text)


if __name__ == "__main__":
    main()
