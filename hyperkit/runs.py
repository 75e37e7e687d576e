"""The manifest every run folder carries (run.json): which task wrote it and where its
trained models are, so :func:`hyperkit.load_model` needs no task's file layout."""

from __future__ import annotations

import json
from pathlib import Path

from .files import write_text

MANIFEST = "run.json"
FORMAT = "hyperkit-run"


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
    return info
