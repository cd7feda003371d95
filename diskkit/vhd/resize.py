"""Container resize in place for raw, fixed and dynamic images, ordered for interruptions.

Every step leaves an image that opens (and passes ``check``) with either the old or the new
size; see docs/vhd.md for the exact order per container. Partition tables are not touched:
the ``diskkit resize`` command moves the backup GPT around this call.
"""

from __future__ import annotations

from array import array
from dataclasses import replace

from ..blockdev import COPY_CHUNK, punch_hole
from ..errors import Unsupported, UsageError
from . import dynamic as dyn
from .footer import DIFFERENCING, FOOTER_SIZE, build_footer, check_virtual_size
from ..blockdev import is_zero


def _first_data_beyond(dev, new_size: int) -> int | None:
    """Offset of the first non-zero byte at or after ``new_size``, or None."""
    for start, length in dev.allocated_ranges():
        pos, end = max(start, new_size), start + length
        while pos < end:
            n = min(COPY_CHUNK, end - pos)
            data = dev.read_at(pos, n)
            if not is_zero(data):
                return pos + (len(data) - len(data.lstrip(b"\0")))
            pos += n
    return None


def _refuse_cut(dev, new_size: int, force: bool) -> None:
    if force or new_size >= dev.size:
        return
    at = _first_data_beyond(dev, new_size)
    if at is not None:
        raise UsageError(f"{dev.name}: shrinking to {new_size} bytes would cut data at offset "
                         f"{at}; pass force (--force) to cut it")


def resize(path: str, new_size: int, force: bool = False, allow_device: bool = False) -> dict:
    """Change the virtual size of a raw, fixed or dynamic image in place.

    Shrinking refuses to cut non-zero data unless ``force``. Returns old and new size.
    """
    from ..image import RawDevice, detect
    from . import open_vhd

    found = detect(str(path), allow_device)
    if found is None:
        if new_size < 0:
            raise UsageError(f"invalid size {new_size}")
        dev = RawDevice(str(path), writable=True, allow_device=allow_device)
    else:
        check_virtual_size(new_size)
        if found.footer.disk_type == DIFFERENCING:
            raise Unsupported(f"{path}: resizing a differencing VHD is not supported")
        dev = open_vhd(str(path), writable=True, allow_device=allow_device, found=found)
    container = dev.container
    with dev:
        old_size = dev.size
        _refuse_cut(dev, new_size, force)
        if new_size != old_size:
            if container == "raw":
                dev.resize(new_size)
            elif container == "fixed":
                _resize_fixed(dev, new_size)
            else:
                _resize_dynamic(dev, new_size)
    return {"path": str(path), "container": container, "old_size": old_size, "new_size": new_size}


def _resize_fixed(dev, new_size: int) -> None:
    """New footer at the new end first, then drop or zero what lies between.

    Growing: the file ends with the new footer from the first write on; the old footer
    sector (now inside the disk) is zeroed next. Shrinking: the new footer overwrites data
    being cut while the old footer still ends the file, then the file is truncated.
    """
    region = dev.region
    old_size, old_footer_at = dev.size, dev.footer_offset
    footer = dev.footer.resized(new_size)
    region.pwrite(new_size, build_footer(footer))
    region.sync()
    if new_size > old_size:
        stale_end = min(old_footer_at + FOOTER_SIZE, new_size)
        if not punch_hole(region.fd, old_size, stale_end - old_size):
            region.pwrite(old_size, bytes(stale_end - old_size))
    else:
        region.truncate(new_size + FOOTER_SIZE)
    region.sync()
    dev.footer, dev.footer_offset, dev.size = footer, new_size, new_size


def _write_footers(dev, footer) -> None:
    """Trailing footer first (authoritative), then the copy at offset 0."""
    raw = build_footer(footer)
    dev.region.pwrite(dev.file_end, raw)
    dev.region.sync()
    dev.region.pwrite(0, raw)
    dev.footer = footer


def _resize_dynamic(dev, new_size: int) -> None:
    header = dev.header
    old_entries = header.max_table_entries
    entries = dyn.table_entries(new_size, header.block_size)
    if entries > old_entries:
        _grow_table(dev, entries)
    footer = dev.footer.resized(new_size)
    if new_size < dev.size:
        _cut_tail(dev, new_size)
    _write_footers(dev, footer)
    dev.region.sync()
    if entries < old_entries:
        _shrink_table(dev, entries)
    dev.size = new_size


def _cut_tail(dev, new_size: int) -> None:
    """Zero the part of the last kept block beyond the new end, so a later grow reads zeros."""
    bs = dev.block_size
    within = new_size % bs
    if within and dev.bat[new_size // bs] != dyn.UNUSED:
        end = min((new_size // bs + 1) * bs, dev.size)
        dev.write_at(new_size, bytes(end - new_size))


def _grow_table(dev, entries: int) -> None:
    """Make room for a longer BAT: move blocks out of its way, then write it, then the header.

    Each moved block gets the footer at its new end first, then its bytes, then its BAT
    entry (in the old table), exactly like a fresh allocation: the image stays valid.
    """
    header = dev.header
    region = dev.region
    new_table_end = header.table_offset + dyn.bat_span(entries)
    in_the_way = sorted((entry, idx) for idx, entry in enumerate(dev.bat)
                        if entry != dyn.UNUSED and entry * 512 < new_table_end)
    dev._next = max(dev._next, dyn.aligned_block_start(new_table_end, dev.bitmap_size))
    if dev.file_end < new_table_end:  # the footer itself sits where the table will grow
        dev._footer_offset = dev._next
        region.pwrite(dev.file_end, build_footer(dev.footer))
    raw_footer = build_footer(dev.footer)
    span = dev.bitmap_size + dev.block_size
    for entry, idx in in_the_way:
        old = dev.block_offset(idx)
        new = dev._next
        region.pwrite(new + span, raw_footer)
        for pos in range(0, span, COPY_CHUNK):
            n = min(COPY_CHUNK, span - pos)
            region.pwrite(new + pos, region.pread(old + pos, n))
        region.sync()
        dev.set_entry(idx, new // 512)
        dev._footer_offset = new + span
        dev._next = dyn.aligned_block_start(new + span, dev.bitmap_size)
    region.sync()
    grown = array("I", dev.bat)
    grown.extend([dyn.UNUSED] * (entries - len(grown)))
    region.pwrite(header.table_offset, dyn.build_bat(grown))
    region.sync()
    new_header = replace(header, max_table_entries=entries)
    region.pwrite(dev.footer.data_offset, dyn.build_header(new_header))
    region.sync()
    dev.header, dev.bat, dev._table_end = new_header, grown, new_table_end


def _shrink_table(dev, entries: int) -> None:
    """Header first (fewer entries), then mark the dropped entries unused."""
    header = replace(dev.header, max_table_entries=entries)
    dev.region.pwrite(dev.footer.data_offset, dyn.build_header(header))
    dev.region.sync()
    kept = array("I", dev.bat[:entries])
    dev.region.pwrite(header.table_offset, dyn.build_bat(kept, dev.header.bat_bytes))
    dev.header, dev.bat = header, kept
