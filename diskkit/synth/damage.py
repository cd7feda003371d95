"""Named, reproducible damage to a synthetic image, and who notices it.

Each kind says which images it applies to (``targets``: what it could hit in a description),
and how to apply it to the built file. A checksum fault flips one byte and leaves the
checksum alone; a layout fault (overlap, partition past the end) is written with every
checksum recomputed, so the layout is the only thing wrong. ``Damage.detected_by`` names the
tools known to report it:

- ``diskkit check``; ``diskkit part verify`` for MBR tables with 4096-byte sectors (an MBR
  does not record its sector size, so ``diskkit check`` reads it as 512);
- ``qemu-img`` (``info -f vpc`` or ``-f vhdx`` refuses the image), ``sgdisk`` (``-v``),
  ``sfdisk`` (``-V``), ``fdisk`` (``-b SECTOR``, command ``v``: the only one of them that
  takes 4096-byte sectors for an image file), ``fsck.fat`` (``-n``, on the volume copied out).
"""

from __future__ import annotations

import copy
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from .. import part
from ..blockdev import FileRegion, SliceDevice, open_host_file
from ..errors import UsageError
from ..fat import FatFS
from ..fat.bootsector import STATE_DIRTY
from ..fat.table import FatTable
from ..image import open_image
from ..part import gpt, mbr
from ..units import MiB
from ..vhd import dynamic as vhd_dynamic
from ..vhdx import bat as vhdx_bat
from ..vhdx import device as vhdx_device
from ..vhdx import structures as vhdx_structures
from .model import Damage, Description, FatVolume
from . import space
from .space import Picker, clusters_needed


@dataclass(frozen=True)
class Kind:
    name: str
    layer: str  # container, table, filesystem
    severity: str  # what a correct checker says: error or warning
    expect: str  # the finding in words, with {placeholders} from the target
    needs: dict  # what an image must have for the kind to apply (drawing constraints)
    targets: Callable[[Description], list[dict]]  # what it could hit; empty: not applicable
    apply: Callable[[str, Description, Damage], None]
    tools: Callable[[Description, dict], list[str]]


KINDS: dict[str, Kind] = {}


def kind(name, layer, severity, expect, needs, targets, tools):
    def register(apply):
        KINDS[name] = Kind(name, layer, severity, expect, needs, targets, apply, tools)
        return apply
    return register


def applicable(desc: Description) -> list[str]:
    """Names of the kinds that can damage this image."""
    return [k.name for k in KINDS.values() if k.targets(desc)]


def draw(pick: Picker, desc: Description, kinds=None) -> Damage:
    """One damage of ``kinds`` (default: any) that applies to ``desc``."""
    names = [n for n in (kinds or KINDS) if n in KINDS and KINDS[n].targets(desc)]
    if not names:
        wanted = ", ".join(kinds) if kinds else "any kind"
        raise UsageError(f"no damage of {wanted} applies to this image")
    k = KINDS[pick.choice(names)]
    target = pick.choice(k.targets(desc))
    detail = dict(target)
    partition = detail.pop("partition", None)
    return Damage(kind=k.name, layer=k.layer, severity=k.severity,
                  expect=k.expect.format(partition=partition, **detail), partition=partition,
                  detail=detail, detected_by=k.tools(desc, target))


def constraints_for(name: str, given: dict) -> dict:
    """Drawing constraints ``given`` narrowed to images that damage ``name`` applies to;
    UsageError when they exclude all of them."""
    if name not in KINDS:
        raise UsageError(f"unknown damage {name!r} (choose from {', '.join(KINDS)})")
    out = dict(given)
    for key, need in KINDS[name].needs.items():
        if key in ("container", "table", "fs"):
            every = {"container": space.CONTAINERS, "table": space.TABLES,
                     "fs": space.FILESYSTEMS}[key]
            keep = tuple(v for v in space.options(given.get(key), every, key) if v in need)
            if not keep:
                raise UsageError(f"damage {name} needs {key} {' or '.join(need)}")
            out[key] = keep
        elif key == "files" and given.get("files") in (None, 0):
            out["files"] = need + 2  # a few more: some files may be drawn empty
        elif key == "partitions":
            out["max_partitions"] = max(given.get("max_partitions", 4), need + 1)
    return out


