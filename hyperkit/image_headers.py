"""What an image file's header promises, checked without decoding its pixels.

A data-set scan lists thousands of files and should not decode them all, yet it must
not list a file that cannot be read later: a header that claims more pixels than the
budget (a decompression bomb), or a file cut short by an interrupted copy or download.
:func:`header_size` checks both from the header and the file's length: the JPEG end
marker in the last bytes, the TIFF strips and the BMP pixel array inside the file,
the PNG chunks' CRCs (Pillow's ``verify``). Other formats are checked at decode time.
"""

from __future__ import annotations

from pathlib import Path

from .images import check_pixel_budget

# A JPEG ends with the EOI marker FF D9; some writers pad after it, so the last bytes
# are searched. Entropy-coded data cannot hold FF D9 (a data FF is stuffed as FF 00), so
# a file cut inside its scan has no EOI in its tail.
_JPEG_TAIL = 4096


def header_size(path: str | Path) -> tuple[int, int]:
    """(rows, columns) of an image file from its header, after checking that the file
    is complete and within the pixel budget (:func:`hyperkit.images.max_pixels`).

    Raises:
        ValueError naming the file: unreadable header, over the budget, or truncated.
    """
    from PIL import Image

    p = Path(path)
    try:
        with Image.open(p) as im:
            w, h = im.size
            fmt = im.format
            check_pixel_budget(p, h, w)
            if fmt == "PNG":
                im.verify()  # reads every chunk and checks its CRC
            else:
                _check_length(p, im, fmt)
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001  (Pillow raises many types for bad files)
        raise ValueError(f"{p} is not a readable image: {e}") from e
    return h, w


def _check_length(p: Path, im, fmt: str | None) -> None:
    """ValueError when the file is shorter than its header says (JPEG, TIFF, BMP)."""
    size = p.stat().st_size
    if fmt == "JPEG":
        with open(p, "rb") as f:
            f.seek(max(0, size - _JPEG_TAIL))
            if b"\xff\xd9" not in f.read():
                raise ValueError(f"{p} is truncated: no JPEG end marker in its last "
                                 f"{_JPEG_TAIL} bytes ({size:,} bytes in all)")
    elif fmt == "TIFF":
        tags = im.tag_v2
        offsets, counts = tags.get(273) or tags.get(324), tags.get(279) or tags.get(325)
        if offsets and counts:
            end = max(int(o) + int(c) for o, c in zip(offsets, counts))
            if end > size:
                raise ValueError(f"{p} is truncated: its strips end at byte {end:,}, the "
                                 f"file has {size:,}")
    elif fmt == "BMP" and im.tile and im.tile[0][0] == "raw":  # RLE files: at decode
        _, (_, _, _, h), offset, args = im.tile[0]
        end = int(offset) + int(args[1]) * int(h)  # args = (raw mode, row stride, direction)
        if end > size:
            raise ValueError(f"{p} is truncated: its pixels end at byte {end:,}, the file "
                             f"has {size:,}")
