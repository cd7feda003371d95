"""Units, the block-device layer, safe outputs and the CLI's error contract."""

import mmap
import os

import pytest
from hypothesis import given, strategies as st

from diskkit.blockdev import (DIRECT_MIN, FileDevice, MemoryDevice, SliceDevice, is_zero,
                              merged_ranges)
from diskkit.errors import AlreadyExists, CorruptImage, DiskkitError, UsageError
from diskkit.fileio import atomic_output, temp_name
from diskkit.units import GiB, MiB, format_size, parse_rate, parse_size
from support import diskkit


@pytest.mark.parametrize("text,value", [
    ("512", 512), ("64M", 64 * MiB), ("5G", 5 * GiB), ("1.5T", 1536 * GiB),
    ("100MiB", 100 * MiB), ("4GB", 4 * 10**9), ("2048s", MiB), ("1K", 1024), ("7b", 7),
])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["", "abc", "5X", "-1", "0.3"])
def test_parse_size_rejects(bad):
    with pytest.raises(UsageError):
        parse_size(bad)


def test_format_and_rate():
    assert format_size(5 * GiB) == "5 GiB"
    assert format_size(3 * MiB // 2) == "1.5 MiB"
    assert format_size(100) == "100 B"
    assert parse_rate("1GB/s") == 1e9
    assert parse_rate("500MiB/s") == 500 * MiB


@given(st.integers(min_value=0, max_value=2**50))
def test_size_roundtrip_bytes(n):
    assert parse_size(str(n)) == n


def test_file_device_rw_and_holes(tmp_path):
    path = tmp_path / "raw.img"
    with open(path, "wb") as fh:
        fh.truncate(64 * MiB)
    with FileDevice(str(path), writable=True) as dev:
        assert dev.size == 64 * MiB
        dev.write_at(10 * MiB, b"hello")
        assert dev.read_at(10 * MiB, 5) == b"hello"
        with pytest.raises(CorruptImage):
            dev.read_at(64 * MiB - 2, 4)
        ranges = list(dev.allocated_ranges())
        assert sum(n for _, n in ranges) < 64 * MiB  # the hole is seen
        assert len(ranges) == 1
        off, length = ranges[0]
        assert off <= 10 * MiB and 10 * MiB + 5 <= off + length
        view = memoryview(bytearray(length))
        dev.read_into(off, view)
        assert view[10 * MiB - off:10 * MiB - off + 5] == b"hello"
        with pytest.raises(CorruptImage):
            dev.write_zeroes(64 * MiB - 512, 1024)


def test_direct_writes_read_back(tmp_path):
    """After write_direct, large aligned writes from page-aligned buffers go O_DIRECT; bytes
    objects and odd sizes fall back to the page cache; every byte reads back as written,
    through the same device and from a fresh open."""
    path = tmp_path / "direct.img"
    with open(path, "wb") as fh:
        fh.truncate(8 * MiB)
    model = bytearray(8 * MiB)
    aligned = mmap.mmap(-1, MiB)
    aligned[:] = os.urandom(MiB)
    writes = [(MiB, aligned),                                 # direct
              (MiB + 100, b"buffered inside a direct range"),
              (4 * MiB + 4096, os.urandom(DIRECT_MIN + 512)),   # odd length: buffered
              (6 * MiB, os.urandom(MiB))]                      # bytes: not aligned in memory
    with FileDevice(str(path), writable=True) as dev:
        dev.region.write_direct()
        for offset, data in writes:
            dev.write_at(offset, data)
            model[offset:offset + len(data)] = data
        dev.region.pwritev(7 * MiB - 512, [b"\1" * 512, memoryview(aligned)[:MiB // 2]])
        model[7 * MiB - 512:7 * MiB + MiB // 2] = b"\1" * 512 + aligned[:MiB // 2]
        assert dev.read_at(0, 8 * MiB) == model
    assert path.read_bytes() == model


def test_readonly_refuses_write(tmp_path):
    path = tmp_path / "raw.img"
    path.write_bytes(bytes(4096))
    with FileDevice(str(path)) as dev, pytest.raises(UsageError):
        dev.write_at(0, b"x")


def test_slice_device_bounds():
    parent = MemoryDevice(8192)
    part = SliceDevice(parent, 1024, 2048)
    part.write_at(0, b"abc")
    assert parent.read_at(1024, 3) == b"abc"
    with pytest.raises(CorruptImage):
        part.write_at(2047, b"xx")
    with pytest.raises(CorruptImage):
        SliceDevice(parent, 8000, 1000)


def test_is_zero():
    assert is_zero(bytes(1 << 20))
    assert not is_zero(bytes(1 << 20) + b"\1")


def test_atomic_output(tmp_path):
    target = tmp_path / "out.img"
    with pytest.raises(RuntimeError):
        with atomic_output(str(target)) as tmp:
            open(tmp, "wb").write(b"partial")
            raise RuntimeError("boom")
    assert not target.exists() and not os.path.exists(temp_name(str(target)))
    with atomic_output(str(target)) as tmp:
        open(tmp, "wb").write(b"done")
    assert target.read_bytes() == b"done"
    with pytest.raises(AlreadyExists):
        with atomic_output(str(target)):
            pass


def test_error_hierarchy():
    for cls in (UsageError, CorruptImage, AlreadyExists):
        assert issubclass(cls, DiskkitError)


def test_cli_help_and_version():
    assert "COMMAND" in diskkit("--help").stdout
    assert diskkit("--version").stdout.startswith("diskkit ")


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(1, 40)), max_size=30))
def test_merged_ranges_cover_the_same_bytes_in_disjoint_runs(ranges):
    ranges = sorted(ranges)
    merged = list(merged_ranges(ranges))
    covered = {b for start, n in ranges for b in range(start, start + n)}
    assert {b for start, n in merged for b in range(start, start + n)} == covered
    assert all(a[0] + a[1] < b[0] for a, b in zip(merged, merged[1:]))  # apart, in order
