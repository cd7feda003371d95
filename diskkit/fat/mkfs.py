"""Create a FAT12/16/32 filesystem following fatgen103, writing only metadata.

The reserved area, both FATs and the root directory are zeroed with ``write_zeroes`` (holes on
a raw file), so formatting a many-gigabyte volume writes a few sectors. The boot sector is
written last: an interrupted mkfs leaves no half-valid filesystem behind.
"""

from __future__ import annotations

from ..errors import UsageError
from ..reproducible import unique_bytes
from ..units import MiB, format_size
from . import names
from .bootsector import (EXTENDED_BPB, FAT12_MAX_CLUSTERS, FAT16_MAX_CLUSTERS, NO_NAME, Layout,
                         build_boot_sector, build_fsinfo)
from .directory import ATTR_VOLUME_ID, Entry, timestamp
from .table import EOC

FAT32_MIN_CLUSTERS = FAT16_MAX_CLUSTERS + 1
FAT32_MAX_CLUSTERS = 0x0FFFFFF5 - 1
ROOT_ENTRIES = 512
AUTO_FAT32_FROM = 512 * MiB  # fatgen103 / Windows: FAT32 from 512 MB up

# fatgen103 default cluster sizes: (volume size up to, in 512-byte sectors, cluster bytes)
_FAT16_TABLE = [(8400, 0), (32680, 1024), (262144, 2048), (524288, 4096), (1048576, 8192),
                (2097152, 16384), (4194304, 32768)]
_FAT32_TABLE = [(66600, 0), (532480, 512), (16777216, 4096), (33554432, 8192),
                (67108864, 16384), (0xFFFFFFFF, 32768)]


def _table_cluster_size(table, size: int) -> int:
    sectors = size // 512
    for limit, cluster in table:
        if sectors <= limit:
            return cluster
    return 0


