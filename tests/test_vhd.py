"""VHD containers checked against qemu-img and libvhdi (pyvhdi), plus tolerant and hostile input."""

from __future__ import annotations

import json
import os
import random
import time

import pytest

from diskkit import vhd
from diskkit.errors import CorruptImage, DiskkitError, Unsupported, UsageError
from diskkit.image import open_image
from diskkit.units import GiB, MiB, TiB
from diskkit.vhd.footer import DIFFERENCING, chs_geometry
from support import diskkit, need_module, run
from support.vhd import (device_digest, file_digest, qemu_compare, qemu_size, random_writes,
                         read_header, rewrite_footer, write_bat_entry)

SIZES = [512, 3 * 512, MiB, 64 * MiB, 100 * MiB + 1536, 2 * GiB - 512,
         65535 * 16 * 63 * 512 - 512, 127 * GiB + 7 * 512, 2040 * GiB]


@pytest.mark.parametrize("vhd_type", ["fixed", "dynamic"])
@pytest.mark.parametrize("size", SIZES)
def test_qemu_sees_our_exact_size(tmp_path, vhd_type, size):
    path = tmp_path / "d.vhd"
    vhd.create(path, size, vhd_type)
    assert qemu_size(path) == size
    with open_image(path) as dev:
        assert dev.size == size and dev.container == vhd_type
    assert vhd.check(path).clean


@pytest.mark.parametrize("vhd_type", ["fixed", "dynamic"])
def test_random_writes_match_qemu_and_pyvhdi(tmp_path, vhd_type):
    size = 37 * MiB + 512 * 5
    path = tmp_path / "d.vhd"
    vhd.create(path, size, vhd_type)
    model = bytearray(size)
    with open_image(path, writable=True) as dev:
        random_writes(dev, seed=7, count=60, model=model)
        dev.write_at(size - 700, b"\x5a" * 700)
        model[-700:] = b"\x5a" * 700
    raw = tmp_path / "model.raw"
    raw.write_bytes(model)
    assert qemu_compare(path, "vpc", raw, "raw")
    assert vhd.check(path).clean
    handle = need_module("pyvhdi").file()
    handle.open(str(path))
    try:
        assert handle.get_media_size() == size
        for off in range(0, size, 4 * MiB):
            n = min(4 * MiB, size - off)
            assert handle.read_buffer_at_offset(n, off) == bytes(model[off:off + n])
    finally:
        handle.close()


@pytest.mark.parametrize("block_size", [4096, 512 * 1024, 64 * MiB])
def test_dynamic_block_sizes(tmp_path, block_size):
    size = 70 * MiB + 512
    path = tmp_path / "b.vhd"
    vhd.create(path, size, "dynamic", block_size=block_size)
    model = bytearray(size)
    with open_image(path, writable=True) as dev:
        random_writes(dev, seed=block_size, count=30, model=model)
    raw = tmp_path / "m.raw"
    raw.write_bytes(model)
    assert qemu_size(path) == size
    assert qemu_compare(path, "vpc", raw, "raw")
    assert vhd.info(path)["block_size"] == block_size


@pytest.mark.parametrize("opts", ["subformat=fixed", "subformat=dynamic",
                                  "subformat=fixed,force_size=on", "subformat=dynamic,force_size=on"])
@pytest.mark.parametrize("size", ["100M", "300M", str(7 * MiB + 3 * 512)])
def test_qemu_made_images_open_with_qemus_size_and_content(tmp_path, opts, size):
    src = tmp_path / "src.raw"
    nbytes = int(size[:-1]) * MiB if size.endswith("M") else int(size)
    rng = random.Random(size)
    with open(src, "wb") as fh:
        fh.truncate(nbytes)
        for _ in range(20):
            fh.seek(rng.randrange(0, nbytes - 10000))
            fh.write(rng.randbytes(10000))
    out = tmp_path / "q.vhd"
    run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", opts, src, out)
    expected = qemu_size(out)
    with open_image(out) as dev:
        assert dev.size == expected
        assert device_digest(dev) == file_digest(src, expected)
    assert vhd.check(out).clean


