"""Partition tables: empty test images, and the views of sgdisk, sfdisk, libvsgpt, libvsmbr."""

from __future__ import annotations

import json
import os
import re
import struct

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


# -- logical partitions: sfdisk's chain of EBRs, and the odd chains other tools write -----------
ENTRY = struct.Struct("<B3sB3sII")


def entries(path: str, lba: int) -> list[bytes]:
    """The four 16-byte entries of the MBR/EBR at ``lba``."""
    with open(path, "rb") as fh:
        fh.seek(lba * 512 + 446)
        raw = fh.read(64)
    return [raw[i * 16:(i + 1) * 16] for i in range(4)]


def put_entries(path: str, lba: int, new: list[bytes]) -> None:
    with open(path, "r+b") as fh:
        fh.seek(lba * 512 + 446)
        fh.write(b"".join(new))


def sfdisk_chain(img: str) -> tuple[str, list[int]]:
    """sfdisk's MBR on the empty image ``img`` (64 MiB): a primary, an extended partition and
    three logicals; returns the image and the EBR LBAs."""
    run("sfdisk", "-q", img, input=b"label: dos\nsize=8M, type=c\ntype=5\n"
        b"size=5M, type=83\nsize=6M, type=82\nsize=7M, type=7\n")
    extended = next(p for p in sfdisk_parts(img) if p[3] == 5)[1]
    ebrs = [extended]
    while True:
        link = ENTRY.unpack(entries(img, ebrs[-1])[1])
        if link[2] != 5:
            return img, ebrs
        ebrs.append(extended + link[4])


def _swap(i, j):
    def edit(e):
        e[i], e[j] = e[j], e[i]
    return edit


def _clear(i):
    def edit(e):
        e[i] = bytes(16)
    return edit


def _size(i, sectors):
    def edit(e):
        e[i] = e[i][:12] + struct.pack("<I", sectors)
    return edit


def _type(i, code):
    def edit(e):
        e[i] = e[i][:4] + bytes([code]) + e[i][5:]
    return edit


def _copy(src, dst, size=None):
    def edit(e):
        e[dst] = e[src][:12] + struct.pack("<I", size) if size else e[src]
    return edit


# (EBR number, edit) lists: links in slot 1, 3 or 4, data in any slot, empty and odd EBRs
ODD_CHAINS = {
    "link-first": [(0, _swap(0, 1)), (1, _swap(0, 1))],
    "link-in-slot-4-data-in-slot-3": [(0, _swap(1, 3)), (0, _swap(0, 2)), (1, _swap(1, 3))],
    "data-in-slot-4": [(1, _swap(0, 3)), (2, _swap(0, 3))],
    "ebr-without-data": [(1, _clear(0))],
    "ebr-without-data-link-first": [(1, _clear(0)), (1, _swap(0, 1))],
    "data-entry-without-size": [(1, _size(0, 0))],
    "extra-data-entry": [(0, _copy(0, 2, 100))],
    "two-links": [(0, _copy(1, 3))],
    "link-without-size": [(1, _size(1, 0))],
    "logical-of-type-0": [(1, _type(0, 0))],
    "logical-past-extended": [(2, _size(0, 200000))],
}


def make_odd_chain(img: str, ebrs: list[int], case: str) -> None:
    """Rewrite the EBRs of ``sfdisk_chain``'s image as ODD_CHAINS[case] says."""
    for number, edit in ODD_CHAINS[case]:
        slots = entries(img, ebrs[number])
        edit(slots)
        put_entries(img, ebrs[number], slots)
