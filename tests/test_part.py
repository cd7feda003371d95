"""Partition tables against sgdisk, sfdisk/fdisk and libvsgpt/libvsmbr (tools written by others)."""

from __future__ import annotations

import json
import os
import re

import pytest
from support import diskkit, need_module, run
from support.part import (CONTAINERS, assert_libyal_agrees, assert_oracles_agree, diskkit_parts,
                          diskkit_show, libyal_parts, make_image, raw_view, sfdisk_parts,
                          sgdisk_clean, sgdisk_parts)

from diskkit import part
from diskkit.blockdev import FileDevice, MemoryDevice
from diskkit.errors import AlreadyExists, CorruptImage, NoSpace, NotFound, UsageError
from diskkit.units import MiB

ESP = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
MSR = "e3c9e316-0b5c-4db8-817d-f92df00215ae"
BASIC = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"
LINUX = "0fc63daf-8483-4772-8e79-3d69d8477de4"


@pytest.mark.parametrize("container", CONTAINERS)
def test_windows_gpt_layout_matches_oracles(tmp_path, container):
    img = make_image(tmp_path, container)
    diskkit("part", "init", img, "--gpt")
    assert_oracles_agree(img, tmp_path)
    diskkit("part", "add", img, "--type", "esp", "--size", "100M")
    diskkit("part", "add", img, "--type", "msr", "--size", "16M")
    diskkit("part", "add", img, "--type", "windows", "--size", "rest", "--name", "Windows")
    diskkit("part", "set", img, "3", "--attr", "hidden,no-drive-letter")
    shown = assert_oracles_agree(img, tmp_path)
    assert [p["type_guid"] for p in shown["partitions"]] == [ESP, MSR, BASIC]
    assert shown["partitions"][0]["first_lba"] == 2048
    assert shown["partitions"][0]["size"] == 100 * MiB
    raw = raw_view(img, tmp_path)
    attrs = {i: a for i, _, _, _, _, a in sgdisk_parts(raw)}
    assert attrs == {1: 0, 2: 0, 3: (1 << 62) | (1 << 63)}
    # sgdisk reports the partition GUIDs and disk GUID diskkit shows
    assert shown["disk_guid"].upper() in run("sgdisk", "-p", raw).stdout
    info = run("sgdisk", "-i", "1", raw).stdout
    assert shown["partitions"][0]["guid"].upper() in info
    assert_libyal_agrees(img, tmp_path)


@pytest.mark.parametrize("container", CONTAINERS)
def test_edit_sequence_matches_oracles(tmp_path, container):
    img = make_image(tmp_path, container)
    diskkit("part", "init", img, "--gpt")
    for size in ("10M", "20M", "30M"):
        diskkit("part", "add", img, "--type", "linux", "--size", size)
    diskkit("part", "delete", img, "2")
    assert_oracles_agree(img, tmp_path)
    diskkit("part", "resize", img, "1", "--grow")  # into the freed slot, up to partition 3
    shown = assert_oracles_agree(img, tmp_path)
    p1, p3 = shown["partitions"]
    assert p1["last_lba"] + 1 == p3["first_lba"]
    diskkit("part", "resize", img, "3", "--size", "5M")
    diskkit("part", "set", img, "1", "--name", "データ-root", "--type", "linux-home")
    diskkit("part", "add", img, "--type", "xbootldr", "--size", "8M", "--start", "200M",
            "--align", "4K")
    shown = assert_oracles_agree(img, tmp_path)
    names = [p["name"] for p in shown["partitions"]]
    assert names[0] == "データ-root"
    added = next(p for p in shown["partitions"] if p["type"] == "xbootldr")
    assert (added["index"], added["start"]) == (2, 200 * MiB)  # first free entry, given start
    assert_libyal_agrees(img, tmp_path)


@pytest.mark.parametrize("container", CONTAINERS)
def test_mbr_layout_matches_sfdisk_and_libvsmbr(tmp_path, container):
    img = make_image(tmp_path, container, 128 * MiB)
    diskkit("part", "init", img, "--mbr", "--disk-signature", "0xdeadbeef")
    diskkit("part", "add", img, "--type", "fat32-lba", "--size", "32M", "--bootable")
    diskkit("part", "add", img, "--type", "ntfs", "--size", "40M")
    diskkit("part", "add", img, "--type", "linux", "--size", "rest")
    shown = assert_oracles_agree(img, tmp_path)
    assert [p["type_code"] for p in shown["partitions"]] == [0x0C, 0x07, 0x83]
    table = json.loads(run("sfdisk", "--json", raw_view(img, tmp_path)).stdout)["partitiontable"]
    assert table["id"] == "0xdeadbeef"
    assert [p.get("bootable", False) for p in table["partitions"]] == [True, False, False]
    assert_libyal_agrees(img, tmp_path)


