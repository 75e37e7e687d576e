"""The run folder: one object that opens, resumes or refuses a task's output folder, writes
its config, per-unit metrics, results and the manifest (run.json), and is the only place
that knows ranks and barriers (under ``torchrun`` every rank computes, rank 0 writes).

A folder's layout::

    out/config.json           the run's settings, the machine and library versions
    out/<unit>/metrics.json   one per finished unit (a seed or a split): reused on resume
    out/results.json, results.md, figures
    out/run.json              the manifest :func:`hyperkit.load_model` reads
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import scipy
import torch.distributed as torch_dist

from . import __version__
from .devices import describe_machine, rank, world
from .files import check_writable_dir, remove_stale_tmp, write_text

MANIFEST = "run.json"
FORMAT = "hyperkit-run"
CONFIG = "config.json"
METRICS = "metrics.json"

T = TypeVar("T")


def write_manifest(run_dir: str | Path, task: str, models: list[str]) -> Path:
    """Writes run_dir/run.json: the task name and model folders relative to run_dir,
    the first being the one :func:`hyperkit.load_model` picks."""
    return write_text(Path(run_dir) / MANIFEST, json.dumps(
        {"format": FORMAT, "version": 1, "task": task, "models": list(models)}, indent=2))


def read_manifest(run_dir: str | Path) -> dict | None:
    """The manifest of run_dir, or None when it has none; ValueError when it is corrupt."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
        ok = isinstance(info, dict) and info.get("format") == FORMAT \
            and isinstance(info.get("models"), list)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is corrupt: {e}") from e
    if not ok:
        raise ValueError(f"{path} is not a hyperkit run manifest")
    root = Path(run_dir).resolve()
    for rel in info["models"]:
        target = (root / str(rel)).resolve()
        if not isinstance(rel, str) or root not in target.parents:
            raise ValueError(f"{path} lists a model at {rel!r}, outside the run folder; a "
                             "manifest only names folders inside its run")
    return info


def barrier() -> None:
    """Waits for every rank (a no-op without a process group). The same as
    :func:`hyperkit.training.dist.barrier`, here so that the run folder (which
    :func:`hyperkit.load_model` reads) sits below training."""
    if world() > 1:
        torch_dist.barrier()


def rank0_first(make: Callable[[], T]) -> T:
    """``make()`` on rank 0, then on the other ranks once rank 0 is done (rank 0 writes a
    cache or generates files; the others then read them)."""
    if rank() == 0:
        value = make()
        barrier()
        return value
    barrier()
    return make()


