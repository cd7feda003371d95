"""The block allocation table: 64-bit entries for payload blocks and sector bitmap blocks.

Entries interleave: after every ``chunk_ratio`` payload entries comes the entry of the sector
bitmap block for that chunk. An entry holds a 3-bit state and the block's file offset in
MiB (bits 20..63), so ``entry & 7`` is the state and ``entry & ~0xFFFFF`` the byte offset.
"""

from __future__ import annotations

import sys
from array import array

from ..errors import CorruptImage
from .structures import HEADER_SECTION, MiB

NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED, FULLY_PRESENT, PARTIALLY_PRESENT = 0, 1, 2, 3, 6, 7
SB_NOT_PRESENT, SB_PRESENT = 0, 6
STATE_NAMES = {NOT_PRESENT: "not present", UNDEFINED: "undefined", ZERO: "zero",
               UNMAPPED: "unmapped", FULLY_PRESENT: "fully present",
               PARTIALLY_PRESENT: "partially present"}
HAS_DATA = (FULLY_PRESENT, PARTIALLY_PRESENT)  # states whose offset points at payload
IN_PARENT = (NOT_PRESENT, UNDEFINED)  # in a differencing disk: read from the parent
OFFSET_MASK = ~0xFFFFF & 0xFFFFFFFFFFFFFFFF
SECTORS_PER_BITMAP = 1 << 23  # one 1 MiB sector bitmap block describes 2**23 sectors
MAX_ENTRIES = 1 << 23  # 64 MiB of BAT in memory: 8 TiB at 1 MiB blocks, 256 TiB at 32 MiB


def chunk_ratio(block_size: int, logical_sector: int) -> int:
    """Payload blocks per sector bitmap block."""
    return SECTORS_PER_BITMAP * logical_sector // block_size


def data_blocks(size: int, block_size: int) -> int:
    return -(-size // block_size)


def entry_count(size: int, block_size: int, logical_sector: int,
                differencing: bool = False) -> int:
    """BAT entries a disk of ``size`` bytes needs (spec 2.5)."""
    blocks = data_blocks(size, block_size)
    ratio = chunk_ratio(block_size, logical_sector)
    if differencing:
        return -(-blocks // ratio) * (ratio + 1)
    return blocks + (blocks - 1) // ratio if blocks else 0


def payload_index(block: int, ratio: int) -> int:
    """Position in the BAT of payload block ``block``."""
    return block + block // ratio


def bitmap_index(chunk: int, ratio: int) -> int:
    """Position in the BAT of the sector bitmap entry of chunk ``chunk``."""
    return chunk * (ratio + 1) + ratio


def state(entry: int) -> int:
    return entry & 7


def offset(entry: int) -> int:
    return entry & OFFSET_MASK


def make_entry(block_state: int, file_offset: int = 0) -> int:
    return block_state | (file_offset & OFFSET_MASK)


def parse(data: bytes, count: int) -> array:
    """Little-endian u64 entries -> native ``array('Q')`` in one call."""
    table = array("Q")
    table.frombytes(bytes(data[:count * 8]))
    if sys.byteorder == "big":
        table.byteswap()
    return table


def build(table: array, span: int) -> bytes:
    """On-disk bytes of ``table``, zero-padded (zero = not present) to ``span`` bytes."""
    out = array("Q", table)
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes().ljust(span, b"\0")


def check_count(count: int, where: str) -> None:
    if count > MAX_ENTRIES:
        raise CorruptImage(f"{where}: {count} BAT entries exceed diskkit's limit of "
                           f"{MAX_ENTRIES}")


def find_problems(table: array, ratio: int, blocks: int, block_size: int, file_size: int,
                  reserved: list[tuple[int, int, str]], differencing: bool) -> dict:
    """BAT index -> why that entry cannot be used: a bad state, a block outside the file,
    inside another structure (``reserved``: ``(start, end, name)``) or overlapping another
    block. Entries that read without touching the file (zero, not present...) are never bad."""
    bad = {}
    if table.count(0) == len(table):
        return bad
    spans = []
    for idx, entry in enumerate(table):
        if not entry:
            continue
        st = entry & 7
        is_bitmap = (idx + 1) % (ratio + 1) == 0
        if is_bitmap:
            if st == SB_NOT_PRESENT:
                continue
            if st != SB_PRESENT:
                bad[idx] = f"sector bitmap entry in reserved state {st}"
                continue
            length, name = MiB, f"sector bitmap block {idx // (ratio + 1)}"
        else:
            block = idx - idx // (ratio + 1)
            if block >= blocks:
                continue  # past the disk: never read
            if st in (4, 5):
                bad[idx] = f"payload block {block} in reserved state {st}"
                continue
            if st == PARTIALLY_PRESENT and not differencing:
                bad[idx] = (f"payload block {block} is partially present, a state only "
                            "differencing disks may use")
                continue
            if st not in HAS_DATA:
                continue
            length, name = block_size, f"payload block {block}"
        start = entry & OFFSET_MASK
        if start < HEADER_SECTION:
            bad[idx] = f"{name} at offset {start} lies inside the header section"
        elif start + length > file_size:
            bad[idx] = (f"{name} at offset {start} ends past the end of the file "
                        f"({file_size} bytes): truncated image?")
        else:
            clash = next((n for lo, hi, n in reserved if start < hi and lo < start + length), None)
            if clash:
                bad[idx] = f"{name} at offset {start} overlaps the {clash}"
            else:
                spans.append((start, start + length, idx, name))
    spans.sort()
    prev_end, prev = 0, None
    for start, end, idx, name in spans:
        if prev is not None and start < prev_end:
            bad[idx] = f"{name} at offset {start} overlaps {prev[1]}"
            bad.setdefault(prev[0], f"{prev[1]} overlaps {name}")
        if end > prev_end:
            prev_end, prev = end, (idx, name)
    return bad