def test_mbr_chs_bytes_equal_sfdisk(tmp_path):
    """The 64 bytes of entries diskkit writes are the ones sfdisk writes for the same layout."""
    theirs, ours = make_image(tmp_path, "raw", 20 * 1024 * MiB, "sf"), make_image(
        tmp_path, "raw", 20 * 1024 * MiB, "dk")
    layout = [(2048, 204800, "c"), (206848, 8388608, "7"), (8595456, 30000000, "83")]
    script = "label: dos\n" + "".join(f"start={s}, size={n}, type={t}\n" for s, n, t in layout)
    run("sfdisk", "-q", theirs, input=script.encode())
    with FileDevice(ours, writable=True) as dev:
        part.init_mbr(dev)
        for start, sectors, code in layout:
            part.add_partition(dev, "0x" + code, sectors * 512, start=start * 512)
    with open(theirs, "rb") as a, open(ours, "rb") as b:
        assert a.read(512)[446:] == b.read(512)[446:]


@pytest.mark.parametrize("align,entries", [("8", "128"), ("2048", "256"), ("4096", "12")])
def test_reads_sgdisk_tables_exactly(tmp_path, align, entries):
    img = make_image(tmp_path, "raw", 200 * MiB)
    run("sgdisk", "-o", "-S", entries, "-a", align, "-n", "1:0:+33M", "-t", "1:ef00", "-c", "1:EFI System",
        "-n", "2:0:+16M", "-t", "2:0c01", "-c", "2:Microsoft reserved partition",
        "-n", "5:0:+20M", "-t", "5:8200", "-c", "5:swap ünïcødé 名前",
        "-A", "5:set:2", "-A", "5:set:62", "-n", "7:0:0", "-t", "7:8300", img)
    shown = diskkit_show(img)
    theirs = sgdisk_parts(img)
    assert [(i, a, b, t, n) for i, a, b, t, n, _ in theirs] == diskkit_parts(shown)
    assert [a for *_, a in theirs] == [p["attributes"] for p in shown["partitions"]]
    assert shown["entry_count"] == int(entries)
    report = json.loads(diskkit("part", "verify", img, "--json").stdout)
    small = [p for p in report["problems"] if "UEFI spec requires" in p["message"]]
    assert report["clean"] and bool(small) == (int(entries) < 128)


def test_reads_sfdisk_gpt_and_dos_with_logicals(tmp_path):
    gpt_img = make_image(tmp_path, "raw", 100 * MiB, "g")
    run("sfdisk", "-q", gpt_img, input=b"label: gpt\nsize=10M, type=U, name=\"boot\"\n"
        b"size=20M, type=L, name=\"root fs\", attrs=\"RequiredPartition LegacyBIOSBootable\"\n"
        b"type=S\n")
    assert sfdisk_parts(gpt_img) == diskkit_parts(diskkit_show(gpt_img))
    attrs = diskkit_show(gpt_img)["partitions"][1]["attribute_names"]
    assert attrs == ["required", "legacy-bios-bootable"]

    dos = make_image(tmp_path, "raw", 100 * MiB, "d")
    run("sfdisk", "-q", dos, input=b"label: dos\nsize=10M, type=c, bootable\ntype=5\n"
        b"size=5M, type=83\nsize=6M, type=82\nsize=7M, type=7\n")
    shown = diskkit_show(dos)
    assert sfdisk_parts(dos) == diskkit_parts(shown)
    assert [p["logical"] for p in shown["partitions"]] == [False, False, True, True, True]
    assert diskkit("part", "verify", dos).returncode == 0
    # logicals are read-only: a clear refusal, not a traceback
    proc = diskkit("part", "delete", dos, "6", check=False)
    assert proc.returncode == 2 and "logical" in proc.stderr
    assert libyal_parts(dos, "mbr") == sorted(
        (p["start"], p["size"], p["type_code"]) for p in shown["partitions"] if p["index"] != 2)


