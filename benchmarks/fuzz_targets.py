"""One fuzz target per on-disk parser, shared by the atheris runner and the pytest replay.

A target turns fuzzer bytes into the structure it attacks (a whole image, or one region of a
known-good template image), drives every read-only API over it, and may raise only
``DiskkitError``: any other exception, a hang or a huge allocation is a bug. ``image(data)``
gives the whole image an input stands for, so tests can replay it through the CLI as well.
"""

from __future__ import annotations

import gzip
import importlib
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from diskkit.blockdev import BlockDevice, MemoryDevice
from diskkit.errors import DiskkitError

ROOT = Path(__file__).resolve().parent.parent
FUZZ_DIR = ROOT / "fixtures" / "fuzz"
CRASH_DIR = ROOT / "fixtures" / "crashes"
TEMPLATE_DIR = FUZZ_DIR / "templates"

# Bounds on how much a harness walks, so a slow parser shows up as slow, not as a harness hang.
MAX_ENTRIES = 512
MAX_DEPTH = 16
MAX_READ = 1 << 20


class PatchedDevice(BlockDevice):
    """Read-only view of ``base`` with ``patch`` laid over it at ``offset`` (no 40 MiB copies)."""

    def __init__(self, base: bytes, offset: int, patch: bytes, name: str = "<fuzz>"):
        self.base, self.offset, self.patch = base, offset, bytes(patch)
        self.size = len(base)
        self.writable = False
        self.name = name

    def _read(self, offset, length):
        out = bytearray(self.base[offset:offset + length])
        lo, hi = max(offset, self.offset), min(offset + length, self.offset + len(self.patch))
        if lo < hi:
            out[lo - offset:hi - offset] = self.patch[lo - self.offset:hi - self.offset]
        return bytes(out)


@dataclass(frozen=True)
class Target:
    name: str
    doc: str
    requires: tuple[str, ...]
    run: Callable[[bytes], None]
    image: Callable[[bytes], bytes] = bytes
    suffix: str = ".img"
    commands: tuple[tuple[str, ...], ...] = ()
    max_len: int = 1 << 17
    extra: dict = field(default_factory=dict)

    def load(self) -> None:
        """Import what the target exercises; a missing module or name is an error, not a skip."""
        for need in self.requires:
            module, _, attr = need.partition(":")
            loaded = importlib.import_module(module)
            if attr and not hasattr(loaded, attr):
                raise AttributeError(f"fuzz target {self.name}: {module}.{attr} does not exist")


# -- helpers ---------------------------------------------------------------------------------

def scratch_file(data: bytes, suffix: str) -> str:
    """Write ``data`` to a per-process scratch file (tmpfs when available) and return its path."""
    directory = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    path = os.path.join(directory, f"diskkit-fuzz-{os.getpid()}{suffix}")
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def drain(dev: BlockDevice) -> None:
    """Read what the device claims is allocated (bounded): exercises BAT/extent lookups."""
    budget = 4 * MAX_READ
    for offset, length in dev.allocated_ranges():
        n = min(length, budget, MAX_READ)
        dev.read_at(offset, n)
        budget -= n
        if budget <= 0:
            break
    if dev.size:
        dev.read_at(dev.size - min(dev.size, 512), min(dev.size, 512))


def bpb(image: bytes) -> dict:
    """The handful of BIOS parameter block fields a harness needs to find FAT regions."""
    (bytes_per_sector, sectors_per_cluster, reserved, fats, root_entries, total16, _media,
     fat16_size) = struct.unpack_from("<HBHBHHBH", image, 11)
    fat32_size, = struct.unpack_from("<I", image, 36)
    fat_size = fat16_size or fat32_size
    root_start = (reserved + fats * fat_size) * bytes_per_sector
    return {"sector": bytes_per_sector, "cluster": sectors_per_cluster * bytes_per_sector,
            "reserved": reserved, "fats": fats, "fat_size": fat_size * bytes_per_sector,
            "fat_start": reserved * bytes_per_sector, "root_start": root_start,
            "root_bytes": root_entries * 32, "fat32": fat16_size == 0}


