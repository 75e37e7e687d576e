"""A saved model's files: model.json read by this version (older files upgraded, every
field checked by type and range before anything is built from it) and the weight files
loaded with checks (checksums, NaN/Inf, tensors that do not fit). The one place that knows
the model.json format; :mod:`hyperkit.model` writes it and builds networks from it."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .files import load_torch
from .views import KINDS, check_views

FORMAT = "hyperkit-two-stage"


def upgrade(info: dict) -> dict:
    """model.json as this version writes it. The one place that reads the keys of older
    files: a forgery run kept its classifier's classes and threshold, and the patch mean
    its stage 1 was trained without, in ``meta``."""
    info = dict(info)
    meta = dict(info.get("meta") or {})
    if "kind" not in info:
        info["kind"] = "classifier" if meta.get("classes") else "regression"
        if meta.get("classes"):
            info["classes"] = meta.pop("classes")
            info["threshold"] = meta.pop("threshold", 0.5)
    if "stage1_mean" not in info and meta.get("patch_mean") is not None:
        info["stage1_mean"] = meta.pop("patch_mean")
    if "pooling" not in info:  # before pooling methods: the direction is in the meaning
        info["pooling"] = {"higher_better":
                           "lower is better" not in str(meta.get("score_meaning", ""))}
    info["meta"] = meta
    return info


def validate(info: dict, path: Path) -> dict:
    """model.json's fields checked by type and range before anything is built from them
    (a string "false" would otherwise read as true, a future version as this one)."""
    def bad(key: str, want: str) -> ValueError:
        return ValueError(f"{path}: {key} must be {want}, got {info.get(key)!r}")

    if info.get("version") != 1:
        raise bad("version", "1 (this hyperkit reads version 1 models; a newer hyperkit "
                             "wrote this one?)")
    for key in ("lcn", "has_stage2", "stage2_standardized"):
        if key in info and not isinstance(info[key], bool):
            raise bad(key, "true or false (a JSON boolean)")
    for key in ("stage1_arch", "stage2_arch"):
        if not isinstance(info.get(key), str) or not info[key]:
            raise bad(key, "a preset name or an architecture string")
    for key in ("patch", "grid"):
        v = info.get(key)
        if not (isinstance(v, list) and len(v) == 2 and all(
                isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in v)):
            raise bad(key, "two integers >= 1")
    if info.get("kind") not in KINDS:
        raise bad("kind", f"one of {', '.join(KINDS)}")
    if "views" in info:
        try:
            check_views(info["views"])
        except ValueError:
            raise bad("views", "a list of distinct view names ('original', 'mirror')"
                      ) from None
    sums = info.get("sha256")
    if sums is not None:
        loaded = {"stage1.pt"} | ({"stage2.pt"} if info.get("has_stage2", True) else set())
        if not (isinstance(sums, dict) and all(isinstance(v, str) for v in sums.values())
                and loaded <= set(sums)):
            raise bad("sha256", f"a dict naming every weight file loaded ({sorted(loaded)}) "
                                "with its hex digest")
    return info


def load_weights(net: nn.Module, path: Path) -> None:
    """Loads a state dict with clear errors: a tensor missing, extra or of another shape,
    or NaN/Inf weights (which would score every image NaN)."""
    state = load_torch(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        detail = " ".join(line.strip() for line in str(e).splitlines()[:3])
        raise ValueError(f"{path} does not fit the architecture in model.json: {detail}"
                         ) from e
    for name, t in state.items():
        if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"{path}: weight {name!r} holds NaN or Inf values")