def test_mbr_chain_loop_is_reported_not_followed(tmp_path):
    dos = make_image(tmp_path, "raw", 64 * MiB)
    run("sfdisk", "-q", dos, input=b"label: dos\ntype=5\nsize=5M, type=83\nsize=5M, type=83\n")
    shown = diskkit_show(dos)
    first_ebr = shown["partitions"][0]["first_lba"]
    with open(dos, "r+b") as fh:  # point the first EBR's link back at itself
        fh.seek(first_ebr * 512 + 446 + 16 + 8)
        fh.write((0).to_bytes(4, "little"))
    proc = diskkit("part", "verify", dos, "--json", check=False)
    assert proc.returncode == 1
    assert "loops" in proc.stdout


def test_4096_byte_sectors(tmp_path):
    img = make_image(tmp_path, "raw", 64 * MiB)
    diskkit("part", "init", img, "--gpt", "--sector-size", "4096")
    diskkit("part", "add", img, "--type", "esp", "--size", "20M")
    diskkit("part", "add", img, "--type", "linux", "--size", "rest")
    shown = diskkit_show(img)  # sector size detected
    assert shown["sector_size"] == 4096 and shown["first_usable_lba"] == 6
    out = run("fdisk", "-b", "4096", "-l", "-o", "Device,Start,End,Type-UUID", img).stdout
    rows = [tuple(line.split()[1:4]) for line in out.splitlines() if line.startswith(img)]
    assert rows == [(str(p["first_lba"]), str(p["last_lba"]), p["type_guid"].upper())
                    for p in shown["partitions"]]
    assert diskkit("part", "verify", img).returncode == 0
    vol = need_module("pyvsgpt").volume()
    vol.open(img)
    assert vol.bytes_per_sector == 4096
    assert [(vol.get_partition(i).volume_offset, vol.get_partition(i).size)
            for i in range(vol.number_of_partitions)] == \
        [(p["start"], p["size"]) for p in shown["partitions"]]


def test_repair_rebuilds_primary_and_backup(tmp_path):
    img = make_image(tmp_path, "raw", 64 * MiB)
    diskkit("part", "init", img, "--gpt")
    diskkit("part", "add", img, "--type", "esp", "--size", "10M", "--name", "E")
    before = diskkit_show(img)["partitions"]
    size = os.path.getsize(img)
    for spot in (512, size - 512, 1024, size - 33 * 512):  # primary hdr, backup hdr, arrays
        with open(img, "r+b") as fh:
            fh.seek(spot)
            fh.write(b"\xff" * 512)
        proc = diskkit("part", "verify", img, "--json", check=False)
        assert proc.returncode == 1, proc.stdout
        assert diskkit_show(img)["partitions"] == before  # read from the good copy
        out = diskkit("part", "repair", img).stdout
        assert "rebuilt" in out
        sgdisk_clean(img)
        assert diskkit_show(img)["partitions"] == before
        assert diskkit("part", "repair", img).stdout.strip().endswith("nothing to repair")


