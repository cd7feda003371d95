"""`diskkit part ...`: show, init, add, delete, set, resize, verify, repair, types."""

from __future__ import annotations

import argparse

from .. import part
from ..errors import UsageError
from ..units import format_size
from .common import add_json, emit, emit_report, open_volume, size_arg, table


def open_disk(args, path: str, writable: bool = False):
    """Open IMAGE (raw, fixed or dynamic VHD); ``--sector-size`` reinterprets a raw image."""
    return open_volume(args, path, writable=writable,
                       sector_size=getattr(args, "sector_size", None))


def _number(text: str) -> int:
    """argparse type: 0x1234abcd or decimal."""
    return int(text, 0)


def _add_image(p, sector_size: bool = True) -> None:
    p.add_argument("image", metavar="IMAGE", help="raw image, fixed or dynamic VHD")
    if sector_size:
        p.add_argument("--sector-size", type=int, choices=part.SECTOR_SIZES, default=None,
                       help="logical sector size of a raw image (default: detect, else 512)")


def _part_line(p) -> list[str]:
    type_text = p.type_name + (f" ({p.type_alias})" if p.type_alias else "")
    if p.type_guid is None:
        flags = ",".join(f for f, on in (("boot", p.bootable), ("logical", p.logical)) if on)
        extra = flags
    else:
        extra = p.name + (f" [{','.join(part.types.attribute_names(p.attributes))}]"
                          if p.attributes else "")
    return [str(p.index), str(p.first_lba), str(p.last_lba), format_size(p.size), type_text, extra]


def _show_text(tbl) -> str:
    lines = [f"{tbl.headline}, {tbl.sector_size}-byte sectors, {format_size(tbl.disk_size)} "
             f"({tbl.disk_lbas} sectors), usable LBA {tbl.first_usable_lba}.."
             f"{tbl.last_usable_lba}"]
    lines += [f"note: {note}" for note in tbl.notes]
    rows = [_part_line(p) for p in tbl.partitions]
    if rows:
        named = any(p.type_guid is not None for p in tbl.partitions)
        lines.append(table(rows, ["#", "first LBA", "last LBA", "size", "type",
                                  "name" if named else "flags"]))
    else:
        lines.append("no partitions")
    for gap in part.describe(tbl)["free"]:
        lines.append(f"free: LBA {gap['first_lba']}..{gap['last_lba']} "
                     f"({format_size(gap['size'])})")
    return "\n".join(lines)


def cmd_show(args) -> int:
    with open_disk(args, args.image) as dev:
        tbl = part.read_table(dev, args.sector_size)
        if tbl is None:
            instead = part.mbr.why_no_table(dev)
            emit(args, {"table": None, "disk_size": dev.size, "partitions": [],
                        "lba0": instead},
                 f"{args.image}: no partition table" + (f": LBA 0 holds {instead}"
                                                        if instead else ""))
            return 0
        emit(args, part.describe(tbl), _show_text(tbl))
    return 0


def cmd_init(args) -> int:
    with open_disk(args, args.image, writable=True) as dev:
        if args.mbr:
            tbl = part.init_mbr(dev, disk_signature=args.disk_signature, force=args.force)
            text = f"{args.image}: new MBR, disk signature 0x{tbl.disk_signature:08x}"
        else:
            tbl = part.init_gpt(dev, disk_guid=args.disk_guid, entry_count=args.entries,
                                force=args.force)
            text = (f"{args.image}: new GPT, disk GUID {tbl.disk_guid}, usable LBA "
                    f"{tbl.first_usable_lba}..{tbl.last_usable_lba}")
        emit(args, part.describe(tbl), text)
    return 0


def _changed(args, p, verb: str) -> int:
    text = (f"{verb} partition {p.index}: LBA {p.first_lba}..{p.last_lba} "
            f"({format_size(p.size)}), {p.type_name}")
    emit(args, p.to_dict(), text)
    return 0


