"""VHD (Microsoft Virtual Hard Disk 1.0): create, open, info, check, resize.

``create`` writes fixed (sparse, instant) or dynamic images; ``open_vhd`` returns a
BlockDevice (``FixedDevice`` or ``DynamicDevice``); ``info`` and ``check`` describe and
validate an image without trusting it; ``resize`` changes the container size in place.
"""

from __future__ import annotations

import datetime
import errno
import os
from dataclasses import dataclass

from ..blockdev import FileRegion, open_host_file
from ..errors import CorruptImage, ImageIOError, NoSpace, Unsupported, UsageError
from ..fileio import atomic_output
from . import dynamic as dyn
from .dynamic import DEFAULT_BLOCK_SIZE, DynamicDevice, DynamicHeader
from .fixed import FixedDevice
from .footer import (DIFFERENCING, DYNAMIC, FIXED, FOOTER_SIZE, Footer, build_footer,
                     is_footer, new_footer, parse_footer, size_warnings, timestamp_to_unix)

__all__ = ["create", "new_image", "reserve_space", "open_vhd", "info", "check", "resize", "probe", "size_warnings",
           "DEFAULT_BLOCK_SIZE"]

TYPES = {"fixed": FIXED, "dynamic": DYNAMIC}


@dataclass
class Probe:
    """Where a file's VHD footer is and which copy was used."""

    footer: Footer
    footer_offset: int | None  # offset of a valid trailing footer, None if only the copy is
    file_size: int
    used_copy: bool = False  # the trailing footer was missing or bad; the copy at 0 is used


def probe(region: FileRegion) -> Probe | None:
    """Find the footer: last 512 bytes, last 511 (old Virtual PC), or the dynamic copy at 0.

    Returns None for files that are not VHDs (raw images). Raises CorruptImage when a footer
    is present but damaged and no valid copy exists.
    """
    size = region.file_size()
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
        except CorruptImage:
            copy = None
        if copy is not None and copy.disk_type in (DYNAMIC, DIFFERENCING):
            return Probe(copy, None, size, used_copy=True)
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


def _differencing_error(name: str, header: DynamicHeader) -> Unsupported:
    return Unsupported(f"{name}: differencing VHD (parent {header.parent_name!r}, UUID "
                       f"{_uuid(header.parent_unique_id)}): reading it needs the parent image, "
                       "which diskkit does not support yet")


def open_vhd(path: str, writable: bool = False, allow_device: bool = False,
             found: Probe | None = None, deferred: bool = False):
    """Open a fixed or dynamic VHD as a BlockDevice (``.container``, ``.footer``)."""
    fh = open_host_file(str(path), writable, allow_device)
    region = FileRegion(fh, str(path))
    try:
        found = found or probe(region)
        if found is None:
            raise CorruptImage(f"{path}: not a VHD (no 'conectix' footer at the end or start)")
        footer = found.footer
        if footer.disk_type == FIXED:
            limit = found.footer_offset
            if footer.current_size > limit:
                raise CorruptImage(f"{path}: fixed VHD of {footer.current_size} bytes is "
                                   f"truncated: the footer sits at offset {limit}")
            region.close()
            return FixedDevice(str(path), footer, limit, writable, allow_device)
        if footer.disk_type not in (DYNAMIC, DIFFERENCING):
            raise CorruptImage(f"{path}: unknown VHD disk type {footer.disk_type} in the footer")
        header = read_header(region, footer, found.file_size)
        if footer.disk_type == DIFFERENCING:
            raise _differencing_error(str(path), header)
        return DynamicDevice(region, footer, header, found.footer_offset, writable, deferred)
    except BaseException:
        if not fh.closed:
            fh.close()
        raise


def _check_block_size(block_size: int) -> None:
    if block_size < 4096 or block_size > 256 * 1024 * 1024 or block_size & (block_size - 1):
        raise UsageError(f"block size {block_size} must be a power of two from 4 KiB to 256 MiB "
                         "(2 MiB is the standard)")


def create(path: str, size: int, vhd_type: str = "fixed", block_size: int = DEFAULT_BLOCK_SIZE,
           preallocate: bool | None = None, force: bool = False,
           unique_id: bytes | None = None, timestamp: int | None = None) -> str:
    """Create a new VHD of ``size`` bytes. Fixed images are sparse unless preallocated
    (the default on Windows, which refuses to attach sparse VHD files)."""
    footer = _new_image_footer(size, vhd_type, block_size, preallocate, unique_id, timestamp)
    with atomic_output(str(path), force) as tmp:
        write_new(tmp, footer, block_size, preallocate, name=str(path))
    return str(path)


