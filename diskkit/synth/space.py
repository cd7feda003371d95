"""The space of synthetic images, drawn through a ``Picker``.

Every draw asks a picker for integers, choices and lists, so one definition serves three
drivers: ``RandomPicker`` (a seeded ``random.Random``: the ``synth`` command),
``MinimalPicker`` (always the simplest answer: the pytest fixture) and the hypothesis picker
in ``diskkit.testing`` (whose shrinking then works on these choices, not on bytes). Choices
list the simplest option first and integers shrink towards their lower bound, so every draw
shrinks towards a small, plain image: a raw disk, few partitions, small volumes, no files.

Constraint arguments take ``None`` (draw any), one value, or a sequence of allowed values.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from ..errors import UsageError
from ..fat import names as fat_names
from ..fat.bootsector import FAT12_MAX_CLUSTERS, FAT16_MAX_CLUSTERS
from ..fat.mkfs import FAT32_MAX_CLUSTERS, ROOT_ENTRIES, choose_layout, plan
from ..guid import version4
from ..part import types
from ..reproducible import source_date_epoch
from ..units import KiB, MiB, format_size
from .model import (DEFAULT_TIMESTAMP, Container, Description, Extent, FatVolume, File, Partition,
                    Table)

T = TypeVar("T")

CONTAINERS = ("raw", "fixed", "dynamic", "vhdx", "vhdx-fixed")
TABLES = ("none", "gpt", "mbr")
FILESYSTEMS = ("none", "fat12", "fat16", "fat32")
SECTOR_SIZES = (512, 4096)
SECTOR_SIZES_OF = {"fixed": (512,), "dynamic": (512,)}  # a VHD always has 512-byte sectors
BLOCK_SIZES = (2 * MiB,) + tuple(1 << n for n in range(12, 25) if 1 << n != 2 * MiB)  # VHD
VHDX_BLOCK_SIZES = (32 * MiB, 1 * MiB, 8 * MiB, 256 * MiB)
ALIGNMENTS = (MiB, 4 * KiB, 64 * KiB, 0)  # 0: one logical sector (unaligned)
MAX_SIZE = 64 * MiB
MAX_FILE_BYTES = 4 * MiB  # all file contents of one volume together
CLUSTER_COUNTS = {12: (1, FAT12_MAX_CLUSTERS), 16: (FAT12_MAX_CLUSTERS + 1, FAT16_MAX_CLUSTERS),
                  32: (FAT16_MAX_CLUSTERS + 1, FAT32_MAX_CLUSTERS)}
MAX_PATH = 240  # UTF-16 units: below Windows' MAX_PATH, so every reader can open each file

GPT_TYPES = ("linux", "linux-swap", "windows", "msr", "bios-boot", "linux-lvm", "recovery",
             "xbootldr", "freebsd", "apple-hfs")
GPT_FAT_TYPES = ("esp", "windows", "xbootldr")
GPT_NAMES = ("", "data", "EFI system partition", "Basic data partition", "系统保留",
             "Ünïcödé ñame", "two  spaces", "x" * 36, "Ω")
GPT_ATTRIBUTE_BITS = (0, 1, 2, 60, 61, 62, 63, 48)
MBR_TYPES = (0x83, 0x07, 0x82, 0x8E, 0xA5, 0xFD, 0x27)
MBR_FAT_TYPES = {12: (0x01, 0xEF, 0x11), 16: (0x0E, 0x06, 0x04, 0xEF), 32: (0x0C, 0x0B, 0xEF, 0x1C)}
MBR_EXTENDED_TYPES = (0x0F, 0x05)
LABELS = (None, "SYNTH", "EFI", "ESP 1", "ABCDEFGHIJK", "A-B_C")

# File names by family; each family holds names that stress one thing.
NAME_FAMILIES = {
    "short": ("README.TXT", "BOOTX64.EFI", "A", "GRUB.CFG", "DATA.BIN", "X1", "$RECYCLE"),
    "lower": ("readme.txt", "grub.cfg", "kernel", "a.b", "initrd.img"),
    "long": ("A Long File Name.txt", "name with  two spaces", "many.dots.in.name.tar.gz",
             "l" * 100 + ".bin", "n" * 200),
    "unicode": ("启动配置.cfg", "文档", "Ünïcödé.txt", "Ωμέγα.dat", "日本語のファイル名.txt",
                "Привет мир"),
    "collide": tuple(f"Collide Name {n}.txt" for n in range(1, 10)),
    "dotted": (".hidden", ".config", "archive.tar.gz", "v1.2.3"),
    "case": ("MixedCase.Txt", "README.md", "Makefile", "eFi"),
    "symbols": ("a+b=c;d,e[1].txt", "it's (1) {x}.txt", "100% & more!.txt", "~tilde", "#hash"),
}
SIZE_KINDS = ("empty", "tiny", "cluster-1", "cluster", "cluster+1", "several")
EDGES = ("low", "high", "low+1", "high-1", "any")  # where a cluster count sits in its range


class Picker(Protocol):
    """Where the choices come from. The simplest answers: ``lo``, ``options[0]``, False,
    ``lo`` items."""

    def integer(self, lo: int, hi: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...

    def boolean(self) -> bool: ...

    def many(self, lo: int, hi: int, item: Callable[["Picker"], T]) -> list[T]: ...


class RandomPicker:
    """Choices from a seeded ``random.Random``: the same seed draws the same image."""

    def __init__(self, seed: int | random.Random):
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)

    def integer(self, lo, hi):
        return self.rng.randint(lo, hi)

    def choice(self, options):
        return options[self.rng.randrange(len(options))]

    def boolean(self):
        return self.rng.random() < 0.5

    def many(self, lo, hi, item):
        return [item(self) for _ in range(self.rng.randint(lo, hi))]


class MinimalPicker:
    """Always the simplest answer: the smallest image that meets the constraints."""

    def integer(self, lo, hi):
        return lo

    def choice(self, options):
        return options[0]

    def boolean(self):
        return False

    def many(self, lo, hi, item):
        return [item(self) for _ in range(lo)]


def choice_or_integer(pick: Picker, options: Sequence, lo: int, hi: int):
    """One of ``options``, or (for a None among them) an integer in ``[lo, hi]``. The integer
    is drawn either way, so the draws keep their shape and shrink well."""
    chosen = pick.choice(options)
    number = pick.integer(lo, hi)
    return number if chosen is None else chosen


# -- identifiers -------------------------------------------------------------------------------

def derive(seed: int, *context) -> bytes:
    """32 bytes fixed by ``seed`` and ``context``: identifiers are reproducible, never drawn."""
    return hashlib.sha256("|".join(map(str, ("diskkit-synth", seed, *context))).encode()).digest()


def derive_guid(seed: int, *context) -> str:
    return version4(derive(seed, *context)[:16])


def derive_int(seed: int, bits: int, *context) -> int:
    return int.from_bytes(derive(seed, *context), "little") & ((1 << bits) - 1)


def default_timestamp() -> int:
    """``SOURCE_DATE_EPOCH`` when set, else a fixed date: images never carry the build time."""
    epoch = source_date_epoch()
    return DEFAULT_TIMESTAMP if epoch is None else epoch


def options(value, every: Sequence[T], what: str) -> tuple:
    """A constraint as the tuple of allowed values (``every`` for None), each one checked."""
    if value is None:
        return tuple(every)
    chosen = (value,) if isinstance(value, (str, int)) else tuple(value)
    for v in chosen:
        if v not in every:
            raise UsageError(f"unknown {what} {v!r} (choose from {', '.join(map(str, every))})")
    if not chosen:
        raise UsageError(f"no {what} allowed")
    return chosen


def _align_up(value: int, align: int) -> int:
    return -(-value // align) * align


# -- FAT volumes -------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _overhead(fat_type: int, cluster_size: int, sector_size: int) -> tuple[int, int, int]:
    """``(reserved + root directory sectors, FAT copies, sectors per cluster)`` as
    ``fat.mkfs`` plans a volume of this type."""
    probe = plan(1 << 16, fat_type, cluster_size, sector_size)
    return (probe.reserved_sectors + probe.root_dir_sectors, probe.num_fats,
            cluster_size // sector_size)


def cluster_count(fat_type: int, cluster_size: int, sector_size: int, total: int) -> int:
    """Clusters ``fat.mkfs`` makes in ``total`` sectors: its FAT covers the count a one-sector
    FAT would leave (``plan``'s rule; every drawn volume is checked against ``plan``)."""
    fixed, fats, spc = _overhead(fat_type, cluster_size, sector_size)
    first = max(0, (total - fixed - fats) // spc)
    fat = max(1, -(-(((first + 2) * fat_type + 7) // 8) // sector_size))
    return (total - fixed - fats * fat) // spc


def volume_sectors(fat_type: int, cluster_size: int, sector_size: int,
                   clusters: int) -> tuple[int, int]:
    """``(sectors, clusters)`` of the smallest volume with ``clusters`` clusters (every count
    is reachable: adding a sector adds at most one cluster)."""
    fixed, fats, spc = _overhead(fat_type, cluster_size, sector_size)
    total = fixed + fats + clusters * spc  # no smaller volume holds that many
    while (got := cluster_count(fat_type, cluster_size, sector_size, total)) < clusters:
        # a count grows by at most one per cluster's worth of sectors: a jump that leaves it
        # below the target skips no volume that reaches it, so the first found is the smallest
        total += max(1, (clusters - got - 1) * spc)
    return total, got


@functools.lru_cache(maxsize=None)
def lowest_count(fat_type: int, cluster_size: int, sector_size: int, least: int) -> int:
    """The smallest cluster count from ``least`` up that ``fat.mkfs`` accepts (it refuses
    volumes of very few sectors)."""
    count = least
    while True:
        total, count = volume_sectors(fat_type, cluster_size, sector_size, count)
        try:
            choose_layout(total * sector_size, sector_size, fat_type, cluster_size)
            return count
        except UsageError:
            count += 1


def cluster_sizes(sector_size: int) -> list[int]:
    return [1 << n for n in range(9, 17) if 1 << n >= sector_size]


class Usage:
    """Clusters and directory slots a tree takes on one volume, added entry by entry.

    Mirrors how ``FatFS`` stores names (one short slot, plus long-name slots unless the name
    is a plain 8.3 name), so a drawn tree never runs out of space when it is written.
    """

    def __init__(self, fat_type: int, cluster_size: int, clusters: int | None, label: bool):
        self.fat_type, self.cluster_size = fat_type, cluster_size
        self.free = None if clusters is None else clusters - (1 if fat_type == 32 else 0)
        self.used = 0
        self.root_slots = 1 if label else 0
        self.dir_slots: dict[str, int] = {}  # subdirectory path -> slots used (with . and ..)
        if fat_type == 32:
            self.dir_slots[""] = self.root_slots

    def _clusters_for_slots(self, slots: int) -> int:
        return max(1, -(-slots * 32 // self.cluster_size))

    def cost(self, parent: str, name: str, directory: bool, size: int) -> int | None:
        """Clusters ``add`` would take, or None when the root directory is full."""
        slots = 1 if fat_names.direct_short_name(name) else 1 + fat_names.lfn_slot_count(name)
        clusters = 1 if directory else -(-size // self.cluster_size)
        if parent == "" and self.fat_type != 32:
            if self.root_slots + slots > ROOT_ENTRIES:
                return None
        else:
            have = self.dir_slots[parent]
            clusters += (self._clusters_for_slots(have + slots)
                         - self._clusters_for_slots(have))
        return clusters

    def fits(self, cost: int | None) -> bool:
        return cost is not None and (self.free is None or self.used + cost <= self.free)

    def add(self, parent: str, name: str, directory: bool, size: int) -> bool:
        """Account for one entry; False (and nothing changed) when it does not fit."""
        cost = self.cost(parent, name, directory, size)
        if not self.fits(cost):
            return False
        slots = 1 if fat_names.direct_short_name(name) else 1 + fat_names.lfn_slot_count(name)
        if parent == "" and self.fat_type != 32:
            self.root_slots += slots
        else:
            self.dir_slots[parent] += slots
        if directory:
            self.dir_slots[f"{parent}/{name}".lstrip("/")] = 2
        self.used += cost
        return True


def clusters_needed(files: list[File], fat_type: int, cluster_size: int, label: bool) -> int | None:
    """Clusters the tree ``files`` needs on a volume (None: it cannot fit the root at all)."""
    usage = Usage(fat_type, cluster_size, None, label)
    for parent, name, directory, size in tree_entries(files):
        if not usage.add(parent, name, directory, size):
            return None
    return usage.used + (1 if fat_type == 32 else 0)


def tree_entries(files: list[File]):
    """``(parent, name, is_dir, size)`` for every entry, implied parent directories first."""
    made = {""}
    for f in files:
        parts = f.path.split("/")
        for depth in range(1, len(parts)):
            path = "/".join(parts[:depth])
            if path not in made:
                made.add(path)
                yield "/".join(parts[:depth - 1]), parts[depth - 1], True, 0
        if f.directory:
            if f.path in made:
                continue
            made.add(f.path)
        yield "/".join(parts[:-1]), parts[-1], f.directory, f.size


def fat_volume(pick: Picker, fat_type=None, sector_size: int = 512, max_size: int = MAX_SIZE,
               seed: int = 0, files: list[File] | None = None, label=...) -> FatVolume:
    """A FAT volume whose cluster count sits at or near an edge of its type's range.

    ``files`` (given, not drawn) must fit: the volume is made large enough for them.
    """
    kinds = options(fat_type, (12, 16, 32), "FAT type")
    if label is ...:
        label = pick.choice(LABELS)
    ss = sector_size
    feasible = {}
    for kind in kinds:
        lo_type, hi_type = CLUSTER_COUNTS[kind]
        for cs in cluster_sizes(ss):
            lo = lowest_count(kind, cs, ss, lo_type)
            if files:
                need = clusters_needed(files, kind, cs, label is not None)
                if need is None:
                    continue
                lo = max(lo, need)
            hi = min(hi_type, cluster_count(kind, cs, ss, max_size // ss))
            if lo <= hi:
                feasible.setdefault(kind, []).append((cs, lo, hi))
    if not feasible:
        what = "/".join(f"FAT{k}" for k in kinds)
        raise UsageError(f"no {what} volume with {ss}-byte sectors fits in "
                         f"{format_size(max_size)}" + (" with these files" if files else ""))
    kind = pick.choice([k for k in kinds if k in feasible])
    cs, lo, hi = pick.choice(feasible[kind])
    edge, anywhere = pick.choice(EDGES), pick.integer(lo, hi)
    count = {"low": lo, "high": hi, "low+1": min(lo + 1, hi), "high-1": max(hi - 1, lo),
             "any": anywhere}[edge]
    total, count = volume_sectors(kind, cs, ss, count)
    made = plan(total, kind, cs, ss).cluster_count
    if made != count:
        raise RuntimeError(f"fat.mkfs plans {made} clusters in {total} sectors where synth "
                           f"expects {count}: synth's FAT geometry is out of step with mkfs")
    return FatVolume(fat_type=kind, size=total * ss, cluster_size=cs, cluster_count=count,
                     sector_size=ss, label=label, serial=derive_int(seed, 32, "fat-serial"),
                     files=list(files or []))


# -- file trees --------------------------------------------------------------------------------

def _name(pick: Picker, taken: set[str], serial: int) -> str | None:
    family = pick.choice(tuple(NAME_FAMILIES))
    name = pick.choice(NAME_FAMILIES[family])
    if fat_names.fold(name) in taken:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem}{serial}.{ext}" if dot and stem else f"{name}{serial}"
        if fat_names.fold(name) in taken:
            return None
    return name


def _size(pick: Picker, cluster_size: int) -> int:
    kind = pick.choice(SIZE_KINDS)
    tiny, clusters = pick.integer(1, 64), pick.integer(2, 8)
    tail = pick.integer(0, cluster_size - 1)
    return {"empty": 0, "tiny": tiny, "cluster-1": cluster_size - 1, "cluster": cluster_size,
            "cluster+1": cluster_size + 1, "several": clusters * cluster_size + tail}[kind]


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def file_tree(pick: Picker, cluster_size: int = 4096, fat_type: int = 32,
              clusters: int | None = None, label: bool = False, files: int | None = None,
              max_dirs: int = 6, max_depth: int = 8, max_bytes: int = MAX_FILE_BYTES,
              seed: int = 0) -> list[File]:
    """Directories, then files: long, Unicode, 8.3-colliding names, deep chains, and sizes
    at the cluster edges. With ``clusters`` set, the tree fits a volume of that many."""
    usage = Usage(fat_type, cluster_size, clusters, label)
    taken: dict[str, set[str]] = {"": set()}
    dirs = [""]
    out: list[File] = []

    def place(parent: str, directory: bool, size: int) -> bool:
        name = _name(pick, taken[parent], len(out) + 1)
        path = f"{parent}/{name}".lstrip("/") if name else None
        if path is None or _units(path) > MAX_PATH:
            return False
        if not usage.add(parent, name, directory, size):
            if directory or not usage.add(parent, name, False, 0):
                return False
            size = 0  # no room for the data: keep the name, as an empty file
        taken[parent].add(fat_names.fold(name))
        if directory:
            taken[path] = set()
            dirs.append(path)
            out.append(File(path, directory=True))
        else:
            zeros = all((pick.boolean(), pick.boolean()))  # a quarter of the files hold zeros
            out.append(File(path, size=size, seed=derive_int(seed, 63, "file", path),
                            zeros=size > 0 and zeros))
        return True

    def parent_for_dir() -> str:
        how, anywhere = pick.choice(("root", "last", "any")), pick.choice(dirs)
        parent = {"root": "", "last": dirs[-1], "any": anywhere}[how]
        return parent if parent.count("/") + 1 < max_depth else ""

    for _ in range(pick.integer(0, max_dirs)):
        place(parent_for_dir(), True, 0)
    budget = max_bytes
    wanted = pick.integer(0, 12) if files is None else files
    placed = attempts = 0
    while placed < wanted and attempts < 4 * wanted:
        attempts += 1
        size = _size(pick, cluster_size)
        if size > budget:
            size = 0
        if place(pick.choice(dirs), False, size):
            budget -= out[-1].size
            placed += 1
    if files is not None and placed < files:
        raise UsageError(f"only {placed} of {files} files fit in this volume")
    return out


# -- partition tables --------------------------------------------------------------------------

def smallest_volume(fat_type: int, sector_size: int) -> int:
    """Bytes of the smallest volume of this type (fewest clusters, one sector each)."""
    count = lowest_count(fat_type, sector_size, sector_size, CLUSTER_COUNTS[fat_type][0])
    return volume_sectors(fat_type, sector_size, sector_size, count)[0] * sector_size


def _sector_size(pick: Picker, sector_size, fs_allowed: tuple, budget: int) -> int:
    """A sector size (from the constraint) under which a required filesystem still fits."""
    sizes = options(sector_size, SECTOR_SIZES, "sector size")
    if "none" not in fs_allowed:
        fitting = [ss for ss in sizes if any(smallest_volume(int(k[3:]), ss) <= budget
                                             for k in fs_allowed)]
        sizes = tuple(fitting) or sizes  # none fits: let the filesystem choice explain
    return pick.choice(sizes)


def _fs_choice(pick: Picker, allowed: tuple, required: bool, ss: int, budget: int) -> int | None:
    """A FAT type that fits ``budget`` (None: no filesystem); UsageError if one is required
    and none fits."""
    kinds = [k for k in allowed if k == "none" and not required
             or k != "none" and smallest_volume(int(k[3:]), ss) <= budget]
    if not kinds:
        if required:
            names = "/".join(k.upper() for k in allowed if k != "none")
            raise UsageError(f"no {names} volume with "
                             f"{ss}-byte sectors fits in {format_size(max(budget, 0))}")
        return None
    kind = pick.choice(kinds)
    return None if kind == "none" else int(kind[3:])


def filled_volume(pick, fat_type, ss, budget, seed, files=None, file_count=None) -> FatVolume:
    """A volume within ``budget`` holding a drawn tree (or the given ``files``)."""
    volume = fat_volume(pick, fat_type, ss, budget, seed, files)
    if files is None:
        volume.files = file_tree(pick, volume.cluster_size, volume.fat_type,
                                 volume.cluster_count, volume.label is not None, file_count,
                                 seed=seed)
    return volume


def partition_table(pick: Picker, table="gpt", sector_size=None, fs=("none",),
                    max_size: int = MAX_SIZE, seed: int = 0, files: list[File] | None = None,
                    file_count: int | None = None, max_partitions: int = 4,
                    logicals: bool = True) -> tuple[Table, int]:
    """A table and the disk size it is laid out for. ``fs`` lists the filesystems partitions
    may hold; without "none" in it at least the first partition holds one, which also gets
    ``files`` (given) or ``file_count`` drawn files."""
    kind = pick.choice(options(table, ("gpt", "mbr"), "partition table"))
    fs_allowed = options(fs, FILESYSTEMS, "filesystem")
    ss = _sector_size(pick, sector_size, fs_allowed, max_size - MiB)
    need_fs = "none" not in fs_allowed
    out = Table(kind, ss)
    if kind == "gpt":
        out.entry_count = pick.choice((128, 256))
        out.disk_guid = derive_guid(seed, "disk-guid")
    else:
        out.disk_signature = derive_int(seed, 32, "mbr-signature") or 1
    first, tail = table_overhead(out)
    cursor = first * ss
    limit = max_size - tail * ss
    slots = out.entry_count if kind == "gpt" else 4
    count = pick.integer(1 if need_fs else 0, min(max_partitions, slots))
    extended_at = None
    first_free = 1 if need_fs else 0  # the first partition holds the required filesystem
    if kind == "mbr" and logicals and count > first_free and pick.boolean():
        extended_at = pick.integer(first_free, count - 1)
    index = 0
    for n in range(count):
        index = _next_index(pick, index, slots, count - n - 1)
        if n == extended_at:
            cursor = _extended(pick, out, index, cursor, limit, seed, fs_allowed)
            continue
        part = _partition(pick, out, index, cursor, limit, seed, fs_allowed,
                          need_fs and n == 0, files if n == 0 else None,
                          file_count if n == 0 else None)
        if part is None:
            break
        out.partitions.append(part)
        cursor = part.start + part.size
    if kind == "mbr":
        _mbr_boot_flag(pick, out)
    least = min_disk_size(out)
    slack = min(pick.choice((0, ss, MiB, 4 * MiB)), max_size - least)
    return out, least + max(0, slack - slack % ss)


def table_overhead(table: Table) -> tuple[int, int]:
    """``(first usable LBA, sectors the table keeps after the last usable one)``."""
    if table.kind == "gpt":
        array = -(-table.entry_count * 128 // table.sector_size)
        return 2 + array, 1 + array
    return 1, 0


def min_disk_size(table: Table) -> int:
    """The smallest disk that holds ``table`` and every partition in it."""
    ss = table.sector_size
    first, tail = table_overhead(table)
    end = max([p.start + p.size for p in table.partitions], default=(first + 1) * ss)
    return _align_up(end, ss) + tail * ss


def _next_index(pick: Picker, index: int, slots: int, later: int) -> int:
    """The next entry slot, sometimes leaving some unused (numbering with holes), so that
    ``later`` more entries still fit."""
    skip = pick.choice((0, 0, 1, 3))
    return index + 1 + min(skip, max(0, slots - index - 1 - later))


def _placement(pick: Picker, ss: int, cursor: int) -> int:
    align = max(pick.choice(ALIGNMENTS), ss)
    return _align_up(cursor, align) + pick.choice((0, 0, 1, 2)) * align


def _partition(pick, table: Table, index, cursor, limit, seed, fs_allowed, need_fs, files,
               file_count, logical=False) -> Partition | None:
    ss = table.sector_size
    start = _placement(pick, ss, cursor)
    budget = limit - start
    fat_type = _fs_choice(pick, fs_allowed, need_fs, ss, budget)
    if budget < ss:
        return None
    volume = None
    if fat_type is not None:
        try:
            volume = filled_volume(pick, fat_type, ss, budget,
                                   derive_int(seed, 32, "volume", index), files, file_count)
        except UsageError:
            if need_fs:
                raise
    if volume is not None:
        size = volume.size
    else:
        size = choice_or_integer(pick, (ss, 4 * KiB, 64 * KiB, MiB, None), 1,
                                 max(1, budget // ss // 4) * ss)
        size = _align_up(min(size, budget - budget % ss), ss)
        if size < ss:
            return None
    part = Partition(index=index, start=start, size=size, type=0, logical=logical,
                     filesystem=volume)
    if table.kind == "gpt":
        alias = pick.choice(GPT_FAT_TYPES if volume else GPT_TYPES)
        part.type = types.gpt_type_guid(alias)
        part.name = pick.choice(GPT_NAMES)
        part.guid = derive_guid(seed, "partition-guid", index)
        for bit in pick.many(0, 3, lambda p: p.choice(GPT_ATTRIBUTE_BITS)):
            part.attributes |= 1 << bit
    else:
        fat_codes = MBR_FAT_TYPES[volume.fat_type] if volume else ()
        if volume and volume.size >= 32 * MiB:
            fat_codes = tuple(c for c in fat_codes if c != 0x04)
        part.type = pick.choice(fat_codes or MBR_TYPES)
    return part


def _extended(pick, table: Table, index, cursor, limit, seed, fs_allowed) -> int:
    """An extended partition holding logicals, each after its own boot record (EBR);
    returns where the next partition may start."""
    ss = table.sector_size
    start = _placement(pick, ss, cursor)
    if start + 2 * ss > limit:
        return cursor
    extended = Partition(index=index, start=start, size=ss, type=pick.choice(MBR_EXTENDED_TYPES))
    table.partitions.append(extended)
    ebr = start
    for n in range(pick.integer(0, 3)):
        part = _partition(pick, table, 5 + n, ebr + ss, limit, seed, fs_allowed, False, None,
                          None, logical=True)
        if part is None:
            break
        table.partitions.append(part)
        ebr = part.start + part.size
    end = min(ebr + pick.choice((0, ss, 64 * KiB)), limit)
    extended.size = max(end - start, ebr - start, ss)
    return extended.start + extended.size


def _mbr_boot_flag(pick: Picker, table: Table) -> None:
    candidates = [p for p in table.partitions if not p.logical and not p.extended]
    chosen = pick.choice([None] + candidates)
    if chosen is not None:
        chosen.bootable = True


# -- containers and whole images ---------------------------------------------------------------

def disk_size(pick: Picker, sector_size: int = 512, max_size: int = MAX_SIZE) -> int:
    """A blank disk's size: common small sizes first, then any whole number of sectors."""
    size = choice_or_integer(pick, (MiB, sector_size, 64 * KiB, None), 1, max_size)
    size = _align_up(size, sector_size)
    return max(sector_size, min(size, max_size - max_size % sector_size))


def image_container(pick: Picker, size: int, kind=None, seed: int = 0) -> Container:
    """The image file around a disk of ``size`` bytes."""
    kind = pick.choice(options(kind, CONTAINERS, "container"))
    out = Container(kind, size)
    if kind != "raw":
        out.unique_id = derive_guid(seed, "vhd-unique-id")
    if kind == "dynamic":
        out.block_size = pick.choice(BLOCK_SIZES)
    elif kind.startswith("vhdx"):
        out.block_size = pick.choice(VHDX_BLOCK_SIZES)
    return out


def extents(pick: Picker, start: int, size: int, seed: int, tag) -> list[Extent]:
    """Runs of data (random or zero) inside ``[start, start + size)``: content for disks and
    partitions without a filesystem, with holes around them."""
    out = []
    for n in range(pick.integer(0, 3) if size else 0):
        length = min(size, choice_or_integer(pick, (1, 512, 4096, 65536 + 1, None), 1,
                                             min(size, MiB)))
        offset = start + pick.integer(0, size - length)
        zeros = all((pick.boolean(), pick.boolean()))
        out.append(Extent(offset, length, derive_int(seed, 63, "extent", tag, n), zeros=zeros))
    return out


def description(pick: Picker, container=None, table=None, fs=None, files=None,
                sector_size=None, max_size: int = MAX_SIZE, seed: int | None = None,
                max_partitions: int = 4, logicals: bool = True) -> Description:
    """A whole image: container, table (or none), filesystems and files.

    ``files``: None (draw trees), a count of files for the first volume, or the files
    themselves (``File`` objects) for it.
    """
    seed = pick.integer(0, 2**32 - 1) if seed is None else seed
    given = files if isinstance(files, list) else None
    count = files if isinstance(files, int) else None
    kind, sector_size = _container_kind(pick, container, sector_size)
    table_kind = pick.choice(options(table, TABLES, "partition table"))
    fs_allowed = options(fs, FILESYSTEMS, "filesystem")
    if (given is not None or count) and fs_allowed == ("none",):
        raise UsageError("files need a filesystem (choose one with fs)")
    if given is not None or count:
        fs_allowed = tuple(k for k in fs_allowed if k != "none") or fs_allowed
    out = Description(Container("raw", 0), timestamp=default_timestamp(), seed=seed)
    if table_kind == "none":
        ss = _sector_size(pick, sector_size, fs_allowed, max_size)
        fat_type = _fs_choice(pick, fs_allowed, "none" not in fs_allowed, ss, max_size)
        if fat_type is not None:
            out.filesystem = volume = filled_volume(pick, fat_type, ss, max_size,
                                                    derive_int(seed, 32, "volume"), given, count)
            size = volume.size + min(pick.choice((0, ss, MiB)), max_size - volume.size)
        else:
            size = disk_size(pick, ss, max_size)
            out.extents = extents(pick, 0, size, seed, "disk")
    else:
        out.table, size = partition_table(pick, table_kind, sector_size, fs_allowed, max_size,
                                          seed, given, count, max_partitions, logicals)
        for p in out.table.partitions:
            if p.filesystem is None and not p.extended:
                out.extents += extents(pick, p.start, p.size, seed, p.index)
    out.container = image_container(pick, size, kind, seed)
    return out


def _container_kind(pick: Picker, container, sector_size) -> tuple[str, tuple]:
    """A container kind, and the sector sizes it allows of those asked for (a VHD's
    sectors are always 512 bytes; raw disks and VHDX files may have 4096)."""
    sizes = options(sector_size, SECTOR_SIZES, "sector size")
    kinds = [k for k in options(container, CONTAINERS, "container")
             if any(ss in SECTOR_SIZES_OF.get(k, SECTOR_SIZES) for ss in sizes)]
    if not kinds:
        raise UsageError("a VHD always has 512-byte sectors: choose raw or vhdx containers for "
                         "4096-byte ones")
    kind = pick.choice(kinds)
    return kind, tuple(ss for ss in sizes if ss in SECTOR_SIZES_OF.get(kind, SECTOR_SIZES))
