"""``convert``: any container to any other, streaming only the allocated non-zero chunks.

The output is built under a temporary name and renamed when complete, so an interrupted
convert leaves the destination untouched. Holes and all-zero chunks stay holes (raw,
fixed) or unallocated blocks (dynamic). The copy engine is ``copy_device``: mapped source
chunks, O_DIRECT writes in a second thread, reflinks between raw and fixed images where the
filesystem has them. ``skip_free`` copies
no free cluster of the FAT and NTFS filesystems inside (``freespace``): they read as zeros,
so they become holes or unallocated blocks, as Hyper-V's Optimize-VHD leaves them.
"""

from __future__ import annotations

import os

from .. import vhd
from ..blockdev import FileDevice, io_error, is_zero
from ..errors import UsageError
from ..fileio import atomic_output
from ..image import open_image
from ..progress import progress, showing
from . import WriteBehind, allocated_total, chunks, copy_chunk_size, nonzero_runs

CONTAINERS = ("raw", "fixed", "dynamic", "vhdx", "vhdx-fixed")


def new_output(tmp: str, to: str, size: int, block_size: int | None = None,
               preallocate: bool | None = None, unique_id: bytes | None = None,
               name: str | None = None, sector_size: int = 512):
    """An empty, writable output container of ``size`` bytes at the temporary path ``tmp``.

    ``block_size`` None is each format's default (2 MiB for VHD, 32 MiB for VHDX);
    ``sector_size`` is the logical sector size a VHDX output keeps (4096 from a 4K disk)."""
    if to not in CONTAINERS:
        raise UsageError(f"unknown container {to!r} (use {', '.join(CONTAINERS)})")
    if to.startswith("vhdx"):
        from .. import vhdx

        if size % sector_size:
            raise UsageError(f"{name or tmp}: a VHDX needs a size that is a multiple of "
                             f"{sector_size}; the source has {size} bytes")
        return vhdx.new_image(tmp, size, to == "vhdx-fixed", block_size, sector_size,
                              preallocate, unique_id, name)
    if to == "raw":
        try:
            open(tmp, "wb").close()
        except OSError as exc:
            raise io_error(name or tmp, exc) from None
        dev = FileDevice(tmp, writable=True)
        dev.resize(size)  # sparse; EFBIG/ENOSPC become NoSpace
        if preallocate:
            dev.region.reserve(size)
        return dev
    if size % 512:
        raise UsageError(f"{name or tmp}: a VHD needs a size that is a multiple of 512; "
                         f"the source has {size} bytes")
    return vhd.new_image(tmp, size, to, block_size or vhd.DEFAULT_BLOCK_SIZE, preallocate,
                         unique_id, name)


def copy_device(source, target, desc: str = "copying") -> None:
    """Write the non-zero 64 KiB runs of every allocated chunk of ``source`` to ``target``.

    Zeros inside a chunk (say, in an allocated dynamic block) stay holes in the output
    file, and all-zero blocks are never allocated in a dynamic output. The chunks are mapped
    from the source file where they lie in one piece (no copy through user space), written
    with ``O_DIRECT`` in large aligned runs, in a second thread while the next chunk is read
    (``WriteBehind``); between raw and fixed images on a filesystem with reflinks they are
    shared (``FileRegion.clone_from``) instead of written.
    """
    clone = _same_offsets(source, target)
    if hasattr(target, "region"):
        target.region.write_direct()  # the copy's large aligned writes skip the page cache

    def put(offset: int, view: memoryview) -> None:
        nonlocal clone
        if clone:
            shared = target.region.clone_from(source.region.fd, offset, len(view))
            if shared:
                return
            clone = shared is not None  # None: these files cannot share extents at all
        target.write_at(offset, view)

    chunk = copy_chunk_size(source)
    total = allocated_total(source) if showing() else 0  # the bar's total costs a second walk
    with progress(total, desc) as bar, WriteBehind(put, chunk) as writer:
        for offset, view in chunks(source, chunk, bar.update, writer.take):
            writer.write(offset, view, [] if is_zero(view) else list(nonzero_runs(view)))


def _same_offsets(source, target) -> bool:
    """Both sides host files keeping virtual offset == file offset (raw, fixed VHD)."""
    return (getattr(source, "container", None) in ("raw", "fixed") and
            getattr(target, "container", None) in ("raw", "fixed") and
            hasattr(source, "region") and hasattr(target, "region"))


def _check_sector_change(source, sector_size: int) -> None:
    """A partition table is laid out in sectors: one made for another sector size would not
    be found (or be misread) on the new disk, so such a change is refused (a raw copy of a
    4Kn disk, its GPT in 4 KiB sectors, may become a 4096-byte-sector VHDX)."""
    from .. import part
    from ..errors import CorruptImage

    try:
        table = part.read_table(source)
        laid_out = table.sector_size if table is not None else sector_size
    except CorruptImage:
        laid_out = source.sector_size
    if laid_out != sector_size:
        raise UsageError(f"{source.name}: its partition table is laid out for "
                         f"{laid_out}-byte sectors, and a disk with {sector_size}-byte "
                         "sectors would not find it; keep the source's sector size (omit "
                         "--logical-sector), or convert a disk without a partition table")


def convert(src: str, dst: str, to: str, block_size: int | None = None,
            preallocate: bool | None = None, force: bool = False, allow_device: bool = False,
            unique_id: bytes | None = None, skip_free: bool = False,
            logical_sector: int | None = None) -> dict:
    """Convert ``src`` (raw, fixed or dynamic VHD, VHDX) into a new ``dst`` of container ``to``.

    ``logical_sector`` (VHDX outputs): the output's logical sector size; None keeps the
    source's."""
    if to not in CONTAINERS:
        raise UsageError(f"unknown container {to!r} (use {', '.join(CONTAINERS)})")
    if logical_sector is not None and not to.startswith("vhdx"):
        raise UsageError("--logical-sector applies to VHDX outputs (--to vhdx or vhdx-fixed)")
    with open_image(src, allow_device=allow_device) as opened:
        sector_size = logical_sector or opened.sector_size
        if sector_size != opened.sector_size:
            _check_sector_change(opened, sector_size)
        source, free = opened, None
        if skip_free:  # imported when asked: the filesystems' code costs every convert start-up
            from .freespace import WithoutFree, free_space

            free = free_space(opened)  # an unclean NTFS refused here
            source = WithoutFree(opened, free.ranges)
        with atomic_output(str(dst), force) as tmp:
            with new_output(tmp, to, source.size, block_size, preallocate, unique_id,
                            str(dst), sector_size) as target:
                copy_device(source, target, f"convert {os.path.basename(str(src))}")
        result = {"source": str(src), "source_container": opened.container,
                  "output": str(dst), "container": to, "virtual_size": source.size}
        if free is not None:
            result["skipped_free"] = free.to_dict()
    st = os.stat(dst)
    result.update(file_size=st.st_size, allocated_bytes=getattr(st, "st_blocks", 0) * 512)
    return result
