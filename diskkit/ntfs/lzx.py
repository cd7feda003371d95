"""LZX as Windows' CompactOS ("compact /exe:lzx") and WIM files use it: 32 KiB chunks, each
decompressed alone, with the WIM flavour of the format (no translation-size header; E8 call
translation always on, with the fixed file size 12,000,000).

The data is a 16-bit little-endian bit stream read most significant bit first, in blocks:
verbatim and aligned-offset blocks carry Huffman codes (their code lengths delta-coded through
a 20-symbol "pretree" against the previous block's), uncompressed blocks carry raw bytes. A
main symbol is a literal or a match header (length header, offset slot); three recent offsets
are kept. Written from the LZX format as Microsoft documents it for cabinets ([MS-PATCH]) and
as wimlib documents the WIM differences.
"""

from __future__ import annotations

from ..errors import CorruptImage

CHUNK = 32768
NUM_CHARS = 256
NUM_PRIMARY_LENS = 7
MIN_MATCH = 2
OFFSET_SLOTS = 30  # for a 2**15-byte window
MAIN_SYMBOLS = NUM_CHARS + 8 * OFFSET_SLOTS
LEN_SYMBOLS = 249
ALIGNED_SYMBOLS = 8
PRETREE_SYMBOLS = 20
MAX_CODE = 16
E8_FILE_SIZE = 12000000
VERBATIM, ALIGNED, UNCOMPRESSED = 1, 2, 3

