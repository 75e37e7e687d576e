"""header_size: an image file's size from its header, refused when truncated or over
the pixel budget, without decoding the pixels."""

import numpy as np
import pytest
from PIL import Image

from hyperkit.image_headers import header_size

FORMATS = {"jpg": "JPEG", "tif": "TIFF", "bmp": "BMP", "png": "PNG"}


def _save(path, fmt, shape=(37, 53, 3)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path, fmt)
    return path


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_complete_files_give_rows_and_columns(tmp_path, ext):
    assert header_size(_save(tmp_path / f"a.{ext}", FORMATS[ext])) == (37, 53)


@pytest.mark.parametrize("ext", sorted(FORMATS))
@pytest.mark.parametrize("keep", [0.95, 0.5])
def test_truncated_files_are_refused_naming_the_file(tmp_path, ext, keep):
    p = _save(tmp_path / f"a.{ext}", FORMATS[ext])
    data = p.read_bytes()
    p.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ValueError, match=rf"a\.{ext}"):
        header_size(p)


def test_jpeg_padding_after_the_end_marker_is_fine(tmp_path):
    p = _save(tmp_path / "a.jpg", "JPEG")
    p.write_bytes(p.read_bytes() + b"\0" * 100)
    assert header_size(p) == (37, 53)


def test_pixel_budget_and_garbage(tmp_path, monkeypatch):
    p = _save(tmp_path / "a.png", "PNG")
    monkeypatch.setenv("HYPERKIT_MAX_PIXELS", "1000")
    with pytest.raises(ValueError, match="over the budget of 1,000"):
        header_size(p)
    monkeypatch.delenv("HYPERKIT_MAX_PIXELS")
    bad = tmp_path / "b.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="b.jpg is not a readable image"):
        header_size(bad)
