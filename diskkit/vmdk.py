"""VMware descriptors: the text format of a VMDK descriptor and a minimal .vmx (pure).

diskkit writes ``monolithicFlat`` descriptors whose FLAT extent is a fixed VHD's data
(``diskkit.ops.vmdk.wrap``), and reads the extent names of any descriptor to say which file
holds the disk. Sparse VMDK extents are recognised (``signatures.container``), not read.
"""

from __future__ import annotations

import zlib

from .errors import UsageError

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


def extents(text: str) -> list[str]:
    """The extent file names a descriptor lists (``RW 2048 FLAT "disk-flat.vmdk" 0``)."""
    names = []
    for line in text.splitlines():
        words = line.split('"')
        if len(words) >= 3 and words[0].split()[:1] in (["RW"], ["RDONLY"], ["NOACCESS"]):
            names.append(words[1])
    return names
