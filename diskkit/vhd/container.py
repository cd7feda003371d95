"""Finding and opening a VHD in a host file: the footer probe, the dynamic header, the device.

``probe`` reads only the footer copies; ``open_found`` builds the device on the already-open
host file, so ``image.open_image`` opens and probes a file once.
"""

from __future__ import annotations

from ..blockdev import FileRegion
from ..errors import CorruptImage, Unsupported
from ..guid import uuid_text
from . import dynamic as dyn
from .dynamic import DynamicDevice, DynamicHeader
from .fixed import FixedDevice
from .footer import (DIFFERENCING, DYNAMIC, FIXED, FOOTER_SIZE, Footer, footer_info, is_footer,
                     iso_time, parse_footer)


class Probe:
    """Where a file's VHD footer is and which copy was used."""

    def __init__(self, footer: Footer, footer_offset: int | None, file_size: int,
                 used_copy: bool = False):
        self.footer = footer
        self.footer_offset = footer_offset  # of a valid trailing footer; None: only the copy is
        self.file_size = file_size
        self.used_copy = used_copy  # the trailing footer was missing or bad; the copy at 0 is used


def refuse_truncated(region: FileRegion, size: int) -> None:
    """A file too short for a footer that starts with the cookie is a cut-off VHD, not raw."""
    if size < FOOTER_SIZE - 1 and is_footer(region.pread(0, min(size, 8))):
        raise CorruptImage(f"{region.name}: truncated VHD: the file has only {size} bytes but "
                           f"starts with a VHD footer ('conectix'), which needs {FOOTER_SIZE}")


def probe(region: FileRegion) -> Probe | None:
    """Find the footer: last 512 bytes, last 511 (old Virtual PC), or the dynamic copy at 0.

    Returns None for files that are not VHDs. Raises CorruptImage when a footer is present
    but damaged and no valid copy exists, or when the file is too short to hold one.
    """
    size = region.file_size()
    refuse_truncated(region, size)
    tail = None
    for length in (FOOTER_SIZE, FOOTER_SIZE - 1):
        if size >= length:
            data = region.pread(size - length, length)
            if is_footer(data):
                tail = (size - length, data)
                break
    head = region.pread(0, FOOTER_SIZE) if size >= FOOTER_SIZE else b""
    error = None
    if tail is not None:
        try:
            return Probe(parse_footer(tail[1], f"{region.name}: footer at offset {tail[0]}"),
                         tail[0], size)
        except CorruptImage as exc:
            error = exc
    if is_footer(head):
        try:
            copy = parse_footer(head, f"{region.name}: footer copy at offset 0")
        except CorruptImage as exc:
            copy, error = None, error or exc
        if copy is not None and copy.disk_type in (DYNAMIC, DIFFERENCING):
            return Probe(copy, None, size, used_copy=True)
        if error is None:
            error = CorruptImage(f"{region.name}: VHD footer copy at offset 0 but no footer at "
                                 "the end of the file (truncated fixed VHD?)")
    if error is not None:
        raise error
    return None


def read_header(region: FileRegion, footer: Footer, file_size: int) -> DynamicHeader:
    """The dynamic header the footer points at, validated against the file size."""
    at = footer.data_offset
    if at + dyn.HEADER_SIZE > file_size:
        raise CorruptImage(f"{region.name}: the {dyn.HEADER_SIZE}-byte dynamic header at offset "
                           f"{at} runs past the end of the file ({file_size} bytes)")
    return dyn.parse_header(region.pread(at, dyn.HEADER_SIZE),
                            f"{region.name}: dynamic header at offset {at}")


def open_found(region: FileRegion, found: Probe, writable: bool = False, deferred: bool = False):
    """The device of a probed VHD, built on ``region`` (which it then owns)."""
    footer = found.footer
    if footer.disk_type == FIXED:
        limit = found.footer_offset
        if limit is None or footer.current_size > limit:
            raise CorruptImage(f"{region.name}: fixed VHD of {footer.current_size} bytes is "
                               f"truncated: the footer sits at offset {limit}")
        return FixedDevice(region, footer, limit, writable)
    if footer.disk_type not in (DYNAMIC, DIFFERENCING):
        raise CorruptImage(f"{region.name}: unknown VHD disk type {footer.disk_type} in the footer")
    header = read_header(region, footer, found.file_size)
    if footer.disk_type == DIFFERENCING:
        raise Unsupported(f"{region.name}: differencing VHD (parent {header.parent_name!r}, UUID "
                          f"{uuid_text(header.parent_unique_id)}): reading it needs the parent "
                          "image, which diskkit does not support yet")
    return DynamicDevice(region, footer, header, found.footer_offset, writable, deferred)


def open_vhd(path: str, writable: bool = False, allow_device: bool = False,
             deferred: bool = False):
    """Open a fixed or dynamic VHD as a BlockDevice (``.container``, ``.footer``).

    ``deferred`` (new dynamic outputs) keeps BAT updates in memory until ``flush``.
    """
    region = FileRegion.open(path, writable, allow_device)
    try:
        found = probe(region)
        if found is None:
            raise CorruptImage(f"{path}: not a VHD (no 'conectix' footer at the end or start)")
        return open_found(region, found, writable, deferred)
    except BaseException:
        region.close()
        raise


def describe(region: FileRegion, found: Probe) -> dict:
    """What the footer and header say (``vhd info``); differencing disks name their parent."""
    footer = found.footer
    if footer.disk_type == DIFFERENCING:
        header = read_header(region, footer, found.file_size)
        out = footer_info(footer)
        out.update(block_size=header.block_size, max_table_entries=header.max_table_entries,
                   table_offset=header.table_offset,
                   parent={"name": header.parent_name, "uuid": uuid_text(header.parent_unique_id),
                           "timestamp": iso_time(header.parent_timestamp)})
    else:
        out = open_found(region, found).info()
    if found.used_copy:
        out["warnings"].append("trailing footer missing or damaged; using the copy at offset 0")
    return out


def info(path: str) -> dict:
    """``describe`` a VHD file, with its size and allocation; other files show as raw."""
    region = FileRegion.open(path)
    try:
        out = {"path": str(path), **region.allocation()}
        found = probe(region)
        if found is None:
            out.update(container="raw", virtual_size=out["file_size"])
        else:
            out.update(describe(region, found))
        return out
    finally:
        region.close()
