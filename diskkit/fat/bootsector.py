"""FAT boot sector (BPB), FSInfo sector, and the geometry derived from them (fatgen103).

Each structure is declared once, as a ``structs.Layout`` (fields' names and struct codes in
disk order). ``Layout`` *is* a boot sector's fields, by those names, plus the geometry they
imply, so nothing mirrors the declarations by hand. ``parse_boot_sector`` validates every
field a reader will trust, so later code can index clusters without fear; ``build_boot_sector``
is its inverse for mkfs.
"""

from __future__ import annotations

from types import SimpleNamespace

from .. import structs
from ..errors import CorruptImage

FAT12_MAX_CLUSTERS = 4084  # fewer than 4,085 clusters: FAT12
FAT16_MAX_CLUSTERS = 65524  # fewer than 65,525 clusters: FAT16, else FAT32
FSINFO_LEAD, FSINFO_STRUCT, FSINFO_TRAIL = 0x41615252, 0x61417272, 0xAA550000
STATE_DIRTY = 0x01  # set while a write is in progress: left set, it says one was interrupted
NO_NAME = b"NO NAME    "  # the label formatters write when there is none


BPB = structs.Layout(  # common to all FAT types, at 0
    "<",
    ("jump", "3s"), ("oem", "8s"), ("sector_size", "H"), ("sectors_per_cluster", "B"),
    ("reserved_sectors", "H"), ("num_fats", "B"), ("root_entries", "H"),
    ("total_sectors_16", "H"), ("media", "B"),
    ("fat_sectors_16", "H"),  # 0 on FAT32, whose FAT size is fat_sectors_32
    ("sectors_per_track", "H"), ("heads", "H"), ("hidden_sectors", "I"),
    ("total_sectors_32", "I"),
)
FAT32_BPB = structs.Layout(  # FAT32 only, right after BPB
    "<",
    ("fat_sectors_32", "I"),
    ("ext_flags", "H"),  # bit 7: mirroring off, bits 0-3: the one active FAT
    ("fs_version", "H"), ("root_cluster", "I"), ("fsinfo_sector", "H"),
    ("backup_boot_sector", "H"), ("reserved", "12s"),
)
EXTENDED_BPB = structs.Layout(  # after FAT32_BPB on FAT32, else right after BPB
    "<",
    ("drive_number", "B"),
    ("state", "B"),  # reserved in fatgen103; Linux and Windows keep the dirty bit here
    ("boot_signature", "B"),  # 0x29: all of this is valid; 0x28: only up to volume_id
    ("volume_id", "I"), ("label", "11s"), ("fs_type", "8s"),
)
FSINFO = structs.Layout(  # 512 bytes
    "<",
    ("lead_signature", "I"), ("reserved1", "480s"), ("struct_signature", "I"),
    ("free_count", "I"), ("next_free", "I"), ("reserved2", "12s"), ("trail_signature", "I"),
)

_NO_FAT32_FIELDS = FAT32_BPB.parse(bytes(FAT32_BPB.size))
_FIELDS = BPB.names + FAT32_BPB.names + EXTENDED_BPB.names