def default_cluster_size(fat_type: int, size: int, sector_size: int) -> int:
    """Microsoft's default cluster size for a volume of ``size`` bytes (0: no sensible one)."""
    if fat_type == 32:
        cs = _table_cluster_size(_FAT32_TABLE, size) or 512
    elif fat_type == 16:
        cs = _table_cluster_size(_FAT16_TABLE, size) or (1024 if size < 8 * MiB else 65536)
    else:
        cs = sector_size  # FAT12: the smallest cluster that keeps the count under 4,085
        while (size // cs) > FAT12_MAX_CLUSTERS and cs < 65536:
            cs *= 2
    return max(cs, sector_size)


def plan(total_sectors: int, fat_type: int, cluster_size: int, sector_size: int,
         hidden_sectors: int = 0) -> Layout:
    """The layout for one FAT type and cluster size; FAT sized to cover every cluster."""
    fat32 = fat_type == 32
    small = total_sectors < 0x10000 and not fat32
    layout = Layout(
        jump=b"\xeb\x00\x90", oem=b"DISKKIT ", sector_size=sector_size,
        sectors_per_cluster=cluster_size // sector_size, reserved_sectors=32 if fat32 else 1,
        num_fats=2, root_entries=0 if fat32 else ROOT_ENTRIES,
        total_sectors_16=total_sectors if small else 0, media=0xF8,
        fat_sectors_16=0 if fat32 else 1, sectors_per_track=63, heads=255,
        hidden_sectors=hidden_sectors, total_sectors_32=0 if small else total_sectors,
        fat_sectors_32=1 if fat32 else 0, ext_flags=0, fs_version=0,
        root_cluster=2 if fat32 else 0, fsinfo_sector=1 if fat32 else 0,
        backup_boot_sector=6 if fat32 else 0, reserved=bytes(12),
        drive_number=0x80, state=0, boot_signature=0x29, volume_id=0, label=NO_NAME,
        fs_type=f"FAT{fat_type}".ljust(8).encode())
    # jump over the BPB to the boot code that follows the extended BPB
    layout.jump = bytes([0xEB, layout.extended_offset + EXTENDED_BPB.size - 2, 0x90])
    size_field = "fat_sectors_32" if fat32 else "fat_sectors_16"
    while True:
        clusters = max(0, layout.cluster_count)
        fat_bytes = ((clusters + 2) * fat_type + 7) // 8
        need = -(-fat_bytes // sector_size)
        if need <= layout.fat_sectors:
            return layout
        setattr(layout, size_field, need)


def _count_ok(fat_type: int, clusters: int) -> bool:
    if fat_type == 12:
        return 1 <= clusters <= FAT12_MAX_CLUSTERS
    if fat_type == 16:
        return FAT12_MAX_CLUSTERS < clusters <= FAT16_MAX_CLUSTERS
    return FAT32_MIN_CLUSTERS <= clusters <= FAT32_MAX_CLUSTERS


def _range_text(fat_type: int) -> str:
    return {12: "1 to 4,084", 16: "4,085 to 65,524", 32: "at least 65,525"}[fat_type]


def choose_layout(size: int, sector_size: int, fat_type: int | None, cluster_size: int | None,
                  hidden_sectors: int = 0) -> Layout:
    """Pick type and cluster size (or check the forced ones) so the cluster count is legal."""
    if fat_type not in (None, 12, 16, 32):
        raise UsageError(f"FAT type must be 12, 16 or 32, not {fat_type}")
    if cluster_size is not None:
        if (cluster_size < sector_size or cluster_size % sector_size
                or cluster_size & (cluster_size - 1) or cluster_size > 65536):
            raise UsageError(f"cluster size {cluster_size} must be a power of two from the sector "
                             f"size ({sector_size}) to 64 KiB")
    total = size // sector_size
    if total < 16:
        raise UsageError(f"{format_size(size)} is too small for a FAT filesystem")
    if fat_type is None:
        order = [32, 16, 12] if size >= AUTO_FAT32_FROM else [16, 12, 32]
    else:
        order = [fat_type]
    tried = []
    for ft in order:
        cs = cluster_size or default_cluster_size(ft, size, sector_size)
        layout = plan(total, ft, cs, sector_size, hidden_sectors)
        if layout.first_data_sector < total and _count_ok(ft, layout.cluster_count):
            return layout
        tried.append((ft, cs, max(0, layout.cluster_count)))
    ft, cs, count = tried[0]
    extra = (" (UEFI firmware rejects smaller FAT32 volumes; use FAT16 or a larger volume)"
             if ft == 32 else "")
    raise UsageError(f"cannot make FAT{ft} on {format_size(size)} with {cs}-byte clusters: "
                     f"{count:,} clusters, FAT{ft} needs {_range_text(ft)}{extra}")


def _zero_what_is_not(dev, end: int) -> None:
    """Make ``[0, end)`` read as zeros, touching only the ranges that hold data."""
    for offset, length in dev.allocated_ranges():
        if offset >= end:
            break
        dev.write_zeroes(offset, min(length, end - offset))


def _volume_id(size: int, hidden: int) -> int:
    """A random serial, or one derived from SOURCE_DATE_EPOCH, the size and the position."""
    return int.from_bytes(unique_bytes(4, "fat-serial", size, hidden), "little")


def mkfs(dev, fat_type: int | None = None, label: str | None = None,
         cluster_size: int | None = None, volume_id: int | None = None,
         hidden_sectors: int | None = None, codepage: str = names.DEFAULT_CODEPAGE) -> Layout:
    """Format ``dev`` (a whole image or a partition slice) and return the layout chosen.

    ``label`` goes into the boot sector and a root-directory label entry, in ``codepage``."""
    if not dev.writable:
        raise UsageError(f"{dev.name}: opened read-only")
    ss = dev.sector_size
    hidden = dev.disk_offset // ss if hidden_sectors is None else hidden_sectors
    layout = choose_layout(dev.size, ss, fat_type, cluster_size, hidden)
    raw_label = names.validate_label(label, names.codepage(codepage)) if label else None
    layout.label = raw_label or NO_NAME
    if volume_id is not None and not 0 <= volume_id <= 0xFFFFFFFF:
        raise UsageError(f"volume ID {volume_id:#x} does not fit in 32 bits")
    layout.volume_id = _volume_id(dev.size, hidden) if volume_id is None else volume_id

    bits = layout.fat_type
    root_offset = layout.cluster_offset(layout.root_cluster) if bits == 32 else layout.root_dir_offset
    metadata_end = layout.first_data_sector * ss + (layout.cluster_size if bits == 32 else 0)
    _zero_what_is_not(dev, metadata_end)  # only what holds data: a fresh image is all holes

    first_entries = [0x0FFFFF00 | layout.media, EOC[bits]] + ([EOC[bits]] if bits == 32 else [])
    if bits == 12:
        head = bytes([layout.media, 0xFF, 0xFF])
    else:
        mask = (1 << bits) - 1
        head = b"".join((v & mask).to_bytes(bits // 8, "little") for v in first_entries)
    for copy in range(layout.num_fats):
        dev.write_at(layout.fat_offset(copy), head)
    if raw_label:
        entry = Entry("", names.pack_short(raw_label[:8], raw_label[8:]), ATTR_VOLUME_ID)
        entry.stamp(timestamp())
        dev.write_at(root_offset, entry.pack())

    boot = build_boot_sector(layout)
    if bits == 32:  # FSInfo and the third boot sector, then the backup copies, in one write
        fsinfo = build_fsinfo(layout.cluster_count - 1, 3, ss)
        third = bytearray(ss)
        third[510:512] = b"\x55\xaa"
        backup = layout.backup_boot_sector
        area = bytearray((backup + 3) * ss)
        for base in (0, backup):
            area[base * ss:(base + 3) * ss] = boot + fsinfo + third
        dev.write_at(ss, area[ss:])
    dev.write_at(0, boot)  # last: until now the device holds no half-made filesystem
    dev.flush()
    return layout
