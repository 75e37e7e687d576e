"""Loads the compiled kernel modules.

``_C`` (CPU) is always built and must import. ``_C_cuda`` is optional: it is absent
when the package was built without a CUDA compiler, and it may be present on a
machine without a driver or GPU, where :func:`cuda_available` answers False.
"""

from __future__ import annotations

import types

try:
    from .. import _C as cpu  # noqa: F401  (re-exported for the op modules)
except ImportError as _e:  # the source tree without an in-place build shadows the install
    import pathlib as _pathlib

    _here = _pathlib.Path(__file__).resolve().parent.parent
    raise ImportError(
        f"hyperkit's compiled kernels (hyperkit._C) are not in {_here}. If that is a source "
        "checkout and hyperkit is installed elsewhere (pip install .), Python imports the "
        "checkout because the current directory comes first on sys.path: run from another "
        "directory, or install it editable in place (pip install --no-build-isolation -e .) "
        f"so that _C is built next to the sources. ({_e})") from _e

try:
    from .. import _C_cuda as _cuda_module
except ImportError:  # built without CUDA, or the module cannot load here
    _cuda_module = None


def cuda_available() -> bool:
    """True when the CUDA kernels were built and a CUDA device is usable."""
    return _cuda_module is not None and _cuda_module.device_count() > 0


def cuda() -> types.ModuleType:
    """The CUDA kernel module; raises RuntimeError when it cannot be used."""
    if _cuda_module is None:
        raise RuntimeError(
            "hyperkit was built without its CUDA kernels (no CUDA compiler was found at build "
            "time); reinstall with HYPERKIT_CUDA=on to get them"
        )
    if _cuda_module.device_count() == 0:
        raise RuntimeError("hyperkit's CUDA kernels are built, but no CUDA device is usable")
    return _cuda_module


def launch(like, name: str, *args):
    """Runs kernel ``name`` on the device that holds ``like``.

    CPU data goes to the OpenMP module and never touches CUDA. GPU data goes to the
    CUDA module on like's own device and the caller's current stream (torch's or
    cupy's), so kernels order correctly with the caller's other work.
    """
    import torch

    if isinstance(like, torch.Tensor):
        if not like.is_cuda:
            return getattr(cpu, name)(*args)
        stream = torch.cuda.current_stream(like.device).cuda_stream
        return getattr(cuda(), name)(*args, device=like.device.index, stream=stream)
    if type(like).__module__.startswith("numpy"):
        return getattr(cpu, name)(*args)
    import cupy  # only reached for cupy arrays

    return getattr(cuda(), name)(*args, device=like.device.id,
                                 stream=cupy.cuda.get_current_stream().ptr)
