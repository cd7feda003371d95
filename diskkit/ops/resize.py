"""Whole-image resize: the container, then the partition table, then optionally a partition.

Order, so an interruption anywhere leaves an image ``diskkit check`` accepts:
- grow: enlarge the container (the old GPT stays valid where it is: only its backup is no
  longer at the end, a warning); write the new backup array and header at the new end, the
  protective MBR, then the primary header (one sector) pointing at them; then, if asked,
  grow the partition (an ordinary GPT edit: backup first, primary last).
- shrink: first lay the table out for the smaller disk, inside the current one (new backup
  before the cut, primary header last), then cut the container. Until the cut the image is a
  valid disk whose GPT merely does not reach its end.
"""

from __future__ import annotations

from .. import part
from ..errors import CorruptImage, Unsupported, UsageError
from ..image import first_data_from, open_image
from ..units import format_size

SECTOR = 512


def _plan(dev, new_size: int, grow_part: int | None, force: bool):
    """Refuse what cannot be done before anything is written; the table as read."""
    path = dev.name
    try:
        table = part.read_table(dev)
    except CorruptImage as exc:
        raise CorruptImage(f"{exc}; run 'diskkit part repair' before resizing") from None
    if table is not None and table.kind == "gpt" and table.findings:
        raise CorruptImage(f"{path}: the GPT has problems ({table.findings[0].message}); run "
                           "'diskkit part repair' first")
    if table is not None and new_size % table.sector_size:
        raise UsageError(f"new size {new_size} is not a multiple of the "
                         f"{table.sector_size}-byte sector")
    cut = part.cut_partitions(table, new_size) if table is not None else []
    if cut and not force:
        names = ", ".join(f"{p.index} (ends at {format_size(p.start + p.size)})" for p in cut)
        raise UsageError(f"{path}: {format_size(new_size)} would cut partition(s) {names}; "
                         "pass --force to cut them")
    if table is None and not force and new_size < dev.size:
        at = first_data_from(dev, new_size)
        if at is not None:
            raise UsageError(f"{path}: shrinking to {new_size} bytes would cut data at "
                             f"offset {at}; pass force (--force) to cut it")
    if grow_part is not None:
        if table is None:
            raise UsageError(f"{path}: no partition table, so no partition {grow_part} to grow")
        target = next((p for p in table.partitions if p.index == grow_part), None)
        if target is None:
            raise UsageError(f"{path}: no partition {grow_part}")
        limit = part.last_usable_for(table, new_size)
        if target.first_lba > limit:
            raise UsageError(f"{path}: partition {grow_part} starts past the new end; "
                             "there is nothing left of it to grow")
        later = [p for p in table.partitions if target.first_lba < p.first_lba <= limit
                 and not p.logical]
        if later:
            raise UsageError(f"{path}: partition {grow_part} is not the last one (partition "
                             f"{later[0].index} follows it)")
    return table


def resize_image(path: str, new_size: int, grow_part: int | None = None, force: bool = False,
                 allow_device: bool = False, relative: bool = False) -> dict:
    """Resize IMAGE (raw, fixed or dynamic VHD; VHDX grows only) in place and fix its
    partition table.

    ``relative``: ``new_size`` is added to the current size. The image is opened once.
    Returns old and new size, container, table kind and a list of what changed.
    """
    path = str(path)
    with open_image(path, writable=True, allow_device=allow_device) as dev:
        old_size, container = dev.size, dev.container
        if relative:
            new_size += old_size
        if new_size <= 0 or new_size % SECTOR:
            raise UsageError(f"new size {new_size} must be a positive multiple of {SECTOR} "
                             "bytes")
        if new_size < old_size and container == "vhdx":
            raise Unsupported(f"{path}: shrinking a VHDX is not supported; convert it to a raw "
                              "image, resize that, and convert it back")
        table = _plan(dev, new_size, grow_part, force)
        changes = []
        if new_size < old_size and table is not None:
            changes += part.fit_to_disk(dev, new_size, cut=force)
        if new_size != old_size:
            dev.resize(new_size)  # partitions were checked above; the old backup GPT may go
            changes.append(f"{container} image resized from {format_size(old_size)} to "
                           f"{format_size(new_size)}")
        if table is not None:
            changes += part.fit_to_disk(dev)
        if grow_part is not None:
            before = next(p for p in part.read_table(dev).partitions if p.index == grow_part)
            after = part.resize_partition(dev, grow_part, grow=True)
            if after.size != before.size:
                changes.append(f"partition {grow_part} grown from {format_size(before.size)} "
                               f"to {format_size(after.size)}")
    return {"path": path, "container": container, "old_size": old_size, "new_size": new_size,
            "table": table.kind if table is not None else None, "changes": changes}
