"""Generators of hostile images: valid images made by oracle tools, then damaged on purpose.

Every generator returns ``Hostile(name, kind, data, corrupt)``: ``kind`` says which commands
apply (raw image with a table, VHD, FAT volume), ``corrupt`` is True when the damage is a
real inconsistency that a ``check`` must report (exit 1) or refuse (exit 2), never call clean.
Checksums are recomputed where the point is to reach the deeper validation behind them.
"""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from benchmarks import vhdcraft
from benchmarks.fuzz_targets import bpb
from support import ENV, ntfs_hostile
from support.reliability import write_sparse

MiB = 1 << 20
SECTOR = 512


@dataclass
class Hostile:
    name: str
    kind: str  # "raw" (partition table), "vhd", "vhdx", "fat", "ntfs"
    data: bytes
    corrupt: bool = True
    path: str = ""

    def __post_init__(self):
        """Spill to a sparse file at once: FAT32 variants are 33 MiB each."""
        if OUTDIR and self.data:
            suffix = {"vhd": ".vhd", "vhdx": ".vhdx"}.get(self.kind, ".img")
            self.path = os.path.join(OUTDIR, self.name + suffix)
            write_sparse(self.path, self.data)
            self.data = b""


OUTDIR = ""


def sh(*cmd, input: bytes | None = None) -> None:
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True, env=ENV, input=input)


def blank(path: str, size: int) -> None:
    with open(path, "wb") as fh:
        fh.truncate(size)


def u32(buf, off, value):
    struct.pack_into("<I", buf, off, value & 0xFFFFFFFF)


def u64(buf, off, value):
    struct.pack_into("<Q", buf, off, value)


# -- GPT ---------------------------------------------------------------------------------------

def gpt_base(work: str) -> bytearray:
    img = os.path.join(work, "gpt.img")
    blank(img, MiB)
    sh("sgdisk", "-o", "-a", "8", "-n", "1:64:+256K", "-t", "1:ef00", "-c", "1:EFI",
       "-n", "2:0:+256K", "-t", "2:0700", "-n", "3:0:0", "-t", "3:8300", img)
    return bytearray(Path(img).read_bytes())


def gpt_headers(img: bytearray) -> list[int]:
    """Byte offsets of the primary and backup GPT headers."""
    alt, = struct.unpack_from("<Q", img, SECTOR + 32)
    return [SECTOR, alt * SECTOR]


def fix_gpt(img: bytearray, header: int, entries_too: bool = True) -> None:
    """Recompute the entry-array CRC (when it lies inside the image) and the header CRC."""
    size, = struct.unpack_from("<I", img, header + 12)
    entries_lba, count, entry_size = struct.unpack_from("<QII", img, header + 72)
    start, length = entries_lba * SECTOR, count * entry_size
    if entries_too and start + length <= len(img):
        u32(img, header + 88, zlib.crc32(img[start:start + length]))
    size = min(size, SECTOR)
    u32(img, header + 16, 0)
    u32(img, header + 16, zlib.crc32(img[header:header + size]))


def gpt_entry(img: bytearray, index: int) -> int:
    entries_lba, = struct.unpack_from("<Q", img, SECTOR + 72)
    return entries_lba * SECTOR + index * 128


