"""PreparedImages: in memory it is prepare_image per image; its file cache holds the same
tensors (float32) or those tensors rounded to float16 (the default, half the bytes), is
reused without converting again, and is refused (never overwritten) when it was made from
other files or settings; a killed writer's temporary file is removed and a full disk is
refused before writing."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import hyperkit.data.prepared as prepared_mod
from hyperkit.data.image_files import ImageFiles
from hyperkit.data.prepared import PreparedImages
from hyperkit.images import prepare_image


def arrays(seed=0):
    """RGB images of different sizes and dtypes."""
    rng = np.random.default_rng(seed)
    return [(rng.random((40, 52, 3)) * 255).astype(np.uint8),
            rng.random((33, 17, 3)).astype(np.float32),
            rng.random((70, 24, 3))]


def files(tmp_path, seed=0):
    """Three image files (two PNGs, one .npy) in tmp_path/src."""
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    ims = arrays(seed)
    paths = [d / "a.png", d / "b.npy", d / "c.png"]
    Image.fromarray(ims[0]).save(paths[0])
    np.save(paths[1], ims[1])
    Image.fromarray((ims[2] * 255).astype(np.uint8)).save(paths[2])
    return ImageFiles(paths)


SETTINGS = [dict(lcn=True, channels=None), dict(lcn=False, channels=1),
            dict(lcn=True, channels=1, max_size=(32, 32))]


def assert_same(prep, images, dtype=torch.float32, **kw):
    assert len(prep) == len(images)
    for i, im in enumerate(images):
        want = prepare_image(im, f"images[{i}]", **kw).to(dtype)
        got = prep[i]
        assert isinstance(got, torch.Tensor) and got.dtype == dtype
        assert got.device.type == "cpu" and got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("kw", SETTINGS)
def test_in_memory_is_prepare_image_per_image(kw):
    ims = arrays()
    prep = PreparedImages(ims, **kw)
    assert prep.path is None
    assert_same(prep, ims, **kw)
    assert prep.sizes == [tuple(t.shape[1:]) for t in prep.tensors]
    assert prep.nbytes == sum(t.numel() * 4 for t in prep.tensors)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("kw", SETTINGS)
def test_file_cache_holds_the_same_tensors_and_writes_two_files(tmp_path, kw, dtype):
    src = files(tmp_path)
    cache = tmp_path / "cache" / "deep" / "prep.f32"  # folders are made
    prep = PreparedImages(src, path=cache, dtype=dtype, **kw)
    assert prep.path == cache and prep.dtype == dtype
    # float16: prepare_image's float32 values rounded to nearest, bit for bit
    assert_same(prep, [src[i] for i in range(len(src))], dtype=getattr(torch, dtype), **kw)
    assert sorted(p.name for p in cache.parent.iterdir()) == ["prep.f32", "prep.f32.json"]
    size = 2 if dtype == "float16" else 4
    assert os.path.getsize(cache) == prep.nbytes == sum(h * w * prep[0].shape[0] * size
                                                        for h, w in prep.sizes)
    meta = json.loads((cache.parent / "prep.f32.json").read_text())
    assert meta["count"] == 3 and meta["lcn"] == kw["lcn"] and meta["dtype"] == dtype
    assert [tuple(s) for s in meta["shapes"]] == [tuple(t.shape) for t in prep.tensors]
    # the cache is never written through the tensors
    before = cache.read_bytes()
    prep[0].add_(1.0)
    del prep
    assert cache.read_bytes() == before


def test_cache_is_reused_without_converting_again(tmp_path, monkeypatch):
    src = files(tmp_path)
    cache = tmp_path / "prep.f32"
    calls = []
    real = prepared_mod.prepare_image

    def counting(*a, **k):
        calls.append(a[1])
        return real(*a, **k)

    monkeypatch.setattr(prepared_mod, "prepare_image", counting)
    first = PreparedImages(src, lcn=True, channels=1, path=cache)
    assert len(calls) == 3
    stamp = os.stat(cache).st_mtime_ns
    again = PreparedImages(ImageFiles(src.paths), lcn=True, channels=1, path=cache)
    assert len(calls) == 3  # nothing converted
    assert os.stat(cache).st_mtime_ns == stamp
    for a, b in zip(first.tensors, again.tensors):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert again.sizes == first.sizes and again.nbytes == first.nbytes


@pytest.mark.parametrize("kw", [dict(lcn=False, channels=1), dict(lcn=True, channels=None),
                                dict(lcn=True, channels=1, max_size=(32, 32))],
                         ids=["lcn", "channels", "max_size"])
def test_cache_made_with_other_settings_is_refused(tmp_path, kw):
    src = files(tmp_path)
    cache = tmp_path / "prep.f32"
    PreparedImages(src, lcn=True, channels=1, path=cache)
    before = cache.read_bytes(), (tmp_path / "prep.f32.json").read_text()
    with pytest.raises(FileExistsError, match="prep.f32 caches other images or settings"):
        PreparedImages(src, path=cache, **kw)
    assert (cache.read_bytes(), (tmp_path / "prep.f32.json").read_text()) == before


def test_cache_of_other_or_changed_files_is_refused(tmp_path):
    src = files(tmp_path)
    cache = tmp_path / "prep.f32"
    PreparedImages(src, lcn=False, channels=None, path=cache)
    with pytest.raises(FileExistsError, match="caches other images"):
        PreparedImages(src[:2], lcn=False, channels=None, path=cache)  # fewer files
    with pytest.raises(FileExistsError, match="caches other images"):
        PreparedImages(src[np.array([1, 0, 2])], lcn=False, channels=None, path=cache)
    # a source file rewritten (same name, other content)
    np.save(src.paths[1], np.zeros((33, 17, 3), np.float32) + 0.25)
    st = os.stat(src.paths[1])
    os.utime(src.paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(FileExistsError, match="caches other images"):
        PreparedImages(src, lcn=False, channels=None, path=cache)


def test_arrays_never_reuse_a_cache(tmp_path):
    """Arrays have no fingerprint: a cache is written for them once, then refused."""
    ims = arrays()
    cache = tmp_path / "prep.f32"
    prep = PreparedImages(ims, lcn=True, channels=None, path=cache, dtype="float32")
    assert_same(prep, ims, lcn=True, channels=None)
    with pytest.raises(FileExistsError, match="caches other images"):
        PreparedImages(ims, lcn=True, channels=None, path=cache)
    # nor does a cache made from files accept arrays
    src = files(tmp_path)
    cache2 = tmp_path / "from_files.f32"
    PreparedImages(src, lcn=True, channels=None, path=cache2)
    with pytest.raises(FileExistsError, match="caches other images"):
        PreparedImages([src[i] for i in range(3)], lcn=True, channels=None, path=cache2)


@pytest.mark.parametrize("change", [-2 * 10, 2 * 3, -1], ids=["truncated", "longer", "odd"])
def test_damaged_cache_file_is_detected(tmp_path, change):
    src = files(tmp_path)
    cache = tmp_path / "prep.f32"
    PreparedImages(src, lcn=False, channels=None, path=cache)
    data = cache.read_bytes()
    cache.write_bytes(data[:change] if change < 0 else data + b"\0" * change)
    os.utime(cache)
    with pytest.raises(ValueError, match="prep.f32 is truncated or corrupt"):
        PreparedImages(src, lcn=False, channels=None, path=cache)


def test_bad_image_is_named(tmp_path):
    ims = arrays()
    ims[1] = ims[1] * 255.0
    with pytest.raises(ValueError, match=r"train\[1\] holds values up to"):
        PreparedImages(ims, lcn=False, channels=None, name="train")
    cache = tmp_path / "prep.f32"
    with pytest.raises(ValueError, match=r"train\[1\]"):
        PreparedImages(ims, lcn=False, channels=None, name="train", path=cache)
    # a failed conversion leaves nothing (no index, no partial file): the next attempt
    # is not refused
    assert list(tmp_path.iterdir()) == []
    ims[1] = ims[1] / 255.0
    assert_same(PreparedImages(ims, lcn=False, channels=None, path=cache, dtype="float32"), ims,
                lcn=False, channels=None)


def test_legacy_float32_cache_is_read_as_float32_and_not_as_float16(tmp_path):
    """A cache written before the dtype was recorded (no 'dtype' in its index) is float32:
    read as such, refused when float16 is asked for."""
    src = files(tmp_path)
    cache = tmp_path / "prep.f32"
    first = PreparedImages(src, lcn=True, channels=None, path=cache, dtype="float32")
    index = tmp_path / "prep.f32.json"
    meta = json.loads(index.read_text())
    del meta["dtype"]
    index.write_text(json.dumps(meta))
    again = PreparedImages(ImageFiles(src.paths), lcn=True, channels=None, path=cache,
                           dtype="float32")
    for a, b in zip(first.tensors, again.tensors):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(FileExistsError, match="caches other images or settings"):
        PreparedImages(src, lcn=True, channels=None, path=cache, dtype="float16")


def test_bad_dtype_is_named():
    with pytest.raises(ValueError, match="dtype must be one of"):
        PreparedImages(arrays(), lcn=True, channels=None, dtype="bfloat16")


def test_stale_temporary_file_of_a_killed_writer_is_removed(tmp_path):
    src = files(tmp_path)
    dead = 2**22 + 12345  # above any pid_max default: no such process
    stale = tmp_path / f".prep.f16.hk-tmp{dead}"
    stale.write_bytes(b"partial")
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    PreparedImages(src, lcn=True, channels=None, path=tmp_path / "prep.f16")
    assert not stale.exists() and keep.read_text() == "mine"


def test_full_disk_is_refused_before_writing(tmp_path, monkeypatch):
    src = files(tmp_path)
    real = prepared_mod.shutil.disk_usage

    def tiny(path):
        return real(path)._replace(free=1000)

    monkeypatch.setattr(prepared_mod.shutil, "disk_usage", tiny)
    with pytest.raises(OSError, match=r"not enough disk space .*prep.f16: it needs"):
        PreparedImages(src, lcn=True, channels=None, path=tmp_path / "sub" / "prep.f16")
    assert list((tmp_path / "sub").iterdir()) == []


def test_estimate_matches_the_written_size(tmp_path):
    src = files(tmp_path)
    for kw in SETTINGS:
        est = prepared_mod._estimated_bytes(src, kw["channels"], kw.get("max_size"), 2)
        prep = PreparedImages(src, path=tmp_path / f"p{len(list(tmp_path.iterdir()))}.f16",
                              dtype="float16", **kw)
        assert est == prep.nbytes


def test_values_beyond_float16_are_refused(tmp_path, monkeypatch):
    src = files(tmp_path)
    monkeypatch.setattr(prepared_mod, "prepare_image",
                        lambda *a, **k: torch.full((3, 20, 20), 1e5))
    with pytest.raises(ValueError, match=r"outside float16's range.*dtype='float32'"):
        PreparedImages(src, lcn=True, channels=None, path=tmp_path / "prep.f16",
                       dtype="float16")
    assert not (tmp_path / "prep.f16").exists()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_open_maps_an_existing_cache_without_its_sources(tmp_path, dtype):
    src = files(tmp_path)
    cache = tmp_path / "prep.f32"
    made = PreparedImages(src, path=cache, dtype=dtype, lcn=True, channels=None)
    got = PreparedImages.open(cache)
    assert (got.path, got.dtype, got.lcn, got.channels, got.max_size) == (
        cache, dtype, True, None, None)
    assert len(got) == len(made)
    for a, b in zip(got.tensors, made.tensors):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(FileNotFoundError, match="path: .* has no index"):
        PreparedImages.open(tmp_path / "other.f32")
    (tmp_path / "x.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="path: .* is not a hyperkit-prepared-images index"):
        PreparedImages.open(tmp_path / "x")