class Layout:
    """One volume's boot-sector fields (those of ``BPB``, ``FAT32_BPB`` and ``EXTENDED_BPB``, by
    name; the FAT32 ones are zero on FAT12/16) and where everything lives, in sectors and bytes.

    The fields are slots named after the declarations above (no second list to keep in step);
    the geometry is computed from them, so it is never stale.
    """

    __slots__ = _FIELDS

    def __init__(self, fields=(), **more):
        for name, value in {**dict(fields), **more}.items():
            if name in _FIELDS:
                setattr(self, name, value)

    def fields(self) -> dict:
        """The fields by name, as the records build from them."""
        return {name: getattr(self, name) for name in _FIELDS}

    def __eq__(self, other) -> bool:
        return isinstance(other, Layout) and self.fields() == other.fields()

    def __repr__(self) -> str:
        return f"Layout(FAT{self.fat_type}, {self.cluster_count} clusters of {self.cluster_size})"

    @property
    def fat32(self) -> bool:
        """FAT32 by layout: a zero 16-bit FAT size (as Linux and dosfstools decide)."""
        return self.fat_sectors_16 == 0

    @property
    def fat_type(self) -> int:
        if self.fat32:
            return 32
        return 12 if self.cluster_count <= FAT12_MAX_CLUSTERS else 16

    @property
    def total_sectors(self) -> int:
        return self.total_sectors_16 or self.total_sectors_32

    @property
    def fat_sectors(self) -> int:
        return self.fat_sectors_16 or self.fat_sectors_32

    @property
    def extended_offset(self) -> int:
        return BPB.size + (FAT32_BPB.size if self.fat32 else 0)

    @property
    def has_extended(self) -> bool:
        """Whether the extended BPB (state byte, serial) is there, not boot code."""
        return self.boot_signature in (0x28, 0x29)

    @property
    def state_offset(self) -> int:
        """Offset of the state byte in the boot sector (Linux and Windows keep 'dirty' here)."""
        return self.extended_offset + 1

    @property
    def serial(self) -> int | None:
        """The volume serial number (blkid's UUID), None without an extended BPB."""
        return self.volume_id if self.has_extended else None

    @property
    def boot_label(self) -> bytes | None:
        """The 11-byte label field of the boot sector, None when there is none."""
        return self.label if self.boot_signature == 0x29 else None

    @property
    def active_fat(self) -> int:
        """The FAT readers use: the first, unless FAT32 mirroring is off."""
        return self.ext_flags & 0x0F if self.ext_flags & 0x80 else 0

    @property
    def cluster_size(self) -> int:
        return self.sectors_per_cluster * self.sector_size

    @property
    def root_dir_sectors(self) -> int:
        return (self.root_entries * 32 + self.sector_size - 1) // self.sector_size

    @property
    def root_dir_offset(self) -> int:
        return (self.reserved_sectors + self.num_fats * self.fat_sectors) * self.sector_size

    @property
    def first_data_sector(self) -> int:
        return self.reserved_sectors + self.num_fats * self.fat_sectors + self.root_dir_sectors

    @property
    def cluster_count(self) -> int:
        return (self.total_sectors - self.first_data_sector) // self.sectors_per_cluster

    @property
    def max_cluster(self) -> int:
        return self.cluster_count + 1

    @property
    def size(self) -> int:
        return self.total_sectors * self.sector_size

    def fat_offset(self, copy: int) -> int:
        return (self.reserved_sectors + copy * self.fat_sectors) * self.sector_size

    def cluster_offset(self, cluster: int) -> int:
        return (self.first_data_sector + (cluster - 2) * self.sectors_per_cluster) * self.sector_size

    def expected_type(self) -> int:
        """The FAT type fatgen103 assigns to this cluster count."""
        n = self.cluster_count
        return 12 if n <= FAT12_MAX_CLUSTERS else 16 if n <= FAT16_MAX_CLUSTERS else 32


