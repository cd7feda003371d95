"""VMware ``monolithicFlat`` descriptors that use a fixed VHD in place.

A fixed VHD is the disk's raw sectors followed by a 512-byte footer, so a FLAT extent of
exactly the virtual size at offset 0 of the .vhd file is the whole disk: VMware Workstation
and Player (and qemu) read and write it without a copy, and the footer stays untouched.
Dynamic VHDs have no such layout and are refused. Optionally writes a minimal .vmx.
"""

from __future__ import annotations

import os
import zlib

from ..errors import NotFound, UsageError, Unsupported
from ..fileio import atomic_output, check_new_output
from ..image import open_image

# sata (AHCI, the default) is the controller the QEMU and VirtualBox VMs use too, so Windows
# binds the same storahci driver it needs on most real machines.
ADAPTERS = ("sata", "lsilogic", "buslogic", "ide")


def descriptor_adapter(adapter: str) -> str:
    """The descriptor's ddb.adapterType: VMware writes "ide" for a SATA-attached disk."""
    return "ide" if adapter == "sata" else adapter


def vmware_geometry(sectors: int, adapter: str) -> tuple[int, int, int]:
    """Cylinders/heads/sectors as VMware writes them: 16 heads for IDE/SATA, 255 for SCSI."""
    heads, cyl_max = (16, 16383) if descriptor_adapter(adapter) == "ide" else (255, 65535)
    return min(sectors // (heads * 63), cyl_max), heads, 63


def _quoted_name(name: str) -> str:
    if any(c in name for c in '"\n\r'):
        raise UsageError(f"{name!r}: a VMDK extent name cannot contain quotes or newlines")
    return name


def descriptor(extent: str, sectors: int, adapter: str = "sata",
               unique_id: bytes = bytes(16)) -> str:
    """The descriptor text; ``extent`` is the data file's path relative to the descriptor."""
    if adapter not in ADAPTERS:
        raise UsageError(f"unknown adapter {adapter!r} (use {', '.join(ADAPTERS)})")
    c, h, s = vmware_geometry(sectors, adapter)
    cid = zlib.crc32(unique_id) & 0xFFFFFFFF
    if cid in (0xFFFFFFFF, 0xFFFFFFFE):
        cid = 0x12345678
    uuid = " ".join(f"{b:02x}" for b in unique_id)
    return "\n".join([
        "# Disk DescriptorFile",
        "version=1",
        'encoding="UTF-8"',
        f"CID={cid:08x}",
        "parentCID=ffffffff",
        'createType="monolithicFlat"',
        "",
        "# Extent description",
        f'RW {sectors} FLAT "{_quoted_name(extent)}" 0',
        "",
        "# The Disk Data Base",
        "#DDB",
        "",
        'ddb.virtualHWVersion = "4"',
        f'ddb.adapterType = "{descriptor_adapter(adapter)}"',
        f'ddb.geometry.cylinders = "{c}"',
        f'ddb.geometry.heads = "{h}"',
        f'ddb.geometry.sectors = "{s}"',
        f'ddb.uuid = "{uuid}"',
        "",
    ])


def vmx(name: str, vmdk: str, adapter: str = "sata", memory_mib: int = 4096,
        cpus: int = 2, iso: str | None = None) -> str:
    """A minimal VM definition: UEFI firmware, the disk on its adapter, memory and CPUs;
    with ``iso`` a CD drive holding it, booted first (installing from a PE)."""
    if memory_mib < 4 or memory_mib % 4:
        raise UsageError(f"VM memory {memory_mib} MiB must be a positive multiple of 4 MiB")
    if cpus < 1:
        raise UsageError("a VM needs at least one CPU")
    lines = [
        '.encoding = "UTF-8"',
        'config.version = "8"',
        'virtualHW.version = "19"',
        f'displayName = "{_quoted_name(name)}"',
        'guestOS = "windows9-64"',
        'firmware = "efi"',
        f'memsize = "{memory_mib}"',
        f'numvcpus = "{cpus}"',
    ]
    if adapter == "ide":
        lines += ['ide0:0.present = "TRUE"', f'ide0:0.fileName = "{_quoted_name(vmdk)}"']
    elif adapter == "sata":
        lines += ['sata0.present = "TRUE"', 'sata0:0.present = "TRUE"',
                  f'sata0:0.fileName = "{_quoted_name(vmdk)}"']
    else:
        lines += ['scsi0.present = "TRUE"', f'scsi0.virtualDev = "{adapter}"',
                  'scsi0:0.present = "TRUE"', f'scsi0:0.fileName = "{_quoted_name(vmdk)}"']
    if iso:
        if adapter != "sata":
            lines.append('sata0.present = "TRUE"')
        lines += ['sata0:1.present = "TRUE"', 'sata0:1.deviceType = "cdrom-image"',
                  f'sata0:1.fileName = "{_quoted_name(iso)}"', 'sata0:1.startConnected = "TRUE"',
                  'bios.bootOrder = "cdrom,hdd"']
    return "\n".join(lines) + "\n"


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
