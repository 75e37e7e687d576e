"""Hyper-images: stage-1 features of a U x V patch grid, arranged as (D, U, V).

Point (u, v) of image n's hyper-image is stage1(patch (u, v) of image n), the
patches cut at :func:`hyperkit.grid_positions` offsets (the run-time strides of
eq. 2), so every image gets the same grid without being resized.

Two routes give the same numbers:

* patches: cut every grid patch (:mod:`hyperkit.patches`) and run stage1 on
  them in chunks;
* shared: a stage-1 network that offers a whole-image path (a method
  ``grid_<name>(images (N, C, H, W), rows (U,), cols (V,)) -> (N, D, U, V)`` next to
  the ``<name>`` passed, e.g. ``grid_features`` for ``net.features``, plus
  ``grid_bytes(height, width, cells)``) runs on whole normalized images, so
  overlapping patches share their computation (Kang's stage 1: one convolution per
  image instead of one per patch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from . import checks
from .devices import module_device
from .grid import grid_positions, grid_shape
from .images import AUTO, check_channels, fitted_hw, image_hw, prepare_image, split_images
from .ops.kernels import cuda_available
from .patches import check_patch_fits, grid_batches

ROUTES = ("auto", "patches", "shared")


def _network(stage1: Callable) -> Any:
    """The module behind stage1 (itself, or the owner of a bound method such as
    ``net.features``); None for other callables."""
    owner = getattr(stage1, "__self__", stage1)
    return owner if isinstance(owner, nn.Module) else None


def _check_stage1(stage1: Callable, patch: tuple[int, int]) -> int | None:
    """The channel count stage1 declares (None if it declares none); refuses a network
    passed whole instead of its features, and patches of another size than its input."""
    if not callable(stage1):
        raise TypeError(f"stage1 must be a torch module or callable, got {type(stage1).__name__}")
    net = _network(stage1)
    if net is None:
        return None
    if stage1 is net and callable(getattr(net, "features", None)) \
            and getattr(net, "head", True) is not None:
        raise TypeError(f"stage1 is a whole {type(net).__name__}, whose output is a score per "
                        "patch; hyper-images are built from its features: pass stage1.features")
    shape = getattr(net, "input_shape", None)
    if shape is None:
        return None
    if tuple(shape[1:]) != tuple(patch):
        raise ValueError(f"stage1 takes {shape[1]}x{shape[2]} patches (its input_shape is "
                         f"{tuple(shape)}), not {patch[0]}x{patch[1]}; pass patch="
                         f"({shape[1]}, {shape[2]})")
    return int(shape[0])


def _whole_image_path(stage1: Callable) -> tuple[Callable, Callable] | None:
    """(net.grid_<name>, net.grid_bytes) when stage1 is the bound method net.<name> of
    a module that offers a whole-image version of it; None otherwise."""
    net, name = _network(stage1), getattr(stage1, "__name__", None)
    if net is None or stage1 is net or not name:
        return None
    fn, size = getattr(net, f"grid_{name}", None), getattr(net, "grid_bytes", None)
    return (fn, size) if callable(fn) and callable(size) else None


def _choose_route(route: str, path: Any, sizes: list[tuple[int, int]], patch: tuple[int, int],
                  grid: tuple[int, int], dev: torch.device) -> bool:
    """True for the shared route. 'auto' takes it when stage1 offers a whole-image path,
    its kernels run on dev, and the whole images cost no more than their patches (an
    image much larger than its grid's patches, e.g. a 4000 x 6000 photo on a 23 x 31
    grid, is cheaper patch by patch)."""
    if route not in ROUTES:
        raise ValueError(f"route must be one of {', '.join(map(repr, ROUTES))}, got {route!r}")
    if route == "patches":
        return False
    why = None
    if path is None:
        why = ("stage1 offers no whole-image path (it must be a bound method net.<name> of a "
               "module with grid_<name> and grid_bytes methods, e.g. KangStage1.features)")
    elif dev.type == "cuda" and not cuda_available():
        why = "hyperkit's CUDA kernels are not usable here, and stage1 runs on the GPU"
    if route == "shared":
        if why:
            raise ValueError(f"route='shared' is not possible: {why}; use route='auto' or "
                             "'patches'")
        return True
    if why:
        return False
    if dev.type == "cuda":
        # The CUDA grid_minmax_pool kernel compiles but has not run on a GPU yet (no
        # device in the task that wrote it): 'auto' keeps the verified patch path there
        # until the CUDA suite and compute-sanitizer pass; route='shared' opts in.
        return False
    whole = sum(h * w for h, w in sizes)
    return whole <= len(sizes) * grid[0] * grid[1] * patch[0] * patch[1]


def _shared_batches(raw: list[Any], sizes: list[tuple[int, int]], path: tuple[Callable, Callable],
                    patch: tuple[int, int], grid: tuple[int, int], max_bytes: int, *,
                    device: torch.device, prep_device: torch.device, **prepare: Any):
    """The shared route, in pieces of bounded memory: yields (n0, n1, u0, u1, out) with
    out (n1 - n0, D, u1 - u0, V) for grid rows u0 .. u1 - 1 of images n0 .. n1 - 1.

    Consecutive images of one size form a group while ``grid_bytes`` of the group stays
    within max_bytes. An image over the budget on its own is cut into horizontal bands
    of whole grid rows (at least one grid row per band); each band holds exactly the
    pixels its patches cover, so the results are those of the whole image.
    """
    fn, cost = path
    (ph, pw), (nu, nv) = patch, grid
    n = 0
    while n < len(raw):
        h, w = sizes[n]
        rows, cols = grid_positions(h, ph, nu), grid_positions(w, pw, nv)
        per_image = cost(h, w, nu * nv)
        n1 = n + 1
        while n1 < len(raw) and sizes[n1] == (h, w) and (n1 + 1 - n) * per_image <= max_bytes:
            n1 += 1
        ims = [prepare_image(raw[i], f"images[{i}]", device=prep_device, **prepare)
               for i in range(n, n1)]
        if per_image <= max_bytes:
            batch = (ims[0][None] if len(ims) == 1 else torch.stack(ims)).to(device)
            yield n, n1, 0, nu, fn(batch, rows, cols)
        else:
            image = ims[0].to(device)
            u0 = 0
            while u0 < nu:
                u1 = u0 + 1
                while u1 < nu and cost(int(rows[u1] + ph - rows[u0]), w,
                                       (u1 + 1 - u0) * nv) <= max_bytes:
                    u1 += 1
                top, bottom = int(rows[u0]), int(rows[u1 - 1]) + ph
                yield n, n1, u0, u1, fn(image[None, :, top:bottom], rows[u0:u1] - top, cols)
                u0 = u1
        n = n1


def build_hyperimage(
    images: Any,
    stage1: Callable[[Tensor], Tensor],
    *,
    patch: Any = 32,
    grid: Sequence[int] | None = None,
    stride: Any = None,
    max_size: Any = None,
    lcn: bool = True,
    batch_size: int = 4096,
    device: Any = None,
    requires_grad: bool = False,
    channel_axis: Any = AUTO,
    channels: int | None = None,
    route: str = "auto",
    max_bytes: int = 2**28,
) -> Tensor:
    """Turns images into hyper-images with a stage-1 network.

    Args:
        images: one image or many, by the rules of :mod:`hyperkit.images`: numpy
            (H, W) / (H, W, C) / (N, H, W, C), torch (C, H, W) / (N, C, H, W), or a list
            of these with different sizes; uint8, uint16 or floats in [0, 1].
        stage1: module or callable mapping patches (P, C, ph, pw) float32 to features
            (P, D), e.g. a stage-1 CNN's ReLU-activated penultimate layer
            (``net.features``; the whole network gives scores and is refused). When it
            declares an ``input_shape`` (every hyperkit network does), ``patch`` must
            match it and the images its channel count.
        patch: patch size, int or (ph, pw), pixels.
        grid: (U, V). None: :func:`grid_shape` of max_size if given, else of the
            largest image, at ``stride``.
        stride: nominal stride for grid=None, int or (sh, sw); default patch // 2.
        max_size: (max_height, max_width) or int: larger images are first scaled down
            isotropically to fit (the paper's testing procedure).
        lcn: normalize each whole image with :func:`hyperkit.lcn` before cutting patches.
        batch_size: most patches passed to stage1 at once (bounds memory).
        device: where stage1 runs; default the device of stage1's parameters (CPU for
            a callable without parameters).
        requires_grad: run stage1 with autograd enabled (default: under no_grad).
        channel_axis: the channel axis of ``images`` where its shape reads two ways
            (see :func:`hyperkit.images.split_images`).
        channels: channels stage1 takes, when it does not declare them; RGB images are
            converted to gray for 1. Default: from stage1, else the images' own count.
        route: 'patches' cuts every patch and runs stage1 on them; 'shared' runs
            stage1's whole-image path (``grid_<name>`` of the module whose method
            ``<name>`` stage1 is, e.g. ``KangStage1.grid_features`` for
            ``net.features``) on whole normalized images, ValueError if it has none;
            'auto' (default) takes 'shared' when stage1 offers it, runs on the CPU
            (the CUDA kernel awaits its first GPU test run), and the whole images are
            no larger than the sum of their patches. Both routes give the same
            hyper-images (to float rounding: the convolutions sum in another order).
        max_bytes: memory bound of the shared route: images go through it in groups
            (or, one image alone above it, in bands of grid rows) whose
            ``grid_bytes`` stays within it. The patch route is bounded by batch_size.

    Returns:
        float tensor (N, D, U, V) on stage1's device; point (u, v) of image n is the
        feature vector of patch (u, v) of image n.
    """
    plan = _plan(images, stage1, patch, grid, stride, max_size, batch_size, device,
                 channel_axis, channels, max_bytes)
    path = _whole_image_path(stage1)
    shared = _choose_route(route, path, plan.sizes, plan.patch, plan.grid, plan.dev)

    # With CUDA kernels, each image goes to the GPU once and its patches never leave it.
    dev = plan.dev
    prep_dev = dev if dev.type == "cuda" and cuda_available() else torch.device("cpu")
    if shared:
        return _shared_route(plan.raw, plan.sizes, path, plan.patch, plan.grid, plan.max_bytes,
                             dev, prep_dev, requires_grad, max_size=plan.max_size, lcn=lcn,
                             channels=plan.channels)
    return _patch_route(plan, stage1, prep_dev, requires_grad, lcn)


@dataclass(frozen=True)
class _Plan:
    """build_hyperimage's arguments, checked: what both routes run from."""

    patch: tuple[int, int]
    batch_size: int
    max_size: tuple[int, int] | None
    channels: int | None
    raw: list[Any]
    dev: torch.device
    sizes: list[tuple[int, int]]
    grid: tuple[int, int]
    max_bytes: int


