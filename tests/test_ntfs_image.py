"""Whole-image operations that know NTFS: info and check (used/free, dirty flag, a volume
larger than its partition, a misplaced backup boot sector, one smaller than its partition),
and resize (a shrink never cuts used clusters; a grow says how to grow the filesystem).

Oracles: ntfsinfo (used/free), ntfsresize (min size, and growing the volume as the printed
command does), ntfsfix -n, fsck.fat -n, sgdisk -v.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from diskkit import part
from diskkit.blockdev import FileDevice
from diskkit.image import open_image
from diskkit.ops.resize import ntfsresize_command
from support import diskkit, need_tool, run
from support.ntfs import leftover_disk, make_tree

MiB = 1 << 20


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    for tool in ("mkntfs", "wimapply", "ntfsinfo"):
        need_tool(tool)
    tmp = tmp_path_factory.mktemp("ntfs-image")
    make_tree(str(tmp / "src"), seed=3, files=40, depth=2, max_size=300_000)
    image = str(tmp / "disk.img")
    where = leftover_disk(image, str(tmp / "src"))
    return {"image": image, **where}


@pytest.fixture
def disk(pristine, tmp_path):
    image = tmp_path / "disk.img"
    shutil.copyfile(pristine["image"], image)
    return {**pristine, "image": str(image)}


def volume_file(image: str, start: int, size: int, out) -> str:
    with open(image, "rb") as src, open(out, "wb") as dst:
        src.seek(start)
        dst.write(src.read(size))
    return str(out)


def ntfsinfo(volume: str) -> dict:
    out = run("ntfsinfo", "--force", "-m", volume).stdout  # --force: read a dirty one too
    field = {name: int(re.search(rf"{name}:\s+(\d+)", out).group(1))
             for name in ("Cluster Size", "Volume Size in Clusters", "Free Clusters")}
    cs = field["Cluster Size"]
    return {"free_bytes": field["Free Clusters"] * cs,
            "used_bytes": (field["Volume Size in Clusters"] - field["Free Clusters"]) * cs}


def test_info_and_check_show_used_free_and_dirty_flag(disk, tmp_path):
    theirs = ntfsinfo(volume_file(disk["image"], *disk["ntfs"], tmp_path / "v.ntfs"))
    info = json.loads(diskkit("info", "--json", disk["image"]).stdout)
    fs = info["partitions"][1]["filesystem"]
    assert fs["type"] == "ntfs" and fs["dirty"] is False and fs["unclean"] is None
    assert (fs["used_bytes"], fs["free_bytes"]) == (theirs["used_bytes"], theirs["free_bytes"])
    text = diskkit("info", disk["image"]).stdout
    assert re.search(r"ntfs, [\d.]+ MiB free of 40 MiB, clean", text)
    check = diskkit("check", disk["image"])
    assert "partition 2: NTFS 3.1" in check.stdout and "dirty flag clear" in check.stdout
    facts = json.loads(diskkit("check", "--json", disk["image"]).stdout)
    assert facts["clean"] and facts["ntfs_checked"] == ["partition 2"]
    assert facts["ntfs"]["partition 2"]["free_bytes"] == theirs["free_bytes"]


def test_hibernated_windows_shown_as_not_clean(disk, tmp_path):
    start, size = disk["ntfs"]
    volume = volume_file(disk["image"], start, size, tmp_path / "v.ntfs")
    hiber = tmp_path / "hiberfil.sys"
    hiber.write_bytes(b"HIBR" + bytes(8188))
    run("ntfscp", volume, hiber, "/hiberfil.sys")
    with open(volume, "rb") as src, open(disk["image"], "r+b") as dst:
        dst.seek(start)
        dst.write(src.read())
    info = diskkit("info", disk["image"]).stdout
    assert "not clean" in info and "hibernated" in info
    check = diskkit("check", disk["image"])
    assert check.returncode == 0 and "warning: partition 2: ntfs: Windows is hibernated" in check.stdout
    shrink = diskkit("resize", disk["image"], "--size", "50M", "--force", check=False)
    assert shrink.returncode != 0 and "hibernated" in shrink.stderr
    assert "not cut even with --force" in shrink.stderr


def test_check_reports_filesystems_larger_than_their_partition(disk):
    """Partition 2 (NTFS) and 1 (FAT) made 1 MiB shorter than their filesystems claim."""
    with open_image(disk["image"], writable=True) as dev:
        part.resize_partition(dev, 2, 39 * MiB)
        part.resize_partition(dev, 1, 15 * MiB)
    out = diskkit("check", disk["image"], check=False)
    assert out.returncode == 1
    assert re.search(r"error: partition 2: ntfs boot sector: the filesystem claims \d+ bytes "
                     r"\(\d+ sectors\) but its partition holds only", out.stdout), out.stdout
    assert "error: partition 1: fat boot sector" in out.stdout and "claims" in out.stdout


def test_check_reports_a_misplaced_backup_boot_sector(disk):
    start, size = disk["ntfs"]
    with open(disk["image"], "r+b") as fh:
        fh.seek(start + size - 512)
        fh.write(bytes(512))
    out = diskkit("check", disk["image"], check=False)
    assert out.returncode == 1
    assert "ntfs backup boot sector" in out.stdout and "not where the boot sector says" in out.stdout


def test_shrink_refuses_to_cut_used_clusters_even_forced(disk):
    start, size = disk["ntfs"]
    with FileDevice(disk["image"]) as dev:
        from diskkit.filesystems import space

        fs = space(part.partition_device(dev, 2))
    refused = diskkit("resize", disk["image"], "--size", "30M", check=False)
    whole = start + size + 33 * 512
    assert refused.returncode == 2
    assert f"keeps them whole is {whole / MiB:.2f} MiB ({whole} bytes)" in refused.stderr
    assert "NTFS can shrink to" in refused.stderr and "ntfsresize --size" in refused.stderr
    keep = -(-(start + fs.data_end) // 512) * 512 + 33 * 512
    forced = diskkit("resize", disk["image"], "--size", str(keep - 512), "--force", check=False)
    assert forced.returncode == 2 and "--force never cuts data" in forced.stderr
    assert "the smallest size that keeps them is" in forced.stderr
    assert f"({keep} bytes)" in forced.stderr
    before = open(disk["image"], "rb").read()
    assert len(before) == 2 * MiB + 56 * MiB


def test_min_size_hint_matches_ntfsresize(disk, tmp_path):
    volume = volume_file(disk["image"], *disk["ntfs"], tmp_path / "v.ntfs")
    out = run("ntfsresize", "--info", "--force", volume, check=False).stdout
    theirs = int(re.search(r"might resize at (\d+) bytes", out).group(1))
    refused = diskkit("resize", disk["image"], "--size", "30M", check=False)
    assert "NTFS can shrink to" in refused.stderr and f"({theirs} bytes)" in refused.stderr


def test_grow_says_how_to_grow_ntfs_and_check_notes_it(disk, tmp_path):
    out = json.loads(diskkit("resize", "--json", disk["image"], "--size", "+16M",
                             "--grow-part", "2").stdout)
    note, = out["notes"]
    assert "partition 2: its NTFS is 40 MiB of the 56.98 MiB partition" in note
    assert "select partition 2, extend filesystem" in note
    assert "ramos script extend" in note
    assert ntfsresize_command(disk["image"], "raw", 2) in note
    check = diskkit("check", disk["image"])
    assert check.returncode == 0 and "filesystem smaller than partition" in check.stdout
    # what the printed command does through its loop device, done on the partition's bytes
    with FileDevice(disk["image"]) as dev:
        p = part.read_table(dev).partitions[1]
    volume = volume_file(disk["image"], p.start, p.size, tmp_path / "p2.ntfs")
    run("ntfsresize", "--force", volume)
    run("ntfsfix", "-n", volume)
    assert ntfsinfo(volume)["used_bytes"] + ntfsinfo(volume)["free_bytes"] > 55 * MiB
    with open(volume, "rb") as src, open(disk["image"], "r+b") as dst:
        dst.seek(p.start)
        dst.write(src.read())
    after = diskkit("check", disk["image"])
    assert "smaller than partition" not in after.stdout
    assert "dirty" in after.stdout  # ntfsresize asks Windows for one chkdsk


def test_whole_disk_ntfs_grow_command_runs_as_printed(tmp_path):
    from support.ntfs import mkntfs

    image = mkntfs(str(tmp_path / "whole.img"), 16 * MiB)
    out = json.loads(diskkit("resize", "--json", image, "--size", "32M").stdout)
    note, = out["notes"]
    command = ntfsresize_command(image, "raw", None)
    assert command in note and command == f"ntfsresize --force {image}"
    run(*command.split())
    assert ntfsinfo(image)["used_bytes"] + ntfsinfo(image)["free_bytes"] >= 31 * MiB
    assert not json.loads(diskkit("resize", "--json", image, "--size", "32M").stdout)["notes"]


def test_vhd_grow_command_names_qemu_nbd(tmp_path):
    command = ntfsresize_command("/x/win 1.vhd", "dynamic", 3)
    assert command == ("sudo modprobe nbd && sudo qemu-nbd --connect=/dev/nbd0 --format=vpc "
                       "'/x/win 1.vhd' && sudo ntfsresize --force /dev/nbd0p3; "
                       "sudo qemu-nbd --disconnect /dev/nbd0")
