"""``check``: read-only consistency check of a FAT volume, in the spirit of ``fsck.fat -n``.

Every cluster chain is followed with an owner map (one slot per cluster), so loops,
cross-links and lost clusters are found in one linear pass and hostile images cannot hang it.
"""

from __future__ import annotations

from array import array

from ..errors import DiskkitError
from ..report import Report
from . import names
from .bootsector import BPB, FAT16_MAX_CLUSTERS, FAT32_BPB, STATE_DIRTY, parse_fsinfo
from .directory import DOT, DOTDOT, MAX_DIR_SLOTS, SLOT, parse_directory
from .fs import FatFS
from .table import cluster_runs
from .table import FAT0_HIGH_BITS, _INVERT01, _free_map_from_bytes

_COMPARE_CHUNK = 4 * 1024 * 1024


def _without_state(sector: bytes, layout) -> bytes:
    """A boot sector minus its state byte, which only the primary copy tracks."""
    return sector[:layout.state_offset] + sector[layout.state_offset + 1:]


# What an interrupted write leaves on a volume whose dirty flag is still up: reported as
# warnings there (the files are intact; ``repair`` tidies up), as errors anywhere else.
_INTERRUPTION_RESIDUE = ("lost cluster", "free count", "differs from FAT")


def esp_problems(layout) -> list[str]:
    """Why UEFI firmware would refuse this volume as an EFI system partition (empty: it would
    not). For ``esp``, ``ramos doctor`` and ``fat check --esp``: elsewhere these are legal."""
    if layout.fat32 and layout.cluster_count <= FAT16_MAX_CLUSTERS:
        return [f"FAT32 with only {layout.cluster_count:,} clusters (fatgen103 calls fewer than "
                f"{FAT16_MAX_CLUSTERS + 1:,} FAT16): UEFI firmware refuses it as an EFI system "
                "partition; make it FAT16, or larger"]
    return []


