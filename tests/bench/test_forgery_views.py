"""bench/forgery_views.py (issue 20): on a tiny finished forgery run, stage 2 retrained as
the run trains it gives the run's own scores, the mirrored hyper-images go to --cache
(never into the run), and a --cache inside the run is refused."""

import json

import numpy as np
import pytest

from hyperkit.cli import main as cli
from tests.data.forgery.test_casia2 import make_tree
from tests.tasks.test_forgery import TINY

from .scripts import load_script

pytest.importorskip("sklearn")


def test_views_bench_reproduces_the_run_and_writes_outside_it(tmp_path, capsys):
    fv = load_script("forgery_views")
    root, _ = make_tree(tmp_path / "CASIA2", n_pairs=7, n_authentic=8)
    run = tmp_path / "run"
    cli(["forgery", "--dataset", "casia2", "--root", str(root), "--out", str(run), *TINY])
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    with pytest.raises(SystemExit):
        fv.main(["--run", str(run), "--data", str(root), "--cache", str(run / "views"),
                 "--out", str(tmp_path / "v.json")])
    capsys.readouterr()
    fv.main(["--run", str(run), "--data", str(root), "--cache", str(tmp_path / "cache"),
             "--out", str(tmp_path / "v.json")])
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    res = json.loads((tmp_path / "v.json").read_text())
    auc = res["roc_auc"]
    assert auc["retrain"] == auc["run"]  # the comparison is paired on the run's own code
    assert {"tta", "mirror-train", "mirror-train+dct"} <= set(auc)
    assert all(0 <= a[0] <= 1 for a in auc.values())
    for part in ("train", "val", "test"):
        h = np.load(tmp_path / "cache" / "seed0" / f"hyper_{part}_mirror.npy")
        assert h.shape == np.load(run / "seed0" / "work" / f"hyper_{part}.npy").shape
    assert "mirror-train" in capsys.readouterr().out
