"""Directory indexes ($I30): the B+ tree of $FILE_NAME keys in $INDEX_ROOT and
$INDEX_ALLOCATION, ordered and searched as Windows does with the volume's $UpCase table.

Names are compared as UTF-16 code units after upper-casing through $UpCase; names equal that
way are ordered by their exact code units (so ``a`` and ``A`` can both exist under POSIX
rules). Each walk visits an index block at most once and never deeper than ``MAX_DEPTH``,
so a hostile index with loops ends with an error instead of running forever.
"""

from __future__ import annotations

import functools
import struct
from collections import OrderedDict
from typing import NamedTuple

from ..errors import CorruptImage
from .attributes import DOS, FILE_NAME
from .record import REF_MASK, apply_fixups, utf16

INDEX_ROOT = struct.Struct("<IIIB3x")  # indexed attribute type, collation rule, block size, clusters per block
INDEX_HEADER = struct.Struct("<IIIB3x")  # entries offset, index length, allocated size, flags
INDEX_BLOCK = struct.Struct("<4sHHQq")  # magic, usa offset, usa count, lsn, block vcn
INDEX_ENTRY = struct.Struct("<QHHH2x")  # file reference, entry length, key length, flags
ENTRY_AND_KEY = struct.Struct("<QHHH2x64xBB")  # INDEX_ENTRY, then the key's name length, namespace

ENTRY_HAS_CHILD = 0x01
ENTRY_LAST = 0x02
MAX_DEPTH = 32  # a B+ tree of 64 KiB blocks this deep would hold far more names than an MFT
BLOCK_CACHE = 256  # parsed blocks kept per directory (lookups of many files in one directory)


@functools.lru_cache(maxsize=4)
def _fold_map(table: bytes) -> dict[int, int]:
    """The code units $UpCase changes (cached: most volumes carry the same table)."""
    units = struct.unpack("<65536H", table)
    return {i: u for i, u in enumerate(units) if u != i}


class UpCase:
    """Windows' case folding for one volume, from its 65,536-entry $UpCase table."""

    def __init__(self, table: bytes, where: str = "$UpCase"):
        if len(table) < 2 * 65536:
            raise CorruptImage(f"{where}: {len(table)} bytes, expected 131072")
        self._map = _fold_map(bytes(table[:2 * 65536]))

    def fold(self, name: str) -> str:
        return name.translate(self._map)

    def key(self, name: str) -> bytes:
        """The collation key: upper-cased UTF-16 code units, big-endian so bytes compare as units."""
        return self.fold(name).encode("utf-16-be", "surrogatepass")


def exact_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


class IndexEntry(NamedTuple):  # a NamedTuple: a listing makes one per file
    ref: int
    sequence: int
    name: str | None  # the $FILE_NAME key's name; None for the last (key-less) entry of a node
    namespace: int  # POSIX, WIN32, DOS or WIN32_AND_DOS
    child: int | None  # VCN of the child block, or None


_index_entry = functools.partial(tuple.__new__, IndexEntry)  # _make, without its Python frame


def parse_node(buf, header_at: int, limit: int, where: str) -> list[IndexEntry]:
    """The entries of one node whose index header sits at ``header_at`` in ``buf``.

    Only the key's name and namespace are decoded (a listing parses every entry of every
    directory; the other $FILE_NAME fields are copies that the file's own record holds).
    """
    if header_at + INDEX_HEADER.size > limit:
        raise CorruptImage(f"{where}: index header outside the node")
    entries_off, index_len, _, _ = INDEX_HEADER.unpack_from(buf, header_at)
    pos, end = header_at + entries_off, header_at + index_len
    if entries_off < INDEX_HEADER.size or end > limit or pos > end:
        raise CorruptImage(f"{where}: index entries ({entries_off}..{index_len}) lie outside "
                           f"the {limit - header_at}-byte node")
    entries = []
    append, entry_head, entry_and_key = entries.append, INDEX_ENTRY.unpack_from, \
        ENTRY_AND_KEY.unpack_from
    head, name_at, key_min = INDEX_ENTRY.size, INDEX_ENTRY.size + FILE_NAME.size, FILE_NAME.size
    last_head, last_key = end - head, end - name_at  # where each still fits
    while True:
        if pos > last_head:
            raise CorruptImage(f"{where}: index entries end without a last entry")
        if pos <= last_key:  # header and the key's fixed part in one unpack
            ref, length, key_len, flags, name_len, namespace = entry_and_key(buf, pos)
        else:
            ref, length, key_len, flags = entry_head(buf, pos)
            name_len = namespace = 0
        child_room = 8 if flags & ENTRY_HAS_CHILD else 0
        if not head + key_len + child_room <= length <= end - pos or length & 7:
            raise CorruptImage(f"{where}: index entry at byte {pos} has bad length {length}")
        child = int.from_bytes(buf[pos + length - 8:pos + length], "little", signed=True) \
            if child_room else None
        if flags & ENTRY_LAST:
            append(_index_entry((0, 0, None, 0, child)))
            return entries
        if key_len < key_min:
            raise CorruptImage(f"{where}: index entry at byte {pos}: $FILE_NAME too short")
        if name_len == 0 or key_min + 2 * name_len > key_len:
            raise CorruptImage(f"{where}: index entry at byte {pos}: $FILE_NAME name of "
                               f"{name_len} characters does not fit")
        name_start = pos + name_at
        name = utf16(buf[name_start:name_start + 2 * name_len], "surrogatepass", True)[0]
        append(_index_entry((ref & REF_MASK, ref >> 48, name, namespace, child)))
        pos += length


