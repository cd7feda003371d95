"""What is this? Bytes in, a name out, as blkid and qemu-img decide it.

Three questions, each answered from on-disk magic numbers alone (no parsing beyond what
naming needs):

- ``container(head)``: a virtual-disk format diskkit does not read as a disk (VHDX, qcow,
  VMDK, VDI, ...), from a file's first bytes. VHD is found by ``diskkit.vhd.probe`` (its
  footer is at the end); ISO 9660 is a filesystem (``filesystem``) that ``diskkit.image``
  also refuses as a disk.
- ``boot_record(sector)``: the filesystem whose volume boot record this sector is, if it is
  one (an MBR is not); part/mbr uses it to tell a whole-disk filesystem from a table.
- ``filesystem(read, size)``: the filesystem (or other content blkid names: swap, LUKS,
  RAID members) at the start of a volume, with label and UUID where it has them.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable

KiB = 1024

# -- containers ---------------------------------------------------------------------------

# (magic, offset, name); the name keys diskkit.image's registry of containers
_CONTAINER_MAGIC = [
    (b"vhdxfile", 0, "vhdx"),
    (b"KDMV", 0, "vmdk"),  # sparse extent (monolithicSparse, streamOptimized)
    (b"COWD", 0, "vmdk"),  # ESX sparse extent
    (b"\x7f\x10\xda\xbe", 0x40, "vdi"),
    (b"QED\0", 0, "qed"),
    (b"WithoutFreeSpace", 0, "parallels"),
    (b"WithouFreSpacExt", 0, "parallels"),
]
CONTAINER_HEAD = 0x44  # bytes of a file ``container`` needs (at most)
CONTAINER_NAMES = {"vhdx": "VHDX", "qcow": "qcow (version 1)", "qcow2": "qcow2", "vmdk":
                   "VMDK", "vmdk-descriptor": "VMDK descriptor", "vdi": "VirtualBox VDI",
                   "qed": "QED", "parallels": "Parallels"}


def container(head: bytes) -> str | None:
    """The virtual-disk format of a file starting with ``head``, or None (raw or VHD)."""
    if head[:4] == b"QFI\xfb":
        return "qcow" if int.from_bytes(head[4:8], "big") == 1 else "qcow2"
    for magic, offset, name in _CONTAINER_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name
    if head.lstrip()[:21] == b"# Disk DescriptorFile" or head[:19] == b"# Disk Descriptor":
        return "vmdk-descriptor"
    return None


# -- volume boot records ------------------------------------------------------------------

_OEM_IDS = {b"NTFS    ": "ntfs", b"EXFAT   ": "exfat", b"-FVE-FS-": "BitLocker"}


def looks_like_fat(boot: bytes) -> bool:
    """A FAT boot sector as blkid judges one: jump, 0x55AA, a sector size of 512-4096, a
    power-of-two cluster, reserved sectors, 1-4 FATs and a valid media byte."""
    if len(boot) < 512 or boot[510:512] != b"\x55\xaa" or boot[0] not in (0xEB, 0xE9):
        return False
    per_sector = int.from_bytes(boot[11:13], "little")
    per_cluster, reserved, fats, media = boot[13], int.from_bytes(boot[14:16], "little"), \
        boot[16], boot[21]
    return (per_sector in (512, 1024, 2048, 4096) and per_cluster != 0
            and per_cluster & (per_cluster - 1) == 0 and reserved and 1 <= fats <= 4
            and (media == 0xF0 or media >= 0xF8))


def boot_record(sector: bytes) -> str | None:
    """``ntfs``, ``exfat``, ``BitLocker``, ``hpfs`` or ``fat`` when ``sector`` is that
    filesystem's boot sector, else None."""
    if len(sector) < 512:
        return None
    oem = _OEM_IDS.get(bytes(sector[3:11]))
    if oem:
        return oem
    if looks_like_fat(sector):
        return "fat"
    return None


# -- filesystems --------------------------------------------------------------------------

Reader = Callable[[int, int], bytes]
HEAD = 64 * KiB + 4 * KiB  # covers every superblock below except ISO/UDF (read on demand)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def _le(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _ext(sb: bytes) -> dict:
    """ext2/3/4 superblock (at byte 1024): generation from the feature flags, as blkid does."""
    compat, incompat = _le(sb[92:96]), _le(sb[96:100])
    ext4 = incompat & (0x40 | 0x80 | 0x200)  # extents, 64bit, flex_bg
    kind = "ext4" if ext4 else "ext3" if compat & 0x4 else "ext2"
    block = 1024 << min(_le(sb[24:28]), 16)
    blocks = _le(sb[4:8]) | (_le(sb[0x150:0x154]) << 32 if incompat & 0x80 else 0)
    return {"type": kind, "label": _text(sb[120:136]), "uuid": str(uuidlib.UUID(bytes=sb[104:120])),
            "size": blocks * block, "block_size": block}


