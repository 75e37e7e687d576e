"""The Table 1 runner: settings, summaries, the Markdown table, and a tiny run end to end
(its run folder, manifest and reuse on resume). The CLI tests run the quick setting."""

import json

import numpy as np
import pytest

import hyperkit
from hyperkit.tasks.synthetic import (
    METHODS,
    PAPER,
    SCORE_MEANING,
    SETTINGS,
    Setting,
    run_synthetic,
    summarize,
    table,
)

TINY = Setting("tiny", images=10, images_per_count=10, seeds=1, stage1_epochs=1,
               stage1_patience=1, stage2_epochs=2, stage2_patience=2)


def test_settings_and_their_configs():
    assert set(SETTINGS) == {"quick", "full"}
    q = SETTINGS["quick"]
    c1, c2 = q.configs(seed=4)
    assert (c1.epochs, c1.patience, c1.batch_size, c1.seed) == (q.stage1_epochs,
                                                                q.stage1_patience, 128, 4)
    assert (c2.epochs, c2.patience, c2.batch_size, c2.seed) == (q.stage2_epochs,
                                                                q.stage2_patience, 32, 4)
    assert c1.plateau_patience == max(2, q.stage1_patience // 2)
    assert c2.plateau_patience == max(2, q.stage2_patience // 2)
    assert SETTINGS["full"].seeds > 1


def fake_run(count, seed, base):
    return {"run": f"r{count}{seed}", "count": count, "seed": seed,
            **{m: {"srocc": base + i * 0.1 + seed * 0.02, "plcc": base + i * 0.1,
                   "krocc": base - 0.1} for i, m in enumerate(METHODS)}}


def test_summarize_mean_and_std_over_seeds():
    runs = [fake_run(None, 0, 0.5), fake_run(None, 1, 0.5)]
    s = summarize(1, runs)
    assert list(s) == ["all"] and set(s["all"]) == set(METHODS)
    two = s["all"]["two_stage"]
    assert two["srocc"]["mean"] == pytest.approx(0.51) and two["srocc"]["n"] == 2
    assert two["srocc"]["std"] == pytest.approx(0.01)
    assert two["plcc"]["std"] == 0.0
    assert two["mean_srocc_plcc"]["mean"] == pytest.approx((0.51 + 0.5) / 2)
    runs2 = [fake_run(c, 0, 0.3 + c / 100) for c in (3, 1, 2, 5, 4)]
    s2 = summarize(2, runs2)
    assert list(s2) == ["1", "2", "3", "4", "5"]
    assert s2["3"]["patch_average"]["plcc"]["mean"] == pytest.approx(0.33 + 0.1)


def test_table_layouts():
    r1 = {"experiment": 1, "setting": {"name": "quick"},
          "summary": summarize(1, [fake_run(None, 0, 0.5)])}
    t1 = table(r1)
    assert t1.startswith("# Synthetic experiment 1 (quick setting, 1 seed(s)")
    for m, label in METHODS.items():
        row = next(line for line in t1.splitlines() if line.startswith(f"| {label} |"))
        assert str(PAPER[1][m]["srocc"]) in row and str(PAPER[1][m]["plcc"]) in row
    assert "±" not in t1.split("\n", 1)[1]  # one seed: no spread in the cells
    two = table({**r1, "summary": summarize(1, [fake_run(None, 0, 0.5),
                                                 fake_run(None, 1, 0.5)])})
    assert "0.5100 ± 0.0100" in two
    r2 = {"experiment": 2, "setting": {"name": "full"},
          "summary": summarize(2, [fake_run(c, 0, 0.4) for c in range(1, 6)])}
    t2 = table(r2)
    assert "| Approach | " + " | ".join(f"{c} patch(es)" for c in range(1, 6)) + " |" in t2
    for m, label in METHODS.items():
        paper = next(line for line in t2.splitlines() if line.startswith(f"| {label}: paper |"))
        assert paper.split(" | ")[1:] == [str(v) for v in PAPER[2][m][:4]] + [
            f"{PAPER[2][m][4]} |"]
        assert f"| {label}: mean of SROCC and PLCC |" in t2 and f"| {label}: KROCC |" in t2


def test_run_synthetic_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="experiment must be 1 or 2"):
        run_synthetic(3, TINY, tmp_path / "a")
    with pytest.raises(ValueError, match="setting must be one of quick, full"):
        run_synthetic(1, "medium", tmp_path / "b")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already holds an unfinished run"):
        run_synthetic(1, TINY, tmp_path / "c")
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["keep.txt"]


def test_tiny_run_writes_a_loadable_run_folder(tmp_path):
    out = tmp_path / "run"
    lines = []
    res = run_synthetic(1, TINY, out, device="cpu", log=lines.append, progress=False)
    assert res["experiment"] == 1 and res["setting"]["name"] == "tiny"
    assert res["models"] == ["seed0/model"] and len(res["runs"]) == 1
    run = res["runs"][0]
    assert (run["train"], run["val"], run["test"]) == (6, 2, 2)
    assert run["stage1"]["epochs"] == 1 and run["stage2"]["epochs"] == 2
    assert json.loads((out / "results.json").read_text())["runs"] == res["runs"]
    assert json.loads((out / "config.json").read_text())["experiment"] == 1
    assert json.loads((out / "run.json").read_text()) == {
        "format": "hyperkit-run", "version": 1, "task": "synthetic", "models": ["seed0/model"]}
    for f in ("results.md", "pred_vs_true.png", "examples.png", "seed0/metrics.json",
              "seed0/predictions.npz"):
        assert (out / f).is_file(), f
    # the manifest's model reproduces the run's test predictions
    pred = np.load(out / "seed0" / "predictions.npz")
    from hyperkit.data import synthetic

    d = synthetic.generate(TINY.images, 2017)
    model = hyperkit.load_model(out)
    for m in METHODS:
        np.testing.assert_allclose(model.predict(list(d.images[pred["index"]]), method=m),
                                   pred[m], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred["true"], d.scores[pred["index"]])
    assert any("two-stage SROCC" in line for line in lines)
    # the model says what its score means (the CLI's --csv writes it)
    assert model.meta["score_meaning"] == SCORE_MEANING and "at most 5" in SCORE_MEANING
    # each stage says how it stopped; the results table is logged at the end of the run
    assert any("stage1 ran all 1 epochs" in line for line in lines)
    assert any("stage2 ran all 2 epochs" in line or "stage2 stopped early" in line
               for line in lines)
    last = "\n".join(lines[-2:])
    assert table(res) in last and "| Approach |" in last
    assert lines[-1].startswith("wrote ") and "results.json" in lines[-1]
    # resume reuses the finished run without training again
    lines.clear()
    again = run_synthetic(1, TINY, out, device="cpu", resume=True, log=lines.append,
                          progress=False)
    assert again["runs"] == res["runs"] and any("finished earlier" in line for line in lines)
