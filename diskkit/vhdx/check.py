"""``check``: every VHDX structure validated on its own, each problem reported with its offset.

Nothing is trusted: a damaged piece is reported and the checks that do not depend on it
carry on. The log is judged as the spec replays it, and the rest is read as it will be once
replayed (in memory: checking never writes).
"""

from __future__ import annotations

from ..blockdev import FileRegion, open_host_file
from ..errors import DiskkitError
from ..report import Report
from . import bat as batmod
from . import log as logmod
from .device import check_regions, find_log, overlaid, parent_path, read_metadata
from .structures import (ALIGN, BAT_REGION, HEADER_OFFSETS, HEADER_SECTION, HAS_PARENT,
                         METADATA_REGION,
                         LEAVE_BLOCKS_ALLOCATED, REGION_TABLE_OFFSETS, ZERO_GUID, current_header,
                         is_vhdx, parse_header, parse_region_table)


def check(path: str) -> Report:
    """Identifier, both headers, both region tables, log, metadata and BAT of ``path``."""
    region = FileRegion(open_host_file(str(path), False), str(path))
    try:
        return check_region(region)
    finally:
        region.close()


def check_region(region: FileRegion) -> Report:
    """``check`` of an open host file (``diskkit.image``'s container registry)."""
    report = Report(subject=region.name)
    _check(region, report)
    return report


def _short(exc: Exception) -> str:
    """The message without the file name and structure prefix the parsers put in front."""
    return str(exc).split(": ", 2)[-1] if str(exc).count(": ") >= 2 else str(exc)


def _check(region: FileRegion, report: Report) -> None:
    size = region.file_size()
    report.facts.update(container="vhdx", file_size=size)
    if not is_vhdx(region.pread(0, 8)):
        report.error("vhdx identifier", "no 'vhdxfile' signature", 0)
        return
    header = _check_headers(region, report)
    if header is None:
        return
    read = _check_log(region, header, size, report)
    if read is None:
        return
    regions = _check_region_tables(read, header, size, report)
    if regions is None:
        return
    try:
        meta = read_metadata(read, regions[METADATA_REGION], "")
    except DiskkitError as exc:
        report.error("vhdx metadata", _short(exc), regions[METADATA_REGION].file_offset)
        return
    report.facts.update(virtual_size=meta["size"], block_size=meta["block_size"],
                        logical_sector_size=meta["logical_sector"])
    differencing = bool(meta["flags"] & HAS_PARENT)
    if differencing:
        report.facts["parent"] = meta["parent"]["entries"]
        report.warning("vhdx differencing", f"parent {parent_path(meta['parent'])!r}: blocks "
                       "are validated, parent contents are not")
    _check_bat(read, header, regions, meta, size, differencing, report)


def _check_headers(region: FileRegion, report: Report):
    slots = []
    for i, at in enumerate(HEADER_OFFSETS):
        try:
            slots.append(parse_header(region.pread(at, 4096), f"header {i + 1}"))
        except DiskkitError as exc:
            slots.append(None)
            report.warning("vhdx header", str(exc), at)
    slot, header = current_header(slots)
    if header is None:
        report.error("vhdx header", "neither header is valid", HEADER_OFFSETS[0])
        return None
    if slots.count(None):
        report.warning("vhdx header", f"only header {slot + 1} is valid: one more damaged "
                       "sector and the image cannot be opened", HEADER_OFFSETS[slot])
    at = HEADER_OFFSETS[slot]
    report.facts.update(current_header=slot + 1, sequence=header.sequence_number)
    if header.version != 1:
        report.error("vhdx header", f"version {header.version} (only 1 is specified)", at + 66)
        return None
    if header.log_length % ALIGN or header.log_offset % ALIGN or \
            (header.log_length and header.log_offset < HEADER_SECTION):
        report.error("vhdx header", f"log of {header.log_length} bytes at offset "
                     f"{header.log_offset} is not 1 MiB-aligned after the header section", at + 68)
    if header.log_guid != ZERO_GUID and header.log_version != 0:
        report.error("vhdx log", f"log version {header.log_version} (only 0 is specified) with "
                     "a log to replay", at + 64)
        return None
    return header


