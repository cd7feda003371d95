"""`diskkit part resize` never cuts a filesystem: below its size only with --force, below its
used clusters never. Tables by sfdisk, filesystems by mkfs.fat + mcopy and mkntfs, results
judged by fsck.fat -n and ntfsfix -n."""

from __future__ import annotations

import hashlib

import pytest
from support import diskkit, need_tool, run

from diskkit import part
from diskkit.image import open_image
from diskkit.units import MiB

FAT_PART, NTFS_PART = 24 * MiB, 40 * MiB  # partitions larger than the filesystems inside
FAT_SIZE, NTFS_SIZE = 16 * MiB, 30 * MiB


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """Partition 1: a FAT16 holding a 3 MiB file; partition 2: an empty NTFS (its MFT mirror
    sits mid-volume, so its used clusters end far past its minimum size)."""
    for tool in ("sfdisk", "mkfs.fat", "mcopy", "mkntfs"):
        need_tool(tool)
    work = tmp_path_factory.mktemp("guard")
    img = work / "disk.img"
    with open(img, "wb") as fh:
        fh.truncate(72 * MiB)
    run("sfdisk", "-q", img, input=(
        "label: gpt\n"
        f"start=2048, size={FAT_PART // 512}, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n"
        f"start={2048 + FAT_PART // 512}, size={NTFS_PART // 512}, "
        "type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n").encode())
    fat, ntfs, payload = work / "fat.img", work / "ntfs.img", work / "big.bin"
    for path, size in ((fat, FAT_SIZE), (ntfs, NTFS_SIZE)):
        with open(path, "wb") as fh:
            fh.truncate(size)
    run("mkfs.fat", "-F", "16", "-n", "DATA", fat)
    payload.write_bytes(bytes(range(251)) * (3 * MiB // 251))
    run("mcopy", "-i", fat, payload, "::/big.bin")
    run("mkntfs", "-F", "-f", "-q", ntfs)
    with open_image(str(img), writable=True) as dev:
        part.partition_device(dev, 1).write_at(0, fat.read_bytes())
        part.partition_device(dev, 2).write_at(0, ntfs.read_bytes())
    return img


@pytest.fixture
def disk(pristine, tmp_path):
    img = tmp_path / "disk.img"
    img.write_bytes(pristine.read_bytes())
    return img


def _refused(img, *args) -> str:
    before = _digest(img)
    result = diskkit("part", "resize", img, *args, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert _digest(img) == before  # nothing written
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    return result.stderr


def _extract(img, index: int, out) -> str:
    with open_image(str(img)) as dev:
        vol = part.partition_device(dev, index)
        out.write_bytes(vol.read_at(0, vol.size))
    return str(out)


def test_fat_shrink_below_its_size_refused(disk):
    message = _refused(disk, "1", "--size", "12M")
    assert f"FAT16 is 16 MiB ({FAT_SIZE} bytes)" in message
    assert "diskkit cannot shrink FAT16" in message and "--force" in message


def test_fat_force_never_cuts_used_clusters(disk):
    message = _refused(disk, "1", "--size", "2M", "--force")
    assert "would cut its data" in message and "--force never cuts used clusters" in message


def test_fat_shrink_to_its_size_keeps_it_clean(disk, tmp_path):
    diskkit("part", "resize", disk, "1", "--size", "16M")
    with open_image(str(disk)) as dev:
        assert part.read_table(dev).find(1).size == FAT_SIZE
    vol = _extract(disk, 1, tmp_path / "p1.fat")
    run("fsck.fat", "-n", vol)
    out = tmp_path / "back.bin"
    run("mcopy", "-i", vol, "::/big.bin", out)
    assert out.read_bytes() == bytes(range(251)) * (3 * MiB // 251)


def test_fat_force_cuts_free_clusters_only(disk):
    diskkit("part", "resize", disk, "1", "--size", "8M", "--force")
    with open_image(str(disk)) as dev:
        assert part.read_table(dev).find(1).size == 8 * MiB


def test_ntfs_shrink_below_its_size_names_ntfsresize(disk):
    message = _refused(disk, "2", "--size", "20M")
    assert f"NTFS is 30 MiB ({NTFS_SIZE} bytes)" in message
    assert f"ntfsresize --force --size {20 * MiB}" in message and "p2" in message


def test_ntfs_force_never_cuts_used_clusters(disk):
    with open_image(str(disk)) as dev:
        from diskkit.filesystems import space

        data_end = space(part.partition_device(dev, 2)).data_end
    below = (data_end // MiB - 1) * MiB
    message = _refused(disk, "2", "--size", str(below), "--force")
    assert f"used clusters end at byte {data_end}" in message
    diskkit("part", "resize", disk, "2", "--size", str(-(-data_end // MiB) * MiB), "--force")


def test_ntfs_shrink_to_its_size_keeps_it_clean(disk, tmp_path):
    need_tool("ntfsfix")
    diskkit("part", "resize", disk, "2", "--size", "30M")
    with open_image(str(disk)) as dev:
        assert part.read_table(dev).find(2).size == NTFS_SIZE
    run("ntfsfix", "-n", _extract(disk, 2, tmp_path / "p2.ntfs"))


def test_python_api_has_the_same_guard(disk):
    """Scripts get the command's guard through ops.resize.resize_partition; the bare
    part.resize_partition edits only the table."""
    from diskkit.errors import UsageError
    from diskkit.ops.resize import resize_partition

    before = _digest(disk)
    with open_image(str(disk), writable=True) as dev:
        with pytest.raises(UsageError, match="would cut the filesystem"):
            resize_partition(dev, 2, 20 * MiB)
        with pytest.raises(UsageError, match="would cut its data"):
            resize_partition(dev, 1, 2 * MiB, force=True)
    assert _digest(disk) == before
    with open_image(str(disk), writable=True) as dev:
        assert resize_partition(dev, 1, FAT_SIZE).size == FAT_SIZE
        assert resize_partition(dev, 1, grow=True).size == FAT_PART


@pytest.mark.parametrize("state", ["dirty", "hibernated"])
def test_unclean_ntfs_is_never_cut(disk, tmp_path, state):
    """A dirty or hibernated Windows' NTFS: Windows would replay or resume state its on-disk
    metadata does not show, so a shrink into it is refused even with --force, the image
    byte-identical."""
    from support.ntfs import hibernate
    from support.ramos import set_ntfs_dirty

    start = 2048 * 512 + FAT_PART
    if state == "hibernated":
        hibernate(str(disk), start, NTFS_SIZE, str(tmp_path))
        reason = "hibernated"
    else:
        volume = tmp_path / "p2.ntfs"
        _extract(disk, 2, volume)
        set_ntfs_dirty(volume)
        with open(disk, "r+b") as fh:
            fh.seek(start)
            fh.write(volume.read_bytes())
        reason = "marked dirty"
    for args in (("--size", "20M"), ("--size", "20M", "--force")):
        message = _refused(disk, "2", *args)
        assert reason in message and "not cut even with --force" in message, message