def with_damage(desc: Description, damage: Damage) -> Description:
    """A copy of ``desc`` that also carries ``damage`` (building it applies the damage)."""
    out = copy.deepcopy(desc)
    out.damage.append(copy.deepcopy(damage))
    return out


def apply(path: str, desc: Description, damage: Damage) -> None:
    """Damage the built image at ``path``; ``damage.detail`` gains what was changed where."""
    KINDS[damage.kind].apply(str(path), desc, damage)


# -- who notices -------------------------------------------------------------------------------

def _mbr_4k(desc: Description) -> bool:
    return desc.table is not None and desc.table.kind == "mbr" and desc.table.sector_size != 512


def _diskkit_table(desc: Description) -> str:
    return "diskkit part verify" if _mbr_4k(desc) else "diskkit check"


def _libfdisk(desc: Description) -> str:
    """sfdisk reads image files with 512-byte sectors; fdisk -b takes another size."""
    return "sfdisk" if desc.table.sector_size == 512 else "fdisk"


def _gpt_tools(desc, target):
    checkers = ["sgdisk", "sfdisk"] if desc.table.sector_size == 512 else ["fdisk"]
    return ["diskkit check"] + checkers


def _fat_tools(desc, target):
    return ([] if _mbr_4k(desc) else ["diskkit check"]) + ["fsck.fat"]


# -- container ---------------------------------------------------------------------------------

def _flip_file(path: str, offset: int) -> None:
    """Flip one bit of the file's byte at ``offset`` (a container structure, not the disk)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ 0x40]))


def _vhd_of(*kinds):
    return lambda desc: [{}] if desc.container.kind in kinds else []


@kind("vhd-footer-checksum", "container", "error", "the trailing VHD footer fails its checksum",
      {"container": ("fixed", "dynamic")}, _vhd_of("fixed", "dynamic"),
      # qemu reads a dynamic VHD's footer copy at offset 0, so only a fixed one is refused
      lambda desc, target: ["diskkit check"] + (["qemu-img"] if desc.container.kind == "fixed"
                                                else []))
def _footer_checksum(path, desc, damage):
    at = os.path.getsize(path) - 512 + 72  # a byte of the unique id
    _flip_file(path, at)
    damage.detail["offset"] = at


@kind("vhd-truncated-footer", "container", "error",
      "the file ends {cut} bytes early: the trailing footer is gone, only the copy at offset 0 "
      "is left", {"container": ("dynamic",)},
      lambda desc: [{"cut": n} for n in (512, 2, 300)] if desc.container.kind == "dynamic" else [],
      lambda desc, target: ["diskkit check"])
def _truncated_footer(path, desc, damage):
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) - damage.detail["cut"])


@kind("vhd-bat-entry-outside", "container", "error",
      "BAT entry {block} points past the end of the file", {"container": ("dynamic",)},
      lambda desc: [{"block": 0}] if desc.container.kind == "dynamic" else [],
      lambda desc, target: ["diskkit check", "qemu-img"])
def _bat_outside(path, desc, damage):
    with open(path, "r+b") as fh:
        fh.seek(512)
        header = vhd_dynamic.parse_header(fh.read(vhd_dynamic.HEADER_SIZE))
        at = header.table_offset + 4 * damage.detail["block"]
        fh.seek(at)
        fh.write((os.path.getsize(path) // 512 + 1000).to_bytes(4, "big"))
    damage.detail["offset"] = at


def _vhdx_tools(desc, target):
    """qemu refuses VHDX files with 4096-byte logical sectors, damaged or not."""
    return ["diskkit check"] + (["qemu-img"] if desc.sector_size == 512 else [])


VHDX_NEEDS = {"container": ("vhdx", "vhdx-fixed")}


@kind("vhdx-header-checksum", "container", "warning",
      "VHDX header {copy} fails its checksum: the image opens through the other copy alone",
      VHDX_NEEDS, lambda desc: ([{"copy": 1}, {"copy": 2}]
                                if desc.container.kind.startswith("vhdx") else []),
      # qemu, as the specification asks, opens the image through the valid header unnoticed
      lambda desc, target: ["diskkit check"])
def _vhdx_header(path, desc, damage):
    at = vhdx_structures.HEADER_OFFSETS[damage.detail["copy"] - 1] + 40  # the data write GUID
    _flip_file(path, at)
    damage.detail["offset"] = at


@kind("vhdx-region-table-checksum", "container", "error",
      "the first VHDX region table fails its checksum", VHDX_NEEDS, _vhd_of("vhdx", "vhdx-fixed"),
      _vhdx_tools)
def _vhdx_region_table(path, desc, damage):
    at = vhdx_structures.REGION_TABLE_OFFSETS[0] + 16 + 16  # the first entry's file offset
    _flip_file(path, at)
    damage.detail["offset"] = at


@kind("vhdx-bat-entry-outside", "container", "error",
      "the BAT entry of payload block {block} points past the end of the file", VHDX_NEEDS,
      lambda desc: [{"block": 0}] if desc.container.kind.startswith("vhdx") else [], _vhdx_tools)
def _vhdx_bat_outside(path, desc, damage):
    region = FileRegion(open_host_file(path, False), path)
    try:
        layout = vhdx_device.read_layout(region.pread, region.file_size(), path)
    finally:
        region.close()
    at = layout.bat_region.file_offset + 8 * damage.detail["block"]  # payload block 0 is entry 0
    beyond = vhdx_device.round_up(os.path.getsize(path)) + 64 * MiB
    with open(path, "r+b") as fh:
        fh.seek(at)
        fh.write(vhdx_bat.make_entry(vhdx_bat.FULLY_PRESENT, beyond).to_bytes(8, "little"))
    damage.detail["offset"] = at


# -- partition tables --------------------------------------------------------------------------

def _disk(path: str, desc: Description):
    """The image's disk, writable, with the description's logical sector size (an MBR does
    not record its own)."""
    dev = open_image(path, writable=True)
    dev.sector_size = desc.sector_size
    return dev


def _flip(path: str, desc: Description, damage: Damage, offset: int) -> None:
    """Flip one bit of the disk's byte at ``offset`` (through the container)."""
    with _disk(path, desc) as dev:
        byte = dev.read_at(offset, 1)[0]
        dev.write_at(offset, bytes([byte ^ 0x40]))
    damage.detail["offset"] = offset


