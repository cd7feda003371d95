"""``vmdk wrap``: let VMware use a fixed VHD in place through a ``monolithicFlat`` descriptor.

A fixed VHD is the disk's raw sectors followed by a 512-byte footer, so a FLAT extent of
exactly the virtual size at offset 0 of the .vhd file is the whole disk: VMware Workstation
and Player (and qemu) read and write it without a copy, and the footer stays untouched.
Dynamic VHDs have no such layout and are refused. Optionally writes a minimal .vmx.
"""

from __future__ import annotations

import os

from ..errors import NotFound, UsageError, Unsupported
from ..fileio import atomic_output, check_new_output
from ..image import open_image
from ..vmdk import ADAPTERS, descriptor, vmware_geometry, vmx

__all__ = ["ADAPTERS", "wrap", "vmware_geometry"]


def wrap(image: str, out: str | None = None, adapter: str = "sata", vmx_path: str | None = None,
         memory_mib: int = 4096, cpus: int = 2, force: bool = False,
         iso: str | None = None) -> dict:
    """Write ``out`` (default: IMAGE with .vmdk) describing the fixed VHD (or raw) ``image``."""
    image = str(image)
    with open_image(image) as dev:
        if dev.container not in ("fixed", "raw"):
            raise Unsupported(f"{image}: a {dev.container} VHD cannot be used in place by "
                              f"VMware; convert it first: diskkit convert {image} "
                              f"FIXED.vhd --to fixed")
        if dev.size % 512:
            raise UsageError(f"{image}: size {dev.size} is not a whole number of sectors")
        sectors = dev.size // 512
        unique_id = getattr(getattr(dev, "footer", None), "unique_id", bytes(16))
    out = out or os.path.splitext(image)[0] + ".vmdk"
    if iso and not vmx_path:
        raise UsageError("--iso goes into the VM definition: give --vmx NAME.vmx too")
    if iso and not os.path.isfile(iso):
        raise NotFound(f"{iso}: no such ISO file")
    for path in (out, vmx_path):  # both refused before either is written
        if path:
            check_new_output(path, force)
    extent = os.path.relpath(os.path.abspath(image), os.path.dirname(os.path.abspath(out)))
    text = descriptor(extent, sectors, adapter, unique_id)
    _write_text(out, text, force)
    result = {"vmdk": out, "extent": extent, "sectors": sectors, "adapter": adapter,
              "geometry": dict(zip(("cylinders", "heads", "sectors"),
                                   vmware_geometry(sectors, adapter)))}
    if vmx_path:
        disk = os.path.relpath(os.path.abspath(out), os.path.dirname(os.path.abspath(vmx_path)))
        name = os.path.splitext(os.path.basename(vmx_path))[0]
        cd = os.path.abspath(iso) if iso else None
        _write_text(vmx_path, vmx(name, disk, adapter, memory_mib, cpus, cd), force)
        result["vmx"] = vmx_path
    return result


def _write_text(path: str, text: str, force: bool) -> None:
    with atomic_output(path, force) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
