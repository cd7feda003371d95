"""Minimal, independent VHD writer for fuzz seeds and hostile test images.

Written from the VHD specification (footer and dynamic header checksums, BAT, sector
bitmaps) so that seeds do not depend on the diskkit VHD code they are used to attack; the
seed builder checks every image it makes with ``qemu-img compare``. Small block sizes keep
dynamic seeds a few KiB, which is what a fuzzer wants.
"""

from __future__ import annotations

import struct
import uuid

SECTOR = 512
VHD_EPOCH_OFFSET = 946684800  # 2000-01-01 in Unix time
FOOTER_FMT = ">8sIIQI4sI4sQQHBBII16sB427x"
HEADER_FMT = ">8sQQIIII16sII512s24s24s24s24s24s24s24s24s256x"
UNUSED_BAT = 0xFFFFFFFF


def checksum(data: bytes) -> int:
    """One's complement of the byte sum (the field itself counted as zero by the caller)."""
    return (~sum(data)) & 0xFFFFFFFF


def chs(size: int) -> tuple[int, int, int]:
    """CHS geometry from the VHD specification appendix."""
    sectors = min(size // SECTOR, 65535 * 16 * 255)
    if sectors >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cyl_heads = sectors // spt
    else:
        spt = 17
        cyl_heads = sectors // spt
        heads = max((cyl_heads + 1023) // 1024, 4)
        if cyl_heads >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cyl_heads = sectors // spt
        if cyl_heads >= heads * 1024:
            spt, heads = 63, 16
            cyl_heads = sectors // spt
    return cyl_heads // heads, heads, spt


def footer(size: int, disk_type: int, data_offset: int, uid: bytes | None = None) -> bytes:
    """A 512-byte hard disk footer (type 2 fixed, 3 dynamic) with a correct checksum."""
    c, h, s = chs(size)
    fields = [b"conectix", 2, 0x00010000, data_offset, 0, b"qem2", 0x00050003, b"Wi2k",
              size, size, c, h, s, disk_type, 0, uid or uuid.uuid4().bytes, 0]
    raw = struct.pack(FOOTER_FMT, *fields)
    fields[14] = checksum(raw)
    return struct.pack(FOOTER_FMT, *fields)


def dynamic_header(table_offset: int, max_entries: int, block_size: int) -> bytes:
    """A 1024-byte dynamic disk header with a correct checksum."""
    fields = [b"cxsparse", 0xFFFFFFFFFFFFFFFF, table_offset, 0x00010000, max_entries,
              block_size, 0, bytes(16), 0, 0, bytes(512), *([bytes(24)] * 8)]
    raw = struct.pack(HEADER_FMT, *fields)
    fields[6] = checksum(raw)
    return struct.pack(HEADER_FMT, *fields)


def sector_bitmap(sectors: int) -> bytes:
    """Every sector of a block present (most significant bit first)."""
    full, rest = divmod(sectors, 8)
    return b"\xff" * full + (bytes([(0xFF << (8 - rest)) & 0xFF]) if rest else b"")


def fixed_vhd(content: bytes) -> bytes:
    """A fixed VHD: the raw content followed by a footer."""
    return bytes(content) + footer(len(content), 2, 0xFFFFFFFFFFFFFFFF)


def dynamic_vhd(content: bytes, block_size: int = 4096) -> bytes:
    """A dynamic VHD holding ``content``; all-zero blocks stay unallocated."""
    size = len(content)
    blocks = -(-size // block_size)
    ftr = footer(size, 3, SECTOR)
    table_offset = SECTOR + 1024
    bat_bytes = -(-blocks * 4 // SECTOR) * SECTOR
    bitmap_bytes = -(-(block_size // SECTOR) // 8 // SECTOR) * SECTOR or SECTOR
    bat = [UNUSED_BAT] * blocks
    body = bytearray()
    next_sector = (table_offset + bat_bytes) // SECTOR
    for i in range(blocks):
        chunk = content[i * block_size:(i + 1) * block_size].ljust(block_size, b"\0")
        if not any(chunk):
            continue
        bat[i] = next_sector
        body += sector_bitmap(block_size // SECTOR).ljust(bitmap_bytes, b"\0")
        body += chunk
        next_sector += (bitmap_bytes + block_size) // SECTOR
    bat_raw = struct.pack(f">{blocks}I", *bat).ljust(bat_bytes, b"\xff")
    return ftr + dynamic_header(table_offset, blocks, block_size) + bat_raw + bytes(body) + ftr
