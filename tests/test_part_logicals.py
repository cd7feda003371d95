"""Writing MBR extended and logical partitions, judged by sfdisk, fdisk and libvsmbr."""

from __future__ import annotations

import json
import re

import pytest
from support import diskkit, need_module, run

from diskkit import part
from diskkit.blockdev import FileDevice
from diskkit.errors import CorruptImage, NoSpace, NotFound, Unsupported, UsageError
from diskkit.units import KiB, MiB


def blank(path, size=16 * MiB) -> str:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return str(path)


def fdisk_rows(img: str, ss: int) -> dict[int, tuple[int, int, int]]:
    """``{index: (start, sectors, type)}`` as fdisk -b reads the table."""
    out = run("fdisk", "-b", str(ss), "-l", "-o", "Device,Start,Sectors,Id", img).stdout
    return {int(m.group(1)): (int(m.group(2)), int(m.group(3)), int(m.group(4), 16))
            for m in re.finditer(rf"^{re.escape(img)}(\d+)\s+(\d+)\s+(\d+)\s+(\w+)$", out, re.M)}


@pytest.mark.parametrize("ss", [512, 4096])
def test_extended_and_logicals_as_the_tools_read_them(tmp_path, ss):
    img = blank(tmp_path / "d.img")
    with FileDevice(img, writable=True, sector_size=ss) as dev:
        part.init_mbr(dev, disk_signature=0x5EED)
        part.add_partition(dev, "fat32-lba", 2 * MiB, bootable=True)
        ext = part.add_partition(dev, "extended", 8 * MiB)
        logicals = [part.add_partition(dev, kind, size, logical=True, align=align)
                    for kind, size, align in [("linux", MiB, MiB), ("ntfs", 2 * MiB, 4 * KiB),
                                              ("linux-swap", 3 * ss, ss)]]
        after = part.add_partition(dev, "linux", None)
        assert part.verify(dev).clean
        assert [p.index for p in logicals] == [5, 6, 7] and after.index == 3
        for p in logicals:
            assert ext.first_lba < p.first_lba and p.last_lba <= ext.last_lba
        part.partition_device(dev, 6).write_at(0, b"logical six")
        rows = {p.index: (p.first_lba, p.sectors, p.type_code)
                for p in part.read_table(dev).partitions}
    assert fdisk_rows(img, ss) == rows
    with open(img, "rb") as fh:
        fh.seek(logicals[1].start)
        assert fh.read(11) == b"logical six"
    if ss == 512:
        table = json.loads(run("sfdisk", "--json", img).stdout)["partitiontable"]
        got = {int(p["node"][len(img):]): (p["start"], p["size"], int(p["type"], 16))
               for p in table["partitions"]}
        assert got == rows and table["id"] == "0x00005eed"
        pyvsmbr = need_module("pyvsmbr")  # last: the other oracles ran
        volume = pyvsmbr.volume()
        volume.open(img)
        seen = sorted((volume.get_partition(i).volume_offset, volume.get_partition(i).size)
                      for i in range(volume.number_of_partitions))
        volume.close()
        assert seen == sorted((a * ss, n * ss) for i, (a, n, code) in rows.items() if i != 2)


def test_cli_adds_logicals(tmp_path):
    img = blank(tmp_path / "d.img")
    diskkit("part", "init", img, "--mbr")
    diskkit("part", "add", img, "--type", "extended", "--size", "rest")
    for size in ("1M", "2M"):
        diskkit("part", "add", img, "--type", "linux", "--size", size, "--logical")
    shown = json.loads(diskkit("part", "show", img, "--json").stdout)
    assert [(p["index"], p["logical"]) for p in shown["partitions"]] == [
        (1, False), (5, True), (6, True)]
    assert "No errors detected" in run("sfdisk", "-V", img).stdout


def test_logical_refusals(tmp_path):
    img = blank(tmp_path / "d.img")
    with FileDevice(img, writable=True) as dev:
        part.init_mbr(dev)
        with pytest.raises(NotFound, match="no extended partition"):
            part.add_partition(dev, "linux", MiB, logical=True)
        part.add_partition(dev, "extended", 4 * MiB)
        with pytest.raises(Unsupported, match="holds one extended partition"):
            part.add_partition(dev, "linux-extended", MiB)
        with pytest.raises(UsageError, match="chain order"):
            part.add_partition(dev, "linux", MiB, logical=True, index=5)
        with pytest.raises(Unsupported):
            part.add_partition(dev, "extended", MiB, logical=True)
        part.add_partition(dev, "linux", MiB, logical=True)
        with pytest.raises(Unsupported, match="logical partition"):
            part.delete_partition(dev, 5)
        with pytest.raises(Unsupported):
            part.set_partition(dev, 1, type="extended")
        with pytest.raises(NoSpace):  # more than the extended partition has left
            part.add_partition(dev, "linux", 8 * MiB, logical=True)
    gpt = blank(tmp_path / "g.img")
    with FileDevice(gpt, writable=True) as dev:
        part.init_gpt(dev)
        with pytest.raises(UsageError, match="only in MBR"):
            part.add_partition(dev, "linux", MiB, logical=True)


def test_no_logical_is_added_to_a_damaged_chain(tmp_path):
    img = blank(tmp_path / "d.img")
    with FileDevice(img, writable=True) as dev:
        part.init_mbr(dev)
        ext = part.add_partition(dev, "extended", 8 * MiB)
        first = part.add_partition(dev, "linux", MiB, logical=True)
        ebr = bytearray(dev.read_at(ext.start, 512))
        ebr[446 + 16:446 + 32] = bytes([0, 0, 0, 0, 5, 0, 0, 0]) + (0).to_bytes(4, "little") + (
            1).to_bytes(4, "little")  # the first EBR links to itself
        dev.write_at(ext.start, ebr)
        before = dev.read_at(0, ext.start + 2 * MiB)
        with pytest.raises(CorruptImage, match="chain is damaged"):
            part.add_partition(dev, "linux", MiB, logical=True)
        assert dev.read_at(0, ext.start + 2 * MiB) == before and first.index == 5
