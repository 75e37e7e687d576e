"""Issue 23: killed processes lose no work and change no number. Four NR-IQA splits of a
10-image CSV set through ``--executor ray`` on a local Ray with 2 worker CPUs, where one
unit is SIGKILLed and another unit's Ray worker is SIGKILLed right after their first
stage-1 checkpoint; and a sequential driver SIGKILLed in the middle of its second split,
then resumed. Both must end with the numbers of an uninterrupted sequential run (one
torch thread everywhere: other thread counts sum floats in another order).

The kills come from a ``sitecustomize`` module put on the subprocesses' PYTHONPATH: it
wraps ``os.replace`` (how every checkpoint is published) and kills once per marker file,
so a retried unit runs on. The test process itself never loads it."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hyperkit.cli import main
from tests.tasks.test_iqa import tree  # noqa: F401  (a fixture)

HOOK = '''"""Test hook of tests/tasks/test_unit_kills.py: SIGKILL after a matching os.replace."""
import json
import os
import re
import signal

_KILLS = json.loads(os.environ.get("HK_TEST_KILLS", "[]"))
_replace = os.replace


def _replace_then_die(src, dst, *args, **kw):
    _replace(src, dst, *args, **kw)
    for kill in _KILLS:
        if re.search(kill["path"], os.fspath(dst)):
            try:  # once per marker: the retried unit must run on
                fd = os.open(kill["marker"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getppid() if kill["who"] == "parent" else os.getpid(), signal.SIGKILL)


if _KILLS:
    os.replace = _replace_then_die
'''


@pytest.fixture(scope="module")
def data(tree, tmp_path_factory):  # noqa: F811
    """test_iqa's tree cut to 5 references x 2 distortions (10 images), so that a split
    trains in seconds."""
    root = tmp_path_factory.mktemp("kills") / "data"
    shutil.copytree(tree, root)
    rows = (root / "meta.csv").read_text().splitlines()
    keep = [r for r in rows[1:] if "noise2" not in r and not r.startswith("dist/r5_")]
    (root / "meta.csv").write_text("\n".join([rows[0], *keep]) + "\n")
    assert len(keep) == 10
    return root


def command(data):
    """``hyperkit iqa`` with 4 splits, 2 stage-1 epochs (a kill after the first checkpoint
    leaves one to run), the selective CNN and the paper's stage 2."""
    return ["iqa", "--dataset", "csv", "--root", str(data), "--best-score", "100", "--quick",
            "--stage1-epochs", "2", "--stage2-epochs", "2",
            "--methods", "cnn_selective,two_stage", "--splits", "4", "--device", "cpu",
            "--no-progress"]


def one_thread(run):
    """``run()`` with one torch thread (as a unit with --cpus-per-split 1 has)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sequential(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("seq") / "run"
    one_thread(lambda: main([*command(data), "--out", str(out)]))
    return out


def hook_env(tmp_path, kills):
    """The environment of a subprocess that loads the kill hook: PYTHONPATH led by a
    folder holding it, and ``HK_TEST_KILLS`` (path regex, marker file, who dies)."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "HK_TEST_KILLS": json.dumps(kills), "OMP_NUM_THREADS": "1"}


def timeless(path):
    """A JSON file without its timing fields."""
    return re.sub(r'"seconds": [0-9.eE+-]+', '"seconds": 0', path.read_text())


def assert_same_run(out, reference):
    """``out`` holds the numbers of ``reference``: results, table, each split's metrics
    and predictions."""
    assert timeless(out / "results.json") == timeless(reference / "results.json")
    assert (out / "results.md").read_text() == (reference / "results.md").read_text()
    for k in range(4):
        assert timeless(out / f"split{k}" / "metrics.json") == \
            timeless(reference / f"split{k}" / "metrics.json")
        a, b = (np.load(d / f"split{k}" / "predictions.npz") for d in (out, reference))
        assert sorted(a) == sorted(b) and all(np.array_equal(a[n], b[n]) for n in a)


