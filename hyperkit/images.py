"""The image contract: every entry point (lcn, gather_patches, build_hyperimage,
TwoStage.predict, the CLI) reads images by the rules below, converts them here, and
refuses what it cannot read unambiguously.

Layouts (which axis holds the channels, ``channel_axis``) are the rules of
:mod:`hyperkit.layout`: numpy (H, W) / (H, W, C), torch and cupy (H, W) / (C, H, W);
shapes that read two ways are refused.

Values: uint8 is 0-255 and uint16 0-65535, both scaled to [0, 1]; float images must
already be in [0, 1] (a tolerance of 1/255 allows resampling overshoot). Float
images far outside it are refused, naming the scale they look like: a 0-255 float
image would silently give scores outside the model's range.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import interop
from .layout import (  # noqa: F401  (the layout rules, re-exported)
    AUTO,
    MAX_CHANNELS,
    image_channels,
    image_hw,
    single_image,
    split_images,
)
from .ops.lcn import lcn as _lcn

_TOLERANCE = 1 / 255  # float images may overshoot [0, 1] by a grey level (resampling)


def check_channels(images: list[Any], channels: int | None, name: str = "images") -> int:
    """The channel count stage 1 will see, checked from shapes before anything runs.

    With ``channels`` (what the network takes): each image must have that many, or be
    RGB for a gray network (it is converted to gray). Without: all images must agree.
    ValueError names the image and both counts.
    """
    counts = [image_channels(im) for im in images]
    want = counts[0] if channels is None else channels
    for i, c in enumerate(counts):
        if c == want or (channels == 1 and c == 3):
            continue
        if channels is None:
            raise ValueError(f"{name}[{i}] has {c} channel(s) but {name}[0] has {want}; all "
                             "images must have the same channel count")
        raise channel_error(f"{name}[{i}]", c, want)
    return want


def channel_error(label: str, got: int, want: int) -> ValueError:
    """The error for an image of ``got`` channels given to a network of ``want``, with
    the fix for the common cases (RGBA, gray for a colour network)."""
    hint = ""
    if got == 4:
        hint = ("; drop the alpha channel (image[..., :3]) or composite it "
                "(skimage.color.rgba2rgb)")
    elif want == 3 and got == 1:
        hint = "; this network was trained on colour images and needs RGB input"
    return ValueError(f"{label} has {got} channel(s); the network takes {want}{hint}")


@functools.lru_cache(maxsize=1)
def _gray_weights() -> Tensor:
    """ITU-R BT.709 luma: the weights of skimage.color.rgb2gray, taken from it so the two
    agree (and skimage is imported only when an image needs converting)."""
    from skimage.color import rgb2gray

    return torch.from_numpy(rgb2gray(np.eye(3)[None]).reshape(3)).float()


def to_gray(t: Tensor) -> Tensor:
    """(3, H, W) RGB in [0, 1] -> (1, H, W) luma, as skimage.color.rgb2gray."""
    w = _gray_weights().to(t.device)
    return (t * w[:, None, None]).sum(0, keepdim=True)


def _scale_hint(name: str, lo: float, hi: float) -> str:
    if lo >= -_TOLERANCE and hi <= 255 + _TOLERANCE:
        return (f"{name} holds values up to {hi:g}: it looks like a 0-255 image stored as "
                "floats; divide it by 255 (or pass it as uint8)")
    if lo >= -_TOLERANCE and hi <= 65535 + _TOLERANCE:
        return (f"{name} holds values up to {hi:g}: it looks like a 0-65535 image stored as "
                "floats; divide it by 65535 (or pass it as uint16)")
    if lo >= -1 - _TOLERANCE and hi <= 1 + _TOLERANCE:
        return (f"{name} holds values down to {lo:g}: it looks like a [-1, 1] image; map it "
                "to [0, 1] with (x + 1) / 2")
    return f"{name} holds values in [{lo:g}, {hi:g}]; float images must be in [0, 1]"


def as_image_tensor(image: Any, name: str = "image") -> Tensor:
    """One image (its ecosystem's layout, see :func:`single_image`) as a float32
    (C, H, W) torch tensor with values in [0, 1], on the image's device.

    uint8 is divided by 255 and uint16 by 65535; float images must already be in
    [0, 1] (within 1/255), or ValueError names the scale they look like.
    """
    image = single_image(image, name=name)  # checks the kind, rank and layout
    k = interop.kind(image, name)
    if k == "numpy":
        arr = np.ascontiguousarray(image)
        if not arr.flags.writeable:  # read-only (memory maps, PIL): torch wants writable
            arr = arr.copy()
        t = torch.from_numpy(arr)
        t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    elif k == "torch":
        t = image[None] if image.ndim == 2 else image
    else:
        t = torch.as_tensor(image, device="cuda")
        t = t[None] if t.ndim == 2 else t
    dt = t.dtype
    if dt == torch.uint8:
        return t.float() / 255.0
    if dt == torch.uint16:
        return t.float() / 65535.0
    if not dt.is_floating_point:
        raise TypeError(f"{name} must be uint8, uint16 or float, got {interop.dtype_name(image)}"
                        " (for other integer images, scale them to [0, 1] floats)")
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    lo, hi = (float(v) for v in torch.aminmax(t))
    if lo < -_TOLERANCE or hi > 1 + _TOLERANCE:
        raise ValueError(_scale_hint(name, lo, hi))
    return t


def fitted_hw(h: int, w: int, max_size: tuple[int, int] | None) -> tuple[int, int]:
    """(H, W) after scaling an h x w image down isotropically to fit max_size (never up)."""
    if max_size is None:
        return h, w
    scale = min(max_size[0] / h, max_size[1] / w)
    if scale >= 1:
        return h, w
    return (min(max_size[0], max(1, round(h * scale))), min(max_size[1], max(1, round(w * scale))))


def fit_image(t: Tensor, max_size: tuple[int, int] | None) -> Tensor:
    """Scales (C, H, W) down isotropically to fit max_size (bilinear, antialiased)."""
    size = fitted_hw(t.shape[1], t.shape[2], max_size)
    if size == tuple(t.shape[1:]):
        return t
    return F.interpolate(t[None], size=size, mode="bilinear", antialias=True,
                         align_corners=False)[0]


MIN_FIT_SIDE = 32  # fit_within never shrinks a side below one 32 x 32 patch


def fit_within(image: np.ndarray, max_size: Sequence[int]) -> np.ndarray:
    """A numpy image (H, W) or (H, W, C) shrunk to fit ``max_size`` = (rows, columns) with
    its aspect ratio kept (:func:`fitted_hw`; anti-aliased, same dtype); an image that
    already fits is returned as is (never enlarged), and no side is shrunk below
    :data:`MIN_FIT_SIDE` (a panorama then exceeds ``max_size`` along its long side). For
    file pixels before scoring, e.g. a large photograph for a model trained on small ones."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ValueError(f"image must be a numpy (H, W) or (H, W, C) array, got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    if image.dtype == bool:
        raise TypeError("image must hold numbers, not booleans")
    h, w = image.shape[:2]
    size = fitted_hw(h, w, (int(max_size[0]), int(max_size[1])))
    if min(size) < MIN_FIT_SIDE:  # a panorama: keep its short side at one patch at least
        f = min(1.0, MIN_FIT_SIDE / min(h, w))
        size = (max(1, round(h * f)), max(1, round(w * f)))
    if size == (h, w):
        return image
    from skimage.transform import resize

    out = resize(image, (*size, *image.shape[2:]), anti_aliasing=True, preserve_range=True)
    if np.issubdtype(image.dtype, np.integer):
        out = np.clip(np.round(out), np.iinfo(image.dtype).min, np.iinfo(image.dtype).max)
    return out.astype(image.dtype)


def image_size(path: str | Path) -> tuple[int, int]:
    """(rows, columns) of an image file from its header (Pillow) or, for .npy, its
    shape, without decoding the pixels. Raises ValueError naming the file."""
    p = Path(path)
    try:
        if p.suffix.lower() == ".npy":
            shape = np.load(p, mmap_mode="r", allow_pickle=False).shape
            return (shape[0], shape[1]) if len(shape) >= 2 else (0, 0)
        from PIL import Image

        with Image.open(p) as im:
            return im.size[1], im.size[0]
    except Exception as e:  # noqa: BLE001  (Pillow raises many types for bad files)
        raise ValueError(f"{path}: cannot read its size: {e}") from e


def prepare_image(image: Any, name: str, *, device: torch.device | str = "cpu",
                  max_size: tuple[int, int] | None = None, lcn: bool = True,
                  channels: int | None = None) -> Tensor:
    """One image as stage 1 sees it before patches are cut: converted
    (:func:`as_image_tensor`), moved to ``device``, made gray when ``channels`` is 1
    and the image is RGB, fitted into ``max_size`` and, with ``lcn``, normalized whole
    (eq. 4). Returns a C-contiguous float32 (C, H, W)."""
    t = as_image_tensor(image, name).to(device)
    if channels == 1 and t.shape[0] == 3:
        t = to_gray(t)
    t = fit_image(t, max_size)
    return _lcn(t) if lcn else t.contiguous()


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".ppm",
                  ".pgm", ".pnm", ".npy")


