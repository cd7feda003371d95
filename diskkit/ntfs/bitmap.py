"""Allocation bitmaps ($Bitmap, the MFT's $BITMAP): bit ``i`` is bit ``i % 8`` of byte ``i // 8``.

Bitmaps are read in chunks, so a volume of any size costs a bounded amount of memory. Whole
bytes of 0x00 or 0xFF are skipped by a regular expression; only bytes that mix both values
are looked at bit by bit, so a bitmap of several megabytes takes milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_UNIFORM = re.compile(rb"\x00+|\xff+")
CHUNK = 1 << 20  # bytes of bitmap per step: 8 Mi clusters


def chunks(stream, nbits: int) -> Iterator[tuple[int, bytes]]:
    """``(first_bit, bytes)`` pieces of ``stream`` covering exactly ``nbits`` bits; the last
    byte's bits past ``nbits`` are cleared."""
    nbytes = (nbits + 7) // 8
    for start in range(0, nbytes, CHUNK):
        data = stream.pread(start, min(CHUNK, nbytes - start))
        if start + len(data) == nbytes and nbits % 8:
            data = data[:-1] + bytes([data[-1] & ((1 << (nbits % 8)) - 1)])
        yield start * 8, data


def count_set(pieces: Iterable[tuple[int, bytes]]) -> int:
    return sum(int.from_bytes(data, "little").bit_count() for _, data in pieces)


def _runs_in(data: bytes, base: int, value: int) -> Iterator[tuple[int, int]]:
    want = 0xFF if value else 0x00
    pos = 0
    for match in [*_UNIFORM.finditer(data), None]:
        stop = match.start() if match else len(data)
        for index in range(pos, stop):  # bytes that mix set and clear bits
            byte = data[index]
            for bit in range(8):
                if (byte >> bit & 1) == value:
                    yield base + index * 8 + bit, 1
        if match is None:
            return
        if data[stop] == want:
            yield base + stop * 8, (match.end() - stop) * 8
        pos = match.end()


def runs(pieces: Iterable[tuple[int, bytes]], nbits: int,
         value: int = 1) -> Iterator[tuple[int, int]]:
    """``(first, count)`` of every maximal run of bits equal to ``value`` below ``nbits``."""
    current = None
    for base, data in pieces:
        for first, count in _runs_in(data, base, value):
            if current and current[0] + current[1] == first:
                current = (current[0], current[1] + count)
                continue
            if current:
                yield current
            current = (first, count)
    if current:
        first, count = current
        if first < nbits:
            yield first, min(count, nbits - first)
