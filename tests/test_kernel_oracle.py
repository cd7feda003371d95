"""The Linux kernel as an oracle: Debian trixie's kernel, booted in QEMU with a busybox
initramfs (support.kernel), reads the disk as a virtio disk and says what it sees.

- an NTFS made by mkntfs (free clusters full of old bytes) with a tree put in by wimapply, in
  a GPT made by sgdisk: ntfs3's files, sizes and sha256 equal ``ntfs ls -r -l --json`` and
  ``ntfs cat``;
- the same disk after ``convert --to dynamic --skip-free`` (QEMU reads it as vpc) and after
  ``resize --size +64M --grow-part 2`` and the ntfsresize the note prints: ntfs3 mounts the
  NTFS and every file is unchanged;
- the kernel's partitions (start and size in 512-byte sectors, from /sys/block/vda) equal
  ``part show --json`` for that GPT and for an MBR made by sfdisk with an extended partition
  and logical partitions numbered 5, 6, 7 (the NTFS in logical 6 read by both), and for the
  odd EBR chains other tools write (support.part.ODD_CHAINS, all attached to one boot), where
  diskkit reads as sfdisk does: the kernel agrees except where the test names how it differs;
- tables and boot sectors: Windows' GPT, a GPT on a grown disk, whole-disk FAT (mkfs.fat,
  mformat) and a FAT BPB over a real MBR entry;
- the disks Windows made in the foreign-image corpus (raw, VHD, VHDX decoded by QEMU): the
  kernel's size and partitions equal diskkit's, ntfs3 mounts their NTFS.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from diskkit.ops.resize import ntfsresize_command
from support import ENV, diskkit, run
from support.kernel import initramfs, kernel_view
from support.ntfs import apply_tree, make_tree, mkntfs, quick_formatted
from support.part import ODD_CHAINS, make_odd_chain, sfdisk_chain, sfdisk_parts

pytestmark = pytest.mark.slow

MiB = 1 << 20
NTFS_SIZE = 32 * MiB


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("kernel")


@pytest.fixture(scope="module")
def initrd(work):
    return initramfs(str(work))


def put_volume(image: str, volume: str, start_sector: int) -> None:
    with open(volume, "rb") as src, open(image, "r+b") as dst:
        dst.seek(start_sector * 512)
        shutil.copyfileobj(src, dst, 4 * MiB)


@pytest.fixture(scope="module")
def gpt_disk(work):
    """sgdisk's GPT: an empty ESP and a 32 MiB basic-data partition holding the NTFS."""
    image = str(work / "gpt.img")
    with open(image, "wb") as fh:
        fh.truncate(48 * MiB)
    run("sgdisk", "-n1:2048:+8M", "-t1:ef00", "-n2:0:+32M", "-t2:0700", image)
    tree = str(work / "tree")
    make_tree(tree, seed=7, files=24, depth=4, max_size=200_000)
    volume = quick_formatted(str(work / "gpt.ntfs"), NTFS_SIZE, seed=3)
    apply_tree(volume, tree)
    start = int(run("sgdisk", "-i2", image).stdout.split("First sector: ")[1].split()[0])
    put_volume(image, volume, start)
    os.unlink(volume)
    return image


@pytest.fixture(scope="module")
def gpt_seen(initrd, gpt_disk, work):
    return kernel_view(initrd, gpt_disk, "raw", ntfs_part=2, workdir=str(work))


def diskkit_parts(image: str) -> dict[int, tuple[int, int]]:
    shown = json.loads(diskkit("part", "show", "--json", image).stdout)
    assert shown.get("sector_size", 512) == 512
    return {p["index"]: (p["first_lba"], p["last_lba"] - p["first_lba"] + 1)
            for p in shown["partitions"]}


def cat_digest(image: str, where: list[str], path: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "diskkit", "ntfs", "cat", image, *where,
                           path], capture_output=True, env=ENV, check=True)
    return hashlib.sha256(proc.stdout).hexdigest()


