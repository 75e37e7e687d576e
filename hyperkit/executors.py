"""Where the units of a run (an NR-IQA run's splits) execute: one after another in this
process (``sequential``, the task's own loop), or as Ray tasks on a local machine or a
cluster (``ray``).

A Ray task runs one unit as a command line (``hyperkit iqa ... --split-index K``) in a
subprocess: exactly the code a SLURM array task runs, with its own interpreter (torch
threads = the task's CPUs, set before torch loads), and a crash of the unit cannot take
the Ray worker with it. The subprocess starts through :func:`unit_main`, which ends it
when the Ray worker that waits for it ends (a killed driver takes its workers along):
an orphaned unit would go on writing its split while a resumed run starts it again.
Ray is imported only here and only when used: ``pip install "hyperkit[cluster]"``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

EXECUTORS = ("sequential", "ray")
INSTALL_RAY = 'pip install "hyperkit[cluster]"'
# Ray re-runs a task whose worker or node died this many times (not one that failed)
MAX_RETRIES = 3
TAIL = 20  # lines of a failed unit's log quoted in the error
PR_SET_PDEATHSIG = 1  # linux/prctl.h: a signal for this process when its parent ends
WATCH_S = 1.0  # where prctl is missing: how often a unit checks that its parent lives


class ExecutorError(RuntimeError):
    """An executor cannot run (Ray missing) or some units failed: a one-line CLI error."""


class UnitKilled(RuntimeError):
    """A unit's process ended by a signal (out of memory, preemption): worth a retry."""


def ray_available() -> bool:
    """Whether Ray can be imported (without importing it)."""
    return importlib.util.find_spec("ray") is not None


def require_ray() -> None:
    """:class:`ExecutorError` with the install command when Ray is missing."""
    if not ray_available():
        raise ExecutorError(f"--executor ray needs Ray, which is not installed: {INSTALL_RAY}")


def run_unit(argv: Sequence[str], log_path: str, cpus: int, cwd: str) -> int:
    """Runs ``hyperkit *argv`` (through :func:`unit_main`) with ``cpus`` threads, appending
    its output to ``log_path``; returns 0. RuntimeError when it fails,
    :class:`UnitKilled` when a signal ended it."""
    threads = str(max(1, int(cpus)))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "hyperkit.executors", str(os.getpid()), *argv]
    with open(log_path, "ab") as log:  # a retried attempt appends to the same log
        rc = subprocess.run(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            check=False).returncode
    if rc < 0:
        raise UnitKilled(f"signal {-rc} ended the unit (log: {log_path})")
    if rc != 0:
        raise RuntimeError(f"exit status {rc} (log: {log_path}):\n{_tail(log_path)}")
    return 0


def end_with_parent(parent: int) -> None:
    """Ends this process (SIGKILL) as soon as process ``parent`` ends: on Linux the kernel
    does it (``prctl(PR_SET_PDEATHSIG)``, also while this process is busy in C code),
    elsewhere a daemon thread checks every :data:`WATCH_S` seconds. When ``parent``
    ended before the guard was set, this process ends at once.

    The Linux signal follows the *thread* that started this process; the one that runs
    :func:`run_unit` waits for it, so it cannot end first."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(WATCH_S)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
    if os.getppid() != parent:  # it ended before the guard was in place
        os.kill(os.getpid(), signal.SIGKILL)


def unit_main(argv: Sequence[str]) -> None:
    """``python -m hyperkit.executors PARENT ARGS...``: ``hyperkit ARGS...`` in a process
    that ends when process PARENT (the Ray worker of :func:`run_unit`) ends."""
    if not argv or not argv[0].isdigit():
        raise SystemExit("usage: python -m hyperkit.executors PARENT_PID HYPERKIT_ARGS...")
    end_with_parent(int(argv[0]))
    from hyperkit.cli import main

    main(list(argv[1:]))


def _tail(path: str) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + s for s in lines[-TAIL:])


def run_on_ray(units: Mapping[str, Sequence[str]], logs: Mapping[str, str], *, cpus: int = 1,
               gpus: float = 0, address: str | None = None, cwd: str | None = None,
               log: Callable[[str], None] = print) -> dict[str, str]:
    """Runs each unit's command line (name -> argv of ``hyperkit``) as one Ray task
    reserving ``cpus`` CPUs and ``gpus`` GPUs, all at once as the cluster's resources
    allow, and waits for every one.

    Args:
        units: name -> the arguments after ``hyperkit`` (``['iqa', ..., '--split-index',
            '3']``).
        logs: name -> the file its output is appended to (on a file system the workers
            share with this process).
        address: a running cluster (``ray.init(address=...)``, e.g. 'auto' or
            'ray://head:10001'); None starts a local Ray on this machine.
        cwd: the folder the units run in (default: this process's; relative paths in
            their arguments mean the same there).

    Returns:
        name -> why it failed, for the units that failed after retries (empty: all ran).
    """
    require_ray()
    if cpus < 1:
        raise ValueError(f"cpus (per unit) must be >= 1, got {cpus}")
    if gpus < 0:
        raise ValueError(f"gpus (per unit) must be >= 0, got {gpus}")
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES,
                          retry_exceptions=[UnitKilled])(run_unit)
        where = cwd or os.getcwd()
        refs = {name: task.remote(list(argv), logs[name], cpus, where)
                for name, argv in units.items()}
        each = f"{cpus} CPU(s)" + (f", {gpus:g} GPU(s)" if gpus else "")
        log(f"ray: {len(refs)} unit(s) submitted, {each} each; the cluster has "
            f"{ray.cluster_resources().get('CPU', 0):g} CPU(s)")
        failed = {}
        for name, ref in refs.items():
            try:
                ray.get(ref)
                log(f"ray: {name} done")
            except Exception as e:  # noqa: BLE001  (RayTaskError wraps the unit's error)
                failed[name] = str(getattr(e, "cause", None) or e)
                log(f"ray: {name} FAILED: {failed[name].splitlines()[0]}")
        return failed
    finally:
        if started:
            ray.shutdown()


if __name__ == "__main__":
    unit_main(sys.argv[1:])
