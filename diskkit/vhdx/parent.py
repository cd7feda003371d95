"""Differencing VHDX (Hyper-V checkpoints, ``.avhdx``): finding and trusting the parent.

A differencing disk names its parent in the parent locator metadata item (MS-VHDX 2.6.2.6):
a relative path, a volume path and an absolute Win32 path, tried in that order (the spec's
order), then the absolute path's file name next to the child (a chain copied off Windows).
A parent is used only when its DataWriteGuid is the child's ``parent_linkage`` (or
``parent_linkage2``): anything else means the parent changed after the checkpoint and its
data would be silently wrong. Chains are followed to ``MAX_DEPTH`` levels; a file met twice
is a loop and refused.
"""

from __future__ import annotations

import os

from ..errors import CorruptImage, NotFound, Unsupported
from ..guid import is_guid, normalize
from .structures import VHDX_PARENT_LOCATOR_TYPE, guid_text

MAX_DEPTH = 16  # Hyper-V chains are a few checkpoints deep; this bounds a hostile one
PATH_KEYS = ("relative_path", "volume_path", "absolute_win32_path")


def candidates(child: str, entries: dict) -> list[str]:
    """Host paths where the parent may be, best first."""
    folder = os.path.dirname(os.path.abspath(child))
    out = []
    for key in PATH_KEYS:
        value = entries.get(key, "").replace("\\", "/")
        if not value:
            continue
        if key == "relative_path":
            out.append(os.path.normpath(os.path.join(folder, value)))
        elif value.startswith("/"):
            out.append(value)
    absolute = entries.get("absolute_win32_path", "").replace("\\", "/")
    if absolute:
        out.append(os.path.join(folder, absolute.rsplit("/", 1)[-1]))
    return list(dict.fromkeys(out))


def linkages(entries: dict, name: str) -> set[str]:
    """The parent DataWriteGuids the child accepts, as canonical text."""
    out = set()
    for key in ("parent_linkage", "parent_linkage2"):
        value = entries.get(key)
        if value is not None and value.strip("{}0-"):  # a zero GUID names no parent
            if not is_guid(value):
                raise CorruptImage(f"{name}: parent locator {key} {value!r} is not a GUID")
            out.add(normalize(value))
    if not out:
        raise CorruptImage(f"{name}: the parent locator has no parent_linkage")
    return out


def open_parent(name: str, layout, chain: tuple, open_vhdx):
    """The parent of differencing disk ``name`` opened read-only with ``open_vhdx`` (its own
    parents too), after checking the linkage GUID, size and sector size; ``chain``: real
    paths already open."""
    locator = layout.parent
    if locator["type"] != guid_text(VHDX_PARENT_LOCATOR_TYPE):
        raise Unsupported(f"{name}: parent locator type {locator['type']} is not the VHDX "
                          "one; diskkit cannot find such a parent")
    entries = locator["entries"]
    accepted = linkages(entries, name)
    if len(chain) > MAX_DEPTH:
        raise CorruptImage(f"{name}: the parent chain is more than {MAX_DEPTH} disks deep")
    places = candidates(name, entries)
    path = next((p for p in places if os.path.isfile(p)), None)
    if path is None:
        raise NotFound(f"{name}: parent {places[0] if places else 'unnamed'!r} not found "
                       "(a differencing VHDX reads through its parent; keep the chain in one "
                       "folder)")
    if os.path.realpath(path) in chain:
        raise CorruptImage(f"{name}: parent {path!r} is already in the chain (a loop)")
    parent = open_vhdx(path, chain=chain)
    try:
        data_write = guid_text(parent.header.data_write_guid)
        if data_write not in accepted:
            raise CorruptImage(f"{name}: parent {path!r} has DataWriteGuid {data_write}, not "
                               f"the linkage {sorted(accepted)[0]}: it changed after this "
                               "checkpoint was taken, so reading through it would be wrong")
        if parent.size != layout.size or parent.sector_size != layout.logical_sector:
            raise CorruptImage(f"{name}: parent {path!r} is {parent.size} bytes with "
                               f"{parent.sector_size}-byte sectors, the child "
                               f"{layout.size} with {layout.logical_sector}")
    except BaseException:
        parent.close()
        raise
    return parent


def describe_chain(device) -> list[dict]:
    """Each disk of an open chain, child first: path, type, DataWriteGuid."""
    out = []
    while device is not None:
        out.append({"path": device.name, "type": device.vhdx_type,
                    "data_write_guid": guid_text(device.header.data_write_guid)})
        device = device.parent
    return out