# Pixels an image file may hold before it is refused unread: well below Pillow's own
# guard (178 M pixels is an error there; a 518 KB PNG can claim that many and took 5.6 GB
# to score). 64 M pixels is a 9,000 x 7,000 photograph. HYPERKIT_MAX_PIXELS overrides it.
MAX_PIXELS_DEFAULT = 64_000_000


def max_pixels() -> int:
    """The pixel budget of :func:`read_image`: HYPERKIT_MAX_PIXELS if set (an integer
    >= 1), else :data:`MAX_PIXELS_DEFAULT`."""
    import os

    raw = os.environ.get("HYPERKIT_MAX_PIXELS")
    if raw is None:
        return MAX_PIXELS_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"HYPERKIT_MAX_PIXELS must be an integer >= 1, got {raw!r}")
    return value


def check_pixel_budget(path: str | Path, rows: int, columns: int, verb: str = "claims"
                       ) -> None:
    """ValueError naming ``path`` when rows x columns is over :func:`max_pixels` (checked
    from a header or an array's shape, before any pixel is decoded)."""
    budget = max_pixels()
    if rows * columns > budget:
        raise ValueError(f"{path} {verb} {columns} x {rows} = {rows * columns:,} pixels, over "
                         f"the budget of {budget:,} (HYPERKIT_MAX_PIXELS); not decoded")


