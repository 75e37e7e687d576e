"""Issue 22 probe cases that had no test of their own: each test names its case. The CLI
cases run `hyperkit predict` / `hyperkit explain` in process on a small hand-built model
(random weights, no training)."""

import csv
import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from hyperkit import nets
from hyperkit.cli import main
from hyperkit.model import TwoStage

S1 = "Input(16,16) - C(4) - MP(2) - C(8) - MP(4) - FC(12) - FC(1,'linear')"
S2 = "Input(3,3,12) - C(8) - MP(2) - FC(8) - FC(1,'linear')"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    return TwoStage(nets.build(S1), nets.build(S2), stage1_arch=S1, stage2_arch=S2,
                    patch=(16, 16), grid=(3, 3), lcn=False, meta={"score_meaning": "test"})


@pytest.fixture(scope="module")
def model_dir(model, tmp_path_factory):
    return model.save(tmp_path_factory.mktemp("model") / "model")


def write_png(path, seed, size=(40, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
                    ).save(path)
    return path


def png_bomb(path):
    """The probe's 74-byte PNG whose header claims 50000 x 50000 pixels."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


# ---- item 2: images


def test_a_bomb_in_a_predict_batch_is_skipped(model_dir, tmp_path):
    """Case: a 74-byte PNG bomb aborted the whole `predict` batch (later files unscored,
    no --csv written)."""
    files = [write_png(tmp_path / "a.png", 0), png_bomb(tmp_path / "b.png"),
             write_png(tmp_path / "c.png", 1)]
    with pytest.raises(SystemExit, match=r"1 input\(s\) failed, 2 scored"):
        main(["predict", str(model_dir), *map(str, files), "--csv", str(tmp_path / "s.csv")])
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [r["path"] for r in rows] == [str(files[0]), str(files[2])]


def test_a_bomb_in_an_explain_batch_is_skipped(model_dir, tmp_path):
    """Case: a 74-byte PNG bomb aborted the whole `explain` batch (later files unexplained,
    no scores.csv)."""
    files = [write_png(tmp_path / "a.png", 0), png_bomb(tmp_path / "b.png"),
             write_png(tmp_path / "c.png", 1)]
    with pytest.raises(SystemExit, match=r"1 input\(s\) failed, 2 explained"):
        main(["explain", str(model_dir), *map(str, files), "--out", str(tmp_path / "o")])
    rows = list(csv.DictReader((tmp_path / "o" / "scores.csv").open()))
    assert [r["path"] for r in rows] == [str(files[0]), str(files[2])]
    assert (tmp_path / "o" / "c.png").is_file()


def test_explain_never_writes_two_maps_to_one_file(model_dir, tmp_path):
    """Case: `explain a/x.png b/x.png` wrote both maps to the same file. The probe's two
    files are named x-0 / x-1 (tests/tasks/test_explain.py); a third input c/x-1.png
    still collides with the second."""
    files = [write_png(tmp_path / d / n, i)
             for i, (d, n) in enumerate((("a", "x.png"), ("b", "x.png"), ("c", "x-1.png")))]
    main(["explain", str(model_dir), *map(str, files), "--out", str(tmp_path / "o")])
    rows = list(csv.DictReader((tmp_path / "o" / "scores.csv").open()))
    assert len({r["png"] for r in rows}) == 3 and len({r["npy"] for r in rows}) == 3


def test_predict_csv_into_a_missing_folder_is_refused_before_scoring(model_dir, tmp_path,
                                                                     capsys):
    """Case: `predict --csv nodir/x.csv` failed with a traceback after all the scoring."""
    a = write_png(tmp_path / "a.png", 0)
    with pytest.raises(SystemExit, match="nodir"):
        main(["predict", str(model_dir), str(a), "--csv", str(tmp_path / "nodir" / "x.csv")])
    assert str(a) not in capsys.readouterr().out  # nothing was scored


# ---- item 3: datasets


def test_to_csv_refuses_the_input_csv(tmp_path):
    """Case: --to-csv onto the input CSV itself overwrote it, dropping its extra columns."""
    from hyperkit.data.iqa.csv import load_csv

    root = tmp_path / "set"
    for i in range(3):
        write_png(root / f"d{i}.png", i)
    src = tmp_path / "scores.csv"  # outside the root, so only the no-overwrite rule holds
    src.write_text("dist_name,mos,rater_notes\n"
                   + "".join(f"d{i}.png,{i + 1},note {i}\n" for i in range(3)))
    before = src.read_bytes()
    table = load_csv(root, src)
    with pytest.raises(FileExistsError):
        table.to_csv(src)
    assert src.read_bytes() == before


# ---- item 4: models


def _swap(d):
    a, b = (d / "stage1.pt").read_bytes(), (d / "stage2.pt").read_bytes()
    (d / "stage1.pt").write_bytes(b)
    (d / "stage2.pt").write_bytes(a)


def _misshape(d):
    state = torch.load(d / "stage2.pt", weights_only=True)
    state[next(iter(state))] = torch.zeros(3, 3)
    torch.save(state, d / "stage2.pt")


def _drop(d):
    state = torch.load(d / "stage2.pt", weights_only=True)
    del state[next(iter(state))]
    torch.save(state, d / "stage2.pt")


def _nan(d):
    state = torch.load(d / "stage2.pt", weights_only=True)
    name = next(iter(state))
    state[name] = torch.full_like(state[name], float("nan"))
    torch.save(state, d / "stage2.pt")


@pytest.mark.parametrize("checksums", [False, True], ids=["without-sha256", "with-sha256"])
@pytest.mark.parametrize("edit", [_swap, _misshape, _drop, _nan],
                         ids=["swapped", "mis-shaped", "missing", "nan"])
def test_broken_weights_are_a_one_line_cli_error(model, tmp_path, edit, checksums):
    """Cases: swapped, mis-shaped and missing tensors gave raw RuntimeError / KeyError
    tracebacks in the CLI; NaN weights predicted nan with exit 0. Without sha256 (a model
    from before checksums) the tensors themselves must be checked."""
    d = model.save(tmp_path / "m")
    if not checksums:
        info = json.loads((d / "model.json").read_text())
        info.pop("sha256", None)
        (d / "model.json").write_text(json.dumps(info))
    edit(d)
    a = write_png(tmp_path / "a.png", 0)
    with pytest.raises(SystemExit) as e:
        main(["predict", str(d), str(a)])
    msg = str(e.value.code)
    assert msg.startswith("hyperkit predict: error:") and "\n" not in msg, msg


# ---- item 5: files


def test_a_concurrent_predict_csv_is_not_overwritten(model_dir, tmp_path, monkeypatch):
    """Case: two `predict --csv same.csv` at once both exited 0 and one's rows were gone.
    Here the other process creates the file while this one scores."""
    target = tmp_path / "same.csv"
    real = TwoStage.predict

    def racing(self, *args, **kwargs):
        if not target.exists():
            target.write_text("theirs\n")
        return real(self, *args, **kwargs)
    monkeypatch.setattr(TwoStage, "predict", racing)
    a = write_png(tmp_path / "a.png", 0)
    with pytest.raises(SystemExit, match="same.csv"):
        main(["predict", str(model_dir), str(a), "--csv", str(target)])
    assert target.read_text() == "theirs\n"


def test_a_read_only_workdir_is_refused_before_the_first_epoch(tmp_path, monkeypatch):
    """Case: a read-only workdir failed only after a full epoch. The folder is made
    unwritable by mode and, since tests may run as root, by refusing writes into it."""
    import builtins
    import io
    import os

    from hyperkit.data import synthetic
    from hyperkit.training import TrainConfig, loop
    from hyperkit.training.recipes import train_stage1

    wd = tmp_path / "ro"
    wd.mkdir()
    wd.chmod(0o555)
    inside = str(wd.resolve())

    def under(p):
        return isinstance(p, (str, os.PathLike)) and \
            os.path.abspath(os.fspath(p)).startswith(inside)
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if under(file) and any(c in mode for c in "wax+"):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if under(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_os_open(path, flags, *args, **kwargs)

    def epoch(*args, **kwargs):
        raise AssertionError("an epoch started in a read-only workdir")
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(loop, "_run_epoch", epoch)
    d = synthetic.generate(12, 0)
    try:
        with pytest.raises(PermissionError):
            train_stage1(list(d.images[:8]), d.scores[:8], list(d.images[8:]), d.scores[8:],
                         stage1_arch=S1, patch=(16, 16), grid=(3, 3), lcn=False,
                         config=TrainConfig(epochs=1, batch_size=64, seed=0), workdir=wd,
                         log=None, progress=False)
    finally:
        wd.chmod(0o755)
