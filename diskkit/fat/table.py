"""The File Allocation Table held in memory as one ``array`` (the hot path of every operation).

A parallel ``free_map`` (one byte per cluster, 1 = free) lets ``bytes.find`` locate contiguous
free runs at C speed, so allocation is never quadratic. Changes are tracked as dirty sectors
and ``flush`` writes only those, to every FAT copy.
"""

from __future__ import annotations

import sys
from array import array

from ..errors import CorruptImage, NoSpace
from .bootsector import Layout

EOC = {12: 0xFFF, 16: 0xFFFF, 32: 0x0FFFFFFF}
EOC_MIN = {12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}
BAD = {12: 0xFF7, 16: 0xFFF7, 32: 0x0FFFFFF7}
# FAT[1]'s "volume was cleanly unmounted" bit (DOS, Windows): clear means dirty. FAT12 has none.
CLEAN_SHUTDOWN = {12: 0, 16: 0x8000, 32: 0x08000000}
# FAT[0] holds the media byte with every bit above its low nibble set (fsck.fat's test)
FAT0_HIGH_BITS = {12: 0xFF0, 16: 0xFFF0, 32: 0x0FFFFFF0}
_NONZERO = bytes([0] + [1] * 255)
_NONZERO_LOW_NIBBLE = bytes(1 if i & 0x0F else 0 for i in range(256))
_INVERT01 = bytes([1, 0] + [0] * 254)


def _free_map_from_bytes(raw: bytes, width: int, entries: int) -> bytearray:
    """1 for each zero entry of a little-endian table, computed lane by lane in C."""
    used = 0
    for lane in range(width):
        table = _NONZERO_LOW_NIBBLE if width == 4 and lane == 3 else _NONZERO
        used |= int.from_bytes(raw[lane::width].translate(table), "little")
    return bytearray(used.to_bytes(entries, "little").translate(_INVERT01))


_LOW_NIBBLE = bytes(i & 0x0F for i in range(256))
_HIGH_NIBBLE_DOWN = bytes(i >> 4 for i in range(256))
_LOW_NIBBLE_UP = bytes((i << 4) & 0xFF for i in range(256))


def _or(a: bytes, b: bytes) -> bytes:
    """Bytewise OR of two equal-length strings, in C (one big integer each)."""
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def decode_fat12(raw: bytes, entries: int) -> array:
    """The first ``entries`` 12-bit entries: each pair of entries is three bytes (even entry:
    byte 0 and the low nibble of byte 1; odd entry: the high nibble of byte 1 and byte 2),
    unpacked with byte slices and translate tables rather than a loop per entry."""
    pairs = (entries + 1) // 2
    raw = bytes(raw[:3 * pairs]).ljust(3 * pairs, b"\0")
    b0, b1, b2 = raw[0::3], raw[1::3], raw[2::3]
    even, odd = bytearray(2 * pairs), bytearray(2 * pairs)
    even[0::2], even[1::2] = b0, b1.translate(_LOW_NIBBLE)
    odd[0::2] = _or(b1.translate(_HIGH_NIBBLE_DOWN), b2.translate(_LOW_NIBBLE_UP))
    odd[1::2] = b2.translate(_HIGH_NIBBLE_DOWN)
    out = array("H", bytes(4 * pairs))
    out[0::2], out[1::2] = array("H", even), array("H", odd)
    if sys.byteorder == "big":
        out.byteswap()
    return out[:entries]


