"""LZNT1, the compression of NTFS "compressed" files (MS-XCA 2.5).

The data is a sequence of chunks, each standing for 4096 bytes of output: a 16-bit header
(bit 15: compressed; low 12 bits: size - 1), then either the bytes as they are or groups of
eight tokens behind a flag byte (bit clear: a literal, set: a 16-bit back-reference whose
offset/length split widens as the chunk fills). A chunk that decompresses short is padded
with zeros, as Windows and ntfs-3g do.
"""

from __future__ import annotations

from ..errors import CorruptImage

CHUNK = 4096


def decompress(data: bytes, out_size: int, where: str = "LZNT1 data") -> bytes:
    """Decompress ``data`` into exactly ``out_size`` bytes (zeros after the last chunk)."""
    out = bytearray()
    pos, n = 0, len(data)
    while pos + 2 <= n and len(out) < out_size:
        header = data[pos] | data[pos + 1] << 8
        if header == 0:
            break
        end = pos + 3 + (header & 0x0FFF)
        if end > n:
            raise CorruptImage(f"{where}: chunk at byte {pos} runs past the compressed data")
        start = len(out)
        if header & 0x8000:
            _chunk(data, pos + 2, end, out, start, where)
        else:
            out += data[pos + 2:end]
        if len(out) > start + CHUNK:
            raise CorruptImage(f"{where}: chunk at byte {pos} expands past {CHUNK} bytes")
        out += bytes(start + CHUNK - len(out))
        pos = end
    if len(out) < out_size:
        out += bytes(out_size - len(out))
    return bytes(out[:out_size])


def _chunk(data: bytes, pos: int, end: int, out: bytearray, start: int, where: str) -> None:
    limit = start + CHUNK
    while pos < end:
        flags = data[pos]
        pos += 1
        for bit in range(8):
            if pos >= end:
                return
            if not flags >> bit & 1:
                out.append(data[pos])
                pos += 1
                continue
            if pos + 2 > end:
                raise CorruptImage(f"{where}: back-reference cut off at the chunk's end")
            token = data[pos] | data[pos + 1] << 8
            pos += 2
            done = len(out) - start
            shift = max(0, (done - 1).bit_length() - 4)  # offset bits grow past 16, 32, ...
            length = (token & (0x0FFF >> shift)) + 3
            back = (token >> (12 - shift)) + 1
            if back > done or len(out) + length > limit:
                raise CorruptImage(f"{where}: back-reference ({back} back, {length} bytes) "
                                   f"outside the chunk at output byte {len(out)}")
            src = len(out) - back
            if back >= length:
                out += out[src:src + length]
            else:  # overlapping: the match repeats its own start
                out += (out[src:] * (length // back + 1))[:length]
