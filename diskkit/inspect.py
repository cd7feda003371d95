"""``diskkit info`` and ``diskkit check``: every layer of an image at once.

container (raw / fixed / dynamic VHD) -> partition table -> each partition's filesystem.
FAT volumes are opened with the FAT layer for type, label and free space; other filesystems
are recognised by their on-disk signatures (as blkid does) and described from their
superblocks without being mounted.
"""

from __future__ import annotations

import uuid

from . import part, vhd
from .errors import DiskkitError
from .image import open_image
from .report import Problem, Report
from .units import KiB

FAT32_MIN_CLUSTERS = 65525  # fatgen103: fewer clusters is FAT16, and OVMF refuses such an ESP
ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
ESP_CODE = 0xEF
HEAD = 64 * KiB + 4 * KiB  # enough for every signature below (btrfs sits at 64 KiB + 64)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def _ext(sb: bytes) -> dict:
    """ext2/3/4 superblock (at byte 1024): generation from the feature flags, as blkid does."""
    compat, incompat = int.from_bytes(sb[92:96], "little"), int.from_bytes(sb[96:100], "little")
    ext4 = incompat & (0x40 | 0x80 | 0x200)  # extents, 64bit, flex_bg
    kind = "ext4" if ext4 else "ext3" if compat & 0x4 else "ext2"
    block = 1024 << min(int.from_bytes(sb[24:28], "little"), 16)
    blocks = int.from_bytes(sb[4:8], "little") | (
        int.from_bytes(sb[0x150:0x154], "little") << 32 if incompat & 0x80 else 0)
    return {"type": kind, "label": _text(sb[120:136]), "uuid": str(uuid.UUID(bytes=sb[104:120])),
            "size": blocks * block, "block_size": block}


def _ntfs(dev, boot: bytes) -> dict:
    per_sector = int.from_bytes(boot[11:13], "little")
    sectors = int.from_bytes(boot[40:48], "little")
    out = {"type": "ntfs", "uuid": f"{int.from_bytes(boot[72:80], 'little'):016X}",
           "size": sectors * per_sector}
    label = _ntfs_label(dev, boot)
    if label is not None:
        out["label"] = label
    return out


def _ntfs_label(dev, boot: bytes) -> str | None:
    """The $VOLUME_NAME attribute of MFT record 3 ($Volume); None if anything is off."""
    per_sector = int.from_bytes(boot[11:13], "little")
    cluster = per_sector * boot[13]
    raw_size = int.from_bytes(boot[64:65], "little", signed=True)
    record_size = 1 << -raw_size if raw_size < 0 else raw_size * cluster
    offset = int.from_bytes(boot[48:56], "little") * cluster + 3 * record_size
    if not (per_sector and 512 <= record_size <= 64 * KiB and offset + record_size <= dev.size):
        return None
    rec = bytearray(dev.read_at(offset, record_size))
    if rec[:4] != b"FILE":
        return None
    usa_at, usa_count = int.from_bytes(rec[4:6], "little"), int.from_bytes(rec[6:8], "little")
    for i in range(1, usa_count):  # undo the update-sequence fixups at each sector's end
        end = i * per_sector
        if end > record_size or usa_at + 2 * i + 2 > record_size:
            return None
        rec[end - 2:end] = rec[usa_at + 2 * i:usa_at + 2 * i + 2]
    pos = int.from_bytes(rec[20:22], "little")
    while pos + 24 <= record_size:
        kind, length = int.from_bytes(rec[pos:pos + 4], "little"), int.from_bytes(
            rec[pos + 4:pos + 8], "little")
        if kind == 0xFFFFFFFF or length < 24:
            return None
        if kind == 0x60 and rec[pos + 8] == 0:  # resident $VOLUME_NAME
            size = int.from_bytes(rec[pos + 16:pos + 20], "little")
            start = pos + int.from_bytes(rec[pos + 20:pos + 22], "little")
            return bytes(rec[start:start + size]).decode("utf-16-le", "replace")
        pos += length
    return None


def _exfat(boot: bytes) -> dict:
    shift = boot[108] if boot[108] < 13 else 9
    serial = int.from_bytes(boot[100:104], "little")
    return {"type": "exfat", "uuid": f"{serial >> 16:04X}-{serial & 0xFFFF:04X}",
            "size": int.from_bytes(boot[72:80], "little") << shift}


def _fat(dev) -> dict:
    from .fat import FatFS

    fs = FatFS(dev)
    try:
        usage = fs.usage()
    finally:
        fs.close()
    usage["type"] = f"fat{usage.pop('fat_type')}"
    usage["uuid"] = usage.pop("volume_id")
    return usage