def cmd_add(args) -> int:
    size = None if args.size.strip().lower() == "rest" else size_arg(args.size)
    with open_disk(args, args.image, writable=True) as dev:
        p = part.add_partition(dev, args.type, size, name=args.name, start=args.start,
                               align=args.align, guid=args.guid, attributes=args.attr or 0,
                               bootable=args.bootable, index=args.index, logical=args.logical)
        return _changed(args, p, "added")


def cmd_delete(args) -> int:
    with open_disk(args, args.image, writable=True) as dev:
        return _changed(args, part.delete_partition(dev, args.number), "deleted")


def cmd_set(args) -> int:
    if all(v is None for v in (args.name, args.type, args.attr, args.guid, args.bootable)):
        raise UsageError("nothing to set: give --name, --type, --attr, --guid or --bootable")
    with open_disk(args, args.image, writable=True) as dev:
        p = part.set_partition(dev, args.number, name=args.name, type=args.type,
                               attributes=args.attr, guid=args.guid, bootable=args.bootable)
        return _changed(args, p, "changed")


def cmd_resize(args) -> int:
    from ..ops.resize import resize_partition

    with open_disk(args, args.image, writable=True) as dev:
        p = resize_partition(dev, args.number, size=args.size, grow=args.grow, force=args.force)
        return _changed(args, p, "resized")


def cmd_verify(args) -> int:
    with open_disk(args, args.image) as dev:
        return emit_report(args, part.verify(dev, args.sector_size))


def cmd_repair(args) -> int:
    with open_disk(args, args.image, writable=True) as dev:
        changes = part.repair(dev, args.sector_size)
    text = "\n".join(changes) if changes else f"{args.image}: nothing to repair"
    emit(args, {"changed": changes}, text)
    return 0


def cmd_types(args) -> int:
    t = part.types
    data = {"gpt": [{"alias": a, "guid": t.gpt_type_guid(a),
                     "name": t.gpt_type_name(t.gpt_type_guid(a))} for a in t.gpt_aliases()],
            "mbr": [{"alias": a, "code": t.mbr_type_code(a),
                     "name": t.mbr_type_name(t.mbr_type_code(a))} for a in t.mbr_aliases()],
            "attributes": dict(t.ATTRIBUTE_BITS)}
    rows = [[d["alias"], d["guid"], d["name"]] for d in data["gpt"]]
    rows += [[d["alias"], f"0x{d['code']:02x} (MBR)", d["name"]] for d in data["mbr"]]
    emit(args, data, table(rows, ["alias", "GUID / code", "name"]) + "\nattributes: "
         + ", ".join(f"{k} (bit {v})" for k, v in t.ATTRIBUTE_BITS.items()))
    return 0


