"""`diskkit info` and `diskkit check`: every layer of an image (container, table, filesystems)."""

from __future__ import annotations

from ..units import format_size
from .common import add_json, emit, table


def _fs_text(fs: dict | None) -> str:
    if not fs:
        return "-"
    parts = [fs["type"]]
    if fs.get("label"):
        parts.append(f"label {fs['label']!r}")
    if "free_bytes" in fs:
        parts.append(f"{format_size(fs['free_bytes'])} free of {format_size(fs['total_bytes'])}")
    elif fs.get("size"):
        parts.append(format_size(fs["size"]))
    if fs.get("unclean"):
        parts.append("not clean")
    elif "dirty" in fs:
        parts.append("dirty" if fs["dirty"] else "clean")
    if fs.get("error"):
        parts.append(f"unreadable: {fs['error']}")
    return ", ".join(parts)


def _name_or_flags(p: dict) -> str:
    if "name" in p:
        return p["name"]
    return ",".join(f for f in ("bootable", "logical") if p.get(f))


def _info_text(data: dict) -> str:
    c = data["container"]
    lines = [f"{data['path']}: {c['container']} image, {format_size(c['virtual_size'])} "
             f"({c['virtual_size']} bytes), {format_size(c['allocated_bytes'])} allocated"]
    t = data["table"]
    if t is None:
        lines.append(f"no partition table; whole disk: {_fs_text(data['filesystem'])}")
    else:
        ident = t.get("disk_guid") or t.get("disk_signature")
        lines.append(f"{t['table'].upper()} {ident}, {t['sector_size']}-byte sectors")
        rows = [[str(p["index"]), format_size(p["start"]), format_size(p["size"]),
                 p["type"] or p["type_name"], _name_or_flags(p), _fs_text(p["filesystem"])]
                for p in data["partitions"]]
        if rows:
            lines.append(table(rows, ["#", "start", "size", "type",
                                      "name" if t["table"] == "gpt" else "flags", "filesystem"]))
    lines += [f"warning: {w}" for w in data["warnings"]]
    return "\n".join(lines)


def cmd_info(args) -> int:
    from ..ops.inspect import info

    data = info(args.image, allow_device=args.device)
    if args.html:
        from ..htmlreport import page, write_page

        write_page(args.html, page(data))
    emit(args, data, _info_text(data))
    return 0


def _ntfs_lines(volumes: dict) -> list[str]:
    """One line per NTFS the check read: its space and its dirty flag."""
    return [f"{where}: NTFS {v['version']}, {format_size(v['used_bytes'])} used, "
            f"{format_size(v['free_bytes'])} free of {format_size(v['total_bytes'])}, "
            f"dirty flag {'set' if v['dirty'] else 'clear'}" for where, v in volumes.items()]


def cmd_check(args) -> int:
    from ..ops.inspect import check

    report = check(args.image, allow_device=args.device)
    text = "\n".join(_ntfs_lines(report.facts.get("ntfs", {})) + [report.to_text()])
    emit(args, report.to_dict(), text)
    return report.exit_code


def register(sub) -> None:
    p = sub.add_parser("info", help="show every layer: container, partitions, filesystems",
                       description="Container (raw/fixed/dynamic VHD), partition table and each "
                                   "partition's filesystem, with warnings. Example: diskkit "
                                   "info win.vhd --json")
    p.add_argument("image", metavar="IMAGE", help="raw image, fixed or dynamic VHD")
    p.add_argument("--html", metavar="OUT", help="also write a self-contained HTML page with "
                   "the partitions drawn to scale (as DiskGenius shows them)")
    add_json(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("check", help="check container, partition table and FAT volumes "
                                     "(exit 0 clean, 1 problems, 2 error)",
                       description="Runs the VHD check, the partition-table verify and a FAT "
                                   "check of every FAT volume. Example: diskkit check win.vhd")
    p.add_argument("image", metavar="IMAGE", help="raw image, fixed or dynamic VHD")
    add_json(p)
    p.set_defaults(func=cmd_check)