def _has_table(kind_name):
    return lambda desc: [{}] if desc.table is not None and desc.table.kind == kind_name else []


@kind("gpt-primary-header-crc", "table", "error", "the primary GPT header fails its CRC32",
      {"table": ("gpt",)}, _has_table("gpt"), _gpt_tools)
def _primary_crc(path, desc, damage):
    _flip(path, desc, damage, desc.table.sector_size + 56)  # a byte of the disk GUID


@kind("gpt-backup-header-crc", "table", "error", "the backup GPT header fails its CRC32",
      {"table": ("gpt",)}, _has_table("gpt"), _gpt_tools)
def _backup_crc(path, desc, damage):
    _flip(path, desc, damage, desc.container.size - desc.table.sector_size + 56)


@kind("gpt-entries-crc", "table", "error",
      "the primary GPT entry array fails its CRC32 (its last, unused entry was changed)",
      {"table": ("gpt",)}, _has_table("gpt"), _gpt_tools)
def _entries_crc(path, desc, damage):
    t = desc.table
    _flip(path, desc, damage, 2 * t.sector_size + (t.entry_count - 1) * 128 + 56)


def _edit_table(path: str, desc: Description, change) -> None:
    """Apply ``change`` to the table model and write it back with valid checksums (GPT:
    both copies), past the checks that keep ``part`` from writing a bad layout."""
    with _disk(path, desc) as dev:
        table = part.read_table(dev)
        change(table)
        if table.kind == "mbr":
            mbr.write(dev, table)
            return
        ss = table.sector_size
        entries = gpt.build_entries(table.slots, table.entry_count, table.entry_size)
        primary, backup = table.headers(zlib.crc32(entries))
        dev.write_at(table.entries_lba * ss, entries)
        dev.write_at(table.backup_entries_lba * ss, entries)
        dev.write_at(ss, primary.build(ss))
        dev.write_at(table.backup_lba * ss, backup.build(ss))


