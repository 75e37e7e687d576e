"""The run folder: the run.json manifest, refusing or resuming, config, unit reuse, results."""

import json
from pathlib import Path

import numpy as np
import pytest

from hyperkit.runs import RunFolder, read_manifest, write_manifest


def test_write_then_read(tmp_path):
    p = write_manifest(tmp_path, "synthetic", ["seed0/model", "seed1/model"])
    assert p == tmp_path / "run.json"
    info = read_manifest(tmp_path)
    assert info == {"format": "hyperkit-run", "version": 1, "task": "synthetic",
                    "models": ["seed0/model", "seed1/model"]}
    assert json.loads(p.read_text()) == info
    write_manifest(tmp_path, "other", [])  # rewritten in place
    assert read_manifest(tmp_path)["models"] == []
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".")]


def test_missing_manifest_is_none(tmp_path):
    assert read_manifest(tmp_path) is None
    assert read_manifest(tmp_path / "nope") is None


@pytest.mark.parametrize("text, words", [
    ("{not json", "is corrupt"),
    (b"\xff\xfe\x00\x01", "is corrupt"),
    ('{"models": ["a"]}', "not a hyperkit run manifest"),
    ('{"format": "hyperkit-run", "models": "a"}', "not a hyperkit run manifest"),
    ('["hyperkit-run"]', "not a hyperkit run manifest"),
])
def test_bad_manifest(tmp_path, text, words):
    p = tmp_path / "run.json"
    p.write_bytes(text) if isinstance(text, bytes) else p.write_text(text)
    with pytest.raises(ValueError, match=words):
        read_manifest(tmp_path)


# ---------------------------------------------------------------- RunFolder


def test_open_refuses_a_folder_with_files_unless_resuming(tmp_path):
    RunFolder.open(tmp_path / "new", resume=False)  # missing: fine
    (tmp_path / "x").write_text("1")
    with pytest.raises(FileExistsError, match="--resume"):
        RunFolder.open(tmp_path, resume=False)
    assert RunFolder.open(tmp_path, resume=True).path == tmp_path


def test_config_resumed_run_must_match_but_may_grow(tmp_path):
    folder = RunFolder.open(tmp_path, resume=False, log=lambda s: None)
    settings = {"experiment": 1, "setting": {"name": "quick", "seeds": 1}, "grid": (10, 10)}
    folder.write_config(settings, "cpu", grow=("setting.seeds",), extra=3)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["grid"] == [10, 10] and cfg["extra"] == 3 and cfg["device"] == "cpu"
    assert cfg["world_size"] == 1 and "torch" in cfg and "numpy" in cfg["versions"]
    # what decoding, resampling and the DCT baseline depend on (issue 20)
    assert cfg["versions"]["Pillow"] and cfg["versions"]["scikit-image"]
    assert "scikit-learn" in cfg["versions"]
    folder.write_config({**settings, "setting": {"name": "quick", "seeds": 3}}, "cpu",
                        grow=("setting.seeds",))  # more seeds: the same run
    with pytest.raises(ValueError, match=r"other settings \(setting, grid differ\)"):
        folder.check_config({**settings, "setting": {"name": "full", "seeds": 1},
                             "grid": (5, 5)}, grow=("setting.seeds",))


def test_units_are_reused_and_results_written(tmp_path):
    lines = []
    folder = RunFolder(tmp_path, log=lines.append)
    assert folder.reuse("seed0") is None
    (tmp_path / "seed0").mkdir()
    folder.finish("seed0", {"srocc": 0.5}, {"true": np.arange(3)})
    assert np.load(tmp_path / "seed0" / "predictions.npz")["true"].tolist() == [0, 1, 2]
    assert folder.reuse("seed0") == {"srocc": 0.5}
    assert lines[-1].startswith("[seed0] finished earlier; reusing ")
    drawn = []
    folder.write_results("synthetic", {"runs": []}, "# table\n", ["seed0/model"],
                         lambda: drawn.append(1), "a.png")
    assert drawn == [1] and (tmp_path / "results.md").read_text() == "# table\n"
    assert read_manifest(tmp_path)["models"] == ["seed0/model"]
    assert lines[-1] == f"wrote {tmp_path / 'results.json'}, results.md, a.png"


