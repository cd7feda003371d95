"""FAT boot sector (BPB), FSInfo sector, and the layout derived from them (fatgen103).

``parse_boot_sector`` validates every field a reader will trust against the device size, so
later code can index clusters without fear; ``build_boot_sector`` is its inverse for mkfs.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Bytes, Int8ul, Int16ul, Int32ul, Struct

from ..errors import CorruptImage

FAT12_MAX_CLUSTERS = 4084  # fewer than 4,085 clusters: FAT12
FAT16_MAX_CLUSTERS = 65524  # fewer than 65,525 clusters: FAT16, else FAT32
FSINFO_LEAD, FSINFO_STRUCT, FSINFO_TRAIL = 0x41615252, 0x61417272, 0xAA550000
STATE_DIRTY = 0x01  # set while a write is in progress: left set, it says one was interrupted

BPB = Struct(
    "jump" / Bytes(3),
    "oem" / Bytes(8),
    "bytes_per_sector" / Int16ul,
    "sectors_per_cluster" / Int8ul,
    "reserved_sectors" / Int16ul,
    "num_fats" / Int8ul,
    "root_entries" / Int16ul,
    "total_sectors_16" / Int16ul,
    "media" / Int8ul,
    "fat_size_16" / Int16ul,
    "sectors_per_track" / Int16ul,
    "heads" / Int16ul,
    "hidden_sectors" / Int32ul,
    "total_sectors_32" / Int32ul,
)  # 36 bytes, common to all FAT types

EXTENDED = Struct(
    "drive_number" / Int8ul,
    "reserved1" / Int8ul,
    "boot_signature" / Int8ul,
    "volume_id" / Int32ul,
    "label" / Bytes(11),
    "fs_type" / Bytes(8),
)  # 26 bytes: at 36 on FAT12/16, at 64 on FAT32

FAT32_EXT = Struct(
    "fat_size_32" / Int32ul,
    "ext_flags" / Int16ul,
    "fs_version" / Int16ul,
    "root_cluster" / Int32ul,
    "fsinfo_sector" / Int16ul,
    "backup_boot_sector" / Int16ul,
    "reserved" / Bytes(12),
)  # 28 bytes at 36

FSINFO = Struct(
    "lead_signature" / Int32ul,
    "reserved1" / Bytes(480),
    "struct_signature" / Int32ul,
    "free_count" / Int32ul,
    "next_free" / Int32ul,
    "reserved2" / Bytes(12),
    "trail_signature" / Int32ul,
)  # 512 bytes


@dataclass
class Layout:
    """Where everything of one FAT volume lives, in sectors and bytes."""

    fat_type: int
    sector_size: int
    sectors_per_cluster: int
    reserved_sectors: int
    num_fats: int
    root_entries: int
    total_sectors: int
    fat_sectors: int
    hidden_sectors: int = 0
    media: int = 0xF8
    root_cluster: int = 0  # FAT32 only
    fsinfo_sector: int = 0  # FAT32 only
    backup_boot_sector: int = 0  # FAT32 only
    volume_id: int = 0
    label: bytes = b"NO NAME    "
    oem: bytes = b"DISKKIT "
    active_fat: int = 0  # FAT32 ext_flags: mirroring off selects one FAT
    state: int | None = None  # extended-BPB state byte (bit 0: dirty); None without one

    @property
    def state_offset(self) -> int:
        """Offset of the state byte in the boot sector (Linux and Windows keep 'dirty' here)."""
        return 65 if self.fat_type == 32 else 37

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


def parse_boot_sector(sector: bytes, device_size: int, where: str = "boot sector") -> Layout:
    """Decode and sanity-check a boot sector; CorruptImage says which field is wrong."""
    if len(sector) < 512:
        raise CorruptImage(f"{where}: truncated ({len(sector)} bytes)")
    bpb = BPB.parse(sector)

    def bad(msg: str):
        return CorruptImage(f"{where}: not a valid FAT boot sector: {msg}")

    if sector[510:512] != b"\x55\xaa":
        raise bad("missing 0x55AA signature")
    ss = bpb.bytes_per_sector
    if ss not in (512, 1024, 2048, 4096):
        raise bad(f"bytes per sector {ss}")
    spc = bpb.sectors_per_cluster
    if spc == 0 or spc & (spc - 1) or spc * ss > 64 * 1024 * 4:
        raise bad(f"sectors per cluster {spc}")
    if bpb.reserved_sectors == 0:
        raise bad("zero reserved sectors")
    if bpb.num_fats not in (1, 2, 3, 4):
        raise bad(f"{bpb.num_fats} FATs")
    total = bpb.total_sectors_16 or bpb.total_sectors_32
    if total == 0:
        raise bad("zero total sectors")
    if total * ss > device_size:
        raise CorruptImage(f"{where}: filesystem claims {total * ss} bytes but the device holds "
                           f"only {device_size}")
    fat32 = bpb.fat_size_16 == 0
    if fat32:
        ext32 = FAT32_EXT.parse(sector[36:])
        ext = EXTENDED.parse(sector[64:])
        fat_sectors = ext32.fat_size_32
    else:
        ext = EXTENDED.parse(sector[36:])
        fat_sectors = bpb.fat_size_16
    if fat_sectors == 0:
        raise bad("zero FAT size")
    has_ext = ext.boot_signature in (0x28, 0x29)
    layout = Layout(
        fat_type=32 if fat32 else 0,
        sector_size=ss,
        sectors_per_cluster=spc,
        reserved_sectors=bpb.reserved_sectors,
        num_fats=bpb.num_fats,
        root_entries=bpb.root_entries,
        total_sectors=total,
        fat_sectors=fat_sectors,
        hidden_sectors=bpb.hidden_sectors,
        media=bpb.media,
        volume_id=ext.volume_id if has_ext else 0,
        label=ext.label if ext.boot_signature == 0x29 else b"NO NAME    ",
        oem=bpb.oem,
        state=ext.reserved1 if has_ext else None,
    )
    if layout.first_data_sector >= total:
        raise bad("metadata is larger than the volume")
    if layout.cluster_count < 1:
        raise bad("no data clusters")
    if not fat32:
        layout.fat_type = 12 if layout.cluster_count <= FAT12_MAX_CLUSTERS else 16
        if layout.root_entries == 0:
            raise bad("FAT12/16 volume with no root directory entries")
    else:
        if ext32.root_cluster < 2 or ext32.root_cluster > layout.max_cluster:
            raise bad(f"root cluster {ext32.root_cluster} out of range")
        layout.root_cluster = ext32.root_cluster
        layout.fsinfo_sector = ext32.fsinfo_sector
        layout.backup_boot_sector = ext32.backup_boot_sector
        if ext32.ext_flags & 0x80:
            layout.active_fat = ext32.ext_flags & 0x0F
            if layout.active_fat >= layout.num_fats:
                raise bad(f"active FAT {layout.active_fat} does not exist")
    entry_bits = {12: 12, 16: 16, 32: 32}[layout.fat_type]
    needed = ((layout.cluster_count + 2) * entry_bits + 7) // 8
    if fat_sectors * ss < needed:
        raise bad(f"FAT of {fat_sectors} sectors is too small for {layout.cluster_count} clusters")
    return layout


def boot_code_stub(code_offset: int, message: bytes) -> bytes:
    """x86 real-mode code: print ``message`` via the BIOS, wait for a key, then reboot (int 19h)."""
    msg_addr = 0x7C00 + code_offset + 31
    return (b"\x31\xc0\x8e\xd8\xbe" + msg_addr.to_bytes(2, "little") + b"\xfc"
            b"\xac\x84\xc0\x74\x09\xb4\x0e\xbb\x07\x00\xcd\x10\xeb\xf2"
            b"\x32\xe4\xcd\x16\xcd\x19\xf4\xeb\xfd" + message + b"\x00")


BOOT_MESSAGE = b"This is not a bootable disk (diskkit FAT volume).\r\nPress any key to retry.\r\n"


def build_boot_sector(layout: Layout) -> bytes:
    """One sector: jump, BPB, extended BPB, the boot-code stub and the 0x55AA signature."""
    fat32 = layout.fat_type == 32
    code_offset = 90 if fat32 else 62
    total16 = layout.total_sectors if layout.total_sectors < 0x10000 and not fat32 else 0
    common = BPB.build(dict(
        jump=bytes([0xEB, code_offset - 2, 0x90]),
        oem=layout.oem,
        bytes_per_sector=layout.sector_size,
        sectors_per_cluster=layout.sectors_per_cluster,
        reserved_sectors=layout.reserved_sectors,
        num_fats=layout.num_fats,
        root_entries=layout.root_entries,
        total_sectors_16=total16,
        media=layout.media,
        fat_size_16=0 if fat32 else layout.fat_sectors,
        sectors_per_track=63,
        heads=255,
        hidden_sectors=layout.hidden_sectors,
        total_sectors_32=0 if total16 else layout.total_sectors,
    ))
    extended = EXTENDED.build(dict(
        drive_number=0x80, reserved1=0, boot_signature=0x29, volume_id=layout.volume_id,
        label=layout.label, fs_type=f"FAT{layout.fat_type}".ljust(8).encode(),
    ))
    if fat32:
        common += FAT32_EXT.build(dict(
            fat_size_32=layout.fat_sectors, ext_flags=0, fs_version=0,
            root_cluster=layout.root_cluster, fsinfo_sector=layout.fsinfo_sector,
            backup_boot_sector=layout.backup_boot_sector, reserved=bytes(12),
        ))
    head = common + extended
    assert len(head) == code_offset
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
    info = FSINFO.parse(sector[:512])
    if (info.lead_signature, info.struct_signature, info.trail_signature) != (
            FSINFO_LEAD, FSINFO_STRUCT, FSINFO_TRAIL):
        return None
    return info