def expand_image_paths(inputs: Sequence[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files named by paths, folders (their image files by :data:`IMAGE_SUFFIXES`,
    sorted) and glob patterns. Returns (files, problems): problems are (input, reason)
    for inputs that name nothing."""
    import glob

    files, problems = [], []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            found = sorted(f for f in p.iterdir()
                           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append((str(arg), "folder holds no image files "
                                           f"({', '.join(IMAGE_SUFFIXES)})"))
            files += found
        elif p.exists():
            files.append(p)
        elif glob.has_magic(str(arg)):
            found = sorted(Path(f) for f in glob.glob(str(arg)) if Path(f).is_file())
            if not found:
                problems.append((str(arg), "no file matches this pattern"))
            files += found
        else:
            problems.append((str(arg), "does not exist"))
    return files, problems


def read_inputs(images: Any) -> Any:
    """``images`` with file paths read: a path (str or Path), a folder or a glob pattern,
    or a list mixing them with arrays, becomes a list of arrays (:func:`read_image`);
    anything else is returned unchanged. Every file is decoded into memory at once: for
    thousands of files, score them in groups (the command line reads one at a time).
    FileNotFoundError names an input that names no file; ValueError an unreadable one."""
    items = [images] if isinstance(images, (str, Path)) else images
    if not (isinstance(items, (list, tuple)) and any(isinstance(x, (str, Path)) for x in items)):
        return images
    out = []
    for x in items:
        if not isinstance(x, (str, Path)):
            out.append(x)
            continue
        files, problems = expand_image_paths([x])
        if problems:
            raise FileNotFoundError(f"images: {problems[0][0]}: {problems[0][1]}")
        out += [read_image(f) for f in files]
    return out


def read_image(path: str | Path) -> np.ndarray:
    """An image file as a numpy array at its real depth, in the numpy layout.

    .npy files are loaded as they are (no pickles). Other files go through Pillow:
    8-bit modes give uint8 (palette images become RGB or RGBA, CMYK and YCbCr become
    RGB), 16-bit modes (I;16, and I holding 16-bit values) give uint16, F gives float32.
    A file whose header claims more than :func:`max_pixels` pixels is refused before
    decoding. Raises FileNotFoundError or ValueError naming the file.
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{path} is a folder, not an image file")
    if not p.is_file():
        raise FileNotFoundError(f"image file {path} does not exist")
    if p.suffix.lower() == ".npy":
        try:
            shape = np.load(p, mmap_mode="r", allow_pickle=False).shape
            if len(shape) >= 2:
                check_pixel_budget(path, shape[0], shape[1], verb="is")
            return np.load(p, allow_pickle=False)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path} is not a readable .npy array: {e}") from e
        except ValueError as e:
            if "budget" in str(e):
                raise
            raise ValueError(f"{path} is not a readable .npy array: {e}") from e
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            w, h = im.size  # from the header: nothing decoded yet
            check_pixel_budget(path, h, w)
            im.load()
            mode = im.mode
            if mode == "1":
                im = im.convert("L")
            elif mode in ("P", "PA"):
                im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path} is not a readable image: {e}") from e
    if mode.startswith("I;16"):
        return arr.astype(np.uint16)  # native byte order
    if mode == "I":  # 32-bit integers; 16-bit PNGs arrive this way from some Pillow versions
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError(f"{path} holds 32-bit integers beyond 16 bits; convert it to "
                             "floats in [0, 1] and save it as .npy")
        return arr.astype(np.uint16)
    return arr
