"""``check``: validate every VHD structure and report each problem with its offset.

Never trusts the image: each structure is parsed on its own so one bad piece does not hide
the others, and nothing is allocated from a count before it is checked against the file size.
"""

from __future__ import annotations

from ..blockdev import FileRegion
from ..errors import CorruptImage, DiskkitError
from ..report import Report
from . import dynamic as dyn
from .container import probe, read_header, refuse_truncated
from .footer import (DIFFERENCING, DISK_TYPES, DYNAMIC, FEATURES_RESERVED, FIXED, FOOTER_SIZE,
                     MAX_SIZE, build_footer, is_footer, parse_footer)


def check(path: str) -> Report:
    """Footer, footer copy, header, BAT and bitmaps of ``path``; raw images are clean."""
    region = FileRegion.open(path)
    try:
        return check_region(region)
    finally:
        region.close()


def check_region(region: FileRegion) -> Report:
    """``check`` of an open host file. A file too short for its footer raises CorruptImage."""
    report = Report(subject=region.name)
    size = region.file_size()
    refuse_truncated(region, size)
    _check(region, size, report)
    return report


def _check(region: FileRegion, size: int, report: Report) -> None:
    try:
        found = probe(region)
    except CorruptImage as exc:
        report.error("vhd footer", str(exc).split(": ", 1)[-1], max(size - FOOTER_SIZE, 0))
        return
    if found is None:
        report.facts.update(container="raw", virtual_size=size)
        return
    footer = found.footer
    report.facts.update(container=footer.type_name, virtual_size=footer.current_size)
    if found.used_copy:
        report.error("vhd footer", "trailing footer missing or damaged (the copy at offset 0 "
                     "is intact)", max(size - FOOTER_SIZE, 0))
    elif found.footer_offset == size - (FOOTER_SIZE - 1):
        report.warning("vhd footer", "511-byte footer (old Virtual PC); readers accept it",
                       found.footer_offset)
    at = found.footer_offset if found.footer_offset is not None else 0
    _check_footer_fields(footer, report, at)
    _check_copy(region, footer, found, report)
    if footer.disk_type == FIXED:
        if footer.current_size > found.footer_offset:
            report.error("vhd fixed", f"disk of {footer.current_size} bytes is truncated: "
                         f"the footer sits at offset {found.footer_offset}", found.footer_offset)
        elif footer.current_size < found.footer_offset:
            report.warning("vhd fixed", f"{found.footer_offset - footer.current_size} bytes "
                           "between the disk data and the footer", footer.current_size)
        return
    if footer.disk_type not in (DYNAMIC, DIFFERENCING):
        return
    _check_dynamic(region, footer, found, size, report)


def _check_footer_fields(footer, report: Report, at: int) -> None:
    if footer.disk_type not in DISK_TYPES:
        report.error("vhd footer", f"unknown disk type {footer.disk_type}", at + 60)
    if not footer.features & FEATURES_RESERVED:
        report.warning("vhd footer", "reserved feature bit 0x2 is clear", at + 8)
    if footer.format_version >> 16 != 1:
        report.error("vhd footer", f"unsupported format version {footer.format_version:#x}", at + 12)
    if footer.current_size % 512 or not 0 < footer.current_size <= MAX_SIZE:
        report.error("vhd footer", f"current size {footer.current_size} is not a multiple of "
                     "512 between 512 bytes and 2040 GiB", at + 48)
    mismatch = footer.geometry_mismatch()
    if mismatch:
        report.warning("vhd footer", f"{mismatch}; CHS-based readers see another size", at + 56)
    if footer.saved_state:
        report.warning("vhd footer", "saved-state flag set (the disk belongs to a saved VM)",
                       at + 84)
    if footer.disk_type == FIXED and footer.data_offset != 0xFFFFFFFFFFFFFFFF:
        report.warning("vhd footer", f"fixed disk with data offset {footer.data_offset}", at + 16)


def _check_copy(region: FileRegion, footer, found, report: Report) -> None:
    """The copy at offset 0 (dynamic disks have one; qemu reads it first, whatever the type)."""
    if found.used_copy:
        return
    head = region.pread(0, FOOTER_SIZE)
    if not is_footer(head):
        if footer.disk_type != FIXED:
            report.error("vhd footer copy", "missing (no 'conectix' at offset 0)", 0)
        return
    try:
        copy = parse_footer(head, "footer copy")
    except CorruptImage as exc:
        report.error("vhd footer copy", str(exc).split(": ", 1)[-1], 0)
        return
    if (copy.current_size, copy.disk_type) != (footer.current_size, footer.disk_type):
        report.error("vhd footer copy", f"says a {copy.type_name} disk of {copy.current_size} "
                     f"bytes, the trailing footer a {footer.type_name} disk of "
                     f"{footer.current_size} bytes: readers that use the copy (qemu) see "
                     "another disk", 0)
    elif build_footer(copy) != build_footer(footer):
        report.warning("vhd footer copy", "differs from the trailing footer (interrupted "
                       "update?); the trailing footer is used", 0)


