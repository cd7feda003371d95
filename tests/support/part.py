"""Partition tables: empty test images, and the views of sgdisk, sfdisk, libvsgpt, libvsmbr."""

from __future__ import annotations

import json
import os
import re

from diskkit.units import MiB
from support import diskkit, need_module, run

CONTAINERS = ["raw", "fixed", "dynamic"]


def make_image(tmp_path, container: str, size: int = 256 * MiB, name: str = "disk") -> str:
    """An empty image of ``size`` bytes as raw, fixed or dynamic VHD."""
    if container == "raw":
        path = tmp_path / f"{name}.img"
        with open(path, "wb") as fh:
            fh.truncate(size)
        return str(path)
    from diskkit import vhd

    path = tmp_path / f"{name}-{container}.vhd"
    vhd.create(str(path), size, vhd_type=container)
    return str(path)


def raw_view(path: str, workdir) -> str:
    """A raw image to hand to sgdisk/sfdisk/blkid: the file itself, or qemu-img's raw copy of
    a VHD or VHDX."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        fh.seek(-min(512, os.path.getsize(path)), os.SEEK_END)
        tail = fh.read(8)
    fmt = "vhdx" if head == b"vhdxfile" else "vpc" if tail == b"conectix" else None
    if fmt is None:
        return str(path)
    out = os.path.join(str(workdir), os.path.basename(str(path)) + ".raw")
    run("qemu-img", "convert", "-f", fmt, "-O", "raw", path, out)
    return out


def sgdisk_clean(path: str) -> str:
    """sgdisk -v must find no problems (sgdisk assumes 512-byte sectors for image files)."""
    out = run("sgdisk", "-v", path, check=False).stdout
    assert "No problems found" in out, out
    return out


def sgdisk_parts(path: str) -> list[tuple]:
    """(index, first LBA, last LBA, type GUID, name) from sgdisk -i for each listed partition."""
    listing = run("sgdisk", "-p", path).stdout
    parts = []
    for m in re.finditer(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s", listing, re.M):
        index = int(m.group(1))
        info = run("sgdisk", "-i", str(index), path).stdout
        type_guid = re.search(r"Partition GUID code: (\S+)", info).group(1).lower()
        name = re.search(r"Partition name: '(.*)'", info).group(1)
        attrs = int(re.search(r"Attribute flags: ([0-9A-Fa-f]+)", info).group(1), 16)
        parts.append((index, int(m.group(2)), int(m.group(3)), type_guid, name, attrs))
    return parts


def sfdisk_table(path: str) -> dict | None:
    """sfdisk --json's partition table, or None when sfdisk finds none (notes such as
    "omitting empty partition" may come before the JSON)."""
    out = run("sfdisk", "--json", path, check=False).stdout
    return json.loads(out[out.index("{"):])["partitiontable"] if "{" in out else None


def sfdisk_parts(path: str) -> list[tuple]:
    """(index, first LBA, last LBA, type) from sfdisk --json; type is a GUID (GPT) or int.

    Entries without sectors are left out: when no logical partition has a size, sfdisk still
    lists an empty "partition 5" (its placeholder for the first EBR), which holds nothing."""
    table = sfdisk_table(path)
    assert table is not None, f"sfdisk finds no partition table in {path}"
    parts = []
    for p in table.get("partitions", []):
        if not p["size"]:
            continue
        index = int(re.search(r"(\d+)$", p["node"]).group(1))
        kind = p["type"].lower() if table["label"] == "gpt" else int(p["type"], 16)
        parts.append((index, p["start"], p["start"] + p["size"] - 1, kind, p.get("name", "")))
    return parts


def sfdisk_says_clean(path: str) -> bool:
    """sfdisk --verify's verdict: True when it says "No errors detected"."""
    return "No errors detected" in run("sfdisk", "--verify", path, check=False).stdout


SGDISK_ALARMS = ("corrupt GPT", "You should repair the disk", "Invalid partition data",
                 "problems!")


def sgdisk_says_clean(path: str) -> bool:
    """sgdisk -v's verdict: "No problems found" and none of the alarms it raises while loading
    (a damaged copy is rebuilt in memory first, so -v alone would call it clean)."""
    proc = run("sgdisk", "-v", path, check=False)
    text = proc.stdout + proc.stderr
    return "No problems found" in text and not any(alarm in text for alarm in SGDISK_ALARMS)


def blkid_probe(path: str, *options: str) -> dict[str, str]:
    """``blkid -p -o export`` (low-level probe, no cache) as a dict; empty when it finds nothing."""
    out = run("blkid", "-p", "-o", "export", *options, path, check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def diskkit_verify(path: str, *options: str) -> dict:
    """``diskkit part verify --json`` (exit 0 or 1 both fine; anything else fails)."""
    proc = diskkit("part", "verify", path, "--json", *options, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["clean"] == (proc.returncode == 0)
    return report


def diskkit_show(path: str) -> dict:
    return json.loads(diskkit("part", "show", path, "--json").stdout)


def diskkit_parts(shown: dict) -> list[tuple]:
    out = []
    for p in shown["partitions"]:
        kind = p["type_guid"] if shown["table"] == "gpt" else p["type_code"]
        out.append((p["index"], p["first_lba"], p["last_lba"], kind, p.get("name", "")))
    return out


def libyal_parts(path: str, kind: str) -> list[tuple]:
    """(byte offset, size, type) from libvsgpt / libvsmbr (extended containers not listed)."""
    lib = need_module("pyvsgpt" if kind == "gpt" else "pyvsmbr")
    volume = lib.volume()
    volume.open(path)
    try:
        out = []
        for i in range(volume.number_of_partitions):
            p = volume.get_partition(i)
            kind_value = p.type_identifier if kind == "gpt" else p.type
            out.append((p.volume_offset, p.size, kind_value))
        return sorted(out)
    finally:
        volume.close()


def assert_oracles_agree(path: str, workdir) -> dict:
    """After a diskkit write: sgdisk -v clean (GPT), and sgdisk/sfdisk list what
    ``diskkit part show --json`` lists."""
    shown = diskkit_show(path)
    raw = raw_view(path, workdir)
    ours = diskkit_parts(shown)
    if shown["table"] == "gpt":
        sgdisk_clean(raw)
        theirs = [(i, a, b, t, n) for i, a, b, t, n, _ in sgdisk_parts(raw)]
        assert theirs == ours
    assert sfdisk_parts(raw) == ours
    return shown


def assert_libyal_agrees(path: str, workdir) -> None:
    """libvsgpt / libvsmbr list the partitions ``diskkit part show --json`` lists (extended
    containers aside); skips naming the binding when it is not installed. Call it last in a
    test, after the checks that need no optional module."""
    shown = diskkit_show(path)
    mine = sorted((p["start"], p["size"], p["type_guid"] if shown["table"] == "gpt"
                   else p["type_code"]) for p in shown["partitions"]
                  if not (shown["table"] == "mbr" and p["type_code"] in (0x05, 0x0F, 0x85)))
    assert libyal_parts(raw_view(path, workdir), shown["table"]) == mine