def _by_index(table, index):
    return next(p for p in table.partitions if p.index == index)


def _neighbours(kind_name):
    """Partitions followed on disk by another (logicals not included)."""
    def targets(desc):
        if not _has_table(kind_name)(desc):
            return []
        outer = sorted((p for p in desc.partitions if not p.logical), key=lambda p: p.start)
        return [{"partition": a.index, "other": b.index, "extended": a.extended or b.extended}
                for a, b in zip(outer, outer[1:])]
    return targets


def _last_outer(kind_name):
    def targets(desc):
        outer = [p for p in desc.partitions if not p.logical] if _has_table(kind_name)(desc) else []
        return [{"partition": max(outer, key=lambda p: p.end).index}] if outer else []
    return targets


def _overlap(path, desc, damage):
    def change(table):
        other = _by_index(table, damage.detail["other"])
        _by_index(table, damage.partition).last_lba = other.first_lba
    _edit_table(path, desc, change)


def _beyond(path, desc, damage):
    def change(table):
        _by_index(table, damage.partition).last_lba = table.disk_lbas + 7
    _edit_table(path, desc, change)


OVERLAP = "partition {partition} runs into partition {other} (they overlap)"
BEYOND = "partition {partition} ends past the end of the disk"
kind("gpt-overlapping-partitions", "table", "error", OVERLAP, {"table": ("gpt",), "partitions": 2},
     _neighbours("gpt"), _gpt_tools)(_overlap)
kind("gpt-partition-beyond-disk", "table", "error", BEYOND, {"table": ("gpt",), "partitions": 1},
     _last_outer("gpt"), _gpt_tools)(_beyond)
# libfdisk checks overlaps between primaries, not with the extended partition, and does not
# check an MBR partition's end against the disk at all
kind("mbr-overlapping-partitions", "table", "error", OVERLAP, {"table": ("mbr",), "partitions": 2},
     _neighbours("mbr"), lambda desc, target: [_diskkit_table(desc)] + (
         [] if target["extended"] else [_libfdisk(desc)]))(_overlap)
kind("mbr-partition-beyond-disk", "table", "error", BEYOND, {"table": ("mbr",), "partitions": 1},
     _last_outer("mbr"), lambda desc, target: [_diskkit_table(desc)])(_beyond)


@kind("mbr-logical-chain-loop", "table", "error",
      "the last extended boot record links back to the first: the logical chain loops",
      {"table": ("mbr",), "logicals": True},
      lambda desc: [{}] if any(p.logical for p in desc.partitions) else [],
      lambda desc, target: [_diskkit_table(desc), _libfdisk(desc)])
def _chain_loop(path, desc, damage):
    with _disk(path, desc) as dev:
        table = part.read_table(dev)
        ss = table.sector_size
        last = table.ebrs[-1][0]
        sector = mbr.parse_sector(dev.read_at(last * ss, ss))
        link = mbr.Entry.make(mbr.LINK_TYPE, table.extended.first_lba, 1)
        link.first_lba = 0  # relative to the extended partition: its first EBR
        sector.entries[1] = link
        dev.write_at(last * ss, sector.build())
    damage.detail["ebr_lba"] = last


# -- FAT ---------------------------------------------------------------------------------------

def _files(volume: FatVolume, min_size: int = 1) -> list[str]:
    """Files of at least ``min_size`` bytes, so they own that much in clusters."""
    return sorted(f.path for f in volume.files if not f.directory and f.size >= min_size)


def _free_left(volume: FatVolume) -> bool:
    used = clusters_needed(volume.files, volume.fat_type, volume.cluster_size,
                           volume.label is not None)
    return used is not None and used < volume.cluster_count


def _on_volumes(choose):
    """Targets ``choose(volume)`` finds on each FAT volume, with its partition."""
    def targets(desc):
        return [{"partition": p.index if p else None, **extra}
                for p, v in desc.volumes() for extra in choose(v)]
    return targets