def test_overwrite_moves_an_earlier_run_aside(tmp_path):
    """Issue 21, problem 3: a failed run blocked its folder (the fixed command needed
    --resume, and --resume refused the new settings); --overwrite moves it aside."""
    out = tmp_path / "run"
    (out / "split0").mkdir(parents=True)
    (out / "config.json").write_text('{"setting": "old"}')
    (out / "split0" / "stage1.ckpt").write_text("partial")
    with pytest.raises(FileExistsError, match="an unfinished run.*--overwrite"):
        RunFolder.open(out, resume=False)
    folder = RunFolder.open(out, resume=False, overwrite=True, log=lambda s: None)
    folder.write_config({"setting": "new"}, "cpu")  # no clash with the old settings
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.replaced-")]
    assert len(aside) == 1 and (aside[0] / "split0" / "stage1.ckpt").read_text() == "partial"
    (out / "split0").mkdir()
    (out / "split0" / "metrics.json").write_text("{}")
    with pytest.raises(FileExistsError, match=r"results \(1 finished unit"):
        RunFolder.open(out, resume=False)


def test_resume_and_overwrite_exclude_each_other_and_the_cwd_is_not_moved(tmp_path,
                                                                        monkeypatch):
    with pytest.raises(ValueError, match="exclude each other"):
        RunFolder.open(tmp_path, resume=True, overwrite=True)
    (tmp_path / "x").write_text("1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="current folder"):
        RunFolder.open(".", resume=False, overwrite=True)
    assert (tmp_path / "x").exists()


def test_other_settings_error_names_overwrite(tmp_path):
    (tmp_path / "config.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="--overwrite"):
        RunFolder.open(tmp_path, resume=True).check_config({"a": 2})


def test_cli_error_for_a_used_folder_names_overwrite(tmp_path):
    from hyperkit.cli import main

    out = tmp_path / "syn"
    out.mkdir()
    (out / "leftover.txt").write_text("x")
    with pytest.raises(SystemExit, match="--overwrite"):
        main(["synthetic", "--quick", "--out", str(out)])


def test_resume_removes_the_temporary_files_of_a_killed_run(tmp_path):
    """Issue 22, item 5: a killed hyper-image build left hyper_train.tmp<PID>.npy (28.8 MB)
    forever, a killed stage 2 a 0-byte .ckpt.tmp<PID>."""
    import os
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / "split0").mkdir()
    stale = [tmp_path / "split0" / f".hyper_train.hk-tmp{dead}.npy",
             tmp_path / "split0" / f".stage2.ckpt.hk-tmp{dead}"]
    live = tmp_path / "split0" / f".stage1.ckpt.hk-tmp{os.getppid()}"  # a running process
    for p in (*stale, live):
        p.write_bytes(b"x")
    # a user's own files that merely look temporary, a link, an absurd pid: all kept
    keep = [tmp_path / "split0" / n for n in ("notes.tmp.txt", f"data.tmp{dead}",
                                              "scan.hk-tmp99999999999")]
    for p in keep:
        p.write_text("mine")
    (tmp_path / "split0" / f"link.hk-tmp{dead}").symlink_to(keep[0])
    lines = []
    RunFolder.open(tmp_path, resume=True, log=lines.append)
    assert not any(p.exists() for p in stale) and live.exists()
    assert all(p.exists() for p in keep)
    assert (tmp_path / "split0" / f"link.hk-tmp{dead}").is_symlink()
    assert lines == [f"removed 2 temporary file(s) a killed run left in {tmp_path}"]


def test_an_unwritable_out_is_refused_before_any_work(tmp_path, monkeypatch):
    """Issue 22, item 5: a read-only --out was a traceback (after a full epoch)."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(PermissionError, match="run folder .*file/run is not writable"):
        RunFolder.open(tmp_path / "file" / "run", resume=False)  # its parent is a file

    def refuse(self, data):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "write_bytes", refuse)  # a read-only folder, even for root
    with pytest.raises(PermissionError, match="Permission denied"):
        RunFolder.open(tmp_path / "ro", resume=False)


def test_manifest_may_only_name_models_inside_its_run(tmp_path):
    """Issue 22, item 4: a run.json pointing at ../../m loaded a model from outside."""
    (tmp_path / "run").mkdir()
    write_manifest(tmp_path / "run", "iqa", ["../elsewhere/model"])
    with pytest.raises(ValueError, match="outside the run folder"):
        read_manifest(tmp_path / "run")
