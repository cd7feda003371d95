"""Fill an EFI System Partition: the loader, its removable-media copy, its config, extras.

The ESP can be a directory (a mounted ESP such as ``S:\\`` after ``mountvol S: /s``), a FAT
image, or a partition of a disk image. ``plan`` decides what goes where (pure); an
``DirectoryEsp`` or ``FatEsp`` puts it there. Replacing a file never leaves a half-written
loader: a directory ESP writes under a temporary name and renames, and FatFS replaces files
interruption-safely.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from ..errors import AlreadyExists, ImageIOError, NotFound, UsageError
from ..fileio import atomic_output
from .quoting import normalize_file_path
from .target import is_esp

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


def plan(loader: str, loader_path: str = DEFAULT_LOADER_PATH, removable: bool = False,
         config: str | None = None, adds: list[Placement] = ()) -> list[Placement]:
    """Where every file goes. The config sits beside the loader under its own file name
    (name it grub.cfg for GRUB); with ``removable`` it is also beside BOOTX64.EFI."""
    loader_path = normalize_file_path(loader_path, "--loader-path")[1]
    out = [Placement(loader, loader_path)]
    dirs = [os.path.dirname(loader_path)]
    if removable and loader_path.upper() != REMOVABLE_PATH:
        out.append(Placement(loader, REMOVABLE_PATH))
        dirs.append(os.path.dirname(REMOVABLE_PATH))
    if config:
        name = os.path.basename(config)
        seen = set()
        for d in dirs:
            if d.upper() not in seen:
                seen.add(d.upper())
                out.append(Placement(config, f"{d}/{name}"))
    for p in out:  # loader and config: single files
        if not os.path.isfile(p.source):
            raise NotFound(f"{p.source}: no such file (for {p.dest})")
    out.extend(adds)
    for p in adds:  # extras: files or whole directories
        if not os.path.exists(p.source):
            raise NotFound(f"{p.source}: no such file or directory (for {p.dest})")
    dests = [p.dest.upper() for p in out if os.path.isfile(p.source)]
    if len(dests) != len(set(dests)):
        raise UsageError("two files would land on the same ESP path: "
                         + ", ".join(sorted({d for d in dests if dests.count(d) > 1})))
    return out


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
        tmp = final + ".diskkit-new"
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, final)
        except OSError as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise ImageIOError(f"{final}: {exc.strerror or exc}") from None

    def close(self) -> None:
        pass


class FatEsp:
    """An ESP that is a FAT filesystem on a BlockDevice (a partition or a whole image)."""

    def __init__(self, dev, owner=None):
        from ..fat import FatFS

        self.dev = dev
        self.owner = owner or dev
        self.fs = FatFS(dev)

    def install(self, src: str, esp_path: str) -> None:
        parent = os.path.dirname(esp_path)
        if parent != "/":
            self.fs.mkdir(parent, parents=True)
        self.fs.write_file(esp_path, src)  # FatFS replaces a file interruption-safely

    def close(self) -> None:
        self.fs.close()
        self.owner.close()


def find_esp_partition(table, image: str) -> int:
    """The one ESP of a partitioned image; ambiguity or absence needs --part."""
    esps = [p.index for p in table.partitions if is_esp(table.kind, p)]
    if len(esps) == 1:
        return esps[0]
    if not esps:
        raise NotFound(f"{image}: has no EFI System Partition; pass --part N")
    raise UsageError(f"{image}: has several ESPs ({', '.join(map(str, esps))}); pass --part N")


def open_esp(target: str, part: int | None = None, allow_device: bool = False):
    """A directory, a FAT image, or (the ESP / partition ``part`` of) a disk image."""
    if os.path.isdir(target):
        if part is not None:
            raise UsageError(f"{target}: is a directory; --part applies to images only")
        return DirectoryEsp(target)
    from ..image import open_image
    from ..part import partition_device, read_table

    dev = open_image(target, writable=True, allow_device=allow_device)
    try:
        table = read_table(dev)
        if table is None:
            if part is not None:
                raise UsageError(f"{target}: has no partition table; drop --part to use the "
                                 "whole image as a FAT filesystem")
            return FatEsp(dev)
        index = part if part is not None else find_esp_partition(table, target)
        return FatEsp(partition_device(dev, index), owner=dev)
    except BaseException:
        dev.close()
        raise


def install(esp, placements: list[Placement]) -> list[str]:
    """Copy every placement onto ``esp``; return the ESP paths written, in order."""
    written = []
    for placement in placements:
        for src, dest in _walk(placement):
            esp.install(src, dest)
            written.append(dest)
    return written


def build(target: str, placements: list[Placement], part: int | None = None,
          allow_device: bool = False) -> list[str]:
    esp = open_esp(target, part, allow_device)
    try:
        return install(esp, placements)
    finally:
        esp.close()


def create(out: str, size: int, placements: list[Placement], fat_type: int | None = None,
           label: str = "ESP", force: bool = False) -> list[str]:
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
            esp_dev = partition_device(dev, esp_part.index)
            mkfs(esp_dev, fat_type=fat_type, label=label)
            esp = FatEsp(esp_dev, owner=dev)
        except BaseException:
            dev.close()
            raise
        try:
            return install(esp, placements)
        finally:
            esp.close()