@cache
def template(name: str) -> bytes:
    """A known-good image from fixtures/fuzz/templates (stored gzipped)."""
    with gzip.open(TEMPLATE_DIR / f"{name}.img.gz", "rb") as fh:
        return fh.read()


@dataclass(frozen=True)
class Region:
    """Where an overlay target's input lands: ``template`` image, byte ``offset``, ``limit``."""

    template: str
    offset: int
    limit: int

    def device(self, data: bytes) -> PatchedDevice:
        return PatchedDevice(template(self.template), self.offset, data[:self.limit])

    def image(self, data: bytes) -> bytes:
        base, data = template(self.template), data[:self.limit]
        return base[:self.offset] + data + base[self.offset + len(data):]


# -- pipelines: everything a read-only user can make diskkit do with one image ---------------

def vhd_pipeline(data: bytes) -> None:
    from diskkit import vhd
    from diskkit.image import open_image

    path = scratch_file(data, ".vhd")
    dev = open_image(path)
    try:
        drain(dev)
        table_pipeline_on(dev)
    finally:
        dev.close()
    vhd.info(path)
    vhd.check(path)


def vhdx_pipeline_on(path: str) -> None:
    from diskkit import vhdx
    from diskkit.image import open_image

    dev = open_image(path)
    try:
        drain(dev)
        table_pipeline_on(dev)
    finally:
        dev.close()
    vhdx.info(path)
    vhdx.check(path)


# Where each VHDX target's input lands in the template (a qemu-made dynamic VHDX, 1 MiB
# blocks): (offset, bytes, size of the checksummed structure there or 0). Checksums are
# recomputed so inputs reach the validation behind them.
VHDX_REGIONS = {"vhdx_header": (64 * 1024, 4096, 4096),
                "vhdx_region_table": (192 * 1024, 64 * 1024, 64 * 1024),
                "vhdx_metadata": (3 * 1024 * 1024, 66 * 1024, 0),
                "vhdx_bat": (2 * 1024 * 1024, 8192, 0),
                "vhdx_log": (1024 * 1024, 64 * 1024, 0)}
VHDX_LOG_GUID = bytes(range(1, 17))  # the log target's headers name it, so entries can match


def vhdx_image(name: str, data: bytes) -> bytes:
    from diskkit.vhdx.structures import build_header, parse_header, with_checksum

    offset, limit, checksummed = VHDX_REGIONS[name]
    img = bytearray(Region("vhdx", offset, limit).image(data))
    if checksummed and len(data) >= 8:
        img[offset:offset + checksummed] = with_checksum(bytes(img[offset:offset + checksummed]))
    if name == "vhdx_log":
        for at in (64 * 1024, 128 * 1024):
            header = dict(parse_header(img[at:at + 4096]), log_guid=VHDX_LOG_GUID)
            img[at:at + 4096] = build_header(header)
    return bytes(img)


def vhdx_target(name: str) -> tuple[Callable[[bytes], None], Callable[[bytes], bytes]]:
    def run(data: bytes) -> None:
        vhdx_pipeline_on(scratch_file(vhdx_image(name, data), ".vhdx"))

    return run, lambda data: vhdx_image(name, data)


FUZZ_PARENT = "diskkit-fuzz-parent.vhdx"  # next to the scratch file, so locators can name it
FUZZ_LINKAGE = "01020304-0506-0708-090a-0b0c0d0e0f10"  # the parent's DataWriteGuid
LOCATOR_ROOM = 4096  # bytes of the child's parent locator item the input replaces


