"""`diskkit info` / `diskkit check` against blkid, fsck.fat, mkfs tools and qemu-img."""

from __future__ import annotations

import json
import os
import re

import pytest
from support import diskkit, run
from support.part import make_image

from diskkit import part
from diskkit.ops import inspect
from diskkit.image import open_image
from diskkit.units import MiB


def put_fs(img: str, index: int, tmp_path, *mkfs) -> None:
    """Format a host file with a real mkfs tool and copy it into partition ``index``."""
    with open_image(img) as dev:
        size = part.partition_device(dev, index).size
    fs = tmp_path / f"fs{index}.img"
    with open(fs, "wb") as fh:
        fh.truncate(size)
    run(*mkfs, fs)
    with open_image(img, writable=True) as dev:
        part.partition_device(dev, index).write_at(0, fs.read_bytes())
    fs.unlink()


def blkid(path: str, offset: int) -> dict:
    out = run("blkid", "-p", "-o", "export", "-O", str(offset), path, check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def info(img: str) -> dict:
    return json.loads(diskkit("info", img, "--json").stdout)


@pytest.fixture(scope="module")
def mixed_disk(tmp_path_factory):
    """GPT: ESP FAT32, ext4, swap, NTFS, FAT16 data and an empty partition."""
    tmp_path = tmp_path_factory.mktemp("mixed")
    img = make_image(tmp_path, "raw", 256 * MiB)
    diskkit("part", "init", img, "--gpt")
    for kind, size in (("esp", "40M"), ("linux", "32M"), ("linux-swap", "8M"),
                       ("windows", "24M"), ("windows", "20M"), ("linux", "8M")):
        diskkit("part", "add", img, "--type", kind, "--size", size)
    put_fs(img, 1, tmp_path, "mkfs.fat", "-F", "32", "-s", "1", "-n", "EFISYS")
    put_fs(img, 2, tmp_path, "mkfs.ext4", "-q", "-L", "rootfs")
    put_fs(img, 3, tmp_path, "mkswap", "-L", "swappy")
    put_fs(img, 4, tmp_path, "mkntfs", "-q", "-F", "-L", "Windows")
    put_fs(img, 5, tmp_path, "mkfs.fat", "-F", "16", "-n", "DATA16")
    return img


def test_info_filesystems_agree_with_blkid(mixed_disk):
    data = info(mixed_disk)
    kinds = {"vfat": None, "ext4": "ext4", "swap": "swap", "ntfs": "ntfs"}
    for p in data["partitions"]:
        theirs = blkid(mixed_disk, p["start"])
        fs = p["filesystem"]
        if not theirs.get("TYPE"):
            assert fs is None, p
            continue
        expected = kinds[theirs["TYPE"]] or "fat" + theirs["VERSION"][3:]  # FAT32 -> fat32
        assert fs["type"] == expected
        assert fs.get("label") == theirs.get("LABEL"), (fs, theirs)
        assert fs["uuid"].lower() == theirs["UUID"].lower()
    assert [p["filesystem"] and p["filesystem"]["type"] for p in data["partitions"]] == \
        ["fat32", "ext4", "swap", "ntfs", "fat16", None]
    esp = data["partitions"][0]["filesystem"]
    assert esp["clusters"] >= 65525 and 0 < esp["free_bytes"] <= esp["total_bytes"]
    assert data["container"]["container"] == "raw" and data["warnings"] == []


def test_info_fat_free_space_matches_mtools(mixed_disk):
    fat = info(mixed_disk)["partitions"][4]
    for p in (info(mixed_disk)["partitions"][0], fat):
        out = run("mdir", "-i", f"{mixed_disk}@@{p['start']}", "::").stdout
        free = int(re.search(r"([\d ]+) bytes free", out).group(1).replace(" ", ""))
        assert p["filesystem"]["free_bytes"] == free


def test_check_runs_every_layer(mixed_disk, tmp_path):
    report = json.loads(diskkit("check", mixed_disk, "--json").stdout)
    assert report["clean"] and report["table"] == "gpt"
    assert report["fat_checked"] == ["partition 1", "partition 5"]
    broken = str(tmp_path / "broken.img")
    with open(mixed_disk, "rb") as src, open(broken, "wb") as dst:
        dst.write(src.read())
    start = info(broken)["partitions"][4]["start"]
    with open(broken, "r+b") as fh:  # FAT16 partition: cluster 100 allocated, owned by nobody
        fh.seek(start)
        boot = fh.read(512)
        reserved, fat_sectors = int.from_bytes(boot[14:16], "little"), int.from_bytes(
            boot[22:24], "little")
        for copy in range(2):
            fh.seek(start + (reserved + copy * fat_sectors) * 512 + 100 * 2)
            fh.write(b"\xff\xff")
    proc = diskkit("check", broken, "--json", check=False)
    assert proc.returncode == 1
    problems = json.loads(proc.stdout)["problems"]
    assert problems and all(p["where"].startswith("partition 5") for p in problems)
    fat = tmp_path / "p5.fat"
    with open(broken, "rb") as fh:
        fh.seek(start)
        fat.write_bytes(fh.read(20 * MiB))
    assert run("fsck.fat", "-n", fat, check=False).returncode != 0  # the oracle agrees


@pytest.mark.parametrize("container", ["fixed", "dynamic"])
def test_info_and_check_on_vhd(tmp_path, container):
    img = make_image(tmp_path, container, 96 * MiB)
    diskkit("part", "init", img, "--gpt")
    diskkit("part", "add", img, "--type", "esp", "--size", "40M")
    diskkit("fat", "mkfs", img, "--part", "1", "--fat", "32", "--label", "ESP")
    data = info(img)
    assert data["container"]["container"] == container
    assert data["container"]["virtual_size"] == json.loads(run(
        "qemu-img", "info", "-f", "vpc", "--output=json", img).stdout)["virtual-size"]
    assert data["partitions"][0]["filesystem"]["label"] == "ESP"
    assert diskkit("check", img).returncode == 0
    with open(img, "r+b") as fh:  # break the footer checksum
        fh.seek(-512 + 64, os.SEEK_END)
        fh.write(b"\0\0\0\0")
    proc = diskkit("check", img, "--json", check=False)
    assert proc.returncode == 1 and "footer" in proc.stdout


def test_warnings_backup_not_at_end_and_small_esp(tmp_path):
    img = make_image(tmp_path, "raw", 64 * MiB)
    diskkit("part", "init", img, "--gpt")
    diskkit("part", "add", img, "--type", "esp", "--size", "24M")
    diskkit("part", "add", img, "--type", "esp", "--size", "36M")
    put_fs(img, 1, tmp_path, "mkfs.fat", "-F", "16")
    put_fs(img, 2, tmp_path, "mkfs.fat", "-F", "32", "-s", "8")  # ~9000 clusters
    os.truncate(img, 80 * MiB)
    warnings = info(img)["warnings"]
    assert any("backup header" in w and "not at the disk's last LBA" in w for w in warnings)
    assert any("partition 1 (ESP): FAT16" in w and "too small" in w for w in warnings)
    assert any("partition 2 (ESP): FAT32 with only" in w for w in warnings)
    report = json.loads(diskkit("check", img, "--json", check=False).stdout)
    errors = [p["where"] for p in report["problems"] if p["severity"] == "error"]
    # sgdisk -v counts a backup GPT short of the disk's end as a problem; the rest: warnings
    assert errors and all(w.startswith("partition 2") or w == "gpt backup header" for w in errors)


def test_whole_disk_fat_and_empty_image(tmp_path):
    img = make_image(tmp_path, "raw", 16 * MiB)
    assert info(img)["filesystem"] is None and info(img)["table"] is None
    run("mkfs.fat", "-F", "12", "-n", "FLOPPY", img)
    data = info(img)
    assert data["table"] is None and data["filesystem"]["type"] == "fat12"
    assert data["filesystem"]["label"] == blkid(img, 0)["LABEL"]
    report = json.loads(diskkit("check", img, "--json").stdout)
    assert report["fat_checked"] == ["whole disk"]


@pytest.mark.parametrize("sector_size", [512, 4096])
def test_min_fat32_size_is_the_smallest_formattable(tmp_path, sector_size):
    """At the size diskkit calls the minimum, a FAT32 of one-sector clusters has >= 65525
    clusters and fsck.fat accepts it; one sector less cannot hold one."""
    from diskkit.blockdev import FileDevice
    from diskkit.errors import DiskkitError
    from diskkit.fat import mkfs

    size = inspect.min_fat32_size(sector_size)
    img = make_image(tmp_path, "raw", size)
    with FileDevice(img, writable=True, sector_size=sector_size) as dev:
        mkfs(dev, fat_type=32, cluster_size=sector_size)
    if sector_size == 512:
        run("fsck.fat", "-n", img)
        assert info(img)["filesystem"]["clusters"] >= 65525
    os.truncate(img, size - sector_size)
    with FileDevice(img, writable=True, sector_size=sector_size) as dev:
        with pytest.raises(DiskkitError, match="65,525"):
            mkfs(dev, fat_type=32, cluster_size=sector_size)


def test_chs_size_mismatch_warned_as_qemu_sees_it(tmp_path):
    """A footer from a creator qemu does not trust: qemu-img takes the size from CHS; info
    warns with exactly that size and names the GPT structures past it."""
    from diskkit.vhd.footer import build_footer, parse_footer

    img = make_image(tmp_path, "fixed", 64 * MiB)
    diskkit("part", "init", img, "--gpt")
    diskkit("part", "add", img, "--type", "linux", "--size", "rest")
    with open(img, "r+b") as fh:
        fh.seek(-512, os.SEEK_END)
        footer = parse_footer(fh.read(512)).replace(creator_app=b"dkt ")
        fh.seek(-512, os.SEEK_END)
        fh.write(build_footer(footer))
    qemu_size = json.loads(run("qemu-img", "info", "-f", "vpc", "--output=json", img).stdout)[
        "virtual-size"]
    assert qemu_size < 64 * MiB
    warnings = info(img)["warnings"]
    assert any("CHS" in w for w in warnings)
    seen = [w for w in warnings if "qemu sees" in w]
    assert seen and str(qemu_size) in seen[0] and "backup GPT" in seen[0]
    assert "partition 1" in seen[0]
