"""Fill an EFI System Partition: the loader, its removable-media copy, its config, extras.

The ESP can be a directory (a mounted ESP such as ``S:\\`` after ``mountvol S: /s``), a FAT
image, or a partition of a disk image. ``plan`` decides what goes where (pure, and refuses a
loader the firmware cannot start or a config under a name no loader reads); a ``DirectoryEsp``
or ``FatEsp`` puts it there. Replacing a file never leaves a half-written loader: a directory
ESP writes through ``fileio.atomic_output`` (temporary name, fsync, rename) and FatFS replaces
files interruption-safely. A chain's loader is refused inside a Windows (RAMOS) image's own
ESP: it belongs on the machine's ESP, outside the VHD it loads.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from ..errors import AlreadyExists, ImageIOError, NotFound, UsageError
from ..fileio import atomic_output
from ..part import types
from .chains import CHAINS, Chain
from .efiapp import check_loader
from .quoting import normalize_file_path

DEFAULT_LOADER_PATH = "/EFI/ramos/grubx64.efi"
REMOVABLE_PATH = "/EFI/BOOT/BOOTX64.EFI"


@dataclass(frozen=True)
class Placement:
    source: str   # host file or directory
    dest: str     # "/EFI/ramos/grubx64.efi"


def parse_add(spec: str) -> Placement:
    """``SRC=DEST`` from the command line (DEST is a path on the ESP)."""
    src, sep, dest = spec.rpartition("=")
    if not sep or not src or not dest:
        raise UsageError(f"--add {spec!r}: expected SRC=DEST, "
                         "like ntloader=/EFI/ntloader/ntloader")
    return Placement(src, normalize_file_path(dest, "--add destination")[1])


# The names loaders read their config under (GRUB, grub4dos for UEFI).
CONFIG_NAMES = sorted({c.filename for c in CHAINS.values() if c.language != "cmd"})


def config_name(config: str, chain: Chain | None) -> str:
    """The name ``config`` is installed under: what the chain's loader reads, else its own
    name if some loader reads that; anything else would never be read, so it is refused."""
    name = os.path.basename(config)
    if chain is not None:
        if chain.language == "cmd":
            raise UsageError(f"--config: the {chain.name} chain is a bcdedit script to run on "
                             "Windows, not a loader config on the ESP")
        return chain.filename
    if name.lower() not in CONFIG_NAMES:
        raise UsageError(f"--config {config}: no loader reads a file named {name}; name the "
                         f"chain with --chain (it is then installed as {' or '.join(CONFIG_NAMES)})")
    return name.lower()


def plan(loader: str, loader_path: str = DEFAULT_LOADER_PATH, removable: bool = False,
         config: str | None = None, adds: list[Placement] = (),
         chain: Chain | None = None) -> list[Placement]:
    """Where every file goes. The config sits beside the loader under the name the chain's
    loader reads; with ``removable`` it is also beside BOOTX64.EFI."""
    loader_path = normalize_file_path(loader_path, "--loader-path")[1]
    out = [Placement(loader, loader_path)]
    dirs = [os.path.dirname(loader_path)]
    if removable and loader_path.upper() != REMOVABLE_PATH:
        out.append(Placement(loader, REMOVABLE_PATH))
        dirs.append(os.path.dirname(REMOVABLE_PATH))
    if config:
        name = config_name(config, chain)
        seen = set()
        for d in dirs:
            if d.upper() not in seen:
                seen.add(d.upper())
                out.append(Placement(config, f"{d}/{name}"))
    for p in out:  # loader and config: single files
        if not os.path.isfile(p.source):
            raise NotFound(f"{p.source}: no such file (for {p.dest})")
    check_loader(loader)
    out.extend(adds)
    for p in adds:  # extras: files or whole directories
        if not os.path.exists(p.source):
            raise NotFound(f"{p.source}: no such file or directory (for {p.dest})")
    check_sizes(out)
    dests = [p.dest.upper() for p in out if os.path.isfile(p.source)]
    if len(dests) != len(set(dests)):
        raise UsageError("two files would land on the same ESP path: "
                         + ", ".join(sorted({d for d in dests if dests.count(d) > 1})))
    return out


def check_sizes(placements: list[Placement]) -> None:
    """Refuse, before anything is written, a file FAT32 cannot hold (4 GiB and more)."""
    from ..fat import check_file_size

    for placement in placements:
        for src, dest in _walk(placement):
            check_file_size(os.path.getsize(src), f"{src} (for {dest} on the ESP)")


def _walk(placement: Placement):
    """Yield (host file, ESP path) pairs, expanding directories recursively (sorted)."""
    if os.path.isdir(placement.source):
        for root, dirs, files in os.walk(placement.source):
            dirs.sort()
            rel = os.path.relpath(root, placement.source)
            base = placement.dest if rel == "." else f"{placement.dest}/{rel.replace(os.sep, '/')}"
            for name in sorted(files):
                yield os.path.join(root, name), f"{base}/{name}"
    else:
        yield placement.source, placement.dest


class DirectoryEsp:
    """A mounted ESP (or any directory); existing directory names are matched ignoring case,
    as FAT would, so ``EFI/Boot`` is reused rather than ``EFI/BOOT`` created beside it."""

    def __init__(self, root: str):
        self.root = root

    def _resolve(self, esp_path: str, create_dirs: bool) -> str:
        current = self.root
        parts = esp_path.strip("/").split("/")
        for i, part in enumerate(parts):
            try:
                match = next((e for e in os.listdir(current) if e.upper() == part.upper()), None)
            except OSError as exc:
                raise ImageIOError(f"{current}: {exc.strerror or exc}") from None
            nxt = os.path.join(current, match or part)
            if i < len(parts) - 1 and match is None and create_dirs:
                try:
                    os.mkdir(nxt)
                except OSError as exc:
                    raise ImageIOError(f"{nxt}: {exc.strerror or exc}") from None
            current = nxt
        return current

    def install(self, src: str, esp_path: str) -> None:
        final = self._resolve(esp_path, create_dirs=True)
        if os.path.isdir(final):
            raise AlreadyExists(f"{final}: is a directory")
        try:
            with atomic_output(final, force=True) as tmp:
                shutil.copyfile(src, tmp)
        except OSError as exc:
            raise ImageIOError(f"{final}: {exc.strerror or exc}") from None

    def exists(self, esp_path: str) -> bool:
        try:
            return os.path.isfile(self._resolve(esp_path, create_dirs=False))
        except ImageIOError:  # a folder on the way does not exist
            return False

    def close(self) -> None:
        pass


class FatEsp:
    """An ESP that is a FAT filesystem on a BlockDevice (a partition or a whole image)."""

    def __init__(self, dev):
        from ..fat import FatFS

        self.dev = dev
        self.fs = FatFS(dev)

    def install(self, src: str, esp_path: str) -> None:
        parent = os.path.dirname(esp_path)
        if parent != "/":
            self.fs.mkdir(parent, parents=True)
        self.fs.write_file(esp_path, src)  # FatFS replaces a file interruption-safely

    def exists(self, esp_path: str) -> bool:
        return self.fs.exists(esp_path)

    def close(self) -> None:
        """Close the filesystem, then the device (a partition view closes its image)."""
        self.fs.close()
        self.dev.close()


def find_esp_partition(table, image: str) -> int:
    """The one ESP of a partitioned image; ambiguity or absence needs --part."""
    esps = [p.index for p in table.partitions if types.is_esp(p)]
    if len(esps) == 1:
        return esps[0]
    if not esps:
        raise NotFound(f"{image}: has no EFI System Partition; pass --part N")
    raise UsageError(f"{image}: has several ESPs ({', '.join(map(str, esps))}); pass --part N")


def windows_image(dev, table) -> str | None:
    """Why ``dev`` looks like a Windows (RAMOS) disk image rather than a machine's boot disk
    being prepared: a Microsoft reserved partition, or an NTFS partition. None if neither."""
    from ..part import volumes
    from ..signatures import boot_record

    for volume in volumes(dev, table):
        p, device = volume.partition, volume.device
        if types.is_msr(p):
            return f"partition {p.index} is a Microsoft reserved partition"
        if types.is_esp(p) or device is None:  # past the end of the disk: not ours to judge
            continue
        if boot_record(device.read_at(0, min(512, device.size))) == "ntfs":
            return f"partition {p.index} holds NTFS"
    return None


@dataclass
class Opened:
    esp: object                  # DirectoryEsp | FatEsp
    windows: str | None = None   # why the image looks like a Windows/RAMOS VHD


def open_esp(target: str, part: int | None = None, allow_device: bool = False) -> Opened:
    """A directory, a FAT image, or (the ESP / partition ``part`` of) a disk image."""
    if os.path.isdir(target):
        if part is not None:
            raise UsageError(f"{target}: is a directory; --part applies to images only")
        return Opened(DirectoryEsp(target))
    from ..image import open_image
    from ..part import partition_device, read_table

    dev = open_image(target, writable=True, allow_device=allow_device)
    try:
        table = read_table(dev)
        if table is None:
            if part is not None:
                raise UsageError(f"{target}: has no partition table; drop --part to use the "
                                 "whole image as a FAT filesystem")
            return Opened(FatEsp(dev))
        index = part if part is not None else find_esp_partition(table, target)
        windows = windows_image(dev, table)
        return Opened(FatEsp(partition_device(dev, index, owns_parent=True)), windows)
    except BaseException:
        dev.close()
        raise


@dataclass
class Installed:
    written: list[str]                                   # ESP paths, in order
    warnings: list[str] = field(default_factory=list)


def install(esp, placements: list[Placement], chain: Chain | None = None) -> Installed:
    """Copy every placement onto ``esp``; say which files the chain's config loads are still
    missing there afterwards."""
    written = []
    for placement in placements:
        for src, dest in _walk(placement):
            esp.install(src, dest)
            written.append(dest)
    warnings = [f"{path} is not on the ESP, and the {chain.name} config loads it: add it with "
                f"--add FILE={path}" for path in (chain.esp_files if chain else ())
                if not esp.exists(path)]
    return Installed(written, warnings)


def fill(opened: Opened, placements: list[Placement], chain: Chain | None = None,
         force: bool = False, target: str = "the image") -> Installed:
    """Install onto an opened ESP. A RAM loader (a chain named, or a loader config among the
    files) is refused inside a Windows image's own ESP unless ``force``: the VHD cannot load
    itself. Its own boot files (bcdboot's \\EFI\\BOOT\\BOOTX64.EFI) are not refused."""
    configs = [p.dest for p in placements if os.path.basename(p.dest).lower() in CONFIG_NAMES]
    if (chain is not None or configs) and opened.windows and not force:
        what = f"the {chain.name} loader" if chain else f"a RAM loader ({configs[0]})"
        raise UsageError(f"{target}: looks like a Windows (RAMOS) VHD ({opened.windows}); "
                         f"{what} belongs on the machine's own ESP, not inside the VHD it "
                         "loads (--force to install it there anyway)")
    return install(opened.esp, placements, chain)


def build(target: str, placements: list[Placement], part: int | None = None,
          allow_device: bool = False, chain: Chain | None = None,
          force: bool = False) -> Installed:
    """Install onto an existing ESP (see ``fill``)."""
    opened = open_esp(target, part, allow_device)
    try:
        return fill(opened, placements, chain, force, target)
    finally:
        opened.esp.close()


def create(out: str, size: int, placements: list[Placement], fat_type: int | None = None,
           label: str = "ESP", force: bool = False, chain: Chain | None = None) -> Installed:
    """A new GPT disk image (fixed VHD for ``*.vhd``, else raw) with one formatted, filled ESP."""
    from ..fat import mkfs
    from ..image import open_image
    from ..part import add_partition, init_gpt, partition_device

    with atomic_output(out, force) as tmp:
        if out.lower().endswith(".vhd"):
            from ..vhd import create as create_vhd

            create_vhd(tmp, size, vhd_type="fixed", force=True)
        else:
            with open(tmp, "wb") as fh:
                fh.truncate(size)
        dev = open_image(tmp, writable=True)
        try:
            init_gpt(dev)
            esp_part = add_partition(dev, "esp", None, name="EFI system partition")
            esp_dev = partition_device(dev, esp_part.index, owns_parent=True)
            mkfs(esp_dev, fat_type=fat_type, label=label)
            esp = FatEsp(esp_dev)
        except BaseException:
            dev.close()
            raise
        try:
            return install(esp, placements, chain)
        finally:
            esp.close()
