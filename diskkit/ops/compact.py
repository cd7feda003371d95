"""``compact``: give back the space of all-zero blocks.

A dynamic VHD or VHDX is rewritten without its all-zero blocks (temporary file, then rename:
an interruption leaves the original). Raw images, fixed VHDs and the blocks of a fixed VHDX
get holes punched in place where 64 KiB runs are all zero; punching zeros never changes what
the disk reads, so any interruption leaves a valid image. ``zero_free`` first zeroes the free clusters of every FAT
filesystem inside (whole image or partitions), so they can be dropped too.
"""

from __future__ import annotations

import os

from ..errors import DiskkitError
from ..fileio import atomic_output
from ..image import detect, open_image
from ..progress import progress
from . import allocated_total, chunks, nonzero_runs
from .convert import copy_device, new_output


def _allocated_bytes(path: str) -> int:
    return getattr(os.stat(path), "st_blocks", 0) * 512


def zero_free_fat(dev) -> list[dict]:
    """Zero the free clusters of each FAT filesystem on ``dev``; what was done, per volume."""
    from ..fat import FatFS
    from ..part import partition_device, read_table

    targets = []
    table = read_table(dev)
    if table is None:
        targets.append(("whole image", dev))
    else:
        targets += [(f"partition {p.index}", partition_device(dev, p.index))
                    for p in table.partitions]
    done = []
    for where, volume in targets:
        try:
            fs = FatFS(volume)
        except DiskkitError:
            continue  # not FAT (NTFS, empty, extended container): left alone
        with fs:
            done.append({"volume": where, "zeroed_bytes": fs.zero_free()})
    return done


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


def _rewritten_container(path: str, allow_device: bool) -> str | None:
    """The container compact rewrites (dynamic VHD or VHDX: all-zero blocks leave the
    table), or None for images it punches holes into in place."""
    from ..image import is_vhdx

    if is_vhdx(path, allow_device):
        with open_image(path, allow_device=allow_device) as dev:
            return "vhdx" if dev.vhdx_type == "dynamic" else None
    found = detect(path, allow_device)
    return "dynamic" if found is not None and found.footer.type_name == "dynamic" else None


def compact(path: str, zero_free: bool = False, allow_device: bool = False) -> dict:
    """Drop all-zero blocks of ``path`` in place; returns bytes allocated before and after."""
    path = str(path)
    before = _allocated_bytes(path)
    result = {"path": path, "allocated_before": before}
    if zero_free:
        with open_image(path, writable=True, allow_device=allow_device) as dev:
            result["zero_free"] = zero_free_fat(dev)
    rewrite = _rewritten_container(path, allow_device)
    if rewrite is not None:
        with open_image(path) as source:
            result["container"] = source.container
            unique_id = source.layout.disk_id if rewrite == "vhdx" else source.footer.unique_id
            with atomic_output(path, force=True) as tmp:
                with new_output(tmp, rewrite, source.size, source.block_size,
                                unique_id=unique_id, name=path,
                                sector_size=source.sector_size) as target:
                    copy_device(source, target, f"compact {os.path.basename(path)}")
    else:
        with open_image(path, writable=True, allow_device=allow_device) as dev:
            result["container"] = dev.container
            punch_zero_runs(dev)
    result["allocated_after"] = _allocated_bytes(path)
    return result
