"""New VHDX files, laid out as Hyper-V lays them out.

    0       file type identifier (creator "diskkit <version>")
    64 KiB  headers, 192 KiB region tables
    1 MiB   log (1 MiB, empty)
    2 MiB   metadata region (1 MiB)
    3 MiB   BAT region (rounded up to 1 MiB)
    then    payload blocks: none for a dynamic disk; every block, in order, for a fixed one

A fixed VHDX is sparse on the host (instant) unless preallocated.
"""

from __future__ import annotations

import os
from array import array

from .. import __version__
from ..blockdev import FileRegion
from ..errors import UsageError
from ..fileio import atomic_output
from . import bat as batmod
from .device import new_guid, open_vhdx, round_up
from .structures import (BAT_REGION, FILE_PARAMETERS, FILE_PARAMETERS_ITEM, HAS_PARENT,
                         HEADER_OFFSETS, PARENT_LOCATOR, build_parent_locator,
                         LEAVE_BLOCKS_ALLOCATED, LOGICAL_SECTOR_SIZE, MAX_BLOCK, MAX_DISK_SIZE,
                         METADATA_REGION, MIN_BLOCK, MiB, PHYSICAL_SECTOR_SIZE,
                         REGION_TABLE_OFFSETS, SECTOR_SIZES, VIRTUAL_DISK_ID, VIRTUAL_DISK_SIZE,
                         build_header, build_identifier, build_metadata_region,
                         build_region_table, new_header)

DEFAULT_BLOCK_SIZE = 32 * MiB  # Hyper-V's default
LOG_OFFSET, LOG_LENGTH = MiB, MiB
METADATA_OFFSET, METADATA_LENGTH = 2 * MiB, MiB
BAT_OFFSET = 3 * MiB
PHYSICAL_SECTOR = 4096  # what Hyper-V reports for new disks


def check_request(size: int, block_size: int, logical_sector: int) -> None:
    """Refuse parameters no VHDX reader accepts."""
    if logical_sector not in SECTOR_SIZES:
        raise UsageError(f"logical sector size {logical_sector} must be 512 or 4096")
    if block_size < MIN_BLOCK or block_size > MAX_BLOCK or block_size & (block_size - 1):
        raise UsageError(f"VHDX block size {block_size} must be a power of two from 1 MiB to "
                         "256 MiB (32 MiB is the standard)")
    if size <= 0 or size % logical_sector or size > MAX_DISK_SIZE:
        raise UsageError(f"VHDX size {size} must be a positive multiple of the "
                         f"{logical_sector}-byte logical sector, at most 64 TiB")


def write_new(path: str, size: int, block_size: int = DEFAULT_BLOCK_SIZE,
              logical_sector: int = 512, fixed: bool = False, preallocate: bool | None = None,
              disk_id: bytes | None = None, name: str | None = None,
              parent: dict | None = None) -> None:
    """Write an empty VHDX to ``path`` (a temporary output); with ``parent`` (parent locator
    entries) an empty differencing disk, every block read from the parent."""
    check_request(size, block_size, logical_sector)
    if preallocate and not fixed:
        raise UsageError("--preallocate applies to fixed VHDX files; a dynamic one grows on write")
    count = batmod.entry_count(size, block_size, logical_sector, parent is not None)
    bat_length = round_up(count * 8)
    data_start = BAT_OFFSET + bat_length
    blocks = batmod.data_blocks(size, block_size)
    ratio = batmod.chunk_ratio(block_size, logical_sector)
    table = array("Q", bytes(8 * count))
    if fixed:
        for block in range(blocks):
            table[batmod.payload_index(block, ratio)] = batmod.make_entry(
                batmod.FULLY_PRESENT, data_start + block * block_size)
    context = (size, block_size, logical_sector, fixed, os.path.basename(name or str(path)))
    end = data_start + blocks * block_size if fixed else data_start
    metadata = build_metadata_region([
        (FILE_PARAMETERS, FILE_PARAMETERS_ITEM.build({
            "block_size": block_size,
            "flags": (LEAVE_BLOCKS_ALLOCATED if fixed else 0) | (HAS_PARENT if parent else 0)})),
        (VIRTUAL_DISK_SIZE, size.to_bytes(8, "little")),
        (VIRTUAL_DISK_ID, disk_id or new_guid("disk id", *context)),
        (LOGICAL_SECTOR_SIZE, logical_sector.to_bytes(4, "little")),
        (PHYSICAL_SECTOR_SIZE, PHYSICAL_SECTOR.to_bytes(4, "little")),
    ] + ([(PARENT_LOCATOR, build_parent_locator(parent))] if parent else []))
    regions = build_region_table({BAT_REGION: (BAT_OFFSET, bat_length),
                                  METADATA_REGION: (METADATA_OFFSET, METADATA_LENGTH)})
    header = new_header(1, LOG_OFFSET, LOG_LENGTH, new_guid("file write", *context),
                        new_guid("data write", *context))
    with open(path, "wb", buffering=0) as fh:
        region = FileRegion(fh, name or str(path))
        region.truncate(end)
        if preallocate or (preallocate is None and fixed and os.name == "nt"):
            region.reserve(end)
        region.pwrite(0, build_identifier(f"diskkit {__version__}"))
        for slot, at in enumerate(HEADER_OFFSETS):
            region.pwrite(at, build_header(dict(header, sequence_number=slot + 1)))
        for at in REGION_TABLE_OFFSETS:
            region.pwrite(at, regions)
        region.pwrite(METADATA_OFFSET, metadata)
        if fixed:
            region.pwrite(BAT_OFFSET, batmod.build(table, 0))


def create(path: str, size: int, block_size: int = DEFAULT_BLOCK_SIZE, logical_sector: int = 512,
           fixed: bool = False, preallocate: bool | None = None, force: bool = False,
           disk_id: bytes | None = None) -> str:
    """Create a new dynamic (or fixed) VHDX of ``size`` bytes."""
    check_request(size, block_size, logical_sector)
    with atomic_output(str(path), force) as tmp:
        write_new(tmp, size, block_size, logical_sector, fixed, preallocate, disk_id, str(path))
    return str(path)


def new_image(path: str, size: int, fixed: bool = False, block_size: int | None = None,
              logical_sector: int = 512, preallocate: bool | None = None,
              disk_id: bytes | None = None, name: str | None = None):
    """Write an empty VHDX to a temporary ``path`` and open it for writing (convert, compact);
    the BAT is written once, on close."""
    write_new(path, size, block_size or DEFAULT_BLOCK_SIZE, logical_sector, fixed, preallocate,
              disk_id, name)
    return open_vhdx(path, writable=True, deferred=True)
