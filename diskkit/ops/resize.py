"""Whole-image resize: the container, then the partition table, then optionally a partition.

Order, so an interruption anywhere leaves an image ``diskkit check`` accepts:
- grow: enlarge the container (the old GPT stays valid where it is: only its backup is no
  longer at the end, a warning); write the new backup array and header at the new end, the
  protective MBR, then the primary header (one sector) pointing at them; then, if asked,
  grow the partition (an ordinary GPT edit: backup first, primary last).
- shrink: first lay the table out for the smaller disk, inside the current one (new backup
  before the cut, primary header last), then cut the container. Until the cut the image is a
  valid disk whose GPT merely does not reach its end.

Filesystems: a shrink never cuts a FAT or NTFS filesystem's used clusters, with or without
--force (an NTFS Windows did not shut down cleanly, or one that cannot be read, is not cut
at all); a refusal names the smallest size that keeps them. After a grow, a filesystem left
smaller than its partition is named with the commands that grow it (Windows' diskpart,
Linux's ntfsresize).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from .. import part
from ..errors import CorruptImage, DiskkitError, UsageError
from ..image import first_data_from, open_image
from ..units import format_size

SECTOR = 512


@dataclass
class Floor:
    """How far a shrink may cut into one volume (offsets on the disk)."""

    where: str  # "partition 2", "whole disk"
    fs: str | None  # "ntfs", "fat32", ..., None when no FAT or NTFS is recognised
    end: int  # where the partition (whole disk: the filesystem) ends
    data_end: int  # where its used clusters end (0: none known; unreadable: ``end``)
    min_size: int  # the filesystem's own smallest size, for resizers that move data
    problem: str | None  # why the volume may not be cut at all (unclean, unreadable)


def floors(dev, table) -> list[Floor]:
    """One ``Floor`` per volume of ``dev``, read from its filesystem's ``Space``."""
    from ..filesystems import space

    out = []
    for volume in part.volumes(dev, table):
        p = volume.partition
        start = p.start if p is not None else 0
        end = p.start + p.size if p is not None else dev.size
        if volume.device is None:
            out.append(Floor(volume.where, None, end, 0, 0, None))
            continue
        try:
            found = space(volume.device)
        except DiskkitError as exc:
            out.append(Floor(volume.where, "unreadable", end, end, end - start,
                             f"filesystem cannot be read ({exc}), so which clusters are in "
                             "use is unknown"))
            continue
        if found is None:
            if p is not None:  # a whole disk without a filesystem: first_data_from judges it
                out.append(Floor(volume.where, None, end, 0, 0, None))
            continue
        if p is None:
            end = min(end, found.size)
        problem = f"NTFS {found.unclean}" if found.unclean else None
        out.append(Floor(volume.where, found.type, end, start + found.data_end, found.min_size,
                         problem))
    return out