def _ntfs(read: Reader, size: int, boot: bytes) -> dict:
    per_sector = _le(boot[11:13])
    out = {"type": "ntfs", "uuid": f"{_le(boot[72:80]):016X}", "size": _le(boot[40:48]) * per_sector}
    label = _ntfs_label(read, size, boot)
    if label is not None:
        out["label"] = label
    return out


def _ntfs_label(read: Reader, size: int, boot: bytes) -> str | None:
    """The $VOLUME_NAME attribute of MFT record 3 ($Volume); None if anything is off."""
    per_sector = _le(boot[11:13])
    cluster = per_sector * boot[13]
    raw_size = int.from_bytes(boot[64:65], "little", signed=True)
    record_size = 1 << -raw_size if raw_size < 0 else raw_size * cluster
    offset = _le(boot[48:56]) * cluster + 3 * record_size
    if not (per_sector and 512 <= record_size <= 64 * KiB and offset + record_size <= size):
        return None
    rec = bytearray(read(offset, record_size))
    if rec[:4] != b"FILE":
        return None
    usa_at, usa_count = _le(rec[4:6]), _le(rec[6:8])
    for i in range(1, usa_count):  # undo the update-sequence fixups at each sector's end
        end = i * per_sector
        if end > record_size or usa_at + 2 * i + 2 > record_size:
            return None
        rec[end - 2:end] = rec[usa_at + 2 * i:usa_at + 2 * i + 2]
    pos = _le(rec[20:22])
    while pos + 24 <= record_size:
        kind, length = _le(rec[pos:pos + 4]), _le(rec[pos + 4:pos + 8])
        if kind == 0xFFFFFFFF or length < 24:
            return None
        if kind == 0x60 and rec[pos + 8] == 0:  # resident $VOLUME_NAME
            length = _le(rec[pos + 16:pos + 20])
            start = pos + _le(rec[pos + 20:pos + 22])
            return bytes(rec[start:start + length]).decode("utf-16-le", "replace")
        pos += length
    return None


def _exfat(boot: bytes) -> dict:
    shift = boot[108] if boot[108] < 13 else 9
    serial = _le(boot[100:104])
    return {"type": "exfat", "uuid": f"{serial >> 16:04X}-{serial & 0xFFFF:04X}",
            "size": _le(boot[72:80]) << shift}


def _swap(head: bytes) -> dict | None:
    for page in (4096, 8192, 16384, 32768, 65536):
        magic = head[page - 10:page]
        if magic == b"SWAPSPACE2":
            return {"type": "swap", "label": _text(head[1052:1068]),
                    "uuid": str(uuidlib.UUID(bytes=head[1036:1052]))}
        if magic == b"SWAP-SPACE":
            return {"type": "swap"}
    return None


_MAGIC = [(0, b"XFSB", "xfs"), (0, b"hsqs", "squashfs"), (64 * KiB + 64, b"_BHRfS_M", "btrfs"),
          (3, b"ReFS", "ReFS")]


def filesystem(read: Reader, size: int) -> dict | None:
    """What the start of a volume of ``size`` bytes holds, read through ``read(offset, n)``.

    None when the first bytes are all zero; ``{"type": "unknown"}`` when nothing is
    recognised. FAT volumes are named ``fat`` here: their type, label and serial come from
    the FAT layer (``diskkit.ops.inspect``).
    """
    head = read(0, min(size, HEAD))
    if not head.strip(b"\0"):
        return None
    kind = boot_record(head)
    if kind == "ntfs":
        return _ntfs(read, size, head)
    if kind == "exfat":
        return _exfat(head)
    if kind == "BitLocker":
        return {"type": kind}
    if kind == "fat":
        return {"type": "fat"}
    if len(head) >= 2048 and head[1024 + 56:1024 + 58] == b"\x53\xef":
        return _ext(head[1024:2048])
    swap = _swap(head)
    if swap:
        return swap
    if head[:6] == b"LUKS\xba\xbe":
        return {"type": "crypto_LUKS"}
    for offset, magic, name in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return {"type": name}
    if size >= 32769 + 5 and read(32769, 5) == b"CD001":
        return {"type": "iso9660", "label": _text(read(32768 + 40, 32))}
    return {"type": "unknown"}