def parse_boot_sector(sector: bytes, where: str = "boot sector") -> Layout:
    """Decode and sanity-check a boot sector; CorruptImage says which field is wrong.

    Whether the volume fits its device is the caller's question (a truncated volume is still
    readable in part).
    """
    if len(sector) < 512:
        raise CorruptImage(f"{where}: truncated ({len(sector)} bytes)")
    fields = BPB.parse(sector)
    fat32 = fields["fat_sectors_16"] == 0
    fields.update(FAT32_BPB.parse(sector, BPB.size) if fat32 else _NO_FAT32_FIELDS)
    fields.update(EXTENDED_BPB.parse(sector, BPB.size + fat32 * FAT32_BPB.size))
    layout = Layout(fields)

    def bad(msg: str):
        return CorruptImage(f"{where}: not a valid FAT boot sector: {msg}")

    if sector[510:512] != b"\x55\xaa":
        raise bad("missing 0x55AA signature")
    ss = layout.sector_size
    if ss not in (512, 1024, 2048, 4096):
        raise bad(f"bytes per sector {ss}")
    spc = layout.sectors_per_cluster
    if spc == 0 or spc & (spc - 1):
        raise bad(f"sectors per cluster {spc} (must be a power of two)")
    if layout.reserved_sectors == 0:
        raise bad("zero reserved sectors")
    if layout.num_fats not in (1, 2, 3, 4):
        raise bad(f"{layout.num_fats} FATs")
    total = layout.total_sectors
    if total == 0:
        raise bad("zero total sectors")
    if layout.fat_sectors == 0:
        raise bad("zero FAT size")
    if layout.first_data_sector >= total:
        raise bad("metadata is larger than the volume")
    if layout.cluster_count < 1:
        raise bad("no data clusters")
    if not layout.fat32:
        if layout.root_entries == 0:
            raise bad("FAT12/16 volume with no root directory entries")
        if layout.cluster_count > FAT16_MAX_CLUSTERS:
            raise bad(f"{layout.cluster_count:,} clusters, more than a FAT16 can number")
    else:
        if layout.root_cluster < 2 or layout.root_cluster > layout.max_cluster:
            raise bad(f"root cluster {layout.root_cluster} out of range")
        if layout.active_fat >= layout.num_fats:
            raise bad(f"active FAT {layout.active_fat} does not exist")
    needed = ((layout.cluster_count + 2) * layout.fat_type + 7) // 8
    if layout.fat_sectors * ss < needed:
        raise bad(f"FAT of {layout.fat_sectors} sectors is too small for "
                  f"{layout.cluster_count} clusters")
    return layout


def format_serial(serial: int | None) -> str | None:
    """A volume serial as Windows and blkid show it: ``1234-ABCD``."""
    return None if serial is None else f"{serial >> 16:04X}-{serial & 0xFFFF:04X}"


def boot_code_stub(code_offset: int, message: bytes) -> bytes:
    """x86 real-mode code: print ``message`` via the BIOS, wait for a key, then reboot (int 19h)."""
    msg_addr = 0x7C00 + code_offset + 31
    return (b"\x31\xc0\x8e\xd8\xbe" + msg_addr.to_bytes(2, "little") + b"\xfc"
            b"\xac\x84\xc0\x74\x09\xb4\x0e\xbb\x07\x00\xcd\x10\xeb\xf2"
            b"\x32\xe4\xcd\x16\xcd\x19\xf4\xeb\xfd" + message + b"\x00")


BOOT_MESSAGE = b"This is not a bootable disk (diskkit FAT volume).\r\nPress any key to retry.\r\n"


def build_boot_sector(layout: Layout) -> bytes:
    """One sector: jump, BPB, extended BPB, the boot-code stub and the 0x55AA signature."""
    code_offset = layout.extended_offset + EXTENDED_BPB.size
    fields = layout.fields()
    head = BPB.build(fields) + (FAT32_BPB.build(fields) if layout.fat32 else b"")
    head += EXTENDED_BPB.build(fields)
    sector = bytearray(layout.sector_size)
    body = head + boot_code_stub(code_offset, BOOT_MESSAGE)
    sector[: len(body)] = body
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def build_fsinfo(free_count: int, next_free: int, sector_size: int) -> bytes:
    data = FSINFO.build(dict(
        lead_signature=FSINFO_LEAD, reserved1=bytes(480), struct_signature=FSINFO_STRUCT,
        free_count=free_count, next_free=next_free, reserved2=bytes(12),
        trail_signature=FSINFO_TRAIL,
    ))
    return data + bytes(sector_size - len(data))


def parse_fsinfo(sector: bytes):
    """The FSInfo fields, or None when its signatures are wrong."""
    if len(sector) < FSINFO.size:
        return None
    info = SimpleNamespace(**FSINFO.parse(sector))
    if (info.lead_signature, info.struct_signature, info.trail_signature) != (
            FSINFO_LEAD, FSINFO_STRUCT, FSINFO_TRAIL):
        return None
    return info
