"""Runs of equal bits in an allocation bitmap (bit ``i`` is bit ``i % 8`` of byte ``i // 8``).

Whole bytes of 0x00 or 0xFF are skipped by a regular expression, so a volume's bitmap of
several megabytes costs milliseconds; only bytes that mix both values are looked at bit by bit.
"""

from __future__ import annotations

import re

_UNIFORM = re.compile(rb"\x00+|\xff+")


def set_runs(bitmap: bytes, nbits: int, value: int = 1) -> list[tuple[int, int]]:
    """``(first, count)`` of every run of bits equal to ``value`` among the first ``nbits``."""
    runs: list[tuple[int, int]] = []

    def add(first: int, count: int) -> None:
        if runs and runs[-1][0] + runs[-1][1] == first:
            runs[-1] = (runs[-1][0], runs[-1][1] + count)
        else:
            runs.append((first, count))

    nbytes = (nbits + 7) // 8
    data = bytes(bitmap[:nbytes])
    want = 0xFF if value else 0x00
    pos = 0
    for match in [*_UNIFORM.finditer(data), None]:
        stop = match.start() if match else nbytes
        for byte_index in range(pos, stop):  # bytes that mix used and free bits
            byte = data[byte_index]
            for bit in range(8):
                if (byte >> bit & 1) == value:
                    add(byte_index * 8 + bit, 1)
        if match is None:
            break
        if data[stop] == want:
            add(stop * 8, (match.end() - stop) * 8)
        pos = match.end()
    # clip the last run at nbits (the bitmap's final byte may hold bits past the end)
    while runs and runs[-1][0] >= nbits:
        runs.pop()
    if runs and runs[-1][0] + runs[-1][1] > nbits:
        runs[-1] = (runs[-1][0], nbits - runs[-1][0])
    return runs
