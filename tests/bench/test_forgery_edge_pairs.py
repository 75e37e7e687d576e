"""bench/forgery_edge_pairs.py and bench/forgery_content.py (issue 20): on a tiny finished
forgery run the edge bench reproduces the run's own validation figures, and the content
bench's pair AUCs follow from their definition."""

import json

import numpy as np
import pytest

from hyperkit.cli import main as cli
from tests.data.forgery.test_casia2 import make_tree
from tests.tasks.test_forgery import TINY

from .scripts import load_script


def test_edge_bench_reproduces_the_runs_validation_accuracies(tmp_path, capsys):
    eb = load_script("forgery_edge_pairs")
    root, _ = make_tree(tmp_path / "CASIA2", n_pairs=7, n_authentic=8)
    run = tmp_path / "run"
    cli(["forgery", "--dataset", "casia2", "--root", str(root), "--out", str(run), *TINY])
    # later seeds add their pairs to the end of contours.json: the bench must take the
    # pairs in the data set's order, as the run did, not the file's
    cf = run / "contours.json"
    cf.write_text(json.dumps(dict(reversed(json.loads(cf.read_text()).items()))))
    eb.main(["--run", str(run), "--out", str(tmp_path / "e.json")])
    res = json.loads((tmp_path / "e.json").read_text())["seeds"]["0"]
    rec = json.loads((run / "results.json").read_text())["runs"][0]["stage1"]
    assert res["same"] == pytest.approx(rec["val_ranking_accuracy"])
    assert res["edge"] == pytest.approx(rec["val_edge_ranking_accuracy"])
    assert 0 <= res["random"] <= 1 and res["val_pairs"] >= 1
    assert "same" in capsys.readouterr().out
    import shutil

    moved = shutil.copytree(root, tmp_path / "moved")  # the same files under another root
    with pytest.raises(SystemExit, match="no validation pair"):
        eb.main(["--run", str(run), "--data", str(moved), "--out", str(tmp_path / "e2.json")])


def test_content_bench_splits_pairs_by_source(tmp_path, capsys):
    cb = load_script("forgery_content")
    assert cb.source("Au_ast_00053.jpg") == "ast"
    assert cb.source("/x/Tp_D_NRN_S_N_gra00072_moo96873_00072.jpg") == "gra"
    with pytest.raises(ValueError, match="CASIA v2 style name"):
        cb.source("photo.jpg")
    # source a: authentic 0.9 over tampered 0.8; source b: authentic 0.3 over tampered 0.2;
    # across sources a's tampered (0.8) outranks b's authentic (0.3)
    names = ["Au_aaa_1.jpg", "Tp_D_NRN_S_N_aaa1_bbb2_1.jpg", "Au_bbb_2.jpg",
             "Tp_D_NRN_S_N_bbb3_aaa4_2.jpg"]
    true, score = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.3, 0.2])
    got = cb.pair_aucs(score, true, np.array([cb.source(n) for n in names]))
    assert got["same_source"] == 1.0 and got["same_source_pairs"] == 2
    assert got["cross_source"] == 0.5 and got["all"] == 0.75
    (tmp_path / "run" / "seed0").mkdir(parents=True)
    np.savez(tmp_path / "run" / "seed0" / "predictions.npz", path=np.array(names), true=true,
             two_stage=score)
    cb.main([str(tmp_path / "run"), "--out", str(tmp_path / "c.json")])
    res = json.loads((tmp_path / "c.json").read_text())
    assert res["pairs"] == {"all": 0.75, "same_source": 1.0, "cross_source": 0.5}
    assert res["mean_by_source"]["tampered aaa"] == pytest.approx(0.8)
    assert "same_source pairs AUC 1.000" in capsys.readouterr().out
