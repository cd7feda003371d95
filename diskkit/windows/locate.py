"""Find Windows' files inside a disk image: the BCD store, the hives, the Windows folder.

Each partition's filesystem is opened read-only with diskkit's own readers (FAT, NTFS) and
seen through one small interface: ``exists``, ``is_dir``, ``open`` (a file object) and
``size``. Where a BCD lives: ``\\EFI\\Microsoft\\Boot\\BCD`` on an ESP (``bcdboot /f UEFI``)
and ``\\Boot\\BCD`` on the active partition (``bcdboot /f BIOS``, what the MBR images of the
Microsoft-ramdisk chains hold).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from ..errors import DiskkitError, NotFound, UsageError

BCD_PATHS = ("/EFI/Microsoft/Boot/BCD", "/Boot/BCD")
SYSTEM_HIVE = "/Windows/System32/config/SYSTEM"
SOFTWARE_HIVE = "/Windows/System32/config/SOFTWARE"


class FatFiles:
    """A FAT volume seen through the read interface."""

    def __init__(self, dev):
        from ..fat import FatFS

        self.fs = FatFS(dev)
        self.type = "fat"

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def is_dir(self, path: str) -> bool:
        return self.fs.exists(path) and self.fs.is_dir(path)

    def size(self, path: str) -> int:
        return self.fs.stat(path).size

    def open(self, path: str):
        return io.BytesIO(self.fs.read_file(path))  # ESP files are small

    def listdir(self, path: str) -> list[str]:
        return [e.name for e in self.fs.listdir(path) if e.name not in (".", "..")]

    def files(self) -> list[str]:
        """Every file's path on the volume."""
        return [f"{top.rstrip('/')}/{e.name}" for top, entries in self.fs.walk("/")
                for e in entries if not e.is_dir]

    def dirty(self) -> bool:
        return False

    def usage(self):
        return None

    def close(self) -> None:
        self.fs.close()
        self.fs.dev.close()  # a partition view that owns its image closes the image too


class NtfsFiles:
    """An NTFS volume seen through the read interface."""

    def __init__(self, dev):
        from ..ntfs import NtfsVolume

        self.volume = NtfsVolume(dev)
        self.type = "ntfs"

    def exists(self, path: str) -> bool:
        return self.volume.exists(path)

    def is_dir(self, path: str) -> bool:
        return self.volume.exists(path) and self.volume.is_dir(path)

    def size(self, path: str) -> int:
        return self.volume.stat(path).size

    def open(self, path: str):
        return self.volume.open(path)

    def listdir(self, path: str) -> list[str]:
        return [e.name for e in self.volume.listdir(path)]

    def dirty(self) -> bool:
        return bool(self.volume.dirty)

    def usage(self) -> tuple[int, int]:
        """(used bytes, total bytes) from the volume's cluster bitmap."""
        info = self.volume.info()
        return info["used_bytes"], info["total_bytes"]

    def close(self) -> None:
        close = getattr(self.volume, "close", None)
        if close:
            close()


def ntfs_reader_available() -> bool:
    try:
        import diskkit.ntfs  # noqa: F401
    except ImportError:
        return False
    return True


def open_files(dev, fs_type: str | None):
    """The read interface for a partition holding ``fs_type`` (fat12/16/32, ntfs); None when
    diskkit has no reader for it."""
    if fs_type and fs_type.startswith("fat"):
        return FatFiles(dev)
    if fs_type == "ntfs" and ntfs_reader_available():
        return NtfsFiles(dev)
    return None


@dataclass
class FoundFile:
    partition: int | None  # None: the whole image is one filesystem
    path: str
    data: bytes


def find_bcd(image: str, part: int | None = None, allow_device: bool = False) -> FoundFile:
    """The first BCD store in ``image`` (partition ``part`` only, when given), ESPs first."""
    from ..image import open_image
    from ..part import types, volumes as disk_volumes
    from ..signatures import filesystem

    with open_image(image, allow_device=allow_device) as dev:
        found = [v for v in disk_volumes(dev) if v.device is not None]
        if part is not None:
            if found and found[0].partition is None:
                raise UsageError(f"{image}: has no partition table; drop --part")
            found = [v for v in found if v.index == part]
            if not found:
                raise NotFound(f"{image}: no partition {part}")
        found.sort(key=lambda v: (v.partition is not None and not types.is_esp(v.partition),
                                  v.index or 0))
        volumes = [(v.index, v.device) for v in found]
        skipped = []
        for index, volume in volumes:
            fs = filesystem(volume.read_at, volume.size)
            try:
                files = open_files(volume, fs and fs.get("type"))
            except DiskkitError as exc:
                skipped.append(f"partition {index}: {exc}")
                continue
            if files is None:
                if fs and fs.get("type") == "ntfs":
                    skipped.append(f"partition {index}: NTFS (no NTFS reader in this diskkit)")
                continue
            try:
                for path in BCD_PATHS:
                    if files.exists(path) and not files.is_dir(path):
                        with files.open(path) as fh:
                            return FoundFile(index, path, fh.read())
            finally:
                files.close()
    where = f"partition {part}" if part is not None else image
    extra = f" ({'; '.join(skipped)})" if skipped else ""
    raise NotFound(f"{where}: no BCD store at {' or '.join(BCD_PATHS)}{extra}")
