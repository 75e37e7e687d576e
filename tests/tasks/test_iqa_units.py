"""Issue 23: an NR-IQA run's splits as separate units (``hyperkit iqa --split-index``),
merged by ``hyperkit report``, and one Ray task per split (``--executor ray``). The
miniature CSV set and tiny networks of test_iqa.py; CPU runs are deterministic, so units
and a sequential run must agree exactly."""

import json
import re
import shutil

import numpy as np
import pytest

from hyperkit.cli import main
from hyperkit.data.iqa.csv import load_csv
from hyperkit.tasks.iqa import Options, run_iqa
from hyperkit.tasks.iqa import split as split_module
from hyperkit.tasks.iqa.units import publish, publish_text, split_indices
from tests.tasks.test_iqa import FAST, TINY, tree  # noqa: F401  (tree: a fixture)

OPTS = Options(splits=2, ssim_threshold=0.99)
KW = dict(device="cpu", progress=False, spec=TINY)


def _timeless(path):
    """results.json without its timing fields."""
    return re.sub(r'"seconds": [0-9.eE+-]+', '"seconds": 0', path.read_text())


def _files(folder):
    """path -> (inode, mtime) of every file under ``folder``."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sequential(tree, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("seq") / "run"
    run_iqa(load_csv(tree, best_score=100.0), "csv", None, FAST, out, OPTS,
            log=lambda s: None, **KW)
    return out


@pytest.fixture(scope="module")
def units(tree, tmp_path_factory):  # noqa: F811
    """Split 0, a report (partial), split 1 (what it touched outside split1/ recorded),
    then the report."""
    table = load_csv(tree, best_score=100.0)
    out = tmp_path_factory.mktemp("units") / "run"
    seen = {}
    run_iqa(table, "csv", None, FAST, out, OPTS, split_index="0", log=lambda s: None, **KW)
    seen["after0"] = sorted(p.name for p in out.iterdir())
    main(["report", str(out)])
    seen["partial"] = json.loads((out / "results.json").read_text())
    seen["partial_md"] = (out / "results.md").read_text()
    before = _files(out)
    run_iqa(table, "csv", None, FAST, out, OPTS, split_index=[1], log=lambda s: None, **KW)
    after = _files(out)
    seen["changed"] = sorted(str(p.relative_to(out)) for p in before
                             if p not in after or after[p] != before[p])
    seen["new"] = sorted(str(p.relative_to(out)) for p in after if p not in before)
    main(["report", str(out)])
    return out, seen


def test_units_then_report_equal_a_sequential_run(sequential, units):
    out, _ = units
    assert _timeless(out / "results.json") == _timeless(sequential / "results.json")
    assert (out / "results.md").read_text() == (sequential / "results.md").read_text()
    assert (out / "run.json").read_text() == (sequential / "run.json").read_text()
    for k in (0, 1):
        a, b = np.load(out / f"split{k}" / "predictions.npz"), \
            np.load(sequential / f"split{k}" / "predictions.npz")
        assert sorted(a) == sorted(b) and all(np.array_equal(a[n], b[n]) for n in a)
    assert "splits_finished" not in json.loads((out / "results.json").read_text())


def test_a_unit_writes_only_its_split_and_new_shared_files(units):
    out, seen = units
    # a unit run leaves no results, manifest or plots behind: only the report writes them
    assert not {"results.json", "results.md", "run.json", "pred_vs_true.png"} & set(seen["after0"])
    assert {"config.json", "splits.json", "cache", "split0"} <= set(seen["after0"])
    # split 1 changed no file that existed (the report's outputs aside) ...
    assert set(seen["changed"]) <= {"results.json", "results.md", "run.json",
                                    "pred_vs_true.png", "srocc_per_type.png"}, seen["changed"]
    # ... and created files only in its own folder
    assert all(p.startswith("split1/") for p in seen["new"]), seen["new"]
    assert not (out / "split0" / "unit").exists() and not (out / "split1" / "unit").exists()
    assert not list(out.rglob("*.hk-tmp*"))


def test_report_of_a_partial_run_says_how_many_finished(units, capsys):
    _, seen = units
    assert seen["partial"]["splits_finished"] == {"finished": 1, "planned": 2}
    assert [r["split"] for r in seen["partial"]["runs"]] == [0]
    assert "**Partial**: 1 of 2 planned split(s) finished" in seen["partial_md"]


def test_a_finished_split_is_never_recomputed(units, tree, monkeypatch):  # noqa: F811
    out, _ = units
    stamp = {k: (out / f"split{k}" / "metrics.json").stat().st_mtime_ns for k in (0, 1)}

    def no_training(*a, **k):
        raise AssertionError("a finished split was trained again")

    monkeypatch.setattr(split_module, "run_split", no_training)
    monkeypatch.setattr("hyperkit.tasks.iqa.runner.run_split", no_training)
    lines = []
    # joins the finished folder without resume, as every unit run does
    res = run_iqa(load_csv(tree, best_score=100.0), "csv", None, FAST, out, OPTS,
                  split_index="0-1", log=lines.append, **KW)
    assert [r["split"] for r in res["runs"]] == [0, 1]
    assert sum("finished earlier" in s for s in lines) == 2
    assert {k: (out / f"split{k}" / "metrics.json").stat().st_mtime_ns for k in (0, 1)} == stamp


def test_a_unit_refuses_other_settings_and_foreign_folders(units, tree, tmp_path):  # noqa: F811
    out, _ = units
    table = load_csv(tree, best_score=100.0)
    with pytest.raises(ValueError, match="other settings.*ssim_threshold|options"):
        run_iqa(table, "csv", None, FAST, out, Options(splits=2, ssim_threshold=0.5),
                split_index="0", log=lambda s: None, **KW)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a run")
    with pytest.raises(FileExistsError, match="not a hyperkit run.*notes.txt"):
        run_iqa(table, "csv", None, FAST, tmp_path / "mine", OPTS, split_index="0",
                log=lambda s: None, **KW)
    with pytest.raises(ValueError, match="split_index and overwrite"):
        run_iqa(table, "csv", None, FAST, out, OPTS, split_index="0", overwrite=True, **KW)
    # a unit never extends the shared splits file other units read
    with pytest.raises(ValueError, match="never rewrite the shared splits file"):
        run_iqa(table, "csv", None, FAST, out, Options(splits=3, ssim_threshold=0.99),
                split_index="2", log=lambda s: None, **KW)


@pytest.mark.parametrize("spec, expected", [
    ("5", "--split-index 5 is out of range: expected numbers from 0 to 1"),
    ("0,2-3", "--split-index 2 is out of range"),
    ("x", "--split-index 'x' is malformed at 'x'; expected split numbers and ranges"),
    ("1,,2", "malformed at ''"),
    ("-1", "malformed at '-1'"),
    ("3-1", "runs backwards"),
    ("", "--split-index is empty; expected split numbers and ranges such as 3 or 0,2-4"),
    (" ", "--split-index is empty"),
])
def test_bad_split_index_is_a_clear_cli_error(spec, expected, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:  # refused before the data set is read
        main(["iqa", "--dataset", "csv", "--root", str(tmp_path / "absent"), "--splits", "2",
              "--split-index", spec])
    assert str(e.value).startswith("hyperkit iqa: error: ")
    assert expected in str(e.value)


def test_split_index_values_and_other_cluster_refusals(tmp_path):
    assert split_indices("3,0-1,1", 4) == (0, 1, 3)
    assert split_indices(2, 3) == (2,) and split_indices([1, 0], 2) == (0, 1)
    assert split_indices((), 2) == ()
    with pytest.raises(ValueError, match="split_index must hold integers"):
        split_indices([0.5], 2)
    base = ["iqa", "--dataset", "csv", "--root", str(tmp_path / "absent")]
    for extra, expected in ((["--split-index", "0", "--overwrite"], "drop --overwrite"),
                            (["--ray-address", "auto"], "--ray-address is an option of "
                                                        "--executor ray"),
                            (["--split-index", "0", "--inspect"], "--inspect only reads")):
        with pytest.raises(SystemExit, match=expected):
            main(base + extra)


def test_publishing_never_replaces_a_file(tmp_path):
    mine, shared = tmp_path / "own" / "a.bin", tmp_path / "cache" / "a.bin"
    mine.parent.mkdir()
    mine.write_bytes(b"first")
    assert publish(mine, shared) and shared.read_bytes() == b"first"
    other = tmp_path / "own" / "b.bin"
    other.write_bytes(b"second")
    assert not publish(other, shared) and shared.read_bytes() == b"first"
    assert publish_text("x", tmp_path / "c.json", tmp_path / "own")
    assert not publish_text("y", tmp_path / "c.json", tmp_path / "own")
    assert not publish_text("z", tmp_path / "c.json", None)
    assert (tmp_path / "c.json").read_text() == "x"
    assert sorted(p.name for p in (tmp_path / "own").iterdir()) == ["a.bin", "b.bin"]


def test_report_with_no_finished_split_says_so(tree, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "run"
    # split_index=(): the shared files only (what the Ray driver writes first)
    run_iqa(load_csv(tree, best_score=100.0), "csv", None, FAST, out, OPTS, split_index=(),
            log=lambda s: None, **KW)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "splits.json"]
    with pytest.raises(SystemExit, match=r"0 of 2 planned split\(s\) finished; nothing to "
                                         "merge yet"):
        main(["report", str(out)])
    assert not (out / "results.json").exists()
    with pytest.raises(SystemExit, match="holds no config.json"):
        main(["report", str(tmp_path)])
    with pytest.raises(SystemExit, match="is not a folder"):
        main(["report", str(tmp_path / "absent")])


def test_ray_executor_equals_sequential(tree, tmp_path, monkeypatch):  # noqa: F811
    """Two splits as two Ray tasks (a local Ray, 2 CPUs) give the numbers of the same
    command run sequentially."""
    pytest.importorskip("ray")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tree, tmp_path / "data")
    common = ["iqa", "--dataset", "csv", "--root", "data", "--best-score", "100", "--quick",
              "--stage1-epochs", "1", "--methods", "cnn_selective", "--splits", "2",
              "--device", "cpu", "--no-progress"]
    main([*common, "--out", "seq"])
    main([*common, "--out", "ray", "--executor", "ray"])
    assert _timeless(tmp_path / "ray" / "results.json") == \
        _timeless(tmp_path / "seq" / "results.json")
    assert sorted(p.name for p in (tmp_path / "ray" / "logs").iterdir()) == \
        ["split0.log", "split1.log"]


def test_without_ray_the_ray_executor_names_the_install(tmp_path, monkeypatch):
    import subprocess
    import sys

    # importing the command line (and the executors) never imports Ray
    code = "import sys, hyperkit.cli, hyperkit.executors; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
    monkeypatch.setattr("hyperkit.executors.ray_available", lambda: False)
    with pytest.raises(SystemExit) as e:  # before the data set is read
        main(["iqa", "--dataset", "csv", "--root", str(tmp_path / "absent"),
              "--executor", "ray"])
    assert str(e.value) == ('hyperkit iqa: error: --executor ray needs Ray, which is not '
                            'installed: pip install "hyperkit[cluster]"')
