"""Write a ``Description`` to an image file through diskkit's public API.

The container is created, the table laid down entry by entry at the exact positions the
description gives, each FAT volume formatted and filled, then any damage applied. Every
identifier comes from the description and every time stamp is ``Description.timestamp``, so
the same description always gives the same bytes. The file appears only when complete.
"""

from __future__ import annotations

import contextlib
import os

from .. import fat, guid, part, vhd, vhdx
from ..blockdev import SliceDevice
from ..fileio import atomic_output
from ..image import open_image
from .model import Container, Description, FatVolume, Table
from .space import min_disk_size, tree_entries


def as_description(thing) -> Description:
    """A whole description for a part of one: a container alone is a blank disk, a table
    gets the smallest raw disk that holds it, a volume fills a raw disk."""
    if isinstance(thing, Description):
        return thing
    if isinstance(thing, Container):
        return Description(thing)
    if isinstance(thing, Table):
        return Description(Container("raw", min_disk_size(thing)), table=thing)
    if isinstance(thing, FatVolume):
        return Description(Container("raw", thing.size), filesystem=thing)
    raise TypeError(f"cannot build a {type(thing).__name__}")


@contextlib.contextmanager
def fixed_clock(timestamp: int):
    """Every time stamp diskkit writes while building is ``timestamp`` (via SOURCE_DATE_EPOCH,
    the variable each layer already honours), restored afterwards."""
    saved = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(timestamp))
    try:
        yield
    finally:
        if saved is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def build(thing, path, force: bool = False, durable: bool = True) -> Description:
    """Write the image ``thing`` describes (a ``Description`` or one of its parts) to
    ``path``; returns the whole description. Refuses to replace a file unless ``force``;
    ``durable=False`` skips every fsync (scratch images)."""
    desc = as_description(thing)
    with atomic_output(os.fspath(path), force, durable) as tmp:
        with fixed_clock(desc.timestamp):
            with new_container(desc, tmp) as dev:
                dev.region.durable = durable
                fill(Unflushed(dev, 0, dev.size, name=dev.name), desc)
        if desc.damage:
            from .damage import apply

            for damage in desc.damage:
                apply(tmp, desc, damage)
    return desc


class Unflushed(SliceDevice):
    """A whole device whose flushes are held back: the table and FAT code flush (fsync)
    after every step, which an image still being built need not pay for. The container
    itself is flushed once, when closed."""

    def flush(self) -> None:
        pass


def new_container(desc: Description, path: str):
    """Write the empty container at ``path`` (a temporary output) and open it for writing;
    a dynamic VHD or VHDX writes its block table once, when closed."""
    c = desc.container
    if c.kind == "raw":
        with open(path, "wb") as fh:
            fh.truncate(c.size)
        return open_image(path, writable=True)
    if c.kind.startswith("vhdx"):
        return vhdx.new_image(path, c.size, c.kind == "vhdx-fixed",
                              c.block_size or vhdx.DEFAULT_BLOCK_SIZE, desc.sector_size,
                              preallocate=False,
                              disk_id=guid.guid_bytes(c.unique_id) if c.unique_id else None)
    return vhd.new_image(path, c.size, c.kind, c.block_size or vhd.DEFAULT_BLOCK_SIZE,
                         preallocate=False,
                         unique_id=bytes.fromhex(c.unique_id.replace("-", "")) if c.unique_id
                         else None)


def fill(dev, desc: Description) -> None:
    """Lay the table, extents and filesystems of ``desc`` onto an open, blank device."""
    dev.sector_size = desc.sector_size
    if desc.table is not None:
        write_table(dev, desc.table)
    for extent in desc.extents:
        dev.write_at(extent.offset, extent.content())
    for partition, volume in desc.volumes():
        if partition is None:
            target = SliceDevice(dev, 0, volume.size, name=f"{dev.name} filesystem")
        else:
            target = part.partition_device(dev, partition.index)
        write_volume(target, volume)
    dev.flush()


def write_table(dev, table: Table) -> None:
    ss = table.sector_size
    if table.kind == "gpt":
        part.init_gpt(dev, ss, table.disk_guid, table.entry_count)
    else:
        part.init_mbr(dev, ss, table.disk_signature)
    for p in table.partitions:
        if table.kind == "gpt":
            part.add_partition(dev, p.type, p.size, name=p.name, start=p.start, align=ss,
                               guid=p.guid, attributes=p.attributes, index=p.index)
        else:
            part.add_partition(dev, p.type, p.size, start=p.start, align=ss, bootable=p.bootable,
                               index=None if p.logical else p.index, logical=p.logical)


def write_volume(dev, volume: FatVolume) -> None:
    """Format ``dev`` as the volume says and put its tree in, parents before children."""
    layout = fat.mkfs(dev, volume.fat_type, volume.label, volume.cluster_size, volume.serial)
    if (layout.fat_type, layout.cluster_count) != (volume.fat_type, volume.cluster_count):
        raise RuntimeError(f"fat.mkfs made FAT{layout.fat_type} with {layout.cluster_count} "
                           f"clusters where the description says FAT{volume.fat_type} with "
                           f"{volume.cluster_count}: the synth geometry is out of step with mkfs")
    contents = {f.path: f for f in volume.files if not f.directory}
    with fat.FatFS(dev) as fs:
        for parent, name, directory, _ in tree_entries(volume.files):
            path = f"{parent}/{name}".lstrip("/")
            if directory:
                fs.mkdir("/" + path)
            else:
                fs.write_file("/" + path, contents[path].content())