def encode_fat12(values: array) -> bytearray:
    """The on-disk bytes of 12-bit ``values`` (the inverse of decode_fat12)."""
    words = array("H", values)
    if len(words) % 2:
        words.append(0)
    if sys.byteorder == "big":
        words.byteswap()
    raw = words.tobytes()
    low, high = raw[0::2], raw[1::2]  # each entry's low and high byte
    out = bytearray(3 * (len(words) // 2))
    out[0::3] = low[0::2]
    out[1::3] = _or(high[0::2].translate(_LOW_NIBBLE), low[1::2].translate(_LOW_NIBBLE_UP))
    out[2::3] = _or(low[1::2].translate(_HIGH_NIBBLE_DOWN), high[1::2].translate(_LOW_NIBBLE_UP))
    return out[:(len(values) * 3 + 1) // 2]


def cluster_runs(clusters: list[int]) -> list[tuple[int, int]]:
    """Group a chain into ``(first, count)`` runs of consecutive clusters (for big I/O)."""
    runs: list[tuple[int, int]] = []
    for c in clusters:
        if runs and runs[-1][0] + runs[-1][1] == c:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((c, 1))
    return runs


class FatTable:
    """Cluster chains of one volume: read from the active FAT, written to all copies."""

    def __init__(self, layout: Layout, raw: bytes):
        self.layout = layout
        self.bits = layout.fat_type
        self.entries = layout.cluster_count + 2
        self.eoc = EOC[self.bits]
        self.eoc_min = EOC_MIN[self.bits]
        self.bad = BAD[self.bits]
        width = {12: 0, 16: 2, 32: 4}[self.bits]
        if self.bits == 12:
            self.values = decode_fat12(raw, self.entries)
            self.free_map = _free_map_from_bytes(self.values.tobytes(), 2, self.entries)
        else:
            self.values = array("H" if width == 2 else "I")
            self.values.frombytes(raw[: self.entries * width])
            if sys.byteorder == "big":
                self.values.byteswap()
            self.free_map = _free_map_from_bytes(raw[: self.entries * width], width, self.entries)
        self.free_map[0:2] = b"\x00\x00"
        self.free_count = self.free_map.count(1)
        self.cursor = 2
        self.dirty: set[int] = set()
        self.changes = 0  # counts edits, so FSInfo is rewritten only after some

    @classmethod
    def load(cls, dev, layout: Layout) -> "FatTable":
        start = layout.fat_offset(layout.active_fat)
        nbytes = {12: (layout.cluster_count + 2) * 3 // 2 + 2, 16: (layout.cluster_count + 2) * 2,
                  32: (layout.cluster_count + 2) * 4}[layout.fat_type]
        return cls(layout, dev.read_at(start, min(nbytes, layout.fat_sectors * layout.sector_size)))

    # -- entries ------------------------------------------------------------------------
    def get(self, cluster: int) -> int:
        v = self.values[cluster]
        return v & 0x0FFFFFFF if self.bits == 32 else v

    def set(self, cluster: int, value: int) -> None:
        if self.bits == 32:
            value |= self.values[cluster] & 0xF0000000
        was_free = self.free_map[cluster]
        now_free = int(value & 0x0FFFFFFF == 0)
        self.values[cluster] = value
        self.free_map[cluster] = now_free
        self.free_count += now_free - was_free
        self._mark(cluster, cluster + 1)

    @property
    def shut_down_cleanly(self) -> bool:
        """False when FAT[1] says the volume was not unmounted cleanly (FAT16/32)."""
        bit = CLEAN_SHUTDOWN[self.bits]
        return not bit or bool(self.values[1] & bit)

    def mark_shut_down_cleanly(self) -> None:
        if not self.shut_down_cleanly:
            self.set(1, self.values[1] | CLEAN_SHUTDOWN[self.bits])

    def is_end(self, value: int) -> bool:
        return value >= self.eoc_min

    def _mark(self, lo: int, hi: int) -> None:
        """Record entries ``[lo, hi)`` as changed, as FAT sector numbers."""
        self.changes += 1
        ss = self.layout.sector_size
        if self.bits == 12:
            first, last = lo * 3 // 2, (hi - 1) * 3 // 2 + 1
        else:
            width = self.bits // 8
            first, last = lo * width, hi * width - 1
        self.dirty.update(range(first // ss, last // ss + 1))

    # -- chains -------------------------------------------------------------------------
    def chain(self, start: int, where: str = "") -> list[int]:
        """Clusters of the chain at ``start``; CorruptImage on loops or bad links."""
        return list(self.chain_lazy(start, where))

    def chain_lazy(self, start: int, where: str = ""):
        """Yield the clusters of a chain one by one (scans that stop early read no further).

        A chain longer than the volume has clusters must loop: that ends it with an error.
        """
        seen = 0
        cluster = start
        while cluster:
            if cluster < 2 or cluster >= self.entries:
                raise CorruptImage(f"{where}: cluster chain points to invalid cluster {cluster}")
            yield cluster
            seen += 1
            if seen > self.entries:
                raise CorruptImage(f"{where}: cluster chain loops")
            nxt = self.get(cluster)
            if nxt >= self.eoc_min:
                return
            if nxt == 0 or nxt == self.bad:
                raise CorruptImage(f"{where}: cluster chain runs into an unusable cluster after {cluster}")
            cluster = nxt

    # -- allocation ---------------------------------------------------------------------
    def free_runs(self, start: int = 2):
        """``(first, count)`` of each free run from ``start`` to the end."""
        fm = self.free_map
        pos = fm.find(1, start)
        while pos >= 0:
            end = fm.find(0, pos)
            if end < 0:
                end = len(fm)
            yield pos, end - pos
            pos = fm.find(1, end)

    def allocate(self, count: int, near: int | None = None) -> list[int]:
        """``count`` free clusters, one contiguous run when one exists, linked as a chain."""
        return [c for first, n in self.allocate_runs(count, near) for c in range(first, first + n)]

    def allocate_runs(self, count: int, near: int | None = None) -> list[tuple[int, int]]:
        """``allocate`` as ``(first, count)`` runs of consecutive clusters (for large I/O)."""
        if count == 0:
            return []
        if count > self.free_count:
            raise NoSpace(f"filesystem full: need {count} clusters, {self.free_count} free")
        fm = self.free_map
        start = near + 1 if near and near + 1 < self.entries else self.cursor
        pattern = b"\x01" * count
        first = fm.find(pattern, start)
        if first < 0 and start > 2:
            first = fm.find(pattern, 2)
        if first >= 0:
            runs = [(first, count)]
        else:
            runs, need = [], count
            for begin in (start, 2):
                for pos, length in self.free_runs(begin):
                    if begin == 2 and pos >= start:
                        break
                    take = min(length, need)
                    runs.append((pos, take))
                    need -= take
                    if not need:
                        break
                if not need:
                    break
        self._link_runs(runs)
        self.cursor = runs[-1][0] + runs[-1][1]
        if self.cursor >= self.entries:
            self.cursor = 2
        return runs

    def release_runs(self, runs: list[tuple[int, int]]) -> None:
        """Free what ``allocate_runs`` gave (a write that failed before linking it anywhere)."""
        for first, count in runs:
            for cluster in range(first, first + count):
                self.set(cluster, 0)

    def _link_runs(self, runs: list[tuple[int, int]]) -> None:
        values, typecode = self.values, self.values.typecode
        for i, (pos, length) in enumerate(runs):
            end = pos + length
            if length > 1:
                values[pos:end - 1] = array(typecode, range(pos + 1, end))
            values[end - 1] = runs[i + 1][0] if i + 1 < len(runs) else self.eoc
            self.free_map[pos:end] = bytes(length)
            self.free_count -= length
            self._mark(pos, end)

    def extend(self, last: int, count: int) -> list[int]:
        """Append ``count`` clusters to the chain ending at ``last``."""
        new = self.allocate(count, near=last or None)
        if new and last:
            self.set(last, new[0])
        return new

    def free_chain(self, start: int) -> None:
        for cluster in self.chain(start):
            self.set(cluster, 0)

    def truncate_chain(self, clusters: list[int], keep: int) -> None:
        """Keep the first ``keep`` clusters of a chain and free the rest."""
        for cluster in clusters[keep:]:
            self.set(cluster, 0)
        if keep:
            self.set(clusters[keep - 1], self.eoc)

    @property
    def next_free_hint(self) -> int:
        pos = self.free_map.find(1, self.cursor)
        if pos < 0:
            pos = self.free_map.find(1, 2)
        return pos if pos >= 0 else 0xFFFFFFFF

    # -- persistence --------------------------------------------------------------------
    def to_bytes(self, lo: int, hi: int) -> bytes:
        """On-disk bytes of the table between byte offsets ``lo`` and ``hi`` (clamped)."""
        if self.bits == 12:
            first = (lo * 2 // 3) & ~1  # an even entry starts on a byte boundary
            last = min(self.entries, hi * 2 // 3 + 2)
            base = first * 3 // 2
            raw = encode_fat12(self.values[first:last])
            return bytes(raw[lo - base:hi - base])
        width = self.bits // 8
        part = self.values[lo // width: -(-hi // width)]
        if sys.byteorder == "big":
            part = array(part.typecode, part)
            part.byteswap()
        return part.tobytes()

    def flush(self, dev) -> None:
        """Write changed FAT sectors to every copy."""
        if not self.dirty:
            return
        layout = self.layout
        ss = layout.sector_size
        width_bytes = (self.entries * 3 + 1) // 2 if self.bits == 12 else self.entries * self.bits // 8
        sectors = sorted(self.dirty)
        runs, begin, prev = [], sectors[0], sectors[0]
        for s in sectors[1:]:
            if s != prev + 1:
                runs.append((begin, prev + 1))
                begin = s
            prev = s
        runs.append((begin, prev + 1))
        for first, end in runs:
            lo, hi = first * ss, min(end * ss, width_bytes)
            data = self.to_bytes(lo, hi)
            for copy in range(layout.num_fats):
                dev.write_at(layout.fat_offset(copy) + lo, data)
        self.dirty.clear()
