"""ImageFiles: paths until a pixel is asked for; sub-selections stay lazy; errors name
the file."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hyperkit.data.image_files as image_files_mod
from hyperkit.data.image_files import ImageFiles
from hyperkit.images import read_image


@pytest.fixture
def folder(tmp_path):
    """Four files: gray PNG, RGB PNG, 16-bit PNG, float .npy; their arrays."""
    rng = np.random.default_rng(0)
    arrays = [(rng.random((9, 11)) * 255).astype(np.uint8),
              (rng.random((7, 5, 3)) * 255).astype(np.uint8),
              (rng.random((6, 8)) * 65535).astype(np.uint16),
              rng.random((4, 6, 3)).astype(np.float32)]
    paths = [tmp_path / n for n in ("g.png", "rgb.png", "deep.png", "f.npy")]
    for p, a in zip(paths[:3], arrays[:3]):
        Image.fromarray(a).save(p)
    np.save(paths[3], arrays[3])
    return paths, arrays


@pytest.fixture
def counted(monkeypatch):
    """The paths read_image was called with, in order."""
    calls = []

    def reading(path):
        calls.append(Path(path).name)
        return read_image(path)

    monkeypatch.setattr(image_files_mod, "read_image", reading)
    return calls


def test_items_are_read_each_time_asked_and_not_before(folder, counted):
    paths, arrays = folder
    files = ImageFiles([str(p) for p in paths])  # str or Path
    assert isinstance(files, Sequence) and len(files) == 4 and counted == []
    assert files.paths == tuple(paths) and repr(files) == "ImageFiles(4 files)"
    for i, a in enumerate(arrays):
        got = files[i]
        assert got.dtype == a.dtype and got.shape == a.shape
        np.testing.assert_array_equal(got, a)
    assert counted == ["g.png", "rgb.png", "deep.png", "f.npy"]
    files[1], files[np.int64(1)], files[-1]  # nothing kept: read again
    assert counted[4:] == ["rgb.png", "rgb.png", "f.npy"]
    for got, a in zip(files, arrays):
        np.testing.assert_array_equal(got, a)
    assert len(counted) == 11


def test_missing_files_are_not_touched_until_read(tmp_path):
    files = ImageFiles([tmp_path / "nope.png", tmp_path / "also.png"])
    assert len(files) == 2 and len(files[1:]) == 1
    with pytest.raises(FileNotFoundError, match="also.png does not exist"):
        files[1]


def test_slicing_and_index_arrays_give_image_files(folder, counted):
    paths, arrays = folder
    files = ImageFiles(paths)
    for sel, want in [(slice(1, 3), [1, 2]), (slice(None, None, -1), [3, 2, 1, 0]),
                      (np.array([3, 0, 3]), [3, 0, 3]), ([2, 1], [2, 1]), ((0,), [0]),
                      (np.array([[1], [2]]), [1, 2]),
                      (np.array([True, False, False, True]), [0, 3])]:
        sub = files[sel]
        assert isinstance(sub, ImageFiles)
        assert sub.paths == tuple(paths[k] for k in want)
    assert counted == []  # none of that read a file
    sub = files[np.array([3, 0])]
    np.testing.assert_array_equal(sub[0], arrays[3])
    np.testing.assert_array_equal(sub[1], arrays[0])
    assert len(files[5:]) == 0


def test_bad_indices(folder):
    files = ImageFiles(folder[0])
    with pytest.raises(IndexError):
        files[4]
    with pytest.raises(IndexError):
        files[np.array([0, 9])]
    with pytest.raises(IndexError, match="boolean mask over 4 files"):
        files[np.array([True, False])]


@pytest.mark.parametrize("name, content", [("bad.png", b"not a png at all"),
                                           ("cut.png", None), ("bad.npy", b"\x93NUMPY junk")])
def test_unreadable_file_error_names_its_path(tmp_path, folder, name, content):
    p = tmp_path / name
    if content is None:  # a truncated PNG
        p.write_bytes(folder[0][1].read_bytes()[:60])
    else:
        p.write_bytes(content)
    files = ImageFiles([folder[0][0], p])
    files[0]
    with pytest.raises(ValueError, match=name):
        files[1]
    with pytest.raises(ValueError, match=name):
        list(files)