def test_zero_writes_allocate_nothing(tmp_path):
    path = tmp_path / "z.vhd"
    vhd.create(path, 64 * MiB, "dynamic")
    before = os.path.getsize(path)
    with open_image(path, writable=True) as dev:
        dev.write_at(5 * MiB, bytes(3 * MiB))
        dev.write_zeroes(0, 64 * MiB)
        assert dev.allocated_blocks == 0
        assert list(dev.allocated_ranges()) == []
        dev.write_at(3 * MiB + 17, b"x")
        [(start, length)] = dev.allocated_ranges()  # inside block 1, less the host's holes
        assert 2 * MiB <= start <= 3 * MiB + 17 < start + length <= 4 * MiB
    assert os.path.getsize(path) > before
    assert vhd.info(path)["allocated_blocks"] == 1


def test_fixed_allocated_ranges_are_host_data(tmp_path):
    path = tmp_path / "f.vhd"
    vhd.create(path, 64 * MiB, "fixed")
    with open_image(path, writable=True) as dev:
        assert list(dev.allocated_ranges()) == []
        dev.write_at(8 * MiB, b"y" * 4096)
        ranges = list(dev.allocated_ranges())
        assert ranges and all(s < 8 * MiB + 4096 and s + n > 8 * MiB for s, n in ranges)
        assert all(s + n <= 64 * MiB for s, n in ranges)


def test_create_is_sparse_instant_and_safe(tmp_path):
    big = tmp_path / "big.vhd"
    start = time.monotonic()
    vhd.create(big, 2 * TiB - 8 * GiB, "fixed")
    assert time.monotonic() - start < 0.5
    assert os.stat(big).st_blocks * 512 < MiB
    with pytest.raises(DiskkitError):
        vhd.create(big, MiB)  # exists, no force
    vhd.create(big, MiB, force=True)
    assert os.path.getsize(big) == MiB + 512
    for bad in (1000, 2041 * GiB, 0):
        with pytest.raises(UsageError):
            vhd.create(tmp_path / "bad.vhd", bad)
    with pytest.raises(UsageError):
        vhd.create(tmp_path / "bad.vhd", MiB, "dynamic", block_size=3 * MiB)
    assert sorted(os.listdir(tmp_path)) == ["big.vhd"]
    pre = tmp_path / "pre.vhd"
    vhd.create(pre, 32 * MiB, "fixed", preallocate=True)
    assert os.stat(pre).st_blocks * 512 >= 32 * MiB


def test_footer_fields_and_geometry(tmp_path):
    path = tmp_path / "g.vhd"
    vhd.create(path, 64 * MiB, "dynamic", unique_id=bytes(range(16)), timestamp=12345)
    d = vhd.info(path)
    assert (d["geometry"]["cylinders"], d["geometry"]["heads"], d["geometry"]["sectors"]) == \
        chs_geometry(64 * MiB) == (963, 8, 17)
    assert d["creator"]["application"] == "qem2"
    assert d["uuid"] == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert d["timestamp"].startswith("2000-01-01T03:25:45")
    assert d["max_table_entries"] == 32 and d["table_offset"] == 1536
    assert not d["warnings"]
    # CHS per the spec's table: the 255-sector and the 63-sector branches
    assert chs_geometry(65535 * 16 * 255 * 512 + GiB) == (65535, 16, 255)
    assert chs_geometry(2 * GiB) == (4161, 16, 63)


def test_tolerant_reads_511_byte_footer_and_d2v(tmp_path):
    path = tmp_path / "t.vhd"
    vhd.create(path, 8 * MiB, "fixed")
    with open_image(path, writable=True) as dev:
        dev.write_at(0, b"hello")
    with open(path, "r+b") as fh:
        fh.truncate(8 * MiB + 511)  # old Virtual PC wrote 511-byte footers
    with open_image(path) as dev:
        assert dev.container == "fixed" and dev.size == 8 * MiB
        assert dev.read_at(0, 5) == b"hello"
    report = vhd.check(path)
    assert report.clean and report.problems[0].severity == "warning"
    for creator in (b"d2v ", b"d2v\0"):
        other = tmp_path / f"c{creator[3]}.vhd"
        vhd.create(other, 8 * MiB + 512, "fixed")
        rewrite_footer(other, creator_app=creator)
        with open_image(other) as dev:
            assert dev.size == 8 * MiB + 512
        assert not vhd.info(other)["warnings"][1:]