def _edit_volume(path: str, desc: Description, damage: Damage, change) -> None:
    """``change(fs, dev)`` on the volume; only the FAT it changed is written back (every
    copy), nothing else of ``FatFS``'s."""
    with _disk(path, desc) as disk:
        if damage.partition is None:
            dev = SliceDevice(disk, 0, desc.filesystem.size)
        else:
            dev = part.partition_device(disk, damage.partition)
        fs = FatFS(dev)
        change(fs, dev)
        fs.fat.flush(dev)
        dev.flush()


def _chain(fs, path: str) -> list[int]:
    return fs.fat.chain(fs.stat("/" + path).cluster, path)


FAT_NEEDS = {"fs": ("fat12", "fat16", "fat32")}


@kind("fat-cross-linked-clusters", "filesystem", "error",
      "{a} and {b} share clusters: {b}'s chain runs on into {a}'s (cross-linked)",
      {**FAT_NEEDS, "files": 2},
      _on_volumes(lambda v: [{"a": a, "b": b} for a, b in zip(_files(v), _files(v)[1:])]),
      _fat_tools)
def _cross_link(path, desc, damage):
    def change(fs, dev):
        first = _chain(fs, damage.detail["a"])[0]
        fs.fat.set(_chain(fs, damage.detail["b"])[-1], first)
        damage.detail["cluster"] = first
    _edit_volume(path, desc, damage, change)


@kind("fat-chain-loop", "filesystem", "error",
      "the cluster chain of {file} loops back to its first cluster", {**FAT_NEEDS, "files": 1},
      _on_volumes(lambda v: [{"file": f} for f in _files(v, v.cluster_size + 1)]), _fat_tools)
def _fat_loop(path, desc, damage):
    def change(fs, dev):
        chain = _chain(fs, damage.detail["file"])
        fs.fat.set(chain[-1], chain[0])
    _edit_volume(path, desc, damage, change)


@kind("fat-size-beyond-chain", "filesystem", "error",
      "the directory entry of {file} claims more bytes than its cluster chain holds",
      {**FAT_NEEDS, "files": 1}, _on_volumes(lambda v: [{"file": f} for f in _files(v)]),
      _fat_tools)
def _size_beyond(path, desc, damage):
    def change(fs, dev):
        name = damage.detail["file"]
        size = len(_chain(fs, name)) * fs.layout.cluster_size + 1
        _, short = fs.entry_offsets("/" + name)
        dev.write_at(short + 28, size.to_bytes(4, "little"))
        damage.detail["size"] = size
    _edit_volume(path, desc, damage, change)


@kind("fat-lost-clusters", "filesystem", "error",
      "a cluster no file owns is marked in use (a lost cluster)", FAT_NEEDS,
      _on_volumes(lambda v: [{}] if _free_left(v) else []), _fat_tools)
def _lost(path, desc, damage):
    def change(fs, dev):
        first, _ = next(fs.fat.free_runs(2))
        fs.fat.set(first, fs.fat.eoc)
        damage.detail["cluster"] = first
    _edit_volume(path, desc, damage, change)


@kind("fat-copies-differ", "filesystem", "error",
      "the two FAT copies disagree about cluster {cluster}", FAT_NEEDS,
      _on_volumes(lambda v: [{"cluster": v.cluster_count + 1}]), _fat_tools)
def _copies_differ(path, desc, damage):
    def change(fs, dev):
        cluster = damage.detail["cluster"]
        second = FatTable.load(dev, fs.layout)
        second.set(cluster, 0 if second.get(cluster) else second.eoc)
        lo = cluster * fs.layout.fat_type // 8
        span = max(2, fs.layout.fat_type // 8)  # the whole bytes holding the entry
        dev.write_at(fs.layout.fat_offset(1) + lo, second.to_bytes(lo, lo + span))
    _edit_volume(path, desc, damage, change)


@kind("fat-dirty", "filesystem", "error", "the volume is marked dirty (a write was interrupted)",
      FAT_NEEDS, _on_volumes(lambda v: [{}]), _fat_tools)
def _dirty(path, desc, damage):
    def change(fs, dev):
        sector = bytearray(dev.read_at(0, fs.layout.sector_size))
        sector[fs.layout.state_offset] |= STATE_DIRTY
        dev.write_at(0, sector)
    _edit_volume(path, desc, damage, change)