def diskkit_files(image: str, part: int | None) -> tuple[set[str], dict[str, tuple[int, str]]]:
    """diskkit's directories and {path: (size, sha256)} of the NTFS in partition ``part``
    (None: on the whole disk)."""
    where = ["--part", str(part)] if part else []
    entries = json.loads(diskkit("ntfs", "ls", "-r", "-l", "--json", image, *where,
                                 "/").stdout)
    dirs = {e["path"] for e in entries if e["type"] == "dir"}
    files = [e for e in entries if e["type"] != "dir"]
    with ThreadPoolExecutor(4) as pool:
        digests = pool.map(lambda e: cat_digest(image, where, e["path"]), files)
    return dirs, {e["path"]: (e["size"], d) for e, d in zip(files, digests)}


def assert_mounted(seen) -> None:
    assert not seen.errors, seen.log[-3000:]
    assert " ntfs3 ro," in seen.mounted, seen.log[-3000:]


def test_ntfs3_sees_the_files_diskkit_reads(gpt_disk, gpt_seen):
    assert_mounted(gpt_seen)
    dirs, files = diskkit_files(gpt_disk, 2)
    assert len(files) > 30 and any(size > 100_000 for size, _ in files.values())
    assert gpt_seen.dirs == dirs
    assert gpt_seen.files == files