def _plan(images: Any, stage1: Callable, patch: Any, grid: Sequence[int] | None, stride: Any,
          max_size: Any, batch_size: int, device: Any, channel_axis: Any,
          channels: int | None, max_bytes: int) -> _Plan:
    """Checks build_hyperimage's arguments (stage1 and the images' sizes and channels from
    their shapes, before anything runs) and settles the grid."""
    ph, pw = checks.pair(patch, "patch")
    batch_size = checks.positive_int(batch_size, "batch_size")
    if max_size is not None:
        max_size = checks.pair(max_size, "max_size")
    declared = _check_stage1(stage1, (ph, pw))
    channels = declared if channels is None else checks.positive_int(channels, "channels")
    raw = split_images(images, channel_axis=channel_axis)
    dev = torch.device(device) if device is not None else module_device(stage1)
    sizes = [fitted_hw(*image_hw(im), max_size) for im in raw]
    check_patch_fits(sizes, (ph, pw))
    channels = check_channels(raw, channels)  # from shapes, before anything runs
    if grid is None:
        sh, sw = checks.pair(stride, "stride") if stride is not None else (
            max(1, ph // 2), max(1, pw // 2))
        ref = max_size or (max(h for h, _ in sizes), max(w for _, w in sizes))
        grid = grid_shape(ref[0], ref[1], (ph, pw), (sh, sw))
    elif stride is not None:
        raise ValueError("give grid or stride, not both")
    u, v = checks.pair(grid, "grid")
    max_bytes = checks.positive_int(max_bytes, "max_bytes")
    return _Plan((ph, pw), batch_size, max_size, channels, raw, dev, sizes, (u, v), max_bytes)


def _patch_route(plan: _Plan, stage1: Callable, prep_dev: torch.device, requires_grad: bool,
                 lcn: bool) -> Tensor:
    """build_hyperimage by cutting every grid patch and running stage1 on them in chunks
    of at most plan.batch_size: (N, D, U, V) on plan.dev."""
    raw, (u, v), dev = plan.raw, plan.grid, plan.dev
    total = len(raw) * u * v
    feats: Tensor | None = None
    p0 = 0
    with torch.set_grad_enabled(requires_grad):
        for chunk in grid_batches(raw, plan.patch, (u, v), batch_size=plan.batch_size,
                                  device=prep_dev, max_size=plan.max_size, lcn=lcn,
                                  channels=plan.channels):
            p1 = p0 + len(chunk)
            out = stage1(chunk.to(dev, non_blocking=True))
            if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != p1 - p0:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"stage1 must map (P, C, ph, pw) patches to (P, D) features; "
                                 f"for P = {p1 - p0} it returned {got}")
            if feats is None:
                feats = out.new_empty((total, out.shape[1]))
            feats[p0:p1] = out
            p0 = p1
    return feats.view(len(raw), u, v, -1).permute(0, 3, 1, 2).contiguous()


def _shared_route(raw: list[Any], sizes: list[tuple[int, int]], path: tuple[Callable, Callable],
                  patch: tuple[int, int], grid: tuple[int, int], max_bytes: int,
                  dev: torch.device, prep_dev: torch.device, requires_grad: bool,
                  **prepare: Any) -> Tensor:
    """build_hyperimage by the whole-image path: (N, D, U, V) on dev."""
    u, v = grid
    feats: Tensor | None = None
    with torch.set_grad_enabled(requires_grad):
        for n0, n1, u0, u1, out in _shared_batches(raw, sizes, path, patch, grid, max_bytes,
                                                   device=dev, prep_device=prep_dev,
                                                   **prepare):
            want = (n1 - n0, u1 - u0, v)
            if not isinstance(out, Tensor) or out.ndim != 4 \
                    or (out.shape[0], *out.shape[2:]) != want:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"stage1's whole-image path must return (N, D, U, V) = "
                                 f"({want[0]}, D, {want[1]}, {want[2]}), got {got}")
            if feats is None:
                feats = out.new_empty((len(raw), out.shape[1], u, v))
            feats[n0:n1, :, u0:u1] = out
    return feats
