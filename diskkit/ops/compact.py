"""``compact``: give back the space of all-zero blocks.

A dynamic VHD or VHDX is rewritten without its all-zero blocks (temporary file, then rename:
an interruption leaves the original). Raw images, fixed VHDs and the blocks of a fixed VHDX
get holes punched in place where 64 KiB runs are all zero; punching zeros never changes what
the disk reads, so any interruption leaves a valid image. ``zero_free`` drops the free clusters
of every FAT and NTFS filesystem inside too (``freespace``): a rewrite reads them as zeros, an
in-place compact punches them out (their bytes were free, so no file changes); an NTFS that
is not clean is refused before anything is written.
"""

from __future__ import annotations

import os

from ..fileio import atomic_output
from ..image import open_image
from ..progress import progress
from . import allocated_total, chunks, nonzero_runs
from .convert import copy_device, new_output


def _allocated_bytes(path: str) -> int:
    return getattr(os.stat(path), "st_blocks", 0) * 512


def punch_zero_runs(dev) -> int:
    """Deallocate every all-zero 64 KiB run of a raw or fixed image (reads are unchanged)."""
    with progress(allocated_total(dev), f"compact {dev.name}") as bar:
        for offset, view in chunks(dev, on_progress=bar.update):
            gap = 0
            for start, end in nonzero_runs(view):
                if start > gap:
                    dev.write_zeroes(offset + gap, start - gap)
                gap = end
            if gap < len(view):
                dev.write_zeroes(offset + gap, len(view) - gap)


def _rewritten_container(dev) -> str | None:
    """The container compact rewrites (dynamic VHD or VHDX: all-zero blocks leave the
    table), or None for images it punches holes into in place."""
    if dev.container == "dynamic":
        return "dynamic"
    if dev.container == "vhdx" and dev.vhdx_type == "dynamic":
        return "vhdx"
    return None


def compact(path: str, zero_free: bool = False, allow_device: bool = False) -> dict:
    """Drop all-zero blocks of ``path`` in place; returns bytes allocated before and after."""
    path = str(path)
    before = _allocated_bytes(path)
    result = {"path": path, "allocated_before": before}
    with open_image(path, writable=True, allow_device=allow_device) as dev:
        result["container"] = dev.container
        free = None
        if zero_free:  # imported when asked: the filesystems' code costs every start-up
            from .freespace import free_space

            free = free_space(dev)
        if free is not None:
            result["zero_free"] = free.to_dict()
        rewrite = _rewritten_container(dev)
        if rewrite is not None:
            dev.flush()
            unique_id = dev.layout.disk_id if rewrite == "vhdx" else dev.footer.unique_id
            with atomic_output(path, force=True) as tmp:
                with new_output(tmp, rewrite, dev.size, dev.block_size, unique_id=unique_id,
                                name=path, sector_size=dev.sector_size) as target:
                    source = dev
                    if free:
                        from .freespace import WithoutFree

                        source = WithoutFree(dev, free.ranges)
                    copy_device(source, target, f"compact {os.path.basename(path)}")
        else:
            if free is not None:
                for offset, length in free.ranges:
                    dev.write_zeroes(offset, length)
            punch_zero_runs(dev)
    result["allocated_after"] = _allocated_bytes(path)
    return result