def test_chs_size_mismatch_is_reported(tmp_path):
    path = tmp_path / "m.vhd"
    vhd.create(path, 64 * MiB, "fixed")
    rewrite_footer(path, creator_app=b"vpc ")
    assert qemu_size(path) == 67055616  # qemu believes the CHS for Virtual PC images
    with open_image(path) as dev:
        assert dev.size == 64 * MiB  # the footer's current size is authoritative
    report = vhd.check(path)
    assert report.clean
    assert any("CHS" in p.message and p.offset is not None for p in report.problems)
    assert any("CHS" in w for w in vhd.info(path)["warnings"])


def test_corrupt_checksums(tmp_path):
    path = tmp_path / "c.vhd"
    vhd.create(path, 8 * MiB, "fixed")
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.seek(size - 512 + 48)
        fh.write(b"\x01")
    with pytest.raises(CorruptImage, match="checksum"):
        open_image(path)
    report = vhd.check(path)
    assert not report.clean and report.problems[0].offset == size - 512
    proc = diskkit("vhd", "check", path, check=False)
    assert proc.returncode == 1
    proc = diskkit("vhd", "info", path, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("diskkit: error:")
    assert "checksum" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

    dyn_path = tmp_path / "d.vhd"
    vhd.create(dyn_path, 8 * MiB, "dynamic")
    with open(dyn_path, "r+b") as fh:
        fh.seek(512 + 32)
        fh.write(b"\x00\x00\x10\x00")  # block size changed, checksum now wrong
    with pytest.raises(CorruptImage, match="dynamic header"):
        open_image(dyn_path)
    assert any(p.offset == 512 for p in vhd.check(dyn_path).errors)


def test_damaged_trailing_footer_uses_copy(tmp_path):
    path = tmp_path / "d.vhd"
    vhd.create(path, 16 * MiB, "dynamic")
    with open_image(path, writable=True) as dev:
        dev.write_at(MiB, b"data")
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.seek(size - 512 + 100)
        fh.write(b"\xff")
    with open_image(path) as dev:
        assert dev.read_at(MiB, 4) == b"data"
    assert not vhd.check(path).clean
    with open_image(path, writable=True) as dev:  # the next allocation rewrites the footer
        dev.write_at(9 * MiB, b"more")
    assert vhd.check(path).clean


def test_truncated_dynamic_reads_raise(tmp_path):
    path = tmp_path / "t.vhd"
    vhd.create(path, 16 * MiB, "dynamic")
    with open_image(path, writable=True) as dev:
        dev.write_at(0, os.urandom(4 * MiB))
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) - MiB)
    with open_image(path) as dev:
        with pytest.raises(CorruptImage, match="BAT entry 1"):
            dev.read_at(0, 4 * MiB)
    report = vhd.check(path)
    assert any(p.where == "vhd BAT" for p in report.errors)
    with open(path, "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(DiskkitError):
        with open_image(path) as dev:
            dev.read_at(0, dev.size)


def test_hostile_bat(tmp_path):
    path = tmp_path / "h.vhd"
    vhd.create(path, 16 * MiB, "dynamic")
    with open_image(path, writable=True) as dev:
        for idx, byte in ((0, b"a"), (5, b"b"), (1, b"c")):  # allocated in this order
            dev.write_at(idx * 2 * MiB, byte * 100)
        first = dev.bat[0]
    write_bat_entry(path, 2, 0x7FFFFFF0)  # far outside the file
    write_bat_entry(path, 3, first + 8)  # overlaps blocks 0 and 5
    write_bat_entry(path, 4, 1)  # inside the header
    report = vhd.check(path)
    header = read_header(path)
    offsets = {p.offset for p in report.errors}
    assert {header.table_offset + 4 * i for i in (0, 2, 3, 4, 5)} == offsets
    with open_image(path) as dev:
        assert dev.read_at(2 * MiB, 100) == b"c" * 100
        for idx in (0, 2, 3, 4, 5):
            with pytest.raises(CorruptImage):
                dev.read_at(idx * 2 * MiB, 10)
    proc = diskkit("vhd", "check", "--json", path, check=False)
    assert proc.returncode == 1
    assert len(json.loads(proc.stdout)["problems"]) >= 4


def test_partial_bitmap_reads_zeros_for_clear_sectors(tmp_path):
    path = tmp_path / "p.vhd"
    vhd.create(path, 4 * MiB, "dynamic")
    with open_image(path, writable=True) as dev:
        dev.write_at(0, b"\x11" * 4096)
        base = dev.bat[0] * 512
    with open(path, "r+b") as fh:
        fh.seek(base)
        fh.write(b"\xa0")  # sectors 0 and 2 present, 1 and 3..7 absent
    with open_image(path, writable=True) as dev:
        data = dev.read_at(0, 4096)
        assert data == b"\x11" * 512 + bytes(512) + b"\x11" * 512 + bytes(2560)
        dev.write_at(512 * 5 + 3, b"\x22")  # sets the bit of sector 5
        assert dev.read_at(512 * 5, 512)[3] == 0x22
        assert dev.read_at(512 * 5, 512)[0] == 0x11
    with open(path, "rb") as fh:
        fh.seek(base)
        assert fh.read(1) == b"\xa4"
    report = vhd.check(path)  # the spec reads zeros there; qemu and libvhdi read the data
    assert report.clean and any("bitmap bit is clear" in p.message for p in report.problems)


def test_differencing_is_recognised(tmp_path):
    path = tmp_path / "child.vhd"
    vhd.create(path, 8 * MiB, "dynamic")
    rewrite_footer(path, both=True, disk_type=DIFFERENCING)
    from diskkit.vhd import dynamic as dyn

    header = read_header(path).replace(
        parent_unicode_name="base.vhd".encode("utf-16-be").ljust(512, b"\0"),
        parent_unique_id=bytes(range(16)))
    with open(path, "r+b") as fh:
        fh.seek(512)
        fh.write(dyn.build_header(header))
    d = vhd.info(path)
    assert d["container"] == "differencing"
    assert d["parent"]["name"] == "base.vhd"
    assert d["parent"]["uuid"] == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    with pytest.raises(Unsupported, match="base.vhd"):
        open_image(path)
    assert vhd.check(path).clean


def test_cli_create_info_json(tmp_path):
    path = tmp_path / "c.vhd"
    proc = diskkit("vhd", "create", path, "--size", "100MiB", "--type", "dynamic")
    assert "created" in proc.stdout
    info = json.loads(diskkit("vhd", "info", "--json", path).stdout)
    assert info["virtual_size"] == 100 * MiB and info["container"] == "dynamic"
    assert info["allocated_blocks"] == 0
    proc = diskkit("vhd", "create", tmp_path / "odd.vhd", "--size", str(MiB + 512))
    assert "not a multiple of 1 MiB" in proc.stderr
    proc = diskkit("vhd", "create", path, "--size", "1M", check=False)
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert json.loads(diskkit("vhd", "check", "--json", path).stdout)["clean"]
    raw = tmp_path / "r.img"
    raw.write_bytes(bytes(4096))
    assert json.loads(diskkit("vhd", "info", "--json", raw).stdout)["container"] == "raw"


def test_qemu_writes_into_ours_and_we_write_into_qemus(tmp_path):
    """Each side allocates blocks in the other's layout; the other reads them back."""
    ours = tmp_path / "ours.vhd"
    vhd.create(ours, 64 * MiB, "dynamic")
    run("qemu-io", "-f", "vpc", "-c", "write -P 0x5a 3M 100k", "-c", "write -P 0x33 40M 3M", ours)
    with open_image(ours) as dev:
        assert dev.read_at(3 * MiB, 100 * 1024) == b"\x5a" * 100 * 1024
        assert dev.read_at(40 * MiB, 3 * MiB) == b"\x33" * 3 * MiB
        assert dev.read_at(0, 3 * MiB) == bytes(3 * MiB)
    assert vhd.check(ours).clean

    theirs = tmp_path / "theirs.vhd"
    run("qemu-img", "create", "-f", "vpc", "-o", "subformat=dynamic,force_size=on", theirs, "48M")
    model = bytearray(48 * MiB)
    with open_image(theirs, writable=True) as dev:
        random_writes(dev, seed=5, count=30, model=model)
    raw = tmp_path / "model.raw"
    raw.write_bytes(model)
    assert qemu_compare(theirs, "vpc", raw, "raw")
    assert vhd.check(theirs).clean
