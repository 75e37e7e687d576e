"""bench/forgery_pretrained.py (issue 20): on a tiny demo run, the bench pairs its rows with
the run's own test images (the run's AUC read back exactly), writes only --out and --data,
and refuses malformed sizes."""

import json

import numpy as np
import pytest

from hyperkit.cli import main as cli
from hyperkit.evaluation.classification import roc_auc
from tests.tasks.test_forgery import TINY

from .scripts import load_script

pytest.importorskip("sklearn")


def test_pretrained_bench_pairs_with_the_run(tmp_path, capsys):
    fp = load_script("forgery_pretrained")
    run = tmp_path / "run"
    cli(["forgery", "--dataset", "demo", "--demo-authentic", "16", "--demo-tampered", "12",
         "--out", str(run), *TINY])
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    out = tmp_path / "p.json"
    fp.main(["--data", str(run / "data"), "--demo", "16,12", "--seeds", "1", "--grid", "3,4",
             "--epochs", "2", "--run", str(run), "--out", str(out)])
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    res = json.loads(out.read_text())
    pred = np.load(run / "seed0" / "predictions.npz")
    assert res["results"]["run two_stage"] == [roc_auc(pred["two_stage"], pred["true"])]
    assert {"head", "pool-lr"} <= set(res["results"])
    assert all(0 <= v[0] <= 1 for v in res["results"].values())
    assert res["head"] == "head(800,3,4,sig=1)"
    assert "run two_stage" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--grid", "3"], ["--grid", "a,b"], ["--demo", "16"],
                                  ["--grid", "0,4"]])
def test_pretrained_bench_refuses_bad_sizes(tmp_path, args):
    fp = load_script("forgery_pretrained")
    with pytest.raises(SystemExit, match="two integers"):
        fp.main(["--data", str(tmp_path / "d"), "--out", str(tmp_path / "o.json"), *args])
    assert not (tmp_path / "d").exists()