class DirectoryIndex:
    """The $I30 index of one directory: in-order iteration and name lookup."""

    def __init__(self, root_value: bytes, allocation, cluster_size: int, upcase: UpCase,
                 where: str):
        """``allocation`` is the $INDEX_ALLOCATION stream (``pread``), or None for small
        indexes; ``upcase`` returns the volume's UpCase, read on the first lookup (listing a
        directory needs none)."""
        self.where = where
        if len(root_value) < INDEX_ROOT.size + INDEX_HEADER.size:
            raise CorruptImage(f"{where}: $INDEX_ROOT of {len(root_value)} bytes is too short")
        _, _, block_size, _ = INDEX_ROOT.unpack_from(root_value)
        self.root = parse_node(root_value, INDEX_ROOT.size, len(root_value),
                               f"{where} $INDEX_ROOT")
        self.allocation = allocation
        self.block_size = block_size
        self.vcn_size = cluster_size if block_size >= cluster_size else 512
        self._upcase = upcase
        self._blocks: OrderedDict = OrderedDict()
        self._folds: dict[str, bytes] = {}  # names upper-cased on their first comparison
        if any(e.child is not None for e in self.root):
            if allocation is None:
                raise CorruptImage(f"{where}: index has child blocks but no $INDEX_ALLOCATION")
            if block_size < 512 or block_size & (block_size - 1) or block_size > 65536:
                raise CorruptImage(f"{where}: index block size {block_size}")

    def block(self, vcn: int) -> list[IndexEntry]:
        cached = self._blocks.get(vcn)
        if cached is None:
            cached = self._blocks[vcn] = self._read_block(vcn)
            if len(self._blocks) > BLOCK_CACHE:
                self._blocks.popitem(last=False)
        return cached

    def _read_block(self, vcn: int) -> list[IndexEntry]:
        where = f"{self.where} index block at VCN {vcn}"
        offset = vcn * self.vcn_size
        if vcn < 0 or offset + self.block_size > self.allocation.size:
            raise CorruptImage(f"{where}: outside the {self.allocation.size}-byte "
                               "$INDEX_ALLOCATION")
        buf = bytearray(self.allocation.pread(offset, self.block_size))
        apply_fixups(buf, b"INDX", where)
        if INDEX_BLOCK.unpack_from(buf)[4] != vcn:
            raise CorruptImage(f"{where}: block says it is VCN {INDEX_BLOCK.unpack_from(buf)[4]}")
        return parse_node(buf, INDEX_BLOCK.size, len(buf), where)

    def __iter__(self):
        return iter(self.entries())

    def entries(self) -> list[IndexEntry]:
        """Every entry with a name (DOS names included), in collation order: each node's
        child subtree before the entry that points to it."""
        out, seen = [], set()
        pending = [(iter(self.root), 0, None)]
        while pending:
            entries, depth, after = pending[-1]
            for e in entries:
                if e.child is not None:
                    if e.child in seen:
                        raise CorruptImage(f"{self.where}: index block at VCN {e.child} is "
                                           "reached twice (loop in the index)")
                    if depth >= MAX_DEPTH:
                        raise CorruptImage(f"{self.where}: index deeper than {MAX_DEPTH} levels")
                    seen.add(e.child)
                    pending.append((iter(self.block(e.child)), depth + 1, e))
                    break
                if e.name is not None:
                    out.append(e)
            else:
                pending.pop()
                if after is not None and after.name is not None:
                    out.append(after)
        return out

    def names(self) -> list[IndexEntry]:
        """Entries as a directory lists them: no DOS-only aliases."""
        return [e for e in self.entries() if e.namespace != DOS]

    def find(self, name: str) -> IndexEntry | None:
        """The entry named exactly ``name``, else one equal ignoring case (Windows' rule)."""
        folded = self._upcase().key(name)
        target = (folded, exact_key(name))
        found = self._descend(lambda e: _cmp((self._folded(e), exact_key(e.name)),
                                             target))
        if found is None:
            found = self._descend(lambda e: _cmp(self._folded(e), folded))
        return found

    def _folded(self, e: IndexEntry) -> bytes:
        folded = self._folds.get(e.name)
        if folded is None:
            folded = self._folds[e.name] = self._upcase().key(e.name)
        return folded

    def _descend(self, compare) -> IndexEntry | None:
        entries, depth, seen = self.root, 0, set()
        while True:
            for e in entries:
                if e.name is not None:
                    c = compare(e)
                    if c == 0:
                        return e
                    if c < 0:
                        continue
                if e.child is None:
                    return None
                if e.child in seen or depth >= MAX_DEPTH:
                    raise CorruptImage(f"{self.where}: loop or runaway depth in the index at "
                                       f"VCN {e.child}")
                seen.add(e.child)
                depth += 1
                entries = self.block(e.child)
                break  # parse_node ends every node with a last entry, so this always happens


def _cmp(a, b) -> int:
    return (a > b) - (a < b)