def test_grown_disk_backup_moved_by_repair(tmp_path):
    img = make_image(tmp_path, "raw", 64 * MiB)
    diskkit("part", "init", img, "--gpt")
    diskkit("part", "add", img, "--type", "linux", "--size", "10M")
    os.truncate(img, 96 * MiB)
    assert "No problems found" not in run("sgdisk", "-v", img, check=False).stdout
    proc = diskkit("part", "verify", img, "--json", check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and any(  # a problem to sgdisk -v, so one to diskkit
        "not at the disk's last LBA" in p["message"] and p["severity"] == "error"
        for p in report["problems"])
    out = diskkit("part", "repair", img).stdout
    assert "moved the backup GPT" in out and "protective MBR" in out
    sgdisk_clean(img)
    assert diskkit_show(img)["last_usable_lba"] == 96 * MiB // 512 - 34


def test_errors_are_one_line(tmp_path):
    img = make_image(tmp_path, "raw", 16 * MiB)
    proc = diskkit("part", "show", img)
    assert "no partition table" in proc.stdout
    for args, words in [
        (("part", "add", img, "--type", "esp", "--size", "1M"), "no partition table"),
        (("part", "init", str(tmp_path / "missing.img"), "--gpt"), "no such file"),
    ]:
        proc = diskkit(*args, check=False)
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    diskkit("part", "init", img, "--gpt")
    for args, words in [
        (("part", "init", img, "--mbr"), "already has a GPT"),
        (("part", "add", img, "--type", "esp", "--size", "20M"), "no free gap"),
        (("part", "add", img, "--type", "nonsense", "--size", "1M"), "unknown GPT partition type"),
        (("part", "add", img, "--type", "esp", "--size", "1M", "--name", "x" * 37), "longer"),
        (("part", "delete", img, "3"), "no partition 3"),
        (("part", "set", img, "1", "--attr", "bogus"), "no partition 1"),
    ]:
        proc = diskkit(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr
    diskkit("part", "init", img, "--mbr", "--force")
    sgdisk_out = run("sgdisk", "-p", img, check=False).stdout
    assert "GPT: not present" in run("sgdisk", "-v", img, check=False).stdout or "MBR" in sgdisk_out
    assert diskkit_show(img)["table"] == "mbr"


def test_api_contract_on_memory_device():
    dev = MemoryDevice(32 * MiB)
    assert part.read_table(dev) is None
    part.init_gpt(dev, disk_guid="{11111111-2222-3333-4444-555555555555}")
    p = part.add_partition(dev, "esp", 4 * MiB, name="EFI")
    assert (p.index, p.start, p.size, p.type_guid, p.name) == (1, MiB, 4 * MiB, ESP, "EFI")
    table = part.read_table(dev)
    assert table.kind == "gpt" and table.disk_guid == "11111111-2222-3333-4444-555555555555"
    sub = part.partition_device(dev, 1)
    sub.write_at(0, b"hello")
    assert dev.read_at(MiB, 5) == b"hello" and sub.size == 4 * MiB
    with pytest.raises(NotFound):
        part.partition_device(dev, 2)
    with pytest.raises(AlreadyExists):
        part.init_gpt(dev)
    with pytest.raises(NoSpace):
        part.add_partition(dev, "linux", 64 * MiB)
    with pytest.raises(UsageError):
        part.set_partition(dev, 1, bootable=True)
    ro = MemoryDevice(bytes(dev.buf), writable=False)
    with pytest.raises(UsageError):
        part.delete_partition(ro, 1)
    part.init_mbr(dev, force=True)
    q = part.add_partition(dev, "esp", "8M", bootable=True)
    assert (q.type_code, q.bootable, q.start) == (0xEF, True, MiB)
    assert part.read_table(dev).kind == "mbr"
    assert not dev.read_at(512, 8) == b"EFI PART"  # old GPT header wiped


def test_whole_disk_fat_is_not_a_partition_table(tmp_path):
    img = make_image(tmp_path, "raw", 64 * MiB)
    run("mkfs.fat", "-F", "32", "-I", img)
    assert diskkit_show(img)["table"] is None
    proc = diskkit("part", "init", img, "--gpt", check=False)
    assert proc.returncode == 2 and "boot sector" in proc.stderr


def test_source_date_epoch_gives_identical_tables(tmp_path):
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    images = []
    for name in ("a", "b"):
        img = make_image(tmp_path, "raw", 32 * MiB, name)
        diskkit("part", "init", img, "--gpt", env=env)
        diskkit("part", "add", img, "--type", "esp", "--size", "rest", env=env)
        with open(img, "rb") as fh:
            images.append(fh.read())
    assert images[0] == images[1]


def test_corrupt_header_fields_rejected_with_location():
    dev = MemoryDevice(8 * MiB)
    part.init_gpt(dev)
    import zlib

    from diskkit.part import gpt

    block = bytearray(dev.read_at(512, 512))
    block[80:84] = (0xFFFFFF).to_bytes(4, "little")  # entry count: 2 GiB of entries
    block[16:20] = bytes(4)
    block[16:20] = zlib.crc32(bytes(block[:92])).to_bytes(4, "little")
    with pytest.raises(CorruptImage, match="entry array"):
        gpt.parse_header(bytes(block), 1, dev.size // 512, 512)
    dev.write_at(512, bytes(block))
    dev.write_at(dev.size - 512, bytes(block))
    report = part.verify(dev)
    assert not report.clean and re.search(r"entry array", report.to_text())


def test_hybrid_mbr_survives_edits(tmp_path):
    """sgdisk's hybrid MBR (0xEE plus a mirrored entry) is reported and left untouched."""
    img = make_image(tmp_path, "raw", 64 * MiB)
    run("sgdisk", "-o", "-n", "1:0:+10M", "-t", "1:0700", "-n", "2:0:+10M", "-h", "1", img)
    with open(img, "rb") as fh:
        hybrid = fh.read(512)
    report = json.loads(diskkit("part", "verify", img, "--json").stdout)
    assert report["clean"] and any("hybrid" in p["message"] for p in report["problems"])
    diskkit("part", "add", img, "--type", "linux", "--size", "5M")
    diskkit("part", "set", img, "2", "--name", "renamed")
    with open(img, "rb") as fh:
        assert fh.read(512) == hybrid
    assert_oracles_agree(img, tmp_path)
