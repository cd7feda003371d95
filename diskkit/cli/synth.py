"""`diskkit synth`: write one synthetic image (valid or damaged on purpose) and describe it."""

from __future__ import annotations

import os

from ..units import format_size
from .common import add_json, emit, size_arg, table

def register(sub) -> None:
    from ..synth.damage import KINDS

    p = sub.add_parser(
        "synth", help="write a synthetic test image (optionally damaged) and describe it",
        description="Write one image drawn from a seed: container, partition table, FAT "
                    "volumes at their cluster-count edges, files with long, Unicode and "
                    "8.3-colliding names; print what is in it. The same seed (and "
                    "SOURCE_DATE_EPOCH) gives the same bytes. Example: diskkit synth test.vhd "
                    "--seed 7 --table gpt --fs fat32 --files 20 --json")
    p.add_argument("out", metavar="OUT", help="new image file")
    p.add_argument("--seed", type=int, help="what to draw (default: a random seed, printed)")
    p.add_argument("--container", choices=["raw", "fixed", "dynamic", "vhdx", "vhdx-fixed"],
                   help="raw image, fixed or dynamic VHD, dynamic or fixed VHDX (default: drawn)")
    p.add_argument("--table", choices=["gpt", "mbr", "none"],
                   help="partition table (default: drawn)")
    p.add_argument("--fs", choices=["fat12", "fat16", "fat32", "none"],
                   help="filesystem of the volumes (default: drawn)")
    p.add_argument("--files", type=int, metavar="N", help="files in the first volume")
    p.add_argument("--sector-size", type=int, choices=[512, 4096],
                   help="logical sector size (default: drawn)")
    p.add_argument("--max-size", type=size_arg, default="64M",
                   help="largest disk to draw (default 64M; files are sparse)")
    p.add_argument("--corrupt", metavar="KIND",
                   help="damage to apply (docs/testing.md says what each one is): "
                        + ", ".join(KINDS))
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_json(p)
    p.set_defaults(func=cmd_synth)


def cmd_synth(args) -> int:
    from ..synth import build, describe

    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    constraints = {k: v for k, v in (("container", args.container), ("table", args.table),
                                     ("fs", args.fs), ("files", args.files),
                                     ("sector_size", args.sector_size)) if v is not None}
    desc = describe(seed, damage=args.corrupt, max_size=args.max_size, **constraints)
    build(desc, args.out, force=args.force)
    emit(args, {"path": args.out, **desc.to_dict()}, lambda _: describe_text(args.out, desc))
    return 0


def _volume_text(volume) -> str:
    if volume is None:
        return "-"
    label = f", label {volume.label}" if volume.label else ""
    files = sum(1 for f in volume.files if not f.directory)
    return (f"FAT{volume.fat_type}, {volume.cluster_count:,} clusters of "
            f"{format_size(volume.cluster_size)}{label}, {files} files")


def describe_text(path: str, desc) -> str:
    c = desc.container
    kind = {"raw": "raw image", "fixed": "fixed VHD", "dynamic": "dynamic VHD", "vhdx": "VHDX",
            "vhdx-fixed": "fixed VHDX"}[c.kind]
    block = f", {format_size(c.block_size)} blocks" if c.block_size else ""
    lines = [f"{path}: {kind}, {format_size(c.size)} ({c.size} bytes){block}, seed {desc.seed}"]
    t = desc.table
    if t is None:
        lines.append(f"no partition table; whole disk: {_volume_text(desc.filesystem)}")
    else:
        ident = t.disk_guid if t.kind == "gpt" else f"0x{t.disk_signature:08x}"
        lines.append(f"{t.kind.upper()} {ident}, {t.sector_size}-byte sectors")
        rows = [[str(p.index), format_size(p.start), format_size(p.size), p.type_name,
                 p.name if t.kind == "gpt" else ",".join(
                     f for f, on in (("boot", p.bootable), ("logical", p.logical)) if on),
                 _volume_text(p.filesystem)] for p in t.partitions]
        if rows:
            lines.append(table(rows, ["#", "start", "size", "type",
                                      "name" if t.kind == "gpt" else "flags", "filesystem"]))
    for d in desc.damage:
        lines.append(f"damage {d.kind}: {d.expect} ({d.severity}; reported by "
                     f"{', '.join(d.detected_by)})")
    return "\n".join(lines)
