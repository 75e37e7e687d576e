"""Atomic writes: a crash or an error leaves the old file or the new one, never a torn one
and never a temporary file."""

import pytest
import torch

from hyperkit.files import load_torch, save_torch, write_atomic, write_text


def no_temp_files(folder):
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_write_text_and_replace(tmp_path):
    p = write_text(tmp_path / "a.txt", "first é")
    assert p == tmp_path / "a.txt" and p.read_text(encoding="utf-8") == "first é"
    write_text(p, "second")
    assert p.read_text() == "second" and no_temp_files(tmp_path)


def test_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "a.bin"
    write_atomic(p, lambda f: f.write(b"old"))

    def boom(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(p, boom)
    assert p.read_bytes() == b"old" and no_temp_files(tmp_path)
    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "new.bin", boom)
    assert not (tmp_path / "new.bin").exists() and no_temp_files(tmp_path)


def test_save_and_load_torch(tmp_path):
    obj = {"w": torch.arange(5.0), "meta": {"epoch": 3, "name": "x"}, "list": [1.5, 2]}
    save_torch(obj, tmp_path / "c.pt")
    back = load_torch(tmp_path / "c.pt")
    assert torch.equal(back["w"], obj["w"]) and back["meta"] == obj["meta"]
    assert back["list"] == obj["list"] and no_temp_files(tmp_path)


def test_load_torch_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_torch(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt or not a hyperkit checkpoint"):
        load_torch(tmp_path / "bad.pt")
    torch.save({"f": print}, tmp_path / "unsafe.pt")  # not loadable with weights_only
    with pytest.raises(ValueError, match="corrupt"):
        load_torch(tmp_path / "unsafe.pt")