def _looks_like_fat(boot: bytes) -> bool:
    if len(boot) < 512 or boot[510:512] != b"\x55\xaa" or boot[0] not in (0xEB, 0xE9):
        return False
    per_sector = int.from_bytes(boot[11:13], "little")
    per_cluster = boot[13]
    return (per_sector in (512, 1024, 2048, 4096) and per_cluster != 0
            and per_cluster & (per_cluster - 1) == 0 and 1 <= boot[16] <= 4)


def detect_filesystem(dev) -> dict | None:
    """What the first bytes of ``dev`` say it holds; None when they are all zero or unknown.

    A damaged FAT volume is still named (``fat``) with the error that stopped its reading.
    """
    head = dev.read_at(0, min(dev.size, HEAD))
    if not head.strip(b"\0"):
        return None
    oem = head[3:11]
    if oem == b"NTFS    ":
        return _ntfs(dev, head)
    if oem == b"EXFAT   ":
        return _exfat(head)
    if oem == b"-FVE-FS-":
        return {"type": "bitlocker"}
    if _looks_like_fat(head):
        try:
            return _fat(dev)
        except DiskkitError as exc:
            return {"type": "fat", "error": str(exc)}
    if len(head) >= 2048 and head[1024 + 56:1024 + 58] == b"\x53\xef":
        return _ext(head[1024:2048])
    if len(head) >= 4096 and head[4086:4096] in (b"SWAPSPACE2", b"SWAP-SPACE"):
        return {"type": "swap", "label": _text(head[1052:1068]),
                "uuid": str(uuid.UUID(bytes=head[1036:1052]))}
    signatures = [(0, b"XFSB", "xfs"), (0, b"LUKS\xba\xbe", "luks"), (0, b"hsqs", "squashfs"),
                  (64 * KiB + 64, b"_BHRfS_M", "btrfs"), (3, b"ReFS", "refs")]
    for offset, magic, name in signatures:
        if head[offset:offset + len(magic)] == magic:
            return {"type": name}
    if dev.size >= 32769 + 5 and dev.read_at(32769, 5) == b"CD001":
        return {"type": "iso9660", "label": _text(dev.read_at(32768 + 40, 32))}
    return {"type": "unknown"}


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


def _is_esp(p) -> bool:
    return p.type_guid == ESP_GUID or p.type_code == ESP_CODE


def _container_info(path: str, allow_device: bool) -> dict:
    from .image import is_vhdx

    if is_vhdx(path, allow_device):
        from . import vhdx

        return vhdx.info(path)
    return vhd.info(path)


def _container_check(path: str, allow_device: bool) -> Report:
    from .image import is_vhdx

    if is_vhdx(path, allow_device):
        from . import vhdx

        return vhdx.check(path)
    return vhd.check(path)


def info(path: str, allow_device: bool = False) -> dict:
    """Container, table and filesystems of ``path``, with warnings from every layer."""
    path = str(path)
    container = _container_info(path, allow_device)
    warnings = [f"container: {w}" for w in container.get("warnings", [])]
    out = {"path": path, "container": container, "table": None, "partitions": [],
           "filesystem": None, "warnings": warnings}
    with open_image(path, allow_device=allow_device) as dev:
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
        for p in table.partitions:
            entry = p.to_dict()
            fs = None
            if not p.is_extended and p.sectors and p.start + p.size <= dev.size:
                fs = detect_filesystem(part.partition_device(dev, p.index))
            entry["filesystem"] = fs
            if fs and fs.get("error"):
                warnings.append(f"partition {p.index}: FAT filesystem unreadable: {fs['error']}")
            if _is_esp(p):
                warnings += _esp_warnings(p, fs)
            out["partitions"].append(entry)
    return out


def check(path: str, allow_device: bool = False) -> Report:
    """Container check, partition-table verify and a FAT check of every FAT volume."""
    path = str(path)
    report = Report(subject=path)
    report.extend(_container_check(path, allow_device))
    try:
        dev = open_image(path, allow_device=allow_device)
    except DiskkitError as exc:
        report.error("image", str(exc))
        return report
    with dev:
        table_report = part.verify(dev)
        report.facts["table"] = table_report.facts.get("table")
        if report.facts["table"] is not None or not table_report.clean:
            report.extend(table_report)  # a whole-disk filesystem needs no table
        try:
            table = part.read_table(dev)
        except DiskkitError:
            return report
        volumes = [(None, dev, False)] if table is None else [
            (p.index, part.partition_device(dev, p.index), _is_esp(p)) for p in table.partitions
            if not p.is_extended and p.sectors and p.start + p.size <= dev.size]
        checked = []
        for index, volume, esp in volumes:
            if not _looks_like_fat(volume.read_at(0, min(512, volume.size))):
                continue
            from .fat import check as fat_check

            prefix = "whole disk" if index is None else f"partition {index}"
            for prob in fat_check(volume, esp=esp).problems:
                report.problems.append(Problem(f"{prefix}: {prob.where}", prob.message,
                                               prob.offset, prob.severity))
            checked.append(prefix)
        report.facts["fat_checked"] = checked
    return report
