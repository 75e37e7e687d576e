"""Issue 23: a forgery run's seeds as separate units (``hyperkit forgery --seed-index``),
merged by ``hyperkit report``. The miniature CASIA v2 tree and tiny networks of
test_forgery.py; CPU runs are deterministic, so units and a sequential run must agree
exactly."""

import json
import re

import numpy as np
import pytest

from hyperkit.cli import main
from hyperkit.data.forgery import demo as forgery_demo
from hyperkit.tasks.forgery import seed as seed_module
from hyperkit.tasks.forgery.units import seed_indices
from hyperkit.units import publish_dir
from tests.data.forgery.test_casia2 import make_tree
from tests.tasks.test_forgery import TINY

SEEDS = ["--seeds", "3"]


def timeless(path):
    """A JSON file without its timing fields."""
    return re.sub(r'"seconds": [0-9.eE+-]+', '"seconds": 0', path.read_text())


def files(folder):
    """path -> (inode, mtime) of every file under ``folder``."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("casia") / "CASIA2", n_pairs=7, n_authentic=8)


def forgery(root, out, *extra):
    main(["forgery", "--dataset", "casia2", "--root", str(root), "--out", str(out), *TINY,
          *SEEDS, *extra])


@pytest.fixture(scope="module")
def sequential(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("seq") / "run"
    forgery(tree[0], out)
    return out


@pytest.fixture(scope="module")
def units(tree, tmp_path_factory):
    """Seed 1, a report (partial), seeds 0 and 2 (what they touched outside their folders
    recorded), then the report."""
    out = tmp_path_factory.mktemp("units") / "run"
    seen = {}
    forgery(tree[0], out, "--seed-index", "1")
    seen["after1"] = sorted(p.name for p in out.iterdir())
    main(["report", str(out)])
    seen["partial"] = json.loads((out / "results.json").read_text())
    seen["partial_md"] = (out / "results.md").read_text()
    before = files(out)
    forgery(tree[0], out, "--seed-index", "0,2")
    after = files(out)
    seen["changed"] = sorted(str(p.relative_to(out)) for p in before
                             if p not in after or after[p] != before[p])
    seen["new"] = sorted(str(p.relative_to(out)) for p in after if p not in before)
    main(["report", str(out)])
    return out, seen


def test_seed_units_then_report_equal_a_sequential_run(sequential, units):
    out, _ = units
    assert timeless(out / "results.json") == timeless(sequential / "results.json")
    assert (out / "results.md").read_text() == (sequential / "results.md").read_text()
    assert (out / "run.json").read_text() == (sequential / "run.json").read_text()
    for s in range(3):
        a, b = (np.load(d / f"seed{s}" / "predictions.npz") for d in (out, sequential))
        assert sorted(a) == sorted(b) and all(np.array_equal(a[n], b[n]) for n in a)
    res = json.loads((out / "results.json").read_text())
    assert "seeds_finished" not in res and len(res["runs"]) == 3
    # mean ± std and the worst seed of each metric
    auc = res["summary"]["two_stage"]["roc_auc"]
    values = [r["metrics"]["two_stage"]["roc_auc"] for r in res["runs"]]
    assert auc["worst"] == min(values) and auc["n"] == 3
    assert auc["worst_seed"] == res["runs"][int(np.argmin(values))]["seed"]
    assert f"(worst {auc['worst']:.2f}, seed {auc['worst_seed']})" in \
        (out / "results.md").read_text()
    assert len(list((out / "contours").glob("*.png"))) == 3  # pictures from pairs.csv


def test_a_seed_unit_writes_only_its_seed_and_new_shared_files(units):
    out, seen = units
    assert not {"results.json", "results.md", "run.json", "roc.png"} & set(seen["after1"])
    assert {"config.json", "pairs.csv", "contours.json", "seed1"} <= set(seen["after1"])
    # seeds 0 and 2 changed no file that existed (the report's outputs aside) ...
    report = ("results.json", "results.md", "run.json", "roc.png", "contours/")
    assert all(p.startswith(report) for p in seen["changed"]), seen["changed"]
    # ... and created files only in their own folders
    assert all(p.startswith(("seed0/", "seed2/")) for p in seen["new"]), seen["new"]
    assert not list(out.glob("seed*/unit")) and not list(out.rglob("*.hk-tmp*"))


def test_report_of_a_partial_forgery_run_says_how_many_seeds_finished(units):
    _, seen = units
    assert seen["partial"]["seeds_finished"] == {"finished": 1, "planned": 3}
    assert [r["seed"] for r in seen["partial"]["runs"]] == [1]
    assert "**Partial**: 1 of 3 planned seed(s) finished" in seen["partial_md"]


def test_a_finished_seed_is_never_recomputed(units, tree, monkeypatch, capsys):
    out, _ = units
    stamp = {s: (out / f"seed{s}" / "metrics.json").stat().st_mtime_ns for s in range(3)}

    def no_training(*a, **k):
        raise AssertionError("a finished seed was trained again")

    monkeypatch.setattr(seed_module, "run_seed", no_training)
    capsys.readouterr()
    forgery(tree[0], out, "--seed-index", "0-2")
    assert capsys.readouterr().out.count("finished earlier") == 3
    assert {s: (out / f"seed{s}" / "metrics.json").stat().st_mtime_ns for s in range(3)} == stamp


def test_a_seed_unit_refuses_other_settings_plans_and_folders(units, tree, tmp_path):
    out, _ = units
    root = tree[0]
    with pytest.raises(SystemExit, match=r"other settings \(setting differ"):
        forgery(root, out, "--seed-index", "0", "--e2e-epochs", "2")
    with pytest.raises(SystemExit, match=r"plans 3 seed\(s\), fewer than the 4 asked for"):
        main(["forgery", "--dataset", "casia2", "--root", str(root), "--out", str(out), *TINY,
              "--seeds", "4", "--seed-index", "3"])
    with pytest.raises(SystemExit, match="other settings.*root|root.*differ"):
        other = make_tree(tmp_path / "other" / "CASIA2", n_pairs=7, n_authentic=8)[0]
        forgery(other, out, "--seed-index", "0")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a run")
    with pytest.raises(SystemExit, match="not a hyperkit run.*notes.txt.*--seed-index joins"):
        forgery(root, tmp_path / "mine", "--seed-index", "0")


@pytest.mark.parametrize("spec, expected", [
    ("3", "--seed-index 3 is out of range: expected numbers from 0 to 2, as the run has 3 "
          "seed(s)"),
    ("x", "--seed-index 'x' is malformed at 'x'; expected seed numbers and ranges"),
    ("2-1", "runs backwards"),
    ("", "--seed-index is empty; expected seed numbers and ranges such as 3 or 0,2-4"),
])
def test_bad_seed_index_is_a_clear_cli_error(spec, expected, tmp_path):
    with pytest.raises(SystemExit) as e:  # refused before the data set is read
        main(["forgery", "--dataset", "casia2", "--root", str(tmp_path / "absent"), *SEEDS,
              "--seed-index", spec])
    assert str(e.value).startswith("hyperkit forgery: error: ")
    assert expected in str(e.value)


def test_seed_index_values_and_other_refusals(tmp_path):
    assert seed_indices("2,0-1,1", 3) == (0, 1, 2) and seed_indices(1, 2) == (1,)
    with pytest.raises(ValueError, match="seed_index must hold integers"):
        seed_indices([True], 2)
    base = ["forgery", "--dataset", "casia2", "--root", str(tmp_path / "absent")]
    for extra, expected in ((["--seed-index", "0", "--overwrite"], "drop --overwrite"),
                            (["--seed-index", "0", "--inspect"], "--inspect only reads")):
        with pytest.raises(SystemExit, match=expected):
            main(base + extra)


def test_report_tells_runs_apart(tmp_path):
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text(json.dumps({"dataset": "x"}))
    with pytest.raises(SystemExit, match="neither an NR-IQA run nor a forgery run"):
        main(["report", str(tmp_path / "odd")])
    forged = {"task": "forgery", "setting": {"name": "quick", "seeds": 2}, "data": {}}
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "config.json").write_text(json.dumps(forged))
    with pytest.raises(SystemExit, match=r"0 of 2 planned seed\(s\) finished; nothing to "
                                         "merge yet"):
        main(["report", str(tmp_path / "f")])


def test_demo_seed_units_generate_the_data_set_once(tmp_path, capsys):
    """Two seed units on the demo set: the first generates it in its own folder and
    publishes it as out/data; the second reads it."""
    out = tmp_path / "run"
    demo = ["forgery", "--dataset", "demo", "--quick", "--demo-authentic", "24",
            "--demo-tampered", "16", *TINY, "--seeds", "2", "--out", str(out)]
    main([*demo, "--seed-index", "0"])
    assert forgery_demo.matches(out / "data", 24, 16, 0)
    assert "published as" in capsys.readouterr().out
    main([*demo, "--seed-index", "1"])
    assert "generating" not in capsys.readouterr().out
    assert not list(out.glob("seed*/unit"))
    main(["report", str(out)])
    assert json.loads((out / "results.json").read_text())["data"]["pairs"] == 16


def test_publishing_a_folder_never_replaces_one(tmp_path):
    a, b, shared = tmp_path / "a", tmp_path / "b", tmp_path / "shared"
    for d, text in ((a, "first"), (b, "second")):
        d.mkdir()
        (d / "x.txt").write_text(text)
    assert publish_dir(a, shared) and not a.exists()
    assert not publish_dir(b, shared) and (b / "x.txt").read_text() == "second"
    assert (shared / "x.txt").read_text() == "first"