def _check_log(region: FileRegion, header, size: int, report: Report):
    """The reader that shows the file as replayed, or None when the log cannot be replayed."""
    if header.log_guid == ZERO_GUID:
        report.facts["log"] = "empty"
        return region.pread
    try:
        sequence = find_log(region.pread, header, size, "")
    except DiskkitError as exc:
        report.error("vhdx log", _short(exc), header.log_offset)
        return None
    if not sequence:
        report.facts["log"] = "no valid entries"
        report.warning("vhdx log", "the log GUID is set but no valid entry sequence matches it "
                       "(an update interrupted before its first entry): nothing to replay",
                       header.log_offset)
        return region.pread
    count = f"{len(sequence)} entr{'y' if len(sequence) == 1 else 'ies'}"
    report.facts["log"] = f"{count} to replay"
    report.warning("vhdx log", f"{count} (sequence {sequence[0].sequence_number}.."
                   f"{sequence[-1].sequence_number}) wait to be replayed: an update was "
                   "interrupted; opening the image for writing replays the log", header.log_offset)
    return overlaid(region.pread, logmod.Overlay(logmod.plan_writes(sequence)))


def _check_region_tables(read, header, size: int, report: Report):
    tables = []
    for i, at in enumerate(REGION_TABLE_OFFSETS):
        try:
            tables.append(parse_region_table(read(at, 64 * 1024), f"copy {i + 1}"))
        except DiskkitError as exc:
            tables.append(None)
            report.error("vhdx region table", str(exc), at)
    regions = tables[0] if tables[0] is not None else tables[1]
    if regions is None:
        return None
    if tables[0] is not None and tables[1] is not None and \
            _entries(tables[0]) != _entries(tables[1]):
        report.error("vhdx region table", "the two copies differ", REGION_TABLE_OFFSETS[1])
    try:
        check_regions(regions, header, size, "")
    except DiskkitError as exc:
        report.error("vhdx region table", _short(exc), REGION_TABLE_OFFSETS[0])
        return None
    return regions


def _entries(table: dict) -> dict:
    return {g: (e.file_offset, e.length, e.required) for g, e in table.items()}


def _check_bat(read, header, regions, meta, size: int, differencing: bool,
               report: Report) -> None:
    bat_region = regions[BAT_REGION]
    block_size, ls = meta["block_size"], meta["logical_sector"]
    count = batmod.entry_count(meta["size"], block_size, ls, differencing)
    ratio = batmod.chunk_ratio(block_size, ls)
    if count * 8 > bat_region.length:
        report.error("vhdx BAT", f"the {bat_region.length}-byte region holds fewer than the "
                     f"{count} entries the disk needs", bat_region.file_offset)
        return
    if count > batmod.MAX_ENTRIES:
        report.error("vhdx BAT", f"{count} entries exceed diskkit's limit of "
                     f"{batmod.MAX_ENTRIES}; entries not checked", bat_region.file_offset)
        return
    table = batmod.parse(read(bat_region.file_offset, count * 8), count)
    blocks = batmod.data_blocks(meta["size"], block_size)
    spans = [(0, HEADER_SECTION, "header section")]
    if header.log_length:
        spans.append((header.log_offset, header.log_offset + header.log_length, "log"))
    spans += [(e.file_offset, e.file_offset + e.length, "BAT region" if g == BAT_REGION
               else "metadata region") for g, e in regions.items()]
    bad = batmod.find_problems(table, ratio, blocks, block_size, size, spans, differencing)
    for idx in sorted(bad):
        report.error("vhdx BAT", f"entry {idx}: {bad[idx]}", bat_region.file_offset + 8 * idx)
    present = 0
    for idx, entry in enumerate(table):
        if (idx + 1) % (ratio + 1) == 0:
            if entry & 7 == batmod.SB_PRESENT and not differencing and idx not in bad:
                report.error("vhdx BAT", f"entry {idx}: sector bitmap block present in a disk "
                             "without a parent", bat_region.file_offset + 8 * idx)
        elif entry & 7 in batmod.HAS_DATA:
            present += 1
    report.facts["allocated_blocks"] = present
    if meta["flags"] & LEAVE_BLOCKS_ALLOCATED and present < blocks and not differencing:
        report.warning("vhdx BAT", f"fixed disk with {blocks - present} of {blocks} blocks not "
                       "allocated in the file (they read as zeros)", bat_region.file_offset)