def test_kernel_partitions_equal_part_show_gpt(gpt_disk, gpt_seen):
    assert gpt_seen.parts == diskkit_parts(gpt_disk)
    assert gpt_seen.sectors[0] == os.path.getsize(gpt_disk) // 512
    # /proc/partitions counts 1 KiB blocks of the same disk and partitions
    assert gpt_seen.proc[0] == {0: gpt_seen.sectors[0] // 2,
                                **{n: size // 2 for n, (_, size) in gpt_seen.parts.items()}}


def test_skip_free_dynamic_vhd_mounts_with_every_file_unchanged(initrd, gpt_disk, gpt_seen,
                                                                 work):
    out = str(work / "skipped.vhd")
    diskkit("convert", "--to", "dynamic", "--skip-free", gpt_disk, out)
    assert os.path.getsize(out) < os.path.getsize(gpt_disk)  # free clusters were left out
    seen = kernel_view(initrd, out, "vpc", ntfs_part=2, workdir=str(work))
    assert_mounted(seen)
    assert seen.parts == gpt_seen.parts
    assert seen.dirs == gpt_seen.dirs and seen.files == gpt_seen.files


def test_grown_then_ntfsresized_mounts_with_every_file_unchanged(initrd, gpt_disk, gpt_seen,
                                                                  work):
    image = str(work / "grown.img")
    shutil.copyfile(gpt_disk, image)
    grown = json.loads(diskkit("resize", "--json", image, "--size", "+64M",
                               "--grow-part", "2").stdout)
    note, = grown["notes"]
    assert ntfsresize_command(image, "raw", 2) in note
    # what the printed command does through its loop device, done on the partition's bytes
    start, size = diskkit_parts(image)[2]
    assert size * 512 > NTFS_SIZE + 60 * MiB
    volume = str(work / "grown.ntfs")
    with open(image, "rb") as src, open(volume, "wb") as dst:
        src.seek(start * 512)
        dst.write(src.read(size * 512))
    run("ntfsresize", "--force", volume)
    put_volume(image, volume, start)
    os.unlink(volume)
    seen = kernel_view(initrd, image, "raw", ntfs_part=2, workdir=str(work))
    assert_mounted(seen)
    assert seen.parts == diskkit_parts(image)
    assert seen.dirs == gpt_seen.dirs and seen.files == gpt_seen.files


def test_kernel_partitions_equal_part_show_mbr_with_logicals(initrd, work):
    image = str(work / "mbr.img")
    with open(image, "wb") as fh:
        fh.truncate(40 * MiB)
    script = ("label: dos\n"
              "start=2048, size=8M, type=83\n"
              "size=6M, type=7\n"
              "type=5\n"
              "size=4M, type=83\n"
              "size=8M, type=7\n"
              "size=5M, type=83\n")
    run("sfdisk", "-q", image, input=script.encode())
    tree = work / "small-tree"
    tree.mkdir()
    (tree / "in logical six.txt").write_bytes(b"the NTFS of logical partition 6\n" * 1000)
    volume = mkntfs(str(work / "logical.ntfs"), 8 * MiB)
    apply_tree(volume, str(tree))
    ours = diskkit_parts(image)
    assert sorted(ours) == [1, 2, 3, 5, 6, 7]
    put_volume(image, volume, ours[6][0])
    seen = kernel_view(initrd, image, "raw", ntfs_part=6, workdir=str(work))
    extended_start, _ = ours.pop(3)
    # the kernel shows an extended partition as its first 1 KiB (2 sectors) only, so that
    # nothing written through it can reach the logical partitions' tables
    assert seen.parts.pop(3) == (extended_start, 2)
    assert seen.parts == ours
    assert_mounted(seen)
    dirs, files = diskkit_files(image, 6)
    assert seen.dirs == dirs and seen.files == files
    assert list(files) == ["/in logical six.txt"]


# Where the kernel (block/partitions/msdos.c) reads an odd chain otherwise than sfdisk, whom
# diskkit follows: what the kernel lists instead, from diskkit's partitions and the disk size
KERNEL_READS_OTHERWISE = {
    # every data entry of an EBR is a partition to the kernel (diskkit warns that it is so)
    "extra-data-entry": lambda ours, sectors: {
        **{n: ours[n] for n in (1, 2, 5)}, 6: (ours[5][0], 100), 7: ours[6], 8: ours[7]},
    # a link entry of size 0 ends the kernel's chain; sfdisk follows it
    "link-without-size": lambda ours, sectors: {n: ours[n] for n in (1, 2, 5, 6)},
    # the kernel cuts a partition at the end of the disk (diskkit reports it as an error)
    "logical-past-extended": lambda ours, sectors: {**ours, 7: (ours[7][0], sectors - ours[7][0])},
}


def test_kernel_reads_odd_ebr_chains_as_diskkit_does(initrd, work):
    images, expected = [], []
    for case in ["sfdisk", *ODD_CHAINS]:
        image = str(work / f"chain-{case}.img")
        with open(image, "wb") as fh:
            fh.truncate(64 * MiB)
        _, ebrs = sfdisk_chain(image)
        if case != "sfdisk":
            make_odd_chain(image, ebrs, case)
        ours = diskkit_parts(image)
        # partition 2 is the extended one: the kernel shows its first 1 KiB only (see above)
        ours[2] = (ours[2][0], 2)
        reads_otherwise = KERNEL_READS_OTHERWISE.get(case)
        images.append(image)
        expected.append(reads_otherwise(ours, 64 * MiB // 512) if reads_otherwise else ours)
    seen = kernel_view(initrd, images[0], others=tuple(images[1:]), workdir=str(work))
    assert not seen.errors, seen.log[-3000:]
    assert {os.path.basename(images[n]): seen.disks.get(n) for n in range(len(images))} == \
        {os.path.basename(image): parts for image, parts in zip(images, expected)}


def test_kernel_tells_tables_from_boot_sectors_as_diskkit_does(initrd, work):
    """Windows' GPT (0xFFFFFFFF protective size), a GPT on a disk that grew (backup not at
    the end), FAT on the whole disk (mkfs.fat, its --mbr=y fake entry, mformat's) and a FAT
    BPB left above a real MBR entry: the kernel finds the partitions diskkit finds, and none
    where diskkit says the disk holds a filesystem and no table - except the fake entry of
    mkfs.fat --mbr=y and mformat, which the kernel (like sfdisk; msdos.c gives up on a FAT
    boot sector only when a boot flag is neither 0 nor 0x80) lists as partition 1 at LBA 0:
    the whole disk's filesystem again, where diskkit and blkid see no table."""
    def blank(name: str, size: int = 48 * MiB) -> str:
        path = str(work / f"{name}.img")
        with open(path, "wb") as fh:
            fh.truncate(size)
        return path

    def patch(path: str, offset: int, data: bytes) -> None:
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(data)

    images = []
    windows = blank("windows-gpt")
    run("sgdisk", "-n1:0:+10M", "-t1:ef00", "-n2:0:+20M", "-t2:0700", windows)
    patch(windows, 446 + 12, (0xFFFFFFFF).to_bytes(4, "little"))
    grown = blank("grown-gpt", 32 * MiB)
    run("sgdisk", "-n1:0:+10M", "-t1:ef00", "-n2:0:0", "-t2:0700", grown)
    os.truncate(grown, 48 * MiB)
    images += [windows, grown]
    for args in (["-F", "12"], ["-F", "16"], ["-F", "32"], ["-F", "16", "--mbr=y"],
                 ["-F", "32", "--mbr=y"]):
        image = blank("mkfs.fat" + "".join(args))
        run("mkfs.fat", *args, image)
        images.append(image)
    for name, args in (("floppy", ["-f", "1440"]),
                       ("disk", ["-T", "65536", "-h", "4", "-s", "32"])):
        image = str(work / f"mformat-{name}.img")
        run("mformat", "-C", "-i", image, *args, "::")  # always a fake entry at LBA 0
        images.append(image)
    fat, table = blank("bpb-fat"), blank("bpb-over-table")
    run("mkfs.fat", "-F", "16", fat)
    run("sfdisk", "-q", table, input=b"label: dos\nstart=2048, size=40M, type=c\n")
    with open(fat, "rb") as fh:
        patch(table, 0, fh.read(0x5A))  # jump and BPB above the untouched entries
    images.append(table)
    ours = [diskkit_parts(image) for image in images]
    assert sum(1 for parts in ours if not parts) == 7  # the whole-disk filesystems
    expected = []
    for image, parts in zip(images, ours):
        if "mbr=y" in image or "mformat" in image:
            (fake,) = sfdisk_parts(image)
            assert not parts and fake[1] == 0
            parts = {1: (0, fake[2] + 1)}
        expected.append(parts)
    seen = kernel_view(initrd, images[0], others=tuple(images[1:]), workdir=str(work))
    assert not seen.errors, seen.log[-3000:]
    assert {os.path.basename(images[n]): seen.disks.get(n, {}) for n in range(len(images))} == \
        {os.path.basename(image): parts for image, parts in zip(images, expected)}


# the corpus's Windows-made NTFS (as tests/test_ntfs_foreign.py): (image, QEMU format, partition)
WINDOWS_NTFS = [("ul-fs/ntfs.img", "raw", None), ("vhd-foreign/dissect-dynamic.vhd", "vpc", 1),
                ("vhd-foreign/dissect-fixed.vhd", "vpc", 1),
                ("vhd-foreign/dissect-dynamic.vhdx", "vhdx", 1),
                ("vhd-foreign/dissect-fixed.vhdx", "vhdx", 1),
                ("vhd-foreign/rdisk-win7dyn.vhd", "vpc", 2)]


def test_kernel_reads_windows_made_disks_as_diskkit_does(initrd, corpus, work):
    """QEMU decodes the VHD/VHDX containers (not diskkit's code): the kernel's disk size and
    partitions equal diskkit's, and ntfs3 mounts each NTFS. These volumes hold no user files:
    that both list none is all the file check says here."""
    disks = [(str(corpus.path(name)), fmt, part or 0) for name, fmt, part in WINDOWS_NTFS]
    seen = kernel_view(initrd, *disks[0], workdir=str(work), others=tuple(disks[1:]))
    assert not seen.errors, seen.log[-3000:]
    for n, (name, _, part) in enumerate(WINDOWS_NTFS):
        image = disks[n][0]
        shown = json.loads(diskkit("part", "show", "--json", image).stdout)
        assert seen.sectors[n] * 512 == shown["disk_size"], name
        assert seen.disks.get(n, {}) == diskkit_parts(image), name
        mount, dirs, files = seen.volumes[n]
        assert " ntfs3 ro," in mount, name
        assert (dirs, files) == diskkit_files(image, part), name