def smallest_disk(table, end: int) -> int:
    """The smallest disk size whose usable space reaches byte ``end`` (GPT: with the backup
    array and header after it)."""
    ss = table.sector_size if table is not None else SECTOR
    lbas = -(-end // ss)
    if table is not None and table.kind == "gpt":
        lbas += table.entry_sectors + 1
    return lbas * ss


def _shrink_hint(cut: list[Floor]) -> str:
    """How to make room: shrink the filesystem itself first."""
    hints = [f"{f.where}'s NTFS can shrink to {format_size(f.min_size)} ({f.min_size} bytes) "
             "first: Windows' diskpart 'shrink', or Linux's ntfsresize --size, then diskkit "
             "part resize" for f in cut if f.fs == "ntfs" and f.problem is None]
    return "; " + "; ".join(hints) if hints else ""


def refuse_cutting(path: str, table, new_size: int, found: list[Floor], force: bool) -> None:
    """UsageError/CorruptImage unless shrinking to ``new_size`` keeps every filesystem's used
    clusters (and, without ``force``, every volume whole)."""
    limit = (part.last_usable_for(table, new_size) + 1) * table.sector_size \
        if table is not None else new_size
    cut = [f for f in found if f.end > limit]
    if not cut:
        return
    for f in cut:
        if f.problem:
            raise CorruptImage(f"{path}: {format_size(new_size)} would cut {f.where}, whose "
                               f"{f.problem}; it is not cut even with --force")
    names = ", ".join(f"{f.where} ({f.fs or 'no FAT or NTFS'}, ends at {format_size(f.end)})"
                      for f in cut)
    if not force:
        whole = smallest_disk(table, max(f.end for f in found))
        raise UsageError(f"{path}: {format_size(new_size)} would cut {names}: the smallest size "
                         f"that keeps them whole is {format_size(whole)} ({whole} bytes)"
                         f"{_shrink_hint(cut)}; --force cuts only free clusters")
    into_data = [f for f in cut if f.data_end > limit]
    if into_data:
        keep = smallest_disk(table, max(f.data_end for f in found))
        used = ", ".join(f"{f.where}'s {f.fs} (used clusters end at byte {f.data_end})"
                         for f in into_data)
        raise UsageError(f"{path}: {format_size(new_size)} would cut the used clusters of "
                         f"{used}: the smallest size that keeps them is {format_size(keep)} "
                         f"({keep} bytes){_shrink_hint(into_data)}; --force never cuts data")


def refuse_shrinking_partition(dev, n: int, new_size: int, force: bool = False) -> None:
    """UsageError/CorruptImage unless partition ``n`` of ``dev`` may shrink to ``new_size``
    bytes: as ntfsresize and parted would, never below its FAT or NTFS filesystem's size
    without ``force``, and never below its used clusters (nor an unclean or unreadable
    filesystem at all)."""
    from ..filesystems import space

    table = part.read_table(dev)
    if table is None or new_size <= 0:
        return  # resize_partition gives the error
    target = table.find(n)
    new_size = -(-new_size // table.sector_size) * table.sector_size  # as resize_partition
    found = next((f for f in floors(dev, table) if f.where == f"partition {n}"), None)
    if found is None or found.fs is None or new_size >= target.size:
        return
    path, new_end = dev.name, target.start + new_size
    fs_size = target.size if found.fs == "unreadable" else \
        space(part.partition_device(dev, n)).size
    if new_size >= fs_size:
        return  # the filesystem already fits (ntfsresize shrank it first, say)
    if found.problem:
        raise CorruptImage(f"{path}: shrinking partition {n} to {format_size(new_size)} "
                           f"would cut its filesystem, whose {found.problem}; it is not cut "
                           "even with --force")
    used = found.data_end - target.start
    if force and new_end >= found.data_end:
        return
    if found.fs == "ntfs":
        fits = max(new_size, found.min_size)
        way = ("shrink the NTFS first: Windows' diskpart 'shrink', or Linux: "
               f"{ntfsresize_command(path, dev.container, n, fits)}")
    else:
        way = (f"diskkit cannot shrink {found.fs.upper()}: copy the files into a smaller "
               "filesystem (diskkit fat get, fat mkfs, fat put), or shrink it first with "
               "another tool (Linux: fatresize)")
    head = (f"{path}: partition {n}'s {found.fs.upper()} is {format_size(fs_size)} "
            f"({fs_size} bytes), its used clusters end at byte {used} (smallest size "
            f"{found.min_size} bytes): {format_size(new_size)} ({new_size} bytes)")
    if new_end < found.data_end:
        raise UsageError(f"{head} would cut its data; {way}; --force never cuts used clusters")
    raise UsageError(f"{head} would cut the filesystem; {way}; --force cuts only free clusters")


def resize_partition(dev, n: int, size: int | None = None, grow: bool = False,
                     force: bool = False):
    """``part.resize_partition`` behind the filesystem guard: what ``diskkit part resize``
    does, for scripts. part.resize_partition alone edits only the table."""
    if size is not None:
        refuse_shrinking_partition(dev, n, size, force=force)
    return part.resize_partition(dev, n, size=size, grow=grow)


def ntfsresize_command(path: str, container: str, index: int | None,
                       size: int | None = None) -> str:
    """The Linux command line that resizes the NTFS of partition ``index`` (None: the whole
    disk) of the image at ``path`` to ``size`` bytes (None: to fill its partition)."""
    image = shlex.quote(path)
    resize = "ntfsresize --force" + (f" --size {size}" if size is not None else "")
    if container == "raw":
        if index is None:
            return f"{resize} {image}"
        return (f"LOOP=$(sudo losetup --find --show --partscan {image}) && sudo {resize} "
                f"${{LOOP}}p{index}; sudo losetup --detach $LOOP")
    fmt = "vhdx" if container == "vhdx" else "vpc"
    device = f"/dev/nbd0p{index}" if index is not None else "/dev/nbd0"
    return (f"sudo modprobe nbd && sudo qemu-nbd --connect=/dev/nbd0 --format={fmt} {image} "
            f"&& sudo {resize} {device}; sudo qemu-nbd --disconnect /dev/nbd0")


def grow_notes(path: str, dev, container: str) -> list[str]:
    """What is left to do after a grow: each filesystem smaller than its partition, and how
    to grow it."""
    from ..filesystems import space
    from ..ntfs.check import SMALLER_SLACK  # a partition tail alignment leaves: no remark

    notes = []
    for volume in part.volumes(dev):
        if volume.device is None:
            continue
        try:
            found = space(volume.device)
        except DiskkitError:
            continue
        if found is None or volume.device.size - found.size < SMALLER_SLACK:
            continue
        head = (f"{volume.where}: its {found.type.upper()} is {format_size(found.size)} of "
                f"the {format_size(volume.device.size)} partition")
        if found.type != "ntfs":
            notes.append(f"{head}: the new space is unused until the filesystem is grown "
                         "(Linux: fatresize)")
            continue
        index = volume.index
        diskpart = ("Windows: diskpart (select vdisk file=IMAGE, attach vdisk, select partition "
                    f"{index}, extend filesystem, detach vdisk; 'diskkit ramos script extend "
                    f"--vhd IMAGE --part {index}' writes it)" if index is not None else
                    "Windows: diskpart extend filesystem on the attached volume")
        notes.append(f"{head}: grow it with {diskpart}, or Linux: "
                     f"{ntfsresize_command(path, container, index)} (Windows then runs chkdsk "
                     "once)")
    return notes


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
    if new_size < dev.size:
        refuse_cutting(path, table, new_size, floors(dev, table), force)
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
    """Resize IMAGE (raw, fixed or dynamic VHD, VHDX) in place and fix its
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
        notes = grow_notes(path, dev, container) if new_size > old_size else []
    return {"path": path, "container": container, "old_size": old_size, "new_size": new_size,
            "table": table.kind if table is not None else None, "changes": changes,
            "notes": notes}
