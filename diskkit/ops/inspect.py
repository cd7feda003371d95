"""``diskkit info`` and ``diskkit check``: every layer of an image at once.

container (raw / fixed / dynamic VHD) -> partition table -> each partition's filesystem.
FAT volumes are opened with the FAT layer for type, label and free space, NTFS volumes with
the NTFS reader for used and free space and whether Windows left them clean; other
filesystems are recognised by their on-disk signatures (as blkid does) and described from
their superblocks without being mounted. ``check`` runs the FAT and NTFS checkers.
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


def _ntfs(dev, fs: dict) -> dict:
    from ..filesystems import space

    found = space(dev).to_dict()
    found["total_bytes"] = found["used_bytes"] + found["free_bytes"]
    return {**fs, **found}


def detect_filesystem(dev) -> dict | None:
    """What ``dev`` holds (``signatures.filesystem``), FAT and NTFS volumes described by
    their layers; None when its first bytes are all zero.

    A damaged FAT or NTFS volume is still named with the error that stopped its reading.
    """
    fs = signatures.filesystem(dev.read_at, dev.size)
    if fs is not None and fs["type"] in ("fat", "ntfs"):
        try:
            return _fat(dev) if fs["type"] == "fat" else _ntfs(dev, fs)
        except DiskkitError as exc:
            return {**fs, "error": str(exc)}
    return fs


def _filesystem_warnings(where: str, fs: dict | None) -> list[str]:
    if not fs:
        return []
    if fs.get("error"):
        return [f"{where}: {fs['type'].upper()} filesystem unreadable: {fs['error']}"]
    if fs.get("unclean"):
        return [f"{where}: NTFS {fs['unclean']}: its free space cannot be trusted, so compact "
                "--zero-free, convert --skip-free, ramos plan --from and a resize cutting into "
                "it refuse it until Windows shuts down fully"]
    return []


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
            warnings += _filesystem_warnings("whole disk", out["filesystem"])
            return out
        out["table"] = {k: v for k, v in part.describe(table).items() if k != "partitions"}
        warnings += _chs_reader_warnings(dev, table)
        found = {v.index: v.device for v in part.volumes(dev, table)}
        for p in table.partitions:
            entry = p.to_dict()
            fs = detect_filesystem(found[p.index]) if found.get(p.index) else None
            entry["filesystem"] = fs
            warnings += _filesystem_warnings(f"partition {p.index}", fs)
            if types.is_esp(p):
                warnings += _esp_warnings(p, fs)
            out["partitions"].append(entry)
    return out


def check(path: str, allow_device: bool = False,
          filesystems: tuple[str, ...] = ("fat", "ntfs")) -> Report:
    """Container check, partition-table verify and a check of every FAT and NTFS volume
    (``filesystems``: the kinds to check)."""
    from ..fat import check as fat_check
    from ..ntfs import check as ntfs_check

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
        checked = {"fat": [], "ntfs": []}
        for volume in found:
            device = volume.device
            kind = device and signatures.boot_record(device.read_at(0, min(512, device.size)))
            if kind not in filesystems:
                continue
            if kind == "fat":
                esp = volume.partition is not None and types.is_esp(volume.partition)
                found_report = fat_check(device, esp=esp)
            else:
                found_report = ntfs_check(device, volume.where)
                if "ntfs" in found_report.facts:
                    report.facts.setdefault("ntfs", {})[volume.where] = found_report.facts["ntfs"]
            for prob in found_report.problems:
                report.problems.append(Problem(f"{volume.where}: {prob.where}", prob.message,
                                               prob.offset, prob.severity))
            checked[kind].append(volume.where)
        report.facts["fat_checked"] = checked["fat"]
        report.facts["ntfs_checked"] = checked["ntfs"]
    return report