def test_killed_units_and_workers_are_retried_and_change_no_number(data, sequential, tmp_path,
                                                                   monkeypatch):
    """Split 1's unit dies (SIGKILL: the Ray task is retried as UnitKilled); split 2's Ray
    worker dies (the task is retried on a new worker, and its orphaned unit must die
    with it, not run on beside the retry). Both retries continue from the checkpoint."""
    ray = pytest.importorskip("ray")
    kills = [{"path": r"/split1/.*stage1\.ckpt$", "marker": str(tmp_path / "killed-unit"),
              "who": "self"},
             {"path": r"/split2/.*stage1\.ckpt$", "marker": str(tmp_path / "killed-worker"),
              "who": "parent"}]
    for name, value in hook_env(tmp_path, kills).items():
        monkeypatch.setenv(name, value)  # read by the Ray workers this process starts
    # whether Ray ends a killed worker's children (a subreaper, the worker's process group)
    # depends on its version and settings: both off, the unit must end with its worker by
    # itself (hyperkit.executors.end_with_parent)
    monkeypatch.setenv("RAY_kill_child_processes_on_worker_exit_with_raylet_subreaper", "0")
    monkeypatch.setenv("RAY_process_group_cleanup_enabled", "0")
    monkeypatch.chdir(tmp_path)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # 2 workers at once
    try:
        main([*command(data), "--out", "ray", "--executor", "ray"])
    finally:
        ray.shutdown()
    out = tmp_path / "ray"
    assert (tmp_path / "killed-unit").is_file() and (tmp_path / "killed-worker").is_file()
    assert_same_run(out, sequential)
    for k in (1, 2):
        log = (out / "logs" / f"split{k}.log").read_text()
        # two attempts; epoch 2 ran once: the retry continued from epoch 1's checkpoint,
        # and the killed worker's unit did not run on beside it
        assert log.count(f"[split{k}] 6 train") == 2, log
        assert log.count("stage1 epoch 2/2") == 1, log
        assert log.count(f"[split{k}] cnn_selective SROCC") == 1, log
    for k in (0, 3):
        assert (out / "logs" / f"split{k}.log").read_text().count(f"[split{k}] 6 train") == 1


def files(folder):
    """path -> (inode, mtime) of every file under ``folder``."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_a_killed_driver_resumes_without_redoing_a_finished_split(data, sequential, tmp_path,
                                                                  capsys):
    """A sequential ``hyperkit iqa`` SIGKILLed right after split 1's first checkpoint
    (split 0 finished), then the same command with --resume: split 0 is reused untouched,
    split 1 continues, and the numbers are an uninterrupted run's."""
    out = tmp_path / "run"
    kills = [{"path": r"/split1/.*stage1\.ckpt$", "marker": str(tmp_path / "killed"),
              "who": "self"}]
    r = subprocess.run([sys.executable, "-m", "hyperkit.cli", *command(data), "--out",
                        str(out)], env={**os.environ, **hook_env(tmp_path, kills)},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, r.stdout + r.stderr
    assert (out / "split0" / "metrics.json").is_file()
    assert not (out / "split1" / "metrics.json").exists()
    assert list((out / "split1").rglob("stage1.ckpt"))
    assert not (out / "results.json").exists()
    split0 = files(out / "split0")
    capsys.readouterr()
    one_thread(lambda: main([*command(data), "--out", str(out), "--resume"]))
    log = capsys.readouterr().out
    assert "[split0] finished earlier; reusing" in log
    assert log.count("stage1 epoch 1/2") == 2  # splits 2 and 3; split 1 resumed at epoch 2
    assert files(out / "split0") == split0  # not one file of split 0 written again
    assert_same_run(out, sequential)


def _gone(pid):
    """Whether process ``pid`` has ended (a zombie nobody reaped counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
@pytest.mark.parametrize("platform", ["linux", "elsewhere"])
def test_a_unit_ends_when_the_process_that_started_it_is_killed(platform):
    """hyperkit.executors.end_with_parent, without Ray: a parent starts a guarded child
    and is SIGKILLed; the child ends too (on Linux by the kernel's PR_SET_PDEATHSIG,
    elsewhere by its watch thread, tried here by posing as another platform)."""
    child = ("import os, sys, time\n"
             "from hyperkit import executors\n"
             f"sys.platform = {platform!r}\n"
             "executors.end_with_parent(os.getppid())\n"
             "print('guarded', flush=True)\n"
             "time.sleep(60)\n")
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys\n"
         f"p = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
         "print(p.pid, flush=True)\np.wait()\n"], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    try:
        assert parent.stdout.readline().strip() == "guarded"
        assert not _gone(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10  # the watch thread looks every second
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid)
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)
        parent.stdout.close()