def _check_dynamic(region: FileRegion, footer, found, size: int, report: Report) -> None:
    try:
        header = read_header(region, footer, size)
    except CorruptImage as exc:
        report.error("vhd dynamic header", str(exc).split(": ", 1)[-1], footer.data_offset)
        return
    where = footer.data_offset
    if header.data_offset != 0xFFFFFFFFFFFFFFFF:
        report.warning("vhd dynamic header", "data offset is not all ones", where + 8)
    entries, bs = header.max_table_entries, header.block_size
    report.facts.update(block_size=bs, max_table_entries=entries)
    if entries * bs < footer.current_size:
        report.error("vhd BAT", f"{entries} entries of {bs} bytes cover less than the disk "
                     f"size {footer.current_size}", where + 28)
        return
    if header.table_offset + entries * 4 > size:
        report.error("vhd BAT", f"{entries} entries extend past the end of the file",
                     header.table_offset)
        return
    if footer.disk_type == DIFFERENCING:
        report.facts["parent"] = {"name": header.parent_name}
        if not header.parent_name and not any(loc.data_length for loc in header.parent_locators):
            report.error("vhd differencing", "differencing disk names no parent (empty parent "
                         "name and no parent locators)", where + 64)
        report.warning("vhd differencing", f"parent {header.parent_name!r}: blocks are "
                       "validated, parent contents are not", where + 64)
    if entries > dyn.MAX_BAT_ENTRIES:
        report.error("vhd BAT", f"{entries} entries exceed diskkit's limit of "
                     f"{dyn.MAX_BAT_ENTRIES}; entries not checked", where + 28)
        return
    bat = dyn.parse_bat(region.pread(header.table_offset, entries * 4), entries)
    table_end = header.table_offset + header.bat_bytes
    limit = found.footer_offset if found.footer_offset is not None else size
    bad = dyn.bad_blocks(bat, header, table_end, limit)
    for idx in sorted(bad):
        report.error("vhd BAT", f"entry {idx}: {bad[idx]}", header.table_offset + 4 * idx)
    needed = dyn.table_entries(footer.current_size, bs)
    report.facts["allocated_blocks"] = len(bat) - bat.count(dyn.UNUSED)
    for idx in range(needed, entries):
        if bat[idx] != dyn.UNUSED:
            report.warning("vhd BAT", f"entry {idx} beyond the disk size is allocated",
                           header.table_offset + 4 * idx)
    _check_bitmaps(region, bat, header, bad, report)


def _check_bitmaps(region: FileRegion, bat, header, bad: dict, report: Report) -> None:
    empty = bytes(header.bitmap_size)
    for idx, entry in enumerate(bat):
        if entry == dyn.UNUSED or idx in bad:
            continue
        try:
            bitmap = region.pread(entry * 512, header.bitmap_size)
        except DiskkitError as exc:
            report.error("vhd block bitmap", f"block {idx}: {exc}", entry * 512)
            continue
        if bitmap == empty:
            report.warning("vhd block bitmap", f"block {idx} is allocated but its bitmap is "
                           "empty (reads as zeros)", entry * 512)
        elif not dyn.bitmap_full(bitmap, header.block_size):
            _check_hidden_data(region, idx, entry * 512, bitmap, header, report)


def _check_hidden_data(region: FileRegion, idx: int, base: int, bitmap: bytes, header,
                       report: Report) -> None:
    """Clear bits over non-zero sectors: the spec (and diskkit) read zeros there, while
    qemu and libvhdi ignore a dynamic disk's bitmap and return the stored bytes."""
    piece = 8192  # sectors per read: 4 MiB, whatever the (possibly hostile) block size
    for first in range(0, header.block_size // 512, piece):
        count = min(piece, header.block_size // 512 - first)
        data = region.pread(base + header.bitmap_size + first * 512, count * 512)
        for sector in range(first, first + count):
            at = (sector - first) * 512
            if not bitmap[sector >> 3] & (0x80 >> (sector & 7)) and \
                    data.count(0, at, at + 512) != 512:
                report.warning("vhd block bitmap", f"block {idx}: sector {sector} holds data "
                               "but its bitmap bit is clear (diskkit reads zeros there; qemu "
                               "and libvhdi read the data)", base)
                return