def set_data_write_guid(path: str, text: str) -> None:
    """Both headers of the VHDX at ``path`` with this DataWriteGuid (a parent made to match a
    child's linkage)."""
    from diskkit.vhdx.structures import HEADER, HEADER_OFFSETS, HEADER_SIZE, build_header, guid

    with open(path, "r+b") as fh:
        for at in HEADER_OFFSETS:
            fh.seek(at)
            header = dict(HEADER.parse(fh.read(HEADER_SIZE)), data_write_guid=guid(text))
            fh.seek(at)
            fh.write(build_header(header))


@cache
def differencing_template() -> tuple[bytes, int]:
    """An empty differencing VHDX (8 MiB, 1 MiB blocks) whose parent locator item is
    ``LOCATOR_ROOM`` bytes, and that item's offset; the parent is written next to the scratch
    file once per process."""
    from diskkit import vhdx
    from diskkit.vhdx.create import METADATA_OFFSET, write_new
    from diskkit.vhdx.structures import PARENT_LOCATOR, parse_metadata_table

    folder = os.path.dirname(scratch_file(b"", ".vhdx"))
    parent = os.path.join(folder, FUZZ_PARENT)
    vhdx.create(parent, 8 << 20, block_size=1 << 20, force=True)
    set_data_write_guid(parent, FUZZ_LINKAGE)
    child = scratch_file(b"", ".template.vhdx")
    write_new(child, 8 << 20, 1 << 20, parent={"parent_linkage": "{" + FUZZ_LINKAGE + "}",
                                               "relative_path": ".\\" + FUZZ_PARENT,
                                               "pad": " " * (LOCATOR_ROOM // 2)})
    with open(child, "rb") as fh:
        data = fh.read()
    os.unlink(child)
    entry = parse_metadata_table(data[METADATA_OFFSET:METADATA_OFFSET + 65536],
                                 1 << 20)[PARENT_LOCATOR]
    return data, METADATA_OFFSET + entry.offset


def parent_locator_image(data: bytes) -> bytes:
    base, at = differencing_template()
    item = bytes(data[:LOCATOR_ROOM]).ljust(LOCATOR_ROOM, b"\0")
    return base[:at] + item + base[at + LOCATOR_ROOM:]


def parent_locator_pipeline(data: bytes) -> None:
    vhdx_pipeline_on(scratch_file(parent_locator_image(data), ".vhdx"))


def table_pipeline_on(dev: BlockDevice) -> None:
    from diskkit import part

    table = part.read_table(dev)
    if table is not None:
        for p in table.partitions[:MAX_ENTRIES]:
            (p.index, p.start, p.size, p.type_name, getattr(p, "name", None))
            part.partition_device(dev, p.index)
    part.verify(dev)


def table_pipeline(data: bytes) -> None:
    table_pipeline_on(MemoryDevice(data, writable=False, name="<fuzz>"))


def fat_walk(fs, path: str = "/", depth: int = 0, budget: list | None = None) -> None:
    """List, stat and read a FAT tree within bounds (loops are the parser's job to refuse)."""
    budget = budget if budget is not None else [MAX_ENTRIES]
    if depth > MAX_DEPTH:
        return
    for entry in fs.listdir(path):
        budget[0] -= 1
        if budget[0] < 0:
            return
        name = getattr(entry, "name", entry)
        if name in (".", ".."):
            continue
        child = path.rstrip("/") + "/" + name
        info = fs.stat(child)
        if getattr(info, "is_dir", False):
            fat_walk(fs, child, depth + 1, budget)
        elif getattr(info, "size", 0) <= MAX_READ:
            fs.read_file(child)


def fat_pipeline_on(dev: BlockDevice) -> None:
    from diskkit import fat

    fs = fat.FatFS(dev)
    fat_walk(fs)
    fs.usage()
    fat.check(dev)


def fat_region(data: bytes, where: str) -> Region:
    """Where each FAT target's input goes in the FAT12 or FAT32 template."""
    if where == "boot":  # FAT32 boot sectors have a zero 16-bit FAT size
        kind = "fat32" if len(data) >= 24 and data[22:24] == b"\0\0" else "fat12"
        return Region(kind, 0, 512)
    base = template("fat32" if where == "fsinfo" else "fat12")
    layout = bpb(base)
    if where == "fsinfo":
        return Region("fat32", layout["sector"], 512)
    if where == "table":
        return Region("fat12", layout["fat_start"], layout["fat_size"])
    if where == "root":
        return Region("fat12", layout["root_start"], layout["root_bytes"])
    return Region("fat12", template_subdir_offset(base, layout), layout["cluster"])


def template_subdir_offset(base: bytes, layout: dict) -> int:
    data_start = layout["root_start"] + layout["root_bytes"]
    for off in range(layout["root_start"], data_start, 32):
        entry = base[off:off + 32]
        if entry[0] not in (0, 0xE5) and entry[11] & 0x10 and entry[11] != 0x0F:
            cluster, = struct.unpack_from("<H", entry, 26)
            return data_start + (cluster - 2) * layout["cluster"]
    raise RuntimeError("fat12 template has no subdirectory")


def fat_pure_parsers(data: bytes, where: str) -> None:
    """The bytes-in parsers on the raw input too, without a template's context."""
    from diskkit.fat import bootsector, directory

    if where in ("root", "subdir"):
        directory.parse_directory(data, fat32=False)
        directory.parse_directory(data, fat32=True, codec="cp936")  # double-byte short names
    elif where == "boot":
        bootsector.parse_boot_sector(data[:512].ljust(512, b"\0"))
    elif where == "fsinfo":
        bootsector.parse_fsinfo(data[:512].ljust(512, b"\0"))


def fat_target(where: str) -> tuple[Callable[[bytes], None], Callable[[bytes], bytes]]:
    def run(data: bytes) -> None:
        try:
            fat_pure_parsers(data, where)
        except DiskkitError:  # refused here; the whole-volume pipeline must still run
            pass
        fat_pipeline_on(fat_region(data, where).device(data))

    def image(data: bytes) -> bytes:
        return fat_region(data, where).image(data)

    return run, image


def ntfs_layout(image: bytes) -> dict:
    """Where an NTFS template keeps its boot sector, MFT and the ``Sub`` directory's index
    block (found with struct, independently of the reader under test)."""
    sector, spc = struct.unpack_from("<HB", image, 11)
    cluster = sector * spc
    total_sectors, mft_lcn = struct.unpack_from("<QQ", image, 0x28)
    record = 1 << -struct.unpack_from("<b", image, 0x40)[0]
    needle = "inner.txt".encode("utf-16-le")
    index = next(pos for pos in range(0, len(image), cluster)
                 if image[pos:pos + 4] == b"INDX" and needle in image[pos:pos + 4096])
    return {"sector": sector, "cluster": cluster, "total_sectors": total_sectors,
            "mft": mft_lcn * cluster, "record": record, "index": index}


def ntfs_pipeline_on(dev: BlockDevice) -> None:
    """check, then info, a bounded walk reading every small file and stream, the used ranges."""
    from itertools import islice

    from diskkit import ntfs

    ntfs.check(dev)
    vol = ntfs.NtfsVolume(dev)
    vol.info()
    budget = MAX_ENTRIES
    for dpath, dirs, files in vol.walk("/", metafiles=True):
        for entry in files:
            budget -= 1
            if budget < 0:
                return
            path = dpath.rstrip("/") + "/" + entry.name
            for stream in [None, *entry.streams]:
                try:
                    with vol.open(path, stream) as fh:
                        fh.read(64 * 1024)  # enough to reach every decoder
                except DiskkitError:
                    pass
    list(islice(vol.used_ranges(), MAX_ENTRIES))


def ntfs_region(where: str) -> Region:
    layout = ntfs_layout(template("ntfs"))
    if where == "boot":
        return Region("ntfs", 0, 512)
    if where == "mft":
        return Region("ntfs", layout["mft"], 48 * layout["record"])
    return Region("ntfs", layout["index"], 4096)


def ntfs_target(where: str) -> tuple[Callable[[bytes], None], Callable[[bytes], bytes]]:
    def run(data: bytes) -> None:
        ntfs_pipeline_on(ntfs_region(where).device(data))

    def image(data: bytes) -> bytes:
        return ntfs_region(where).image(data)

    return run, image


def ntfs_codecs(data: bytes) -> None:
    """The bytes-in NTFS decoders on raw input: run lists, LZNT1, XPRESS, LZX, records, index
    nodes, attribute lists."""
    from diskkit.ntfs import attributes, index, lznt1, lzx, record, runlist, xpress

    for decode in (lambda: runlist.decode_runs(data, 0, 1 << 20, 1 << 24, "fuzz"),
                   lambda: lznt1.decompress(data, 65536),
                   lambda: xpress.decompress(data, 16384),
                   lambda: lzx.decompress(data, 32768),
                   lambda: record.parse_record(data[:1024].ljust(1024, b"\0"), 0, "fuzz"),
                   lambda: index.parse_node(data, 0, len(data), "fuzz"),
                   lambda: attributes.parse_attribute_list(data, "fuzz")):
        try:
            decode()
        except DiskkitError:
            pass


def inf_pipeline(data: bytes) -> None:
    """A driver INF, parsed for the default target and for an old 32-bit one, localized."""
    from diskkit.drivers.inf import parse_inf

    for language, target in ((None, None), ("0804", ("x86", 6, 1, 7601))):
        inf = parse_inf(data, language, target) if target else parse_inf(data)
        inf.to_dict()
        (inf.hardware_ids, inf.boot_critical)


def hwids_pipeline(data: bytes) -> None:
    """``pnputil /enum-devices /ids`` output (or a plain ID list) as a user hands it over."""
    from diskkit.drivers.scan import read_hwids

    read_hwids(scratch_file(data, ".txt"))


def wim_header_pipeline(data: bytes) -> None:
    """The start of a WIM/ESD file as ``ramos script deploy --wim`` reads it for the index check."""
    from diskkit.ramos.wim import parse_header, read_header

    parse_header(data)
    read_header(scratch_file(data, ".wim"))


def recipe_pipeline(data: bytes) -> None:
    """A ramos.toml recipe: schema validation, then every step planned (``--dry-run``)."""
    from diskkit.ramos.recipe import build, load_recipe

    folder = os.path.join(os.path.dirname(scratch_file(b"", ".dir")), f"diskkit-recipe-{os.getpid()}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "ramos.toml")
    with open(path, "wb") as fh:
        fh.write(data)
    build(load_recipe(path), dry_run=True, platform="linux")


def efi_loader_pipeline(data: bytes) -> None:
    """A file given as ``esp build --loader``: its PE/COFF headers, judged as the firmware would."""
    from diskkit.boot.efiapp import check_loader, describe

    describe(data)
    check_loader(scratch_file(data, ".efi"))


def grub_moddir_pipeline(data: bytes) -> None:
    """A GRUB module directory's moddep.lst and modinfo.sh (the same bytes as both), read and
    checked for every chain."""
    from diskkit.boot import grubimage
    from diskkit.boot.chains import CHAINS

    folder = os.path.join(os.path.dirname(scratch_file(b"", ".dir")), f"diskkit-grub-{os.getpid()}")
    os.makedirs(folder, exist_ok=True)
    for name in ("moddep.lst", "modinfo.sh"):
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(data)
    moddir = grubimage.read_module_dir(folder)
    (moddir.flavour, moddir.description)
    for chain in CHAINS.values():
        if chain.grub_modules:
            moddir.missing(next(iter(chain.grub_modules.values())))
            try:
                grubimage.modules_for(chain, moddir)
            except DiskkitError:
                pass


def bcd_device_pipeline(data: bytes) -> None:
    """One BCD device element's bytes (partition, ramdisk, vhd ... nested descriptors)."""
    from diskkit.windows.bcddevice import decode_element

    element = decode_element(data)
    (element.to_dict(), element.to_text())


def bcd_store_pipeline(data: bytes) -> None:
    """A BCD store hive: regipy underneath, then objects, elements and their decoding."""
    from diskkit.windows.bcd import read_store
    from diskkit.windows.hive import hive_from_bytes

    store = read_store(hive_from_bytes(data, "<fuzz BCD>"))
    (store.to_dict(), store.to_text(), store.default_loader())


IMAGE_COMMANDS = (("info", "{img}"), ("check", "{img}"), ("part", "show", "{img}"))
VHD_COMMANDS = IMAGE_COMMANDS + (("vhd", "info", "{img}"), ("vhd", "check", "{img}"))
FAT_COMMANDS = (("info", "{img}"), ("check", "{img}"), ("fat", "tree", "{img}"),
                ("fat", "ls", "-l", "{img}"), ("fat", "check", "{img}"))

PART_API = ("diskkit.part:read_table", "diskkit.part:partition_device", "diskkit.part:verify")
VHD_API = ("diskkit.image:open_image", "diskkit.vhd:info", "diskkit.vhd:check", *PART_API)
FAT_API = ("diskkit.fat:FatFS", "diskkit.fat:check")
VHDX_API = ("diskkit.image:open_image", "diskkit.vhdx:info", "diskkit.vhdx:check", *PART_API)
VHDX_COMMANDS = IMAGE_COMMANDS + (("vhdx", "info", "{img}"), ("vhdx", "check", "{img}"))
VHDX_DOCS = {"vhdx_header": "VHDX header (input replaces header 1; checksum recomputed)",
             "vhdx_region_table": "VHDX region table 1 (checksum recomputed)",
             "vhdx_metadata": "VHDX metadata region: table and items (size, block, sectors)",
             "vhdx_bat": "VHDX BAT: payload and sector bitmap entries, states, offsets",
             "vhdx_log": "VHDX log entries: search for the active sequence, replay in memory"}
NTFS_API = ("diskkit.ntfs:NtfsVolume", "diskkit.ntfs:check")
NTFS_COMMANDS = (("info", "{img}"), ("check", "{img}"), ("ntfs", "info", "{img}"),
                 ("ntfs", "ls", "-l", "-r", "-a", "{img}"), ("ntfs", "check", "{img}"))

TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("vhd_footer", "VHD hard disk footer (fixed and dynamic), via open_image/info/check",
           VHD_API, vhd_pipeline, suffix=".vhd",
           commands=VHD_COMMANDS),
    Target("vhd_dynamic", "dynamic VHD header, BAT and sector bitmaps",
           VHD_API, vhd_pipeline, suffix=".vhd",
           commands=VHD_COMMANDS),
    *(Target(name, doc, VHDX_API, *vhdx_target(name), suffix=".vhdx", commands=VHDX_COMMANDS,
             max_len=VHDX_REGIONS[name][1]) for name, doc in VHDX_DOCS.items()),
    Target("vhdx_parent_locator", "differencing VHDX parent locator: keys, paths, linkage GUID, "
           "parent found, loops (input replaces the locator item)", VHDX_API,
           parent_locator_pipeline, parent_locator_image, suffix=".vhdx",
           commands=VHDX_COMMANDS, max_len=LOCATOR_ROOM),
    Target("gpt", "GPT headers and entry arrays (primary and backup) on a raw image",
           PART_API, table_pipeline, commands=IMAGE_COMMANDS),
    Target("mbr", "MBR and extended (EBR) chains on a raw image",
           PART_API, table_pipeline, commands=IMAGE_COMMANDS),
    Target("fat_boot", "FAT boot sector / BPB (input replaces sector 0 of a FAT12 or FAT32 image)",
           FAT_API, *fat_target("boot"),
           commands=FAT_COMMANDS, max_len=512),
    Target("fat_fsinfo", "FAT32 FSInfo sector (input replaces sector 1 of a FAT32 image)",
           FAT_API, *fat_target("fsinfo"),
           commands=FAT_COMMANDS, max_len=512),
    Target("fat_table", "FAT allocation table: chains, loops, cross links (replaces FAT #1)",
           FAT_API, *fat_target("table"),
           commands=FAT_COMMANDS, max_len=4096),
    Target("fat_dir", "root directory entries: 8.3 names, long names, attributes, clusters",
           FAT_API, *fat_target("root"),
           commands=FAT_COMMANDS, max_len=7168),
    Target("fat_subdir", "subdirectory cluster: dot entries, long-name chains, self references",
           FAT_API, *fat_target("subdir"),
           commands=FAT_COMMANDS, max_len=2048),
    Target("ntfs_boot", "NTFS boot sector (input replaces sector 0 of an NTFS volume)",
           NTFS_API, *ntfs_target("boot"), commands=NTFS_COMMANDS, max_len=512),
    Target("ntfs_mft", "MFT records 0..47: fixups, attributes, run lists, attribute lists",
           NTFS_API, *ntfs_target("mft"), commands=NTFS_COMMANDS, max_len=48 * 1024),
    Target("ntfs_index", "a directory's $I30 index block: entries, keys, child pointers",
           NTFS_API, *ntfs_target("index"), commands=NTFS_COMMANDS, max_len=4096),
    Target("ntfs_codecs", "run lists, LZNT1, XPRESS Huffman, LZX, records, index nodes, "
           "attribute lists on raw bytes", ("diskkit.ntfs.xpress:decompress",), ntfs_codecs,
           max_len=1 << 16),
    Target("inf", "Windows driver INF: encodings, sections, strings, decorated models, services",
           ("diskkit.drivers.inf:parse_inf",), inf_pipeline, suffix=".inf", max_len=1 << 14,
           commands=(("drivers", "scan", "{dir}"),)),
    Target("hwids", "hardware-ID lists (pnputil output, UTF-16 or ANSI) for driver matching",
           ("diskkit.drivers.scan:read_hwids",), hwids_pipeline, suffix=".txt", max_len=1 << 14,
           commands=(("drivers", "scan", "--hwids", "{img}", "{dir}"),)),
    Target("efi_loader", "EFI loader headers (MZ, PE, COFF machine, optional-header subsystem)",
           ("diskkit.boot.efiapp:describe",), efi_loader_pipeline, suffix=".efi", max_len=4096),
    Target("grub_moddir", "GRUB module directory: moddep.lst dependencies, modinfo.sh version",
           ("diskkit.boot.grubimage:read_module_dir",), grub_moddir_pipeline, suffix=".lst",
           max_len=1 << 13),
    Target("wim_header", "WIM/ESD header: magic, part numbers, image count (deploy's index check)",
           ("diskkit.ramos.wim:parse_header",), wim_header_pipeline, suffix=".wim", max_len=512,
           commands=(("ramos", "script", "deploy", "--vhd", "D:\\r\\w.vhd", "--wim", "{img}",
                      "--index", "2"),)),
    Target("recipe", "ramos.toml recipe: TOML, schema, sizes, rates, chains, planned steps",
           ("diskkit.ramos.recipe:load_recipe",), recipe_pipeline, suffix=".toml",
           commands=(("ramos", "build", "--dry-run", "{img}"),), max_len=1 << 13),
    Target("bcd_device", "BCD device element: partition, ramdisk, file, vhd, nested descriptors",
           ("diskkit.windows.bcddevice:decode_element",), bcd_device_pipeline, max_len=1024),
    Target("bcd_store", "BCD store hive (regipy) with objects, elements and device values",
           ("diskkit.windows.bcd:read_store", "regipy.registry:RegistryHive"), bcd_store_pipeline,
           commands=(("bcd", "show", "{img}"),), max_len=1 << 16),
]}

