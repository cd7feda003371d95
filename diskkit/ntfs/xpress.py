"""XPRESS Huffman ("LZ77+Huffman", MS-XCA 2.2): the XPRESS4K/8K/16K of CompactOS files.

Every 64 KiB of output starts with 256 bytes of code lengths (4 bits for each of 512
symbols: 256 literals, 256 match headers), then a bit stream read as 16-bit little-endian
words, most significant bit first. A match header gives a length nibble and the number of
offset bits that follow; long lengths continue in whole bytes outside the bit stream.
"""

from __future__ import annotations

from ..errors import CorruptImage

BLOCK = 65536
MAX_CODE = 15


def _decode_table(lengths: list[int], where: str) -> list[int]:
    """A 2**15-entry table: the next 15 bits -> ``symbol << 4 | code length``.

    Canonical codes, taken in (length, symbol) order, fill consecutive slices of the table.
    """
    table = [-1] * (1 << MAX_CODE)
    pos = 0
    for length, symbol in sorted((l, s) for s, l in enumerate(lengths) if l):
        fill = 1 << (MAX_CODE - length)
        if pos + fill > len(table):
            raise CorruptImage(f"{where}: Huffman code lengths over-subscribe the code")
        table[pos:pos + fill] = [symbol << 4 | length] * fill
        pos += fill
    return table


def decompress(data: bytes, out_size: int, where: str = "XPRESS data") -> bytes:
    """Decompress ``data`` into exactly ``out_size`` bytes."""
    out = bytearray()
    pos, n = 0, len(data)
    while len(out) < out_size:
        if pos + 256 + 4 > n:
            raise CorruptImage(f"{where}: compressed data ends before output byte {len(out)}")
        lengths = []
        for b in data[pos:pos + 256]:
            lengths += (b & 15, b >> 4)
        table = _decode_table(lengths, where)
        pos += 256
        bits = (data[pos] | data[pos + 1] << 8) << 16 | data[pos + 2] | data[pos + 3] << 8
        pos += 4
        extra = 16  # bits in ``bits`` beyond the 16 that are always available
        block_end = min(len(out) + BLOCK, out_size)
        while len(out) < block_end:
            entry = table[bits >> 17]
            if entry < 0:
                raise CorruptImage(f"{where}: invalid Huffman code at output byte {len(out)}")
            length = entry & 15
            bits = (bits << length) & 0xFFFFFFFF
            extra -= length
            if extra < 0:
                if pos + 2 > n:
                    raise CorruptImage(f"{where}: bit stream runs past the compressed data")
                bits |= (data[pos] | data[pos + 1] << 8) << -extra
                extra += 16
                pos += 2
            symbol = entry >> 4
            if symbol < 256:
                out.append(symbol)
                continue
            match_len = symbol & 15
            offset_bits = (symbol >> 4) & 15
            if match_len == 15:
                if pos >= n:
                    raise CorruptImage(f"{where}: match length runs past the compressed data")
                match_len = data[pos]
                pos += 1
                if match_len == 255:
                    if pos + 2 > n:
                        raise CorruptImage(f"{where}: match length runs past the data")
                    match_len = data[pos] | data[pos + 1] << 8
                    pos += 2
                    if match_len == 0:
                        if pos + 4 > n:
                            raise CorruptImage(f"{where}: match length runs past the data")
                        match_len = int.from_bytes(data[pos:pos + 4], "little")
                        pos += 4
                    if match_len < 15:
                        raise CorruptImage(f"{where}: invalid long match length {match_len}")
                    match_len -= 15
                match_len += 15
            match_len += 3
            offset = 1 << offset_bits
            if offset_bits:
                offset |= bits >> (32 - offset_bits)
                bits = (bits << offset_bits) & 0xFFFFFFFF
                extra -= offset_bits
                if extra < 0:
                    if pos + 2 > n:
                        raise CorruptImage(f"{where}: bit stream runs past the compressed data")
                    bits |= (data[pos] | data[pos + 1] << 8) << -extra
                    extra += 16
                    pos += 2
            src = len(out) - offset
            if src < 0:
                raise CorruptImage(f"{where}: match reaches {offset} bytes back from output "
                                   f"byte {len(out)}")
            match_len = min(match_len, out_size - len(out))
            if offset >= match_len:
                out += out[src:src + match_len]
            else:
                out += (out[src:] * (match_len // offset + 1))[:match_len]
    return bytes(out)
