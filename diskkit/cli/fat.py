"""`diskkit fat ...`: mkfs, info, ls, tree, cat, get, put, mkdir, rm, mv, stat, check."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from ..errors import UsageError
from ..progress import progress
from ..units import format_size
from .common import add_json, emit, emit_report, open_filesystem, size_arg, table, warn


def _target(args, writable: bool):
    """The volume's device (partition or whole image); closing it closes the image."""
    return open_filesystem(args, args.image, writable)


@contextlib.contextmanager
def _fs(args, writable: bool = False):
    from ..fat import FatFS

    with _target(args, writable) as dev:
        fs = FatFS(dev, args.codepage)
        for message in fs.warnings:
            warn(message)
        try:
            yield fs
        finally:
            if writable:
                fs.close()


def _volume_id(text: str) -> int:
    """argparse type: ``1234-ABCD`` or ``1234abcd`` -> int."""
    try:
        value = int(text.replace("-", ""), 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid volume ID {text!r}: 8 hex digits, "
                                         "e.g. 1234-ABCD") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"invalid volume ID {text!r}: more than 8 hex digits")
    return value


def _iso(ts) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _attrs(entry) -> str:
    return "".join(c if entry.attr & bit else "-" for c, bit in
                   (("d", 0x10), ("a", 0x20), ("r", 0x01), ("h", 0x02), ("s", 0x04)))


def _entry_dict(entry, path: str) -> dict:
    return {"name": entry.name, "path": path, "short_name": entry.short_name,
            "type": "dir" if entry.is_dir else "file", "size": entry.size,
            "mtime": _iso(entry.mtime), "created": _iso(entry.created),
            "attributes": _attrs(entry), "cluster": entry.cluster}


# -- handlers ---------------------------------------------------------------------------
def cmd_mkfs(args) -> int:
    from ..fat import mkfs
    from ..fat.bootsector import format_serial

    with _target(args, True) as dev:
        layout = mkfs(dev, fat_type=args.fat, label=args.label, cluster_size=args.cluster_size,
                      volume_id=args.volume_id, hidden_sectors=None, codepage=args.codepage)
    data = {"fat_type": layout.fat_type, "cluster_size": layout.cluster_size,
            "clusters": layout.cluster_count, "size": layout.size,
            "volume_id": format_serial(layout.serial),
            "label": layout.label.decode(args.codepage).rstrip(),
            "hidden_sectors": layout.hidden_sectors}
    emit(args, data, lambda d: (f"FAT{d['fat_type']}, {format_size(d['size'])}, "
                                f"{d['clusters']:,} clusters of {format_size(d['cluster_size'])}, "
                                f"volume ID {d['volume_id']}, label {d['label'] or '(none)'}"))
    return 0


def cmd_info(args) -> int:
    with _fs(args) as fs:
        data = fs.usage()
        data["hidden_sectors"] = fs.layout.hidden_sectors
        data["reserved_sectors"] = fs.layout.reserved_sectors
        data["fat_sectors"] = fs.layout.fat_sectors
    emit(args, data, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))
    return 0


def cmd_ls(args) -> int:
    out = []
    with _fs(args) as fs:
        for path in args.paths or ["/"]:
            entry = fs.stat(path)
            items = fs.listdir(path) if entry.is_dir else [entry]
            base = path.rstrip("/") if entry.is_dir else path.rsplit("/", 1)[0]
            out.extend(_entry_dict(e, f"{base}/{e.name}") for e in items)

    def text(rows):
        if not args.long:
            return "\n".join(r["name"] + ("/" if r["type"] == "dir" else "") for r in rows)
        return table([[r["attributes"], str(r["size"]), (r["mtime"] or "-").replace("T", " ")[:19],
                       r["short_name"], r["name"]] for r in rows])

    emit(args, out, text)
    return 0


def cmd_tree(args) -> int:
    rows = []
    with _fs(args) as fs:
        start = args.path.rstrip("/") or "/"
        depth0 = len([p for p in start.split("/") if p])
        for dpath, entries in fs.walk(start):
            rows.extend(_entry_dict(e, fs.join(dpath, e.name)) for e in entries)
    rows.sort(key=lambda r: r["path"].split("/"))  # each directory's contents under it
    emit(args, rows, "\n".join("  " * (r["path"].count("/") - 1 - depth0) + r["name"] +
                               ("/" if r["type"] == "dir" else f"  ({r['size']} bytes)")
                               for r in rows))
    return 0


