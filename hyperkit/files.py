"""Writing files so that a crash never leaves a torn one: write a temporary file in the
same folder, fsync it, then rename it over the target (atomic on POSIX)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Calls ``write(f)`` on a temporary binary file, then renames it to ``path``.

    A crash leaves either the old file or the new one; the temporary file is removed
    if ``write`` raises."""
    path = Path(path)
    tmp = path.with_name(tmp_name(path.name))
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_new_file(path: str | Path, what: str) -> Path:
    """Refuses, before any work, an output file that exists or whose folder is missing
    or not writable (``what`` names it in the error, e.g. '--csv')."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{what} {path} exists; choose another file (nothing is "
                              "overwritten)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"{what} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path}: the folder {parent} is not writable")
    return path


def check_writable_dir(path: str | Path, what: str, hint: str = "") -> Path:
    """Makes ``path`` (a folder) if missing and proves it takes a new file, so a
    read-only place fails now, naming ``what``, rather than after an epoch of work.
    PermissionError otherwise; ``hint`` is appended (e.g. 'choose another --out')."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / tmp_name("write-test")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"{what} {path} is not writable ({e.strerror or e})"
                              + (f"; {hint}" if hint else "")) from None
    return path


def write_new(path: str | Path, text: str) -> Path:
    """Writes UTF-8 text to a file that must not exist yet, atomically and exclusively:
    two processes writing the same path cannot both succeed (the second gets
    FileExistsError), and a crash leaves no torn file."""
    path = Path(path)
    tmp = path.with_name(tmp_name(path.name))
    data = text.encode()
    taken = FileExistsError(f"{path} appeared while this command ran (another process?); "
                            "it was not overwritten")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if path exists: no rename-over
        except FileExistsError:
            raise taken from None
        except OSError:  # a file system without hard links: exclusive create instead
            try:
                with open(path, "xb") as f:
                    f.write(data)
            except FileExistsError:
                raise taken from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def tmp_name(name: str) -> str:
    """The temporary name this package writes ``name`` under before it is complete:
    hidden, with a marker no user file carries and the writer's process id, so that
    :func:`remove_stale_tmp` can tell a dead writer's leftovers from anything else."""
    return f".{name}.hk-tmp{os.getpid()}"


_TMP = re.compile(r"\.hk-tmp(\d{1,10})(\.npy)?$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):  # someone else's, or not a pid
        return True
    return True


def remove_stale_tmp(folder: str | Path) -> list[Path]:
    """Removes, under ``folder``, the temporary files of :func:`tmp_name` whose writer
    process no longer runs (a killed run's leftovers). Symbolic links and anything not
    named by :func:`tmp_name` are left alone. POSIX only (a no-op on Windows, where
    probing a process id with ``os.kill`` would end it). Returns what was removed."""
    if os.name != "posix":
        return []
    removed = []
    for p in Path(folder).rglob("*.hk-tmp*"):
        m = _TMP.search(p.name)
        if m and not p.is_symlink() and p.is_file() and int(m.group(1)) != os.getpid() \
                and not _alive(int(m.group(1))):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def write_text(path: str | Path, text: str) -> Path:
    """Atomically writes UTF-8 text."""
    return write_atomic(path, lambda f: f.write(text.encode()))


def sha256_file(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_torch(obj: Any, path: str | Path) -> Path:
    """Atomically torch.save's ``obj``."""
    return write_atomic(path, lambda f: torch.save(obj, f))


def load_torch(path: str | Path) -> dict:
    """Loads a file written by :func:`save_torch` (tensors only, on the CPU), with a
    clear error when it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises many types for bad files)
        raise ValueError(f"checkpoint {path} is corrupt or not a hyperkit checkpoint: {e}") from e
