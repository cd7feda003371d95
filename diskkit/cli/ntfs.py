"""`diskkit ntfs ...`: info, ls, stat, cat, get, check (read-only)."""

from __future__ import annotations

import contextlib
import functools
import gc
import sys
import time

from ..errors import UsageError
from ..progress import progress
from ..units import format_size
from .common import add_json, emit, emit_json_array, emit_lines, emit_report, open_filesystem


def _target(args):
    """The volume's device (partition or whole image), read-only; closing it closes the image."""
    return open_filesystem(args, args.image)


@contextlib.contextmanager
def _volume(args):
    from ..ntfs import NtfsVolume

    with _target(args) as dev:
        yield NtfsVolume(dev, name=_name(args))


def _name(args) -> str:
    return args.image if args.part is None else f"{args.image} partition {args.part}"


def _display(name: str) -> str:
    """A name printable on any terminal (a lone UTF-16 surrogate becomes U+FFFD)."""
    return name.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _iso(ts) -> str | None:
    return None if ts is None else _iso_second(int(ts // 1))


@functools.lru_cache(maxsize=4096)  # files written together share their second
def _iso_second(second: int) -> str | None:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    except (OverflowError, OSError, ValueError):
        return None


_FLAG_BITS = (("d", 0x10), ("a", 0x20), ("r", 0x01), ("h", 0x02), ("s", 0x04), ("c", 0x800),
              ("p", 0x200), ("l", 0x400), ("e", 0x4000))  # FILE_ATTRIBUTE_* as ls -l shows them


def _entry_dict(entry, path: str) -> dict:
    return {"name": entry.name, "path": path, "type": "dir" if entry.is_dir else "file",
            "size": entry.size, "allocated_size": entry.allocated_size,
            "modified": _iso(entry.modified), "created": _iso(entry.created),
            "accessed": _iso(entry.accessed), "mft_changed": _iso(entry.mft_changed),
            "attributes": entry.attribute_names, "mft_ref": entry.mft_ref,
            "sequence": entry.sequence, "link_count": entry.link_count,
            "short_name": entry.short_name, "compressed": entry.compressed or bool(entry.wof),
            "sparse": entry.sparse, "encrypted": entry.encrypted, "reparse": entry.reparse,
            "compactos": entry.wof, "streams": entry.streams}


# -- handlers ---------------------------------------------------------------------------
def _info_text(d: dict) -> str:
    state = "DIRTY (Windows will run chkdsk at the next boot)" if d["dirty"] else "clean"
    label = f"label {d['label']!r}" if d["label"] else "no label"
    mft_use = f", {d['mft_records_in_use']:,} in use" if d["mft_records_in_use"] is not None else ""
    return "\n".join([
        f"NTFS {d['version']}, {label}, serial {d['serial']}, {state}",
        f"size {format_size(d['total_bytes'])}: {d['clusters']:,} clusters of "
        f"{format_size(d['cluster_size'])} ({d['sector_size']}-byte sectors)",
        f"used {format_size(d['used_bytes'])} ({d['used_clusters']:,} clusters), "
        f"free {format_size(d['free_bytes'])} ({d['free_clusters']:,} clusters)",
        f"MFT: {d['mft_records']:,} records of {format_size(d['mft_record_size'])}{mft_use}, "
        f"{format_size(d['mft_bytes'])} starting at cluster {d['mft_lcn']:,}",
    ])


def cmd_info(args) -> int:
    with _volume(args) as vol:
        data = vol.info()
    emit(args, data, _info_text(data))
    return 0


def _listing(vol, path: str, recursive: bool, metafiles: bool):
    """``(path, Entry)`` of what ``ls`` shows for ``path``, as they are read."""
    entry = vol.stat(path)
    if not entry.is_dir:
        yield "/" + "/".join(p for p in path.replace("\\", "/").split("/") if p), entry
    elif not recursive:
        base = path.rstrip("/")
        yield from ((f"{base}/{e.name}", e) for e in vol.listdir(path, metafiles))
    else:
        yield from vol.tree(path, metafiles)


@contextlib.contextmanager
def _collector_paused():
    """The cycle collector paused: a text listing builds tens of thousands of tuples and no
    cycles, and the collections the CLI's raised threshold still makes walk them all again
    (2% of a 20,000-file ls -r -l). Not for --json: json's indenting encoder makes a cycle
    per call."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.lru_cache(maxsize=None)
def _flag_text(bits: int) -> str:
    """ls -l's flag column for FILE_ATTRIBUTE_* ``bits`` (a listing has few distinct sets:
    each is built once)."""
    return "".join(c if bits & bit else "-" for c, bit in _FLAG_BITS)


def cmd_ls(args) -> int:
    with _volume(args) as vol:
        items = (item for path in args.paths or ["/"]
                 for item in _listing(vol, path, args.recursive, args.all))
        if args.json:
            emit_json_array(_entry_dict(e, p) for p, e in items)
            return 0
        with _collector_paused():
            if args.long:
                emit_lines(_long_lines(items, args.recursive, len(str(vol.geometry.size))))
            else:
                emit_lines(_label(p if args.recursive else e.name, e) for p, e in items)
    return 0


def _label(name: str, entry) -> str:
    return (name if name.isascii() else _display(name)) + ("/" if entry.is_dir else "")


TIME_WIDTH = len("2026-12-01 04:26:31")


def _long_lines(items, recursive: bool, size_width: int):
    """ls -l's lines: flags, size (padded to the widest size the volume could hold) and
    modification time, then the label; padded by ljust rather than format specs (listings
    are long)."""
    flags = _flag_text  # CompactOS files count as compressed (0x800)
    for path, e in items:
        when = "-" if (ts := e.modified) is None else _day_time_of(ts // 1)
        yield (f"{flags(e.attributes | (0x800 if e.wof else 0))}  "
               f"{str(e.size).ljust(size_width)}  {when.ljust(TIME_WIDTH)}  "
               f"{_label(path if recursive else e.name, e)}")


@functools.lru_cache(maxsize=4096)
def _day_time_of(second: float) -> str:
    """ls -l's time of the POSIX ``second`` (whole, perhaps as a float)."""
    return (_iso_second(int(second)) or "-").replace("T", " ")[:19]


def cmd_stat(args) -> int:
    with _volume(args) as vol:
        data = [_entry_dict(vol.stat(p), p) for p in args.paths]

    def text(items):
        return "\n\n".join("\n".join(f"{k}: {_display(str(v)) if isinstance(v, str) else v}"
                                     for k, v in e.items()) for e in items)

    emit(args, data, text)
    return 0


def cmd_cat(args) -> int:
    from ..blockdev import COPY_CHUNK

    out = sys.stdout.buffer
    buf = memoryview(bytearray(COPY_CHUNK))  # one buffer for the whole copy: no page faults
    with _volume(args) as vol:
        for path in args.paths:
            with vol.open(path, stream=args.stream) as fh:
                while n := fh.readinto(buf):
                    out.write(buf[:n])
    out.flush()
    return 0


def cmd_get(args) -> int:
    from ..hostfiles import export

    *sources, dest = args.paths
    if not sources:
        raise UsageError("get needs at least one PATH and a host DEST")
    with _volume(args) as vol, progress(None, "get") as bar:
        for src in sources:
            export(vol, src, dest, recursive=args.recursive, on_progress=bar.update)
    return 0


def cmd_check(args) -> int:
    from ..ntfs import check

    with _target(args) as dev:
        report = check(dev, _name(args))
    return emit_report(args, report)


# -- parser -----------------------------------------------------------------------------
def _image(p) -> None:
    p.add_argument("image", metavar="IMAGE", help="raw image, fixed or dynamic VHD")
    p.add_argument("--part", type=int, metavar="N",
                   help="use partition N (1-based); default: the whole image, or its only "
                   "data partition when it has a partition table")


def register(sub) -> None:
    ntfs = sub.add_parser("ntfs", help="NTFS filesystems: info, list, read files (read-only)",
                          description="Read an NTFS volume on a whole image or a partition "
                          "(--part N): usage, directory listings, file contents. Paths use '/' "
                          "and are case-insensitive, as on Windows. Nothing is ever written.")
    cmds = ntfs.add_subparsers(dest="ntfs_command", metavar="COMMAND")
    cmds.required = True

    p = cmds.add_parser("info", help="version, label, dirty flag, cluster size, used/free, MFT",
                        description="Used and free space come from the volume's cluster "
                        "bitmap ($Bitmap), as Windows counts them.")
    _image(p)
    add_json(p)
    p.set_defaults(func=cmd_info)

    p = cmds.add_parser("ls", help="list directories",
                        description="List directories (default /). Flags in -l: d directory, "
                        "a archive, r read-only, h hidden, s system, c compressed (LZNT1 or "
                        "CompactOS), p sparse, l reparse point, e encrypted.")
    _image(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="directories or files (default /)")
    p.add_argument("-l", "--long", action="store_true", help="flags, size and modification time")
    p.add_argument("-r", "--recursive", action="store_true", help="list whole trees")
    p.add_argument("-a", "--all", action="store_true",
                   help="include the volume's metafiles ($MFT, $Bitmap, $Extend ...)")
    add_json(p)
    p.set_defaults(func=cmd_ls)

    p = cmds.add_parser("stat", help="details of files or directories",
                        description="Size, times, attributes, MFT record, short name, streams, "
                        "compression (LZNT1 or CompactOS algorithm) and reparse tag.")
    _image(p)
    p.add_argument("paths", nargs="+", metavar="PATH")
    add_json(p)
    p.set_defaults(func=cmd_stat)

    p = cmds.add_parser("cat", help="write files' contents to stdout",
                        description="Sparse, compressed and CompactOS files are written "
                        "decompressed, as Windows reads them.")
    _image(p)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--stream", metavar="NAME", help="read the alternate data stream NAME")
    p.set_defaults(func=cmd_cat)

    p = cmds.add_parser("get", help="copy files out to the host",
                        description="Copy PATH... out of the image to host DEST (into it when "
                        "it is a directory). -r copies trees; names that could escape DEST are "
                        "refused and symbolic links on the host are never written through.")
    _image(p)
    p.add_argument("paths", nargs="+", metavar="PATH... DEST")
    p.add_argument("-r", "--recursive", action="store_true", help="copy directories recursively")
    p.set_defaults(func=cmd_get)

    p = cmds.add_parser("check", help="check the filesystem (read-only)",
                        description="Boot sector against the partition and its backup copy, "
                        "$MFTMirr, every MFT record and run list, cluster ownership against "
                        "$Bitmap (cross-links, clusters in use but marked free, lost clusters), "
                        "and every directory index. Exit 0 clean, 1 problems found, 2 error.")
    _image(p)
    add_json(p)
    p.set_defaults(func=cmd_check)
