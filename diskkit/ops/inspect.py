"""``diskkit info`` and ``diskkit check``: every layer of an image at once.

container (raw / fixed / dynamic VHD) -> partition table -> each partition's filesystem.
FAT volumes are opened with the FAT layer for type, label and free space; other filesystems
are recognised by their on-disk signatures (as blkid does) and described from their
superblocks without being mounted.
"""

from __future__ import annotations

from .. import part, signatures
from ..blockdev import FileRegion
from ..errors import DiskkitError
from ..image import check_region, describe_region, open_region
from ..part import types
from ..report import Problem, Report

FAT32_MIN_CLUSTERS = 65525  # fatgen103: fewer clusters is FAT16, and OVMF refuses such an ESP


def _fat(dev) -> dict:
    from ..fat import FatFS

    fs = FatFS(dev)
    try:
        usage = fs.usage()
    finally:
        fs.close()
    usage["type"] = f"fat{usage.pop('fat_type')}"
    usage["uuid"] = usage.pop("volume_id")
    return usage


def detect_filesystem(dev) -> dict | None:
    """What ``dev`` holds (``signatures.filesystem``), FAT volumes described by the FAT layer;
    None when its first bytes are all zero.

    A damaged FAT volume is still named (``fat``) with the error that stopped its reading.
    """
    fs = signatures.filesystem(dev.read_at, dev.size)
    if fs is not None and fs["type"] == "fat":
        try:
            return _fat(dev)
        except DiskkitError as exc:
            return {"type": "fat", "error": str(exc)}
    return fs


def min_fat32_size(sector_size: int, reserved: int = 32) -> int:
    """Smallest volume holding a FAT32 of 65525 one-sector clusters when, as formatters do,
    each of the two FATs is sized for every sector after the reserved ones."""
    def clusters(total: int) -> int:
        return total - reserved - 2 * -(-(total - reserved + 2) * 4 // sector_size)

    total = reserved + FAT32_MIN_CLUSTERS
    while clusters(total) < FAT32_MIN_CLUSTERS:
        total += FAT32_MIN_CLUSTERS - clusters(total)
    while clusters(total - 1) >= FAT32_MIN_CLUSTERS:
        total -= 1
    return total * sector_size


def _esp_warnings(p, fs: dict | None) -> list[str]:
    """Why firmware would not boot from this ESP, if it would not."""
    where = f"partition {p.index} (ESP)"
    if fs is None or not fs["type"].startswith("fat"):
        kind = fs["type"] if fs else "nothing"
        return [f"{where}: holds {kind}, not a FAT filesystem; firmware will not boot from it"]
    if fs["type"] == "fat32" and fs.get("clusters", FAT32_MIN_CLUSTERS) < FAT32_MIN_CLUSTERS:
        return [f"{where}: FAT32 with only {fs['clusters']} clusters (< {FAT32_MIN_CLUSTERS}); "
                "OVMF and other firmware refuse it"]
    if fs["type"] in ("fat12", "fat16") and p.size < min_fat32_size(p.sector_size):
        return [f"{where}: {fs['type'].upper()}, and at {p.size} bytes too small for a FAT32 "
                f"firmware accepts (needs >= {min_fat32_size(p.sector_size)} bytes)"]
    return []


def _chs_reader_warnings(dev, table) -> list[str]:
    """A VHD whose footer makes qemu (and other CHS readers) see a smaller disk: say what of
    the partition layout falls off its end."""
    footer = getattr(dev, "footer", None)
    if footer is None or footer.qemu_size() >= dev.size:
        return []
    seen = footer.qemu_size()
    lost = [f"partition {p.index}" for p in table.partitions if p.start + p.size > seen]
    if table.kind == "gpt":
        lost.insert(0, f"the backup GPT (LBA {table.backup_lba})")
    if not lost:
        return []
    return [f"container: qemu sees this VHD as {seen} bytes (size from CHS for creator "
            f"{footer.creator_app.decode('latin-1')!r}): {', '.join(lost)} lie beyond that"]


def info(path: str, allow_device: bool = False) -> dict:
    """Container, table and filesystems of ``path``, with warnings from every layer.

    The file is opened and probed once; the container's figures come from the same device
    the partitions are read through.
    """
    path = str(path)
    region = FileRegion.open(path, False, allow_device)
    try:
        container = describe_region(region)
        dev = open_region(region)
    except BaseException:
        region.close()
        raise
    warnings = [f"container: {w}" for w in container.get("warnings", [])]
    out = {"path": path, "container": container, "table": None, "partitions": [],
           "filesystem": None, "warnings": warnings}
    with dev:
        report = part.verify(dev)
        if report.facts.get("table") is not None or not report.clean:
            warnings += [f"partition table: {p.where}: {p.message}" for p in report.problems]
        try:
            table = part.read_table(dev)
        except DiskkitError:
            table = None  # already in the warnings from verify
        if table is None:
            out["filesystem"] = detect_filesystem(dev)
            return out
        out["table"] = {k: v for k, v in part.describe(table).items() if k != "partitions"}
        warnings += _chs_reader_warnings(dev, table)
        found = {v.index: v.device for v in part.volumes(dev, table)}
        for p in table.partitions:
            entry = p.to_dict()
            fs = detect_filesystem(found[p.index]) if found.get(p.index) else None
            entry["filesystem"] = fs
            if fs and fs.get("error"):
                warnings.append(f"partition {p.index}: FAT filesystem unreadable: {fs['error']}")
            if types.is_esp(p):
                warnings += _esp_warnings(p, fs)
            out["partitions"].append(entry)
    return out


def check(path: str, allow_device: bool = False) -> Report:
    """Container check, partition-table verify and a FAT check of every FAT volume."""
    from ..fat import check as fat_check

    path = str(path)
    report = Report(subject=path)
    region = FileRegion.open(path, False, allow_device)
    try:
        report.extend(check_region(region))  # foreign and truncated containers raise here
        dev = open_region(region)
    except DiskkitError as exc:
        region.close()
        if not report.problems:
            raise
        report.error("image", str(exc))
        return report
    except BaseException:
        region.close()
        raise
    with dev:
        table_report = part.verify(dev)
        report.facts["table"] = table_report.facts.get("table")
        if report.facts["table"] is not None or not table_report.clean:
            report.extend(table_report)  # a whole-disk filesystem needs no table
        try:
            found = part.volumes(dev)
        except DiskkitError:
            return report
        checked = []
        for volume in found:
            device = volume.device
            if device is None or not signatures.looks_like_fat(device.read_at(0, min(512, device.size))):
                continue
            esp = volume.partition is not None and types.is_esp(volume.partition)
            for prob in fat_check(device, esp=esp).problems:
                report.problems.append(Problem(f"{volume.where}: {prob.where}", prob.message,
                                               prob.offset, prob.severity))
            checked.append(volume.where)
        report.facts["fat_checked"] = checked
    return report