class _Checker:
    def __init__(self, fs: FatFS, report: Report, skip=frozenset(), new_parent=None,
                 esp: bool = False):
        self.esp = esp  # the volume is meant as an ESP: what firmware refuses is an error
        self.skip = skip  # (directory cluster, slot) of entries a repair will delete
        self.new_parent = new_parent or {}  # directory cluster -> the '..' a repair will set
        self.fs = fs
        self.layout = fs.layout
        self.fat = fs.fat
        self.report = report
        self.owner = array("I", bytes(4 * fs.fat.entries))  # chain id owning each cluster
        self.owners = [""]  # chain id -> path
        self.complete = False  # whether the last chain followed ended properly

    def follow(self, start: int, path: str) -> list[int]:
        """Clusters of a chain, claimed for ``path``; stops (and reports) at any damage."""
        fat, owner = self.fat, self.owner
        self.complete = False  # True only when the chain ends with an end-of-chain mark
        chain_id = len(self.owners)
        self.owners.append(path)
        out = []
        cluster = start
        while True:
            if not 2 <= cluster < fat.entries:
                self.report.error(f"fat {path}", f"chain points to invalid cluster {cluster}")
                return out
            if owner[cluster] == chain_id:
                self.report.error(f"fat {path}", f"cluster chain loops at cluster {cluster}")
                return out
            if owner[cluster]:
                self.report.error(f"fat {path}", f"cluster {cluster} is cross-linked with "
                                  f"{self.owners[owner[cluster]]}")
                return out
            owner[cluster] = chain_id
            out.append(cluster)
            nxt = fat.get(cluster)
            if fat.is_end(nxt):
                self.complete = True
                return out
            if nxt == 0 or nxt == fat.bad:
                what = "a free" if nxt == 0 else "a bad"
                self.report.error(f"fat {path}", f"chain runs into {what} cluster after {cluster}")
                return out
            cluster = nxt

    def run(self) -> None:
        self.check_layout()
        self.check_copies()
        self.check_tree()
        self.check_lost()
        self.check_fsinfo()

    def check_layout(self) -> None:
        layout, rep = self.layout, self.report
        for problem in esp_problems(layout):
            if self.esp:
                rep.error("fat boot sector", problem)
            else:
                rep.warning("fat boot sector", f"{problem} (legal elsewhere: Linux and fsck.fat "
                            "go by the layout; mtools misreads it)")
        if layout.media != 0xF0 and layout.media < 0xF8:
            rep.warning("fat boot sector", f"media byte 0x{layout.media:02x} is not one of "
                        "0xF0, 0xF8-0xFF: the Linux kernel will not mount it")
        high = FAT0_HIGH_BITS[layout.fat_type]
        firsts = [self.fat_entry0(copy) for copy in range(layout.num_fats)]
        if all(v & high != high for v in firsts):
            rep.error("fat table", f"the first FAT entry ({firsts[layout.active_fat]:#x}) is not "
                      f"a media marker (0x{high:X} plus the media byte) in any FAT copy",
                      layout.fat_offset(layout.active_fat))
        if layout.fat32:
            self.check_backup_boot()

    def fat_entry0(self, copy: int) -> int:
        raw = self.fs.dev.read_at(self.layout.fat_offset(copy), 4)
        if self.layout.fat_type == 12:
            return int.from_bytes(raw[:2], "little") & 0xFFF
        return int.from_bytes(raw[:self.layout.fat_type // 8], "little") & 0x0FFFFFFF

    def check_backup_boot(self) -> None:
        """FAT32's backup boot sector: missing where there is room for one is an error (as for
        fsck.fat), a copy that differs only a warning (fsck.fat: "mostly harmless")."""
        layout, rep, ss = self.layout, self.report, self.layout.sector_size
        backup = layout.backup_boot_sector
        if backup in (0, 0xFFFF):
            if layout.reserved_sectors > BACKUP_BOOT_SECTOR:
                rep.error("fat boot sector", "no backup boot sector (the reserved area has room "
                          f"for one at sector {BACKUP_BOOT_SECTOR})")
            else:
                rep.warning("fat boot sector", f"no backup boot sector, and only "
                            f"{layout.reserved_sectors} reserved sectors: no room for one")
        elif backup >= layout.reserved_sectors:
            rep.error("fat boot sector", f"backup boot sector {backup} lies outside the "
                      f"{layout.reserved_sectors} reserved sectors")
        elif _without_state(self.fs.dev.read_at(0, ss), layout) != _without_state(
                self.fs.dev.read_at(backup * ss, ss), layout):
            rep.warning("fat boot sector", f"boot sector differs from its backup at sector "
                        f"{backup}", backup * ss)

    def check_copies(self) -> None:
        layout, dev = self.layout, self.fs.dev
        length = layout.fat_sectors * layout.sector_size
        base = layout.fat_offset(layout.active_fat)
        for copy in range(layout.num_fats):
            if copy == layout.active_fat:
                continue
            other = layout.fat_offset(copy)
            for pos in range(0, length, _COMPARE_CHUNK):
                n = min(_COMPARE_CHUNK, length - pos)
                a, b = dev.read_at(base + pos, n), dev.read_at(other + pos, n)
                if a != b:
                    first = next(i for i in range(n) if a[i] != b[i])
                    self.report.error("fat table", f"FAT copy {copy + 1} differs from FAT "
                                      f"{layout.active_fat + 1}", other + pos + first)
                    break

    def read_dir(self, cluster: int, path: str) -> bytes:
        layout, dev = self.layout, self.fs.dev
        if cluster == 0:
            return dev.read_at(layout.root_dir_offset, layout.root_entries * SLOT)
        clusters = self.follow(cluster, path)
        cap = -(-MAX_DIR_SLOTS * SLOT // layout.cluster_size)
        if len(clusters) > cap:
            self.report.error(f"fat {path}", "directory longer than 65,536 entries")
            clusters = clusters[:cap]
        return b"".join(dev.read_at(layout.cluster_offset(first), count * layout.cluster_size)
                        for first, count in cluster_runs(clusters))

    def check_tree(self) -> None:
        fat32 = self.layout.fat32
        root = self.fs.root_cluster
        stack = [(root, "/", None)]
        cs = self.layout.cluster_size
        while stack:
            cluster, path, parent = stack.pop()
            if cluster and not 2 <= cluster < self.fat.entries:
                self.report.error(f"fat {path}", f"directory starts at invalid cluster {cluster}")
                continue
            if cluster and self.owner[cluster]:
                self.report.error(f"fat {path}", "directory is already part of "
                                  f"{self.owners[self.owner[cluster]]} (loop or cross-link)")
                continue
            listing = parse_directory(self.read_dir(cluster, path), fat32, self.fs.codepage)
            where = f"fat {path}"
            for problem in listing.problems:
                # a long name whose checksum disagrees still names its file (fsck.fat leaves
                # it); one that names no file is debris (fsck.fat deletes it)
                report = self.report.warning if "checksum" in problem else self.report.error
                report(where, problem)
            entries = listing.entries
            if parent is not None:
                self.check_dots(entries, cluster, parent, path)
            seen: dict[str, str] = {}
            shorts: dict[bytes, str] = {}
            for entry in entries:
                if (cluster, entry.slot) in self.skip:
                    continue
                if entry.raw11 in (DOT, DOTDOT):
                    continue
                child = FatFS.join(path, entry.name)
                self.check_name(entry, child)
                if entry.raw11 in shorts:
                    self.report.error(where, f"two entries with the short name "
                                      f"{entry.short_name!r} ({shorts[entry.raw11]!r} and "
                                      f"{entry.name!r})")
                else:
                    key = names.fold(entry.name)
                    if key in seen:
                        self.report.warning(where, f"two entries named {entry.name!r}: only the "
                                            "first is reachable by that name")
                    seen[key] = entry.name
                shorts[entry.raw11] = entry.name
                if entry.is_dir:
                    if entry.size:
                        self.report.error(f"fat {child}", f"directory has non-zero size {entry.size}")
                    if entry.cluster == 0:
                        self.report.error(f"fat {child}", "directory without a cluster")
                        continue
                    stack.append((entry.cluster, child, 0 if cluster == root else cluster))
                    continue
                need = -(-entry.size // cs)
                if entry.cluster == 0:
                    if need:
                        self.report.error(f"fat {child}", f"{entry.size} bytes but no clusters")
                    continue
                if entry.size == 0:
                    self.report.error(f"fat {child}", "empty file owns clusters")
                chain = self.follow(entry.cluster, child)
                if len(chain) != need and need and self.complete:
                    rel = "shorter" if len(chain) < need else "longer"
                    self.report.error(f"fat {child}", f"cluster chain ({len(chain)} clusters) is "
                                      f"{rel} than the file size {entry.size} needs ({need})")

    def check_dots(self, entries, own: int, parent: int, path: str) -> None:
        where = f"fat {path}"
        if len(entries) < 2 or entries[0].raw11 != DOT or entries[1].raw11 != DOTDOT:
            self.report.error(where, "directory does not start with '.' and '..'")
            return
        if entries[0].cluster != own:
            self.report.error(where, f"'.' points to cluster {entries[0].cluster}, not {own}")
        if self.new_parent.get(own) == parent:
            return
        if parent == 0 and entries[1].cluster == self.fs.root_cluster != 0:
            self.report.warning(where, "'..' names the root's cluster instead of 0")
        elif entries[1].cluster != parent:
            self.report.error(where, f"'..' points to cluster {entries[1].cluster}, not {parent}")

    def check_name(self, entry, path: str) -> None:
        problem = names.short_name_problem(entry.raw11)
        if problem:
            self.report.error(f"fat {path}", problem)
        try:
            names.check_long_name(entry.name)
        except DiskkitError as exc:
            self.report.error(f"fat {path}", str(exc))

    def check_lost(self) -> None:
        lost = self.lost_clusters()
        if lost:
            fat = self.fat
            heads = set(lost) - {fat.get(c) for c in lost}
            self.report.error("fat table", f"{len(lost)} lost cluster(s) in {max(1, len(heads))} "
                              f"chain(s), first at cluster {lost[0]}")

    def lost_clusters(self) -> list[int]:
        """Allocated clusters no file or directory reaches (after ``check_tree``)."""
        fat = self.fat
        unowned = _free_map_from_bytes(self.owner.tobytes(), 4, fat.entries)
        in_use = int.from_bytes(bytes(fat.free_map).translate(_INVERT01), "little")
        mask = (int.from_bytes(unowned, "little") & in_use).to_bytes(fat.entries, "little")
        lost, pos = [], mask.find(1, 2)
        while pos >= 0:
            if fat.get(pos) != fat.bad:
                lost.append(pos)
            pos = mask.find(1, pos + 1)
        return lost

    def check_fsinfo(self) -> None:
        layout = self.layout
        if layout.fat_type != 32:
            return
        ss = layout.sector_size
        if not 0 < layout.fsinfo_sector < layout.reserved_sectors:
            self.report.error("fat fsinfo", f"FSInfo sector {layout.fsinfo_sector} is not in the "
                              "reserved area")
            return
        info = parse_fsinfo(self.fs.dev.read_at(layout.fsinfo_sector * ss, ss))
        if info is None:
            self.report.error("fat fsinfo", "bad FSInfo signatures", layout.fsinfo_sector * ss)
            return
        actual = self.fat.free_count
        if info.free_count != 0xFFFFFFFF and info.free_count != actual:
            self.report.error("fat fsinfo", f"free count {info.free_count} but {actual} clusters "
                              "are free", layout.fsinfo_sector * ss + 488)
        if info.next_free != 0xFFFFFFFF and not 2 <= info.next_free < self.fat.entries:
            self.report.warning("fat fsinfo", f"next-free hint {info.next_free} is out of range")


def check(dev, esp: bool = False, codepage: str = names.DEFAULT_CODEPAGE) -> Report:
    """Check a FAT volume without changing it; problems are reported, never raised.

    Verdicts follow ``fsck.fat -n``: what it calls damage is an error, what it calls harmless
    a warning. ``esp``: the volume is meant as an EFI system partition, so what firmware refuses
    (``esp_problems``) is an error too.
    """
    report = Report(subject=f"fat {dev.name}")
    try:
        fs = FatFS(dev, codepage)
    except DiskkitError as exc:
        report.error("fat boot sector", str(exc))
        return report
    for warning in fs.warnings:  # a truncated volume: readable in part, but damaged
        report.error("fat boot sector", warning)
    checker = _Checker(fs, report, esp=esp)
    try:
        checker.run()
    except DiskkitError as exc:
        report.error("fat", str(exc))
    if fs.dirty:
        for problem in report.problems:
            if any(k in problem.message for k in _INTERRUPTION_RESIDUE):
                problem.severity = "warning"
                problem.message += " (left by an interrupted write: `diskkit fat repair` tidies up)"
        report.error("fat boot sector", "the volume is marked dirty: it was not unmounted "
                     "cleanly, or a write was interrupted (`diskkit fat repair` checks and clears "
                     "it)")
    usage = fs.usage()
    report.facts.update({"fat_type": usage["fat_type"], "clusters": usage["clusters"],
                         "free_clusters": usage["free_clusters"], "cluster_size": usage["cluster_size"]})
    return report


# Problems ``repair`` fixes without guessing; anything else makes it refuse and change nothing.
_REPAIRABLE = ("lost cluster", "differs from FAT", "free count", "next-free hint",
               "bad FSInfo signatures", "differs from its backup", "long name",
               "orphaned long-name", "marked dirty", "not a media marker", "no backup boot sector")
BACKUP_BOOT_SECTOR = 6  # where Windows and mkfs.fat put it


def _clone_key(entry):
    """What a move copies from the old entry to the new one: all but the name."""
    return (entry.attr, entry.size, entry.cdate, entry.ctime, entry.ctime_tenth, entry.wdate,
            entry.wtime)


def _plan_duplicates(fs: FatFS):
    """Entries left twice by an interrupted move: ``(drops, new_parent)``.

    A chain named by several entries that are exact copies of each other (a move links the new
    name before unlinking the old) keeps one: for a directory the one its '..' names, for a file
    the first found. Other shared chains are real damage: Unsupported.
    """
    from ..errors import Unsupported

    refs: dict[int, list] = {}
    seen: set[int] = set()
    stack = [(fs.root_cluster, "/")]
    while stack:
        cluster, path = stack.pop()
        if cluster in seen:
            continue
        seen.add(cluster)
        d = fs.directory(cluster, path)
        for entry in d.entries():
            if entry.cluster:
                child = fs.join(path, entry.name)
                refs.setdefault(entry.cluster, []).append((d, entry, child))
                if entry.is_dir:
                    stack.append((entry.cluster, child))
    drops, new_parent = [], {}
    for cluster, group in refs.items():
        if len(group) < 2:
            continue
        paths = ", ".join(p for _, _, p in group)
        if len({_clone_key(e) for _, e, _ in group}) != 1:
            raise Unsupported(f"cluster {cluster} is shared by different entries ({paths})")
        keep = group[0]
        if keep[1].is_dir:
            if any(fs._contains(cluster, d) for d, _, _ in group):
                raise Unsupported(f"directory at cluster {cluster} is listed inside itself ({paths})")
            sub = fs.directory(cluster, keep[2])
            dotdot = [e.cluster for e in sub.dots if e.raw11 == DOTDOT]

            def parent_of(d):
                return 0 if d.first == fs.root_cluster else d.first

            named = [g for g in group if dotdot and parent_of(g[0]) == dotdot[0]]
            keep = named[0] if named else keep
            if not named:
                new_parent[cluster] = parent_of(keep[0])
        drops += [g for g in group if g is not keep]
    return drops, new_parent


def _add_backup_boot_sector(fs: FatFS) -> None:
    """Copy the boot sectors to sector 6 (and FSInfo after it where there is room), then
    point the boot sector at them: an interruption leaves the volume as it was."""
    layout, dev = fs.layout, fs.dev
    ss, at = layout.sector_size, BACKUP_BOOT_SECTOR
    layout.backup_boot_sector = at
    boot = bytearray(dev.read_at(0, ss))
    start = BPB.size
    boot[start:start + FAT32_BPB.size] = FAT32_BPB.build(layout.fields())
    count = min(3, layout.reserved_sectors - at)
    rest = dev.read_at(ss, (count - 1) * ss) if count > 1 else b""
    copy = bytearray(boot)
    copy[layout.state_offset] &= ~STATE_DIRTY  # the copy as it will be once the repair is done
    dev.write_at(at * ss, bytes(copy) + rest)
    dev.write_at(0, boot)


def repair(dev) -> Report:
    """Fix the damage an interrupted write can leave, then check again.

    Reclaims lost clusters, keeps one of the two names an interrupted move leaves, deletes
    orphaned long-name slots, copies the active FAT over the other copies, rewrites FSInfo
    and the FAT32 backup boot sectors. Anything that would need a guess (cross-links between
    different files, loops, broken chains or directories) is refused: nothing changes.
    """
    from ..errors import Unsupported

    if not dev.writable:
        raise DiskkitError(f"{dev.name}: opened read-only")
    before = check(dev)
    actions: list[str] = []
    if not before.problems:
        before.facts["repaired"] = actions
        return before
    fs = FatFS(dev)
    try:
        drops, new_parent = _plan_duplicates(fs)
        planned = Report(before.subject)  # the check as it will be once the duplicates go
        _Checker(fs, planned, {(d.first, e.slot) for d, e, _ in drops}, new_parent).run()
        unsafe = [p for p in planned.errors if not any(k in p.message for k in _REPAIRABLE)]
        if drops and any("lost cluster" in p.message for p in planned.errors):
            unsafe.append("duplicate entries and lost clusters together: not one interruption")
        if unsafe:
            raise Unsupported(f"{len(unsafe)} problem(s) need a decision, first: {unsafe[0]}")
    except DiskkitError as exc:
        raise Unsupported(f"{dev.name}: cannot repair safely ({exc}); nothing was changed") from None
    layout, fat = fs.layout, fs.fat
    with fs.transaction():
        for d, entry, path in drops:
            d.delete(entry)
            actions.append(f"removed {path}, a second name for the same "
                           f"{'directory' if entry.is_dir else 'file'} left by an interrupted move")
        for cluster, parent in new_parent.items():
            fs.directory(cluster, f"(directory at cluster {cluster})").set_parent(parent)
        for dpath, d in list(fs.directories("/")):
            dropped = d.drop_orphans()
            if dropped:
                actions.append(f"deleted {dropped} orphaned long-name slot(s) in {dpath}")
        fs.settle()  # the lost-cluster scan reads the directories from the device
        checker = _Checker(fs, Report(before.subject))
        checker.check_tree()
        lost = checker.lost_clusters()
        for cluster in lost:
            fat.set(cluster, 0)
        if lost:
            actions.append(f"freed {len(lost)} lost cluster(s)")
        high = FAT0_HIGH_BITS[layout.fat_type]
        if fat.get(0) & high != high:
            fat.set(0, (high & ~0xFF) | layout.media)
            actions.append("rewrote the first FAT entry (the media marker)")
        if fs.dirty:
            fs.mark_clean()
            actions.append("cleared the dirty flag")
        fs.settle()
        ss, length = layout.sector_size, layout.fat_sectors * layout.sector_size
        base = layout.fat_offset(layout.active_fat)
        if any("differs from FAT" in p.message for p in before.problems):
            for copy in range(layout.num_fats):
                if copy != layout.active_fat:
                    for pos in range(0, length, _COMPARE_CHUNK):
                        n = min(_COMPARE_CHUNK, length - pos)
                        dev.write_at(layout.fat_offset(copy) + pos, dev.read_at(base + pos, n))
            actions.append(f"copied FAT {layout.active_fat + 1} over the other copies")
        if fs.rewrite_fsinfo():
            if any(p.where == "fat fsinfo" for p in before.problems) or lost:
                actions.append(f"rewrote FSInfo ({fat.free_count} free clusters)")
            backup = layout.backup_boot_sector
            if 0 < backup and backup + 3 <= layout.reserved_sectors and any(
                    "differs from its backup" in p.message for p in before.problems):
                boot = bytearray(dev.read_at(0, 3 * ss))
                boot[layout.state_offset] &= ~STATE_DIRTY  # the copy as it will be when clean
                dev.write_at(backup * ss, boot)
                actions.append(f"copied the boot sectors to their backup at sector {backup}")
        if any("no backup boot sector (" in p.message for p in before.problems):
            _add_backup_boot_sector(fs)
            actions.append(f"created the backup boot sector at sector {BACKUP_BOOT_SECTOR}")
    dev.flush()
    after = check(dev)
    after.facts["repaired"] = actions
    return after
