"""``check``: read-only consistency check of an NTFS volume, in the spirit of ``chkdsk`` without /f.

Four passes, each bounded by the volume: the boot sector against its partition and its backup;
the first MFT records against $MFTMirr; every in-use MFT record parsed with its run lists,
every cluster claimed once (cross-links found) and the claims compared with $Bitmap; and every
directory index walked from the root, each directory once.
"""

from __future__ import annotations

from ..errors import DiskkitError
from ..report import Report
from . import bitmap
from .bootsector import parse_boot_sector
from .record import BITMAP, DATA, apply_fixups
from .volume import MFT_RECORD, ROOT_RECORD, NtfsVolume, join

MAX_PROBLEMS = 50  # per pass: enough to act on, bounded on a volume that is all damage
SMALLER_SLACK = 1024 * 1024  # partition tail an NTFS may leave unused (alignment) unremarked


class ClusterClaims:
    """One bit per cluster: which clusters some file's run list has claimed."""

    def __init__(self, total: int):
        self.total = total
        self.bits = bytearray((total + 7) // 8)

    def claim(self, first: int, count: int) -> bool:
        """Mark ``count`` clusters from ``first``; True if any was claimed before."""
        bits, end = self.bits, first + count
        lo, hi = first >> 3, end >> 3
        clash = 0
        if lo == hi:
            mask = ((1 << count) - 1) << (first & 7)
            clash, bits[lo] = bits[lo] & mask, bits[lo] | mask
            return bool(clash)
        if first & 7:
            mask = (0xFF << (first & 7)) & 0xFF
            clash, bits[lo] = bits[lo] & mask, bits[lo] | mask
            lo += 1
        if hi > lo:
            if bits.count(0, lo, hi) != hi - lo:
                clash = 1
            bits[lo:hi] = b"\xff" * (hi - lo)
        if end & 7:
            mask = (1 << (end & 7)) - 1
            clash |= bits[hi] & mask
            bits[hi] |= mask
        return bool(clash)


class _Checker:
    def __init__(self, dev, report: Report, name: str):
        self.dev = dev
        self.report = report
        self.name = name
        self.vol: NtfsVolume | None = None

    def run(self) -> None:
        if not self.check_boot():
            return
        try:
            self.vol = NtfsVolume(self.dev, "ntfs")  # messages then start "ntfs: ..."
            info = self.vol.info()
        except DiskkitError as exc:
            self._exception(exc)
            return
        if self.vol.mft_from_mirror:
            self.report.error("ntfs $MFT", "MFT record 0 is unreadable; read through its copy "
                              "in $MFTMirr")
        self.report.facts["ntfs"] = info
        if info["dirty"]:
            self.report.warning("ntfs $Volume", "the volume is marked dirty: Windows runs chkdsk "
                                "at the next boot (it was not shut down cleanly, or an error was "
                                "found)")
        else:
            try:
                info["unclean"] = self.vol.unclean_reason()
            except DiskkitError as exc:
                self._exception(exc)
            else:
                if info["unclean"]:
                    self.report.warning("ntfs", f"{info['unclean']}: its free space cannot be "
                                        "trusted until Windows shuts down fully")
        self.check_mirror()
        self.check_records()
        self.check_tree()

    def check_boot(self) -> bool:
        """Boot sector, size against the partition, backup boot sector; False if unusable."""
        dev = self.dev
        try:
            boot = dev.read_at(0, 512)
            g = parse_boot_sector(boot, "ntfs boot sector")
        except DiskkitError as exc:
            self._exception(exc)
            return False
        claimed = g.size + g.sector_size  # with the backup boot sector after the volume
        if g.size > dev.size:
            self.report.error("ntfs boot sector", f"the filesystem claims {g.size} bytes "
                              f"({g.total_sectors} sectors) but its partition holds only "
                              f"{dev.size}: the end of the volume is cut off")
            return True
        if claimed > dev.size:
            self.report.error("ntfs backup boot sector", f"belongs at offset {g.backup_offset}, "
                              f"past the end of the {dev.size}-byte partition")
        else:
            backup = dev.read_at(g.backup_offset, 512)
            last = dev.size // g.sector_size * g.sector_size - g.sector_size
            if backup != boot and last > g.backup_offset and dev.read_at(last, 512) == boot:
                # ntfsresize rounds the volume down to whole clusters and keeps the copy in
                # the partition's last sector, where ntfs-3g (ntfsfix) looks for it
                backup = boot
            if backup != boot:
                try:
                    same = parse_boot_sector(backup, "backup") == g
                except DiskkitError:
                    same = False
                if same:
                    self.report.warning("ntfs backup boot sector", "differs from the boot "
                                        "sector (same volume geometry)", g.backup_offset)
                else:
                    what = "describes another volume" if backup[3:11] == boot[3:11] else \
                        "holds no copy of the boot sector"
                    self.report.error("ntfs backup boot sector", "not where the boot sector "
                                      f"says: the sector after the volume {what}",
                                      g.backup_offset)
            if dev.size - claimed >= SMALLER_SLACK:
                self.report.warning("ntfs", f"filesystem smaller than partition: "
                                    f"{dev.size - claimed} bytes at the end are unused (grow it "
                                    "with Windows' diskpart extend or ntfsresize)")
        return True

    def check_mirror(self) -> None:
        """$MFTMirr holds copies of the first MFT records; they must agree."""
        vol = self.vol
        g = vol.geometry
        try:
            mirror = vol.stream(vol.inode(1), DATA, metadata=True)
        except DiskkitError as exc:
            self._exception(exc)
            return
        if mirror is None:
            self.report.error("ntfs $MFTMirr", "has no data")
            return
        rs = g.record_size
        for n in range(min(mirror.size // rs, 4)):
            try:
                copy = bytearray(mirror.pread(n * rs, rs))
                apply_fixups(copy, b"FILE", f"ntfs: $MFTMirr record {n}")
                main = bytearray(vol.mft.pread(n * rs, rs))
                apply_fixups(main, b"FILE", f"ntfs: MFT record {n}")
            except DiskkitError as exc:
                self._exception(exc)
                continue
            used = int.from_bytes(main[24:28], "little")
            if copy[:used] != main[:used]:
                self.report.error("ntfs $MFTMirr", f"record {n} differs from MFT record {n}")

    def _exception(self, exc: DiskkitError, counter: list | None = None) -> None:
        """A reader error as a finding: ``where: message`` split at its first colon."""
        where, _, message = str(exc).partition(": ")
        if counter is None:
            self.report.error(where, message)
        else:
            self._problem(where, message, counter)

    def _problem(self, where: str, message: str, counter: list) -> None:
        counter[0] += 1
        if counter[0] <= MAX_PROBLEMS:
            self.report.error(where, message)
        elif counter[0] == MAX_PROBLEMS + 1:
            self.report.error(where, f"more problems of this kind not listed (over {MAX_PROBLEMS})")

    def check_records(self) -> None:
        """Every in-use base record: attributes, run lists, cluster claims; then $Bitmap."""
        vol = self.vol
        g = vol.geometry
        records = vol.mft.size // g.record_size
        try:
            mft_bitmap = vol.stream(vol.inode(MFT_RECORD), BITMAP, metadata=True)
        except DiskkitError as exc:
            self._exception(exc)
            return
        if mft_bitmap is None:
            self.report.error("ntfs $MFT", "has no $BITMAP")
            return
        claims = ClusterClaims(g.total_clusters)
        problems = [0]
        in_use = bitmap.runs(bitmap.chunks(mft_bitmap, min(records, 8 * mft_bitmap.size)),
                             records)
        for first, count in in_use:
            for number in range(first, first + count):
                try:
                    rec = vol.record(number)
                    if rec.base or not rec.in_use:
                        continue  # extension records are checked through their base
                    for label, lcn, length in vol.allocated_runs(vol.inode(number)):
                        if claims.claim(lcn, length):
                            self._problem(f"ntfs {vol.describe(number)} {label}", f"clusters "
                                          f"{lcn}..{lcn + length - 1} are also used by "
                                          "another file (cross-linked)", problems)
                except DiskkitError as exc:
                    self._exception(exc, problems)
        self.compare_bitmap(claims)

    def compare_bitmap(self, claims: ClusterClaims) -> None:
        vol = self.vol
        total = vol.geometry.total_clusters
        unmarked = lost = 0
        first_unmarked = None
        try:
            for base, data in bitmap.chunks(vol.cluster_bitmap(), total):
                marked = int.from_bytes(data, "little")
                owned = int.from_bytes(claims.bits[base // 8:base // 8 + len(data)], "little")
                bad = owned & ~marked
                if bad:
                    unmarked += bad.bit_count()
                    if first_unmarked is None:
                        first_unmarked = base + (bad & -bad).bit_length() - 1
                lost += (marked & ~owned).bit_count()
        except DiskkitError as exc:
            self._exception(exc)
            return
        if unmarked:
            self.report.error("ntfs $Bitmap", f"{unmarked} clusters in use by files are marked "
                              f"free (first: cluster {first_unmarked}); Windows may overwrite them")
        if lost:
            self.report.warning("ntfs $Bitmap", f"{lost} clusters are marked in use but belong "
                                "to no file (chkdsk frees them)")

    def check_tree(self) -> None:
        """Every directory's index from the root: entries must name in-use base records."""
        vol = self.vol
        problems = [0]
        seen = {ROOT_RECORD}
        stack = [("/", ROOT_RECORD, 0)]
        while stack:
            path, number, sequence = stack.pop()
            try:
                entries = list(vol.index(vol.inode(number, sequence)))
            except DiskkitError as exc:
                self._exception(exc, problems)
                continue
            for e in entries:
                name = e.name
                child = join(path, name)
                if name in (".", "..") and not (name == "." and e.ref == number == ROOT_RECORD) \
                        or "/" in name or "\0" in name:
                    self._problem(f"ntfs {path}", f"illegal file name {name!r}", problems)
                    continue
                try:
                    inode = vol.inode(e.ref, e.sequence)
                    names = {(fn.parent, fn.name) for fn in inode.file_names()}
                except DiskkitError as exc:
                    self._exception(exc, problems)
                    continue
                if (number, name) not in names:
                    self._problem(f"ntfs {child}", f"index entry names MFT record {e.ref}, which "
                                  "has no such name in this directory", problems)
                    continue
                if inode.is_dir and e.ref not in seen:
                    seen.add(e.ref)
                    stack.append((child, e.ref, e.sequence))


def check(dev, name: str | None = None) -> Report:
    """Check the NTFS volume on ``dev`` (read-only); the Report lists what is wrong."""
    name = name or getattr(dev, "name", "volume")
    report = Report(subject=f"{name}: NTFS")
    _Checker(dev, report, name).run()
    return report
