"""New VHD files: fixed (sparse unless preallocated) or dynamic (an empty BAT)."""

from __future__ import annotations

import os

from ..blockdev import FileRegion, io_error
from ..errors import UsageError
from ..fileio import atomic_output
from . import dynamic as dyn
from .container import open_vhd
from .dynamic import DEFAULT_BLOCK_SIZE, DynamicHeader
from .footer import FIXED, DYNAMIC, FOOTER_SIZE, Footer, build_footer, new_footer

TYPES = {"fixed": FIXED, "dynamic": DYNAMIC}


def _check_block_size(block_size: int) -> None:
    if block_size < 4096 or block_size > 256 * 1024 * 1024 or block_size & (block_size - 1):
        raise UsageError(f"block size {block_size} must be a power of two from 4 KiB to 256 MiB "
                         "(2 MiB is the standard)")


def create(path: str, size: int, vhd_type: str = "fixed", block_size: int = DEFAULT_BLOCK_SIZE,
           preallocate: bool | None = None, force: bool = False,
           unique_id: bytes | None = None, timestamp: int | None = None) -> str:
    """Create a new VHD of ``size`` bytes. Fixed images are sparse unless preallocated
    (the default on Windows, which refuses to attach sparse VHD files)."""
    footer = new_image_footer(str(path), size, vhd_type, block_size, preallocate, unique_id,
                              timestamp)
    with atomic_output(str(path), force) as tmp:
        write_new(tmp, footer, block_size, preallocate, name=str(path))
    return str(path)


def new_image_footer(path: str, size: int, vhd_type: str, block_size: int = DEFAULT_BLOCK_SIZE,
                     preallocate: bool | None = None, unique_id: bytes | None = None,
                     timestamp: int | None = None) -> Footer:
    """Validate a create request; the footer the new image ``path`` gets."""
    if vhd_type not in TYPES:
        raise UsageError(f"unknown VHD type {vhd_type!r} (use fixed or dynamic)")
    footer = new_footer(size, TYPES[vhd_type], unique_id, timestamp,
                        context=(os.path.basename(path),))
    if vhd_type == "dynamic":
        if preallocate:
            raise UsageError("--preallocate applies to fixed VHDs; a dynamic VHD grows on write")
        _check_block_size(block_size)
    return footer


def write_new(path: str, footer: Footer, block_size: int = DEFAULT_BLOCK_SIZE,
              preallocate: bool | None = None, name: str | None = None) -> None:
    """Write an empty image described by ``footer`` to ``path`` (a temporary output)."""
    if preallocate is None:
        preallocate = os.name == "nt"
    try:
        fh = open(path, "wb", buffering=0)
    except OSError as exc:
        raise io_error(name or str(path), exc) from None
    with fh:
        region = FileRegion(fh, name or str(path))
        if footer.disk_type == FIXED:
            region.truncate(footer.current_size)
            if preallocate:
                region.reserve(footer.current_size)
            region.pwrite(footer.current_size, build_footer(footer))
        else:
            _write_dynamic(region, footer, block_size)


def _write_dynamic(region: FileRegion, footer: Footer, block_size: int) -> None:
    entries = dyn.table_entries(footer.current_size, block_size)
    table_offset = FOOTER_SIZE + dyn.HEADER_SIZE
    header = DynamicHeader(table_offset=table_offset, max_table_entries=entries,
                           block_size=block_size)
    raw_footer = build_footer(footer)
    region.pwrite(0, raw_footer)
    region.pwrite(FOOTER_SIZE, dyn.build_header(header))
    region.pwrite(table_offset, b"\xff" * header.bat_bytes)
    region.pwrite(table_offset + header.bat_bytes, raw_footer)


def new_image(path: str, size: int, vhd_type: str, block_size: int = DEFAULT_BLOCK_SIZE,
              preallocate: bool | None = None, unique_id: bytes | None = None,
              name: str | None = None):
    """Write an empty VHD to a temporary ``path`` and open it for writing (convert, compact).

    ``name`` is the final output's name. Dynamic outputs are opened ``deferred``: the BAT is
    written once, when closed.
    """
    footer = new_image_footer(name or str(path), size, vhd_type, block_size, preallocate,
                              unique_id)
    write_new(path, footer, block_size, preallocate, name)
    return open_vhd(path, writable=True, deferred=vhd_type == "dynamic")
