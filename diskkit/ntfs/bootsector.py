"""The NTFS boot sector and the geometry a reader trusts after checking it.

The volume's size in the boot sector excludes one sector: the backup boot sector, which
Windows and mkntfs put in the partition's last sector, i.e. at ``total_sectors`` from the
start of the volume.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from typing import NamedTuple

from ..errors import CorruptImage

OEM_ID = b"NTFS    "

# The first 84 bytes, declared once: (field, struct code); None names padding. Plain struct
# rather than construct, whose import alone costs more than a whole ``ntfs info``.
_LAYOUT = (
    ("jump", "3s"), ("oem", "8s"), ("bytes_per_sector", "H"),
    ("sectors_per_cluster", "B"),  # values above 0x80 mean 2 ** (256 - value) (clusters > 64 KiB)
    ("reserved_sectors", "H"), (None, "5x"), ("media", "B"), (None, "2x"),
    ("sectors_per_track", "H"), ("heads", "H"), ("hidden_sectors", "I"), (None, "8x"),
    ("total_sectors", "Q"), ("mft_lcn", "Q"), ("mftmirr_lcn", "Q"),
    ("clusters_per_record", "b"),  # negative: the record is 2 ** -value bytes
    (None, "3x"), ("clusters_per_index_block", "b"), (None, "3x"),
    ("serial", "Q"), ("checksum", "I"),
)  # boot code follows, 0x55AA at 510
BOOT_SECTOR = struct.Struct("<" + "".join(code for _, code in _LAYOUT))
BootSector = namedtuple("BootSector", [name for name, _ in _LAYOUT if name])

MAX_RECORD_SIZE = 64 * 1024  # NTFS allows MFT records and index blocks up to 64 KiB
MAX_CLUSTER_SIZE = 2 * 1024 * 1024  # Windows 10 formats clusters up to 2 MiB


class Geometry(NamedTuple):
    """Sizes and positions of one NTFS volume, all validated against the device."""

    sector_size: int
    cluster_size: int
    total_sectors: int
    mft_lcn: int
    mftmirr_lcn: int
    record_size: int
    index_block_size: int
    serial: int
    hidden_sectors: int

    @property
    def size(self) -> int:
        """Bytes the filesystem claims, without the backup boot sector after it."""
        return self.total_sectors * self.sector_size

    @property
    def total_clusters(self) -> int:
        return self.total_sectors * self.sector_size // self.cluster_size

    @property
    def backup_offset(self) -> int:
        """Where the backup boot sector belongs: the sector after the claimed volume."""
        return self.total_sectors * self.sector_size

    @property
    def serial_text(self) -> str:
        """The serial as Windows' ``vol`` shows it (its low 32 bits)."""
        low = self.serial & 0xFFFFFFFF
        return f"{low >> 16:04X}-{low & 0xFFFF:04X}"


def _size_from_count(value: int, unit: int) -> int:
    """Record/index sizes: positive counts units (clusters), negative is 2 ** -value bytes."""
    return value * unit if value > 0 else 1 << -value if -31 <= value < 0 else 0


def looks_like_ntfs(sector: bytes) -> bool:
    """The cheap test signature sniffers use: the OEM id in the boot sector."""
    return len(sector) >= 11 and sector[3:11] == OEM_ID


def parse_boot_sector(sector: bytes, where: str = "NTFS boot sector") -> Geometry:
    """Decode and check a boot sector; CorruptImage names the field that is wrong.

    The device size is not checked here: a volume larger than its partition is a finding for
    ``check``, and reads past the device's end fail on their own.
    """
    if len(sector) < 512:
        raise CorruptImage(f"{where}: truncated ({len(sector)} bytes)")
    if not looks_like_ntfs(sector):
        raise CorruptImage(f"{where}: no NTFS signature (OEM id {bytes(sector[3:11])!r})")
    bs = BootSector._make(BOOT_SECTOR.unpack_from(sector))

    def bad(msg: str) -> CorruptImage:
        return CorruptImage(f"{where}: not a valid NTFS boot sector: {msg}")

    ss = bs.bytes_per_sector
    if ss not in (256, 512, 1024, 2048, 4096):
        raise bad(f"bytes per sector {ss}")
    spc = bs.sectors_per_cluster
    spc = 1 << (256 - spc) if spc > 0x80 else spc
    if spc == 0 or spc & (spc - 1) or spc * ss > MAX_CLUSTER_SIZE:
        raise bad(f"sectors per cluster {bs.sectors_per_cluster}")
    cluster = spc * ss
    record = _size_from_count(bs.clusters_per_record, cluster)
    index = _size_from_count(bs.clusters_per_index_block, cluster)
    for name, size in (("MFT record", record), ("index block", index)):
        if size < 512 or size & (size - 1) or size > MAX_RECORD_SIZE:
            raise bad(f"{name} size {size}")
    if bs.total_sectors == 0 or bs.total_sectors >= 1 << 48:
        raise bad(f"total sectors {bs.total_sectors}")
    clusters = bs.total_sectors * ss // cluster
    for name, lcn in (("$MFT", bs.mft_lcn), ("$MFTMirr", bs.mftmirr_lcn)):
        if not 0 < lcn < clusters:
            raise bad(f"{name} at cluster {lcn}, outside the {clusters}-cluster volume")
    return Geometry(sector_size=ss, cluster_size=cluster, total_sectors=bs.total_sectors,
                    mft_lcn=bs.mft_lcn, mftmirr_lcn=bs.mftmirr_lcn, record_size=record,
                    index_block_size=index, serial=bs.serial, hidden_sectors=bs.hidden_sectors)