EXTRA_BITS = [0, 0, 0, 0] + [n // 2 for n in range(2, 2 * 17)]
OFFSET_BASE = [0]
for _bits in EXTRA_BITS[:OFFSET_SLOTS]:
    OFFSET_BASE.append(OFFSET_BASE[-1] + (1 << _bits))


class _Bits:
    """MSB-first reader over 16-bit little-endian words; reads past the end give zeros."""

    __slots__ = ("data", "pos", "buf", "left")

    def __init__(self, data: bytes):
        self.data, self.pos, self.buf, self.left = data, 0, 0, 0

    def ensure(self, n: int) -> None:
        while self.left < n:
            word = int.from_bytes(self.data[self.pos:self.pos + 2].ljust(2, b"\0"), "little")
            self.pos += 2
            self.buf = (self.buf << 16) | word
            self.left += 16

    def read(self, n: int) -> int:
        if n == 0:
            return 0
        self.ensure(n)
        self.left -= n
        value = self.buf >> self.left
        self.buf &= (1 << self.left) - 1
        return value

    def align(self) -> None:
        """Drop the rest of the current word (a whole word when already aligned)."""
        self.ensure(1)
        self.buf, self.left = 0, 0

    def raw(self, n: int) -> bytes:
        piece = self.data[self.pos:self.pos + n]
        self.pos += n
        return piece


class _Code:
    """A canonical Huffman code as a lookup table indexed by the next ``bits`` bits."""

    __slots__ = ("table", "bits")

    def __init__(self, lengths: list[int], where: str):
        self.bits = max(lengths, default=0) or 1
        self.table = [-1] * (1 << self.bits)
        pos = 0
        for length, symbol in sorted((l, s) for s, l in enumerate(lengths) if l):
            fill = 1 << (self.bits - length)
            if pos + fill > len(self.table):
                raise CorruptImage(f"{where}: Huffman code lengths over-subscribe the code")
            self.table[pos:pos + fill] = [symbol << 5 | length] * fill
            pos += fill

    def decode(self, bits: _Bits, where: str) -> int:
        bits.ensure(self.bits)
        entry = self.table[bits.buf >> (bits.left - self.bits)]
        if entry < 0:
            raise CorruptImage(f"{where}: invalid Huffman code")
        bits.left -= entry & 31
        bits.buf &= (1 << bits.left) - 1
        return entry >> 5


def _read_lengths(bits: _Bits, lengths: list[int], start: int, count: int, where: str) -> None:
    """Code lengths delta-coded against the previous block's, through the pretree."""
    pretree = _Code([bits.read(4) for _ in range(PRETREE_SYMBOLS)], where)
    i, end = start, start + count
    while i < end:
        sym = pretree.decode(bits, where)
        if sym < 17:
            lengths[i] = (lengths[i] - sym + 17) % 17
            i += 1
            continue
        if sym == 17:
            run, value = 4 + bits.read(4), 0
        elif sym == 18:
            run, value = 20 + bits.read(5), 0
        else:
            run = 4 + bits.read(1)
            sym = pretree.decode(bits, where)
            if sym > 16:
                raise CorruptImage(f"{where}: invalid code length run")
            value = (lengths[i] - sym + 17) % 17
        if i + run > end:
            raise CorruptImage(f"{where}: code length run overruns the code")
        lengths[i:i + run] = [value] * run
        i += run


def _e8_undo(out: bytearray) -> None:
    """Undo the x86 CALL (0xE8) translation the compressor applied."""
    size = len(out)
    if size <= 10:
        return
    i = out.find(0xE8, 0, size - 10)
    while i >= 0:
        value = int.from_bytes(out[i + 1:i + 5], "little", signed=True)
        if 0 <= value < E8_FILE_SIZE:
            out[i + 1:i + 5] = (value - i).to_bytes(4, "little", signed=True)
        elif -i <= value < 0:
            out[i + 1:i + 5] = (value + E8_FILE_SIZE).to_bytes(4, "little", signed=True)
        i = out.find(0xE8, i + 5, size - 10)


def decompress(data: bytes, out_size: int, where: str = "LZX data") -> bytes:
    """Decompress one chunk (at most 32 KiB) into exactly ``out_size`` bytes."""
    if out_size > CHUNK:
        raise CorruptImage(f"{where}: LZX chunk of {out_size} bytes (at most {CHUNK})")
    bits = _Bits(data)
    out = bytearray()
    main_lens, len_lens = [0] * MAIN_SYMBOLS, [0] * LEN_SYMBOLS
    recent = [1, 1, 1]
    while len(out) < out_size:
        block_type = bits.read(3)
        size = CHUNK if bits.read(1) else bits.read(16)
        if size == 0 or block_type not in (VERBATIM, ALIGNED, UNCOMPRESSED):
            raise CorruptImage(f"{where}: bad block (type {block_type}, {size} bytes) at output "
                               f"byte {len(out)}")
        end = min(len(out) + size, out_size)
        if block_type == UNCOMPRESSED:
            bits.align()
            recent = [int.from_bytes(bits.raw(4), "little") for _ in range(3)]
            if 0 in recent:
                raise CorruptImage(f"{where}: uncompressed block with a zero recent offset")
            piece = bits.raw(end - len(out))
            if len(piece) < end - len(out):
                raise CorruptImage(f"{where}: uncompressed block runs past the data")
            out += piece
            if size & 1:
                bits.pos += 1
            continue
        aligned = None
        if block_type == ALIGNED:
            aligned = _Code([bits.read(3) for _ in range(ALIGNED_SYMBOLS)], where)
        _read_lengths(bits, main_lens, 0, NUM_CHARS, where)
        _read_lengths(bits, main_lens, NUM_CHARS, MAIN_SYMBOLS - NUM_CHARS, where)
        _read_lengths(bits, len_lens, 0, LEN_SYMBOLS, where)
        main = _Code(main_lens, where)
        lens = _Code(len_lens, where) if any(len_lens) else None
        while len(out) < end:
            sym = main.decode(bits, where)
            if sym < NUM_CHARS:
                out.append(sym)
                continue
            sym -= NUM_CHARS
            length = sym & 7
            slot = sym >> 3
            if length == NUM_PRIMARY_LENS:
                if lens is None:
                    raise CorruptImage(f"{where}: match length code missing")
                length += lens.decode(bits, where)
            length += MIN_MATCH
            if slot < 3:
                offset = recent[slot]
                recent[slot] = recent[0]
                recent[0] = offset
            else:
                extra = EXTRA_BITS[slot]
                if aligned is not None and extra >= 3:
                    offset = OFFSET_BASE[slot] + (bits.read(extra - 3) << 3) + \
                        aligned.decode(bits, where)
                else:
                    offset = OFFSET_BASE[slot] + bits.read(extra)
                offset -= 2
                recent[2], recent[1], recent[0] = recent[1], recent[0], offset
            src = len(out) - offset
            if src < 0 or offset <= 0:
                raise CorruptImage(f"{where}: match reaches {offset} bytes back from output "
                                   f"byte {len(out)}")
            length = min(length, out_size - len(out))
            if offset >= length:
                out += out[src:src + length]
            else:
                out += (out[src:] * (length // offset + 1))[:length]
    _e8_undo(out)
    return bytes(out)
