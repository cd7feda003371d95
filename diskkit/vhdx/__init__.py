"""VHDX (MS-VHDX, Hyper-V's virtual disk format): create, open, info, check.

``open_vhdx`` returns a ``VhdxDevice`` (a BlockDevice with the disk's logical sector size);
``create`` writes dynamic or fixed images; ``info`` and ``check`` describe and validate an
image without trusting it. Differencing VHDX files are read through their parents
(``parent``), read-only.
"""

from __future__ import annotations

import os

from ..blockdev import FileRegion, open_host_file
from . import bat as _bat
from .check import check, check_region
from .create import DEFAULT_BLOCK_SIZE, create, new_image
from ..errors import DiskkitError
from .device import VhdxDevice, load, open_vhdx
from .parent import describe_chain
from .structures import BAT_REGION, METADATA_REGION, creator_text, guid_text, is_vhdx

__all__ = ["create", "new_image", "open_vhdx", "info", "describe", "check", "check_region",
           "is_vhdx", "VhdxDevice",
           "DEFAULT_BLOCK_SIZE"]


def info(path: str) -> dict:
    """What the headers, region table, metadata, log and BAT say, plus file size on disk."""
    region = FileRegion(open_host_file(str(path), False), str(path))
    try:
        return describe(region)
    finally:
        region.close()


def describe(region: FileRegion) -> dict:
    """``info`` of an open host file (``diskkit.image``'s container registry)."""
    path = region.name
    st = os.fstat(region.fd)
    layout, read, overlay, _ = load(region)
    h = layout.header
    out = {"path": str(path), "container": "vhdx", "type": layout.vhdx_type,
           "virtual_size": layout.size, "file_size": st.st_size,
           "allocated_bytes": getattr(st, "st_blocks", 0) * 512,
           "block_size": layout.block_size, "logical_sector_size": layout.logical_sector,
           "physical_sector_size": layout.physical_sector,
           "disk_id": guid_text(layout.disk_id),
           "creator": creator_text(region.pread(0, 520)),
           "header": {"current": layout.header_slot + 1, "sequence": h.sequence_number,
                      "file_write_guid": guid_text(h.file_write_guid),
                      "data_write_guid": guid_text(h.data_write_guid)},
           "log": {"offset": h.log_offset, "length": h.log_length,
                   "replayed_entries": len(layout.log_sequence)},
           "regions": {name: {"offset": layout.regions[gid].file_offset,
                              "length": layout.regions[gid].length}
                       for gid, name in ((BAT_REGION, "bat"), (METADATA_REGION, "metadata"))},
           "warnings": list(layout.warnings)}
    if layout.log_sequence:
        out["warnings"].append(f"the log holds {len(layout.log_sequence)} unreplayed "
                               "entr" + ("y" if len(layout.log_sequence) == 1 else "ies") +
                               " (an interrupted update): diskkit replays the log in memory "
                               "to read, and on disk when it writes")
    if layout.parent is not None:
        entries = layout.parent["entries"]
        out["parent"] = {"locator_type": layout.parent["type"], **entries}
        out["chain"] = parent_chain(region)
    count = layout.bat_entries
    _bat.check_count(count, str(path))
    table = _bat.parse(read(layout.bat_region.file_offset, count * 8), count)
    ratio = layout.chunk_ratio
    blocks = _bat.data_blocks(layout.size, layout.block_size)
    states = {}
    for block in range(blocks):
        name = _bat.STATE_NAMES.get(table[block + block // ratio] & 7, "reserved")
        states[name] = states.get(name, 0) + 1
    out.update(blocks=blocks, block_states=states,
               allocated_blocks=states.get("fully present", 0) +
               states.get("partially present", 0))
    return out


def parent_chain(region: FileRegion) -> dict:
    """The disks a differencing VHDX reads through, child first, or why it cannot."""
    try:
        device = VhdxDevice(FileRegion(open_host_file(region.name, False), region.name))
    except DiskkitError as exc:
        return {"disks": [], "error": str(exc)}
    try:
        return {"disks": describe_chain(device), "error": None}
    finally:
        device.close()

