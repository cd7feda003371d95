"""mkfs against fatgen103 and the oracles; images made by mkfs.fat + mcopy read and extended."""

from __future__ import annotations

import os
import random

import pytest
from support import diskkit, run
from support.fat import assert_fsck_clean, fat_tree, host_tree, mtools_tree, new_image, open_volume

from diskkit.blockdev import MemoryDevice
from diskkit.errors import UsageError
from diskkit.fat import FatFS, check, mkfs
from diskkit.fat.bootsector import parse_fsinfo
from diskkit.units import GiB, KiB, MiB


@pytest.mark.parametrize("size, forced, expect_type, expect_cluster", [
    (2 * MiB, None, 12, 1 * KiB),
    (64 * MiB, None, 16, 2 * KiB),
    (200 * MiB, None, 16, 4 * KiB),
    (512 * MiB, None, 32, 4 * KiB),
    (100 * MiB, 32, 32, 512),
    (300 * MiB, 32, 32, 4 * KiB),
    (16 * MiB, 12, 12, 8 * KiB),
    (10 * GiB, None, 32, 8 * KiB),
])
def test_types_and_default_cluster_sizes(tmp_path, size, forced, expect_type, expect_cluster):
    img = new_image(tmp_path / "m.img", size)
    dev = open_volume(img)
    layout = mkfs(dev, fat_type=forced, label="T")
    dev.close()
    assert (layout.fat_type, layout.cluster_size) == (expect_type, expect_cluster)
    assert layout.expected_type() == expect_type  # the cluster count agrees with the type
    assert_fsck_clean(img)
    info = run("minfo", "-i", img, "::").stdout
    assert f'disk type="FAT{expect_type}   "' in info
    assert os.stat(img).st_blocks * 512 < 8 * MiB + size // 256  # metadata only, rest holes


def test_fat32_layout_fields(tmp_path):
    img = new_image(tmp_path / "m.img", 512 * MiB)
    dev = open_volume(img)
    layout = mkfs(dev, label="EFI SYSTEM", volume_id=0xDEADBEEF)
    raw = open(img, "rb").read(16 * 512)
    assert raw[0:512] == raw[6 * 512:7 * 512]  # backup boot sector at 6
    assert raw[512:1024] == raw[7 * 512:8 * 512]  # backup FSInfo at 7
    assert int.from_bytes(raw[14:16], "little") == 32 and raw[16] == 2 and raw[21] == 0xF8
    info = parse_fsinfo(raw[512:1024])
    assert info.free_count == layout.cluster_count - 1 and info.next_free == 3
    assert raw[510:512] == b"\x55\xaa" and b"not a bootable disk" in raw[90:510]
    assert raw[71:82] == b"EFI SYSTEM "
    with FatFS(dev) as fs:
        assert fs.label == "EFI SYSTEM"
        fs.write_file("/f", bytes(10000))
    info = parse_fsinfo(open(img, "rb").read(1024)[512:])
    assert info.free_count == layout.cluster_count - 1 - 3
    dev.close()
    assert run("mlabel", "-i", img, "-s", "::").stdout.strip().endswith("EFI SYSTEM")
    assert "serial number: DEADBEEF" in run("minfo", "-i", img, "::").stdout
    assert_fsck_clean(img)


def test_refusals(tmp_path):
    dev = MemoryDevice(20 * MiB)
    with pytest.raises(UsageError, match="65,525"):
        mkfs(dev, fat_type=32)
    with pytest.raises(UsageError, match="FAT16 needs 4,085"):
        mkfs(MemoryDevice(2 * MiB), fat_type=16)
    with pytest.raises(UsageError, match="power of two"):
        mkfs(dev, cluster_size=3000)
    with pytest.raises(UsageError, match="label"):
        mkfs(dev, label="far too long a label")
    img = new_image(tmp_path / "s.img", 20 * MiB)
    proc = diskkit("fat", "mkfs", img, "--fat", "32", check=False)
    assert proc.returncode == 2 and "UEFI" in proc.stderr


def test_boot_code_stub_prints_message():
    """The stub's string address is where the message really is (0x7C00 + its offset)."""
    dev = MemoryDevice(64 * MiB)
    mkfs(dev, fat_type=16)
    boot = bytes(dev.buf[:512])
    code = boot[62:]
    assert boot[0:3] == b"\xeb\x3c\x90"
    addr = int.from_bytes(code[5:7], "little") - 0x7C00
    assert boot[addr:boot.index(b"\x00", addr)].startswith(b"This is not a bootable disk")


def test_deterministic_volume_id(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    ids = {mkfs(MemoryDevice(8 * MiB)).volume_id for _ in range(2)}
    assert len(ids) == 1
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert mkfs(MemoryDevice(8 * MiB)).volume_id != mkfs(MemoryDevice(8 * MiB)).volume_id


@pytest.mark.parametrize("fat_args", [
    ("-F", "12"), ("-F", "12", "-s", "4"), ("-F", "16"), ("-F", "16", "-s", "16"),
    ("-F", "32"), ("-F", "32", "-s", "1"), ("-F", "32", "-s", "16"),
], ids=lambda a: "".join(a).replace("-", ""))
def test_mkfs_fat_images_read_exactly_and_extended(tmp_path, fat_args):
    """An image made by mkfs.fat and filled by mcopy: diskkit reads it all, adds, fsck stays clean."""
    size = {"12": 8 * MiB, "16": 48 * MiB, "32": 80 * MiB}[fat_args[1]]
    if fat_args == ("-F", "32", "-s", "16"):
        size = 600 * MiB  # FAT32 needs 65,525 clusters of 8 KiB
    img = new_image(tmp_path / "ext.img", size)
    run("mkfs.fat", *fat_args, "-n", "FOREIGN", img)
    src = tmp_path / "src"
    (src / "Sub Dir" / "nested").mkdir(parents=True)
    rnd = random.Random(7)
    (src / "Sub Dir" / "nested" / "Long Name Inside.bin").write_bytes(rnd.randbytes(70000))
    (src / "small.txt").write_bytes(b"small")
    (src / "lower.cfg").write_bytes(b"cfg")
    for i in range(30):
        (src / "Sub Dir" / f"many files {i}.dat").write_bytes(rnd.randbytes(i * 100))
    run("mcopy", "-i", img, "-s", "-m", str(src), "::/")
    dev = open_volume(img)
    with FatFS(dev) as fs:
        assert fs.label == "FOREIGN"
        from_host = {"src": None, **{f"src/{k}": v for k, v in host_tree(str(src)).items()}}
        assert fat_tree(fs) == from_host == mtools_tree(img)
        fs.mkdir("/src/added/by diskkit", parents=True)
        fs.write_file("/src/added/by diskkit/Extra File.txt", rnd.randbytes(5000))
        fs.remove("/src/Sub Dir/many files 3.dat")
        fs.rename("/src/small.txt", "/src/Sub Dir/renamed small.txt")
        expected = fat_tree(fs)
    assert check(dev).clean
    dev.close()
    assert_fsck_clean(img)
    assert mtools_tree(img) == expected