def cmd_cat(args) -> int:
    with _fs(args) as fs:
        for path in args.paths:
            for chunk in fs.iter_read(path):
                sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    return 0


def cmd_stat(args) -> int:
    with _fs(args) as fs:
        data = [_entry_dict(fs.stat(p), p) for p in args.paths]
    emit(args, data, lambda d: "\n\n".join("\n".join(f"{k}: {v}" for k, v in e.items()) for e in d))
    return 0


def cmd_get(args) -> int:
    *sources, dest = args.paths
    if not sources:
        raise UsageError("get needs at least one PATH and a host DEST")
    from ..fat import hosttree

    with _fs(args) as fs, progress(None, "get") as bar:
        fs.on_progress = bar.update
        for src in sources:
            hosttree.get(fs, src, dest, recursive=args.recursive)
    return 0


def cmd_put(args) -> int:
    *sources, dest = args.paths
    if not sources:
        raise UsageError("put needs at least one host SRC and a DEST path in the image")
    from ..fat import hosttree

    with _fs(args, True) as fs, progress(None, "put") as bar:
        fs.on_progress = bar.update
        hosttree.put(fs, sources, dest, recursive=args.recursive,
                     on_skip=lambda p: warn(f"{p}: not a regular file or directory, skipped"))
    return 0


def cmd_mkdir(args) -> int:
    with _fs(args, True) as fs:
        for path in args.paths:
            fs.mkdir(path, parents=args.parents)
    return 0


def cmd_rm(args) -> int:
    with _fs(args, True) as fs:
        for path in args.paths:
            fs.remove(path, recursive=args.recursive)
    return 0


def cmd_mv(args) -> int:
    with _fs(args, True) as fs:
        fs.rename(args.src, args.dst)
    return 0


def cmd_check(args) -> int:
    from ..fat import check

    with _target(args, False) as dev:
        esp = args.esp or (args.part is not None and _is_esp_partition(dev.parent, args.part))
        report = check(dev, esp=esp, codepage=args.codepage)
    return emit_report(args, report)


def _is_esp_partition(disk, index: int) -> bool:
    """Whether partition ``index`` of ``disk`` has the EFI system partition type."""
    from ..part import read_table, types

    table = read_table(disk)
    part = next((p for p in table.partitions if p.index == index), None) if table else None
    return part is not None and types.is_esp(part)


def cmd_repair(args) -> int:
    from ..fat import repair

    with _target(args, True) as dev:
        report = repair(dev)
    if not args.json:
        for action in report.facts.get("repaired", []):
            print(f"repaired: {action}")
    return emit_report(args, report)


# -- parser -----------------------------------------------------------------------------
def _image(p) -> None:
    p.add_argument("image", metavar="IMAGE", help="raw image, fixed or dynamic VHD")
    p.add_argument("--part", type=int, metavar="N",
                   help="use partition N (1-based); default: the whole image, or its only "
                   "data partition when it has a partition table")
    p.add_argument("--codepage", type=_codepage, default="cp850", metavar="CP",
                   help="OEM code page of short names and labels (default cp850, as mkfs.fat "
                   "and mtools; Windows uses its OEM page, e.g. cp437 US, cp936 Chinese)")