def _new_image_footer(size, vhd_type, block_size, preallocate, unique_id, timestamp) -> Footer:
    """Validate a create request; the footer the new image gets."""
    if vhd_type not in TYPES:
        raise UsageError(f"unknown VHD type {vhd_type!r} (use fixed or dynamic)")
    footer = new_footer(size, TYPES[vhd_type], unique_id, timestamp)
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
    with open(path, "wb", buffering=0) as fh:
        region = FileRegion(fh, name or str(path))
        if footer.disk_type == FIXED:
            _write_fixed(region, footer, preallocate)
        else:
            _write_dynamic(region, footer, block_size)


def new_image(path: str, size: int, vhd_type: str, block_size: int = DEFAULT_BLOCK_SIZE,
              preallocate: bool | None = None, unique_id: bytes | None = None, name=None):
    """Write an empty VHD to a temporary ``path`` and open it for writing (convert, compact).

    Dynamic outputs are opened ``deferred``: the BAT is written once, when closed.
    """
    footer = _new_image_footer(size, vhd_type, block_size, preallocate, unique_id, None)
    write_new(path, footer, block_size, preallocate, name)
    return open_vhd(path, writable=True, deferred=vhd_type == "dynamic")


def _write_fixed(region: FileRegion, footer: Footer, preallocate: bool) -> None:
    size = footer.current_size
    region.truncate(size)
    if preallocate:
        reserve_space(region, size)
    region.pwrite(size, build_footer(footer))


def reserve_space(region: FileRegion, size: int) -> None:
    """Reserve the blocks without writing zeros (posix_fallocate), where available."""
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(region.fd, 0, size)
            return
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise NoSpace(f"{region.name}: no space to preallocate {size} bytes") from None
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise ImageIOError(f"{region.name}: preallocation failed: {exc.strerror}") from None
    chunk = bytes(4 * 1024 * 1024)
    for pos in range(0, size, len(chunk)):
        region.pwrite(pos, chunk[:min(len(chunk), size - pos)])


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


def _uuid(raw: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes=raw))


def _iso(stamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp_to_unix(stamp),
                                           datetime.timezone.utc).isoformat()


def info(path: str) -> dict:
    """Everything the footer and header say, plus file size and bytes allocated on disk."""
    fh = open_host_file(str(path), False)
    region = FileRegion(fh, str(path))
    try:
        found = probe(region)
        st = os.fstat(fh.fileno())
        out = {"path": str(path), "file_size": st.st_size,
               "allocated_bytes": getattr(st, "st_blocks", 0) * 512}
        if found is None:
            out.update(container="raw", virtual_size=st.st_size)
            return out
        f = found.footer
        out.update(
            container=f.type_name, virtual_size=f.current_size, original_size=f.original_size,
            geometry={"cylinders": f.cylinders, "heads": f.heads, "sectors": f.sectors_per_track,
                      "chs_size": f.chs_size},
            creator={"application": f.creator_app.decode("latin-1"),
                     "version": f"{f.creator_version >> 16}.{f.creator_version & 0xFFFF}",
                     "host_os": f.creator_host_os.decode("latin-1")},
            uuid=f.uuid, timestamp=_iso(f.timestamp), saved_state=bool(f.saved_state),
            features=f.features, format_version=f"{f.format_version >> 16}.{f.format_version & 0xFFFF}",
            warnings=size_warnings(f.current_size),
        )
        mismatch = f.geometry_mismatch()
        if mismatch:
            out["warnings"].append(mismatch)
        if found.used_copy:
            out["warnings"].append("trailing footer missing or damaged; using the copy at offset 0")
        if f.disk_type in (DYNAMIC, DIFFERENCING):
            header = read_header(region, f, found.file_size)
            out.update(block_size=header.block_size, max_table_entries=header.max_table_entries,
                       table_offset=header.table_offset)
            if f.disk_type == DIFFERENCING:
                out["parent"] = {"name": header.parent_name,
                                 "uuid": _uuid(header.parent_unique_id),
                                 "timestamp": _iso(header.parent_timestamp)}
            else:
                dev = DynamicDevice(region, f, header, found.footer_offset)
                out["allocated_blocks"] = dev.allocated_blocks
        return out
    finally:
        fh.close()


from .check import check  # noqa: E402  (uses the helpers above)
from .resize import resize  # noqa: E402