def register(sub) -> None:
    grp = sub.add_parser("part", help="partition tables (GPT, MBR): show, create, edit, verify",
                         description="Read and edit GPT and MBR partition tables inside raw "
                                     "images and VHDs.")
    cmds = grp.add_subparsers(dest="part_command", metavar="SUBCOMMAND")
    cmds.required = True

    p = cmds.add_parser("show", help="list the table, partitions and free space",
                        description="Example: diskkit part show disk.vhd --json")
    _add_image(p)
    add_json(p)
    p.set_defaults(func=cmd_show)

    p = cmds.add_parser("init", help="write a new empty GPT or MBR",
                        description="Example: diskkit part init disk.vhd --gpt")
    _add_image(p)
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--gpt", action="store_true", help="GUID partition table (UEFI)")
    kind.add_argument("--mbr", action="store_true", help="DOS/MBR partition table (BIOS)")
    p.add_argument("--force", action="store_true", help="replace an existing table")
    p.add_argument("--disk-guid", help="GPT disk GUID (default: random, or derived from "
                                       "SOURCE_DATE_EPOCH)")
    p.add_argument("--disk-signature", type=_number, help="MBR disk signature, e.g. 0x1234abcd")
    p.add_argument("--entries", type=int, default=128, help="GPT entry slots (default 128)")
    add_json(p)
    p.set_defaults(func=cmd_init)

    p = cmds.add_parser("add", help="add a partition",
                        description="Example: diskkit part add disk.vhd --type esp --size 260M")
    _add_image(p)
    p.add_argument("--type", required=True,
                   help="esp, msr, windows, recovery, linux, linux-swap, bios-boot, linux-home, "
                        "xbootldr (GPT) / fat32-lba, ntfs, esp, linux (MBR), a GUID, or an MBR "
                        "byte; 'diskkit part types' lists them")
    p.add_argument("--size", required=True, help="size (100M, 2G, 2048s) or 'rest' for the "
                                                 "largest free gap")
    p.add_argument("--name", help="GPT partition name (default: the type's name)")
    p.add_argument("--start", type=size_arg, help="byte offset to start at (default: first "
                                                  "aligned free spot)")
    p.add_argument("--align", type=size_arg, default=part.DEFAULT_ALIGN,
                   help="start alignment (default 1M)")
    p.add_argument("--guid", help="GPT unique partition GUID (default: random)")
    p.add_argument("--attr", help="GPT attributes: required, no-block-io, "
                                  "legacy-bios-bootable, read-only, hidden, no-drive-letter")
    p.add_argument("--bootable", action="store_true", help="MBR boot flag")
    p.add_argument("--index", type=int, help="entry number to use (default: first free)")
    p.add_argument("--logical", action="store_true",
                   help="MBR: a logical partition after the last one in the extended partition "
                        "(add that first with --type extended)")
    add_json(p)
    p.set_defaults(func=cmd_add)

    p = cmds.add_parser("delete", help="remove a partition (its data is left in place)",
                        description="Example: diskkit part delete disk.vhd 2")
    _add_image(p)
    p.add_argument("number", type=int, help="partition number")
    add_json(p)
    p.set_defaults(func=cmd_delete)

    p = cmds.add_parser("set", help="change a partition's name, type, attributes or GUID",
                        description="Example: diskkit part set disk.vhd 3 --attr "
                                    "+hidden,+no-drive-letter")
    _add_image(p)
    p.add_argument("number", type=int, help="partition number")
    p.add_argument("--name", help="new GPT name")
    p.add_argument("--type", help="new type (alias, GUID or MBR byte)")
    p.add_argument("--attr", help="attributes: a list replaces them, +name/-name edits "
                                  "(hidden,no-drive-letter / +read-only / 0x8000000000000000)")
    p.add_argument("--guid", help="new unique partition GUID")
    boot = p.add_mutually_exclusive_group()
    boot.add_argument("--bootable", dest="bootable", action="store_true", default=None,
                      help="set the MBR boot flag")
    boot.add_argument("--no-bootable", dest="bootable", action="store_false",
                      help="clear the MBR boot flag")
    add_json(p)
    p.set_defaults(func=cmd_set)

    p = cmds.add_parser("resize", help="change a partition's size (its start stays)",
                        description="Example: diskkit part resize disk.vhd 2 --grow")
    _add_image(p)
    p.add_argument("number", type=int, help="partition number")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--size", type=size_arg, help="new size")
    how.add_argument("--grow", action="store_true", help="fill the free space after it")
    p.add_argument("--force", action="store_true",
                   help="shrink below the size of the FAT or NTFS filesystem inside, as long as "
                   "none of its used clusters is cut")
    add_json(p)
    p.set_defaults(func=cmd_resize)

    p = cmds.add_parser("verify", help="check the table like sgdisk -v (exit 0/1/2)",
                        description="Example: diskkit part verify disk.vhd --json")
    _add_image(p)
    add_json(p)
    p.set_defaults(func=cmd_verify)

    p = cmds.add_parser("repair", help="rebuild a damaged GPT copy, move the backup to the end",
                        description="Example: diskkit part repair disk.img")
    _add_image(p)
    add_json(p)
    p.set_defaults(func=cmd_repair)

    p = cmds.add_parser("types", help="list partition type names, GUIDs and MBR codes",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_json(p)
    p.set_defaults(func=cmd_types)