def _codepage(text: str) -> str:
    """argparse type: an OEM code page Python can encode short names in."""
    from ..errors import DiskkitError
    from ..fat.names import codepage

    try:
        return codepage(text)
    except DiskkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub) -> None:
    fat = sub.add_parser("fat", help="FAT12/16/32 filesystems: mkfs, files, check",
                         description="Create, read, write and check FAT filesystems on a whole "
                         "image or a partition (--part N). Paths inside the image use '/', and "
                         "are case-insensitive.")
    cmds = fat.add_subparsers(dest="fat_command", metavar="COMMAND")
    cmds.required = True

    p = cmds.add_parser("mkfs", help="create a FAT filesystem",
                        description="Format IMAGE (or partition N) as FAT. Without --fat, "
                        "volumes from 512 MiB get FAT32, smaller ones FAT16 (FAT12 when tiny). "
                        "FAT32 needs at least 65,525 clusters.")
    _image(p)
    p.add_argument("--fat", type=int, choices=(12, 16, 32), help="FAT type (default: by size)")
    p.add_argument("--label", help="volume label (up to 11 characters)")
    p.add_argument("--cluster-size", type=size_arg, metavar="SIZE",
                   help="bytes per cluster, e.g. 4K (default: Microsoft's table)")
    p.add_argument("--volume-id", type=_volume_id, metavar="HEX",
                   help="volume serial, e.g. 1234-ABCD (default: random, or from SOURCE_DATE_EPOCH)")
    add_json(p)
    p.set_defaults(func=cmd_mkfs)

    p = cmds.add_parser("info", help="FAT type, sizes, free space, label")
    _image(p)
    add_json(p)
    p.set_defaults(func=cmd_info)

    p = cmds.add_parser("ls", help="list directories")
    _image(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="directories or files (default /)")
    p.add_argument("-l", "--long", action="store_true",
                   help="attributes, size, time, short name and long name")
    add_json(p)
    p.set_defaults(func=cmd_ls)

    p = cmds.add_parser("tree", help="list a directory tree recursively")
    _image(p)
    p.add_argument("path", nargs="?", default="/", metavar="PATH")
    add_json(p)
    p.set_defaults(func=cmd_tree)

    p = cmds.add_parser("cat", help="write files' contents to stdout")
    _image(p)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_cat)

    p = cmds.add_parser("stat", help="details of files or directories")
    _image(p)
    p.add_argument("paths", nargs="+", metavar="PATH")
    add_json(p)
    p.set_defaults(func=cmd_stat)

    p = cmds.add_parser("get", help="copy files out to the host",
                        description="Copy PATH... out of the image to host DEST (a directory "
                        "when several). -r copies trees; names that could escape DEST are refused.")
    _image(p)
    p.add_argument("paths", nargs="+", metavar="PATH... DEST")
    p.add_argument("-r", "--recursive", action="store_true", help="copy directories recursively")
    p.set_defaults(func=cmd_get)

    p = cmds.add_parser("put", help="copy host files in",
                        description="Copy host SRC... into the image at DEST (into it when DEST "
                        "is a directory). -r copies trees, in sorted order.")
    _image(p)
    p.add_argument("paths", nargs="+", metavar="SRC... DEST")
    p.add_argument("-r", "--recursive", action="store_true", help="copy directories recursively")
    p.set_defaults(func=cmd_put)

    p = cmds.add_parser("mkdir", help="create directories")
    _image(p)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-p", "--parents", action="store_true",
                   help="create missing parents; no error if it exists")
    p.set_defaults(func=cmd_mkdir)

    p = cmds.add_parser("rm", help="remove files or directories")
    _image(p)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-r", "--recursive", action="store_true", help="remove directories and their contents")
    p.set_defaults(func=cmd_rm)

    p = cmds.add_parser("mv", help="rename or move within the filesystem")
    _image(p)
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST", help="new path, or an existing directory to move into")
    p.set_defaults(func=cmd_mv)

    p = cmds.add_parser("check", help="check the filesystem (read-only)",
                        description="Finds what fsck.fat -n finds. Exit 0 clean (warnings "
                        "allowed), 1 problems found, 2 error.")
    _image(p)
    p.add_argument("--esp", action="store_true",
                   help="the volume is an EFI system partition: what UEFI firmware refuses is "
                   "an error (automatic for a partition of the ESP type)")
    add_json(p)
    p.set_defaults(func=cmd_check)

    p = cmds.add_parser("repair", help="fix what an interrupted write leaves behind",
                        description="Reclaim lost clusters, delete orphaned long-name slots, "
                        "copy the active FAT over the other copies, rewrite FSInfo and the "
                        "FAT32 backup boot sectors. Refuses (changing nothing) when a problem "
                        "needs a decision: cross-links, loops, broken chains or directories. "
                        "Exit 0 clean afterwards, 1 problems remain, 2 error.")
    _image(p)
    add_json(p)
    p.set_defaults(func=cmd_repair)