def library_versions() -> dict:
    """Versions of the libraries a run's numbers depend on (torch is in describe_machine):
    hyperkit, numpy, scipy, Pillow (decoding), scikit-image (resampling, SSIM, colour) and
    scikit-learn (the DCT baseline; None when the optional extra is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"hyperkit": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
            **{k: installed(k) for k in ("Pillow", "scikit-image", "scikit-learn")}}


def _quiet(_: str) -> None:
    pass


def _without(config: dict, grow: Sequence[str]) -> dict:
    """A copy of ``config`` with the dotted keys of ``grow`` set to None."""
    out = json.loads(json.dumps(config, default=str))
    for key in grow:
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            node[last] = None
    return out


def settings_record(setting: Any, later: Sequence[str]) -> dict:
    """A settings dataclass as config.json and results.json record it: ``asdict``, with
    each field named in ``later`` (added after runs were written) left out while it holds
    its default, so that those runs compare equal in :meth:`RunFolder.check_config` and
    resume."""
    d = dataclasses.asdict(setting)
    defaults = {f.name: f.default for f in dataclasses.fields(setting)}
    for name in later:
        if d[name] == defaults[name]:
            del d[name]
    return d


class RunFolder:
    """A task's output folder.

    Open it with :meth:`open` (refuses a non-empty folder unless resuming); then
    :meth:`write_config` (refuses a resumed run with other settings), :meth:`reuse` /
    :meth:`finish` per unit, :meth:`write_results` once. Writing happens on rank 0 only;
    :attr:`log` is silent on the other ranks.
    """

    def __init__(self, path: str | Path, log: Callable[[str], None] = print):
        self.path = Path(path)
        self.rank0 = rank() == 0
        self.log: Callable[[str], None] = log if self.rank0 else _quiet

    @classmethod
    def open(cls, path: str | Path, *, resume: bool, overwrite: bool = False,
             log: Callable[[str], None] = print) -> RunFolder:
        """The folder at ``path``; FileExistsError when it holds files and neither
        ``resume`` nor ``overwrite``. ``overwrite`` moves an existing folder aside to
        ``<path>.replaced-<time>`` (nothing is deleted) and starts afresh. Every rank
        checks before rank 0 writes."""
        path = Path(path)
        if resume and overwrite:
            raise ValueError("resume and overwrite exclude each other: --resume continues the "
                             "run in --out, --overwrite moves it aside")
        held = path.exists() and any(path.iterdir())
        barrier()  # every rank has looked before rank 0 may move the folder
        if held and overwrite:
            full = path.resolve()
            if full == Path.cwd().resolve() or full in Path.cwd().resolve().parents:
                raise ValueError(f"--out {path} is the current folder or holds it; it cannot "
                                 "be moved aside: choose another --out")
            if rank() == 0:
                aside = full.with_name(f"{full.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
                full.rename(aside)
                log(f"moved the earlier run in {path} aside to {aside}")
            barrier()
        elif held and not resume:
            done = sum(1 for _ in path.rglob(METRICS)) + (path / "results.json").is_file()
            what = (f"results ({done} finished unit(s))" if done else
                    "an unfinished run (nothing in it finished)")
            raise FileExistsError(f"{path} already holds {what}; pass --resume to continue "
                                  "that run with the same options, --overwrite to move it "
                                  "aside and start afresh, or choose another --out")
        if rank() == 0:
            check_writable_dir(path, "the run folder", "choose another --out")
        if held and resume and rank() == 0:
            stale = remove_stale_tmp(path)
            if stale:
                log(f"removed {len(stale)} temporary file(s) a killed run left in {path}")
        folder = cls(path, log)
        barrier()
        return folder

    def check_config(self, settings: dict, grow: Sequence[str] = ()) -> None:
        """ValueError naming the keys of ``settings`` that differ from the folder's
        config.json (a resumed run must be the same run); the dotted keys in ``grow``
        (the number of seeds or splits) may differ."""
        old = self.path / CONFIG
        if not old.is_file():
            return
        prev, new = _without(json.loads(old.read_text()), grow), _without(settings, grow)
        diff = [k for k in new if prev.get(k) != new[k]]
        if diff:
            raise ValueError(f"{self.path} holds a run with other settings ({', '.join(diff)} "
                             "differ); resume it with the same options, pass --overwrite "
                             "(instead of --resume) to move it aside and start afresh, or "
                             "choose another --out")

    def write_config(self, settings: dict, device: Any, *, grow: Sequence[str] = (),
                     **extra: Any) -> None:
        """Checks ``settings`` against a resumed run (:meth:`check_config`), then writes
        config.json: settings, ``extra``, the device, the world size, the machine
        (:func:`~hyperkit.devices.describe_machine`) and library versions."""
        self.check_config(settings, grow)
        if self.rank0:
            self.path.mkdir(parents=True, exist_ok=True)
            write_text(self.path / CONFIG, self.config_text(settings, device, **extra))

    @staticmethod
    def config_text(settings: dict, device: Any, **extra: Any) -> str:
        """The text of config.json as :meth:`write_config` writes it (a run whose units
        share one folder publishes it exclusively instead, :mod:`hyperkit.tasks.iqa.units`)."""
        return json.dumps({**settings, **extra, "device": str(device), "world_size": world(),
                           **describe_machine(), "versions": library_versions()},
                          indent=2, default=str)

    def on_rank0(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """``fn(*args, **kw)`` on rank 0 (writing a file); None on the other ranks."""
        return fn(*args, **kw) if self.rank0 else None

    def rank0_first(self, make: Callable[[], T]) -> T:
        """:func:`rank0_first`."""
        return rank0_first(make)

    def save_model(self, model: Any, rel: str | Path) -> None:
        """model.save(path/rel) on rank 0."""
        if self.rank0:
            model.save(self.path / rel)

    def reuse(self, rel: str) -> dict | None:
        """The metrics of unit ``rel`` when it finished earlier (logged), else None."""
        done = self.path / rel / METRICS
        if not done.is_file():
            return None
        self.log(f"[{rel}] finished earlier; reusing {done}")
        return json.loads(done.read_text())

    def finish(self, rel: str, metrics: dict, predictions: dict | None = None) -> None:
        """Unit ``rel`` is done: rel/predictions.npz (when given), then rel/metrics.json,
        written last so that a unit with metrics is complete."""
        if not self.rank0:
            return
        if predictions is not None:
            np.savez(self.path / rel / "predictions.npz", **predictions)
        write_text(self.path / rel / METRICS, json.dumps(metrics, indent=2, default=str))

    def write_results(self, task: str, results: dict, markdown: str, models: list[str],
                      plots: Callable[[], Any], figures: str) -> None:
        """results.json, results.md, run.json and the figures (``plots()``), then the table
        and what was written, logged."""
        if not self.rank0:
            return
        write_text(self.path / "results.json", json.dumps(results, indent=2, default=str))
        write_text(self.path / "results.md", markdown)
        write_manifest(self.path, task, models)
        plots()
        self.log("\n" + markdown)
        self.log(f"wrote {self.path / 'results.json'}, results.md, {figures}")
