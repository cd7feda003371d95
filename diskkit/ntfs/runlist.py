"""Run lists ("mapping pairs"): which clusters hold which part of a non-resident attribute.

Each run is a header byte (low nibble: bytes of the length, high nibble: bytes of the signed
LCN delta; no delta means a sparse run) followed by those two little-endian numbers. A run is
``(vcn, lcn, length)`` here, with ``lcn`` None for a sparse run.
"""

from __future__ import annotations

from bisect import bisect_right

from ..errors import CorruptImage

Run = tuple[int, "int | None", int]  # (vcn, lcn or None when sparse, length) in clusters


def decode_runs(data: bytes, lowest_vcn: int, highest_vcn: int, total_clusters: int,
                where: str) -> list[Run]:
    """The runs of one attribute extent, checked against its VCN range and the volume."""
    runs: list[Run] = []
    vcn, lcn, pos, end = lowest_vcn, 0, 0, len(data)
    while pos < end:
        header = data[pos]
        if header == 0:
            break
        len_size, off_size = header & 0x0F, header >> 4
        if not 1 <= len_size <= 8 or off_size > 8 or pos + 1 + len_size + off_size > end:
            raise CorruptImage(f"{where}: run list entry at byte {pos} is malformed "
                               f"(header 0x{header:02X})")
        pos += 1
        length = int.from_bytes(data[pos:pos + len_size], "little", signed=True)
        pos += len_size
        if length <= 0:
            raise CorruptImage(f"{where}: run of {length} clusters at VCN {vcn}")
        if off_size:
            lcn += int.from_bytes(data[pos:pos + off_size], "little", signed=True)
            pos += off_size
            if lcn < 0 or lcn + length > total_clusters:
                raise CorruptImage(f"{where}: run at VCN {vcn} covers clusters {lcn}.."
                                   f"{lcn + length - 1}, outside the {total_clusters}-cluster "
                                   "volume")
            runs.append((vcn, lcn, length))
        else:
            runs.append((vcn, None, length))
        vcn += length
    else:
        if end:  # an empty run list (nothing allocated) needs no terminator
            raise CorruptImage(f"{where}: run list has no end marker")
    if vcn != highest_vcn + 1:
        raise CorruptImage(f"{where}: run list maps VCNs {lowest_vcn}..{vcn - 1} but the "
                           f"attribute says {lowest_vcn}..{highest_vcn}")
    return runs


class RunMap:
    """Runs of a whole attribute (all its extents), for VCN -> LCN lookups by bisection."""

    __slots__ = ("runs", "_starts", "clusters", "where")

    def __init__(self, runs: list[Run], where: str):
        self.where = where
        runs = sorted(runs, key=lambda r: r[0])
        expected = 0
        for vcn, _, length in runs:
            if vcn != expected:
                raise CorruptImage(f"{where}: run list has a {'gap' if vcn > expected else 'overlap'}"
                                   f" at VCN {min(vcn, expected)}")
            expected = vcn + length
        self.runs = runs
        self._starts = [r[0] for r in runs]
        self.clusters = expected

    def pieces(self, vcn: int, count: int):
        """Yield ``(lcn | None, length)`` covering ``count`` clusters from ``vcn``."""
        i = bisect_right(self._starts, vcn) - 1
        end = vcn + count
        while vcn < end:
            if i < 0 or i >= len(self.runs):
                raise CorruptImage(f"{self.where}: VCN {vcn} is not mapped by the run list "
                                   f"({self.clusters} clusters mapped)")
            start, lcn, length = self.runs[i]
            skip = vcn - start
            n = min(length - skip, end - vcn)
            yield (None if lcn is None else lcn + skip), n
            vcn += n
            i += 1

    def allocated(self):
        """``(lcn, length)`` of every non-sparse run."""
        return [(lcn, length) for _, lcn, length in self.runs if lcn is not None]