def gpt_variants(work: str) -> list[Hostile]:
    base = gpt_base(work)
    out = [Hostile("gpt-clean-control", "raw", bytes(base), corrupt=False)]

    def variant(name, change, fix=True, corrupt=True, entries_too=True):
        img = bytearray(base)
        change(img)
        if fix:
            for header in gpt_headers(base):
                if header + SECTOR <= len(img):
                    fix_gpt(img, header, entries_too)
        out.append(Hostile(f"gpt-{name}", "raw", bytes(img), corrupt))

    variant("primary-bad-crc", lambda b: b.__setitem__(SECTOR + 60, b[SECTOR + 60] ^ 0xFF), fix=False)

    def both_bad(b):
        for h in gpt_headers(base):
            b[h + 60] ^= 0xFF
    variant("both-headers-bad-crc", both_bad, fix=False)

    def every_header(field_off, value, size=4):
        def change(b):
            for h in gpt_headers(base):
                (u32 if size == 4 else u64)(b, h + field_off, value)
        return change

    variant("huge-entry-count", every_header(80, 0x7FFFFFFF), entries_too=False)
    variant("entry-size-zero", every_header(84, 0), entries_too=False)
    variant("entry-size-odd", every_header(84, 129), entries_too=False)
    variant("entry-size-huge", every_header(84, 0xFFFFFFF0), entries_too=False)
    variant("header-size-huge", every_header(12, 0xFFFFFFFF))
    variant("entries-lba-outside", every_header(72, 1 << 40, 8), entries_too=False)
    variant("usable-range-outside", every_header(48, 1 << 40, 8))

    def overlap(b):
        first, = struct.unpack_from("<Q", b, gpt_entry(b, 0) + 32)
        for h in gpt_headers(base):
            e = struct.unpack_from("<Q", b, h + 72)[0] * SECTOR + 128
            u64(b, e + 32, first + 8)
    variant("overlapping-entries", overlap)

    def beyond(b):
        for h in gpt_headers(base):
            e = struct.unpack_from("<Q", b, h + 72)[0] * SECTOR + 2 * 128
            u64(b, e + 40, (1 << 40) - 1)
    variant("partition-beyond-disk", beyond)

    def inverted(b):
        for h in gpt_headers(base):
            e = struct.unpack_from("<Q", b, h + 72)[0] * SECTOR
            u64(b, e + 40, 10)  # first is 64
    variant("last-before-first", inverted)

    def name_hostile(b):
        for h in gpt_headers(base):
            e = struct.unpack_from("<Q", b, h + 72)[0] * SECTOR
            b[e + 56:e + 128] = ("\x1b[2J../\\C:\x00".encode("utf-16-le")).ljust(72, b"\0")
            b[e + 56 + 20:e + 58 + 20] = b"\x00\xd8"  # lone UTF-16 surrogate
    variant("entry-name-control-chars", name_hostile, corrupt=False)
    out.append(Hostile("gpt-truncated-half", "raw", bytes(base[:len(base) // 2])))
    out.append(Hostile("gpt-truncated-in-entries", "raw", bytes(base[:3 * SECTOR])))
    return out


# -- MBR ---------------------------------------------------------------------------------------

def mbr_base(work: str) -> bytearray:
    img = os.path.join(work, "mbr.img")
    blank(img, MiB)
    subprocess.run(["sfdisk", "--no-reread", "--no-tell-kernel", img], check=True,
                   capture_output=True, input=b"label: dos\nstart=64, size=256, type=c\n"
                   b"start=512, size=1400, type=5\nstart=600, size=300, type=83\n"
                   b"start=1000, size=300, type=7\n")
    return bytearray(Path(img).read_bytes())


def mbr_variants(work: str) -> list[Hostile]:
    base = mbr_base(work)
    out = [Hostile("mbr-clean-control", "raw", bytes(base), corrupt=False)]

    def variant(name, change, corrupt=True):
        img = bytearray(base)
        change(img)
        out.append(Hostile(f"mbr-{name}", "raw", bytes(img), corrupt))

    entry = lambda i: 446 + 16 * i  # noqa: E731
    variant("primary-beyond-disk", lambda b: u32(b, entry(0) + 12, 0xFFFFFF00))
    variant("primary-overlap", lambda b: u32(b, entry(1) + 8, 100))
    ebr = 512 * SECTOR

    def ebr_loop(b):  # the first EBR's link points back at itself (relative LBA 0)
        u32(b, ebr + 446 + 16 + 8, 0)
        u32(b, ebr + 446 + 16 + 12, 10)
        b[ebr + 446 + 16 + 4] = 5
    variant("ebr-chain-loops", ebr_loop)

    def ebr_outside(b):
        second_link = ebr + 446 + 16
        u32(b, second_link + 8, 0x7FFFFFF0)
        b[second_link + 4] = 5
    variant("ebr-link-outside", ebr_outside)
    variant("logical-beyond-disk", lambda b: u32(b, ebr + 446 + 12, 0x7FFFFFF0))

    def link_first(b):  # legal: sfdisk and the kernel find the link in any slot
        b[ebr + 446:ebr + 478] = b[ebr + 462:ebr + 478] + b[ebr + 446:ebr + 462]
    variant("ebr-link-first", link_first, corrupt=False)
    variant("logical-of-type-0", lambda b: b.__setitem__(ebr + 446 + 4, 0))  # sfdisk: "empty"

    def boot_flag(b):  # not a partition table at all (blkid, the kernel): nothing to check
        b[entry(0)] = 0x12
    variant("boot-flag-garbage", boot_flag, corrupt=False)
    out.append(Hostile("mbr-truncated", "raw", bytes(base[:300]), corrupt=False))  # no table at all
    out.append(Hostile("mbr-truncated-before-ebr", "raw", bytes(base[:ebr])))
    return out


# -- VHD ---------------------------------------------------------------------------------------

def vhd_content() -> bytes:
    """256 KiB with an MBR partition, so VHD reads reach the partition layer too."""
    data = bytearray(256 * 1024)
    data[446:462] = bytes([0, 0, 0, 0, 0x0C, 0, 0, 0]) + struct.pack("<II", 64, 256)
    data[510:512] = b"\x55\xaa"
    for i in range(0, len(data), 48 * 1024):
        data[i + 1024:i + 1040] = b"vhd hostile data"
    return bytes(data)


def refooter(buf: bytearray, at: int, **fields) -> None:
    """Change footer fields at byte ``at`` and recompute its checksum."""
    offsets = {"data_offset": (16, ">Q"), "current_size": (48, ">Q"), "original_size": (40, ">Q"),
               "disk_type": (60, ">I")}
    for key, value in fields.items():
        off, fmt = offsets[key]
        struct.pack_into(fmt, buf, at + off, value)
    struct.pack_into(">I", buf, at + 64, 0)
    struct.pack_into(">I", buf, at + 64, vhdcraft.checksum(bytes(buf[at:at + SECTOR])))


def reheader(buf: bytearray, **fields) -> None:
    """Change dynamic header fields (header at 512) and recompute its checksum."""
    offsets = {"table_offset": (16, ">Q"), "max_entries": (28, ">I"), "block_size": (32, ">I")}
    for key, value in fields.items():
        off, fmt = offsets[key]
        struct.pack_into(fmt, buf, SECTOR + off, value)
    struct.pack_into(">I", buf, SECTOR + 36, 0)
    struct.pack_into(">I", buf, SECTOR + 36, vhdcraft.checksum(bytes(buf[SECTOR:SECTOR + 1024])))


def both_footers(buf: bytearray, **fields) -> None:
    refooter(buf, 0, **fields)
    refooter(buf, len(buf) - SECTOR, **fields)


def vhd_variants(work: str) -> list[Hostile]:
    content = vhd_content()
    fixed = bytearray(vhdcraft.fixed_vhd(content))
    dyn = bytearray(vhdcraft.dynamic_vhd(content, 16384))
    bat = SECTOR + 1024
    out = [Hostile("vhd-fixed-clean-control", "vhd", bytes(fixed), corrupt=False),
           Hostile("vhd-dynamic-clean-control", "vhd", bytes(dyn), corrupt=False)]

    def variant(name, base, change, corrupt=True):
        img = bytearray(base)
        change(img)
        out.append(Hostile(f"vhd-{name}", "vhd", bytes(img), corrupt))

    def flip(off):
        return lambda b: b.__setitem__(off if off >= 0 else len(b) + off,
                                       b[off if off >= 0 else len(b) + off] ^ 0x40)

    variant("fixed-bad-footer-checksum", fixed, flip(-SECTOR + 50))
    variant("fixed-size-larger-than-file", fixed,
            lambda b: refooter(b, len(b) - SECTOR, current_size=1 << 40, original_size=1 << 40))
    variant("fixed-size-not-sector-multiple", fixed,
            lambda b: refooter(b, len(b) - SECTOR, current_size=len(content) - 100))
    variant("differencing-type", dyn, lambda b: both_footers(b, disk_type=4))
    variant("unknown-disk-type", dyn, lambda b: both_footers(b, disk_type=77))

    def dyn_both_bad(b):
        b[50] ^= 0x40
        b[len(b) - SECTOR + 50] ^= 0x40
    variant("dynamic-both-footers-bad-checksum", dyn, dyn_both_bad)
    variant("dynamic-header-bad-checksum", dyn, flip(SECTOR + 30))
    variant("dynamic-data-offset-outside", dyn, lambda b: both_footers(b, data_offset=1 << 50))
    variant("dynamic-data-offset-at-footer", dyn, lambda b: both_footers(b, data_offset=len(b) - SECTOR))
    variant("dynamic-huge-virtual-size", dyn,
            lambda b: both_footers(b, current_size=1 << 60, original_size=1 << 60))
    variant("dynamic-max-entries-huge", dyn, lambda b: reheader(b, max_entries=0xFFFFFFFF))
    variant("dynamic-block-size-zero", dyn, lambda b: reheader(b, block_size=0))
    variant("dynamic-block-size-odd", dyn, lambda b: reheader(b, block_size=3000))
    variant("dynamic-block-size-huge", dyn, lambda b: reheader(b, block_size=0x80000000))
    variant("dynamic-table-offset-outside", dyn, lambda b: reheader(b, table_offset=1 << 45))
    first_entry, second_entry = struct.unpack_from(">II", dyn, bat)
    variant("bat-entry-outside-file", dyn, lambda b: struct.pack_into(">I", b, bat, 0x7FFFFFF0))
    variant("bat-entries-alias", dyn, lambda b: struct.pack_into(">I", b, bat + 3 * 4, first_entry))
    variant("bat-entry-into-metadata", dyn, lambda b: struct.pack_into(">I", b, bat, 1))
    variant("bat-entry-overlaps-footer", dyn,
            lambda b: struct.pack_into(">I", b, bat, (len(b) - SECTOR) // SECTOR - 1))
    out.append(Hostile("vhd-dynamic-truncated-in-bat", "vhd", bytes(dyn[:bat + 8])))
    out.append(Hostile("vhd-dynamic-truncated-in-block", "vhd", bytes(dyn[:len(dyn) // 2])))
    out.append(Hostile("vhd-dynamic-footer-copy-missing", "vhd", bytes(dyn[:-SECTOR])))
    out.append(Hostile("vhd-footer-only-fragment", "vhd", bytes(fixed[-300:]), corrupt=False))
    return out


# -- VHDX --------------------------------------------------------------------------------------

def vhdx_crc(buf: bytearray, at: int, size: int) -> None:
    """Recompute the CRC-32C of the ``size``-byte structure at ``at`` (spec: field zeroed)."""
    from google_crc32c import value

    struct.pack_into("<I", buf, at + 4, 0)
    struct.pack_into("<I", buf, at + 4, value(bytes(buf[at:at + size])))


def vhdx_variants(work: str) -> list[Hostile]:
    """A qemu-made dynamic VHDX (1 MiB blocks, BAT at 2 MiB, metadata at 3 MiB) damaged."""
    raw, img = os.path.join(work, "v.raw"), os.path.join(work, "v.vhdx")
    content = bytearray(vhd_content()).ljust(3 * MiB, b"\0")
    content[2 * MiB:2 * MiB + 16] = b"second vhdx blk"
    Path(raw).write_bytes(content)
    sh("qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "subformat=dynamic,block_size=1M",
       raw, img)
    base = bytearray(Path(img).read_bytes())
    h1, h2, rt1, rt2, bat, meta = 64 << 10, 128 << 10, 192 << 10, 256 << 10, 2 * MiB, 3 * MiB
    out = [Hostile("vhdx-dynamic-clean-control", "vhdx", bytes(base), corrupt=False)]

    def variant(name, change, corrupt=True):
        buf = bytearray(base)
        change(buf)
        out.append(Hostile(f"vhdx-{name}", "vhdx", bytes(buf), corrupt))

    def header(**fields):
        offsets = {"version": (66, "<H"), "log_version": (64, "<H"), "log_length": (68, "<I"),
                   "log_offset": (72, "<Q"), "log_guid": (48, "16s")}

        def change(buf):
            for at in (h1, h2):
                for key, value in fields.items():
                    off, fmt = offsets[key]
                    struct.pack_into(fmt, buf, at + off, value)
                vhdx_crc(buf, at, 4096)
        return change

    def region_entry(index, **fields):
        offsets = {"guid": (0, "16s"), "file_offset": (16, "<Q"), "length": (24, "<I"),
                   "required": (28, "<I")}

        def change(buf):
            for at in (rt1, rt2):
                for key, value in fields.items():
                    off, fmt = offsets[key]
                    struct.pack_into(fmt, buf, at + 16 + 32 * index + off, value)
                vhdx_crc(buf, at, 64 << 10)
        return change

    def item(item_id_prefix: bytes, value: bytes):
        def change(buf):
            count = struct.unpack_from("<H", buf, meta + 10)[0]
            for i in range(count):
                e = meta + 32 + 32 * i
                if bytes(buf[e:e + 4]) == item_id_prefix:
                    at = meta + struct.unpack_from("<I", buf, e + 16)[0]
                    buf[at:at + len(value)] = value
        return change

    def bat_entry(index, value):
        return lambda buf: struct.pack_into("<Q", buf, bat + 8 * index, value)

    first = struct.unpack_from("<Q", base, bat)[0]
    variant("both-headers-bad-checksum",
            lambda b: [b.__setitem__(at + 200, b[at + 200] ^ 1) for at in (h1, h2)])
    variant("header-version-2", header(version=2))
    variant("log-version-1-with-log", header(log_version=1, log_guid=b"\1" * 16))
    variant("log-guid-set-log-outside-file", header(log_guid=b"\1" * 16, log_offset=1 << 40))
    variant("log-guid-set-log-huge", header(log_guid=b"\1" * 16, log_length=0xFFF00000))
    variant("region-tables-both-bad-crc",
            lambda b: [b.__setitem__(at + 300, b[at + 300] ^ 1) for at in (rt1, rt2)])
    variant("region-table-1-bad-crc", lambda b: b.__setitem__(rt1 + 40, b[rt1 + 40] ^ 1))
    variant("region-unknown-required", region_entry(0, guid=b"\x42" * 16, required=1))
    variant("region-bat-outside-file", region_entry(0, file_offset=1 << 40))
    variant("region-bat-overlaps-metadata", region_entry(0, file_offset=meta))
    variant("region-length-zero", region_entry(1, length=0))
    variant("region-entry-count-huge",
            lambda b: [struct.pack_into("<I", b, at + 8, 0xFFFFFFFF) or vhdx_crc(b, at, 64 << 10)
                       for at in (rt1, rt2)])
    variant("metadata-signature-missing", lambda b: b.__setitem__(meta, 0))
    variant("metadata-entry-count-huge", lambda b: struct.pack_into("<H", b, meta + 10, 0xFFFF))
    variant("metadata-item-outside-region",
            lambda b: struct.pack_into("<I", b, meta + 32 + 16, 0x7FFFFFF0))
    variant("metadata-block-size-3M", item(b"\x37\x67\xa1\xca", struct.pack("<I", 3 * MiB)))
    variant("metadata-block-size-zero", item(b"\x37\x67\xa1\xca", struct.pack("<I", 0)))
    variant("metadata-virtual-size-huge", item(b"\x24\x42\xa5\x2f", struct.pack("<Q", 1 << 60)))
    variant("metadata-virtual-size-odd", item(b"\x24\x42\xa5\x2f", struct.pack("<Q", 3 * MiB + 7)))
    variant("metadata-logical-sector-1024", item(b"\x1d\xbf\x41\x81", struct.pack("<I", 1024)))
    variant("metadata-has-parent-no-locator",
            item(b"\x37\x67\xa1\xca", struct.pack("<II", MiB, 2)))
    variant("bat-entry-outside-file", bat_entry(0, 6 | (1 << 40)))
    variant("bat-entries-alias", bat_entry(2, first))
    variant("bat-entry-into-header-section", bat_entry(0, 6))
    variant("bat-entry-into-log", bat_entry(0, 6 | MiB))
    variant("bat-entry-reserved-state", bat_entry(0, 4 | (first & ~7)))
    variant("bat-entry-partially-present", bat_entry(0, 7 | (first & ~7)))
    out.append(Hostile("vhdx-truncated-in-bat", "vhdx", bytes(base[:bat + 4096])))
    out.append(Hostile("vhdx-truncated-in-block", "vhdx", bytes(base[:len(base) - MiB // 2])))
    out.append(Hostile("vhdx-identifier-only", "vhdx", bytes(base[:64 << 10])))
    return out


# -- FAT ---------------------------------------------------------------------------------------

FAT_FILES = {"README.TXT": b"readme\n", "BIG.BIN": bytes(range(256)) * 64,
             "SUB/INNER.TXT": b"inner file\n"}


def fat_base(work: str, size: int = 2 * MiB, fat_args=("-F", "12", "-s", "2")) -> bytearray:
    img = os.path.join(work, f"fat-{size}.img")
    blank(img, size)
    sh("mkfs.fat", *fat_args, "-i", "0badf00d", "-n", "HOSTILE", img)
    sh("mmd", "-i", img, "::/SUB")
    for name, data in FAT_FILES.items():
        host = os.path.join(work, "payload")
        Path(host).write_bytes(data)
        sh("mcopy", "-i", img, host, f"::/{name}")
    return bytearray(Path(img).read_bytes())


def find_entry(img: bytes, raw11: bytes, start: int, end: int) -> int:
    for off in range(start, end, 32):
        if img[off:off + 11] == raw11:
            return off
    raise AssertionError(f"no entry {raw11!r}")


def fat_layout(img: bytes) -> dict:
    layout = bpb(img)
    layout["data_start"] = layout["root_start"] + layout["root_bytes"]
    return layout


def cluster_offset(layout: dict, cluster: int) -> int:
    return layout["data_start"] + (cluster - 2) * layout["cluster"]


def entry_cluster(img: bytes, off: int) -> int:
    hi, = struct.unpack_from("<H", img, off + 20)
    lo, = struct.unpack_from("<H", img, off + 26)
    return hi << 16 | lo


def set_fat12(img: bytearray, layout: dict, cluster: int, value: int) -> None:
    """Write one FAT12 entry in every FAT copy."""
    for copy in range(layout["fats"]):
        base = layout["fat_start"] + copy * layout["fat_size"]
        off = base + cluster * 3 // 2
        pair, = struct.unpack_from("<H", img, off)
        if cluster & 1:
            pair = (pair & 0x000F) | (value << 4)
        else:
            pair = (pair & 0xF000) | (value & 0xFFF)
        struct.pack_into("<H", img, off, pair)


def fat_variants(work: str) -> list[Hostile]:
    base = fat_base(work)
    layout = fat_layout(base)
    root, data = layout["root_start"], layout["data_start"]
    big = find_entry(base, b"BIG     BIN", root, data)
    readme = find_entry(base, b"README  TXT", root, data)
    sub = find_entry(base, b"SUB        ", root, data)
    big_first = entry_cluster(base, big)
    sub_cluster = entry_cluster(base, sub)
    sub_dir = cluster_offset(layout, sub_cluster)
    out = [Hostile("fat-clean-control", "fat", bytes(base), corrupt=False)]

    def variant(name, change, corrupt=True):
        img = bytearray(base)
        change(img)
        out.append(Hostile(f"fat-{name}", "fat", bytes(img), corrupt))

    variant("chain-loops-to-itself", lambda b: set_fat12(b, layout, big_first + 3, big_first))
    variant("chain-points-at-free", lambda b: set_fat12(b, layout, big_first + 1, 0x7F0))
    variant("chain-beyond-cluster-count", lambda b: set_fat12(b, layout, big_first, 0xFEF))
    variant("files-cross-linked", lambda b: struct.pack_into("<H", b, readme + 26, big_first + 2))
    variant("file-size-beyond-chain", lambda b: u32(b, big + 28, 64 * MiB))
    variant("file-starts-at-cluster-1", lambda b: struct.pack_into("<H", b, big + 26, 1))
    variant("file-starts-beyond-volume", lambda b: struct.pack_into("<H", b, big + 26, 0xFF0))

    def dir_contains_itself(b):  # SUB's INNER.TXT becomes a directory pointing at SUB
        inner = find_entry(b, b"INNER   TXT", sub_dir, sub_dir + layout["cluster"])
        b[inner:inner + 11] = b"LOOP       "
        b[inner + 11] = 0x10
        struct.pack_into("<H", b, inner + 26, sub_cluster)
        u32(b, inner + 28, 0)
    variant("directory-contains-itself", dir_contains_itself)

    def dir_points_at_root(b):
        inner = find_entry(b, b"INNER   TXT", sub_dir, sub_dir + layout["cluster"])
        b[inner:inner + 11] = b"UP         "
        b[inner + 11] = 0x10
        struct.pack_into("<H", b, inner + 26, 0)
        u32(b, inner + 28, 0)
    variant("subdirectory-points-at-root", dir_points_at_root)
    variant("directory-chain-loops", lambda b: set_fat12(b, layout, sub_cluster, sub_cluster))

    def bpb_field(fmt, off, value):
        return lambda b: struct.pack_into(fmt, b, off, value)

    variant("bytes-per-sector-zero", bpb_field("<H", 11, 0))
    variant("bytes-per-sector-odd", bpb_field("<H", 11, 1000))
    variant("sectors-per-cluster-zero", bpb_field("<B", 13, 0))
    variant("sectors-per-cluster-not-power-of-two", bpb_field("<B", 13, 3))
    variant("reserved-sectors-zero", bpb_field("<H", 14, 0))
    variant("fat-count-zero", bpb_field("<B", 16, 0))
    variant("root-entries-huge", bpb_field("<H", 17, 0xFFF0))
    variant("total-sectors-beyond-image", bpb_field("<H", 19, 0xFFFF))
    variant("fat-size-huge", bpb_field("<H", 22, 0xFFFF))

    def fats_differ(b):
        b[layout["fat_start"] + layout["fat_size"] + 7] ^= 0xFF
    variant("fat-copies-differ", fats_differ)
    out.append(Hostile("fat-truncated-in-data", "fat", bytes(base[:data + layout["cluster"]])))
    out.append(Hostile("fat-truncated-in-fat", "fat", bytes(base[:layout["fat_start"] + 100])))
    out.extend(fat32_variants(work))
    return out


def fat32_variants(work: str) -> list[Hostile]:
    base = fat_base(work, 33 * MiB, ("-F", "32", "-s", "1"))
    out = [Hostile("fat32-clean-control", "fat", bytes(base), corrupt=False)]

    def variant(name, change, corrupt=True):
        img = bytearray(base)
        change(img)
        out.append(Hostile(f"fat32-{name}", "fat", bytes(img), corrupt))

    variant("root-cluster-zero", lambda b: u32(b, 44, 0))
    variant("root-cluster-beyond-volume", lambda b: u32(b, 44, 0x0FFFFFF0))
    variant("fsinfo-sector-outside", lambda b: struct.pack_into("<H", b, 48, 0xFFFF))
    variant("fsinfo-free-count-too-big", lambda b: u32(b, SECTOR + 488, 0x0FFFFFF0), corrupt=False)
    variant("fsinfo-next-free-beyond", lambda b: u32(b, SECTOR + 492, 0x0FFFFFF0), corrupt=False)
    variant("backup-boot-sector-outside", lambda b: struct.pack_into("<H", b, 50, 0xFFFE),
            corrupt=False)

    def root_chain_loop(b):
        layout = fat_layout(b)
        for copy in range(layout["fats"]):
            u32(b, layout["fat_start"] + copy * layout["fat_size"] + 2 * 4, 2)
    variant("root-directory-chain-loops", root_chain_loop)
    return out


# -- hostile names ---------------------------------------------------------------------------

HOSTILE_NAMES = {
    "dotdot": "..",
    "dot": ".",
    "parent-traversal": "../../../../../../escape-from-dest.txt",
    "absolute": "/tmp/diskkit-absolute-escape.txt",
    "slash": "sub/dir/slash-in-name.txt",
    "backslash": "..\\..\\backslash-escape.txt",
    "drive-letter": "C:evil-drive-letter.txt",
    "control-chars": "bell\x07esc\x1b[31mred\x01nl\nname.txt",
    "nul-inside": "nul\x00inside-name.txt",
}


def lfn_units(name: str) -> list[int]:
    units = list(name.encode("utf-16-le"))
    words = [units[i] | units[i + 1] << 8 for i in range(0, len(units), 2)]
    slots = -(-len(words) // 13)
    if len(words) < slots * 13:
        words += [0] + [0xFFFF] * (slots * 13 - len(words) - 1)
    return words


def rewrite_lfn(img: bytearray, short_off: int, name: str) -> None:
    """Replace the long name in the LFN slots in front of ``short_off`` (same slot count)."""
    words = lfn_units(name)
    slots = len(words) // 13
    positions = (1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30)
    for k in range(slots):  # slot k (1-based order k+1) sits k+1 entries before the short one
        off = short_off - 32 * (k + 1)
        assert img[off + 11] == 0x0F and img[off] & 0x3F == k + 1, "unexpected LFN layout"
        for j, pos in enumerate(positions):
            struct.pack_into("<H", img, off + pos, words[k * 13 + j])


def placeholder_for(name: str) -> str:
    """A harmless name mtools stores with the same number of LFN slots as ``name``."""
    length = max(len(name.encode("utf-16-le")) // 2, 14)
    return ("Placeholder" + "x" * length)[:length - 4] + ".txt"


def name_variants(work: str) -> list[Hostile]:
    out = []
    for label, hostile in HOSTILE_NAMES.items():
        img_path = os.path.join(work, f"names-{label}.img")
        blank(img_path, MiB)
        sh("mkfs.fat", "-F", "12", "-i", "0badf00d", img_path)
        sh("mmd", "-i", img_path, "::/Inner Directory")
        placeholder = placeholder_for(hostile)
        host = os.path.join(work, "payload")
        Path(host).write_bytes(f"content of {label}\n".encode())
        sh("mcopy", "-i", img_path, host, f"::/Inner Directory/{placeholder}")
        sh("mcopy", "-i", img_path, host, "::/safe.txt")
        img = bytearray(Path(img_path).read_bytes())
        layout = fat_layout(img)
        dir_entry = find_entry(img, b"INNERD~1   ", layout["root_start"], layout["data_start"])
        start = cluster_offset(layout, entry_cluster(img, dir_entry))
        for off in range(start, start + layout["cluster"], 32):
            if img[off + 11] not in (0x0F,) and img[off] not in (0, 0xE5, 0x2E) and \
                    img[off - 32 + 11] == 0x0F:
                rewrite_lfn(img, off, hostile)
                break
        else:
            raise AssertionError("placeholder entry not found")
        out.append(Hostile(f"name-{label}", "fat", bytes(img), corrupt=False))
    out.append(short_name_variant(work))
    return out


def short_name_variant(work: str) -> Hostile:
    """A plain 8.3 entry named ``..`` that is a file, next to the real dot entries."""
    base = fat_base(work)
    layout = fat_layout(base)
    sub = find_entry(base, b"SUB        ", layout["root_start"], layout["data_start"])
    sub_dir = cluster_offset(layout, entry_cluster(base, sub))
    inner = find_entry(base, b"INNER   TXT", sub_dir, sub_dir + layout["cluster"])
    base[inner:inner + 11] = b"..         "
    return Hostile("name-short-dotdot-file", "fat", bytes(base), corrupt=True)


def all_variants(outdir: str) -> list[Hostile]:
    """Write every hostile image into ``outdir``; the returned records carry their paths."""
    global OUTDIR
    OUTDIR = outdir
    try:
        with tempfile.TemporaryDirectory() as work:
            return (gpt_variants(work) + mbr_variants(work) + vhd_variants(work)
                    + vhdx_variants(work) + fat_variants(work) + name_variants(work)
                    + ntfs_hostile.ntfs_variants(Hostile))
    finally:
        OUTDIR = ""
